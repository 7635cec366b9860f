//! Kill switches that take effect inside an event.
//!
//! An operator's kill switch must not wait for the event loop to finish
//! the event in flight: a guest may spin until its budget runs out, and
//! several may do so in one event. A [`KillSignal`] is raised from another
//! thread (the API) and the engine looks at it — one relaxed atomic load —
//! before every order it submits and before every strategy callback. So
//! once raised, no new order that the switch blocks reaches the broker, and
//! working orders are cancelled at the latest after the callback running
//! at that moment returns.
//!
//! The engine applies a raised request exactly like
//! [`Engine::engage_kill_switch`]: the risk latch is engaged (only
//! risk-reducing orders pass) and, per the risk configuration's kill
//! policy, working orders in scope are cancelled and positions flattened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use wasmtrade_broker::Broker;
use wasmtrade_model::StrategyId;
use wasmtrade_risk::{ChangeRecord, KillScope};

use crate::engine::Engine;

/// A kill switch request: the scope, who asked and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillRequest {
    /// Where it applies.
    pub scope: KillScope,
    /// Person or component.
    pub who: String,
    /// Why, in words.
    pub reason: String,
}

/// Kill switch requests raised from outside the event loop (see the module
/// docs). Share it with `Arc`.
#[derive(Debug, Default)]
pub struct KillSignal {
    raised: AtomicBool,
    requests: Mutex<Vec<KillRequest>>,
}

impl KillSignal {
    /// A signal with nothing raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises a request; the engine applies it before its next order or
    /// strategy callback.
    pub fn raise(&self, request: KillRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        self.raised.store(true, Ordering::Release);
    }

    /// Whether a request waits to be applied.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    fn take(&self) -> Vec<KillRequest> {
        if !self.raised.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl<B: Broker> Engine<B> {
    /// Lets `signal` engage kill switches inside events (see the module docs).
    /// Until then the engine holds a signal of its own, which nothing raises.
    pub fn set_kill_signal(&mut self, signal: std::sync::Arc<KillSignal>) {
        self.kill_signal = signal;
    }

    /// Applies the requests raised on the kill signal, if any (their change
    /// records wait in `take_kill_records`).
    #[inline]
    pub(crate) fn poll_kill_signal(&mut self) {
        if !self.kill_signal.is_raised() {
            return;
        }
        for request in self.kill_signal.take() {
            let record = self.engage_kill_switch(&request.scope, &request.who, &request.reason);
            self.kill_records.push(record);
        }
    }

    /// Kill switch changes applied from the signal since the last call, to
    /// journal.
    pub fn take_kill_records(&mut self) -> Vec<ChangeRecord> {
        std::mem::take(&mut self.kill_records)
    }

    /// Engages the kill switch of `scope` and applies the configured kill
    /// policy: cancels the working orders in scope and, with `flatten`,
    /// closes the positions in scope at the market (such orders reduce risk,
    /// so the engaged switch lets them pass). Engaging an engaged switch
    /// updates who/why and applies the policy again.
    pub fn engage_kill_switch(&mut self, scope: &KillScope, who: &str, reason: &str) -> ChangeRecord {
        let now = self.now;
        let record = self.risk.engage_kill_switch(scope, who, reason, now);
        let policy = self.risk.config().kill_policy();
        let in_scope: Vec<StrategyId> = match scope {
            KillScope::Global | KillScope::Account => self.strategies.iter().map(|s| s.id.clone()).collect(),
            KillScope::Strategy(id) => vec![id.clone()],
        };
        let (mut cancelled, mut flattened) = (0, 0);
        for id in &in_scope {
            if policy.cancel_working {
                cancelled += self.cancel_working_orders(id);
            }
            if policy.flatten {
                flattened += self.flatten(id);
            }
        }
        tracing::warn!(scope = %scope.describe(), who, reason, cancelled, flattened, "kill switch engaged");
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_is_taken_once_in_order() {
        let signal = KillSignal::new();
        assert!(!signal.is_raised());
        assert!(signal.take().is_empty());
        let req = |who: &str| KillRequest {
            scope: KillScope::Global,
            who: who.into(),
            reason: "drill".into(),
        };
        signal.raise(req("a"));
        signal.raise(req("b"));
        assert!(signal.is_raised());
        let taken = signal.take();
        assert_eq!(taken, vec![req("a"), req("b")]);
        assert!(!signal.is_raised());
        assert!(signal.take().is_empty());
    }
}
