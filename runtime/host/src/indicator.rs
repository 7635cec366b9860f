//! Indicator guests: a loaded module and running instances.

use std::sync::Arc;

use wasmtrade_model::{Bar, GuestContext, GuestFault, GuestInfo, IndicatorGuest};

use crate::bindings::indicator;
use crate::module::{Loaded, Started};
use crate::sandbox::Sandbox;
use crate::{HostError, convert};

/// A validated, compiled and linked indicator, ready to instantiate any number of times.
#[derive(Clone)]
pub struct IndicatorModule(Loaded<indicator::Indicator>);

impl std::fmt::Debug for IndicatorModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug("IndicatorModule", f)
    }
}

impl IndicatorModule {
    pub(crate) fn new(loaded: Loaded<indicator::Indicator>) -> Self {
        Self(loaded)
    }

    /// Hex sha256 of the guest's wasm bytes.
    pub fn sha256(&self) -> &str {
        self.0.sha256()
    }

    /// The compiled module as an artifact for
    /// [`GuestEngine::load_precompiled_indicator`](crate::GuestEngine::load_precompiled_indicator).
    pub fn precompiled(&self) -> Result<Vec<u8>, HostError> {
        self.0.precompiled()
    }

    /// Starts an indicator: a fresh store around `ctx`, then `info()`,
    /// `init(config_json)` and `outputs()`. Errors as for
    /// [`StrategyModule::instantiate`](crate::StrategyModule::instantiate).
    pub fn instantiate(&self, ctx: GuestContext, config_json: &str) -> Result<WasmIndicator, HostError> {
        let Started {
            mut sandbox,
            bindings,
            info,
        } = self.0.start(ctx, config_json)?;
        let outputs = sandbox
            .run(|s| bindings.call_outputs(s).map(Ok))
            .map_err(|fault| HostError::Startup {
                call: "outputs",
                fault,
            })?;
        Ok(WasmIndicator {
            sandbox,
            bindings,
            info,
            outputs,
            sha256: self.0.sha256_shared(),
        })
    }
}

/// A running indicator guest in its own store. Implements [`IndicatorGuest`].
pub struct WasmIndicator {
    sandbox: Sandbox,
    bindings: indicator::Indicator,
    info: GuestInfo,
    outputs: Vec<String>,
    sha256: Arc<str>,
}

impl std::fmt::Debug for WasmIndicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmIndicator")
            .field("info", &self.info)
            .field("outputs", &self.outputs)
            .field("sha256", &self.sha256)
            .field("quarantined", &self.sandbox.quarantined())
            .finish_non_exhaustive()
    }
}

impl WasmIndicator {
    /// Hex sha256 of the guest's wasm.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Why the guest stopped for good, if it trapped.
    pub fn quarantined(&self) -> Option<&str> {
        self.sandbox.quarantined()
    }
}

impl IndicatorGuest for WasmIndicator {
    fn info(&self) -> &GuestInfo {
        &self.info
    }

    fn outputs(&self) -> &[String] {
        &self.outputs
    }

    fn context(&mut self) -> &mut GuestContext {
        &mut self.sandbox.store.data_mut().ctx
    }

    fn update(&mut self, bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault> {
        let arg = convert::bar(bar);
        let b = &self.bindings;
        self.sandbox.run(|s| b.call_update(s, arg))
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
