//! Trades an RL policy as a strategy: [`PolicyStrategy`], the adapter
//! between a [`PolicyGuest`](wasmtrade_model::PolicyGuest) (which maps an
//! observation to an action and knows nothing about orders) and the engine's
//! [`StrategyGuest`](wasmtrade_model::StrategyGuest) contract.
//!
//! `wasmtrade-model` holds the policy's values and contract ([`Observation`],
//! [`PolicyAction`], [`ModelInfo`], [`ModelError`], [`Transition`], ...);
//! this crate holds what generates orders from them:
//!
//! - per instrument, a window of the last `rows` feature rows built from
//!   each closed bar and the account ([`FEATURES`], [`FEATURE_NAMES`]);
//! - once the window is full, `act` on every bar, and a
//!   [`PolicyDecision::Target`] (a signed fraction of equity) turned into the
//!   market order that moves the position there (nothing while an order of
//!   its own is still working);
//! - the reward of the previous action (the change in equity) and the
//!   [`Transition`]s for a learner ([`PolicyStrategy::take_transitions`]);
//! - the model's weights replaced between two events without losing any of
//!   this state ([`LoadsModel::load_model`]): a hot swap;
//! - a candidate model evaluated beside the running one on the same
//!   observations and promoted only by evidence ([`shadow`],
//!   [`PolicyStrategy::start_shadow`]).
//!
//! Loading a model is a capability of policies only ([`LoadsModel`]): a
//! plain strategy has no model to replace. An engine owns its strategies as
//! `Box<dyn StrategyGuest>`; a host that has to swap a policy's model there
//! finds it again by its type ([`as_policy`]).
//!
//! Everything is a pure function of the events and the context: no clock,
//! no randomness (a sampling policy draws from its host-seeded RNG).
//!
//! [`Observation`]: wasmtrade_model::Observation
//! [`PolicyAction`]: wasmtrade_model::PolicyAction
//! [`ModelInfo`]: wasmtrade_model::ModelInfo
//! [`ModelError`]: wasmtrade_model::ModelError
//! [`Transition`]: wasmtrade_model::Transition
//! [`FEATURES`]: wasmtrade_model::FEATURES
//! [`FEATURE_NAMES`]: wasmtrade_model::FEATURE_NAMES
//! [`PolicyDecision::Target`]: wasmtrade_model::PolicyDecision::Target

mod codec;
pub mod shadow;
mod strategy;
mod window;

pub use shadow::{GateConfig, ShadowOutcome, ShadowProgress, Verdict};
pub use strategy::PolicyStrategy;

use wasmtrade_model::{ModelError, ModelInfo, StrategyGuest};

/// What only policies can do: take new model weights between two events,
/// keeping their state. A plain strategy has no model, so it does not
/// implement this; a host that only knows a strategy by name refuses with
/// [`ModelError::NotAPolicy`].
pub trait LoadsModel {
    /// Replaces the model's weights (see [`PolicyStrategy::load_model`]). On
    /// an error the previous model keeps running.
    fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError>;
}

impl<L: LoadsModel + ?Sized> LoadsModel for Box<L> {
    fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        (**self).load_model(model)
    }
}

/// The policy of type `T` behind a strategy an engine runs, or `None` when
/// `guest` is something else: a plain strategy, or a policy the engine has
/// stopped and released. Only a [`LoadsModel`] can be asked for, so what
/// comes back takes models.
pub fn as_policy<T: LoadsModel + StrategyGuest>(guest: &mut dyn StrategyGuest) -> Option<&mut T> {
    let guest: &mut dyn std::any::Any = guest;
    guest.downcast_mut::<T>()
}

#[cfg(test)]
mod gate_tests;
#[cfg(test)]
mod tests;
