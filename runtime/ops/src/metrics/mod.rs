//! The Prometheus metrics: counters fed by the runtime's event bus, gauges
//! and per-module counters read from a [`Sample`] of the runtime, rendered
//! as OpenMetrics text by `prometheus-client`. Every name starts with
//! `wasmtrade_`; docs/observability.md lists them all.

use std::sync::{Arc, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use wasmtrade_live::{Event, EventKind, OrderStep};
use wasmtrade_model::LogLevel;

use crate::source::Sample;

mod costs;
mod learning;
mod polled;
use polled::Polled;

/// `Content-Type` of the rendered metrics.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets of `wasmtrade_swap_pause_seconds`: 10 µs to 1 s (a hand-over
/// with a precompiled module should stay well below a millisecond).
const PAUSE_BUCKETS: [f64; 11] = [
    0.000_01, 0.000_03, 0.000_1, 0.000_3, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0,
];

/// Event kinds, each counted even before its first event (rates start at 0).
const EVENT_KINDS: [&str; 9] = [
    "order",
    "fill",
    "rejection",
    "swap",
    "fault",
    "kill_switch",
    "halt",
    "risk_limits",
    "log",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwapLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleKindLabels {
    module: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModuleLabels {
    module: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogLabels {
    module: String,
    level: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

/// Escapes a label value as the OpenMetrics text format requires
/// (`prometheus-client` writes label values verbatim).
fn label(value: &str) -> String {
    if !value.contains(['\\', '"', '\n']) {
        return value.to_string();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn event_kind(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Order(_) => "order",
        EventKind::Fill { .. } => "fill",
        EventKind::Rejection(_) => "rejection",
        EventKind::Swap(_) => "swap",
        EventKind::Fault { .. } => "fault",
        EventKind::KillSwitch { .. } => "kill_switch",
        EventKind::Halt { .. } => "halt",
        EventKind::RiskLimits { .. } => "risk_limits",
        EventKind::Reconciliation { .. } => "reconciliation",
        EventKind::BrokerConnection { .. } => "broker_connection",
        EventKind::Bar { .. } => "bar",
        EventKind::Log { .. } => "log",
        EventKind::ModelVerdict(_) => "model_verdict",
    }
}

/// Every metric of the ops server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Families registered under their full names (`wasmtrade_policy_*`).
    unprefixed: Registry,
    up: Gauge,
    ready: Gauge,
    events: Family<KindLabels, Counter>,
    orders: Family<StatusLabels, Counter>,
    fills: Counter,
    rejections: Family<ReasonLabels, Counter>,
    swaps: Family<SwapLabels, Counter>,
    swap_pause: Histogram,
    faults: Family<ModuleKindLabels, Counter>,
    shadow_faults: Family<ModuleKindLabels, Counter>,
    quarantines: Family<ModuleLabels, Counter>,
    log_lines: Family<LogLabels, Counter>,
    lagged: Counter,
    verdicts: learning::Verdicts,
    polled: Arc<Polled>,
}

impl Metrics {
    /// The metrics of a process of `version` started at `start_time`
    /// (seconds since the Unix epoch).
    pub fn new(version: &str, start_time: f64) -> Self {
        let mut registry = Registry::with_prefix("wasmtrade");
        let up = Gauge::default();
        let ready = Gauge::default();
        let events = Family::<KindLabels, Counter>::default();
        let orders = Family::<StatusLabels, Counter>::default();
        let fills = Counter::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        let swaps = Family::<SwapLabels, Counter>::default();
        let swap_pause = Histogram::new(PAUSE_BUCKETS);
        let faults = Family::<ModuleKindLabels, Counter>::default();
        let shadow_faults = Family::<ModuleKindLabels, Counter>::default();
        let quarantines = Family::<ModuleLabels, Counter>::default();
        let log_lines = Family::<LogLabels, Counter>::default();
        let lagged = Counter::default();
        for kind in EVENT_KINDS {
            let _ = events.get_or_create(&KindLabels { kind });
        }
        for step in OrderStep::ALL {
            let _ = orders.get_or_create(&StatusLabels {
                status: step.as_str(),
            });
        }
        registry.register(
            "up",
            "1 while the process and its event loop are alive (what /healthz answers), else 0",
            up.clone(),
        );
        registry.register(
            "ready",
            "1 while the runtime takes work (what /readyz answers), else 0",
            ready.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(VersionLabels {
                version: label(version),
            }),
        );
        registry.register_with_unit(
            "start_time",
            "Start time of the process since the Unix epoch",
            Unit::Seconds,
            ConstGauge::new(start_time),
        );
        registry.register(
            "events",
            "Runtime events seen on the event bus, by kind (bars only while a client streams them: see wasmtrade_market_bars_total)",
            events.clone(),
        );
        registry.register("orders", "Order status changes, by status", orders.clone());
        registry.register("fills", "Executions of orders", fills.clone());
        registry.register(
            "risk_rejections",
            "Intents and orders refused, by reason code (host validation, pre-trade risk, kill switch; `broker` when the broker refused)",
            rejections.clone(),
        );
        registry.register(
            "swaps",
            "Module changes (activate, rollback, promote, config, restore, restart, shadow_start, ...), by action and outcome (ok or failed)",
            swaps.clone(),
        );
        registry.register_with_unit(
            "swap_pause",
            "How long a module change held the event loop",
            Unit::Seconds,
            swap_pause.clone(),
        );
        registry.register(
            "guest_faults",
            "Faults of running guests (which quarantine them), by module and fault kind",
            faults.clone(),
        );
        registry.register(
            "guest_quarantines",
            "Guests quarantined after a fault, by module",
            quarantines.clone(),
        );
        registry.register(
            "shadow_faults",
            "Faults of shadow runs (the active version runs on), by module and fault kind",
            shadow_faults.clone(),
        );
        registry.register(
            "guest_log_lines",
            "Lines guests logged, by module and level",
            log_lines.clone(),
        );
        registry.register(
            "event_stream_lagged",
            "Events the metrics subscriber missed because it fell behind the event bus (its counters undercount by this much)",
            lagged.clone(),
        );
        let verdicts = learning::Verdicts::default();
        verdicts.register(&mut registry);
        let polled = Arc::new(Polled::default());
        registry.register_collector(Box::new(polled.clone()));
        Self {
            registry,
            unprefixed: Registry::default(),
            up,
            ready,
            events,
            orders,
            fills,
            rejections,
            swaps,
            swap_pause,
            faults,
            shadow_faults,
            quarantines,
            log_lines,
            lagged,
            verdicts,
            polled,
        }
    }

    /// Counts one event of the bus.
    pub fn record(&self, event: &Event) {
        self.events
            .get_or_create(&KindLabels {
                kind: event_kind(&event.kind),
            })
            .inc();
        self.verdicts.record(&event.kind);
        match &event.kind {
            EventKind::Order(o) => {
                self.orders
                    .get_or_create(&StatusLabels {
                        status: o.status.as_str(),
                    })
                    .inc();
            }
            EventKind::Fill { .. } => {
                self.fills.inc();
            }
            EventKind::Rejection(notice) => {
                self.rejections
                    .get_or_create(&ReasonLabels {
                        reason: notice.rejection.code.as_str(),
                    })
                    .inc();
            }
            EventKind::Swap(s) => {
                let outcome = if s.error.is_none() { "ok" } else { "failed" };
                self.swaps
                    .get_or_create(&SwapLabels {
                        action: s.action.as_str(),
                        outcome,
                    })
                    .inc();
                self.swap_pause.observe(s.pause_ns as f64 / 1e9);
            }
            EventKind::Fault {
                name, kind, shadow, ..
            } => {
                let labels = ModuleKindLabels {
                    module: label(name),
                    kind,
                };
                if *shadow {
                    self.shadow_faults.get_or_create(&labels).inc();
                } else {
                    self.faults.get_or_create(&labels).inc();
                    self.quarantines
                        .get_or_create(&ModuleLabels {
                            module: labels.module,
                        })
                        .inc();
                }
            }
            EventKind::Log { name, line, .. } => {
                self.log_lines
                    .get_or_create(&LogLabels {
                        module: label(name),
                        level: level(line.level),
                    })
                    .inc();
            }
            EventKind::KillSwitch { .. }
            | EventKind::Halt { .. }
            | EventKind::RiskLimits { .. }
            | EventKind::Reconciliation { .. }
            | EventKind::BrokerConnection { .. }
            | EventKind::ModelVerdict(_)
            | EventKind::Bar { .. } => {}
        }
    }

    /// The metrics subscriber missed `n` events.
    pub fn lagged(&self, n: u64) {
        self.lagged.inc_by(n);
    }

    /// Sets `wasmtrade_up` and `wasmtrade_ready`.
    pub fn set_health(&self, up: bool, ready: bool) {
        self.up.set(i64::from(up));
        self.ready.set(i64::from(ready));
    }

    /// The latest poll of the runtime (kept until the next one succeeds).
    pub fn set_sample(&self, sample: Sample) {
        *self.polled.sample.lock().unwrap_or_else(PoisonError::into_inner) = Some(sample);
    }

    /// Serves the policy metrics (`wasmtrade_policy_*`) too.
    pub fn add_policies(&mut self, policies: &crate::PolicyMetrics) {
        policies.register(&mut self.unprefixed);
    }

    /// The OpenMetrics text (ends with `# EOF`).
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::with_capacity(8 * 1024);
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.unprefixed))
            .and_then(|()| encode_eof(&mut out));
        if let Err(e) = encoded {
            // Writing to a String cannot fail; a collector could.
            tracing::error!("cannot encode the metrics: {e}");
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use wasmtrade_live::{OrderStep, OrderUpdate, SwapAction, SwapRecord};
    use wasmtrade_model::{
        ClientOrderId, OrderId, Quantity, RejectCode, RejectNotice, Rejection, Side, StrategyId, Timestamp,
    };

    use super::*;

    fn event(kind: EventKind) -> Event {
        Event {
            seq: 1,
            ts: Timestamp::EPOCH,
            kind,
        }
    }

    fn order(status: OrderStep) -> EventKind {
        EventKind::Order(OrderUpdate {
            order_id: OrderId(1),
            strategy: StrategyId::new("sma"),
            client_id: "c1".into(),
            symbol: Arc::from("SYNTH"),
            side: Side::Buy,
            quantity: Quantity::from_int(1),
            status,
            reason: String::new(),
        })
    }

    fn rejection(code: RejectCode) -> EventKind {
        EventKind::Rejection(RejectNotice {
            strategy: StrategyId::new("sma"),
            client_id: ClientOrderId::new("c1"),
            order_id: None,
            rejection: Rejection::new(code, "too big"),
            ts: Timestamp::EPOCH,
        })
    }

    fn swap(action: SwapAction, error: Option<&str>, pause_ns: u64) -> EventKind {
        EventKind::Swap(SwapRecord {
            name: "sma".into(),
            action,
            from: 1,
            to: 2,
            pause_ns,
            error: error.map(str::to_string),
        })
    }

    fn fault(name: &str, shadow: bool) -> EventKind {
        EventKind::Fault {
            name: name.into(),
            version: 1,
            kind: "trap",
            message: "unreachable".into(),
            shadow,
            strategy: true,
        }
    }

    /// The value of the series `name{labels}` (labels as rendered), if present.
    pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn policy_metrics_render_under_their_full_names_before_one_eof() {
        use wasmtrade_model::{PolicyAction, PolicyDecision, PolicyStats};
        let policies = crate::PolicyMetrics::default();
        let mut m = Metrics::new("0.1.0", 1.0);
        m.add_policies(&policies);
        let action = PolicyAction {
            decision: PolicyDecision::Hold,
            index: 0,
            probabilities: vec![1.0],
            value: 0.0,
        };
        let stats = PolicyStats {
            steps: 3,
            cumulative_reward: -2.5,
            portfolio_value: 99_997.5,
        };
        policies.observer("clstm").on_step(&stats, &action);
        let text = m.render();
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(
            value(&text, "wasmtrade_policy_steps_total{policy=\"clstm\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "wasmtrade_policy_portfolio_value{policy=\"clstm\"}"),
            Some(99_997.5)
        );
        assert_eq!(value(&text, "wasmtrade_up"), Some(0.0));
    }

    #[test]
    fn renders_openmetrics_with_help_type_and_eof() {
        let m = Metrics::new("0.1.0", 1_700_000_000.0);
        m.set_health(true, true);
        let text = m.render();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# HELP wasmtrade_up "));
        assert!(text.contains("# TYPE wasmtrade_fills counter"));
        assert!(text.contains("# TYPE wasmtrade_swap_pause_seconds histogram"));
        assert!(text.contains("# UNIT wasmtrade_swap_pause_seconds seconds"));
        assert_eq!(value(&text, "wasmtrade_up"), Some(1.0));
        assert_eq!(value(&text, "wasmtrade_ready"), Some(1.0));
        assert_eq!(value(&text, "wasmtrade_build_info{version=\"0.1.0\"}"), Some(1.0));
        assert_eq!(
            value(&text, "wasmtrade_start_time_seconds"),
            Some(1_700_000_000.0)
        );
        assert_eq!(value(&text, "wasmtrade_fills_total"), Some(0.0));
        // Known label values start at zero so that rates exist from the start.
        assert_eq!(value(&text, "wasmtrade_events_total{kind=\"fill\"}"), Some(0.0));
        assert_eq!(
            value(&text, "wasmtrade_orders_total{status=\"rejected\"}"),
            Some(0.0)
        );
    }

    #[test]
    fn every_name_is_prefixed_and_counters_end_in_total() {
        let m = Metrics::new("0.1.0", 0.0);
        m.record(&event(order(OrderStep::Submitted)));
        m.set_sample(Sample::default());
        let text = m.render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("wasmtrade_"), "{line}");
        }
        let counters: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE") && l.ends_with(" counter"))
            .filter_map(|l| l.split(' ').nth(2))
            .collect();
        assert!(counters.contains(&"wasmtrade_orders"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            if let Some(family) = counters.iter().find(|c| name.strip_prefix(**c).is_some()) {
                assert_eq!(name, format!("{family}_total"), "{line}");
            }
        }
    }

    #[test]
    fn bus_events_move_the_labelled_counters() {
        let m = Metrics::new("0.1.0", 0.0);
        m.record(&event(order(OrderStep::Submitted)));
        m.record(&event(order(OrderStep::Accepted)));
        m.record(&event(order(OrderStep::Rejected)));
        m.record(&event(rejection(RejectCode::MaxOrderQuantity)));
        m.record(&event(rejection(RejectCode::MaxOrderQuantity)));
        m.record(&event(rejection(RejectCode::KillSwitch)));
        m.record(&event(swap(SwapAction::Activate, None, 250_000)));
        m.record(&event(swap(SwapAction::Activate, Some("restore failed"), 0)));
        m.record(&event(fault("sma", false)));
        m.record(&event(fault("sma", true)));
        let text = m.render();
        let v = |s: &str| value(&text, s);
        assert_eq!(v("wasmtrade_events_total{kind=\"order\"}"), Some(3.0));
        assert_eq!(v("wasmtrade_events_total{kind=\"rejection\"}"), Some(3.0));
        assert_eq!(v("wasmtrade_orders_total{status=\"submitted\"}"), Some(1.0));
        assert_eq!(v("wasmtrade_orders_total{status=\"rejected\"}"), Some(1.0));
        assert_eq!(
            v("wasmtrade_risk_rejections_total{reason=\"max-order-quantity\"}"),
            Some(2.0)
        );
        assert_eq!(
            v("wasmtrade_risk_rejections_total{reason=\"kill-switch\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("wasmtrade_swaps_total{action=\"activate\",outcome=\"ok\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("wasmtrade_swaps_total{action=\"activate\",outcome=\"failed\"}"),
            Some(1.0)
        );
        assert_eq!(v("wasmtrade_swap_pause_seconds_count"), Some(2.0));
        assert_eq!(v("wasmtrade_swap_pause_seconds_bucket{le=\"0.0003\"}"), Some(2.0));
        assert_eq!(v("wasmtrade_swap_pause_seconds_bucket{le=\"0.0001\"}"), Some(1.0));
        assert_eq!(
            v("wasmtrade_guest_faults_total{module=\"sma\",kind=\"trap\"}"),
            Some(1.0)
        );
        assert_eq!(v("wasmtrade_guest_quarantines_total{module=\"sma\"}"), Some(1.0));
        assert_eq!(
            v("wasmtrade_shadow_faults_total{module=\"sma\",kind=\"trap\"}"),
            Some(1.0)
        );
    }

    #[test]
    fn a_lag_is_counted() {
        let m = Metrics::new("0.1.0", 0.0);
        m.lagged(3);
        m.lagged(2);
        assert_eq!(
            value(&m.render(), "wasmtrade_event_stream_lagged_total"),
            Some(5.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("sma-cross.v2"), "sma-cross.v2");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
