//! Guest modules: uploads are validated and compiled by the host, stored
//! (bytes, versions, precompiled artifacts) in the store, and instantiated
//! off the event loop when a version is activated.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasmtrade_host::{ComponentOutline, GuestEngine, GuestWorld, IndicatorModule, StrategyModule};
use wasmtrade_model::{GuestContext, Instruments};
use wasmtrade_store::{ContentHash, Module, ModuleKind, Store, Upload, VersionStatus};

use crate::clock::unix_now;
use crate::core::NewGuest;
use crate::error::{Field, LiveError};
use crate::view::GuestKind;

/// A compiled module.
#[derive(Clone)]
enum Compiled {
    Strategy(Arc<StrategyModule>),
    Indicator(Arc<IndicatorModule>),
}

/// An upload, compiled and serialised, not yet stored.
pub(crate) struct CompiledUpload {
    compiled: Compiled,
    artifact: Vec<u8>,
    /// Validation and compilation time, nanoseconds.
    compile_ns: u64,
}

fn world_of(kind: GuestKind) -> GuestWorld {
    match kind {
        GuestKind::Strategy => GuestWorld::Strategy,
        GuestKind::Indicator => GuestWorld::Indicator,
    }
}

/// Validates and compiles an upload (the expensive step, run under the
/// [`CompileGate`](crate::compile::CompileGate)); nothing is stored. Takes
/// the engine only, not the registry: a compilation that overruns its
/// deadline keeps running, and must not keep the store open.
pub(crate) fn compile_upload(
    host: &GuestEngine,
    kind: GuestKind,
    bytes: &[u8],
) -> Result<CompiledUpload, LiveError> {
    let watch = crate::clock::Stopwatch::start();
    let compiled = match kind {
        GuestKind::Strategy => Compiled::Strategy(Arc::new(host.load_strategy(bytes)?)),
        GuestKind::Indicator => Compiled::Indicator(Arc::new(host.load_indicator(bytes)?)),
    };
    let artifact = match &compiled {
        Compiled::Strategy(m) => m.precompiled()?,
        Compiled::Indicator(m) => m.precompiled()?,
    };
    Ok(CompiledUpload {
        compiled,
        artifact,
        compile_ns: watch.elapsed_ns(),
    })
}

/// What an upload declares about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadMeta {
    /// Module name.
    pub name: String,
    /// World.
    pub kind: GuestKind,
    /// Version label.
    pub label: String,
    /// Hex sha256 the bytes must have.
    pub sha256: String,
    /// Declared size (0 = not declared).
    pub size: u64,
    /// The version's configuration, handed to the guest's init whenever
    /// this version is activated or rolled back to without a new one
    /// (empty = the module's active configuration at upload).
    pub config: String,
}

/// The result of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// Module name.
    pub name: String,
    /// The version the bytes got.
    pub version: u32,
    /// Hex sha256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// False if the bytes already were a version of the module.
    pub created: bool,
    /// Validation and compilation time, nanoseconds.
    pub compile_ns: u64,
}

/// Module names: what the store, the API and the strategy ids accept
/// ([`MODULE_NAME_RULE`](wasmtrade_model::MODULE_NAME_RULE)).
pub fn check_name(name: &str) -> Result<(), LiveError> {
    wasmtrade_model::check_module_name(name).map_err(|e| LiveError::InvalidField {
        field: Field::Name,
        message: e.to_string(),
    })
}

/// Checks that `config` is empty or a JSON object.
pub fn check_config(config: &str) -> Result<(), LiveError> {
    if config.trim().is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<serde_json::Value>(config) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(other) => Err(LiveError::InvalidField {
            field: Field::Config,
            message: format!(
                "guest config must be a JSON object, got {}",
                match other {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                }
            ),
        }),
        Err(e) => Err(LiveError::InvalidField {
            field: Field::Config,
            message: format!("guest config is not valid JSON: {e}"),
        }),
    }
}

fn kind_of(kind: ModuleKind) -> Result<GuestKind, LiveError> {
    match kind {
        ModuleKind::Strategy => Ok(GuestKind::Strategy),
        ModuleKind::Indicator => Ok(GuestKind::Indicator),
        ModuleKind::Policy => Err(LiveError::FailedPrecondition(
            "policy modules are not run by this runtime version".into(),
        )),
    }
}

/// Modules in the store and their compiled forms.
pub(crate) struct Registry {
    store: Arc<Store>,
    host: Arc<GuestEngine>,
    instruments: Arc<Instruments>,
    seed: u64,
    compiled: Mutex<BTreeMap<ContentHash, Compiled>>,
}

impl Registry {
    pub(crate) fn new(
        store: Arc<Store>,
        host: Arc<GuestEngine>,
        instruments: Arc<Instruments>,
        seed: u64,
    ) -> Self {
        // Artifacts compiled by another engine configuration (a wasmtime
        // upgrade, other limits) can never be loaded again: drop them.
        match store.artifacts().retain_fingerprint(&host.engine_fingerprint()) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                "deleted artifacts compiled by another engine configuration"
            ),
            Err(e) => tracing::warn!(error = %e, "could not delete artifacts of other engine configurations"),
        }
        Self {
            store,
            host,
            instruments,
            seed,
            compiled: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn guest_instances(&self) -> (u64, u64) {
        (self.host.guests_created(), self.host.live_guests() as u64)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The store, shared (for blocking tasks).
    pub(crate) fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The checks of an upload that need no compilation (name, config, the
    /// kind an existing module has, and the host's
    /// [`inspect`](GuestEngine::inspect): size, header, imports, world
    /// exports), in milliseconds: a refusal never waits for a compile slot.
    pub(crate) fn precheck(&self, meta: &UploadMeta, bytes: &[u8]) -> Result<ComponentOutline, LiveError> {
        check_name(&meta.name)?;
        check_config(&meta.config)?;
        self.check_kind(meta)?;
        Ok(self.host.inspect(world_of(meta.kind), bytes)?)
    }

    /// Refuses an upload of another kind than the module of that name.
    fn check_kind(&self, meta: &UploadMeta) -> Result<(), LiveError> {
        if let Some(existing) = self.store.modules().get(&meta.name)?
            && kind_of(existing.kind)? != meta.kind
        {
            return Err(LiveError::FailedPrecondition(format!(
                "`{}` is {} but the upload is {}: use another name",
                meta.name,
                kind_of(existing.kind)?,
                meta.kind
            )));
        }
        Ok(())
    }

    /// The engine, for [`compile_upload`] on a blocking thread.
    pub(crate) fn host(&self) -> Arc<GuestEngine> {
        self.host.clone()
    }

    /// Stores a compiled upload whose sha256 and size the caller has checked.
    pub(crate) fn store_upload(
        &self,
        meta: &UploadMeta,
        bytes: &[u8],
        who: &str,
        done: CompiledUpload,
    ) -> Result<Uploaded, LiveError> {
        let CompiledUpload {
            compiled,
            artifact,
            compile_ns,
        } = done;
        // Again: another upload of the name may have been stored meanwhile.
        self.check_kind(meta)?;
        let hash = ContentHash::of(bytes);
        self.store
            .artifacts()
            .put(&hash, &self.host.engine_fingerprint(), &artifact)?;
        let before = self.store.modules().get(&meta.name)?;
        let upload = Upload {
            name: &meta.name,
            kind: meta.kind.into(),
            label: &meta.label,
            uploaded_by: who,
            uploaded_at: unix_now(),
            config: (!meta.config.trim().is_empty()).then_some(meta.config.as_str()),
        };
        let version = self.store.modules().add_version(&upload, bytes)?;
        let created = before.is_none_or(|m| m.version(version.version).is_none());
        if let Ok(mut cache) = self.compiled.lock() {
            cache.insert(hash, compiled);
        }
        Ok(Uploaded {
            name: meta.name.clone(),
            version: version.version,
            sha256: hash.to_string(),
            size: bytes.len() as u64,
            created,
            compile_ns,
        })
    }

    /// The module `name`.
    pub(crate) fn module(&self, name: &str) -> Result<Module, LiveError> {
        self.store.modules().get(name)?.ok_or_else(|| {
            LiveError::NotFound(format!(
                "no module named `{name}`: upload it first (List shows what exists)"
            ))
        })
    }

    /// Checks that `version` of `module` may run and returns its hash.
    pub(crate) fn runnable(&self, module: &Module, version: u32) -> Result<ContentHash, LiveError> {
        let v = module.version(version).ok_or_else(|| {
            let known: Vec<String> = module.versions.iter().map(|v| v.version.to_string()).collect();
            LiveError::NotFound(format!(
                "module `{}` has no version {version} (versions: {})",
                module.name,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        match v.status {
            VersionStatus::Removed => Err(LiveError::FailedPrecondition(format!(
                "module `{}` version {version} was removed: upload it again to use it",
                module.name
            ))),
            VersionStatus::Quarantined => Err(LiveError::FailedPrecondition(format!(
                "module `{}` version {version} is quarantined: upload a fixed version",
                module.name
            ))),
            VersionStatus::Staged | VersionStatus::Released => Ok(v.sha256),
        }
    }

    fn compiled(&self, kind: GuestKind, hash: &ContentHash) -> Result<Compiled, LiveError> {
        if let Ok(cache) = self.compiled.lock()
            && let Some(c) = cache.get(hash)
        {
            return Ok(c.clone());
        }
        let fingerprint = self.host.engine_fingerprint();
        let from_artifact = match self.store.artifacts().get(hash, &fingerprint)? {
            Some(artifact) => match kind {
                GuestKind::Strategy => self
                    .host
                    .load_precompiled_strategy(&artifact)
                    .map(|m| Compiled::Strategy(Arc::new(m)))
                    .ok(),
                GuestKind::Indicator => self
                    .host
                    .load_precompiled_indicator(&artifact)
                    .map(|m| Compiled::Indicator(Arc::new(m)))
                    .ok(),
            },
            None => None,
        };
        let compiled = match from_artifact {
            Some(c) => {
                let stats = self.store.artifacts().stats();
                tracing::info!(module = %hash, hits = stats.hits, misses = stats.misses, "loaded the precompiled artifact: no compile");
                c
            }
            None => {
                tracing::info!(module = %hash, "no usable precompiled artifact: compiling from the stored wasm");
                let bytes = self.store.modules().bytes(hash)?.ok_or_else(|| {
                    LiveError::Internal(format!("the store has no bytes for module {hash}"))
                })?;
                let c = match kind {
                    GuestKind::Strategy => Compiled::Strategy(Arc::new(self.host.load_strategy(&bytes)?)),
                    GuestKind::Indicator => Compiled::Indicator(Arc::new(self.host.load_indicator(&bytes)?)),
                };
                let artifact = match &c {
                    Compiled::Strategy(m) => m.precompiled()?,
                    Compiled::Indicator(m) => m.precompiled()?,
                };
                self.store.artifacts().put(hash, &fingerprint, &artifact)?;
                c
            }
        };
        if let Ok(mut cache) = self.compiled.lock() {
            cache.insert(*hash, compiled.clone());
        }
        Ok(compiled)
    }

    /// Starts `version` of `module` with `config`: instantiation and the
    /// guest's `init` run here, off the event loop.
    pub(crate) fn instantiate(
        &self,
        module: &Module,
        version: u32,
        config: &str,
    ) -> Result<NewGuest, LiveError> {
        let hash = self.runnable(module, version)?;
        let kind = kind_of(module.kind)?;
        let config = if config.trim().is_empty() { "{}" } else { config };
        let ctx = GuestContext::new(self.instruments.clone(), self.seed);
        let failed = |e| {
            LiveError::host(
                format!("module `{}` version {version} failed to start", module.name),
                e,
            )
        };
        let guest = match self.compiled(kind, &hash)? {
            Compiled::Strategy(m) => {
                NewGuest::Strategy(Box::new(m.instantiate(ctx, config).map_err(failed)?))
            }
            Compiled::Indicator(m) => {
                NewGuest::Indicator(Box::new(m.instantiate(ctx, config).map_err(failed)?))
            }
        };
        Ok(guest)
    }

    /// Compiles policy guest `wasm` (or loads its precompiled artifact from
    /// the store) and starts it with `config` (no model yet): instantiation
    /// and `init` run here, off the event loop.
    pub(crate) fn instantiate_policy(
        &self,
        wasm: &[u8],
        config: &str,
    ) -> Result<wasmtrade_host::WasmPolicy, LiveError> {
        let config = if config.trim().is_empty() { "{}" } else { config };
        let hash = ContentHash::of(wasm);
        let fingerprint = self.host.engine_fingerprint();
        let cached = self
            .store
            .artifacts()
            .get(&hash, &fingerprint)?
            .and_then(|artifact| self.host.load_precompiled_policy(&artifact).ok());
        let module = match cached {
            Some(m) => {
                tracing::info!(module = %hash, "policy: loaded the precompiled artifact: no compile");
                m
            }
            None => {
                // Compiling tract's operator set takes a while: cache it for
                // the next start, as uploaded modules are.
                let m = self.host.load_policy(wasm)?;
                self.store
                    .artifacts()
                    .put(&hash, &fingerprint, &m.precompiled()?)?;
                m
            }
        };
        let ctx = GuestContext::new(self.instruments.clone(), self.seed);
        Ok(module.instantiate(ctx, config)?)
    }

    /// Forgets compiled forms no version refers to any more.
    pub(crate) fn forget(&self, hash: &ContentHash) {
        if let Ok(mut cache) = self.compiled.lock() {
            cache.remove(hash);
        }
    }
}
