//! Shadow runs: a second version of a strategy receives the same events as
//! the active one; its intents are recorded and compared, never sent.
//!
//! The shadow sees exactly what the active guest sees: the same event, the
//! same time, account, positions (the strategy's real ones) and indicator
//! values. It is not told about rejections (it sent nothing) and its timers
//! fire on its own schedule. A shadow fault stops the shadow only.

use wasmtrade_broker::Broker;
use wasmtrade_model::{GuestFault, RawIntent, StrategyGuest};

use crate::engine::Engine;
use crate::observe::EngineEvent;

/// What one guest callback returned.
pub(crate) type Outcome = Result<Vec<RawIntent>, GuestFault>;

impl<B: Broker> Engine<B> {
    /// Gives the shadow of strategy `idx` (if one runs) the event the active
    /// guest just handled, and compares what both returned.
    pub(crate) fn shadow_step(
        &mut self,
        idx: usize,
        active: &Outcome,
        call: impl FnOnce(&mut dyn StrategyGuest) -> Outcome,
    ) {
        let slot = &mut self.strategies[idx];
        let Some(shadow) = slot.shadow.as_mut().filter(|s| s.is_running()) else {
            return;
        };
        {
            let src = slot.guest.context();
            let (now, account, positions) = (src.now, src.account, src.positions.clone());
            let dst = shadow.guest.context();
            dst.now = now;
            dst.account = account;
            dst.positions = positions;
        }
        let result = call(shadow.guest.as_mut());
        shadow.stats.events += 1;
        let same = match (&result, active) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if same {
            shadow.stats.matching += 1;
        } else {
            shadow.stats.diverging += 1;
        }
        match result {
            Ok(intents) => shadow.stats.intents += intents.len() as u64,
            Err(fault) => {
                shadow.stop(&fault);
                let (strategy, tag) = (slot.id.clone(), shadow.tag);
                tracing::warn!(strategy = %strategy, version = tag, "shadow guest fault: {fault}");
                self.emit(|| EngineEvent::ShadowFault { strategy, tag, fault });
            }
        }
        self.drain_shadow_logs(idx);
    }

    /// Fires the shadow's due timers; their intents are counted, not compared.
    pub(crate) fn shadow_timers(&mut self, idx: usize) {
        let now = self.now;
        let Some(shadow) = self.strategies[idx].shadow.as_mut() else {
            return;
        };
        let due = shadow.guest.context().take_due_timers(now);
        for (name, ts) in due {
            if !shadow.is_running() {
                break;
            }
            match shadow.guest.on_timer(&name, ts) {
                Ok(intents) => shadow.stats.intents += intents.len() as u64,
                Err(fault) => shadow.stop(&fault),
            }
        }
        self.drain_shadow_logs(idx);
    }

    fn drain_shadow_logs(&mut self, idx: usize) {
        let slot = &mut self.strategies[idx];
        let Some(shadow) = slot.shadow.as_mut() else {
            return;
        };
        let ctx = shadow.guest.context();
        if ctx.logs.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut ctx.logs);
        let (strategy, tag) = (slot.id.clone(), shadow.tag);
        for line in lines {
            self.emit(|| EngineEvent::ShadowLog {
                strategy: strategy.clone(),
                tag,
                line,
            });
        }
    }
}
