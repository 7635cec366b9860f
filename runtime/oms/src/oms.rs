//! The order management system: orders, fills, positions, cash and trades.

use std::collections::{BTreeMap, BTreeSet};

use wasmtrade_model::{
    BrokerEvent, ClientOrderId, Fill, InstrumentId, Money, NewOrder, Order, OrderId, OrderStatus, OrderType,
    Price, Quantity, Side, StrategyId, Timestamp,
};

use crate::OmsError;
use crate::book::{Book, BookFill, ClosedTrade, Position};

mod retention;
pub use retention::{OmsCheckpoint, Released};

/// Account-level figures from [`Oms::account_totals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AccountTotals {
    /// Cash.
    pub cash: Money,
    /// Cash plus marked positions.
    pub equity: Money,
    /// Realised gross P&L.
    pub realized: Money,
    /// Unrealised P&L at the last prices.
    pub unrealized: Money,
    /// Whether any position is open.
    pub exposed: bool,
}

/// Orders, fills, positions, cash and P&L of one account.
///
/// Everything is exact fixed point; ids and maps are ordered, so iteration
/// is deterministic.
#[derive(Clone, Debug)]
pub struct Oms {
    starting_cash: Money,
    cash: Money,
    next_id: u64,
    orders: Vec<Order>,
    index: BTreeMap<OrderId, usize>,
    working: BTreeSet<OrderId>,
    by_client: BTreeMap<StrategyId, BTreeMap<ClientOrderId, OrderId>>,
    books: BTreeMap<StrategyId, BTreeMap<InstrumentId, Book>>,
    last_prices: BTreeMap<InstrumentId, Price>,
    /// When each last price was seen (event time), for risk's staleness check.
    last_price_times: BTreeMap<InstrumentId, Timestamp>,
    exec_ids: BTreeSet<String>,
    fills: Vec<Fill>,
    trades: Vec<ClosedTrade>,
    /// Closed trades with a positive net P&L (released ones included).
    winning_trades: usize,
    /// Fills applied and trades closed, released ones included.
    fill_count: u64,
    trade_count: u64,
    realized: Money,
    commissions: Money,
}

impl Oms {
    /// An empty account holding `starting_cash`.
    pub fn new(starting_cash: Money) -> Self {
        Self {
            starting_cash,
            cash: starting_cash,
            next_id: 1,
            orders: Vec::new(),
            index: BTreeMap::new(),
            working: BTreeSet::new(),
            by_client: BTreeMap::new(),
            books: BTreeMap::new(),
            last_prices: BTreeMap::new(),
            last_price_times: BTreeMap::new(),
            exec_ids: BTreeSet::new(),
            fills: Vec::new(),
            trades: Vec::new(),
            winning_trades: 0,
            fill_count: 0,
            trade_count: 0,
            realized: Money::ZERO,
            commissions: Money::ZERO,
        }
    }

    /// Takes the next monotonic order id (`O-1`, `O-2`, …).
    pub fn next_order_id(&mut self) -> OrderId {
        let id = OrderId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The id [`next_order_id`](Self::next_order_id) would take next,
    /// without taking it.
    pub fn peek_next_order_id(&self) -> OrderId {
        OrderId(self.next_id)
    }

    /// Registers an approved order as [`OrderStatus::PendingNew`]. Refuses an
    /// id already registered and a client id used by one of the strategy's
    /// working orders (a finished order's client id may be reused).
    pub fn register(
        &mut self,
        id: OrderId,
        strategy: StrategyId,
        order: NewOrder,
        ts: Timestamp,
    ) -> Result<(), OmsError> {
        if self.index.contains_key(&id) {
            return Err(OmsError::DuplicateOrderId { id });
        }
        if self
            .working_order_by_client(&strategy, &order.client_id)
            .is_some()
        {
            return Err(OmsError::DuplicateClientId {
                strategy,
                client_id: order.client_id,
            });
        }
        self.next_id = self.next_id.max(id.0.saturating_add(1));
        self.by_client
            .entry(strategy.clone())
            .or_default()
            .insert(order.client_id.clone(), id);
        self.index.insert(id, self.orders.len());
        self.working.insert(id);
        self.orders.push(Order {
            id,
            strategy,
            request: order,
            status: OrderStatus::PendingNew,
            filled: Quantity::ZERO,
            filled_notional: Money::ZERO,
            created: ts,
            updated: ts,
        });
        Ok(())
    }

    /// Applies a broker event. `Ok(true)` if it changed something, `Ok(false)`
    /// for a fill whose `exec_id` was already applied (a re-sent execution).
    /// On error nothing changed.
    pub fn apply(&mut self, event: &BrokerEvent) -> Result<bool, OmsError> {
        match event {
            BrokerEvent::Accepted { order_id, ts } => self.transition(*order_id, OrderStatus::Accepted, *ts),
            BrokerEvent::Cancelled { order_id, ts } => {
                self.transition(*order_id, OrderStatus::Cancelled, *ts)
            }
            BrokerEvent::Expired { order_id, ts } => self.transition(*order_id, OrderStatus::Expired, *ts),
            BrokerEvent::Rejected { order_id, ts, .. } => {
                self.transition(*order_id, OrderStatus::Rejected, *ts)
            }
            BrokerEvent::CancelRejected { order_id, ts, .. } => self.cancel_rejected(*order_id, *ts),
            BrokerEvent::Filled(fill) => self.fill(fill),
        }
    }

    /// Records that a cancel was requested ([`OrderStatus::PendingCancel`]).
    pub fn request_cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), OmsError> {
        self.transition(id, OrderStatus::PendingCancel, ts).map(|_| ())
    }

    /// Applies an amendment the broker accepted: a new total quantity (not
    /// below what filled; equal to it completes the order) and/or a new limit price.
    pub fn apply_amendment(
        &mut self,
        id: OrderId,
        quantity: Option<Quantity>,
        limit_price: Option<Price>,
        ts: Timestamp,
    ) -> Result<(), OmsError> {
        let order = self.get(id)?;
        if !order.status.is_working() {
            return Err(OmsError::IllegalTransition {
                id,
                from: order.status,
                to: order.status,
            });
        }
        if let Some(q) = quantity
            && q < order.filled
        {
            return Err(OmsError::AmendBelowFilled {
                id,
                quantity: q,
                filled: order.filled,
            });
        }
        let new_type = match (order.request.order_type, limit_price) {
            (t, None) => t,
            (OrderType::Limit { .. }, Some(limit)) => OrderType::Limit { limit },
            (OrderType::StopLimit { stop, .. }, Some(limit)) => OrderType::StopLimit { stop, limit },
            (t, Some(_)) => {
                return Err(OmsError::NoLimitPrice {
                    id,
                    order_type: t.name(),
                });
            }
        };
        let completes = quantity.is_some_and(|q| q == order.filled);
        if completes && !order.status.can_become(OrderStatus::Filled) {
            return Err(OmsError::IllegalTransition {
                id,
                from: order.status,
                to: OrderStatus::Filled,
            });
        }
        let order = self.get_mut(id)?;
        order.request.order_type = new_type;
        if let Some(q) = quantity {
            order.request.quantity = q;
        }
        order.updated = ts;
        if completes {
            self.set_status(id, OrderStatus::Filled, ts);
        }
        Ok(())
    }

    fn get(&self, id: OrderId) -> Result<&Order, OmsError> {
        self.index
            .get(&id)
            .and_then(|&i| self.orders.get(i))
            .ok_or(OmsError::UnknownOrder { id })
    }

    fn get_mut(&mut self, id: OrderId) -> Result<&mut Order, OmsError> {
        match self.index.get(&id) {
            Some(&i) => self.orders.get_mut(i).ok_or(OmsError::UnknownOrder { id }),
            None => Err(OmsError::UnknownOrder { id }),
        }
    }

    fn transition(&mut self, id: OrderId, to: OrderStatus, ts: Timestamp) -> Result<bool, OmsError> {
        let from = self.get(id)?.status;
        if !from.can_become(to) {
            return Err(OmsError::IllegalTransition { id, from, to });
        }
        self.set_status(id, to, ts);
        Ok(true)
    }

    /// Sets a status already checked against the lifecycle, maintaining the working indexes.
    fn set_status(&mut self, id: OrderId, to: OrderStatus, ts: Timestamp) {
        let Ok(order) = self.get_mut(id) else { return };
        order.status = to;
        order.updated = ts;
        if to.is_terminal() {
            let (strategy, client) = (order.strategy.clone(), order.request.client_id.clone());
            self.working.remove(&id);
            if let Some(m) = self.by_client.get_mut(&strategy)
                && m.get(&client) == Some(&id)
            {
                m.remove(&client);
            }
        }
    }

    fn cancel_rejected(&mut self, id: OrderId, ts: Timestamp) -> Result<bool, OmsError> {
        let order = self.get(id)?;
        if order.status != OrderStatus::PendingCancel {
            // The order keeps its state (working, or already finished).
            return Ok(true);
        }
        let back = if order.filled.is_positive() {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::Accepted
        };
        self.set_status(id, back, ts);
        Ok(true)
    }

    fn fill(&mut self, fill: &Fill) -> Result<bool, OmsError> {
        if self.exec_ids.contains(&fill.exec_id) {
            return Ok(false);
        }
        let id = fill.order_id;
        let order = self.get(id)?;
        if !fill.quantity.is_positive() {
            return Err(OmsError::NonPositiveFill {
                id,
                field: "quantity",
            });
        }
        if !fill.price.is_positive() {
            return Err(OmsError::NonPositiveFill { id, field: "price" });
        }
        if fill.side != order.request.side {
            return Err(OmsError::FillMismatch { id, field: "side" });
        }
        if fill.instrument != order.request.instrument {
            return Err(OmsError::FillMismatch {
                id,
                field: "instrument",
            });
        }
        let remaining = order.remaining();
        if fill.quantity > remaining {
            return Err(OmsError::Overfill {
                id,
                quantity: fill.quantity,
                remaining,
            });
        }
        let to = if fill.quantity == remaining {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        if !order.status.can_become(to) {
            return Err(OmsError::IllegalTransition {
                id,
                from: order.status,
                to,
            });
        }
        let strategy = order.strategy.clone();
        let notional = fill.price.notional(fill.quantity);
        if let Ok(order) = self.get_mut(id) {
            order.filled += fill.quantity;
            order.filled_notional += notional;
        }
        self.set_status(id, to, fill.ts);
        match fill.side {
            Side::Buy => self.cash -= notional,
            Side::Sell => self.cash += notional,
        }
        self.cash -= fill.commission;
        self.commissions += fill.commission;
        let book = self
            .books
            .entry(strategy.clone())
            .or_default()
            .entry(fill.instrument)
            .or_default();
        let book_fill = BookFill {
            side: fill.side,
            quantity: fill.quantity,
            price: fill.price,
            commission: fill.commission,
            ts: fill.ts,
        };
        let closed_before = self.trades.len();
        self.realized += book.apply(&strategy, fill.instrument, &book_fill, &mut self.trades);
        self.winning_trades += self.trades[closed_before..]
            .iter()
            .filter(|t| t.net_pnl > Money::ZERO)
            .count();
        self.trade_count += (self.trades.len() - closed_before) as u64;
        self.fill_count += 1;
        self.exec_ids.insert(fill.exec_id.clone());
        let mut stored = fill.clone();
        stored.strategy = strategy;
        self.fills.push(stored);
        Ok(true)
    }

    /// Records the last price of an instrument (for unrealised P&L and equity).
    pub fn mark(&mut self, instrument: InstrumentId, price: Price) {
        self.last_prices.insert(instrument, price);
        self.last_price_times.remove(&instrument);
    }

    /// Records the last price of an instrument and when it was seen (event
    /// time): risk refuses orders against a price older than
    /// `max_reference_age_ms`.
    pub fn mark_at(&mut self, instrument: InstrumentId, price: Price, ts: Timestamp) {
        self.last_prices.insert(instrument, price);
        self.last_price_times.insert(instrument, ts);
    }

    /// The last marked price of an instrument.
    pub fn last_price(&self, instrument: InstrumentId) -> Option<Price> {
        self.last_prices.get(&instrument).copied()
    }

    /// When the last price of an instrument was marked with
    /// [`Oms::mark_at`] (`None` if never, or only with [`Oms::mark`]).
    pub fn last_price_time(&self, instrument: InstrumentId) -> Option<Timestamp> {
        self.last_price_times.get(&instrument).copied()
    }

    /// The order with this id.
    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.get(id).ok()
    }

    /// The strategy's working order with this client id.
    pub fn working_order_by_client(
        &self,
        strategy: &StrategyId,
        client_id: &ClientOrderId,
    ) -> Option<&Order> {
        let id = self.by_client.get(strategy)?.get(client_id)?;
        self.order(*id)
    }

    /// Every order registered and not yet released ([`Oms::release_finished`]),
    /// in registration order: every order ever registered unless released.
    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    /// Working (non-terminal) orders in id order.
    pub fn working_orders(&self) -> impl Iterator<Item = &Order> + '_ {
        self.working.iter().filter_map(|id| self.order(*id))
    }

    /// The position of `strategy` in `instrument` (all zero if none).
    pub fn position(&self, strategy: &StrategyId, instrument: InstrumentId) -> Position {
        let last = self.last_price(instrument);
        match self.books.get(strategy).and_then(|m| m.get(&instrument)) {
            Some(book) => book.view(instrument, last),
            None => Position {
                instrument,
                last_price: last,
                ..Position::default()
            },
        }
    }

    /// Every (strategy, instrument) that ever traded, in (strategy, instrument) order.
    pub fn positions(&self) -> impl Iterator<Item = (&StrategyId, Position)> + '_ {
        self.books
            .iter()
            .flat_map(move |(s, m)| m.iter().map(move |(i, b)| (s, b.view(*i, self.last_price(*i)))))
    }

    /// True if any position is not flat.
    pub fn has_open_positions(&self) -> bool {
        self.books
            .values()
            .flat_map(|m| m.values())
            .any(|b| !b.quantity.is_zero())
    }

    /// Open orders of `strategy` in `instrument` (allocation-free):
    /// `(open buy quantity, open sell quantity, open buy notional)`. The buy
    /// notional values each remaining quantity at its limit price (limit and
    /// stop-limit), stop price (stop) or the last marked price (market; zero
    /// if never marked).
    pub fn open_exposure(
        &self,
        strategy: &StrategyId,
        instrument: InstrumentId,
    ) -> (Quantity, Quantity, Money) {
        self.sum_open(|o| &o.strategy == strategy && o.request.instrument == instrument)
    }

    /// Like [`Oms::open_exposure`], for the whole account in `instrument`.
    pub fn account_open_exposure(&self, instrument: InstrumentId) -> (Quantity, Quantity, Money) {
        self.sum_open(|o| o.request.instrument == instrument)
    }

    /// Notional of all working buy orders of the account (valued as in [`Oms::open_exposure`]).
    pub fn open_buy_notional(&self) -> Money {
        self.sum_open(|_| true).2
    }

    fn sum_open(&self, mut keep: impl FnMut(&Order) -> bool) -> (Quantity, Quantity, Money) {
        let (mut buy, mut sell, mut notional) = (Quantity::ZERO, Quantity::ZERO, Money::ZERO);
        for o in self.working_orders() {
            if !keep(o) {
                continue;
            }
            let rest = o.remaining();
            match o.request.side {
                Side::Buy => {
                    buy += rest;
                    let t = o.request.order_type;
                    if let Some(p) = t
                        .limit_price()
                        .or(t.stop_price())
                        .or_else(|| self.last_price(o.request.instrument))
                    {
                        notional += p.notional(rest);
                    }
                }
                Side::Sell => sell += rest,
            }
        }
        (buy, sell, notional)
    }

    /// Cash now: starting cash − buys + sells − commissions.
    pub fn cash(&self) -> Money {
        self.cash
    }

    /// The cash the account started with.
    pub fn starting_cash(&self) -> Money {
        self.starting_cash
    }

    /// Cash + Σ position × last price (a never-marked position counts at cost).
    pub fn equity(&self) -> Money {
        let mut equity = self.cash;
        for m in self.books.values() {
            for (i, b) in m {
                equity += b.market_value(self.last_price(*i));
            }
        }
        equity
    }

    /// Cash, equity, realised and unrealised P&L and whether any position is
    /// open, in one pass over the books (the engine asks once per event).
    pub fn account_totals(&self) -> AccountTotals {
        let mut equity = self.cash;
        let mut unrealized = Money::ZERO;
        let mut exposed = false;
        for m in self.books.values() {
            for (i, b) in m {
                let last = self.last_price(*i);
                let value = b.market_value(last);
                equity += value;
                if last.is_some() && !b.quantity.is_zero() {
                    unrealized += value - b.cost_basis;
                }
                exposed |= !b.quantity.is_zero();
            }
        }
        AccountTotals {
            cash: self.cash,
            equity,
            realized: self.realized,
            unrealized,
            exposed,
        }
    }

    /// Realised gross P&L of the account (before commissions).
    pub fn realized_pnl(&self) -> Money {
        self.realized
    }

    /// Unrealised P&L of the account at the last prices.
    pub fn unrealized_pnl(&self) -> Money {
        self.positions().map(|(_, p)| p.unrealized_pnl).sum()
    }

    /// Commissions paid.
    pub fn total_commissions(&self) -> Money {
        self.commissions
    }

    /// Closed trades in the order they closed (those not yet released).
    pub fn closed_trades(&self) -> &[ClosedTrade] {
        &self.trades
    }

    /// How many closed trades made money (net of commissions), released ones included.
    pub fn winning_trades(&self) -> usize {
        self.winning_trades
    }

    /// How many trades closed, released ones included.
    pub fn closed_trade_count(&self) -> u64 {
        self.trade_count
    }

    /// Applied fills in the order they were applied (those not yet released).
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    /// How many fills were applied, released ones included.
    pub fn fill_count(&self) -> u64 {
        self.fill_count
    }
}
