//! Strategy guests: a loaded module and running instances.

use std::sync::Arc;

use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, Intents, RawIntent, RejectNotice, StrategyGuest, Tick,
    Timestamp,
};

use crate::bindings::{strategy, types as wit};
use crate::module::{Loaded, Started};
use crate::sandbox::Sandbox;
use crate::{HostError, convert};

/// A validated, compiled and linked strategy, ready to instantiate any number of times.
#[derive(Clone)]
pub struct StrategyModule(Loaded<strategy::Strategy>);

impl std::fmt::Debug for StrategyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug("StrategyModule", f)
    }
}

impl StrategyModule {
    pub(crate) fn new(loaded: Loaded<strategy::Strategy>) -> Self {
        Self(loaded)
    }

    /// Hex sha256 of the guest's wasm bytes: its identity for pinning and caching.
    pub fn sha256(&self) -> &str {
        self.0.sha256()
    }

    /// The compiled module as an artifact for
    /// [`GuestEngine::load_precompiled_strategy`](crate::GuestEngine::load_precompiled_strategy).
    pub fn precompiled(&self) -> Result<Vec<u8>, HostError> {
        self.0.precompiled()
    }

    /// Starts a guest: a fresh store around `ctx`, then `info()` and
    /// `init(config_json)`. An `init` error is [`HostError::Init`] with the
    /// guest's message verbatim; a trap is [`HostError::Startup`]; an engine
    /// already running `max_live_guests` guests refuses with
    /// [`HostError::TooManyGuests`].
    pub fn instantiate(&self, ctx: GuestContext, config_json: &str) -> Result<WasmStrategy, HostError> {
        let Started {
            sandbox,
            bindings,
            info,
        } = self.0.start(ctx, config_json)?;
        Ok(WasmStrategy {
            sandbox,
            bindings,
            info,
            max_intents: self.0.config().max_intents_per_callback,
            sha256: self.0.sha256_shared(),
        })
    }
}

/// A running strategy guest in its own store. Implements [`StrategyGuest`].
pub struct WasmStrategy {
    sandbox: Sandbox,
    bindings: strategy::Strategy,
    info: GuestInfo,
    max_intents: usize,
    sha256: Arc<str>,
}

impl std::fmt::Debug for WasmStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmStrategy")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("quarantined", &self.sandbox.quarantined())
            .finish_non_exhaustive()
    }
}

impl WasmStrategy {
    /// Hex sha256 of the guest's wasm.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Why the guest stopped for good, if it trapped.
    pub fn quarantined(&self) -> Option<&str> {
        self.sandbox.quarantined()
    }

    fn intents(&self, out: Result<Vec<wit::OrderIntent>, GuestFault>) -> Intents {
        let out = out?;
        if out.len() > self.max_intents {
            return Err(GuestFault::TooManyIntents {
                count: out.len(),
                limit: self.max_intents,
            });
        }
        Ok(out.into_iter().map(convert::intent).collect::<Vec<RawIntent>>())
    }
}

impl StrategyGuest for WasmStrategy {
    fn take_fuel_used(&mut self) -> u64 {
        self.sandbox.take_fuel_used()
    }

    fn set_time_left(&mut self, left: Option<std::time::Duration>) {
        self.sandbox.set_time_left(left);
    }

    fn info(&self) -> &GuestInfo {
        &self.info
    }

    fn context(&mut self) -> &mut GuestContext {
        &mut self.sandbox.store.data_mut().ctx
    }

    fn on_bar(&mut self, bar: &Bar) -> Intents {
        let arg = convert::bar(bar);
        let b = &self.bindings;
        let out = self.sandbox.run(|s| b.call_on_bar(s, arg));
        self.intents(out)
    }

    fn on_tick(&mut self, tick: &Tick) -> Intents {
        let arg = convert::tick(tick);
        let b = &self.bindings;
        let out = self.sandbox.run(|s| b.call_on_tick(s, arg));
        self.intents(out)
    }

    fn on_fill(&mut self, fill: &Fill) -> Intents {
        let arg = convert::fill(fill);
        let b = &self.bindings;
        let out = self.sandbox.run(|s| b.call_on_fill(s, &arg));
        self.intents(out)
    }

    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents {
        let b = &self.bindings;
        let out = self.sandbox.run(|s| b.call_on_timer(s, name, ts.nanos()));
        self.intents(out)
    }

    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        let arg = convert::reject(notice);
        let b = &self.bindings;
        let out = self.sandbox.run(|s| b.call_on_reject(s, &arg));
        self.intents(out)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        let b = &self.bindings;
        self.sandbox.run(|s| b.call_snapshot(s))
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        let b = &self.bindings;
        self.sandbox.run(|s| b.call_restore(s, state))
    }
}
