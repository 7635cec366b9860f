//! The write-ahead order journal as the engine sees it.
//!
//! Every order takes this path, in backtests and live alike: a monotonic id
//! from the journal → registered in the OMS → the intent is recorded → risk
//! counts the order (rates, windows, duplicates) → **one commit (flush) for
//! every intent of the callback** (group commit) → only then sent to the
//! broker. An intent that cannot be made durable is never sent: it is
//! rejected with the reason, and the strategy decides whether to try again.
//! Every broker event the OMS applies (status change or fill) is recorded
//! as it arrives and committed at the end of the event that brought it.
//!
//! The engine always has a journal: a [`MemoryJournal`] (backtests; it
//! only numbers orders and counts what it was told) until a durable one is
//! attached with [`Engine::set_journal`] (the live runtime's store). So
//! risk's rate and window checks see the same history in both modes: an
//! order counts once it is approved and journaled, whether the broker then
//! takes it or not.

use wasmtrade_broker::Broker;
use wasmtrade_model::{BrokerEvent, NewOrder, Order, OrderId, StrategyId};
use wasmtrade_risk::RiskApproved;

use crate::engine::Engine;

/// Why the journal could not record or flush.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("order journal: {0}")]
pub struct JournalError(pub String);

/// Where the engine makes order intents durable before they reach a broker
/// (the live runtime implements it on the store).
pub trait OrderJournal {
    /// A fresh order id, monotonic across restarts and never reused.
    fn next_order_id(&mut self) -> Result<OrderId, JournalError>;
    /// Records an intent about to be sent (not yet durable).
    fn intent(&mut self, order: &Order) -> Result<(), JournalError>;
    /// Records a status change or fill the OMS applied (not yet durable).
    fn event(&mut self, event: &BrokerEvent) -> Result<(), JournalError>;
    /// Makes everything recorded so far durable.
    fn commit(&mut self) -> Result<(), JournalError>;
}

/// The journal of backtests (and of an engine nothing durable was attached
/// to): hands out order ids in sequence and counts what it is asked to
/// record, keeping nothing else, so its memory does not grow with the run.
/// It never refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryJournal {
    next: u64,
    intents: u64,
    events: u64,
    commits: u64,
}

impl MemoryJournal {
    /// A journal whose first order id is `first` (an OMS's next id, so
    /// orders keep its numbering).
    pub fn starting_at(first: OrderId) -> Self {
        Self {
            next: first.0,
            ..Self::default()
        }
    }

    /// Intents recorded.
    pub fn intents(&self) -> u64 {
        self.intents
    }

    /// Broker events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Commits asked for.
    pub fn commits(&self) -> u64 {
        self.commits
    }
}

impl OrderJournal for MemoryJournal {
    fn next_order_id(&mut self) -> Result<OrderId, JournalError> {
        let id = OrderId(self.next);
        self.next += 1;
        Ok(id)
    }

    fn intent(&mut self, _order: &Order) -> Result<(), JournalError> {
        self.intents += 1;
        Ok(())
    }

    fn event(&mut self, _event: &BrokerEvent) -> Result<(), JournalError> {
        self.events += 1;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), JournalError> {
        self.commits += 1;
        Ok(())
    }
}

/// An approved order recorded in the journal, waiting for the commit.
pub(crate) struct Unsent {
    pub(crate) id: OrderId,
    pub(crate) strategy: StrategyId,
    pub(crate) approved: RiskApproved<NewOrder>,
}

impl<B: Broker> Engine<B> {
    /// Journals every order in `journal` before it is sent, instead of the
    /// in-memory default (see the module docs). Set it before the first
    /// order: ids then come from `journal`.
    pub fn set_journal(&mut self, journal: Box<dyn OrderJournal + Send>) {
        self.journal = journal;
        self.journal_attached = true;
    }

    /// Applies an event learned outside the broker's stream (start-up or
    /// reconnect reconciliation): to the OMS, the journal (committed) and the
    /// owning strategy, like any broker event.
    pub fn apply_reconciled(&mut self, event: BrokerEvent) {
        self.apply_broker_event(event, 0);
        self.send_unsent(0);
        self.journal_commit();
    }

    /// Adopts the end of an order that reconciliation found without the
    /// strategy asking for it (gone with an in-process broker that restarted,
    /// cancelled or expired at the venue while the runtime was down) and
    /// tells the owning strategy through `on-reject` with `reason`, so it
    /// stops waiting for a fill that will never come. A rejection goes the
    /// usual way ([`apply_reconciled`](Self::apply_reconciled)); an event
    /// that changes nothing, or the cancel the strategy asked for, tells
    /// nothing.
    pub fn end_reconciled(&mut self, event: BrokerEvent, reason: &str) {
        let id = event.order_id();
        let before = self.oms.order(id).map(|o| o.status);
        let ends = matches!(event, BrokerEvent::Cancelled { .. } | BrokerEvent::Expired { .. })
            && before != Some(wasmtrade_model::OrderStatus::PendingCancel);
        self.apply_broker_event(event, 0);
        if let Some(order) = self.oms.order(id)
            && ends
            && order.status.is_terminal()
            && Some(order.status) != before
        {
            let (strategy, client_id) = (order.strategy.clone(), order.request.client_id.clone());
            if let Some(idx) = self.slot_of(&strategy) {
                let r = wasmtrade_model::Rejection::new(wasmtrade_model::RejectCode::Broker, reason);
                self.reject(idx, client_id, Some(id), r, 0);
            }
        }
        self.send_unsent(0);
        self.journal_commit();
    }

    /// Hands strategy `strategy` the fills of its orders later than `since`
    /// (engine time) again: a guest restored from a snapshot taken at
    /// `since` has not seen them (the OMS, rebuilt from the journal, has).
    /// Returns how many. Orders its callbacks return go through risk as
    /// usual (before start-up reconciliation the trading gate refuses them).
    pub fn redeliver_fills_since(
        &mut self,
        strategy: &StrategyId,
        since: wasmtrade_model::Timestamp,
    ) -> usize {
        let fills: Vec<wasmtrade_model::Fill> = self
            .oms
            .fills()
            .iter()
            .filter(|f| &f.strategy == strategy && f.ts > since)
            .cloned()
            .collect();
        let n = fills.len();
        for fill in fills {
            // Each redelivered fill counts as an event of its own for the
            // budget per event.
            self.begin_event();
            self.deliver_fill(fill, 0);
        }
        self.send_unsent(0);
        n
    }

    /// Mutable access to the OMS, to rebuild it from the journal before the
    /// first event. Do not use it while running.
    pub fn oms_mut(&mut self) -> &mut wasmtrade_oms::Oms {
        &mut self.oms
    }

    /// Takes finished orders, their fills and closed trades out of the
    /// OMS (and lets an in-process broker forget them): call it only once
    /// they are durable, i.e. between events with a journal attached. See
    /// [`Oms::release_finished`](wasmtrade_oms::Oms::release_finished).
    pub fn release_finished(&mut self) -> wasmtrade_oms::Released {
        self.broker.release_finished();
        self.oms.release_finished()
    }

    /// True when a journal was attached with [`set_journal`](Self::set_journal)
    /// (otherwise the in-memory one records the orders).
    pub fn has_journal(&self) -> bool {
        self.journal_attached
    }

    /// The id of the next order, from the journal.
    pub(crate) fn take_order_id(&mut self) -> Result<OrderId, JournalError> {
        self.journal.next_order_id()
    }

    /// Records a registered order's intent; false (and the order rejected)
    /// if the journal refused it.
    pub(crate) fn journal_intent(&mut self, id: OrderId, depth: u32) -> bool {
        let Some(order) = self.oms.order(id) else {
            return false;
        };
        match self.journal.intent(order) {
            Ok(()) => true,
            Err(e) => {
                self.refuse_unsent(id, &e, depth);
                false
            }
        }
    }

    /// Records an applied broker event (failures are logged: the venue
    /// keeps the truth and start-up reconciliation restores it).
    pub(crate) fn journal_event(&mut self, event: &BrokerEvent) {
        if let Err(e) = self.journal.event(event) {
            tracing::error!(order = %event.order_id(), "cannot journal a broker event: {e}");
        }
    }

    /// Commits what the current event journaled (status changes and fills).
    pub(crate) fn journal_commit(&mut self) {
        if let Err(e) = self.journal.commit() {
            tracing::error!("cannot flush the order journal: {e}");
        }
    }

    /// Sends every queued order after one commit makes all their intents
    /// durable; if the commit fails none is sent and each is rejected.
    pub(crate) fn send_unsent(&mut self, depth: u32) {
        if self.unsent.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.unsent);
        let committed = self.journal.commit();
        for unsent in batch {
            match &committed {
                Ok(()) => self.send(unsent, depth),
                Err(e) => self.refuse_unsent(unsent.id, e, depth),
            }
        }
    }

    /// Rejects order `id`, which was never sent because of `error`.
    fn refuse_unsent(&mut self, id: OrderId, error: &JournalError, depth: u32) {
        self.stats.journal_refusals += 1;
        let event = BrokerEvent::Rejected {
            order_id: id,
            reason: format!(
                "not sent: the intent could not be made durable ({error}); nothing reached the broker"
            ),
            ts: self.now,
        };
        self.apply_broker_event(event, depth);
    }

    /// Hands one approved order to the broker.
    pub(crate) fn send(&mut self, unsent: Unsent, depth: u32) {
        let Unsent {
            id,
            strategy,
            approved,
        } = unsent;
        match self.broker.submit(id, &strategy, &approved, self.now) {
            // Risk counted the order when it was journaled.
            Ok(()) => self.stats.orders_sent += 1,
            Err(e) => {
                // Never sent: the broker refused synchronously. Record it as rejected.
                let event = BrokerEvent::Rejected {
                    order_id: id,
                    reason: e.to_string(),
                    ts: self.now,
                };
                self.apply_broker_event(event, depth);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_journal_numbers_orders_from_its_start_and_only_counts() {
        let mut j = MemoryJournal::starting_at(OrderId(1));
        assert_eq!(j.next_order_id(), Ok(OrderId(1)));
        assert_eq!(j.next_order_id(), Ok(OrderId(2)));
        let event = BrokerEvent::Accepted {
            order_id: OrderId(1),
            ts: wasmtrade_model::Timestamp::EPOCH,
        };
        assert_eq!(j.event(&event), Ok(()));
        assert_eq!(j.commit(), Ok(()));
        assert_eq!((j.intents(), j.events(), j.commits()), (0, 1, 1));
        // Nothing per order is kept: the size does not grow with a run.
        assert_eq!(std::mem::size_of::<MemoryJournal>(), 4 * 8);
    }
}
