//! Where the engine's time comes from.
//!
//! The engine never reads the wall clock itself: a backtest runs on a
//! [`SimulatedClock`] advanced by the data, a live runtime on a
//! [`WallClock`]. Both sit behind [`Clock`], so the event loop is the same.

use std::cell::Cell;

use wasmtrade_model::Timestamp;

/// A source of the current time.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Time that only moves when the data says so (backtests, replays).
#[derive(Debug, Default)]
pub struct SimulatedClock {
    now: Cell<Timestamp>,
}

impl SimulatedClock {
    /// A clock at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Cell::new(start),
        }
    }
    /// Moves the clock to `ts`; time never goes backwards.
    pub fn advance_to(&self, ts: Timestamp) {
        if ts > self.now.get() {
            self.now.set(ts);
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Timestamp {
        self.now.get()
    }
}

/// The operating system's real-time clock (live trading).
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_never_goes_backwards() {
        let c = SimulatedClock::new(Timestamp::from_secs(10));
        c.advance_to(Timestamp::from_secs(5));
        assert_eq!(c.now(), Timestamp::from_secs(10));
        c.advance_to(Timestamp::from_secs(20));
        assert_eq!(c.now(), Timestamp::from_secs(20));
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(WallClock.now() > Timestamp::from_secs(1_577_836_800));
    }
}
