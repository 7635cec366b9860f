//! Broker events into the OMS and back to the guests: acceptances,
//! cancels, rejections and fills, in the order the broker reported them.

use wasmtrade_broker::Broker;
use wasmtrade_model::{BrokerEvent, Fill, RejectCode, Rejection, StrategyId};

use crate::engine::Engine;
use crate::observe::EngineEvent;

impl<B: Broker> Engine<B> {
    /// Applies every pending broker event to the OMS and informs the guests.
    pub(crate) fn drain_broker(&mut self) {
        loop {
            let mut events = std::mem::take(&mut self.scratch);
            self.broker.poll(&mut events);
            if events.is_empty() {
                self.scratch = events;
                return;
            }
            for event in events.drain(..) {
                self.apply_broker_event(event, 0);
            }
            self.scratch = events;
        }
    }

    pub(crate) fn apply_broker_event(&mut self, event: BrokerEvent, depth: u32) {
        match self.oms.apply(&event) {
            Ok(applied) => {
                if !applied {
                    return; // a duplicate (e.g. an execution re-sent after a reconnect)
                }
            }
            Err(e) => {
                tracing::warn!(order = %event.order_id(), "broker event refused by the oms: {e}");
                return;
            }
        }
        self.journal_event(&event);
        if self.observer.wants_events() {
            let order = self.oms.order(event.order_id()).cloned();
            let reported = event.clone();
            self.emit(|| EngineEvent::Broker {
                event: reported,
                order,
            });
        }
        match event {
            BrokerEvent::Filled(fill) => {
                if let Some(instrument) = self.instruments.get(fill.instrument)
                    && let Some(h) = self.risk.on_fill(&fill, instrument)
                {
                    tracing::warn!(strategy = %fill.strategy, reason = ?h.reason, "risk halt: {}", h.detail);
                }
                self.deliver_fill(fill, depth)
            }
            BrokerEvent::Rejected { order_id, reason, .. } => {
                let Some(order) = self.oms.order(order_id) else {
                    return;
                };
                let (strategy, client_id) = (order.strategy.clone(), order.request.client_id.clone());
                if let Some(idx) = self.slot_of(&strategy) {
                    let r = Rejection::new(RejectCode::Broker, reason);
                    self.reject(idx, client_id, Some(order_id), r, depth);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn deliver_fill(&mut self, fill: Fill, depth: u32) {
        self.stats.fills += 1;
        let Some(idx) = self.slot_of(&fill.strategy) else {
            return;
        };
        if !self.strategies[idx].is_active() {
            return;
        }
        let account = self.account_view();
        self.refresh_context(idx, fill.instrument, account);
        self.strategies[idx].counters.fills += 1;
        let result = self.call(idx, |g| g.on_fill(&fill));
        if self.strategies[idx].shadow.is_some() {
            self.shadow_step(idx, &result, |g| g.on_fill(&fill));
        }
        self.handle_result(idx, result, depth);
    }

    pub(crate) fn slot_of(&self, id: &StrategyId) -> Option<usize> {
        self.strategies.iter().position(|s| &s.id == id)
    }
}
