//! Model values ↔ WIT values. Numbers cross as `f64` exactly as the model's
//! `to_f64()` gives them; values coming back are untrusted and only reshaped.

use wasmtrade_model::{
    AccountView, Bar, Fill, InstrumentId, LogLevel, PositionView, RawIntent, RawOrderType, RejectNotice,
    Side, Tick, TickData, TimeInForce,
};

use crate::bindings::types as wit;

pub(crate) fn bar(b: &Bar) -> wit::Bar {
    wit::Bar {
        instrument: b.instrument.0,
        ts: b.ts.nanos(),
        open: b.open.to_f64(),
        high: b.high.to_f64(),
        low: b.low.to_f64(),
        close: b.close.to_f64(),
        volume: b.volume.to_f64(),
    }
}

pub(crate) fn tick(t: &Tick) -> wit::Tick {
    let data = match t.data {
        TickData::Trade { price, size } => wit::TickData::Trade(wit::Trade {
            price: price.to_f64(),
            size: size.to_f64(),
        }),
        TickData::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
        } => wit::TickData::Quote(wit::Quote {
            bid: bid.to_f64(),
            bid_size: bid_size.to_f64(),
            ask: ask.to_f64(),
            ask_size: ask_size.to_f64(),
        }),
    };
    wit::Tick {
        instrument: t.instrument.0,
        ts: t.ts.nanos(),
        data,
    }
}

fn side(s: Side) -> wit::Side {
    match s {
        Side::Buy => wit::Side::Buy,
        Side::Sell => wit::Side::Sell,
    }
}

pub(crate) fn fill(f: &Fill) -> wit::Fill {
    wit::Fill {
        client_id: f.client_id.as_str().to_owned(),
        instrument: f.instrument.0,
        side: side(f.side),
        quantity: f.quantity.to_f64(),
        price: f.price.to_f64(),
        commission: f.commission.to_f64(),
        ts: f.ts.nanos(),
    }
}

pub(crate) fn reject(n: &RejectNotice) -> wit::Reject {
    wit::Reject {
        client_id: n.client_id.as_str().to_owned(),
        code: n.rejection.code.as_str().to_owned(),
        message: n.rejection.message.clone(),
        ts: n.ts.nanos(),
    }
}

pub(crate) fn position(instrument: InstrumentId, p: PositionView) -> wit::Position {
    wit::Position {
        instrument: instrument.0,
        quantity: p.quantity,
        average_price: p.average_price,
        realized_pnl: p.realized_pnl,
        unrealized_pnl: p.unrealized_pnl,
    }
}

pub(crate) fn account(a: &AccountView) -> wit::Account {
    wit::Account {
        cash: a.cash,
        equity: a.equity,
        buying_power: a.buying_power,
        realized_pnl: a.realized_pnl,
        unrealized_pnl: a.unrealized_pnl,
    }
}

pub(crate) fn log_level(l: wit::LogLevel) -> LogLevel {
    match l {
        wit::LogLevel::Trace => LogLevel::Trace,
        wit::LogLevel::Debug => LogLevel::Debug,
        wit::LogLevel::Info => LogLevel::Info,
        wit::LogLevel::Warn => LogLevel::Warn,
        wit::LogLevel::Error => LogLevel::Error,
    }
}

pub(crate) fn guest_info(i: wit::GuestInfo) -> wasmtrade_model::GuestInfo {
    wasmtrade_model::GuestInfo {
        name: i.name,
        version: i.version,
        sdk_version: i.sdk_version,
        contract_version: i.contract_version,
    }
}

/// Reshapes one intent; validation belongs to the engine.
pub(crate) fn intent(i: wit::OrderIntent) -> RawIntent {
    match i {
        wit::OrderIntent::Submit(o) => RawIntent::Submit {
            client_id: o.client_id,
            instrument: o.instrument,
            side: match o.side {
                wit::Side::Buy => Side::Buy,
                wit::Side::Sell => Side::Sell,
            },
            quantity: o.quantity,
            order_type: match o.order_type {
                wit::OrderType::Market => RawOrderType::Market,
                wit::OrderType::Limit(p) => RawOrderType::Limit(p),
                wit::OrderType::Stop(p) => RawOrderType::Stop(p),
                wit::OrderType::StopLimit(sl) => RawOrderType::StopLimit {
                    stop: sl.stop,
                    limit: sl.limit,
                },
            },
            tif: match o.tif {
                wit::TimeInForce::Day => TimeInForce::Day,
                wit::TimeInForce::Gtc => TimeInForce::Gtc,
                wit::TimeInForce::Ioc => TimeInForce::Ioc,
                wit::TimeInForce::Fok => TimeInForce::Fok,
            },
        },
        wit::OrderIntent::Cancel(client_id) => RawIntent::Cancel { client_id },
        wit::OrderIntent::Amend(a) => RawIntent::Amend {
            client_id: a.client_id,
            quantity: a.quantity,
            limit_price: a.limit_price,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{Price, Quantity, Timestamp};

    #[test]
    fn bar_numbers_cross_as_to_f64() {
        let b = Bar {
            instrument: InstrumentId(3),
            ts: Timestamp::from_secs(60),
            open: "101.25".parse().unwrap(),
            high: "102".parse().unwrap(),
            low: "100.5".parse().unwrap(),
            close: "101.75".parse::<Price>().unwrap(),
            volume: Quantity::from_int(1200),
        };
        let w = bar(&b);
        assert_eq!((w.instrument, w.ts), (3, 60_000_000_000));
        assert_eq!(w.open, b.open.to_f64());
        assert_eq!(w.close, 101.75);
        assert_eq!(w.volume, 1200.0);
    }

    #[test]
    fn intents_are_reshaped_without_validation() {
        let raw = intent(wit::OrderIntent::Submit(wit::NewOrder {
            client_id: String::new(),
            instrument: 99,
            side: wit::Side::Sell,
            quantity: f64::NAN,
            order_type: wit::OrderType::StopLimit(wit::StopLimit {
                stop: 1.0,
                limit: 2.0,
            }),
            tif: wit::TimeInForce::Ioc,
        }));
        let RawIntent::Submit {
            instrument,
            side,
            quantity,
            order_type,
            tif,
            ..
        } = raw
        else {
            panic!("not a submit")
        };
        assert_eq!((instrument, side, tif), (99, Side::Sell, TimeInForce::Ioc));
        assert!(quantity.is_nan());
        assert_eq!(
            order_type,
            RawOrderType::StopLimit {
                stop: 1.0,
                limit: 2.0
            }
        );
    }
}
