//! The `[[policies]]` of `serve`: each policy guest with the active version
//! of its model, its metrics (`wasmtrade_policy_*`: steps, reward and
//! portfolio value from an observer, action latency from a timer around
//! `act`) and its durable transitions log; and the activation hook through
//! which `wasmtrade model upload --activate|activate` swaps the weights of
//! the running policy.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use wasmtrade_live::{Handle, PolicySpec, VerdictHook, VerdictRecord};
use wasmtrade_model::{PolicyGuest, PolicyObserver};
use wasmtrade_models::{DurableTransitions, GateVerdict, ModelStore, TransitionLog, VerdictKind};
use wasmtrade_ops::{PolicyMetrics, Timed};
use wasmtrade_policy::Verdict;
use wasmtrade_server::ActivationHook;

use super::config::PolicySection;

/// The transitions log of `model` inside the checkpoints directory.
pub const TRANSITIONS_FILE: &str = "transitions.log";

/// Reads every policy's guest and active model and opens its transitions
/// log; every problem is reported at once, naming the key.
pub fn specs(
    policies: &[PolicySection],
    models: &ModelStore,
    checkpoints_dir: &Path,
    metrics: &PolicyMetrics,
) -> anyhow::Result<Vec<PolicySpec>> {
    let mut problems = Vec::new();
    let mut specs = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let guest = std::fs::read(&p.guest).map_err(|e| {
            format!(
                "policies[{i}].guest: cannot read {}: {e} (build it with `make guests`)",
                p.guest.display()
            )
        });
        let model = models.read_active(&p.model).map_err(|e| {
            format!(
                "policies[{i}].model: {e}: upload a version to {} with `wasmtrade model upload FILE --name {} --activate` (on a server without this policy) or copy it there as {}/v1.onnx with `1` in {}/ACTIVE",
                models.dir().display(),
                p.model,
                p.model,
                p.model
            )
        });
        let transitions = if p.transitions {
            let path = checkpoints_dir.join(&p.model).join(TRANSITIONS_FILE);
            TransitionLog::open(&path)
                .map(|log| Some(Arc::new(DurableTransitions::new(log)) as Arc<dyn PolicyObserver>))
                .map_err(|e| format!("policies[{i}].transitions: {e}"))
        } else {
            Ok(None)
        };
        match (guest, model, transitions) {
            (Ok(guest), Ok((version, bytes)), Ok(transitions)) => {
                let mut observers = vec![metrics.observer(&p.name)];
                observers.extend(transitions);
                let (timer, name) = (metrics.clone(), p.name.clone());
                specs.push(PolicySpec {
                    name: p.name.clone(),
                    guest: Arc::new(guest),
                    config: p.config.clone(),
                    instrument: p.instrument.clone(),
                    model: p.model.clone(),
                    model_version: version,
                    model_bytes: Arc::new(bytes),
                    observers,
                    wrap: Some(Arc::new(move |g: Box<dyn PolicyGuest + Send>| {
                        Box::new(Timed::new(g, timer.clone(), &name)) as Box<dyn PolicyGuest + Send>
                    })),
                    on_verdict: Some(verdict_hook(models.clone())),
                });
            }
            (g, m, t) => problems.extend([g.err(), m.err(), t.err()].into_iter().flatten()),
        }
    }
    if !problems.is_empty() {
        bail!("invalid policies:\n  - {}", problems.join("\n  - "));
    }
    Ok(specs)
}

/// Keeps each verdict of the shadow gate beside the model version it is
/// about, and makes a promoted version the active one on disk, so a
/// restart of `serve` runs what the gate promoted.
pub fn verdict_hook(models: ModelStore) -> VerdictHook {
    Arc::new(move |r: &VerdictRecord| {
        let o = &r.outcome;
        let verdict = match o.verdict {
            Verdict::Promote => VerdictKind::Promote,
            Verdict::Keep => VerdictKind::Keep,
            Verdict::Refuse { .. } => VerdictKind::Refuse,
        };
        let record = GateVerdict {
            verdict,
            policy: r.policy.clone(),
            against_version: r.active_version,
            decisions: o.candidate.decisions,
            candidate_score: o.candidate.composite,
            active_score: o.active.composite,
            detail: wasmtrade_live::describe_verdict(r),
            decided_at: wasmtrade_live::unix_now().secs(),
        };
        models
            .record_verdict(&r.model, o.version, &record)
            .map_err(|e| format!("cannot keep the verdict: {e}"))?;
        if verdict == VerdictKind::Promote {
            models
                .activate(&r.model, o.version)
                .map_err(|e| format!("promoted, but cannot mark it active on disk: {e}"))?;
        }
        Ok(())
    })
}

/// Hands an activated model to the running policies of that model (none:
/// only the marker on disk changes).
pub fn activation_hook(handle: Handle) -> ActivationHook {
    Arc::new(move |model, version, bytes| {
        let handle = handle.clone();
        Box::pin(async move {
            let took = handle.load_model(&model, version, bytes).await?;
            if !took.is_empty() {
                tracing::info!(model = %model, version, policies = ?took, "running policies took the model");
            }
            Ok(())
        })
    })
}
