//! The runtime's API as async methods: what the gRPC server (and tests)
//! call. Module changes are serialised; each one is audited with who did it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, broadcast, mpsc, oneshot};
use wasmtrade_model::{Instruments, Order, StrategyId};
use wasmtrade_oms::Position;
use wasmtrade_store::{AuditRecord, Module};

use crate::bus::{BarInterest, Bus};
use crate::clock::unix_now;
use crate::config::LiveConfig;
use crate::core::{Command, Control, Input, NewGuest};
use crate::error::LiveError;
use crate::event::Event;
use crate::feed::FeedStats;
use crate::registry::{Registry, UploadMeta, Uploaded, check_config, check_name};
use crate::view::{AccountInfo, Installed, RunningInfo, ShadowInfo};

/// Shared state behind a [`Handle`].
pub(crate) struct Inner {
    pub(crate) tx: mpsc::Sender<Input>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) registry: Arc<Registry>,
    instruments: Arc<Instruments>,
    config: LiveConfig,
    feed: Arc<FeedStats>,
    ready: AtomicBool,
    pub(crate) changes: Mutex<()>,
    /// Kill switches engaged here take effect inside the event in flight.
    pub(crate) kill_signal: Arc<wasmtrade_engine::KillSignal>,
    /// Extra readiness conditions (Lease fences).
    readiness: Vec<crate::gate::ReadinessCheck>,
    /// The broker connection: `None` while connected, else why not.
    connection: crate::gate::ReadinessCheck,
    /// The broker adapter's own figures (reconnects, pacing).
    figures: crate::gate::FigureProbe,
    /// Broker requests and reports, journal commit times.
    traffic: Arc<crate::Traffic>,
    /// Set once shutdown has finished: background tasks (supervisor,
    /// connection watch) drop their handles, so the store is closed when
    /// the last outside handle goes (an in-process restart can reopen it).
    stopped: tokio::sync::watch::Sender<bool>,
    /// The outcome of start-up reconciliation.
    pub(crate) reconciliation: std::sync::Mutex<Option<crate::reconcile::ReconcileOutcome>>,
    /// Bounds the compilations of uploads (`guests.compile`).
    compiles: crate::compile::CompileGate,
}

impl Inner {
    #[allow(clippy::too_many_arguments)] // one field each; built in one place (Runtime::start)
    pub(crate) fn new(
        tx: mpsc::Sender<Input>,
        control: mpsc::UnboundedSender<Control>,
        bus: Arc<Bus>,
        registry: Arc<Registry>,
        instruments: Arc<Instruments>,
        config: LiveConfig,
        feed: Arc<FeedStats>,
        kill_signal: Arc<wasmtrade_engine::KillSignal>,
        readiness: Vec<crate::gate::ReadinessCheck>,
        connection: crate::gate::ReadinessCheck,
        figures: crate::gate::FigureProbe,
        traffic: Arc<crate::Traffic>,
    ) -> Self {
        Self {
            compiles: crate::compile::CompileGate::new(config.guests.compile.clone()),
            tx,
            control,
            bus,
            registry,
            instruments,
            config,
            feed,
            ready: AtomicBool::new(false),
            changes: Mutex::new(()),
            kill_signal,
            readiness,
            connection,
            figures,
            traffic,
            reconciliation: std::sync::Mutex::new(None),
            stopped: tokio::sync::watch::channel(false).0,
        }
    }
}

/// A module as stored, with what runs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Versions, status, active version and config from the store.
    pub module: Module,
    /// The running guest, if any.
    pub running: Option<RunningInfo>,
}

/// Cheap-to-clone access to a running runtime.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LiveError> + Send + 'static,
) -> Result<T, LiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LiveError::Internal(format!("a blocking task failed: {e}")))?
}

impl Handle {
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// True once start-up finished and until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && self.not_ready_reasons().is_empty()
    }

    /// Why the runtime is not ready although started: the broker connection
    /// is down, a Lease fence is closed (empty when all is well).
    pub fn not_ready_reasons(&self) -> Vec<String> {
        let connection = (self.inner.connection)();
        self.inner
            .readiness
            .iter()
            .filter_map(|check| check())
            .chain(connection)
            .collect()
    }

    /// The broker adapter's figures (reconnects, pacing); empty for the paper brokers.
    pub fn broker_figures(&self) -> Vec<crate::gate::BrokerFigure> {
        (self.inner.figures)()
    }

    /// Broker requests and reports so far, and journal commit times.
    pub fn traffic(&self) -> crate::TrafficFigures {
        self.inner.traffic.figures()
    }

    /// `(appended, not yet durable)` records of the order journal.
    pub fn journal_progress(&self) -> (u64, u64) {
        let journal = self.inner.registry.store().journal();
        let seq = |s: Option<wasmtrade_store::Seq>| s.map_or(0, |s| s.0);
        let (written, durable) = (seq(journal.last_seq()), seq(journal.durable_seq()));
        (written, written.saturating_sub(durable))
    }

    /// `(created since start, alive now)` guest instances of the host engine.
    pub fn guest_instances(&self) -> (u64, u64) {
        self.inner.registry.guest_instances()
    }

    /// `None` while the broker is connected, else why not.
    pub fn broker_disconnected(&self) -> Option<String> {
        (self.inner.connection)()
    }

    /// Tells the background tasks the runtime has shut down.
    pub(crate) fn mark_stopped(&self) {
        self.inner.stopped.send_replace(true);
    }

    /// Resolves once [`Handle::mark_stopped`] ran.
    pub(crate) fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.stopped.subscribe();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }

    /// Publishes a `broker_connection` event whenever the broker connection
    /// goes down or comes back (polled every `every`), until the bus closes.
    pub(crate) fn watch_connection(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        let stopped = self.stopped();
        tokio::spawn(async move {
            tokio::pin!(stopped);
            let mut last: Option<String> = None;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = &mut stopped => return,
                }
                if !handle.inner.ready.load(Ordering::Relaxed) && last.is_some() {
                    return; // shutting down
                }
                let now = handle.broker_disconnected();
                if now != last {
                    if let Some(why) = &now {
                        tracing::error!("broker disconnected: {why}");
                    } else {
                        tracing::info!("broker connected again");
                    }
                    handle.inner.bus.publish(
                        crate::clock::unix_now(),
                        crate::event::EventKind::BrokerConnection {
                            connected: now.is_none(),
                            detail: now.clone().unwrap_or_default(),
                        },
                    );
                    last = now;
                }
                if handle.inner.control.is_closed() {
                    return;
                }
            }
        })
    }

    /// The instruments of the market.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.inner.instruments
    }

    /// The configuration in force.
    pub fn config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// Bars the paper market has played so far.
    pub fn market_bars(&self) -> u64 {
        self.inner.feed.bars.load(Ordering::Relaxed)
    }

    /// True once the paper market has nothing more to play.
    pub fn market_finished(&self) -> bool {
        self.inner.feed.finished.load(Ordering::Relaxed)
    }

    /// Largest upload accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.config.guests.max_upload_bytes
    }

    pub(crate) async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LiveError> {
        let (tx, rx) = oneshot::channel();
        self.send_control(Control::Command(make(tx)))?;
        rx.await.map_err(|_| LiveError::stopped())
    }

    /// Starts policy `spec` (compile, `init`, first model load off the
    /// loop) and adds it to the engine between two events.
    pub(crate) async fn add_policy(&self, spec: crate::policy::PolicySpec) -> Result<(), LiveError> {
        let instrument = self
            .instruments()
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
            })?;
        let registry = self.inner.registry.clone();
        let name = spec.name.clone();
        let hosted = crate::policy::Hosted {
            model: spec.model.clone(),
            version: spec.model_version,
        };
        let guest = tokio::task::spawn_blocking(move || {
            let policy = registry
                .instantiate_policy(&spec.guest, &spec.config)
                .map_err(|e| prefixed(&spec.name, e))?;
            crate::policy::build(&spec, Box::new(policy), instrument)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("policy start-up panicked: {e}")))??;
        self.command(|reply| Command::AddPolicy {
            name,
            hosted,
            guest,
            reply,
        })
        .await?
    }

    /// Hands version `version` of model `model` to the policies running it:
    /// each swaps its weights between two events and keeps its state. Replies
    /// with the policies that took it (none: no policy runs that model); a
    /// refused model leaves the old weights running and the error says why.
    pub async fn load_model(
        &self,
        model: &str,
        version: u64,
        bytes: Arc<Vec<u8>>,
    ) -> Result<Vec<String>, LiveError> {
        let model = model.to_string();
        self.command(|reply| Command::LoadModel {
            model,
            version,
            bytes,
            reply,
        })
        .await?
    }

    /// Queues a control message and wakes the loop if it idles (a full bar
    /// queue means it is busy and drains the control queue before each bar).
    pub(crate) fn send_control(&self, message: Control) -> Result<(), LiveError> {
        self.inner
            .control
            .send(message)
            .map_err(|_| LiveError::stopped())?;
        let _ = self.inner.tx.try_send(Input::Wake);
        Ok(())
    }

    /// Queues a command whose answer nobody waits for.
    pub(crate) fn send_command(&self, command: Command) -> Result<(), LiveError> {
        self.send_control(Control::Command(command))
    }

    /// An audit record without a sha256 (runtime actions).
    pub(crate) fn record(&self, who: &str, action: &str, name: &str, version: u32, detail: &str) {
        self.audit(who, action, name, version, "", detail);
    }

    /// Re-instantiates `version` of quarantined strategy `name` and runs it
    /// from its last good snapshot (the supervisor's restart).
    pub(crate) async fn restart(&self, name: &str, version: u32) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
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

    fn audit(&self, who: &str, action: &str, name: &str, version: u32, sha256: &str, detail: &str) {
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
            return Err(LiveError::InvalidArgument(format!(
                "upload of `{}` is truncated or padded: the header declared {} bytes but {} arrived",
                meta.name,
                meta.size,
                bytes.len()
            )));
        }
        let declared = meta.sha256.trim().to_ascii_lowercase();
        if declared.len() != 64 || !declared.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LiveError::InvalidArgument(format!(
                "upload of `{}`: sha256 {:?} is not 64 hex digits",
                meta.name, meta.sha256
            )));
        }
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != declared {
            return Err(LiveError::InvalidArgument(format!(
                "upload of `{}`: sha256 mismatch: the header says {declared} but the {} bytes received hash to {actual} (corrupted or truncated upload)",
                meta.name,
                bytes.len()
            )));
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
        let out: Vec<ModuleInfo> = modules
            .into_iter()
            .filter(|m| name.is_none_or(|n| m.name == n))
            .map(|module| {
                let running = running.iter().find(|r| r.name == module.name).cloned();
                ModuleInfo { module, running }
            })
            .collect();
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

    /// Installs `version` of `name` through the event loop; on success the
    /// store records it as active.
    async fn install(
        &self,
        module: &Module,
        version: u32,
        config: String,
        action: &'static str,
        who: &str,
        restore: Option<Vec<u8>>,
    ) -> Result<Installed, LiveError> {
        let name = module.name.clone();
        let sha = Self::sha_of(module, version);
        let guest = match self.start_guest(module, version, &config).await {
            Ok(g) => g,
            Err(e) => {
                self.audit(who, "auto_rollback", &name, version, &sha, &e.to_string());
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
                reply,
            })
            .await?;
        match reply {
            Ok(done) => {
                let registry = self.inner.registry.clone();
                let n = name.clone();
                blocking(move || Ok(registry.store().modules().activate(&n, version)?)).await?;
                self.audit(who, action, &name, version, &sha, "");
                Ok(done)
            }
            Err(e) => {
                self.audit(who, "auto_rollback", &name, version, &sha, &e.to_string());
                Err(e)
            }
        }
    }

    /// Makes `version` of `name` active between two events, handing over
    /// the running version's state.
    pub async fn activate(&self, name: &str, version: u32, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        self.inner.registry.runnable(&module, version)?;
        let config = module.config.clone();
        self.install(&module, version, config, "activate", who, None)
            .await
    }

    /// Re-activates `to`, or the version that was active before the current one.
    pub async fn rollback(&self, name: &str, to: Option<u32>, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let target = match to {
            Some(v) => v,
            None => self.previous_version(&module).await?,
        };
        self.inner.registry.runnable(&module, target)?;
        let config = module.config.clone();
        self.install(&module, target, config, "rollback", who, None).await
    }

    /// The version active before the current one, from the audit trail.
    async fn previous_version(&self, module: &Module) -> Result<u32, LiveError> {
        let registry = self.inner.registry.clone();
        let name = module.name.clone();
        let records = blocking(move || Ok(registry.store().audit().list(Some(&name))?)).await?;
        let current = module.active;
        let mut seen = Vec::new();
        for r in records.iter().rev() {
            if matches!(
                r.action.as_str(),
                "activate" | "rollback" | "promote" | "config" | "restore"
            ) && Some(r.version) != current
                && !seen.contains(&r.version)
            {
                seen.push(r.version);
                if self.inner.registry.runnable(module, r.version).is_ok() {
                    return Ok(r.version);
                }
            }
        }
        Err(LiveError::FailedPrecondition(format!(
            "`{}` has no earlier active version to roll back to: name one with --to",
            module.name
        )))
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
        let guest = match self.start_guest(&module, version, &module.config).await? {
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

    /// Makes the shadow of `name` its active version.
    pub async fn promote(&self, name: &str, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        let module = self.module(name).await?;
        let done = self
            .command(|reply| Command::Promote {
                name: name.to_string(),
                reply,
            })
            .await??;
        let registry = self.inner.registry.clone();
        let (n, v) = (name.to_string(), done.version);
        blocking(move || Ok(registry.store().modules().activate(&n, v)?)).await?;
        self.audit(who, "promote", name, v, &Self::sha_of(&module, v), "");
        Ok(done)
    }

    /// Restarts the running version of `name` with `config` (state handed over).
    pub async fn update_config(&self, name: &str, config: &str, who: &str) -> Result<Installed, LiveError> {
        let _guard = self.inner.changes.lock().await;
        check_config(config)?;
        let module = self.module(name).await?;
        let Some(version) = module.active else {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` has no active version: activate one first"
            )));
        };
        let done = self
            .install(&module, version, config.to_string(), "config", who, None)
            .await?;
        let registry = self.inner.registry.clone();
        let (n, c) = (name.to_string(), config.to_string());
        blocking(move || Ok(registry.store().modules().set_config(&n, &c)?)).await?;
        Ok(done)
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
                .install(&module, version, config, "restore", "runtime", state)
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

    /// Every event from now on; with `bars`, market bars too.
    pub fn subscribe(&self, bars: bool) -> (broadcast::Receiver<Arc<Event>>, Option<BarInterest>) {
        let interest = bars.then(|| self.inner.bus.want_bars());
        (self.inner.bus.subscribe(), interest)
    }

    /// The `limit` most recent orders (all or only open ones), optionally of one strategy.
    pub async fn orders(
        &self,
        open_only: bool,
        strategy: Option<String>,
        limit: usize,
    ) -> Result<Vec<Order>, LiveError> {
        self.command(|reply| Command::Orders {
            open_only,
            strategy,
            limit,
            reply,
        })
        .await
    }

    /// Positions, optionally of one strategy.
    pub async fn positions(
        &self,
        strategy: Option<String>,
    ) -> Result<Vec<(StrategyId, Position)>, LiveError> {
        self.command(|reply| Command::Positions { strategy, reply }).await
    }

    /// The account.
    pub async fn account(&self) -> Result<AccountInfo, LiveError> {
        self.command(|reply| Command::Account { reply }).await
    }
}

/// `policy `name`: ` before an error's message, keeping its kind.
fn prefixed(name: &str, e: LiveError) -> LiveError {
    let p = |m: String| format!("policy `{name}`: {m}");
    match e {
        LiveError::InvalidArgument(m) => LiveError::InvalidArgument(p(m)),
        LiveError::NotFound(m) => LiveError::NotFound(p(m)),
        LiveError::FailedPrecondition(m) => LiveError::FailedPrecondition(p(m)),
        LiveError::ResourceExhausted(m) => LiveError::ResourceExhausted(p(m)),
        LiveError::Aborted(m) => LiveError::Aborted(p(m)),
        LiveError::Unavailable(m) => LiveError::Unavailable(p(m)),
        LiveError::Internal(m) => LiveError::Internal(p(m)),
    }
}
