//! The learning loop's series: the shadow gate's verdicts (counted from
//! the event bus) and the running evaluations' scores (from each poll).

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use wasmtrade_live::EventKind;

use super::label;
use super::polled::family;
use crate::source::Sample;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    policy: String,
    verdict: &'static str,
}

/// The verdict counter.
#[derive(Clone, Debug, Default)]
pub(super) struct Verdicts(Family<VerdictLabels, Counter>);

impl Verdicts {
    /// Registers `wasmtrade_policy_model_verdicts_total`.
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "policy_model_verdicts",
            "Decisions of the shadow gate about candidate models, by policy and verdict (promote, keep, refuse)",
            self.0.clone(),
        );
    }

    /// Counts a verdict event (nothing for other events).
    pub(super) fn record(&self, kind: &EventKind) {
        if let EventKind::ModelVerdict(r) = kind {
            self.0
                .get_or_create(&VerdictLabels {
                    policy: label(&r.policy),
                    verdict: r.outcome.verdict.as_str(),
                })
                .inc();
        }
    }
}

/// The running shadow evaluations: scores of both sides and decisions made.
pub(super) fn encode_shadows(enc: &mut DescriptorEncoder, s: &Sample) -> std::fmt::Result {
    let scores: Vec<_> = s
        .shadows
        .iter()
        .flat_map(|sh| {
            let p = &sh.progress;
            [
                (
                    [("policy", label(&sh.policy)), ("role", "candidate".to_string())],
                    ConstGauge::new(p.candidate.composite),
                ),
                (
                    [("policy", label(&sh.policy)), ("role", "active".to_string())],
                    ConstGauge::new(p.active.composite),
                ),
            ]
        })
        .collect();
    family(
        enc,
        "policy_shadow_score",
        "Composite score (window Sharpe − 2 × max drawdown) of a candidate model in a policy's shadow and of the running model over the same decisions, by policy and role.",
        MetricType::Gauge,
        &scores,
    )?;
    let decisions: Vec<_> = s
        .shadows
        .iter()
        .map(|sh| {
            (
                [("policy", label(&sh.policy))],
                ConstGauge::new(i64::from(sh.progress.candidate.decisions)),
            )
        })
        .collect();
    family(
        enc,
        "policy_shadow_decisions",
        "Decisions a candidate model has made in a policy's shadow (the gate decides at the configured number).",
        MetricType::Gauge,
        &decisions,
    )
}
