//! Closing the learning loop without a person: for every policy with
//! `shadow_checkpoints`, the newest checkpoint the learner wrote is copied
//! in as the next model version and evaluated in the policy's shadow; the
//! shadow gate promotes it or not (docs/policies.md, "The shadow gate").
//!
//! One evaluation at a time per policy: while one runs, newer checkpoints
//! wait, and only the newest is taken next (a learner that writes faster
//! than the gate decides skips the checkpoints in between). The id of the
//! last checkpoint taken and the model version it became are kept in
//! `models/<model>/SHADOWED_CHECKPOINT`, so a restart does not take it
//! again; an evaluation a restart (or kill -9) cut short — its version has
//! no verdict and is not active — is started again, under the gate the
//! restarted runtime is configured with. A checkpoint that cannot be
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
    // Evaluations cut short by the last stop, before any new checkpoint.
    for p in &watched {
        if let Err(e) = resume_interrupted(&handle, p, &models).await {
            tracing::warn!(policy = %p.name, model = %p.model, "interrupted evaluation not resumed: {e}");
        }
    }
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

/// What the marker file says: the checkpoint id last taken and, when it
/// was written by this version of the watcher, the model version it became.
fn read_marker(path: &std::path::Path) -> (String, Option<u64>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut words = text.split_whitespace();
    let id = words.next().unwrap_or_default().to_string();
    let version = words.next().and_then(|v| v.parse().ok());
    (id, version)
}

/// The version whose evaluation the last stop cut short: the marker's
/// version, when it has no verdict and is not the active one.
fn interrupted(models: &ModelStore, model: &str, marker: &std::path::Path) -> Option<(String, u64)> {
    let (id, version) = read_marker(marker);
    let version = version?;
    if models.verdict(model, version).is_some() {
        return None;
    }
    if models.active(model).ok().flatten() == Some(version) {
        return None;
    }
    models
        .versions(model)
        .ok()?
        .contains(&version)
        .then_some((id, version))
}

/// Starts again the evaluation of `p`'s checkpoint that the last stop cut
/// short, if there is one.
async fn resume_interrupted(handle: &Handle, p: &PolicySection, models: &ModelStore) -> Result<(), String> {
    let marker = models.dir().join(&p.model).join(MARKER);
    let (models2, model) = (models.clone(), p.model.clone());
    let picked = tokio::task::spawn_blocking(move || -> Result<Option<(String, u64, Vec<u8>)>, String> {
        let Some((id, version)) = interrupted(&models2, &model, &marker) else {
            return Ok(None);
        };
        let bytes = models2.read(&model, version).map_err(|e| e.to_string())?;
        Ok(Some((id, version, bytes)))
    })
    .await
    .map_err(|e| e.to_string())??;
    let Some((id, version, bytes)) = picked else {
        return Ok(());
    };
    tracing::info!(policy = %p.name, model = %p.model, checkpoint = %id, version,
        "the last stop cut the evaluation of this checkpoint short: evaluating it again");
    evaluate(handle, p, models, &id, version, bytes).await
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
        let (seen, _) = read_marker(&marker2);
        if seen == newest.id {
            return Ok(None);
        }
        let bytes = checkpoints2.read(&model, &newest.id).map_err(|e| e.to_string())?;
        let v = models2.put(&model, &bytes).map_err(|e| e.to_string())?;
        // Marked before the evaluation: a checkpoint that fails is not
        // taken again and again (and one cut short by a stop is found
        // by its version: `resume_interrupted`).
        write_atomic(&marker2, format!("{} {}\n", newest.id, v.version).as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(Some((newest.id, v.version, bytes)))
    })
    .await
    .map_err(|e| e.to_string())??;
    let Some((id, version, bytes)) = picked else {
        return Ok(());
    };
    tracing::info!(policy = %p.name, model = %p.model, checkpoint = %id, version, "new checkpoint: evaluating it in the policy's shadow");
    evaluate(handle, p, models, &id, version, bytes).await
}

/// Starts the shadow evaluation of `version` (checkpoint `id`); one that
/// cannot start gets a `refuse` verdict beside the version.
async fn evaluate(
    handle: &Handle,
    p: &PolicySection,
    models: &ModelStore,
    id: &str,
    version: u64,
    bytes: Vec<u8>,
) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn store() -> (tempfile::TempDir, ModelStore, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelStore::open(dir.path().join("models"), 1 << 20).unwrap();
        models.put("m", b"v1").unwrap();
        models.activate("m", 1).unwrap();
        models.put("m", b"v2").unwrap();
        let marker = models.dir().join("m").join(MARKER);
        (dir, models, marker)
    }

    fn refuse() -> GateVerdict {
        GateVerdict {
            verdict: VerdictKind::Refuse,
            policy: "p".into(),
            against_version: 1,
            decisions: 0,
            candidate_score: 0.0,
            active_score: 0.0,
            detail: String::new(),
            decided_at: 0,
        }
    }

    #[test]
    fn an_evaluation_cut_short_is_found_by_the_version_in_the_marker() {
        let (_dir, models, marker) = store();
        write_atomic(&marker, b"ppo-000007 2\n").unwrap();
        assert_eq!(interrupted(&models, "m", &marker), Some(("ppo-000007".into(), 2)));
    }

    #[test]
    fn a_decided_or_active_or_missing_version_is_not_evaluated_again() {
        let (_dir, models, marker) = store();
        // No marker, or one from before versions were kept in it.
        assert_eq!(interrupted(&models, "m", &marker), None);
        write_atomic(&marker, b"ppo-000007\n").unwrap();
        assert_eq!(interrupted(&models, "m", &marker), None);
        // A version that does not exist.
        write_atomic(&marker, b"ppo-000007 9\n").unwrap();
        assert_eq!(interrupted(&models, "m", &marker), None);
        // The active version.
        write_atomic(&marker, b"ppo-000006 1\n").unwrap();
        assert_eq!(interrupted(&models, "m", &marker), None);
        // A version with a verdict.
        write_atomic(&marker, b"ppo-000007 2\n").unwrap();
        models.record_verdict("m", 2, &refuse()).unwrap();
        assert_eq!(interrupted(&models, "m", &marker), None);
    }
}
