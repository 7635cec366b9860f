//! What the shadow gate decided about a model version, kept beside it
//! (`models/<name>/v<N>.verdict.json`) so `wasmtrade model list` shows the
//! evidence after the fact and across restarts.

use serde::{Deserialize, Serialize};

/// The gate's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    /// The version was promoted: it runs.
    Promote,
    /// Kept out: not better than the running version by the margin, or riskier.
    Keep,
    /// Refused: it faulted or answered with non-finite values.
    Refuse,
}

impl VerdictKind {
    /// `promote`, `keep` or `refuse`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Promote => "promote",
            VerdictKind::Keep => "keep",
            VerdictKind::Refuse => "refuse",
        }
    }
}

/// A verdict with its figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    /// The decision.
    pub verdict: VerdictKind,
    /// The policy that evaluated it.
    pub policy: String,
    /// The version it was compared with (the one running then).
    pub against_version: u64,
    /// Decisions in the evaluation window.
    pub decisions: u32,
    /// The candidate's composite score.
    pub candidate_score: f64,
    /// The running version's composite score over the same window.
    pub active_score: f64,
    /// Every figure, in words (the audit trail's text).
    pub detail: String,
    /// When it was decided (Unix seconds).
    pub decided_at: i64,
}
