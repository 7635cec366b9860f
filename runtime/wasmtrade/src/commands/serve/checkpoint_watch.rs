//! Closing the learning loop without a person: for every policy with
//! `shadow_checkpoints`, the newest checkpoint the learner wrote is copied
//! in as the next model version and evaluated in the policy's shadow; the
//! shadow gate promotes it or not (docs/policies.md, "The shadow gate").
//!
//! One evaluation at a time per policy: while one runs, newer checkpoints
//! wait, and only the newest is taken next (a learner that writes faster
//! than the gate decides skips the checkpoints in between). The id of the
//! last checkpoint taken is kept in `models/<model>/SHADOWED_CHECKPOINT`,
//! so a restart does not take it again. A checkpoint that cannot be
//! evaluated (refused at load, another window) gets a `refuse` verdict
//! beside its version.

use std::time::Duration;

use wasmtrade_live::Handle;
use wasmtrade_models::{Checkpoints, GateVerdict, ModelStore, VerdictKind, write_atomic};

use super::config::PolicySection;

/// How often the checkpoints directory is looked at.
const POLL: Duration = Duration::from_secs(2);
const MARKER: &str = "SHADOWED_CHECKPOINT";

/// Watches until the runtime stops (spawned by `serve`; returns at once when
/// no policy asks for it).
pub async fn run(handle: Handle, policies: Vec<PolicySection>, models: ModelStore, checkpoints: Checkpoints) {
    let watched: Vec<PolicySection> = policies.into_iter().filter(|p| p.shadow_checkpoints).collect();
    if watched.is_empty() {
        return;
    }
    let stopped = handle.stopped();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = &mut stopped => return,
        }
        let running = match handle.policy_shadows().await {
            Ok(r) => r,
            Err(_) => return,
        };
        for p in &watched {
            if running.iter().any(|s| s.policy == p.name) {
                continue;
            }
            if let Err(e) = take_newest(&handle, p, &models, &checkpoints).await {
                tracing::warn!(policy = %p.name, model = %p.model, "checkpoint not evaluated: {e}");
            }
        }
    }
}

/// Evaluates the newest checkpoint of `p`'s model if it is new.
async fn take_newest(
    handle: &Handle,
    p: &PolicySection,
    models: &ModelStore,
    checkpoints: &Checkpoints,
) -> Result<(), String> {
    let marker = models.dir().join(&p.model).join(MARKER);
    let (models2, checkpoints2, model, marker2) = (
        models.clone(),
        checkpoints.clone(),
        p.model.clone(),
        marker.clone(),
    );
    // File work off the runtime's threads.
    let picked = tokio::task::spawn_blocking(move || -> Result<Option<(String, u64, Vec<u8>)>, String> {
        let newest = checkpoints2
            .list(&model)
            .map_err(|e| e.to_string())?
            .into_iter()
            .last();
        let Some(newest) = newest else { return Ok(None) };
        let seen = std::fs::read_to_string(&marker2).unwrap_or_default();
        if seen.trim() == newest.id {
            return Ok(None);
        }
        let bytes = checkpoints2.read(&model, &newest.id).map_err(|e| e.to_string())?;
        let v = models2.put(&model, &bytes).map_err(|e| e.to_string())?;
        // Marked before the evaluation: a checkpoint that fails is not
        // taken again and again.
        write_atomic(&marker2, format!("{}\n", newest.id).as_bytes()).map_err(|e| e.to_string())?;
        Ok(Some((newest.id, v.version, bytes)))
    })
    .await
    .map_err(|e| e.to_string())??;
    let Some((id, version, bytes)) = picked else {
        return Ok(());
    };
    tracing::info!(policy = %p.name, model = %p.model, checkpoint = %id, version, "new checkpoint: evaluating it in the policy's shadow");
    match handle
        .shadow_model(&p.model, version, std::sync::Arc::new(bytes), p.gate())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let verdict = GateVerdict {
                verdict: VerdictKind::Refuse,
                policy: p.name.clone(),
                against_version: 0,
                decisions: 0,
                candidate_score: 0.0,
                active_score: 0.0,
                detail: format!("checkpoint `{id}` could not be evaluated: {e}"),
                decided_at: wasmtrade_live::unix_now().secs(),
            };
            let (models, model) = (models.clone(), p.model.clone());
            let _ =
                tokio::task::spawn_blocking(move || models.record_verdict(&model, version, &verdict)).await;
            Err(format!("checkpoint `{id}` (version {version}): {e}"))
        }
    }
}
