//! The polled metrics of what the runtime spends and moves: guest instances,
//! fuel and callback time per strategy, broker requests and reports, and the
//! order journal's commits and lag.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use wasmtrade_live::{DURATION_BOUNDS_NS, Durations};

use super::label;
use super::polled::{counter, family, gauge};
use crate::source::Sample;

/// A [`Durations`] histogram encoded as a Prometheus histogram in seconds.
struct ConstHistogram(Durations);

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let d = &self.0;
        // prometheus-client writes f64::MAX as le="+Inf" and accumulates the counts.
        let buckets: Vec<(f64, u64)> = DURATION_BOUNDS_NS
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain(std::iter::once(f64::MAX))
            .zip(d.counts.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(d.sum_ns as f64 / 1e9, d.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Guest instances, and fuel and callback time per running strategy.
pub(super) fn encode_guest_costs(enc: &mut DescriptorEncoder, s: &Sample) -> std::fmt::Result {
    counter(
        enc,
        "guest_instances_created",
        "Guest instances created since the process started (deploys, swaps, shadows, restarts after a fault).",
        s.guests_created,
    )?;
    gauge(
        enc,
        "guest_instances_live",
        "Guest instances alive now (against guests.max_live_guests).",
        s.guests_live as i64,
    )?;
    let collections: Vec<_> = s
        .collections
        .iter()
        .map(|c| ([("collection", c.name)], ConstGauge::new(c.len as i64)))
        .collect();
    family(
        enc,
        "collection_entries",
        "Entries in a per-order collection of the OMS or the broker adapter: only working orders once finished ones are released, so flat in a steady run.",
        MetricType::Gauge,
        &collections,
    )?;
    let strategies: Vec<_> = s
        .modules
        .iter()
        .filter(|m| m.kind == "strategy" && m.state != "stopped")
        .collect();
    let fuel: Vec<_> = strategies
        .iter()
        .map(|m| ([("module", label(&m.name))], ConstCounter::new(m.counters.fuel)))
        .collect();
    family(
        enc,
        "guest_fuel_consumed",
        "Fuel (wasm instructions, roughly) a strategy's guest burned in callbacks, by module (kept across hot swaps; 0 while fuel metering is off).",
        MetricType::Counter,
        &fuel,
    )?;
    let times: Vec<_> = strategies
        .iter()
        .map(|m| {
            (
                [("module", label(&m.name))],
                ConstHistogram(m.counters.callback_time),
            )
        })
        .collect();
    family(
        enc,
        "guest_callback_duration_seconds",
        "Wall-clock time of a strategy guest's callbacks (bar, tick, fill, timer, reject), by module.",
        MetricType::Histogram,
        &times,
    )
}

/// Broker requests and reports, start-up reconciliation and the order journal.
pub(super) fn encode_traffic(enc: &mut DescriptorEncoder, s: &Sample) -> std::fmt::Result {
    if let Some(r) = &s.reconciliation {
        gauge(
            enc,
            "reconciliation_discrepancies",
            "Differences start-up reconciliation found between the journal and the broker (each journaled and sent as a reconciliation event).",
            r.differences.len() as i64,
        )?;
        gauge(
            enc,
            "reconciliation_missed_fills",
            "Fills the broker reported that the journal did not have (adopted at start-up).",
            r.missed_fills as i64,
        )?;
        gauge(
            enc,
            "reconciliation_never_sent",
            "Open intents the broker confirmed it never received (marked never-sent at start-up).",
            r.never_sent as i64,
        )?;
        gauge(
            enc,
            "reconciliation_agreed",
            "1 when positions and cash agreed with the broker at start-up; 0 halts the account until a person re-enables it.",
            i64::from(r.agreed),
        )?;
    }
    let t = &s.traffic;
    let requests: Vec<_> = t
        .requests
        .iter()
        .map(|(kind, n)| ([("request", *kind)], ConstCounter::new(*n)))
        .collect();
    family(
        enc,
        "broker_requests",
        "Requests sent towards the broker (IB counts them against its ~50 messages/s budget), by request.",
        MetricType::Counter,
        &requests,
    )?;
    counter(
        enc,
        "broker_refusals",
        "Requests the order gate or the broker refused on the spot (disconnected, fenced, duplicate id).",
        t.refused,
    )?;
    let reports: Vec<_> = t
        .events
        .iter()
        .map(|(kind, n)| ([("report", *kind)], ConstCounter::new(*n)))
        .collect();
    family(
        enc,
        "broker_reports",
        "Order reports received from the broker, by report.",
        MetricType::Counter,
        &reports,
    )?;
    counter(
        enc,
        "journal_records",
        "Order journal records appended (intents, status changes, fills) since the store was created.",
        s.journal_records,
    )?;
    gauge(
        enc,
        "journal_lag_records",
        "Journal records appended but not yet durable (0 between events: every event ends with a commit).",
        s.journal_lag_records as i64,
    )?;
    let m = enc.encode_descriptor(
        "journal_commit_duration_seconds",
        "Time of each group commit (flush + fdatasync) of the order journal: how long an intent waits for durability before the broker sees it.",
        None,
        MetricType::Histogram,
    )?;
    ConstHistogram(t.journal_commits).encode(m)
}
