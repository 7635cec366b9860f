//! Hooks the composition root plugs into the runtime: an order gate checked
//! before every broker request (the Kubernetes Lease fence of the broker
//! account) and extra readiness conditions.

use std::sync::Arc;
use std::time::Duration;

use wasmtrade_broker::{Broker, BrokerError, Connection, VenueReport};
use wasmtrade_model::{Bar, BrokerEvent, CollectionSize, NewOrder, OrderId, StrategyId, Tick, Timestamp};
use wasmtrade_risk::{Amendment, RiskApproved};

/// Checked before every order, amendment and cancel goes to the broker:
/// `Err(reason)` and the request is not sent.
pub type OrderGate = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// A readiness condition: `Some(reason)` while the runtime must not be
/// reported ready.
pub type ReadinessCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// One figure a broker adapter reports about its session (reconnects,
/// message pacing), exported as `wasmtrade_broker_<name>`.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerFigure {
    /// Metric name after `wasmtrade_broker_` (counters get `_total`).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// The value.
    pub value: FigureValue,
}

/// A counter or a gauge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FigureValue {
    /// Monotonic since the process started.
    Counter(u64),
    /// A level now.
    Gauge(f64),
}

/// Reads the broker adapter's figures from any thread.
pub type FigureProbe = Arc<dyn Fn() -> Vec<BrokerFigure> + Send + Sync>;

/// The figures of an IB Gateway session.
pub(crate) fn ibkr_figures(h: &wasmtrade_ibkr::IbkrHealth) -> Vec<BrokerFigure> {
    let c = |name, help, v: u64| BrokerFigure {
        name,
        help,
        value: FigureValue::Counter(v),
    };
    let g = |name, help, v: f64| BrokerFigure {
        name,
        help,
        value: FigureValue::Gauge(v),
    };
    let p = &h.pacing;
    vec![
        c(
            "reconnects",
            "Completed reconnects to the broker since start.",
            h.reconnects,
        ),
        c(
            "messages_sent",
            "Messages sent to the broker through the pacing limiter.",
            p.sent,
        ),
        c(
            "messages_delayed",
            "Messages that waited for the pacing limiter (IB allows about 50 per second).",
            p.delayed,
        ),
        g(
            "pacing_delay_mean_seconds",
            "Mean wait of the delayed messages.",
            p.mean_delay_us as f64 / 1e6,
        ),
        g(
            "pacing_delay_max_seconds",
            "Longest pacing wait.",
            p.max_delay_us as f64 / 1e6,
        ),
        g(
            "queued_messages",
            "Messages waiting for the pacing limiter now.",
            p.queued as f64,
        ),
        c(
            "historical_requests_paced",
            "Historical-data requests held back by IB's pacing rules.",
            p.historical_paced,
        ),
        g(
            "down_seconds",
            "Seconds the broker has been unreachable (0 when up).",
            h.down_for_secs as f64,
        ),
        c(
            "alerts",
            "Alerts raised because the broker stayed away too long.",
            h.alerts_raised,
        ),
        c(
            "duplicate_executions",
            "Executions the broker re-sent that were dropped as duplicates.",
            h.duplicate_executions,
        ),
    ]
}

/// What the composition root adds to a [`Runtime`](crate::Runtime).
#[derive(Clone, Default)]
pub struct StartOptions {
    /// The order gate (none: every request may go).
    pub order_gate: Option<OrderGate>,
    /// Extra readiness conditions.
    pub readiness: Vec<ReadinessCheck>,
    /// Policies to run from start to stop (after the restored strategies).
    pub policies: Vec<crate::policy::PolicySpec>,
}

/// The broker the engine talks to: every request first passes the order
/// gate (when there is one), and requests and reports are counted for the
/// message-rate metrics.
pub(crate) struct GatedBroker {
    pub(crate) inner: Box<dyn Broker + Send>,
    pub(crate) gate: Option<OrderGate>,
    pub(crate) traffic: Arc<crate::Traffic>,
}

impl GatedBroker {
    fn pass(&self, id: OrderId) -> Result<(), BrokerError> {
        match &self.gate {
            Some(gate) => gate().map_err(|reason| BrokerError::Refused {
                id,
                reason: format!("not sent: {reason}"),
            }),
            None => Ok(()),
        }
    }
}

impl Broker for GatedBroker {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let out = self
            .pass(id)
            .and_then(|()| self.inner.submit(id, strategy, order, ts));
        self.traffic.request(0, &out);
        out
    }
    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError> {
        let out = self.pass(id).and_then(|()| self.inner.cancel(id, ts));
        self.traffic.request(1, &out);
        out
    }
    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let out = self.pass(id).and_then(|()| self.inner.amend(id, change, ts));
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
    fn release_finished(&mut self) {
        self.inner.release_finished();
    }
    fn collection_sizes(&self) -> Vec<CollectionSize> {
        self.inner.collection_sizes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
    use wasmtrade_model::{ClientOrderId, InstrumentId, Instruments, OrderType, Quantity, Side, TimeInForce};
    use wasmtrade_risk::{Engine, Exposure, RiskConfig};

    /// A paper broker behind `gate`, and a market order risk approved.
    fn broker_and_order(gate: Option<OrderGate>) -> (GatedBroker, RiskApproved<NewOrder>) {
        let mut instruments = Instruments::new();
        let aapl = instruments.intern("AAPL");
        let broker = GatedBroker {
            inner: Box::new(PaperBroker::new(PaperConfig::default())),
            gate,
            traffic: Arc::new(crate::Traffic::default()),
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
        (broker, approved)
    }

    #[test]
    fn a_closed_gate_refuses_every_request_before_the_broker_sees_it() {
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = open.clone();
        let (mut broker, approved) = broker_and_order(Some(Arc::new(move || {
            if flag.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("the Lease fence of account DU1 is closed".into())
            }
        })));
        let err = broker
            .submit(OrderId(1), &StrategyId::new("s"), &approved, Timestamp::EPOCH)
            .unwrap_err();
        assert!(
            err.to_string().contains("fence of account DU1 is closed"),
            "{err}"
        );
        assert!(broker.cancel(OrderId(1), Timestamp::EPOCH).is_err());
        let mut events = Vec::new();
        broker.poll(&mut events);
        assert!(events.is_empty(), "nothing reached the broker: {events:?}");
        open.store(true, std::sync::atomic::Ordering::Relaxed);
        broker
            .submit(OrderId(1), &StrategyId::new("s"), &approved, Timestamp::EPOCH)
            .unwrap();
    }

    #[test]
    fn requests_and_reports_are_counted_by_kind() {
        let (mut broker, approved) = broker_and_order(None);
        let traffic = broker.traffic.clone();
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
