//! Model values → SDK values and SDK intents → [`RawIntent`], number for
//! number what the wasm host sends and receives (`to_f64()` of the fixed-point
//! values going in, `f64` reshaped without validation coming back).

use wasmtrade_model as model;
use wasmtrade_model::{RawIntent, RawOrderType};
use wasmtrade_sdk as sdk;

pub(crate) fn bar(b: &model::Bar) -> sdk::Bar {
    sdk::Bar {
        instrument: sdk::InstrumentId(b.instrument.0),
        ts: b.ts.nanos(),
        open: b.open.to_f64(),
        high: b.high.to_f64(),
        low: b.low.to_f64(),
        close: b.close.to_f64(),
        volume: b.volume.to_f64(),
    }
}

pub(crate) fn tick(t: &model::Tick) -> sdk::Tick {
    let data = match t.data {
        model::TickData::Trade { price, size } => sdk::TickData::Trade {
            price: price.to_f64(),
            size: size.to_f64(),
        },
        model::TickData::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
        } => sdk::TickData::Quote {
            bid: bid.to_f64(),
            bid_size: bid_size.to_f64(),
            ask: ask.to_f64(),
            ask_size: ask_size.to_f64(),
        },
    };
    sdk::Tick {
        instrument: sdk::InstrumentId(t.instrument.0),
        ts: t.ts.nanos(),
        data,
    }
}

fn side_to_sdk(s: model::Side) -> sdk::Side {
    match s {
        model::Side::Buy => sdk::Side::Buy,
        model::Side::Sell => sdk::Side::Sell,
    }
}

fn side_to_model(s: sdk::Side) -> model::Side {
    match s {
        sdk::Side::Buy => model::Side::Buy,
        sdk::Side::Sell => model::Side::Sell,
    }
}

pub(crate) fn fill(f: &model::Fill) -> sdk::Fill {
    sdk::Fill {
        client_id: f.client_id.as_str().to_owned(),
        instrument: sdk::InstrumentId(f.instrument.0),
        side: side_to_sdk(f.side),
        quantity: f.quantity.to_f64(),
        price: f.price.to_f64(),
        commission: f.commission.to_f64(),
        ts: f.ts.nanos(),
    }
}

pub(crate) fn reject(n: &model::RejectNotice) -> sdk::Reject {
    sdk::Reject {
        client_id: n.client_id.as_str().to_owned(),
        code: n.rejection.code.as_str().to_owned(),
        message: n.rejection.message.clone(),
        ts: n.ts.nanos(),
    }
}

pub(crate) fn position(instrument: model::InstrumentId, p: model::PositionView) -> sdk::Position {
    sdk::Position {
        instrument: sdk::InstrumentId(instrument.0),
        quantity: p.quantity,
        average_price: p.average_price,
        realized_pnl: p.realized_pnl,
        unrealized_pnl: p.unrealized_pnl,
    }
}

pub(crate) fn account(a: &model::AccountView) -> sdk::Account {
    sdk::Account {
        cash: a.cash,
        equity: a.equity,
        buying_power: a.buying_power,
        realized_pnl: a.realized_pnl,
        unrealized_pnl: a.unrealized_pnl,
    }
}

pub(crate) fn log_level(l: sdk::LogLevel) -> model::LogLevel {
    match l {
        sdk::LogLevel::Trace => model::LogLevel::Trace,
        sdk::LogLevel::Debug => model::LogLevel::Debug,
        sdk::LogLevel::Info => model::LogLevel::Info,
        sdk::LogLevel::Warn => model::LogLevel::Warn,
        sdk::LogLevel::Error => model::LogLevel::Error,
    }
}

pub(crate) fn guest_info(i: sdk::GuestInfo) -> model::GuestInfo {
    model::GuestInfo {
        name: i.name,
        version: i.version,
        sdk_version: i.sdk_version,
        contract_version: i.contract_version,
    }
}

/// Reshapes one intent; validation belongs to the engine.
pub(crate) fn intent(i: sdk::OrderIntent) -> RawIntent {
    match i {
        sdk::OrderIntent::Submit(o) => RawIntent::Submit {
            client_id: o.client_id,
            instrument: o.instrument.0,
            side: side_to_model(o.side),
            quantity: o.quantity,
            order_type: match o.order_type {
                sdk::OrderType::Market => RawOrderType::Market,
                sdk::OrderType::Limit(p) => RawOrderType::Limit(p),
                sdk::OrderType::Stop(p) => RawOrderType::Stop(p),
                sdk::OrderType::StopLimit { stop, limit } => RawOrderType::StopLimit { stop, limit },
            },
            tif: match o.tif {
                sdk::TimeInForce::Day => model::TimeInForce::Day,
                sdk::TimeInForce::Gtc => model::TimeInForce::Gtc,
                sdk::TimeInForce::Ioc => model::TimeInForce::Ioc,
                sdk::TimeInForce::Fok => model::TimeInForce::Fok,
            },
        },
        sdk::OrderIntent::Cancel(client_id) => RawIntent::Cancel { client_id },
        sdk::OrderIntent::Amend {
            client_id,
            quantity,
            limit_price,
        } => RawIntent::Amend {
            client_id,
            quantity,
            limit_price,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{ClientOrderId, Money, OrderId, Price, Quantity, StrategyId, Timestamp};

    #[test]
    fn bars_cross_as_to_f64_of_the_fixed_values() {
        let b = model::Bar {
            instrument: model::InstrumentId(2),
            ts: Timestamp::from_secs(60),
            open: "187.31".parse().unwrap(),
            high: "188.004".parse().unwrap(),
            low: "0.000000001".parse().unwrap(),
            close: "187.3".parse().unwrap(),
            volume: Quantity::from_int(1200),
        };
        let s = bar(&b);
        assert_eq!(s.instrument, sdk::InstrumentId(2));
        assert_eq!(s.ts, 60_000_000_000);
        assert_eq!(s.open.to_bits(), b.open.to_f64().to_bits());
        assert_eq!(s.high.to_bits(), b.high.to_f64().to_bits());
        assert_eq!(s.low, 1e-9);
        assert_eq!(s.volume, 1200.0);
    }

    #[test]
    fn fills_carry_commission_as_f64_money() {
        let f = model::Fill {
            order_id: OrderId(1),
            strategy: StrategyId::new("s"),
            client_id: ClientOrderId::new("sma-cross-1"),
            instrument: model::InstrumentId(0),
            side: model::Side::Sell,
            quantity: Quantity::from_int(3),
            price: Price::from_int(101),
            commission: Money::from_int(1),
            ts: Timestamp::from_secs(5),
            exec_id: "e1".into(),
        };
        let s = fill(&f);
        assert_eq!(
            (s.client_id.as_str(), s.side, s.quantity, s.price, s.commission),
            ("sma-cross-1", sdk::Side::Sell, 3.0, 101.0, 1.0)
        );
    }

    #[test]
    fn rejects_carry_the_kebab_case_code() {
        let n = model::RejectNotice {
            strategy: StrategyId::new("s"),
            client_id: ClientOrderId::new("c"),
            order_id: None,
            rejection: model::Rejection::new(model::RejectCode::MaxOrderQuantity, "too many"),
            ts: Timestamp::from_secs(1),
        };
        let r = reject(&n);
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("max-order-quantity", "too many")
        );
    }

    #[test]
    fn intents_are_reshaped_without_validation() {
        let raw = intent(sdk::OrderIntent::Submit(
            sdk::NewOrder::limit("x", sdk::InstrumentId(9), sdk::Side::Buy, f64::NAN, 1.5)
                .with_tif(sdk::TimeInForce::Ioc),
        ));
        let RawIntent::Submit {
            instrument,
            quantity,
            order_type,
            tif,
            ..
        } = raw
        else {
            panic!("not a submit")
        };
        assert_eq!(
            (instrument, order_type, tif),
            (9, RawOrderType::Limit(1.5), model::TimeInForce::Ioc)
        );
        assert!(quantity.is_nan());
        assert_eq!(
            intent(sdk::OrderIntent::amend("a", Some(2.0), None)),
            RawIntent::Amend {
                client_id: "a".into(),
                quantity: Some(2.0),
                limit_price: None
            }
        );
        assert_eq!(
            intent(sdk::OrderIntent::cancel("c")),
            RawIntent::Cancel {
                client_id: "c".into()
            }
        );
    }
}
