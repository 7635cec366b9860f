//! The one wasmtime [`Engine`], its linkers, and loading guests into it.

use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasData, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Strategy};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use crate::bindings::{indicator, policy, strategy};
use crate::epoch::{DeadlineTicks, EpochTicker};
use crate::hostcalls;
use crate::inspect::{self, ComponentOutline, GuestWorld};
use crate::live::LiveGuests;
use crate::memory::MemoryBudget;
use crate::module::Loaded;
use crate::state::GuestState;
use crate::validate::{self, INDICATOR_EXPORTS, POLICY_EXPORTS, STRATEGY_EXPORTS};
use crate::{HostConfig, HostError, IndicatorModule, PolicyModule, StrategyModule};

/// World names as errors show them.
pub(crate) const STRATEGY_WORLD: &str = "strategy@0.1.0";
pub(crate) const INDICATOR_WORLD: &str = "indicator@0.1.0";
pub(crate) const POLICY_WORLD: &str = "policy@0.1.0";

/// Header of artifacts from [`StrategyModule::precompiled`]: magic, then the
/// 32-byte sha256 of the source wasm, then wasmtime's serialised component.
const ARTIFACT_MAGIC: &[u8; 16] = b"wasmtrade-cwasm1";
const ARTIFACT_HEADER: usize = ARTIFACT_MAGIC.len() + 32;

/// Compiles, validates and instantiates guests. One per process: it owns the
/// wasmtime engine (compiled code cache, signal handlers), the linkers and,
/// when `deadline_ms` is set, the epoch ticker thread. Cheap to share behind
/// an `Arc`; loading is `&self`.
pub struct GuestEngine {
    engine: Engine,
    strategy_linker: Linker<GuestState>,
    indicator_linker: Linker<GuestState>,
    policy_linker: Linker<GuestState>,
    shared: Arc<Shared>,
}

/// What the engine shares with the modules it loads and the guests they
/// start: the configuration, the live-guest count and the epoch ticker. The
/// ticker thread stops (and is joined) when the engine and every module and
/// guest loaded from it are dropped; until then deadlines keep working.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: HostConfig,
    /// Epoch ticks per callback, if deadlines are on.
    pub(crate) deadline: Option<DeadlineTicks>,
    pub(crate) live: LiveGuests,
    /// Linear memory of all guests together (`max_total_memory_bytes`).
    pub(crate) memory: Arc<MemoryBudget>,
    _ticker: Option<EpochTicker>,
}

impl std::fmt::Debug for GuestEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestEngine")
            .field("config", &self.shared.config)
            .field("live_guests", &self.shared.live.current())
            .finish_non_exhaustive()
    }
}

fn engine_config(config: &HostConfig) -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(config.parallel_compilation)
        .wasm_component_model(true)
        // Determinism: identical results on every host, replayable backtests.
        // (Threads and GC support are not even compiled in: see the features.)
        .cranelift_nan_canonicalization(true)
        .wasm_relaxed_simd(false)
        .wasm_shared_everything_threads(false)
        .wasm_memory64(false)
        .wasm_gc(false)
        .wasm_stack_switching(false)
        .max_wasm_stack(config.max_wasm_stack)
        .consume_fuel(config.fuel_per_callback.is_some())
        // Wall-clock deadlines (live trading); off, the checks are not compiled
        // in at all. Fuel stays the deterministic budget for backtests.
        .epoch_interruption(config.deadline_ms.is_some())
        // Enough frames to locate a trap; capture costs only when trapping.
        .wasm_backtrace_max_frames(NonZeroUsize::new(32));
    if config.pooling {
        let n = config.pool_guests;
        let per_guest = u32::try_from(config.max_instances).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(per_guest))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(per_guest))
            .max_memory_size(config.max_memory_bytes)
            .table_elements(config.max_table_elements);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// `HasData` projection to the resource table for the `wasi:io` interfaces.
struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links only the allow-listed WASI interfaces (see `validate`): no
/// filesystem, sockets or clocks exist in the linker at all.
fn add_wasi(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
    use wasmtime_wasi::p2::bindings::{cli, io::error, random};
    error::add_to_linker::<GuestState, HasIo>(l, GuestState::table)?;
    poll::add_to_linker::<GuestState, HasIo>(l, GuestState::table)?;
    streams::add_to_linker::<GuestState, HasIo>(l, GuestState::table)?;
    cli::exit::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::environment::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_input::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_output::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdin::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stdout::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    cli::terminal_stderr::add_to_linker::<GuestState, WasiCli>(l, GuestState::cli)?;
    random::random::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    random::insecure::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    random::insecure_seed::add_to_linker::<GuestState, WasiRandom>(l, GuestState::random)?;
    Ok(())
}

fn linker(
    engine: &Engine,
    add_world: impl FnOnce(&mut Linker<GuestState>) -> wasmtime::Result<()>,
) -> Result<Linker<GuestState>, HostError> {
    let mut l = Linker::new(engine);
    add_wasi(&mut l)
        .and_then(|()| add_world(&mut l))
        .map_err(|e| HostError::Engine {
            reason: format!("cannot build the linker: {e:#}"),
        })?;
    Ok(l)
}

/// Feeds `Hash` input into sha256 so the fingerprint is stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl GuestEngine {
    /// Builds the engine and linkers after validating `config`.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        config.validate()?;
        let engine = Engine::new(&engine_config(&config)).map_err(|e| HostError::Engine {
            reason: format!("{e:#}"),
        })?;
        let strategy_linker = linker(&engine, hostcalls::add_to_linker)?;
        let indicator_linker = linker(&engine, hostcalls::add_to_linker)?;
        let policy_linker = linker(&engine, hostcalls::add_to_linker)?;
        let deadline = config.deadline_ms.map(DeadlineTicks::for_deadline);
        let ticker = match deadline {
            Some(d) => {
                let engine = engine.clone();
                Some(EpochTicker::start(d.tick, move || engine.increment_epoch())?)
            }
            None => None,
        };
        Ok(Self {
            engine,
            strategy_linker,
            indicator_linker,
            policy_linker,
            shared: Arc::new(Shared {
                live: LiveGuests::new(config.max_live_guests),
                memory: Arc::new(MemoryBudget::new(config.max_total_memory_bytes)),
                config,
                deadline,
                _ticker: ticker,
            }),
        })
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Guest instances alive now, across all modules of this engine (see
    /// [`HostConfig::max_live_guests`]).
    pub fn live_guests(&self) -> usize {
        self.shared.live.current()
    }

    /// Guest instances created since this engine started (every
    /// instantiation: deploys, swaps, shadows, restarts after a quarantine).
    pub fn guests_created(&self) -> u64 {
        self.shared.live.created()
    }

    /// Linear memory all live guests hold now, in bytes.
    pub fn guest_memory_bytes(&self) -> usize {
        self.shared.memory.used()
    }

    /// The budget of [`GuestEngine::guest_memory_bytes`]
    /// ([`HostConfig::max_total_memory_bytes`]), if any.
    pub fn guest_memory_budget(&self) -> Option<usize> {
        self.shared.memory.limit()
    }

    /// Memory growths refused because all guests together were at their
    /// budget, since this engine started.
    pub fn guest_memory_refusals(&self) -> u64 {
        self.shared.memory.refused()
    }

    /// Hex sha256 of wasmtime's precompile-compatibility hash (wasmtime
    /// version, target and codegen-relevant settings such as fuel). Key
    /// cached artifacts by it: an artifact loads only into an engine with the
    /// same fingerprint.
    pub fn engine_fingerprint(&self) -> String {
        let mut h = Sha256Hasher(Sha256::new());
        self.engine.precompile_compatibility_hash().hash(&mut h);
        hex::encode(h.0.finalize())
    }

    /// Validates, compiles and links a strategy guest (see the crate docs for the checks, in order).
    pub fn load_strategy(&self, bytes: &[u8]) -> Result<StrategyModule, HostError> {
        let (component, sha256) = self.compile(bytes, GuestWorld::Strategy)?;
        self.strategy_from(component, sha256)
    }

    /// Validates, compiles and links an indicator guest.
    pub fn load_indicator(&self, bytes: &[u8]) -> Result<IndicatorModule, HostError> {
        let (component, sha256) = self.compile(bytes, GuestWorld::Indicator)?;
        self.indicator_from(component, sha256)
    }

    /// Validates, compiles and links a policy guest (the `policy` world).
    pub fn load_policy(&self, bytes: &[u8]) -> Result<PolicyModule, HostError> {
        let (component, sha256) = self.compile(bytes, GuestWorld::Policy)?;
        self.policy_from(component, sha256)
    }

    /// Loads a policy from [`PolicyModule::precompiled`] output; same trust
    /// requirement as [`load_precompiled_strategy`](Self::load_precompiled_strategy).
    pub fn load_precompiled_policy(&self, artifact: &[u8]) -> Result<PolicyModule, HostError> {
        let (component, sha256) = self.deserialize(artifact)?;
        self.policy_from(component, sha256)
    }

    /// Loads a strategy from [`StrategyModule::precompiled`] output, skipping
    /// compilation. The import and world checks run again.
    ///
    /// The artifact must come from our own artifact store, written by
    /// `precompiled` of an engine with the same [`engine_fingerprint`](Self::engine_fingerprint):
    /// precompiled code is trusted native code, never accept it from users.
    pub fn load_precompiled_strategy(&self, artifact: &[u8]) -> Result<StrategyModule, HostError> {
        let (component, sha256) = self.deserialize(artifact)?;
        self.strategy_from(component, sha256)
    }

    /// Loads an indicator from [`IndicatorModule::precompiled`] output; same
    /// trust requirement as [`load_precompiled_strategy`](Self::load_precompiled_strategy).
    pub fn load_precompiled_indicator(&self, artifact: &[u8]) -> Result<IndicatorModule, HostError> {
        let (component, sha256) = self.deserialize(artifact)?;
        self.indicator_from(component, sha256)
    }

    /// The checks that need no compilation, in milliseconds even for a
    /// guest of `max_module_bytes`: size, header, then the component's import
    /// and export sections against `world` (forbidden imports, missing
    /// exports, naming the world it implements instead). Every `load_*`
    /// runs them first; callers that queue compilations run them before
    /// queueing, so a refusal never waits for a compile slot. The outline's
    /// [`code_bytes`](ComponentOutline::code_bytes) estimates what compiling
    /// will cost.
    pub fn inspect(&self, world: GuestWorld, bytes: &[u8]) -> Result<ComponentOutline, HostError> {
        validate::check_bytes(bytes, self.shared.config.max_module_bytes)?;
        let outline = inspect::outline(bytes)?;
        inspect::precheck(&outline, world)?;
        Ok(outline)
    }

    fn compile(&self, bytes: &[u8], world: GuestWorld) -> Result<(Component, [u8; 32]), HostError> {
        self.inspect(world, bytes)?;
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let component = Component::new(&self.engine, bytes).map_err(|e| HostError::Compile {
            reason: format!("{e:#}"),
        })?;
        Ok((component, sha256))
    }

    fn prepare(
        &self,
        component: &Component,
        linker: &Linker<GuestState>,
        world: &'static str,
        exports: &[(&str, validate::ExportCheck)],
    ) -> Result<InstancePre<GuestState>, HostError> {
        validate::check_imports(&self.engine, component, |_| false)?;
        validate::check_world(component, world, exports)?;
        linker.instantiate_pre(component).map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })
    }

    fn strategy_from(&self, component: Component, sha256: [u8; 32]) -> Result<StrategyModule, HostError> {
        let pre = self.prepare(
            &component,
            &self.strategy_linker,
            STRATEGY_WORLD,
            STRATEGY_EXPORTS,
        )?;
        let pre = strategy::StrategyPre::new(pre).map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })?;
        Ok(StrategyModule::new(Loaded::new(
            pre,
            hex::encode(sha256),
            self.shared.clone(),
        )))
    }

    fn indicator_from(&self, component: Component, sha256: [u8; 32]) -> Result<IndicatorModule, HostError> {
        let pre = self.prepare(
            &component,
            &self.indicator_linker,
            INDICATOR_WORLD,
            INDICATOR_EXPORTS,
        )?;
        let pre = indicator::IndicatorPre::new(pre).map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })?;
        Ok(IndicatorModule::new(Loaded::new(
            pre,
            hex::encode(sha256),
            self.shared.clone(),
        )))
    }

    fn policy_from(&self, component: Component, sha256: [u8; 32]) -> Result<PolicyModule, HostError> {
        // The policy linker plus trapping stand-ins for the clock and
        // filesystem imports a policy may carry (see
        // `validate::is_trapped_policy_import`); everything else is refused first.
        validate::check_imports(&self.engine, &component, validate::is_trapped_policy_import)?;
        validate::check_world(&component, POLICY_WORLD, POLICY_EXPORTS)?;
        let mut linker = self.policy_linker.clone();
        trap_imports(
            &self.engine,
            &mut linker,
            &component,
            validate::is_trapped_policy_import,
        )
        .map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })?;
        let pre = linker.instantiate_pre(&component).map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })?;
        let pre = policy::PolicyPre::new(pre).map_err(|e| HostError::Link {
            reason: format!("{e:#}"),
        })?;
        Ok(PolicyModule::new(Loaded::new(
            pre,
            hex::encode(sha256),
            self.shared.clone(),
        )))
    }

    #[allow(
        unsafe_code,
        reason = "loading precompiled native code is unsafe by nature; see the SAFETY note"
    )]
    fn deserialize(&self, artifact: &[u8]) -> Result<(Component, [u8; 32]), HostError> {
        let bad = |reason: &str| HostError::Deserialize {
            reason: reason.to_string(),
        };
        if artifact.len() < ARTIFACT_HEADER || &artifact[..ARTIFACT_MAGIC.len()] != ARTIFACT_MAGIC {
            return Err(bad("not a wasmtrade precompiled artifact"));
        }
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&artifact[ARTIFACT_MAGIC.len()..ARTIFACT_HEADER]);
        // SAFETY: the invariant of `load_precompiled_*`: the bytes were
        // produced by `precompiled()` of an engine with this fingerprint and
        // come from the host's own artifact store (keyed by wasm sha256 and
        // engine fingerprint), never from a user. wasmtime additionally
        // checks the header, version and engine compatibility.
        let component = unsafe { Component::deserialize(&self.engine, &artifact[ARTIFACT_HEADER..]) }
            .map_err(|e| bad(&format!("{e:#}")))?;
        Ok((component, sha256))
    }
}

/// Stand-in type of `wasi:filesystem/types.descriptor` for policy guests.
struct TrappedDescriptor;
/// Stand-in type of other resources of trapped interfaces.
struct TrappedResource;

/// Defines the component's imports that `which` selects as functions that
/// trap when called (and resources nobody can create). Only those: the rest
/// keep their real, semver-matched definitions in `linker`.
fn trap_imports(
    engine: &Engine,
    linker: &mut Linker<GuestState>,
    component: &Component,
    which: fn(&str) -> bool,
) -> wasmtime::Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if !which(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut root = linker.root();
        let mut inst = root.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    inst.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!(
                            "`{what}` is not available to policy guests (no clocks, no filesystem)"
                        )
                    })?;
                }
                ComponentItem::Resource(_) => {
                    // Resources `use`d from wasi:io keep their real types (the
                    // linker's streams and pollables); the interface's own
                    // resources get types no host function ever creates.
                    let ty = match export {
                        "input-stream" => ResourceType::host::<wasmtime_wasi::p2::DynInputStream>(),
                        "output-stream" => ResourceType::host::<wasmtime_wasi::p2::DynOutputStream>(),
                        "error" => ResourceType::host::<wasmtime_wasi::p2::IoError>(),
                        "pollable" => ResourceType::host::<wasmtime_wasi::p2::DynPollable>(),
                        "descriptor" => ResourceType::host::<TrappedDescriptor>(),
                        _ => ResourceType::host::<TrappedResource>(),
                    };
                    inst.resource(export, ty, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Serialises a compiled component into the artifact format `deserialize` reads.
pub(crate) fn precompiled(component: &Component, sha256_hex: &str) -> Result<Vec<u8>, HostError> {
    let code = component.serialize().map_err(|e| HostError::Serialize {
        reason: format!("{e:#}"),
    })?;
    let sha = hex::decode(sha256_hex).map_err(|e| HostError::Serialize {
        reason: format!("module hash is not hex: {e}"),
    })?;
    let mut out = Vec::with_capacity(ARTIFACT_HEADER + code.len());
    out.extend_from_slice(ARTIFACT_MAGIC);
    out.extend_from_slice(&sha);
    out.extend_from_slice(&code);
    Ok(out)
}
