//! What happens to a guest after a fault: the quarantine policy and the
//! deterministic restart-or-stop decision.
//!
//! A trap, a budget overrun or a limit hit quarantines a guest: the engine
//! cancels its open orders, holds or flattens its positions
//! ([`PositionAction`]), journals the fault and asks its [`FaultTracker`]
//! what next. The tracker answers [`Decision::Restart`] after an exponential
//! backoff (re-instantiate from the last snapshot) or, once `max_faults`
//! faults fall inside `window_ms`, [`Decision::StopForGood`]: the guest stays
//! stopped until an operator acts ([`FaultTracker::reset`]). This is the
//! trap-storm circuit breaker (reliability.md WG11).
//!
//! The logic is pure: time comes in as an argument, so the same faults at
//! the same times give the same decisions in a backtest and in a replay.
//! (Nothing here depends on wasmtime; it may move to `wasmtrade-model` when
//! the engine wires it in.)
//!
//! ```
//! use std::time::Duration;
//! use wasmtrade_host::{Decision, FaultTracker, QuarantinePolicy};
//! use wasmtrade_model::Timestamp;
//!
//! let policy: QuarantinePolicy = serde_json::from_str(
//!     r#"{"positions": "flatten", "restart": {"initial_backoff_ms": 100, "max_faults": 2}}"#,
//! )?;
//! policy.validate()?;
//! let mut faults = FaultTracker::new(&policy);
//! let t = Timestamp::from_secs(1_000);
//! assert_eq!(faults.on_fault(t), Decision::Restart { after: Duration::from_millis(100) });
//! assert_eq!(faults.on_fault(t), Decision::StopForGood);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::HostError;

/// What the engine does with a quarantined guest's positions (its open
/// orders are always cancelled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionAction {
    /// Keep the positions as they are (risk limits still apply); the default:
    /// a fault is not a reason to trade.
    #[default]
    Hold,
    /// Close every position at the market.
    Flatten,
}

/// Restart-with-backoff and the circuit breaker that ends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartPolicy {
    /// Wait before the first restart, in ms. Default 1 000.
    pub initial_backoff_ms: u64,
    /// Longest wait between restarts, in ms. Default 300 000 (5 min).
    pub max_backoff_ms: u64,
    /// Each further fault in the window multiplies the wait by this (≥ 1).
    /// Default 2.
    pub backoff_factor: f64,
    /// Faults within `window_ms` that stop the guest for good (the fault
    /// reaching it stops; 1 means never restart). Default 3.
    pub max_faults: u32,
    /// The window faults are counted in, in ms; older faults are forgotten,
    /// which also resets the backoff. Default 3 600 000 (1 h).
    pub window_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            backoff_factor: 2.0,
            max_faults: 3,
            window_ms: 3_600_000,
        }
    }
}

/// How the engine treats a guest that faulted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuarantinePolicy {
    /// Hold or flatten the guest's positions. Default hold.
    pub positions: PositionAction,
    /// Restart with backoff; `None` stops the guest for good on its first
    /// fault (in TOML, where there is no null, write `max_faults = 1`).
    /// Default: the [`RestartPolicy`] defaults.
    pub restart: Option<RestartPolicy>,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self {
            positions: PositionAction::Hold,
            restart: Some(RestartPolicy::default()),
        }
    }
}

impl QuarantinePolicy {
    /// Checks the values, naming the first invalid field.
    pub fn validate(&self) -> Result<(), HostError> {
        fn bad(field: &'static str, reason: &str) -> Result<(), HostError> {
            Err(HostError::Config {
                field,
                reason: reason.to_string(),
            })
        }
        let Some(r) = &self.restart else {
            return Ok(());
        };
        if r.max_backoff_ms < r.initial_backoff_ms {
            return bad(
                "restart.max_backoff_ms",
                "must be at least `restart.initial_backoff_ms`",
            );
        }
        if !(r.backoff_factor.is_finite() && r.backoff_factor >= 1.0) {
            return bad("restart.backoff_factor", "must be a finite number of at least 1");
        }
        if r.max_faults == 0 {
            return bad(
                "restart.max_faults",
                "must be at least 1 (1 stops the guest on its first fault)",
            );
        }
        if r.window_ms == 0 {
            return bad("restart.window_ms", "must be positive");
        }
        Ok(())
    }
}

/// What to do with a guest after a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Re-instantiate it from its last snapshot once `after` has passed.
    Restart {
        /// The backoff.
        after: Duration,
    },
    /// Stop it until an operator acts.
    StopForGood,
}

/// One guest's fault history under a [`QuarantinePolicy`]; decides restart
/// or stop. Keeps at most `max_faults` timestamps.
#[derive(Clone, Debug)]
pub struct FaultTracker {
    restart: Option<RestartPolicy>,
    /// Faults inside the window, oldest first.
    recent: VecDeque<Timestamp>,
    stopped: bool,
}

impl FaultTracker {
    /// A tracker with no faults yet. The policy should have passed
    /// [`QuarantinePolicy::validate`]; an invalid one is applied as well as it
    /// can be (`max_faults` 0 acts as 1, a factor below 1 as 1).
    pub fn new(policy: &QuarantinePolicy) -> Self {
        Self {
            restart: policy.restart.clone(),
            recent: VecDeque::new(),
            stopped: false,
        }
    }

    /// Records a fault at `now` and decides. Once stopped, always
    /// [`Decision::StopForGood`] until [`reset`](Self::reset).
    pub fn on_fault(&mut self, now: Timestamp) -> Decision {
        let Some(policy) = &self.restart else {
            self.stopped = true;
            return Decision::StopForGood;
        };
        if self.stopped {
            return Decision::StopForGood;
        }
        let window = i128::from(policy.window_ms) * 1_000_000;
        while let Some(oldest) = self.recent.front() {
            if i128::from(now.nanos()) - i128::from(oldest.nanos()) >= window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        let faults = self.recent.len();
        if faults >= policy.max_faults.max(1) as usize {
            self.stopped = true;
            self.recent.clear();
            return Decision::StopForGood;
        }
        Decision::Restart {
            after: backoff(policy, faults),
        }
    }

    /// Faults counted in the current window (as of the last fault).
    pub fn recent_faults(&self) -> usize {
        self.recent.len()
    }

    /// Whether the guest is stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// An operator re-enabled the guest: forget its faults.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.stopped = false;
    }
}

/// `initial × factor^(faults-1)`, capped at the maximum; multiplied step by
/// step (each IEEE product is exact-rounded, so every platform agrees).
fn backoff(policy: &RestartPolicy, faults: usize) -> Duration {
    let max = policy.max_backoff_ms as f64;
    let factor = policy.backoff_factor.max(1.0);
    let mut ms = (policy.initial_backoff_ms as f64).min(max);
    for _ in 1..faults {
        if ms >= max {
            break;
        }
        ms = (ms * factor).min(max);
    }
    // In [0, max_backoff_ms]: the cast is exact for whole numbers and
    // truncates fractions of a millisecond.
    Duration::from_millis(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_faults: u32) -> QuarantinePolicy {
        QuarantinePolicy {
            positions: PositionAction::Hold,
            restart: Some(RestartPolicy {
                initial_backoff_ms: 100,
                max_backoff_ms: 1_000,
                backoff_factor: 3.0,
                max_faults,
                window_ms: 60_000,
            }),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    fn restart(ms: u64) -> Decision {
        Decision::Restart {
            after: Duration::from_millis(ms),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let mut t = FaultTracker::new(&policy(10));
        let got: Vec<Decision> = (0..6).map(|i| t.on_fault(at(i))).collect();
        assert_eq!(
            got,
            [
                restart(100),
                restart(300),
                restart(900),
                restart(1_000),
                restart(1_000),
                restart(1_000)
            ]
        );
        assert_eq!(t.recent_faults(), 6);
    }

    #[test]
    fn stops_for_good_at_max_faults_in_the_window_and_stays_stopped() {
        let mut t = FaultTracker::new(&policy(3));
        assert_eq!(t.on_fault(at(0)), restart(100));
        assert_eq!(t.on_fault(at(10)), restart(300));
        assert_eq!(t.on_fault(at(20)), Decision::StopForGood);
        assert!(t.is_stopped());
        // Even much later: only an operator brings it back.
        assert_eq!(t.on_fault(at(100_000)), Decision::StopForGood);
        t.reset();
        assert!(!t.is_stopped());
        assert_eq!(t.on_fault(at(100_001)), restart(100));
    }

    #[test]
    fn faults_older_than_the_window_are_forgotten_and_reset_the_backoff() {
        let mut t = FaultTracker::new(&policy(3));
        assert_eq!(t.on_fault(at(0)), restart(100));
        assert_eq!(t.on_fault(at(30)), restart(300));
        // 60 s after the first: it leaves the window (the window is half-open).
        assert_eq!(t.on_fault(at(60)), restart(300));
        assert_eq!(t.recent_faults(), 2);
        // Long after all of them: a fresh start.
        assert_eq!(t.on_fault(at(1_000)), restart(100));
        assert_eq!(t.on_fault(at(1_001)), restart(300));
        assert_eq!(t.on_fault(at(1_002)), Decision::StopForGood);
    }

    #[test]
    fn no_restart_policy_or_one_fault_stops_at_once() {
        let never = QuarantinePolicy {
            restart: None,
            ..QuarantinePolicy::default()
        };
        assert_eq!(FaultTracker::new(&never).on_fault(at(0)), Decision::StopForGood);
        assert_eq!(
            FaultTracker::new(&policy(1)).on_fault(at(0)),
            Decision::StopForGood
        );
    }

    #[test]
    fn same_faults_same_decisions() {
        let times = [0, 1, 2, 70, 71, 200, 201, 202];
        let run = || {
            let mut t = FaultTracker::new(&policy(3));
            times.iter().map(|s| t.on_fault(at(*s))).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn clock_going_backwards_keeps_the_fault_in_the_window() {
        let mut t = FaultTracker::new(&policy(3));
        t.on_fault(at(100));
        assert_eq!(t.on_fault(at(50)), restart(300));
        assert_eq!(t.on_fault(at(-1_000_000)), Decision::StopForGood);
    }

    #[test]
    fn validates_and_deserialises_partial_tables() {
        QuarantinePolicy::default().validate().unwrap();
        let p: QuarantinePolicy =
            serde_json::from_str(r#"{"positions": "flatten", "restart": {"max_faults": 5}}"#).unwrap();
        assert_eq!(p.positions, PositionAction::Flatten);
        assert_eq!(p.restart.as_ref().unwrap().max_faults, 5);
        assert_eq!(p.restart.as_ref().unwrap().initial_backoff_ms, 1_000);
        let off: QuarantinePolicy = serde_json::from_str(r#"{"restart": null}"#).unwrap();
        assert_eq!(off.restart, None);
        assert!(serde_json::from_str::<QuarantinePolicy>(r#"{"restart": {"tries": 1}}"#).is_err());
        for (json, field) in [
            (
                r#"{"restart": {"initial_backoff_ms": 10, "max_backoff_ms": 5}}"#,
                "max_backoff_ms",
            ),
            (r#"{"restart": {"backoff_factor": 0.5}}"#, "backoff_factor"),
            (r#"{"restart": {"max_faults": 0}}"#, "max_faults"),
            (r#"{"restart": {"window_ms": 0}}"#, "window_ms"),
        ] {
            let p: QuarantinePolicy = serde_json::from_str(json).unwrap();
            let err = p.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
    }
}
