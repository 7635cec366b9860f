//! Liveness and readiness: what `/healthz` and `/readyz` answer, as a small
//! state machine fed by `serve` (start-up, drain) and by the watchdog that
//! pings the event loop.
//!
//! ```text
//!   Starting ──attach──► Running ──drain──► Draining
//!   (not ready)          (ready while the     (not ready; alive)
//!                         runtime says so and
//!                         the loop answers)
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The instant now: probes and the watchdog measure real time.
#[allow(
    clippy::disallowed_methods,
    reason = "probes and the watchdog measure real time"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Seconds since the Unix epoch, now (the process start time).
#[allow(clippy::disallowed_methods, reason = "the start time is wall-clock time")]
pub(crate) fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Where the process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The ops server answers; the runtime is still starting (store,
    /// guests restored from their snapshots).
    Starting,
    /// The runtime runs.
    Running,
    /// SIGTERM came: readiness is off, the runtime is stopping.
    Draining,
}

/// What the watchdog knows about the event loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopState {
    /// It answered at this instant.
    Answered(Instant),
    /// It has stopped (its thread ended) although nobody asked it to.
    Dead,
}

/// An answer of `/healthz` or `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// 200 when true, 503 when false.
    pub ok: bool,
    /// Why not (or what is going on), for people.
    pub reason: Option<String>,
}

impl Verdict {
    fn ok() -> Self {
        Self {
            ok: true,
            reason: None,
        }
    }

    fn fail(reason: impl Into<String>) -> Self {
        Self {
            ok: false,
            reason: Some(reason.into()),
        }
    }
}

/// The shared health state.
#[derive(Debug)]
pub struct Health {
    state: Mutex<(Phase, LoopState)>,
    stall_after: Duration,
}

impl Health {
    /// Starting; the event loop counts as stalled after `stall_after`
    /// without an answer.
    pub fn new(stall_after: Duration) -> Self {
        Self {
            state: Mutex::new((Phase::Starting, LoopState::Answered(now()))),
            stall_after,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut (Phase, LoopState)) -> T) -> T {
        // A poisoned lock only means a panic elsewhere; the data is two enums.
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.with(|s| s.0)
    }

    /// The runtime started (no effect once draining).
    pub fn set_running(&self) {
        self.with(|s| {
            if s.0 == Phase::Starting {
                s.0 = Phase::Running;
                s.1 = LoopState::Answered(now());
            }
        });
    }

    /// Shutdown began: readiness goes off for good.
    pub fn set_draining(&self) {
        self.with(|s| s.0 = Phase::Draining);
    }

    /// The event loop answered a ping.
    pub fn loop_answered(&self, at: Instant) {
        self.with(|s| {
            if s.1 != LoopState::Dead {
                s.1 = LoopState::Answered(at);
            }
        });
    }

    /// The event loop is gone. Ignored while draining (it was asked to stop).
    pub fn loop_stopped(&self) {
        self.with(|s| {
            if s.0 != Phase::Draining {
                s.1 = LoopState::Dead;
            }
        });
    }

    /// True while the event loop is neither dead nor stalled (`wasmtrade_up`).
    pub fn is_alive(&self, now: Instant) -> bool {
        self.liveness(now).ok
    }

    /// `/healthz`: the process and its event loop are alive.
    pub fn liveness(&self, now: Instant) -> Verdict {
        let (phase, state) = self.with(|s| *s);
        liveness(phase, state, now, self.stall_after)
    }

    /// `/readyz`: ready to take work (`runtime_ready`: the runtime's own flag).
    pub fn readiness(&self, runtime_ready: bool, now: Instant) -> Verdict {
        let (phase, state) = self.with(|s| *s);
        match phase {
            Phase::Starting => Verdict::fail("starting: the runtime is restoring its guests"),
            Phase::Draining => Verdict::fail("shutting down"),
            Phase::Running => {
                let live = liveness(phase, state, now, self.stall_after);
                if !live.ok {
                    live
                } else if !runtime_ready {
                    Verdict::fail("the runtime is not ready")
                } else {
                    Verdict::ok()
                }
            }
        }
    }
}

fn liveness(phase: Phase, state: LoopState, now: Instant, stall_after: Duration) -> Verdict {
    match (phase, state) {
        // Start-up and shutdown have their own deadlines (start-up probe,
        // shutdown grace): stay alive through them.
        (Phase::Starting | Phase::Draining, _) => Verdict::ok(),
        (Phase::Running, LoopState::Dead) => Verdict::fail("the event loop has stopped"),
        (Phase::Running, LoopState::Answered(at)) => {
            let silent = now.saturating_duration_since(at);
            if silent > stall_after {
                Verdict::fail(format!(
                    "the event loop has not answered for {}s",
                    silent.as_secs()
                ))
            } else {
                Verdict::ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods, reason = "tests measure real time")]

    use super::*;

    const STALL: Duration = Duration::from_secs(30);

    #[test]
    fn starting_is_alive_but_not_ready() {
        let h = Health::new(STALL);
        let now = Instant::now();
        assert!(h.liveness(now).ok);
        let r = h.readiness(true, now);
        assert!(!r.ok);
        assert!(r.reason.unwrap_or_default().starts_with("starting"));
    }

    #[test]
    fn running_is_ready_only_while_the_runtime_says_so() {
        let h = Health::new(STALL);
        h.set_running();
        let now = Instant::now();
        assert_eq!(h.readiness(true, now), Verdict::ok());
        assert!(!h.readiness(false, now).ok);
    }

    #[test]
    fn draining_turns_readiness_off_for_good_and_stays_alive() {
        let h = Health::new(STALL);
        h.set_running();
        h.set_draining();
        h.set_running();
        h.loop_stopped();
        let now = Instant::now();
        assert_eq!(h.phase(), Phase::Draining);
        let r = h.readiness(true, now);
        assert_eq!(r.reason.as_deref(), Some("shutting down"));
        assert!(
            h.liveness(now).ok,
            "a loop stopped by the shutdown is not a failure"
        );
    }

    #[test]
    fn a_dead_event_loop_fails_liveness_and_readiness() {
        let h = Health::new(STALL);
        h.set_running();
        h.loop_stopped();
        h.loop_answered(Instant::now());
        let now = Instant::now();
        let l = h.liveness(now);
        assert!(!l.ok);
        assert_eq!(l.reason.as_deref(), Some("the event loop has stopped"));
        assert!(!h.readiness(true, now).ok);
        assert!(!h.is_alive(now));
    }

    #[test]
    fn a_silent_event_loop_counts_as_stalled_after_the_threshold() {
        let h = Health::new(STALL);
        h.set_running();
        let t0 = Instant::now();
        h.loop_answered(t0);
        assert!(h.liveness(t0 + STALL).ok);
        let late = h.liveness(t0 + STALL + Duration::from_secs(1));
        assert!(!late.ok);
        assert!(late.reason.unwrap_or_default().contains("31s"));
        h.loop_answered(t0 + STALL + Duration::from_secs(2));
        assert!(h.liveness(t0 + STALL + Duration::from_secs(2)).ok);
    }
}
