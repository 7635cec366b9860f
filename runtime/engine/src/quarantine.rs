//! What happens to a strategy quarantined after a fault (live runs): its
//! working orders are cancelled and, if configured, its positions closed at
//! the market. Both happen after the guests of the current event ran, so
//! the fault does not reorder what the other strategies see.

use wasmtrade_broker::Broker;
use wasmtrade_model::{ClientOrderId, NewOrder, OrderType, Side, StrategyId, TimeInForce};

use crate::engine::Engine;
use crate::released::release_strategy;
use crate::slots::SlotState;

impl<B: Broker> Engine<B> {
    /// Cancels the orders (and flattens the positions, with
    /// `flatten_on_fault`) of strategies quarantined during this event.
    pub(crate) fn apply_quarantines(&mut self) {
        if self.quarantined_now.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.quarantined_now) {
            let cancelled = self.cancel_working_orders(&id);
            let flattened = if self.config.flatten_on_fault {
                self.flatten(&id)
            } else {
                0
            };
            tracing::info!(strategy = %id, cancelled, flattened, "quarantine: orders cancelled");
            // The guest never runs again: free its store and memory now
            // (a restart or swap builds a new instance).
            if let Some(idx) = self.slot_of(&id) {
                let slot = &mut self.strategies[idx];
                if let SlotState::Quarantined { reason } = &slot.state {
                    let reason = reason.clone();
                    release_strategy(&mut slot.guest, &reason);
                }
            }
        }
    }

    /// Closes every position of strategy `id` with market orders (through
    /// risk, which lets risk-reducing orders pass a kill switch); returns
    /// how many orders were submitted.
    pub fn flatten(&mut self, id: &StrategyId) -> usize {
        let Some(idx) = self.slot_of(id) else {
            return 0;
        };
        let open: Vec<_> = self
            .oms
            .positions()
            .filter(|(owner, p)| *owner == id && !p.quantity.is_zero())
            .map(|(_, p)| (p.instrument, p.quantity))
            .collect();
        let mut sent = 0;
        for (instrument, quantity) in open {
            let order = NewOrder {
                client_id: ClientOrderId::new(format!("flatten-{}-{}", instrument.0, self.now.nanos())),
                instrument,
                side: if quantity.is_negative() {
                    Side::Buy
                } else {
                    Side::Sell
                },
                quantity: quantity.abs(),
                order_type: OrderType::Market,
                tif: TimeInForce::Gtc,
            };
            self.submit(idx, order, 0);
            sent += 1;
        }
        sent
    }
}
