//! The module service of a [`Handle`]: uploads, activations and rollbacks
//! (each version with its own configuration), removal, shadow runs,
//! promotion, config changes, the start-up restore, logs and the audit trail.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use wasmtrade_model::StrategyId;
use wasmtrade_store::{AuditRecord, Module};

use super::{Handle, ModuleInfo, blocking};
use crate::clock::unix_now;
use crate::core::{Command, NewGuest};
use crate::error::{Field, LiveError};
use crate::event::{Event, SwapAction};
use crate::registry::{UploadMeta, Uploaded, check_config, check_name};
use crate::view::{Installed, ShadowInfo};

impl Handle {
    /// Re-instantiates `version` of quarantined strategy `name` and runs it
    /// from its last good snapshot (the supervisor's restart).
    pub(crate) async fn restart(&self, name: &str, version: u32) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        if self.is_policy(name) {
            return self.restart_policy(name, version).await;
        }
        let module = self.module(name).await?;
        let guest = match self.start_guest(&module, version, &module.config).await? {
            NewGuest::Strategy(g) => g,
            NewGuest::Indicator(_) => {
                return Err(LiveError::FailedPrecondition(format!("`{name}` is an indicator")));
            }
        };
        self.command(|reply| Command::Restart {
            name: name.to_string(),
            version,
            guest,
            reply,
        })
        .await?
    }

    /// Stops strategy `name` for good after a fault that would repeat:
    /// `version` is marked quarantined in the store (a restart of the
    /// runtime leaves it stopped; it cannot be activated again), the audit
    /// trail says why and the loop publishes that it stopped.
    pub(crate) async fn quarantine_for_good(&self, name: &str, version: u32, reason: &str) {
        let _guard = self.inner.changes.lock().await;
        let registry = self.inner.registry.clone();
        let n = name.to_string();
        match blocking(move || Ok(registry.store().modules().quarantine(&n, version)?)).await {
            Ok(_) => self.record("runtime", "stopped", name, version, reason),
            Err(e) => {
                tracing::error!(
                    module = name,
                    version,
                    "cannot mark the version quarantined in the store: {e}"
                );
                self.record(
                    "runtime",
                    "stopped",
                    name,
                    version,
                    &format!("{reason} (not stored: {e})"),
                );
            }
        }
        let _ = self.send_command(Command::Stopped {
            name: name.to_string(),
            version,
            reason: reason.to_string(),
        });
    }

    pub(super) fn audit(
        &self,
        who: &str,
        action: &str,
        name: &str,
        version: u32,
        sha256: &str,
        detail: &str,
    ) {
        let record = AuditRecord {
            ts: unix_now(),
            who: who.to_string(),
            action: action.to_string(),
            name: name.to_string(),
            version,
            sha256: sha256.to_string(),
            detail: detail.to_string(),
        };
        if let Err(e) = self.inner.registry.store().audit().append(&record) {
            tracing::error!(action, module = name, "cannot write the audit record: {e}");
        }
    }

    fn sha_of(module: &Module, version: u32) -> String {
        module
            .version(version)
            .map(|v| v.sha256.to_string())
            .unwrap_or_default()
    }

    /// Stores a new version: size and sha256 are checked against what the
    /// upload declared, then the host checks the component's imports and
    /// world exports without compiling (a refusal is immediate), then it is
    /// compiled under `guests.compile` (slots, memory estimate, deadline),
    /// type-checked and stored with its precompiled artifact.
    pub async fn upload(&self, meta: UploadMeta, bytes: Vec<u8>, who: &str) -> Result<Uploaded, LiveError> {
        check_name(&meta.name)?;
        let limit = self.max_upload_bytes();
        if bytes.len() as u64 > limit {
            return Err(LiveError::ResourceExhausted(format!(
                "upload of `{}` is {} bytes, above the limit of {limit} bytes (guests.max_upload_bytes)",
                meta.name,
                bytes.len()
            )));
        }
        if meta.size != 0 && meta.size != bytes.len() as u64 {
            return Err(LiveError::InvalidField {
                field: Field::Size,
                message: format!(
                    "upload of `{}` is truncated or padded: the header declared {} bytes but {} arrived",
                    meta.name,
                    meta.size,
                    bytes.len()
                ),
            });
        }
        let declared = meta.sha256.trim().to_ascii_lowercase();
        if declared.len() != 64 || !declared.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LiveError::InvalidField {
                field: Field::Sha256,
                message: format!(
                    "upload of `{}`: sha256 {:?} is not 64 hex digits",
                    meta.name, meta.sha256
                ),
            });
        }
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != declared {
            return Err(LiveError::InvalidField {
                field: Field::Sha256,
                message: format!(
                    "upload of `{}`: sha256 mismatch: the header says {declared} but the {} bytes received hash to {actual} (corrupted or truncated upload)",
                    meta.name,
                    bytes.len()
                ),
            });
        }
        // Imports and world first, without compiling: a refusal is immediate
        // and never waits behind another upload's compilation.
        let bytes = Arc::new(bytes);
        let (registry, meta2, bytes2) = (self.inner.registry.clone(), meta.clone(), bytes.clone());
        let outline = blocking(move || registry.precheck(&meta2, &bytes2)).await?;
        let (host, kind, bytes2) = (self.inner.registry.host(), meta.kind, bytes.clone());
        let compiled = self
            .inner
            .compiles
            .run(&meta.name, outline.code_bytes(), move || {
                crate::registry::compile_upload(&host, kind, &bytes2)
            })
            .await?;
        let (registry, meta2, who_owned) = (self.inner.registry.clone(), meta.clone(), who.to_string());
        let done = blocking(move || registry.store_upload(&meta2, &bytes, &who_owned, compiled)).await?;
        self.audit(who, "upload", &done.name, done.version, &done.sha256, &meta.label);
        Ok(done)
    }

    /// Every module (or the one named), with what runs of it.
    pub async fn list(&self, name: Option<&str>) -> Result<Vec<ModuleInfo>, LiveError> {
        let registry = self.inner.registry.clone();
        let modules = blocking(move || Ok(registry.store().modules().list()?)).await?;
        let running = self.command(|reply| Command::Status { reply }).await?;
        let mut out: Vec<ModuleInfo> = modules
            .into_iter()
            .filter(|m| name.is_none_or(|n| m.name == n))
            .map(|module| {
                let running = running.iter().find(|r| r.name == module.name).cloned();
                ModuleInfo { module, running }
            })
            .collect();
        // Policies come from the configuration, not the store: listed with
        // the model version they run as their active version.
        for policy in running.iter().filter(|r| r.model.is_some()) {
            if name.is_some_and(|n| policy.name != n) {
                continue;
            }
            let module = Module {
                name: policy.name.clone(),
                kind: wasmtrade_store::ModuleKind::Policy,
                versions: Vec::new(),
                active: Some(policy.version),
                config: policy.config.clone(),
                previous: None,
            };
            out.push(ModuleInfo {
                module,
                running: Some(policy.clone()),
            });
        }
        out.sort_by(|a, b| a.module.name.cmp(&b.module.name));
        if let Some(n) = name
            && out.is_empty()
        {
            return Err(LiveError::NotFound(format!("no module named `{n}`")));
        }
        Ok(out)
    }

    async fn module(&self, name: &str) -> Result<Module, LiveError> {
        check_name(name)?;
        let registry = self.inner.registry.clone();
        let name = name.to_string();
        blocking(move || registry.module(&name)).await
    }

    async fn start_guest(&self, module: &Module, version: u32, config: &str) -> Result<NewGuest, LiveError> {
        let registry = self.inner.registry.clone();
        let (module, config) = (module.clone(), config.to_string());
        blocking(move || registry.instantiate(&module, version, &config)).await
    }

    /// Installs `version` of `name` with `config` through the event loop,
    /// which records the new active pair in the store before the swap
    /// counts as done (except for a start-up `restore` of the pair the
    /// store already has).
    async fn install(
        &self,
        module: &Module,
        version: u32,
        config: String,
        action: SwapAction,
        who: &str,
        restore: Option<Vec<u8>>,
    ) -> Result<Installed, LiveError> {
        let name = module.name.clone();
        let sha = Self::sha_of(module, version);
        let guest = match self.start_guest(module, version, &config).await {
            Ok(g) => g,
            Err(e) => {
                self.audit(
                    who,
                    SwapAction::AutoRollback.as_str(),
                    &name,
                    version,
                    &sha,
                    &e.to_string(),
                );
                return Err(e);
            }
        };
        let reply = self
            .command(|reply| Command::Install {
                name: name.clone(),
                version,
                config,
                guest,
                action,
                restore,
                persist: action != SwapAction::Restore,
                reply,
            })
            .await?;
        match reply {
            Ok(done) => {
                self.audit(who, action.as_str(), &name, version, &sha, "");
                Ok(done)
            }
            Err(e) => {
                self.audit(
                    who,
                    SwapAction::AutoRollback.as_str(),
                    &name,
                    version,
                    &sha,
                    &e.to_string(),
                );
                Err(e)
            }
        }
    }

    /// Makes `version` of `name` active between two events, handing over
    /// the running version's state. It runs with `config` when given (which
    /// becomes the version's configuration), else with its own.
    pub async fn activate(
        &self,
        name: &str,
        version: u32,
        config: Option<String>,
        who: &str,
    ) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        self.inner.registry.runnable(&module, version)?;
        let config = match config {
            Some(config) => {
                check_config(&config)?;
                config
            }
            None => module.config_of(version).unwrap_or_default().to_string(),
        };
        self.install(&module, version, config, SwapAction::Activate, who, None)
            .await
    }

    /// Re-activates version `to` with its own configuration or, without
    /// `to`, the `(version, config)` pair that was active before the
    /// current one (as the store recorded it with the activation).
    pub async fn rollback(&self, name: &str, to: Option<u32>, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let (target, config) = match to {
            Some(v) => (v, module.config_of(v).unwrap_or_default().to_string()),
            None => match module.previous.clone() {
                Some(pair) => (pair.version, pair.config),
                None => {
                    return Err(LiveError::FailedPrecondition(format!(
                        "`{name}` has no earlier active version to roll back to: name one with --to"
                    )));
                }
            },
        };
        self.inner.registry.runnable(&module, target)?;
        self.install(&module, target, config, SwapAction::Rollback, who, None)
            .await
    }

    /// Removes one version (not the active one) or, with `None`, the whole
    /// module: it stops (its orders are cancelled) and every version is
    /// marked removed.
    pub async fn remove(&self, name: &str, version: Option<u32>, who: &str) -> Result<Vec<u32>, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let registry = self.inner.registry.clone();
        let n = name.to_string();
        match version {
            Some(v) => {
                if module.version(v).is_none() {
                    return Err(LiveError::NotFound(format!("module `{name}` has no version {v}")));
                }
                let sha = Self::sha_of(&module, v);
                let hash = module.version(v).map(|m| m.sha256);
                let r2 = registry.clone();
                blocking(move || Ok(r2.store().modules().remove(&n, v)?)).await?;
                // The compiled module leaves memory too (a running shadow
                // keeps its own reference; a later use reloads it).
                if let Some(hash) = hash {
                    registry.forget(&hash);
                }
                self.audit(who, "remove", name, v, &sha, "");
                Ok(vec![v])
            }
            None => {
                self.command(|reply| Command::Remove {
                    name: name.to_string(),
                    reply,
                })
                .await??;
                let removed: Vec<u32> = module
                    .versions
                    .iter()
                    .filter(|v| v.status != wasmtrade_store::VersionStatus::Removed)
                    .map(|v| v.version)
                    .collect();
                let hashes: Vec<_> = module.versions.iter().map(|v| v.sha256).collect();
                let r2 = registry.clone();
                blocking(move || Ok(r2.store().modules().remove_module(&n)?)).await?;
                for h in hashes {
                    registry.forget(&h);
                }
                self.audit(who, "remove", name, 0, "", "whole module");
                Ok(removed)
            }
        }
    }

    /// Starts `version` of strategy `name` in shadow of the active version.
    pub async fn start_shadow(&self, name: &str, version: u32, who: &str) -> Result<ShadowInfo, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let config = module.config_of(version).unwrap_or_default().to_string();
        let guest = match self.start_guest(&module, version, &config).await? {
            NewGuest::Strategy(g) => g,
            NewGuest::Indicator(_) => {
                return Err(LiveError::FailedPrecondition(format!(
                    "`{name}` is an indicator: only strategies run in shadow"
                )));
            }
        };
        let info = self
            .command(|reply| Command::Shadow {
                name: name.to_string(),
                version,
                config,
                guest,
                reply,
            })
            .await??;
        self.audit(
            who,
            "shadow_start",
            name,
            version,
            &Self::sha_of(&module, version),
            "",
        );
        Ok(info)
    }

    /// Stops the shadow run of `name`.
    pub async fn stop_shadow(&self, name: &str, who: &str) -> Result<ShadowInfo, LiveError> {
        let _guard = self.inner.changes.lock().await;
        check_name(name)?;
        let info = self
            .command(|reply| Command::StopShadow {
                name: name.to_string(),
                reply,
            })
            .await??;
        self.audit(who, "shadow_stop", name, info.version, "", "");
        Ok(info)
    }

    /// Makes the shadow of `name` its active version (the loop records it
    /// in the store, with the shadow's configuration, before it counts).
    pub async fn promote(&self, name: &str, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let done = self
            .command(|reply| Command::Promote {
                name: name.to_string(),
                reply,
            })
            .await??;
        let v = done.version;
        self.audit(
            who,
            SwapAction::Promote.as_str(),
            name,
            v,
            &Self::sha_of(&module, v),
            "",
        );
        Ok(done)
    }

    /// Restarts the running version of `name` with `config` (state handed
    /// over); `config` becomes that version's configuration.
    pub async fn update_config(&self, name: &str, config: &str, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        check_config(config)?;
        let module = self.module(name).await?;
        let Some(version) = module.active else {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` has no active version: activate one first"
            )));
        };
        self.install(
            &module,
            version,
            config.to_string(),
            SwapAction::Config,
            who,
            None,
        )
        .await
    }

    /// At start-up: runs every module's active version, restoring its last snapshot.
    pub(crate) async fn restore_active(&self) -> Result<(), LiveError> {
        let registry = self.inner.registry.clone();
        let modules = blocking(move || Ok(registry.store().modules().list()?)).await?;
        let mut since = Vec::new();
        for module in modules {
            let Some(version) = module.active else { continue };
            let registry = self.inner.registry.clone();
            let id = StrategyId::new(&module.name);
            let snapshot = blocking(move || Ok(registry.store().snapshots().latest(&id)?)).await?;
            let taken_at = snapshot.as_ref().map(|s| s.taken_at);
            let state = snapshot.map(|s| s.state);
            let config = module.config.clone();
            match self
                .install(&module, version, config, SwapAction::Restore, "runtime", state)
                .await
            {
                Ok(done) => {
                    tracing::info!(module = %module.name, version, state_bytes = done.state_bytes, "restored");
                    if let Some(ts) = taken_at
                        && done.state_bytes > 0
                    {
                        since.push((module.name.clone(), ts));
                    }
                }
                Err(e) => {
                    tracing::error!(module = %module.name, version, "cannot restore the active version: {e}")
                }
            }
        }
        // What happened after each snapshot is in the rebuilt book; the guests
        // get those fills now (before reconciliation adds the ones the venue
        // alone knows).
        let n = self.command(|reply| Command::Redeliver { since, reply }).await?;
        if n > 0 {
            tracing::info!(
                fills = n,
                "fills after the last snapshots handed to the restored strategies"
            );
        }
        Ok(())
    }

    /// The kept log lines of `name` (the last `tail`, 0 = all) and a
    /// receiver of the events after them.
    pub fn logs(&self, name: &str, tail: usize) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        self.inner.bus.logs(name, tail)
    }

    /// The audit trail (of one module, or all).
    pub async fn audit_trail(&self, name: Option<&str>) -> Result<Vec<AuditRecord>, LiveError> {
        let registry = self.inner.registry.clone();
        let name = name.map(str::to_string);
        blocking(move || Ok(registry.store().audit().list(name.as_deref())?)).await
    }
}
