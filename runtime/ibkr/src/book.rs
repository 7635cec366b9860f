//! What we know about our orders at IB, and the translation of IB's order
//! status, open-order, execution and commission messages into
//! [`BrokerEvent`]s: each transition emitted once, each execution once
//! (deduplicated by exec id: TWS re-sends executions after a restart), a
//! fill held until its commission report arrives (or a deadline passes).
//!
//! Pure state: no I/O, the caller passes the time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use wasmtrade_broker::{Execution, VenueOrder};
use wasmtrade_model::{
    BrokerEvent, ClientOrderId, CollectionSize, Fill, Instruments, Money, NewOrder, OrderId, OrderStatus,
    Quantity, StrategyId, Timestamp,
};

use crate::mapping;

/// One of our orders sent to IB.
#[derive(Clone, Debug)]
pub(crate) struct Tracked {
    pub ib_id: i32,
    pub strategy: StrategyId,
    pub client_id: ClientOrderId,
    pub order: NewOrder,
    pub status: OrderStatus,
    pub filled: Quantity,
    pub reason: Option<String>,
}

/// An execution as IB reported it, decoupled from the client library's types.
#[derive(Clone, Debug)]
pub(crate) struct ExecReport {
    pub ib_id: i32,
    pub order_ref: String,
    pub exec_id: String,
    pub symbol: String,
    pub side: String,
    pub shares: f64,
    pub price: f64,
}

#[derive(Debug)]
struct Pending {
    fill: Fill,
    deadline: Instant,
}

/// The order book of the adapter.
#[derive(Debug)]
pub(crate) struct Book {
    prefix: String,
    commission_wait: Duration,
    orders: BTreeMap<OrderId, Tracked>,
    by_ib: BTreeMap<i32, OrderId>,
    seen_exec: BTreeSet<String>,
    pending: Vec<Pending>,
    early_commission: BTreeMap<String, Money>,
    /// Executions of our orders seen this session (for reports).
    executions: BTreeMap<String, Execution>,
    /// Events waiting for `Broker::poll`.
    pub events: VecDeque<BrokerEvent>,
    /// Executions dropped as duplicates (metric).
    pub duplicate_executions: u64,
}

impl Book {
    pub fn new(prefix: String, commission_wait: Duration) -> Self {
        Self {
            prefix,
            commission_wait,
            orders: BTreeMap::new(),
            by_ib: BTreeMap::new(),
            seen_exec: BTreeSet::new(),
            pending: Vec::new(),
            early_commission: BTreeMap::new(),
            executions: BTreeMap::new(),
            events: VecDeque::new(),
            duplicate_executions: 0,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn get(&self, id: OrderId) -> Option<&Tracked> {
        self.orders.get(&id)
    }

    pub fn contains(&self, id: OrderId) -> bool {
        self.orders.contains_key(&id)
    }

    /// Starts tracking an order about to be placed.
    pub fn track(&mut self, id: OrderId, t: Tracked) {
        self.by_ib.insert(t.ib_id, id);
        self.orders.insert(id, t);
    }

    /// Records a new quantity/limit after an accepted modification.
    pub fn amend(&mut self, id: OrderId, order: NewOrder) {
        if let Some(t) = self.orders.get_mut(&id) {
            t.order = order;
        }
    }

    /// Our id for an IB order id or, failing that, its order reference.
    fn resolve(&mut self, ib_id: i32, order_ref: &str) -> Option<OrderId> {
        if let Some(id) = self.by_ib.get(&ib_id) {
            return Some(*id);
        }
        let id = mapping::parse_order_ref(&self.prefix, order_ref)?;
        if let Some(t) = self.orders.get_mut(&id) {
            // Known locally under another IB id (re-placed after a restart).
            t.ib_id = ib_id;
            self.by_ib.insert(ib_id, id);
        }
        Some(id)
    }

    fn transition(&mut self, id: OrderId, next: OrderStatus, reason: Option<String>, ts: Timestamp) {
        let Some(t) = self.orders.get_mut(&id) else { return };
        if t.status == next || !t.status.can_become(next) {
            return;
        }
        let first_ack = t.status == OrderStatus::PendingNew;
        t.status = next;
        if reason.is_some() {
            t.reason.clone_from(&reason);
        }
        let event = match next {
            OrderStatus::Accepted | OrderStatus::PartiallyFilled if first_ack => {
                Some(BrokerEvent::Accepted { order_id: id, ts })
            }
            OrderStatus::Cancelled => Some(BrokerEvent::Cancelled { order_id: id, ts }),
            OrderStatus::Expired => Some(BrokerEvent::Expired { order_id: id, ts }),
            OrderStatus::Rejected => Some(BrokerEvent::Rejected {
                order_id: id,
                reason: reason.unwrap_or_else(|| "rejected by IB".into()),
                ts,
            }),
            _ => None,
        };
        self.events.extend(event);
    }

    /// An `orderStatus` (or the status inside an `openOrder`).
    pub fn on_status(&mut self, ib_id: i32, order_ref: &str, text: &str, filled: f64, ts: Timestamp) {
        let Some(id) = self.resolve(ib_id, order_ref) else {
            return;
        };
        let filled = mapping::quantity(filled).unwrap_or(Quantity::ZERO);
        let Some(next) = mapping::status(text, filled) else {
            return;
        };
        // Fills come from executions; a status only acknowledges or ends.
        let next = match next {
            OrderStatus::Filled | OrderStatus::PartiallyFilled => {
                if self
                    .orders
                    .get(&id)
                    .is_some_and(|t| t.status == OrderStatus::PendingNew)
                {
                    OrderStatus::Accepted
                } else {
                    return;
                }
            }
            OrderStatus::Rejected => {
                self.transition(
                    id,
                    OrderStatus::Rejected,
                    Some(format!("IB order status {text}")),
                    ts,
                );
                return;
            }
            // A pending cancel is the host's state, not a venue event.
            OrderStatus::PendingCancel => return,
            other => other,
        };
        self.transition(id, next, None, ts);
    }

    /// An error IB addressed to one of our orders (the request id is the IB order id).
    pub fn on_order_error(
        &mut self,
        ib_id: i32,
        code: i32,
        message: &str,
        cancel_request: bool,
        ts: Timestamp,
    ) {
        let Some(&id) = self.by_ib.get(&ib_id) else { return };
        let reason = format!("IB error {code}: {message}");
        if cancel_request && mapping::is_cancel_rejection(code) {
            self.events.push_back(BrokerEvent::CancelRejected {
                order_id: id,
                reason,
                ts,
            });
        } else if mapping::is_order_rejection(code) {
            let working = self
                .orders
                .get(&id)
                .is_some_and(|t| t.status != OrderStatus::PendingNew);
            if working {
                // A refused modification leaves the order working as it was.
                tracing::warn!(order = %id, code, message, "IB refused a change to a working order");
            } else {
                self.transition(id, OrderStatus::Rejected, Some(reason), ts);
            }
        } else if code == 202 {
            // "Order cancelled": the Cancelled status follows (or came) on its own.
        } else {
            tracing::info!(order = %id, code, message, "IB notice for an order");
        }
    }

    /// The send itself failed (disconnected or refused by the client library).
    pub fn not_sent(&mut self, id: OrderId, reason: String, ts: Timestamp) {
        self.transition(id, OrderStatus::Rejected, Some(reason), ts);
    }

    /// An execution. Returns false for a duplicate or foreign execution.
    pub fn on_execution(
        &mut self,
        e: ExecReport,
        instruments: &Instruments,
        now: Instant,
        ts: Timestamp,
    ) -> bool {
        let Some(id) = self.resolve(e.ib_id, &e.order_ref) else {
            return false;
        };
        if !self.seen_exec.insert(e.exec_id.clone()) {
            self.duplicate_executions += 1;
            return false;
        }
        let (Some(side), Some(quantity), Some(price)) = (
            mapping::exec_side(&e.side),
            mapping::quantity(e.shares),
            mapping::price(e.price),
        ) else {
            tracing::error!(exec = %e.exec_id, side = %e.side, shares = e.shares, price = e.price, "unreadable IB execution ignored");
            return false;
        };
        let instrument = self
            .orders
            .get(&id)
            .map(|t| t.order.instrument)
            .or_else(|| instruments.by_symbol(&e.symbol).map(|i| i.id));
        let Some(instrument) = instrument else {
            tracing::warn!(exec = %e.exec_id, symbol = %e.symbol, "execution for an instrument outside this run");
            return false;
        };
        self.executions.insert(
            e.exec_id.clone(),
            Execution {
                order_id: id,
                exec_id: e.exec_id.clone(),
                instrument,
                side,
                quantity,
                price,
                commission: Money::ZERO,
                ts,
            },
        );
        let Some(t) = self.orders.get_mut(&id) else {
            return true;
        };
        t.filled += quantity;
        let fill = Fill {
            order_id: id,
            strategy: t.strategy.clone(),
            client_id: t.client_id.clone(),
            instrument,
            side,
            quantity,
            price,
            commission: Money::ZERO,
            ts,
            exec_id: e.exec_id.clone(),
        };
        let next = if t.filled >= t.order.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        if t.status == OrderStatus::PendingNew {
            self.transition(id, OrderStatus::Accepted, None, ts);
        }
        if let Some(t) = self.orders.get_mut(&id)
            && t.status.can_become(next)
        {
            t.status = next;
        }
        match self.early_commission.remove(&e.exec_id) {
            Some(c) => self.events.push_back(BrokerEvent::Filled(Fill {
                commission: c,
                ..fill
            })),
            None => self.pending.push(Pending {
                fill,
                deadline: now + self.commission_wait,
            }),
        }
        true
    }

    /// A commission report: releases the held fill with its commission.
    pub fn on_commission(&mut self, exec_id: &str, commission: f64) {
        let c = Money::from_f64(commission).unwrap_or(Money::ZERO);
        if let Some(e) = self.executions.get_mut(exec_id) {
            e.commission = c;
        }
        if let Some(pos) = self.pending.iter().position(|p| p.fill.exec_id == exec_id) {
            let p = self.pending.remove(pos);
            self.events.push_back(BrokerEvent::Filled(Fill {
                commission: c,
                ..p.fill
            }));
        } else if !self.seen_exec.contains(exec_id) {
            if self.early_commission.len() > 10_000 {
                self.early_commission.clear();
            }
            self.early_commission.insert(exec_id.to_string(), c);
        }
    }

    /// Emits held fills whose commission report did not come in time (zero commission).
    pub fn flush_expired(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline <= now {
                let p = self.pending.remove(i);
                tracing::warn!(exec = %p.fill.exec_id, order = %p.fill.order_id, "no IB commission report in time: fill emitted with zero commission");
                self.events.push_back(BrokerEvent::Filled(p.fill));
            } else {
                i += 1;
            }
        }
    }

    /// Forgets finished orders the runtime released (terminal, no fill
    /// waiting for its commission): their tracking, IB id and executions.
    /// The exec ids seen stay, so an execution TWS re-sends for a
    /// forgotten order is still dropped as a duplicate.
    pub fn release_finished(&mut self) {
        let waiting: BTreeSet<OrderId> = self.pending.iter().map(|p| p.fill.order_id).collect();
        let done: BTreeSet<OrderId> = self
            .orders
            .iter()
            .filter(|(id, t)| t.status.is_terminal() && !waiting.contains(id))
            .map(|(id, _)| *id)
            .collect();
        if done.is_empty() {
            return;
        }
        self.orders.retain(|id, _| !done.contains(id));
        self.by_ib.retain(|_, id| !done.contains(id));
        self.executions.retain(|_, e| !done.contains(&e.order_id));
    }

    /// The lengths of the book's per-order collections.
    pub fn collection_sizes(&self) -> Vec<CollectionSize> {
        vec![
            CollectionSize::new("ibkr.orders", self.orders.len()),
            CollectionSize::new("ibkr.by_ib", self.by_ib.len()),
            CollectionSize::new("ibkr.seen_exec", self.seen_exec.len()),
            CollectionSize::new("ibkr.pending", self.pending.len()),
            CollectionSize::new("ibkr.early_commission", self.early_commission.len()),
            CollectionSize::new("ibkr.executions", self.executions.len()),
            CollectionSize::new("ibkr.events", self.events.len()),
        ]
    }

    /// The venue's view of our orders, as far as this session saw it.
    pub fn venue_orders(&self) -> Vec<VenueOrder> {
        self.orders
            .iter()
            .filter(|(_, t)| t.status != OrderStatus::PendingNew)
            .map(|(id, t)| VenueOrder {
                id: *id,
                status: t.status,
                filled: t.filled,
                reason: t.reason.clone(),
            })
            .collect()
    }

    /// Executions seen this session.
    pub fn executions(&self) -> Vec<Execution> {
        self.executions.values().cloned().collect()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, reason = "tests pass real instants to the book")]
mod tests {
    use super::*;
    use wasmtrade_model::{InstrumentId, OrderType, Side, TimeInForce};

    fn book() -> (Book, Instruments) {
        let mut instruments = Instruments::new();
        instruments.intern("AAPL");
        let mut b = Book::new("wt-".into(), Duration::from_secs(2));
        b.track(
            OrderId(1),
            Tracked {
                ib_id: 100,
                strategy: StrategyId::new("s"),
                client_id: ClientOrderId::new("c1"),
                order: NewOrder {
                    client_id: ClientOrderId::new("c1"),
                    instrument: InstrumentId(0),
                    side: Side::Buy,
                    quantity: Quantity::from_int(100),
                    order_type: OrderType::Market,
                    tif: TimeInForce::Day,
                },
                status: OrderStatus::PendingNew,
                filled: Quantity::ZERO,
                reason: None,
            },
        );
        (b, instruments)
    }
    fn exec(id: &str, shares: f64) -> ExecReport {
        ExecReport {
            ib_id: 100,
            order_ref: "wt-1".into(),
            exec_id: id.into(),
            symbol: "AAPL".into(),
            side: "BOT".into(),
            shares,
            price: 10.0,
        }
    }
    const T: Timestamp = Timestamp::from_secs(1);

    #[test]
    fn acknowledges_once_however_often_ib_repeats_the_status() {
        let (mut b, _) = book();
        b.on_status(100, "", "PreSubmitted", 0.0, T);
        b.on_status(100, "", "Submitted", 0.0, T);
        assert_eq!(b.events.len(), 1);
        assert!(matches!(
            b.events[0],
            BrokerEvent::Accepted {
                order_id: OrderId(1),
                ..
            }
        ));
    }

    #[test]
    fn a_fill_waits_for_its_commission_report() {
        let (mut b, ins) = book();
        let now = Instant::now();
        assert!(b.on_execution(exec("E1", 40.0), &ins, now, T));
        assert_eq!(b.events.len(), 1, "only the implicit acknowledgement");
        b.on_commission("E1", 1.25);
        let BrokerEvent::Filled(f) = &b.events[1] else {
            panic!("{:?}", b.events)
        };
        assert_eq!(
            (f.quantity, f.commission),
            (Quantity::from_int(40), Money::from_f64(1.25).unwrap())
        );
    }

    #[test]
    fn duplicate_executions_are_dropped_by_exec_id() {
        let (mut b, ins) = book();
        let now = Instant::now();
        assert!(b.on_execution(exec("E1", 40.0), &ins, now, T));
        assert!(!b.on_execution(exec("E1", 40.0), &ins, now, T));
        assert_eq!(b.duplicate_executions, 1);
        assert_eq!(b.get(OrderId(1)).unwrap().filled, Quantity::from_int(40));
    }

    fn size(b: &Book, name: &str) -> u64 {
        b.collection_sizes().iter().find(|c| c.name == name).unwrap().len
    }

    #[test]
    fn a_released_filled_order_leaves_the_book_and_its_resent_execution_stays_a_duplicate() {
        let (mut b, ins) = book();
        let now = Instant::now();
        assert!(b.on_execution(exec("E1", 100.0), &ins, now, T));
        // Its fill still waits for the commission: the order stays.
        b.release_finished();
        assert!(b.contains(OrderId(1)));
        b.on_commission("E1", 1.0);
        b.release_finished();
        assert!(!b.contains(OrderId(1)));
        assert_eq!((size(&b, "ibkr.orders"), size(&b, "ibkr.by_ib")), (0, 0));
        assert_eq!(size(&b, "ibkr.executions"), 0);
        // TWS re-sends the day's executions after a reconnect.
        assert!(!b.on_execution(exec("E1", 100.0), &ins, now, T));
        assert_eq!(b.duplicate_executions, 1);
        assert_eq!(size(&b, "ibkr.executions"), 0);
    }

    #[test]
    fn a_working_order_is_not_released() {
        let (mut b, ins) = book();
        assert!(b.on_execution(exec("E1", 40.0), &ins, Instant::now(), T));
        b.on_commission("E1", 1.0);
        b.release_finished();
        assert!(b.contains(OrderId(1)));
        assert_eq!(size(&b, "ibkr.executions"), 1);
    }

    #[test]
    fn a_commission_before_its_execution_is_kept() {
        let (mut b, ins) = book();
        b.on_commission("E9", 2.0);
        b.on_execution(exec("E9", 100.0), &ins, Instant::now(), T);
        let BrokerEvent::Filled(f) = b.events.back().unwrap() else {
            panic!()
        };
        assert_eq!(f.commission, Money::from_f64(2.0).unwrap());
        assert_eq!(b.get(OrderId(1)).unwrap().status, OrderStatus::Filled);
    }

    #[test]
    fn a_missing_commission_releases_the_fill_at_the_deadline() {
        let (mut b, ins) = book();
        let now = Instant::now();
        b.on_execution(exec("E1", 100.0), &ins, now, T);
        b.flush_expired(now + Duration::from_secs(1));
        assert_eq!(b.events.len(), 1);
        b.flush_expired(now + Duration::from_secs(2));
        assert!(matches!(b.events[1], BrokerEvent::Filled(ref f) if f.commission == Money::ZERO));
    }

    #[test]
    fn rejection_error_on_a_new_order_rejects_it_but_not_a_working_one() {
        let (mut b, _) = book();
        b.on_order_error(100, 201, "Order rejected - reason: no funds", false, T);
        assert!(matches!(&b.events[0], BrokerEvent::Rejected { reason, .. } if reason.contains("201")));
        let (mut b, _) = book();
        b.on_status(100, "", "Submitted", 0.0, T);
        b.on_order_error(100, 201, "modify refused", false, T);
        assert_eq!(b.events.len(), 1);
    }

    #[test]
    fn refused_cancel_becomes_cancel_rejected() {
        let (mut b, _) = book();
        b.on_status(100, "", "Submitted", 0.0, T);
        b.on_order_error(
            100,
            161,
            "Cancel attempted when order is not in a cancellable state",
            true,
            T,
        );
        assert!(matches!(b.events[1], BrokerEvent::CancelRejected { .. }));
    }

    #[test]
    fn finds_an_order_by_reference_when_ib_id_is_unknown() {
        let (mut b, ins) = book();
        let mut e = exec("E2", 100.0);
        e.ib_id = 555;
        assert!(b.on_execution(e, &ins, Instant::now(), T));
        b.on_status(555, "", "Cancelled", 100.0, T);
        assert_eq!(b.get(OrderId(1)).unwrap().ib_id, 555);
    }

    #[test]
    fn foreign_orders_are_ignored() {
        let (mut b, ins) = book();
        let mut e = exec("X", 1.0);
        e.ib_id = 9;
        e.order_ref = "manual".into();
        assert!(!b.on_execution(e, &ins, Instant::now(), T));
        b.on_status(9, "manual", "Filled", 1.0, T);
        assert!(b.events.is_empty());
    }
}
