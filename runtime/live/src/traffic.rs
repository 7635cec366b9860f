//! What passes between the runtime and its broker (requests out, reports
//! in; the broker wrapper in `gate.rs` counts them) and how long the
//! write-ahead journal makes an intent wait: the figures behind the broker
//! message-rate and journal-lag metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use wasmtrade_broker::BrokerError;
use wasmtrade_engine::Durations;
use wasmtrade_model::BrokerEvent;

/// Requests the runtime sends, in [`Traffic::requests`] order.
pub const REQUESTS: [&str; 3] = ["submit", "cancel", "amend"];
/// Reports the broker sends, in [`Traffic::events`] order.
pub const EVENTS: [&str; 6] = [
    "accepted",
    "filled",
    "cancelled",
    "expired",
    "rejected",
    "cancel_rejected",
];

/// Counters shared by the broker wrapper, the journal and the metrics.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Requests handed to the broker, by [`REQUESTS`] index (refused ones included).
    requests: [AtomicU64; REQUESTS.len()],
    /// Requests the broker (or the order gate before it) refused.
    refused: AtomicU64,
    /// Reports received, by [`EVENTS`] index.
    events: [AtomicU64; EVENTS.len()],
    /// How long each journal commit (flush + fdatasync) took: the time an
    /// intent waits for durability before the broker sees it.
    commits: Mutex<Durations>,
}

/// A copy of [`Traffic`] for the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficFigures {
    /// `(request, count)` for each of [`REQUESTS`].
    pub requests: Vec<(&'static str, u64)>,
    /// Requests refused by the gate or the broker.
    pub refused: u64,
    /// `(report, count)` for each of [`EVENTS`].
    pub events: Vec<(&'static str, u64)>,
    /// Journal commit durations.
    pub journal_commits: Durations,
}

impl Traffic {
    /// Records one journal commit that took `elapsed`.
    pub(crate) fn journal_commit(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.commits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(ns);
    }

    /// The counters now.
    pub fn figures(&self) -> TrafficFigures {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TrafficFigures {
            requests: REQUESTS
                .iter()
                .copied()
                .zip(self.requests.iter().map(load))
                .collect(),
            refused: load(&self.refused),
            events: EVENTS.iter().copied().zip(self.events.iter().map(load)).collect(),
            journal_commits: *self.commits.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Counts one request ([`REQUESTS`] index) and whether it was refused.
    pub(crate) fn request(&self, index: usize, result: &Result<(), BrokerError>) {
        self.requests[index].fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one report of the broker.
    pub(crate) fn event(&self, event: &BrokerEvent) {
        let index = match event {
            BrokerEvent::Accepted { .. } => 0,
            BrokerEvent::Filled(_) => 1,
            BrokerEvent::Cancelled { .. } => 2,
            BrokerEvent::Expired { .. } => 3,
            BrokerEvent::Rejected { .. } => 4,
            BrokerEvent::CancelRejected { .. } => 5,
        };
        self.events[index].fetch_add(1, Ordering::Relaxed);
    }
}
