//! Candidate models through the handle: evaluated in the shadow of the
//! policies running their model, decided by the gate, and every verdict
//! audited with its figures; a promotion becomes what a restart runs.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtrade_policy::{GateConfig, Verdict};

use super::Handle;
use crate::core::Command;
use crate::error::LiveError;
use crate::event::VerdictRecord;
use crate::view::PolicyShadow;

/// Who the audit trail names for the gate's decisions.
pub const SHADOW_GATE: &str = "shadow-gate";

impl Handle {
    /// Evaluates version `version` of model `model` (`bytes`) beside every
    /// policy running that model, by `gate` (see
    /// [`wasmtrade_policy::shadow`]): a new instance of the guest loads it
    /// off the loop, then sees the same observations as the running model,
    /// its decisions recorded and never traded, until the gate promotes,
    /// keeps out or refuses it. Replies with the policies that started the
    /// evaluation (none: no policy runs that model). A model another window
    /// or one that fails to load is refused now, and nothing changes.
    pub async fn shadow_model(
        &self,
        model: &str,
        version: u64,
        bytes: Arc<Vec<u8>>,
        gate: GateConfig,
    ) -> Result<Vec<String>, LiveError> {
        gate.check().map_err(LiveError::InvalidArgument)?;
        let prepared = self.prepare_model(model, &bytes).await?;
        self.command(|reply| Command::ShadowModel {
            model: model.to_string(),
            version,
            bytes,
            gate,
            prepared,
            reply,
        })
        .await?
    }

    /// The shadow evaluations running now, with their figures so far.
    pub async fn policy_shadows(&self) -> Result<Vec<PolicyShadow>, LiveError> {
        self.command(|reply| Command::PolicyShadows { reply }).await
    }

    /// Audits a verdict of the gate with its figures; after a promotion, a
    /// restart after a fault runs the promoted model; then the policy's
    /// [`on_verdict`](crate::PolicySpec::on_verdict) hook runs.
    pub(crate) async fn model_verdict(&self, record: &VerdictRecord) {
        let o = &record.outcome;
        let sha = record
            .bytes
            .as_ref()
            .map(|b| hex::encode(Sha256::digest(b.as_slice())))
            .unwrap_or_default();
        let version = u32::try_from(o.version).unwrap_or(u32::MAX);
        self.audit(
            SHADOW_GATE,
            &format!("model_{}", o.verdict.as_str()),
            &record.policy,
            version,
            &sha,
            &describe(record),
        );
        let hook = {
            let Ok(mut policies) = self.inner.policies.lock() else {
                return;
            };
            let Some(spec) = policies.get_mut(&record.policy) else {
                return;
            };
            if let (Verdict::Promote, Some(bytes)) = (&o.verdict, &record.bytes) {
                spec.model_version = o.version;
                spec.model_bytes = bytes.clone();
            }
            spec.on_verdict.clone()
        };
        let Some(hook) = hook else { return };
        let owned = record.clone();
        let outcome = tokio::task::spawn_blocking(move || hook(&owned)).await;
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => format!("the verdict hook panicked: {e}"),
        };
        tracing::error!(policy = %record.policy, model = %record.model, version = o.version, "verdict not recorded: {error}");
        self.audit(
            SHADOW_GATE,
            "model_verdict_not_recorded",
            &record.policy,
            version,
            &sha,
            &error,
        );
    }
}

/// The figures of a verdict, for the audit trail and logs.
pub fn describe(record: &VerdictRecord) -> String {
    let o = &record.outcome;
    let (c, a) = (&o.candidate, &o.active);
    let what = match &o.verdict {
        Verdict::Promote => "promoted".to_string(),
        Verdict::Keep => "kept out: not better by the margin, or riskier".to_string(),
        Verdict::Refuse { reason } => format!("refused: {reason}"),
    };
    format!(
        "model `{}` version {} against version {} over {} decisions: composite {:.4} vs {:.4}, sharpe {:.4} vs {:.4}, max drawdown {:.4} vs {:.4}, return {:.4} vs {:.4}, turnover {:.4} vs {:.4}; {what}",
        record.model,
        o.version,
        record.active_version,
        c.decisions,
        c.composite,
        a.composite,
        c.sharpe,
        a.sharpe,
        c.max_drawdown,
        a.max_drawdown,
        c.total_return,
        a.total_return,
        c.turnover,
        a.turnover,
    )
}
