//! The event bus: every event goes to every subscriber in order; guest log
//! lines are also kept per module for `Logs`.
//!
//! A subscriber that falls more than `buffer` events behind is told so by
//! its receiver (`RecvError::Lagged`) — the API turns that into an error for
//! the client instead of silently skipping events. The supervisor is not
//! such a client: what it acts on (faults, operator swaps) also goes to its
//! own unbounded feed, so an event storm cannot make it miss a fault. That
//! feed stays small: a fault stops the guest until the supervisor restarts it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use wasmtrade_model::Timestamp;

use crate::event::{Event, EventKind};

/// Fan-out of runtime events.
#[derive(Debug)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Event>>,
    seq: AtomicU64,
    bar_listeners: AtomicUsize,
    logs: Mutex<BTreeMap<String, VecDeque<Arc<Event>>>>,
    logs_kept: usize,
    supervisor_tx: mpsc::UnboundedSender<Arc<Event>>,
    /// The receiving end until the supervisor takes it; nothing is queued
    /// before that.
    supervisor_rx: Mutex<Option<mpsc::UnboundedReceiver<Arc<Event>>>>,
    supervised: std::sync::atomic::AtomicBool,
}

/// Keeps bars flowing onto the bus while it lives.
#[derive(Debug)]
pub struct BarInterest {
    bus: Arc<Bus>,
}

impl Drop for BarInterest {
    fn drop(&mut self) {
        self.bus.bar_listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Bus {
    /// A bus buffering `buffer` events per subscriber and keeping
    /// `logs_kept` log lines per module.
    pub fn new(buffer: usize, logs_kept: usize) -> Self {
        let (tx, _) = broadcast::channel(buffer.max(1));
        let (supervisor_tx, supervisor_rx) = mpsc::unbounded_channel();
        Self {
            tx,
            seq: AtomicU64::new(0),
            bar_listeners: AtomicUsize::new(0),
            logs: Mutex::new(BTreeMap::new()),
            logs_kept: logs_kept.max(1),
            supervisor_tx,
            supervisor_rx: Mutex::new(Some(supervisor_rx)),
            supervised: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The supervisor's lossless feed of the events it acts on
    /// ([`EventKind::concerns_supervisor`]); `None` once taken.
    pub(crate) fn supervisor_feed(&self) -> Option<mpsc::UnboundedReceiver<Arc<Event>>> {
        let rx = self.supervisor_rx.lock().ok()?.take()?;
        self.supervised.store(true, Ordering::Release);
        Some(rx)
    }

    /// Publishes an event (bars only while someone asked for them).
    pub fn publish(&self, ts: Timestamp, kind: EventKind) {
        if kind.is_bar() && self.bar_listeners.load(Ordering::Relaxed) == 0 {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let event = Arc::new(Event { seq, ts, kind });
        if let EventKind::Log { name, .. } = &event.kind
            && let Ok(mut logs) = self.logs.lock()
        {
            let ring = logs.entry(name.clone()).or_default();
            if ring.len() == self.logs_kept {
                ring.pop_front();
            }
            ring.push_back(event.clone());
        }
        if self.supervised.load(Ordering::Acquire) && event.kind.concerns_supervisor() {
            // A closed feed means the supervisor has ended with the runtime.
            let _ = self.supervisor_tx.send(event.clone());
        }
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }

    /// True while someone asked for bars (publishing one is wasted otherwise).
    pub fn wants_bars(&self) -> bool {
        self.bar_listeners.load(Ordering::Relaxed) > 0
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Asks for bars to be published until the returned guard drops.
    pub fn want_bars(self: &Arc<Self>) -> BarInterest {
        self.bar_listeners.fetch_add(1, Ordering::Relaxed);
        BarInterest { bus: self.clone() }
    }

    /// The last `tail` kept log lines of `name` (0 = all kept) and a
    /// receiver for the lines after them. Lines in both have increasing
    /// `seq`; drop received events with `seq <= ` the last returned one.
    pub fn logs(&self, name: &str, tail: usize) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let logs = self.logs.lock();
        // Subscribing under the lock: no line can fall between the two.
        let rx = self.tx.subscribe();
        let lines = match logs {
            Ok(logs) => logs
                .get(name)
                .map(|ring| {
                    let skip = if tail == 0 {
                        0
                    } else {
                        ring.len().saturating_sub(tail)
                    };
                    ring.iter().skip(skip).cloned().collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        (lines, rx)
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use wasmtrade_model::{LogLevel, LogLine};

    fn log(name: &str, n: u32) -> EventKind {
        EventKind::Log {
            name: name.into(),
            version: 1,
            shadow: false,
            line: LogLine {
                ts: Timestamp::EPOCH,
                level: LogLevel::Info,
                message: format!("line {n}"),
            },
        }
    }

    #[test]
    fn sequence_numbers_increase_and_every_subscriber_sees_every_event() {
        let bus = Bus::new(16, 4);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        for n in 0..5 {
            bus.publish(Timestamp::EPOCH, log("x", n));
        }
        for rx in [&mut a, &mut b] {
            let seqs: Vec<u64> = (0..5).map(|_| rx.try_recv().unwrap().seq).collect();
            assert_eq!(seqs, [1, 2, 3, 4, 5]);
        }
    }

    fn fault(name: &str, shadow: bool) -> EventKind {
        EventKind::Fault {
            name: name.into(),
            version: 1,
            kind: "trap",
            message: "boom".into(),
            shadow,
            strategy: true,
        }
    }

    #[test]
    fn a_fault_reaches_the_supervisor_even_when_a_log_storm_laps_the_bus() {
        let bus = Bus::new(4, 4);
        let mut slow = bus.subscribe();
        let mut feed = bus.supervisor_feed().unwrap();
        assert!(bus.supervisor_feed().is_none(), "the feed is taken once");
        for n in 0..100 {
            bus.publish(Timestamp::EPOCH, log("evil", n));
        }
        bus.publish(Timestamp::EPOCH, fault("evil", false));
        bus.publish(Timestamp::EPOCH, fault("evil", true));
        for n in 0..100 {
            bus.publish(Timestamp::EPOCH, log("evil", n));
        }
        // The broadcast subscriber lost the fault in the storm...
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        // ...the supervisor did not, and got nothing it does not act on.
        let got = feed.try_recv().unwrap();
        assert!(matches!(&got.kind, EventKind::Fault { shadow: false, .. }));
        assert!(feed.try_recv().is_err());
    }

    #[test]
    fn nothing_is_queued_for_a_supervisor_that_never_came() {
        let bus = Bus::new(4, 4);
        for _ in 0..10 {
            bus.publish(Timestamp::EPOCH, fault("evil", false));
        }
        let mut feed = bus.supervisor_feed().unwrap();
        assert!(feed.try_recv().is_err());
    }

    #[test]
    fn bars_are_published_only_while_someone_wants_them() {
        let bus = Arc::new(Bus::new(16, 4));
        let mut rx = bus.subscribe();
        let bar = || EventKind::Bar {
            bar: wasmtrade_model::Bar {
                instrument: wasmtrade_model::InstrumentId(0),
                ts: Timestamp::EPOCH,
                open: wasmtrade_model::Price::from_int(1),
                high: wasmtrade_model::Price::from_int(1),
                low: wasmtrade_model::Price::from_int(1),
                close: wasmtrade_model::Price::from_int(1),
                volume: wasmtrade_model::Quantity::from_int(1),
            },
            symbol: "X".into(),
        };
        bus.publish(Timestamp::EPOCH, bar());
        assert!(rx.try_recv().is_err());
        let guard = bus.want_bars();
        bus.publish(Timestamp::EPOCH, bar());
        assert!(rx.try_recv().unwrap().kind.is_bar());
        drop(guard);
        bus.publish(Timestamp::EPOCH, bar());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn logs_keep_the_last_lines_per_module_and_hand_over_to_the_live_receiver() {
        let bus = Bus::new(16, 3);
        for n in 0..5 {
            bus.publish(Timestamp::EPOCH, log("a", n));
        }
        bus.publish(Timestamp::EPOCH, log("b", 0));
        let (lines, mut rx) = bus.logs("a", 0);
        let seqs: Vec<u64> = lines.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        let (tail, _) = bus.logs("a", 2);
        assert_eq!(tail.len(), 2);
        bus.publish(Timestamp::EPOCH, log("a", 9));
        assert_eq!(rx.try_recv().unwrap().seq, 7);
    }

    #[test]
    fn a_slow_subscriber_learns_that_it_lagged() {
        let bus = Bus::new(2, 4);
        let mut rx = bus.subscribe();
        for n in 0..5 {
            bus.publish(Timestamp::EPOCH, log("a", n));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
    }
}
