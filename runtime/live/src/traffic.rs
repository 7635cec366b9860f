//! What passes between the runtime and its broker (requests out, reports
//! in) and how long the write-ahead journal makes an intent wait: the
//! figures behind the broker message-rate and journal-lag metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtrade_broker::{Broker, BrokerError, Connection, VenueReport};
use wasmtrade_engine::Durations;
use wasmtrade_model::{Bar, BrokerEvent, NewOrder, OrderId, StrategyId, Tick, Timestamp};
use wasmtrade_risk::{Amendment, RiskApproved};

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

    fn request(&self, index: usize, result: &Result<(), BrokerError>) {
        self.requests[index].fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn event(&self, event: &BrokerEvent) {
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

/// The outermost broker the engine talks to: counts every request and report.
pub(crate) struct CountingBroker {
    pub(crate) inner: Box<dyn Broker + Send>,
    pub(crate) traffic: Arc<Traffic>,
}

impl Broker for CountingBroker {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let out = self.inner.submit(id, strategy, order, ts);
        self.traffic.request(0, &out);
        out
    }
    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError> {
        let out = self.inner.cancel(id, ts);
        self.traffic.request(1, &out);
        out
    }
    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let out = self.inner.amend(id, change, ts);
        self.traffic.request(2, &out);
        out
    }
    fn on_bar(&mut self, bar: &Bar) {
        self.inner.on_bar(bar);
    }
    fn on_tick(&mut self, tick: &Tick) {
        self.inner.on_tick(tick);
    }
    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        let before = out.len();
        self.inner.poll(out);
        for event in &out[before..] {
            self.traffic.event(event);
        }
    }
    fn connection(&self) -> Connection {
        self.inner.connection()
    }
    fn report(&mut self, known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError> {
        self.inner.report(known, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
    use wasmtrade_model::{ClientOrderId, InstrumentId, Instruments, OrderType, Quantity, Side, TimeInForce};
    use wasmtrade_risk::{Engine, Exposure, RiskConfig};

    #[test]
    fn requests_and_reports_are_counted_by_kind() {
        let mut instruments = Instruments::new();
        let aapl = instruments.intern("AAPL");
        let traffic = Arc::new(Traffic::default());
        let mut broker = CountingBroker {
            inner: Box::new(PaperBroker::new(PaperConfig::default())),
            traffic: traffic.clone(),
        };
        let order = NewOrder {
            client_id: ClientOrderId::new("b1"),
            instrument: InstrumentId(aapl.0),
            side: Side::Buy,
            quantity: Quantity::from_int(1),
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
        };
        let approved = Engine::new(RiskConfig::permissive())
            .check_new(
                &StrategyId::new("s"),
                instruments.get(aapl).unwrap(),
                &order,
                &Exposure::default(),
            )
            .unwrap();
        broker
            .submit(OrderId(1), &StrategyId::new("s"), &approved, Timestamp::EPOCH)
            .unwrap();
        // A second submit of the same id is refused by the paper broker.
        let _ = broker.submit(OrderId(1), &StrategyId::new("s"), &approved, Timestamp::EPOCH);
        broker.cancel(OrderId(1), Timestamp::EPOCH).unwrap();
        let mut events = Vec::new();
        broker.poll(&mut events);
        traffic.journal_commit(Duration::from_micros(300));
        let f = traffic.figures();
        assert_eq!(f.requests, vec![("submit", 2), ("cancel", 1), ("amend", 0)]);
        assert_eq!(f.refused, 1, "the duplicate submit");
        let reported: u64 = f.events.iter().map(|(_, n)| n).sum();
        assert_eq!(reported, events.len() as u64, "{events:?}");
        assert!(reported > 0, "the paper broker acknowledged the order");
        assert_eq!(f.journal_commits.count(), 1);
        assert_eq!(f.journal_commits.sum_ns, 300_000);
    }
}
