//! The paper venue's own books: what it did with every order, every
//! execution, the account's net positions and cash. They answer
//! [`Broker::report`](crate::Broker::report), as a real venue's order and
//! execution queries would.

use std::collections::BTreeMap;

use wasmtrade_model::{
    BrokerEvent, CollectionSize, InstrumentId, Money, OrderId, OrderStatus, Quantity, Side,
};

use crate::venue::{Execution, VenueOrder, VenueReport};

/// The venue's books.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ledger {
    orders: BTreeMap<OrderId, VenueOrder>,
    quantities: BTreeMap<OrderId, Quantity>,
    executions: Vec<Execution>,
    positions: BTreeMap<InstrumentId, Quantity>,
    cash_change: Money,
    starting_cash: Option<Money>,
}

impl Ledger {
    pub(crate) fn set_starting_cash(&mut self, cash: Money) {
        self.starting_cash = Some(cash);
    }

    /// Books an event the venue emits.
    pub(crate) fn observe(&mut self, event: &BrokerEvent) {
        let (id, status, reason) = match event {
            BrokerEvent::Accepted { order_id, .. } => (*order_id, OrderStatus::Accepted, None),
            BrokerEvent::Cancelled { order_id, .. } => (*order_id, OrderStatus::Cancelled, None),
            BrokerEvent::Expired { order_id, .. } => (*order_id, OrderStatus::Expired, None),
            BrokerEvent::Rejected { order_id, reason, .. } => {
                (*order_id, OrderStatus::Rejected, Some(reason.clone()))
            }
            BrokerEvent::CancelRejected { .. } => return,
            BrokerEvent::Filled(fill) => {
                let notional = fill.price.notional(fill.quantity);
                match fill.side {
                    Side::Buy => self.cash_change = self.cash_change - notional - fill.commission,
                    Side::Sell => self.cash_change = self.cash_change + notional - fill.commission,
                }
                let position = self.positions.entry(fill.instrument).or_default();
                *position += fill.side.signed(fill.quantity);
                self.executions.push(Execution {
                    order_id: fill.order_id,
                    exec_id: fill.exec_id.clone(),
                    instrument: fill.instrument,
                    side: fill.side,
                    quantity: fill.quantity,
                    price: fill.price,
                    commission: fill.commission,
                    ts: fill.ts,
                });
                let quantity = self.quantities.get(&fill.order_id).copied();
                let order = self.order(fill.order_id);
                order.filled += fill.quantity;
                order.status = if quantity.is_some_and(|q| order.filled >= q) {
                    OrderStatus::Filled
                } else {
                    OrderStatus::PartiallyFilled
                };
                return;
            }
        };
        let order = self.order(id);
        order.status = status;
        order.reason = reason;
    }

    /// Forgets every finished order and its executions (positions and cash
    /// stay) and returns their ids.
    pub(crate) fn release_finished(&mut self) -> Vec<OrderId> {
        let done: std::collections::BTreeSet<OrderId> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status.is_terminal())
            .map(|(id, _)| *id)
            .collect();
        if done.is_empty() {
            return Vec::new();
        }
        self.orders.retain(|id, _| !done.contains(id));
        self.quantities.retain(|id, _| !done.contains(id));
        self.executions.retain(|e| !done.contains(&e.order_id));
        done.into_iter().collect()
    }

    /// The lengths of the per-order books.
    pub(crate) fn collection_sizes(&self) -> [CollectionSize; 3] {
        [
            CollectionSize::new("paper.ledger_orders", self.orders.len()),
            CollectionSize::new("paper.ledger_quantities", self.quantities.len()),
            CollectionSize::new("paper.ledger_executions", self.executions.len()),
        ]
    }

    /// Starts the books from net positions and cash (a checkpoint of the
    /// account) instead of from every execution.
    pub(crate) fn restore(
        &mut self,
        positions: impl IntoIterator<Item = (InstrumentId, Quantity)>,
        cash: Money,
    ) {
        self.positions = positions.into_iter().filter(|(_, q)| !q.is_zero()).collect();
        self.cash_change = cash - self.starting_cash.unwrap_or(cash);
    }

    /// Books an order's (possibly amended) quantity.
    pub(crate) fn quantity(&mut self, id: OrderId, quantity: Quantity) {
        self.quantities.insert(id, quantity);
    }

    fn order(&mut self, id: OrderId) -> &mut VenueOrder {
        self.orders.entry(id).or_insert_with(|| VenueOrder {
            id,
            status: OrderStatus::Accepted,
            filled: Quantity::ZERO,
            reason: None,
        })
    }

    /// Everything the venue knows (it forgets nothing, so the answer is complete).
    pub(crate) fn report(&self) -> VenueReport {
        VenueReport {
            orders: self.orders.values().cloned().collect(),
            executions: self.executions.clone(),
            positions: self.positions.clone(),
            cash: self.starting_cash.map(|c| c + self.cash_change),
            complete: true,
        }
    }
}
