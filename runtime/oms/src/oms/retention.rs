//! Keeping the OMS flat over a long run: finished orders leave memory, and
//! the whole account state is written and read back as one checkpoint.
//!
//! A backtest keeps everything (its report needs every fill and trade).
//! A live runtime calls [`Oms::release_finished`] once what it releases is
//! durable (journaled, and written to the order history), and stores
//! [`Oms::checkpoint`] so start-up reads the checkpoint and only the
//! journal records after it, however long the account has traded.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use wasmtrade_model::{
    CollectionSize, Fill, InstrumentId, Money, Order, OrderId, Price, StrategyId, Timestamp,
};

use super::Oms;
use crate::OmsError;
use crate::book::{Book, ClosedTrade};

/// What [`Oms::release_finished`] took out of memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Terminal orders, in registration order.
    pub orders: Vec<Order>,
    /// Their fills, in the order they were applied.
    pub fills: Vec<Fill>,
    /// Closed trades, in the order they closed.
    pub trades: Vec<ClosedTrade>,
}

impl Released {
    /// True when nothing was released.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.fills.is_empty() && self.trades.is_empty()
    }
}

/// The whole state of an [`Oms`] at one point: cash, positions (their FIFO
/// lots), P&L and counters, the last prices, and every order still in
/// memory with its fills. [`Oms::from_checkpoint`] rebuilds the same OMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmsCheckpoint {
    starting_cash: Money,
    cash: Money,
    next_id: u64,
    orders: Vec<Order>,
    fills: Vec<Fill>,
    books: BTreeMap<StrategyId, BTreeMap<InstrumentId, Book>>,
    last_prices: BTreeMap<InstrumentId, Price>,
    last_price_times: BTreeMap<InstrumentId, Timestamp>,
    winning_trades: usize,
    fill_count: u64,
    trade_count: u64,
    realized: Money,
    commissions: Money,
}

impl OmsCheckpoint {
    /// Orders in the checkpoint (the working ones, when it was taken after
    /// [`Oms::release_finished`]).
    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    /// Fills of those orders.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    /// Net quantity per instrument across strategies, and cash: what the
    /// account holds at the checkpoint.
    pub fn holdings(&self) -> (BTreeMap<InstrumentId, wasmtrade_model::Quantity>, Money) {
        let mut net = BTreeMap::new();
        for per in self.books.values() {
            for (i, b) in per {
                *net.entry(*i).or_insert(wasmtrade_model::Quantity::ZERO) += b.quantity;
            }
        }
        (net, self.cash)
    }

    /// The cash the account started with.
    pub fn starting_cash(&self) -> Money {
        self.starting_cash
    }
}

impl Oms {
    /// Takes every terminal order, its fills and every closed trade out of
    /// memory and returns them (the caller makes them durable elsewhere
    /// first, or already has). Positions, cash, P&L, the counters
    /// ([`Oms::fill_count`], [`Oms::closed_trade_count`],
    /// [`Oms::winning_trades`]) and working orders with their fills stay.
    /// A late event about a released order is refused as
    /// [`OmsError::UnknownOrder`], like any order the OMS does not hold.
    pub fn release_finished(&mut self) -> Released {
        let mut out = Released::default();
        if self.orders.len() == self.working.len() && self.trades.is_empty() {
            return out;
        }
        let (keep, gone): (Vec<Order>, Vec<Order>) = std::mem::take(&mut self.orders)
            .into_iter()
            .partition(|o| self.working.contains(&o.id));
        self.orders = keep;
        self.index = self.orders.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
        let released: BTreeSet<OrderId> = gone.iter().map(|o| o.id).collect();
        let (gone_fills, kept_fills): (Vec<Fill>, Vec<Fill>) = std::mem::take(&mut self.fills)
            .into_iter()
            .partition(|f| released.contains(&f.order_id));
        self.fills = kept_fills;
        for f in &gone_fills {
            self.exec_ids.remove(&f.exec_id);
        }
        out.orders = gone;
        out.fills = gone_fills;
        out.trades = std::mem::take(&mut self.trades);
        out
    }

    /// The lengths of every collection that grows with orders and fills:
    /// after [`Oms::release_finished`] they hold only working orders (and
    /// trades closed since), so a long run stays flat.
    pub fn collection_sizes(&self) -> Vec<CollectionSize> {
        let by_client = self.by_client.values().map(BTreeMap::len).sum();
        vec![
            CollectionSize::new("oms.orders", self.orders.len()),
            CollectionSize::new("oms.index", self.index.len()),
            CollectionSize::new("oms.working", self.working.len()),
            CollectionSize::new("oms.by_client", by_client),
            CollectionSize::new("oms.fills", self.fills.len()),
            CollectionSize::new("oms.exec_ids", self.exec_ids.len()),
            CollectionSize::new("oms.trades", self.trades.len()),
        ]
    }

    /// The whole state as a [`OmsCheckpoint`] (see [`Oms::from_checkpoint`]).
    pub fn checkpoint(&self) -> OmsCheckpoint {
        OmsCheckpoint {
            starting_cash: self.starting_cash,
            cash: self.cash,
            next_id: self.next_id,
            orders: self.orders.clone(),
            fills: self.fills.clone(),
            books: self.books.clone(),
            last_prices: self.last_prices.clone(),
            last_price_times: self.last_price_times.clone(),
            winning_trades: self.winning_trades,
            fill_count: self.fill_count,
            trade_count: self.trade_count,
            realized: self.realized,
            commissions: self.commissions,
        }
    }

    /// The OMS a checkpoint was taken from. Refuses a checkpoint whose
    /// parts disagree (a fill of an order it does not hold, an order id
    /// twice, two working orders of one strategy with one client id).
    pub fn from_checkpoint(c: OmsCheckpoint) -> Result<Self, OmsError> {
        let mut oms = Oms::new(c.starting_cash);
        for order in c.orders {
            let id = order.id;
            if oms.index.contains_key(&id) {
                return Err(OmsError::DuplicateOrderId { id });
            }
            if !order.status.is_terminal() {
                let by_client = oms.by_client.entry(order.strategy.clone()).or_default();
                if by_client.insert(order.request.client_id.clone(), id).is_some() {
                    return Err(OmsError::DuplicateClientId {
                        strategy: order.strategy.clone(),
                        client_id: order.request.client_id.clone(),
                    });
                }
                oms.working.insert(id);
            }
            oms.index.insert(id, oms.orders.len());
            oms.orders.push(order);
        }
        for fill in &c.fills {
            if !oms.index.contains_key(&fill.order_id) {
                return Err(OmsError::UnknownOrder { id: fill.order_id });
            }
            oms.exec_ids.insert(fill.exec_id.clone());
        }
        let highest = oms
            .orders
            .iter()
            .map(|o| o.id.0.saturating_add(1))
            .max()
            .unwrap_or(1);
        oms.next_id = c.next_id.max(highest);
        oms.cash = c.cash;
        oms.fills = c.fills;
        oms.books = c.books;
        oms.last_prices = c.last_prices;
        oms.last_price_times = c.last_price_times;
        oms.winning_trades = c.winning_trades;
        oms.fill_count = c.fill_count;
        oms.trade_count = c.trade_count;
        oms.realized = c.realized;
        oms.commissions = c.commissions;
        Ok(oms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{
        BrokerEvent, ClientOrderId, NewOrder, OrderStatus, OrderType, Quantity, Side, TimeInForce,
    };

    fn s() -> StrategyId {
        StrategyId::new("s")
    }

    fn register(oms: &mut Oms, client: &str, side: Side, q: i64) -> OrderId {
        let id = oms.next_order_id();
        let order = NewOrder {
            client_id: ClientOrderId::new(client),
            instrument: InstrumentId(0),
            side,
            quantity: Quantity::from_int(q),
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
        };
        oms.register(id, s(), order, Timestamp::from_secs(id.0 as i64))
            .unwrap();
        oms.apply(&BrokerEvent::Accepted {
            order_id: id,
            ts: Timestamp::from_secs(id.0 as i64),
        })
        .unwrap();
        id
    }

    fn fill(oms: &mut Oms, id: OrderId, side: Side, q: i64, price: i64, exec: &str) {
        let client = oms.order(id).unwrap().request.client_id.clone();
        oms.apply(&BrokerEvent::Filled(Fill {
            order_id: id,
            strategy: s(),
            client_id: client,
            instrument: InstrumentId(0),
            side,
            quantity: Quantity::from_int(q),
            price: Price::from_int(price),
            commission: Money::from_int(1),
            ts: Timestamp::from_secs(100 + id.0 as i64),
            exec_id: exec.into(),
        }))
        .unwrap();
    }

    /// Two round trips and a partially filled order still working.
    fn traded() -> (Oms, OrderId) {
        let mut oms = Oms::new(Money::from_int(10_000));
        let a = register(&mut oms, "a", Side::Buy, 10);
        fill(&mut oms, a, Side::Buy, 10, 100, "E1");
        let b = register(&mut oms, "b", Side::Sell, 10);
        fill(&mut oms, b, Side::Sell, 10, 110, "E2");
        let c = register(&mut oms, "c", Side::Buy, 10);
        fill(&mut oms, c, Side::Buy, 4, 105, "E3");
        oms.mark_at(InstrumentId(0), Price::from_int(107), Timestamp::from_secs(500));
        (oms, c)
    }

    #[test]
    fn releasing_keeps_working_orders_their_fills_positions_cash_and_counters() {
        let (mut oms, working) = traded();
        let before = oms.account_totals();
        let position = oms.position(&s(), InstrumentId(0));
        let released = oms.release_finished();
        assert_eq!(released.orders.len(), 2);
        assert_eq!(released.fills.len(), 2);
        assert_eq!(released.trades.len(), 1);
        assert!(released.orders.iter().all(|o| o.status == OrderStatus::Filled));
        assert_eq!(oms.orders().len(), 1);
        assert_eq!(oms.orders()[0].id, working);
        assert_eq!(oms.fills().len(), 1);
        assert!(oms.closed_trades().is_empty());
        assert_eq!(oms.account_totals(), before);
        assert_eq!(oms.position(&s(), InstrumentId(0)), position);
        assert_eq!(
            (oms.fill_count(), oms.closed_trade_count(), oms.winning_trades()),
            (3, 1, 1)
        );
        // The working order goes on: the rest fills, and a re-sent
        // execution of it is still recognised.
        fill(&mut oms, working, Side::Buy, 6, 106, "E4");
        assert_eq!(oms.order(working).unwrap().status, OrderStatus::Filled);
        let resent = oms.fills()[0].clone();
        assert_eq!(oms.apply(&BrokerEvent::Filled(resent)), Ok(false));
        // A released order is unknown now; a finished client id is free.
        let late = BrokerEvent::Cancelled {
            order_id: OrderId(1),
            ts: Timestamp::from_secs(900),
        };
        assert_eq!(oms.apply(&late), Err(OmsError::UnknownOrder { id: OrderId(1) }));
        let again = register(&mut oms, "a", Side::Sell, 1);
        assert!(again.0 > working.0);
        assert!(oms.release_finished().orders.len() == 1);
    }

    #[test]
    fn a_checkpoint_rebuilds_the_same_oms_and_it_trades_on_identically() {
        let (mut oms, working) = traded();
        oms.release_finished();
        let json = serde_json::to_string(&oms.checkpoint()).unwrap();
        let mut back = Oms::from_checkpoint(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back.checkpoint(), oms.checkpoint());
        assert_eq!(back.account_totals(), oms.account_totals());
        assert_eq!(
            back.working_order_by_client(&s(), &ClientOrderId::new("c"))
                .map(|o| o.id),
            Some(working)
        );
        for o in [&mut oms, &mut back] {
            fill(o, working, Side::Buy, 6, 106, "E4");
            let d = register(o, "d", Side::Sell, 10);
            fill(o, d, Side::Sell, 10, 120, "E5");
        }
        assert_eq!(back.checkpoint(), oms.checkpoint());
        assert_eq!(back.closed_trades(), oms.closed_trades());
        assert_eq!(back.next_order_id(), oms.next_order_id());
    }

    #[test]
    fn a_checkpoint_whose_fill_names_an_order_it_lacks_is_refused() {
        let (oms, _) = traded();
        let mut c = oms.checkpoint();
        c.orders.retain(|o| o.id != OrderId(1));
        assert_eq!(
            Oms::from_checkpoint(c).unwrap_err(),
            OmsError::UnknownOrder { id: OrderId(1) }
        );
    }
}
