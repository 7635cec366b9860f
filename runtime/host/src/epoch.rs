//! Wall-clock deadlines per callback: a ticker thread advancing the engine's
//! epoch, and the arithmetic turning `deadline_ms` into epoch ticks.
//!
//! wasmtime checks the epoch at function entries and loop back-edges of code
//! compiled with `epoch_interruption`; a store whose deadline (in ticks
//! beyond the epoch when it was set) has passed traps with
//! [`Trap::Interrupt`](wasmtime::Trap::Interrupt). With deadlines off the
//! checks are not even compiled in.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::HostError;

/// How a deadline maps onto epoch ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeadlineTicks {
    /// How often the ticker advances the epoch.
    pub(crate) tick: Duration,
    /// Ticks beyond the current epoch a callback may run. One more than
    /// `deadline / tick`, because the current tick may be nearly over when
    /// the deadline is set: a callback runs at least `deadline` and at most
    /// `deadline + tick`.
    pub(crate) ticks: u64,
}

impl DeadlineTicks {
    /// A tick of a tenth of the deadline, between 1 and 100 ms.
    pub(crate) fn for_deadline(deadline_ms: u64) -> Self {
        let tick_ms = (deadline_ms / 10).clamp(1, 100);
        Self {
            tick: Duration::from_millis(tick_ms),
            ticks: deadline_ms.div_ceil(tick_ms) + 1,
        }
    }
}

/// Stop flag shared by the ticker and its owner.
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// A thread calling `tick` every period until dropped. Drop stops and joins
/// it, so no thread outlives the engine that owns the ticker.
pub(crate) struct EpochTicker {
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochTicker").finish_non_exhaustive()
    }
}

impl EpochTicker {
    /// Starts the thread.
    pub(crate) fn start(
        period: Duration,
        mut tick: impl FnMut() + Send + 'static,
    ) -> Result<Self, HostError> {
        let stop = Arc::new(StopSignal {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasmtrade-epoch".into())
            .spawn(move || {
                let mut stopped = match signal.stopped.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                while !*stopped {
                    stopped = match signal.wake.wait_timeout(stopped, period) {
                        Ok((g, _)) => g,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                    if !*stopped {
                        tick();
                    }
                }
            })
            .map_err(|e| HostError::Engine {
                reason: format!("cannot start the epoch ticker thread: {e}"),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        match self.stop.stopped.lock() {
            Ok(mut g) => *g = true,
            Err(poisoned) => *poisoned.into_inner() = true,
        }
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread only waits and ticks; a panic there is already reported.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn deadline_maps_to_at_least_the_deadline() {
        let d = DeadlineTicks::for_deadline(50);
        assert_eq!((d.tick, d.ticks), (Duration::from_millis(5), 11));
        let d = DeadlineTicks::for_deadline(2);
        assert_eq!((d.tick, d.ticks), (Duration::from_millis(1), 3));
        let d = DeadlineTicks::for_deadline(7);
        assert_eq!((d.tick, d.ticks), (Duration::from_millis(1), 8));
        let d = DeadlineTicks::for_deadline(60_000);
        assert_eq!((d.tick, d.ticks), (Duration::from_millis(100), 601));
        for ms in 1..2000 {
            let d = DeadlineTicks::for_deadline(ms);
            let min = d.tick * u32::try_from(d.ticks - 1).unwrap();
            assert!(min >= Duration::from_millis(ms), "{ms}: {d:?}");
            assert!(min <= Duration::from_millis(ms) + d.tick, "{ms}: {d:?}");
        }
    }

    #[test]
    fn ticker_ticks_until_dropped_and_joins() {
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = EpochTicker::start(Duration::from_millis(1), move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        while ticks.load(Ordering::Relaxed) < 3 {
            std::thread::yield_now();
        }
        drop(ticker);
        // Dropping joined the thread: the count never moves again.
        let after = ticks.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(ticks.load(Ordering::Relaxed), after);
        assert_eq!(Arc::strong_count(&ticks), 1, "the thread's closure was dropped");
    }
}
