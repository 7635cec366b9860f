//! The engine's write-ahead order journal on the store, and the OMS rebuilt
//! from it at start-up.

use std::sync::Arc;

use wasmtrade_engine::{JournalError, OrderJournal};
use wasmtrade_model::{BrokerEvent, Fill, Order, OrderId, OrderStatus, Quantity};
use wasmtrade_oms::Oms;
use wasmtrade_store::{JournalEntry, JournalRecord, Store};

/// [`OrderJournal`] on the store's journal tree: what the live runtime
/// attaches to its engine.
pub struct StoreJournal {
    store: Arc<Store>,
    traffic: Option<Arc<crate::Traffic>>,
}

impl StoreJournal {
    /// The journal of `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, traffic: None }
    }

    /// Also records how long each commit takes (the journal-lag metric).
    pub fn with_traffic(mut self, traffic: Arc<crate::Traffic>) -> Self {
        self.traffic = Some(traffic);
        self
    }
}

fn err(e: impl std::fmt::Display) -> JournalError {
    JournalError(e.to_string())
}

/// The journal record of a broker event (`None` for a refused cancel,
/// which changes no order's status).
pub(crate) fn record_of(event: &BrokerEvent) -> Option<JournalRecord> {
    let (order_id, status, ts, reason) = match event {
        BrokerEvent::Filled(fill) => return Some(JournalRecord::Fill(fill.clone())),
        BrokerEvent::CancelRejected { .. } => return None,
        BrokerEvent::Accepted { order_id, ts } => (*order_id, OrderStatus::Accepted, *ts, None),
        BrokerEvent::Cancelled { order_id, ts } => (*order_id, OrderStatus::Cancelled, *ts, None),
        BrokerEvent::Expired { order_id, ts } => (*order_id, OrderStatus::Expired, *ts, None),
        BrokerEvent::Rejected { order_id, reason, ts } => {
            (*order_id, OrderStatus::Rejected, *ts, Some(reason.clone()))
        }
    };
    Some(JournalRecord::Status {
        order_id,
        status,
        ts,
        reason,
    })
}

impl OrderJournal for StoreJournal {
    fn next_order_id(&mut self) -> Result<OrderId, JournalError> {
        self.store.journal().next_order_id().map_err(err)
    }

    fn intent(&mut self, order: &Order) -> Result<(), JournalError> {
        self.store
            .journal()
            .append(&JournalRecord::intent(order.clone()))
            .map(drop)
            .map_err(err)
    }

    fn event(&mut self, event: &BrokerEvent) -> Result<(), JournalError> {
        match record_of(event) {
            Some(record) => self.store.journal().append(&record).map(drop).map_err(err),
            None => Ok(()),
        }
    }

    /// The wall clock times the flush for the metric only.
    #[allow(clippy::disallowed_methods)]
    fn commit(&mut self) -> Result<(), JournalError> {
        let journal = self.store.journal();
        let pending = journal.last_seq() > journal.durable_seq();
        let start = std::time::Instant::now();
        let out = journal.commit().map(drop).map_err(err);
        if pending && let Some(t) = &self.traffic {
            t.journal_commit(start.elapsed());
        }
        out
    }
}

/// What rebuilding the OMS found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rebuilt {
    pub(crate) orders: usize,
    pub(crate) fills: usize,
    /// Orders still open (their fate is asked of the venue).
    pub(crate) unresolved: usize,
    /// Records the OMS refused (named in the log).
    pub(crate) refused: usize,
}

/// Replays the journal's records, in the order they were written, into a
/// fresh OMS, so open orders, fills, positions, cash and realised P&L are
/// what they were at the last journaled record (the replay applies them
/// exactly as they were applied live).
pub(crate) fn rebuild(oms: &mut Oms, records: &[JournalEntry]) -> Rebuilt {
    let mut out = Rebuilt::default();
    for entry in records {
        let (what, result) = match &entry.record {
            JournalRecord::Intent { order_id, order, .. } => {
                out.orders += 1;
                let r = oms.register(
                    *order_id,
                    order.strategy.clone(),
                    order.request.clone(),
                    order.created,
                );
                ("intent", r.map(drop).map_err(|e| e.to_string()))
            }
            JournalRecord::Status {
                order_id,
                status,
                ts,
                reason,
            } => {
                let (id, ts) = (*order_id, *ts);
                let event = match status {
                    OrderStatus::Accepted => BrokerEvent::Accepted { order_id: id, ts },
                    OrderStatus::Cancelled => BrokerEvent::Cancelled { order_id: id, ts },
                    OrderStatus::Expired => BrokerEvent::Expired { order_id: id, ts },
                    OrderStatus::Rejected => BrokerEvent::Rejected {
                        order_id: id,
                        reason: reason.clone().unwrap_or_default(),
                        ts,
                    },
                    // Fills and cancel requests carry these; nothing to apply.
                    _ => continue,
                };
                ("status", oms.apply(&event).map(drop).map_err(|e| e.to_string()))
            }
            JournalRecord::Fill(fill) => {
                out.fills += 1;
                let r = oms.apply(&BrokerEvent::Filled(fill.clone()));
                ("fill", r.map(drop).map_err(|e| e.to_string()))
            }
            JournalRecord::NeverSent { order_id, ts, reason } => {
                let event = BrokerEvent::Rejected {
                    order_id: *order_id,
                    reason: reason.clone(),
                    ts: *ts,
                };
                // Usually already rejected when it was marked.
                let r = match oms.order(*order_id) {
                    Some(o) if o.status.is_terminal() => Ok(()),
                    _ => oms.apply(&event).map(drop).map_err(|e| e.to_string()),
                };
                ("never-sent", r)
            }
            _ => continue,
        };
        if let Err(e) = result {
            tracing::error!(seq = %entry.seq, "journal replay: {what} refused by the oms: {e}");
            out.refused += 1;
        }
    }
    out.unresolved = oms.working_orders().count();
    out
}

/// The journaled orders (id and quantity) and fills: the books an
/// in-process paper broker resumes after a restart (its positions, cash and
/// execution ids continue from them, as the rebuilt OMS does).
pub(crate) fn paper_books(records: &[JournalEntry]) -> (Vec<(OrderId, Quantity)>, Vec<Fill>) {
    let (mut orders, mut fills) = (Vec::new(), Vec::new());
    for entry in records {
        match &entry.record {
            JournalRecord::Intent { order_id, order, .. } => orders.push((*order_id, order.request.quantity)),
            JournalRecord::Fill(fill) => fills.push(fill.clone()),
            _ => {}
        }
    }
    (orders, fills)
}

/// The latest time the journal records (`EPOCH` for an empty journal).
pub(crate) fn last_time(records: &[JournalEntry]) -> wasmtrade_model::Timestamp {
    records
        .iter()
        .filter_map(|entry| match &entry.record {
            JournalRecord::Intent { order, .. } => Some(order.created),
            JournalRecord::Status { ts, .. } | JournalRecord::NeverSent { ts, .. } => Some(*ts),
            JournalRecord::Fill(fill) => Some(fill.ts),
            JournalRecord::Reconciliation(d) => Some(d.ts),
            _ => None,
        })
        .max()
        .unwrap_or(wasmtrade_model::Timestamp::EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{
        ClientOrderId, InstrumentId, Money, NewOrder, OrderType, Price, Side, StrategyId, TimeInForce,
        Timestamp,
    };
    use wasmtrade_store::Seq;

    fn order(id: u64, client: &str, side: Side) -> Order {
        Order {
            id: OrderId(id),
            strategy: StrategyId::new("s"),
            request: NewOrder {
                client_id: ClientOrderId::new(client),
                instrument: InstrumentId(0),
                side,
                quantity: Quantity::from_int(10),
                order_type: OrderType::Market,
                tif: TimeInForce::Gtc,
            },
            status: OrderStatus::PendingNew,
            filled: Quantity::ZERO,
            filled_notional: Money::ZERO,
            created: Timestamp::from_secs(id as i64),
            updated: Timestamp::from_secs(id as i64),
        }
    }

    fn fill(id: u64, side: Side, price: i64) -> JournalRecord {
        JournalRecord::Fill(Fill {
            order_id: OrderId(id),
            strategy: StrategyId::new("s"),
            client_id: ClientOrderId::new("c1"),
            instrument: InstrumentId(0),
            side,
            quantity: Quantity::from_int(10),
            price: Price::from_int(price),
            commission: Money::from_int(1),
            ts: Timestamp::from_secs(id as i64 + 1),
            exec_id: format!("E{id}"),
        })
    }

    #[test]
    fn replay_in_journal_order_rebuilds_positions_cash_and_open_orders_even_when_client_ids_are_reused() {
        let accepted = |id: u64| JournalRecord::Status {
            order_id: OrderId(id),
            status: OrderStatus::Accepted,
            ts: Timestamp::from_secs(id as i64),
            reason: None,
        };
        let records = [
            JournalRecord::intent(order(1, "c1", Side::Buy)),
            accepted(1),
            fill(1, Side::Buy, 100),
            // The same client id again, once the first order is finished.
            JournalRecord::intent(order(2, "c1", Side::Sell)),
            accepted(2),
            fill(2, Side::Sell, 110),
            JournalRecord::intent(order(3, "c1", Side::Buy)),
            accepted(3),
        ];
        let entries: Vec<JournalEntry> = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| JournalEntry {
                seq: Seq(i as u64 + 1),
                record,
            })
            .collect();
        let mut oms = Oms::new(Money::from_int(10_000));
        let rebuilt = rebuild(&mut oms, &entries);
        assert_eq!(
            rebuilt,
            Rebuilt {
                orders: 3,
                fills: 2,
                unresolved: 1,
                refused: 0
            }
        );
        // -1000 - 1 + 1100 - 1
        assert_eq!(oms.cash(), Money::from_int(10_098));
        assert!(!oms.has_open_positions());
        assert_eq!(oms.order(OrderId(3)).unwrap().status, OrderStatus::Accepted);
    }
}
