//! Budgets per market event: how much guest work one bar, tick or clock
//! step may cause for one strategy, summed over every callback it triggers
//! (the strategy's own callback, its fills, timers, and every chain of
//! rejections and the intents sent in reply). A per-callback budget (fuel,
//! deadline, intents per callback) bounds one call; only this bounds the
//! width of a chain: ten rejections answered with ten intents each, eight
//! levels deep, are 10^8 callbacks. A strategy over its budget is faulted
//! with [`GuestFault::EventBudget`], which quarantines it (live) or stops
//! the run (backtests), and the loop moves on.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtrade_broker::Broker;
use wasmtrade_model::GuestFault;

use crate::engine::Engine;
use crate::error::EngineError;

/// Limits on the work one market event may cause for one strategy. Every
/// count is summed over all the callbacks the event causes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventBudget {
    /// Callbacks (bar, tick, fill, timer, reject). Default 10 000.
    pub max_callbacks: u32,
    /// Intents returned. Default 20 000.
    pub max_intents: u32,
    /// Rejections of the strategy's intents or orders. Default 10 000.
    pub max_rejects: u32,
    /// Wall time the strategy's callbacks may hold the loop, in
    /// milliseconds; `None` (the default, and what a deterministic backtest
    /// wants) turns it off. Enforced inside a callback by a wasm guest's
    /// epoch deadline when `deadline_ms` is set in the sandbox, and between
    /// callbacks by the engine.
    pub max_time_ms: Option<u64>,
}

impl Default for EventBudget {
    fn default() -> Self {
        Self {
            max_callbacks: 10_000,
            max_intents: 20_000,
            max_rejects: 10_000,
            max_time_ms: None,
        }
    }
}

impl EventBudget {
    /// Checks the values, naming the first invalid field.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |field: &str| EngineError::Config {
            what: "event budget",
            reason: format!("`{field}` must be positive"),
        };
        if self.max_callbacks == 0 {
            return Err(bad("max_callbacks"));
        }
        if self.max_intents == 0 {
            return Err(bad("max_intents"));
        }
        if self.max_rejects == 0 {
            return Err(bad("max_rejects"));
        }
        if self.max_time_ms == Some(0) {
            return Err(EngineError::Config {
                what: "event budget",
                reason: "`max_time_ms` must be positive; omit it to turn the time budget off".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn max_time_ns(&self) -> Option<u64> {
        self.max_time_ms.map(|ms| ms.saturating_mul(1_000_000))
    }
}

/// The work a strategy did in the current event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventWork {
    pub(crate) callbacks: u32,
    pub(crate) intents: u32,
    pub(crate) rejects: u32,
    pub(crate) time_ns: u64,
}

impl EventWork {
    /// Which budget the work exceeds, if any, said in words.
    fn over(&self, budget: &EventBudget) -> Option<String> {
        if self.callbacks > budget.max_callbacks {
            return Some(format!(
                "{} callbacks in one event (max_callbacks {})",
                self.callbacks, budget.max_callbacks
            ));
        }
        if self.intents > budget.max_intents {
            return Some(format!(
                "{} intents in one event (max_intents {})",
                self.intents, budget.max_intents
            ));
        }
        if self.rejects > budget.max_rejects {
            return Some(format!(
                "{} rejections in one event (max_rejects {})",
                self.rejects, budget.max_rejects
            ));
        }
        if let Some(max) = budget.max_time_ns()
            && self.time_ns > max
        {
            return Some(format!(
                "its callbacks held the event loop {} ms in one event (max_time_ms {})",
                self.time_ns / 1_000_000,
                max / 1_000_000
            ));
        }
        None
    }
}

impl<B: Broker> Engine<B> {
    /// A new event starts: every strategy's work counts from zero.
    #[inline]
    pub(crate) fn begin_event(&mut self) {
        for slot in &mut self.strategies {
            slot.event = EventWork::default();
        }
    }

    /// Adds `intents` and `rejects` to strategy `idx`'s work in this event
    /// (its callbacks and their time are counted by the slot) and faults it
    /// if that exceeds its budget. Returns false when the strategy is (now)
    /// stopped and must not be called again.
    #[inline]
    pub(crate) fn charge(&mut self, idx: usize, intents: usize, rejects: u32) -> bool {
        let slot = &mut self.strategies[idx];
        let work = &mut slot.event;
        work.intents = work
            .intents
            .saturating_add(u32::try_from(intents).unwrap_or(u32::MAX));
        work.rejects = work.rejects.saturating_add(rejects);
        let Some(what) = work.over(&self.config.budget) else {
            return slot.is_active();
        };
        if !slot.is_active() {
            return false;
        }
        self.on_fault(idx, GuestFault::EventBudget { what });
        false
    }

    /// Wall time the strategy may still use in this event (set on the
    /// guest before each callback), when the time budget is on.
    #[inline]
    pub(crate) fn time_left(&self, idx: usize) -> Option<Duration> {
        let max = self.config.budget.max_time_ns()?;
        let used = self.strategies[idx].event.time_ns;
        Some(Duration::from_nanos(max.saturating_sub(used).max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_over_a_budget_names_the_budget_and_the_numbers() {
        let budget = EventBudget {
            max_time_ms: Some(5),
            ..EventBudget::default()
        };
        let mut work = EventWork::default();
        assert_eq!(work.over(&budget), None);
        work.rejects = 10_001;
        let what = work.over(&budget).unwrap_or_default();
        assert!(
            what.contains("10001 rejections") && what.contains("max_rejects 10000"),
            "{what}"
        );
        let work = EventWork {
            time_ns: 6_000_000,
            ..EventWork::default()
        };
        let what = work.over(&budget).unwrap_or_default();
        assert!(what.contains("6 ms") && what.contains("max_time_ms 5"), "{what}");
    }

    #[test]
    fn zero_limits_are_refused_by_name() {
        for (budget, field) in [
            (
                EventBudget {
                    max_callbacks: 0,
                    ..EventBudget::default()
                },
                "max_callbacks",
            ),
            (
                EventBudget {
                    max_time_ms: Some(0),
                    ..EventBudget::default()
                },
                "max_time_ms",
            ),
        ] {
            let err = budget
                .validate()
                .map(|()| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(err.contains(field), "{err}");
        }
        assert!(EventBudget::default().validate().is_ok());
    }
}
