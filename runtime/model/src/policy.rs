//! RL policies as values: the [`PolicyGuest`] contract and what it sees
//! and returns.
//!
//! A policy guest (WIT world `policy`) maps an [`Observation`] (a window of
//! features) to a [`PolicyAction`]. It knows nothing about orders, bars or
//! accounts: the adapter that trades it as a strategy (feature windows,
//! target orders, rewards, model swaps) is `wasmtrade-policy`'s
//! `PolicyStrategy`. Here are the values both sides speak: the observation
//! layout ([`FEATURES`], [`FEATURE_NAMES`]), a model's [`ModelInfo`] and
//! [`ModelError`], a learner's [`Transition`]s, the run's [`PolicyStats`],
//! and the [`PolicyObserver`] told of them.

use serde::{Deserialize, Serialize};

use crate::{GuestContext, GuestFault, GuestInfo, InstrumentId, RawIntent, Timestamp};

/// Columns of each observation row the policy adapter builds.
pub const FEATURES: usize = 6;

/// What each of the [`FEATURES`] columns holds, in order.
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "log_return",        // ln(close / previous close)
    "range",             // (high - low) / close
    "body",              // (close - open) / close
    "log_volume_change", // ln(volume / previous volume), clipped to [-5, 5]; 0 without volume
    "position",          // position value / equity (signed)
    "cash",              // cash / equity
];

/// A window of features for one decision: `rows` steps (oldest first) of
/// `columns` features, row-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The instrument the decision is about.
    pub instrument: InstrumentId,
    /// Time of the last row.
    pub ts: Timestamp,
    /// Time steps.
    pub rows: u32,
    /// Features per step.
    pub columns: u32,
    /// `rows * columns` values.
    pub features: Vec<f32>,
}

/// What a policy wants done (untrusted: validated like a strategy's intents).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PolicyDecision {
    /// Change nothing.
    Hold,
    /// Hold this signed fraction of equity in the instrument (clamped to [-1, 1]).
    Target(f64),
    /// Explicit intents.
    Orders(Vec<RawIntent>),
}

/// One decision and what a learner logs with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyAction {
    /// What to do.
    pub decision: PolicyDecision,
    /// Index of the chosen discrete action.
    pub index: u32,
    /// Action probabilities.
    pub probabilities: Vec<f32>,
    /// Value estimate.
    pub value: f32,
}

/// What a policy found in a model it loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Input shape, e.g. `[1, rows, columns]`.
    pub input_shape: Vec<u32>,
    /// Number of discrete actions.
    pub actions: u32,
}

/// Why a model was not loaded. The policy keeps running with the model it
/// had before.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model is larger than the host accepts.
    #[error("model is {size} bytes, above the limit of {limit} bytes (`max_model_bytes`)")]
    TooLarge {
        /// Size of the model.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The policy refused the model (not ONNX, wrong input shape, ...).
    #[error("policy refused the model: {message}")]
    Refused {
        /// The policy's explanation.
        message: String,
    },
    /// The model does not take the observations this host builds.
    #[error(
        "model input shape {shape:?} does not fit the observation window: the host builds [1, rows, {FEATURES}] (features: {})",
        FEATURE_NAMES.join(", ")
    )]
    Shape {
        /// What the policy reported.
        shape: Vec<u32>,
    },
    /// The guest faulted while loading (it is quarantined).
    #[error("policy faulted while loading the model")]
    Fault(#[source] GuestFault),
    /// The strategy is not a policy: it has no model to replace.
    #[error("`{strategy}` is not a policy: only policies take models")]
    NotAPolicy {
        /// The strategy's guest.
        strategy: String,
    },
    /// The policy was stopped after a fault (its guest is released): it
    /// takes no more models.
    #[error("the policy was stopped after a fault: it takes no more models")]
    Stopped,
}

/// A policy guest as the engine drives it (`wasmtrade-host`'s `WasmPolicy`).
pub trait PolicyGuest {
    /// What the guest says about itself.
    fn info(&self) -> &GuestInfo;
    /// The guest's context (the engine updates it before each callback).
    fn context(&mut self) -> &mut GuestContext;
    /// Loads or replaces the model. On an error the previous model stays.
    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError>;
    /// Decides on one observation.
    fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault>;
    /// Fuel burned since the last call (model loads included), then zero
    /// again; 0 for guests the host does not meter.
    fn take_fuel_used(&mut self) -> u64 {
        0
    }
}

impl<P: PolicyGuest + ?Sized> PolicyGuest for Box<P> {
    fn info(&self) -> &GuestInfo {
        (**self).info()
    }
    fn context(&mut self) -> &mut GuestContext {
        (**self).context()
    }
    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        (**self).load(model)
    }
    fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault> {
        (**self).act(observation)
    }
    fn take_fuel_used(&mut self) -> u64 {
        (**self).take_fuel_used()
    }
}

/// One step for a learner: what the policy saw, what it did, what it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// When the action was taken.
    pub ts: Timestamp,
    /// The instrument.
    pub instrument: InstrumentId,
    /// The observation.
    pub observation: Vec<f32>,
    /// The action index.
    pub action: u32,
    /// The action probabilities.
    pub probabilities: Vec<f32>,
    /// The value estimate.
    pub value: f32,
    /// Change in equity until the next decision.
    pub reward: f64,
}

/// Counters of a policy's run (the seed bot's figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyStats {
    /// Decisions taken.
    pub steps: u64,
    /// Sum of rewards (change in equity since the first decision).
    pub cumulative_reward: f64,
    /// Equity at the last decision.
    pub portfolio_value: f64,
}

/// Sees every decision and every completed transition of a policy adapter
/// (`wasmtrade-policy`'s `PolicyStrategy`): metrics, a durable transitions log for a learner, a
/// backtest report. Called on the engine's thread, between two events: keep
/// it short.
pub trait PolicyObserver: Send + Sync {
    /// A decision was taken; `stats` already counts it.
    fn on_step(&self, stats: &PolicyStats, action: &PolicyAction) {
        let _ = (stats, action);
    }
    /// The previous decision got its reward.
    fn on_transition(&self, transition: &Transition) {
        let _ = transition;
    }
}
