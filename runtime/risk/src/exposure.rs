//! What the engine tells risk about the account when it checks an order:
//! positions, working orders, the reference price and its age, the session
//! state. Built from the OMS by the caller (with [`ExposureBuilder`]) so that
//! risk never depends on the OMS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{
    InstrumentId, Money, Order, OrderId, OrderType, Price, Quantity, Side, StrategyId, Timestamp,
};

/// Trading state of an instrument's market, from market data (R3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Continuous trading.
    #[default]
    Open,
    /// An opening or closing auction: limit orders only.
    Auction,
    /// Trading halted (circuit breaker, news pending).
    Halted,
    /// No session.
    Closed,
}

/// A resting order of the account on one side of an instrument (R17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resting {
    /// The order.
    pub order: OrderId,
    /// Its limit price; `None` for a market order (crosses anything).
    pub price: Option<Price>,
}

/// Worst-case exposure of a set of positions and working orders across
/// instruments, each instrument valued at its reference price: working
/// orders count as filled, on whichever side is worse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookExposure {
    /// `Σ max(|position + open buys|, |position − open sells|) × price`.
    pub gross: Money,
    /// `Σ (position + open buys) × price`: the net if every buy fills.
    pub net_long: Money,
    /// `Σ (position − open sells) × price`: the net if every sell fills.
    pub net_short: Money,
}

impl BookExposure {
    /// Adds one instrument.
    pub fn add(&mut self, position: Quantity, open_buy: Quantity, open_sell: Quantity, price: Price) {
        let (long, short) = (position + open_buy, position - open_sell);
        self.gross += price.notional(long.abs().max(short.abs()));
        self.net_long += price.notional(long);
        self.net_short += price.notional(short);
    }
    /// The worst |net|.
    pub fn worst_net(&self) -> Money {
        self.net_long.abs().max(self.net_short.abs())
    }
}

/// What the engine knows about one (strategy, instrument) and the account
/// when an order is checked. `Default` describes an empty account in an open
/// market at the epoch, so callers set only what they track.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Signed position of the strategy (negative is short).
    pub position: Quantity,
    /// Remaining quantity of the strategy's working buy orders.
    pub open_buy: Quantity,
    /// Remaining quantity of the strategy's working sell orders.
    pub open_sell: Quantity,
    /// Cash committed to working buy orders (the account's, for the cash check).
    pub open_buy_notional: Money,
    /// A reference price (last trade, mid or close), if known.
    pub reference_price: Option<Price>,
    /// Cash available to the account.
    pub available_cash: Money,
    /// When the reference price was observed (R5); `None` = unknown age.
    pub reference_time: Option<Timestamp>,
    /// Event time of the check: risk never reads a clock.
    pub now: Timestamp,
    /// Market state of the instrument (R3).
    pub session: SessionState,
    /// The account's position in the instrument (all strategies).
    pub account_position: Quantity,
    /// The account's open buy quantity in the instrument.
    pub account_open_buy: Quantity,
    /// The account's open sell quantity in the instrument.
    pub account_open_sell: Quantity,
    /// Notional of the strategy's working orders in the instrument, both sides (R9).
    pub instrument_open_notional: Money,
    /// Notional of the strategy's working orders, all instruments (R9).
    pub strategy_open_notional: Money,
    /// Notional of the account's working orders (R9).
    pub account_open_notional: Money,
    /// The strategy's worst-case exposure in every *other* instrument (R10).
    pub strategy_book: BookExposure,
    /// The account's worst-case exposure in every *other* instrument (R10).
    pub account_book: BookExposure,
    /// Working orders of the strategy in the instrument (R18).
    pub instrument_working: u32,
    /// Working orders of the strategy, all instruments (R18).
    pub strategy_working: u32,
    /// Working orders of the account (R18).
    pub account_working: u32,
    /// The account's working buy orders in the instrument (R18, per side).
    pub working_buys: u32,
    /// The account's working sell orders in the instrument (R18, per side).
    pub working_sells: u32,
    /// The account's highest resting buy in the instrument (R17).
    pub resting_buy: Option<Resting>,
    /// The account's lowest resting sell in the instrument (R17).
    pub resting_sell: Option<Resting>,
}

/// Per-instrument accumulator of a [`ExposureBuilder`].
#[derive(Clone, Copy, Debug, Default)]
struct Leg {
    position: Quantity,
    open_buy: Quantity,
    open_sell: Quantity,
    price: Option<Price>,
}

/// Builds an [`Exposure`] from the account's working orders and positions:
///
/// ```
/// use wasmtrade_model::*;
/// use wasmtrade_risk::ExposureBuilder;
///
/// let s = StrategyId::new("s");
/// let mut b = ExposureBuilder::new(&s, InstrumentId(0), Timestamp::from_secs(60));
/// b.position(&s, InstrumentId(0), Quantity::from_int(10), Some(Price::from_int(5)));
/// b.position(&s, InstrumentId(1), Quantity::from_int(-4), Some(Price::from_int(10)));
/// let e = b.finish(Some(Price::from_int(5)), Some(Timestamp::from_secs(59)), Money::from_int(1000));
/// assert_eq!(e.position, Quantity::from_int(10));
/// assert_eq!(e.strategy_book.gross, Money::from_int(40)); // the other instrument only
/// ```
#[derive(Clone, Debug)]
pub struct ExposureBuilder<'a> {
    strategy: &'a StrategyId,
    instrument: InstrumentId,
    e: Exposure,
    strategy_legs: BTreeMap<InstrumentId, Leg>,
    account_legs: BTreeMap<InstrumentId, Leg>,
}

impl<'a> ExposureBuilder<'a> {
    /// Starts the exposure of `strategy` in `instrument` at `now`.
    pub fn new(strategy: &'a StrategyId, instrument: InstrumentId, now: Timestamp) -> Self {
        Self {
            strategy,
            instrument,
            e: Exposure {
                now,
                ..Exposure::default()
            },
            strategy_legs: BTreeMap::new(),
            account_legs: BTreeMap::new(),
        }
    }

    /// Sets the market state of the instrument.
    pub fn session(&mut self, state: SessionState) -> &mut Self {
        self.e.session = state;
        self
    }

    /// Adds one working order of the account; `last` is the last price of
    /// its instrument (values market orders).
    pub fn working_order(&mut self, order: &Order, last: Option<Price>) -> &mut Self {
        let rest = order.remaining();
        let req = &order.request;
        let t = req.order_type;
        let price = t.limit_price().or(t.stop_price()).or(last);
        let notional = price.map_or(Money::ZERO, |p| p.notional(rest));
        let mine = &order.strategy == self.strategy;
        let here = req.instrument == self.instrument;
        self.e.account_working += 1;
        self.e.account_open_notional += notional;
        if req.side == Side::Buy {
            self.e.open_buy_notional += notional;
        }
        if mine {
            self.e.strategy_working += 1;
            self.e.strategy_open_notional += notional;
        }
        for (legs, include) in [(&mut self.account_legs, true), (&mut self.strategy_legs, mine)] {
            if include {
                let leg = legs.entry(req.instrument).or_default();
                leg.price = leg.price.or(last);
                match req.side {
                    Side::Buy => leg.open_buy += rest,
                    Side::Sell => leg.open_sell += rest,
                }
            }
        }
        if !here {
            return self;
        }
        if mine {
            self.e.instrument_working += 1;
            self.e.instrument_open_notional += notional;
        }
        self.count_side(req.side);
        let resting_price = match t {
            OrderType::Market => None,
            OrderType::Limit { limit } => Some(limit),
            // An untriggered stop does not rest in the book.
            OrderType::Stop { .. } | OrderType::StopLimit { .. } => return self,
        };
        let slot = match req.side {
            Side::Buy => &mut self.e.resting_buy,
            Side::Sell => &mut self.e.resting_sell,
        };
        let better = match (*slot, resting_price) {
            (None, _) | (Some(Resting { price: Some(_), .. }), None) => true,
            // A resting market order already crosses everything.
            (Some(Resting { price: None, .. }), _) => false,
            (Some(Resting { price: Some(old), .. }), Some(new)) => match req.side {
                Side::Buy => new > old,
                Side::Sell => new < old,
            },
        };
        if better {
            *slot = Some(Resting {
                order: order.id,
                price: resting_price,
            });
        }
        self
    }

    fn count_side(&mut self, side: Side) {
        match side {
            Side::Buy => self.e.working_buys += 1,
            Side::Sell => self.e.working_sells += 1,
        }
    }

    /// Adds one position of the account (`last`: last price of the instrument).
    pub fn position(
        &mut self,
        strategy: &StrategyId,
        instrument: InstrumentId,
        quantity: Quantity,
        last: Option<Price>,
    ) -> &mut Self {
        let mine = strategy == self.strategy;
        for (legs, include) in [(&mut self.account_legs, true), (&mut self.strategy_legs, mine)] {
            if include {
                let leg = legs.entry(instrument).or_default();
                leg.position += quantity;
                leg.price = leg.price.or(last);
            }
        }
        self
    }

    /// The exposure, given the instrument's reference price and its time and
    /// the account's cash.
    pub fn finish(
        mut self,
        reference_price: Option<Price>,
        reference_time: Option<Timestamp>,
        available_cash: Money,
    ) -> Exposure {
        let here = self.instrument;
        let fold = |legs: &BTreeMap<InstrumentId, Leg>| {
            let mut book = BookExposure::default();
            for (id, leg) in legs {
                if *id != here
                    && let Some(p) = leg.price
                {
                    book.add(leg.position, leg.open_buy, leg.open_sell, p);
                }
            }
            (book, legs.get(&here).copied().unwrap_or_default())
        };
        let (strategy_book, mine) = fold(&self.strategy_legs);
        let (account_book, all) = fold(&self.account_legs);
        self.e.strategy_book = strategy_book;
        self.e.account_book = account_book;
        self.e.position = mine.position;
        self.e.open_buy = mine.open_buy;
        self.e.open_sell = mine.open_sell;
        self.e.account_position = all.position;
        self.e.account_open_buy = all.open_buy;
        self.e.account_open_sell = all.open_sell;
        self.e.reference_price = reference_price;
        self.e.reference_time = reference_time;
        self.e.available_cash = available_cash;
        self.e
    }
}

#[cfg(test)]
mod tests {
    use wasmtrade_model::{ClientOrderId, NewOrder, OrderStatus, TimeInForce};

    use super::*;

    fn working(id: u64, strategy: &str, instrument: u32, side: Side, qty: i64, t: OrderType) -> Order {
        Order {
            id: OrderId(id),
            strategy: StrategyId::new(strategy),
            request: NewOrder {
                client_id: ClientOrderId::new(format!("c{id}")),
                instrument: InstrumentId(instrument),
                side,
                quantity: Quantity::from_int(qty),
                order_type: t,
                tif: TimeInForce::Gtc,
            },
            status: OrderStatus::Accepted,
            filled: Quantity::ZERO,
            filled_notional: Money::ZERO,
            created: Timestamp::EPOCH,
            updated: Timestamp::EPOCH,
        }
    }

    fn lim(p: i64) -> OrderType {
        OrderType::Limit {
            limit: Price::from_int(p),
        }
    }

    #[test]
    fn builds_counts_notionals_resting_and_books() {
        let me = StrategyId::new("a");
        let px = Some(Price::from_int(10));
        let mut b = ExposureBuilder::new(&me, InstrumentId(0), Timestamp::from_secs(9));
        b.working_order(&working(1, "a", 0, Side::Buy, 5, lim(9)), px)
            .working_order(&working(2, "b", 0, Side::Sell, 3, lim(11)), px)
            .working_order(&working(3, "b", 0, Side::Sell, 2, lim(12)), px)
            .working_order(&working(4, "a", 1, Side::Sell, 4, OrderType::Market), px)
            .working_order(
                &working(
                    5,
                    "b",
                    0,
                    Side::Buy,
                    1,
                    OrderType::Stop {
                        stop: Price::from_int(20),
                    },
                ),
                px,
            )
            .position(&me, InstrumentId(0), Quantity::from_int(7), px)
            .position(&StrategyId::new("b"), InstrumentId(1), Quantity::from_int(-6), px);
        let e = b.finish(px, Some(Timestamp::from_secs(8)), Money::from_int(100));
        assert_eq!(
            (e.position, e.open_buy, e.open_sell),
            (Quantity::from_int(7), Quantity::from_int(5), Quantity::ZERO)
        );
        assert_eq!(e.account_open_sell, Quantity::from_int(5));
        assert_eq!(
            (e.instrument_working, e.strategy_working, e.account_working),
            (1, 2, 5)
        );
        assert_eq!((e.working_buys, e.working_sells), (2, 2));
        assert_eq!(
            e.resting_buy,
            Some(Resting {
                order: OrderId(1),
                price: Some(Price::from_int(9))
            })
        );
        assert_eq!(
            e.resting_sell,
            Some(Resting {
                order: OrderId(2),
                price: Some(Price::from_int(11))
            })
        );
        assert_eq!(e.instrument_open_notional, Money::from_int(45));
        assert_eq!(e.strategy_open_notional, Money::from_int(85)); // 45 + 4 × 10 (market at last)
        assert_eq!(e.open_buy_notional, Money::from_int(65)); // 45 + 20 (stop)
        // Other instrument #1: a is short 4 if its sell fills; the account also holds b's -6.
        assert_eq!(e.strategy_book.gross, Money::from_int(40));
        assert_eq!(e.account_book.gross, Money::from_int(100));
        assert_eq!(e.account_book.worst_net(), Money::from_int(100));
        assert_eq!(e.now, Timestamp::from_secs(9));
    }

    #[test]
    fn a_resting_market_order_crosses_everything() {
        let me = StrategyId::new("a");
        let mut b = ExposureBuilder::new(&me, InstrumentId(0), Timestamp::EPOCH);
        b.working_order(&working(1, "a", 0, Side::Sell, 1, lim(11)), None)
            .working_order(&working(2, "a", 0, Side::Sell, 1, OrderType::Market), None)
            .working_order(&working(3, "a", 0, Side::Sell, 1, lim(10)), None);
        let e = b.finish(None, None, Money::ZERO);
        assert_eq!(
            e.resting_sell,
            Some(Resting {
                order: OrderId(2),
                price: None
            })
        );
    }
}
