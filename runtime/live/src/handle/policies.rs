//! Policies through the handle: started from the configuration, given new
//! model versions, restarted by the supervisor after a fault, and resumed
//! across restarts of the runtime from their snapshots (feature windows,
//! position, pending transition), like strategies.

use std::sync::Arc;

use wasmtrade_model::{InstrumentId, StrategyGuest, StrategyId, Timestamp};

use super::Handle;
use crate::core::Command;
use crate::error::LiveError;
use crate::policy::{Hosted, PolicySpec};
use crate::view::Installed;

impl Handle {
    /// Starts policy `spec` (compile, `init`, first model load off the
    /// loop), resumes it from its last stored snapshot if there is one, and
    /// adds it to the engine between two events. The fills after that
    /// snapshot are handed to it again, as to a restored strategy.
    pub(crate) async fn add_policy(&self, spec: PolicySpec) -> Result<(), LiveError> {
        let instrument = self.policy_instrument(&spec)?;
        let name = spec.name.clone();
        let hosted = Hosted {
            model: spec.model.clone(),
            version: spec.model_version,
            last_good: None,
            candidate: None,
        };
        let (registry, built) = (self.inner.registry.clone(), spec.clone());
        let (guest, resumed) = tokio::task::spawn_blocking(move || {
            let mut guest = build_guest(&registry, &built, instrument)?;
            let id = StrategyId::new(&built.name);
            let resumed = match registry.store().snapshots().latest(&id)? {
                Some(snapshot) => match guest.restore(&snapshot.state) {
                    Ok(()) => {
                        tracing::info!(
                            policy = %built.name,
                            state_bytes = snapshot.state.len(),
                            "policy resumed from its snapshot: no window to refill"
                        );
                        Some(snapshot.taken_at)
                    }
                    // E.g. a model with another window: start afresh.
                    Err(fault) => {
                        tracing::warn!(policy = %built.name, "policy snapshot not restored, starting afresh: {fault}");
                        None
                    }
                },
                None => None,
            };
            Ok::<_, LiveError>((guest, resumed))
        })
        .await
        .map_err(|e| LiveError::task("policy start-up panicked", e))??;
        self.command(|reply| Command::AddPolicy {
            name: name.clone(),
            hosted,
            guest,
            reply,
        })
        .await??;
        if let Ok(mut policies) = self.inner.policies.lock() {
            policies.insert(name.clone(), spec);
        }
        if let Some(ts) = resumed {
            let since: Vec<(String, Timestamp)> = vec![(name, ts)];
            self.command(|reply| Command::Redeliver { since, reply }).await?;
        }
        Ok(())
    }

    /// Runs version `version` of model `model` in the policies running it.
    /// For each, a new instance of its guest loads the model off the event
    /// loop (its own fuel and deadline); the loop then swaps the instance in
    /// between two events, keeping the policy's state (windows, position,
    /// counters, pending transition). Replies with the policies that took it
    /// (none: no policy runs that model). A refused, faulting or slow load
    /// costs only the new instance: the old model keeps running and the
    /// error says why.
    pub async fn load_model(
        &self,
        model: &str,
        version: u64,
        bytes: Arc<Vec<u8>>,
    ) -> Result<Vec<String>, LiveError> {
        let prepared = self.prepare_model(model, &bytes).await?;
        let took = self
            .command(|reply| Command::LoadModel {
                model: model.to_string(),
                version,
                prepared,
                reply,
            })
            .await??;
        // A restart after a fault runs the model the policy ran.
        if let Ok(mut policies) = self.inner.policies.lock() {
            for name in &took {
                if let Some(spec) = policies.get_mut(name) {
                    spec.model_version = version;
                    spec.model_bytes = bytes.clone();
                }
            }
        }
        Ok(took)
    }

    /// For each policy running `model`, a new instance of its guest that
    /// loaded `bytes` off the event loop (its own fuel and deadline), or
    /// why there is none.
    pub(super) async fn prepare_model(
        &self,
        model: &str,
        bytes: &Arc<Vec<u8>>,
    ) -> Result<Vec<(String, crate::policy::Prepared)>, LiveError> {
        let specs: Vec<PolicySpec> = self
            .inner
            .policies
            .lock()
            .map(|p| p.values().filter(|s| s.model == model).cloned().collect())
            .unwrap_or_default();
        let mut prepared = Vec::with_capacity(specs.len());
        for spec in specs {
            let (registry, model_bytes, name) =
                (self.inner.registry.clone(), bytes.clone(), spec.name.clone());
            let outcome =
                tokio::task::spawn_blocking(move || crate::policy::prepare(&registry, &spec, &model_bytes))
                    .await
                    .map_err(|e| LiveError::task("preparing the new model panicked", e))?;
            prepared.push((name, outcome));
        }
        Ok(prepared)
    }

    /// True if `name` is a policy this runtime started.
    pub(crate) fn is_policy(&self, name: &str) -> bool {
        self.inner
            .policies
            .lock()
            .map(|p| p.contains_key(name))
            .unwrap_or(false)
    }

    /// Restarts policy `name` after a fault: a new instance with the model
    /// it ran, resumed from its last good snapshot (by the loop).
    pub(crate) async fn restart_policy(&self, name: &str, version: u32) -> Result<Installed, LiveError> {
        let spec = self
            .inner
            .policies
            .lock()
            .ok()
            .and_then(|p| p.get(name).cloned())
            .ok_or_else(|| LiveError::NotFound(format!("no policy named `{name}`")))?;
        let instrument = self.policy_instrument(&spec)?;
        let registry = self.inner.registry.clone();
        let guest = tokio::task::spawn_blocking(move || build_guest(&registry, &spec, instrument))
            .await
            .map_err(|e| LiveError::task("policy restart panicked", e))??;
        self.command(|reply| Command::Restart {
            name: name.to_string(),
            version,
            guest,
            reply,
        })
        .await?
    }

    fn policy_instrument(&self, spec: &PolicySpec) -> Result<InstrumentId, LiveError> {
        self.instruments()
            .by_symbol(&spec.instrument)
            .map(|i| i.id)
            .ok_or_else(|| {
                let known: Vec<&str> = self.instruments().iter().map(|i| i.symbol.as_str()).collect();
                LiveError::InvalidArgument(format!(
                    "policy `{}`: instrument `{}` is not in the market (symbols: {})",
                    spec.name,
                    spec.instrument,
                    known.join(", ")
                ))
            })
    }
}

/// A new instance of the policy guest of `spec`, `init`ed, with its model.
fn build_guest(
    registry: &crate::registry::Registry,
    spec: &PolicySpec,
    instrument: InstrumentId,
) -> Result<Box<dyn StrategyGuest + Send>, LiveError> {
    let policy = registry
        .instantiate_policy(&spec.guest, &spec.config)
        .map_err(|e| e.context(format!("policy `{}`", spec.name)))?;
    crate::policy::build(spec, Box::new(policy), instrument)
}
