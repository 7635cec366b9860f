//! Policy guests (the `policy` world): a loaded module and running instances.
//!
//! A policy runs in the same sandbox as a strategy (memory, table, stack and
//! fuel limits, no filesystem). The host reads the model file and hands its
//! bytes over: at most [`HostConfig::max_model_bytes`](crate::HostConfig::max_model_bytes),
//! checked before the guest sees them, and with its own fuel budget
//! ([`HostConfig::fuel_per_model_load`](crate::HostConfig::fuel_per_model_load))
//! because parsing and optimising a model costs far more than one decision.
//! A model the guest refuses (not ONNX, wrong input shape) is a
//! [`ModelError::Refused`]: the guest keeps the model it had, so a bad upload
//! never stops a running policy.

use std::sync::Arc;

use wasmtrade_model::{
    GuestContext, GuestFault, GuestInfo, ModelError, ModelInfo, Observation, PolicyAction, PolicyDecision,
    PolicyGuest,
};

use crate::bindings::policy;
use crate::bindings::policy::wasmtrade::guest::policy_types as pt;
use crate::module::{Loaded, Started};
use crate::sandbox::Sandbox;
use crate::{HostError, convert};

/// A validated, compiled and linked policy, ready to instantiate any number of times.
#[derive(Clone)]
pub struct PolicyModule(Loaded<policy::Policy>);

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.debug("PolicyModule", f)
    }
}

impl PolicyModule {
    pub(crate) fn new(loaded: Loaded<policy::Policy>) -> Self {
        Self(loaded)
    }

    /// Hex sha256 of the guest's wasm bytes.
    pub fn sha256(&self) -> &str {
        self.0.sha256()
    }

    /// The compiled module as an artifact for
    /// [`GuestEngine::load_precompiled_policy`](crate::GuestEngine::load_precompiled_policy).
    pub fn precompiled(&self) -> Result<Vec<u8>, HostError> {
        self.0.precompiled()
    }

    /// Starts a policy: a fresh store around `ctx`, then `info()` and
    /// `init(config_json)`. No model is loaded yet: call
    /// [`WasmPolicy::load_model`] (or wrap it in a
    /// `wasmtrade_policy::PolicyStrategy`, which does).
    /// Errors as for [`StrategyModule::instantiate`](crate::StrategyModule::instantiate).
    pub fn instantiate(&self, ctx: GuestContext, config_json: &str) -> Result<WasmPolicy, HostError> {
        let Started {
            sandbox,
            bindings,
            info,
        } = self.0.start(ctx, config_json)?;
        let config = self.0.config();
        Ok(WasmPolicy {
            sandbox,
            bindings,
            info,
            sha256: self.0.sha256_shared(),
            max_model_bytes: config.max_model_bytes,
            load_fuel: config.fuel_per_model_load,
            load_deadline: config
                .model_load_deadline_ms
                .map(std::time::Duration::from_millis),
            max_intents: config.max_intents_per_callback,
            model: None,
        })
    }
}

/// A running policy guest in its own store. Implements [`PolicyGuest`].
pub struct WasmPolicy {
    sandbox: Sandbox,
    bindings: policy::Policy,
    info: GuestInfo,
    sha256: Arc<str>,
    max_model_bytes: usize,
    load_fuel: Option<u64>,
    /// Wall-clock budget of a model load (`None`: the per-callback deadline).
    load_deadline: Option<std::time::Duration>,
    max_intents: usize,
    model: Option<ModelInfo>,
}

impl std::fmt::Debug for WasmPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmPolicy")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("model", &self.model)
            .field("quarantined", &self.sandbox.quarantined())
            .finish_non_exhaustive()
    }
}

impl WasmPolicy {
    /// Hex sha256 of the guest's wasm.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Why the guest stopped for good, if it trapped.
    pub fn quarantined(&self) -> Option<&str> {
        self.sandbox.quarantined()
    }

    /// What the current model is, if one is loaded.
    pub fn model(&self) -> Option<&ModelInfo> {
        self.model.as_ref()
    }

    /// Hands `bytes` to the guest's `load` (see the module docs for the
    /// checks). On an error the previous model stays loaded.
    pub fn load_model(&mut self, bytes: &[u8]) -> Result<ModelInfo, ModelError> {
        if bytes.len() > self.max_model_bytes {
            return Err(ModelError::TooLarge {
                size: bytes.len(),
                limit: self.max_model_bytes,
            });
        }
        let b = &self.bindings;
        let info = match self
            .sandbox
            .run_with_fuel(self.load_fuel, self.load_deadline, |s| b.call_load(s, bytes))
        {
            Ok(i) => ModelInfo {
                input_shape: i.input_shape,
                actions: i.actions,
            },
            Err(GuestFault::Returned { message }) => return Err(ModelError::Refused { message }),
            Err(fault) => return Err(ModelError::Fault(fault)),
        };
        tracing::info!(guest = %self.info, bytes = bytes.len(), shape = ?info.input_shape, actions = info.actions, "policy model loaded");
        self.model = Some(info.clone());
        Ok(info)
    }

    /// Runs `act` on one observation.
    pub fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault> {
        let arg = pt::Observation {
            instrument: observation.instrument.0,
            ts: observation.ts.nanos(),
            rows: observation.rows,
            columns: observation.columns,
            features: observation.features.clone(),
        };
        let b = &self.bindings;
        let a = self.sandbox.run(|s| b.call_act(s, &arg))?;
        let decision = match a.decision {
            pt::Decision::Hold => PolicyDecision::Hold,
            pt::Decision::Target(t) => PolicyDecision::Target(t),
            pt::Decision::Orders(v) => {
                if v.len() > self.max_intents {
                    return Err(GuestFault::TooManyIntents {
                        count: v.len(),
                        limit: self.max_intents,
                    });
                }
                PolicyDecision::Orders(v.into_iter().map(convert::intent).collect())
            }
        };
        Ok(PolicyAction {
            decision,
            index: a.index,
            probabilities: a.probabilities,
            value: a.value,
        })
    }
}

impl PolicyGuest for WasmPolicy {
    fn info(&self) -> &GuestInfo {
        &self.info
    }

    fn context(&mut self) -> &mut GuestContext {
        &mut self.sandbox.store.data_mut().ctx
    }

    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        self.load_model(model)
    }

    fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault> {
        WasmPolicy::act(self, observation)
    }

    fn take_fuel_used(&mut self) -> u64 {
        self.sandbox.take_fuel_used()
    }
}

/// `policy-types` holds only types: nothing to provide.
impl pt::Host for crate::state::GuestState {}
