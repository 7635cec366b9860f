//! Wall-clock readings of the live runtime: pacing the paper market and
//! measuring swap pauses. The engine itself never reads the wall clock.

use std::time::{Duration, Instant};

/// Measures elapsed wall time.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts now.
    #[allow(clippy::disallowed_methods, reason = "the live runtime measures real time")]
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// Nanoseconds since start (saturating).
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Nanoseconds since the Unix epoch, now.
#[allow(clippy::disallowed_methods, reason = "the live runtime stamps real time")]
pub fn unix_now() -> wasmtrade_model::Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    wasmtrade_model::Timestamp::from_nanos(nanos)
}
