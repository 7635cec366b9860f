//! Reinforcement-learning policies: the [`Policy`] trait and the plain Rust
//! mirrors of the WIT `policy-types` interface.
//!
//! A policy guest receives its model's bytes from the host ([`Policy::load`],
//! called once after `init` and again whenever the host hot-swaps the
//! weights) and maps an [`Observation`] (a window of features the host built
//! from bars, indicators, the position and cash) to an [`Action`]: a
//! [`Decision`] plus the action probabilities and value estimate a learner
//! logs. Guests have no filesystem, so a model never comes from a path.
//!
//! ```
//! use wasmtrade_sdk::{Action, Context, Decision, Error, ModelInfo, Observation, Policy, export_policy};
//!
//! /// Goes long when the mean of the first feature column is positive.
//! pub struct Momentum { columns: u32 }
//!
//! impl Policy for Momentum {
//!     type Config = ();
//!     const NAME: &'static str = "momentum";
//!     const VERSION: &'static str = "0.1.0";
//!     fn new(_: (), _: &mut dyn Context) -> Result<Self, Error> { Ok(Self { columns: 0 }) }
//!     fn load(&mut self, _: &mut dyn Context, model: &[u8]) -> Result<ModelInfo, Error> {
//!         // A real policy parses its weights here (see `guests/policies/clstm-ppo`).
//!         let columns = *model.first().ok_or_else(|| Error::new("empty model"))?;
//!         self.columns = u32::from(columns);
//!         Ok(ModelInfo { input_shape: vec![1, 0, self.columns], actions: 2 })
//!     }
//!     fn act(&mut self, _: &mut dyn Context, obs: &Observation) -> Result<Action, Error> {
//!         let mean = (0..obs.rows).map(|r| obs.row(r)[0]).sum::<f32>() / obs.rows.max(1) as f32;
//!         let long = mean > 0.0;
//!         Ok(Action {
//!             decision: Decision::Target(if long { 1.0 } else { 0.0 }),
//!             index: u32::from(long),
//!             probabilities: if long { vec![0.0, 1.0] } else { vec![1.0, 0.0] },
//!             value: 0.0,
//!         })
//!     }
//! }
//! export_policy!(Momentum);
//!
//! use wasmtrade_sdk::testing::MockContext;
//! let mut ctx = MockContext::new();
//! let mut p = Momentum::new((), &mut ctx).unwrap();
//! p.load(&mut ctx, &[1]).unwrap();
//! let obs = Observation::new(Default::default(), 0, 2, 1, vec![0.5, 0.1]).unwrap();
//! assert_eq!(p.act(&mut ctx, &obs).unwrap().decision, Decision::Target(1.0));
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Context, Error, GuestInfo, InstrumentId, OrderIntent, Timestamp};

/// A window of features for one decision: `rows` time steps (oldest first)
/// of `columns` features each, row-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The instrument the decision is about.
    pub instrument: InstrumentId,
    /// Time of the last row.
    pub ts: Timestamp,
    /// Time steps in the window.
    pub rows: u32,
    /// Features per time step.
    pub columns: u32,
    /// `rows * columns` values, row-major.
    pub features: Vec<f32>,
}

impl Observation {
    /// An observation, checking that `features` holds `rows * columns` values.
    pub fn new(
        instrument: InstrumentId,
        ts: Timestamp,
        rows: u32,
        columns: u32,
        features: Vec<f32>,
    ) -> Result<Self, Error> {
        let obs = Self {
            instrument,
            ts,
            rows,
            columns,
            features,
        };
        obs.check()?;
        Ok(obs)
    }

    /// Checks that `features` holds exactly `rows * columns` values.
    pub fn check(&self) -> Result<(), Error> {
        let want = u64::from(self.rows) * u64::from(self.columns);
        if self.features.len() as u64 != want {
            return Err(Error::new(format!(
                "observation has {} features, expected rows {} x columns {} = {want}",
                self.features.len(),
                self.rows,
                self.columns
            )));
        }
        Ok(())
    }

    /// Row `r` (0 is the oldest). Panics if `r >= rows` or the observation
    /// does not pass [`Observation::check`].
    pub fn row(&self, r: u32) -> &[f32] {
        let c = self.columns as usize;
        let start = r as usize * c;
        &self.features[start..start + c]
    }
}

/// What the policy wants done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// Change nothing.
    Hold,
    /// Hold this signed fraction of equity in the instrument, in `[-1, 1]`;
    /// the host turns it into orders.
    Target(f64),
    /// Explicit order intents (they pass risk like a strategy's).
    Orders(Vec<OrderIntent>),
}

/// One decision plus what a learner logs with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// What to do.
    pub decision: Decision,
    /// Index of the chosen discrete action.
    pub index: u32,
    /// The action probabilities.
    pub probabilities: Vec<f32>,
    /// The critic's value estimate.
    pub value: f32,
}

/// What [`Policy::load`] found in a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The input shape the model was loaded for, e.g. `[1, rows, columns]`.
    pub input_shape: Vec<u32>,
    /// Number of discrete actions.
    pub actions: u32,
}

/// A reinforcement-learning policy: model bytes in, observations in, actions out.
///
/// Export it with [`export_policy!`](crate::export_policy). The host calls
/// [`Policy::new`] once with the configuration, [`Policy::load`] with the
/// model's bytes, then [`Policy::act`] once per decision. A later `load`
/// replaces the weights (a hot swap); when it fails the guest must keep the
/// model it had, so the running policy keeps running.
pub trait Policy: Sized {
    /// The configuration, deserialised from the JSON the host sends to `init`.
    type Config: DeserializeOwned;
    /// Guest name, e.g. `clstm-ppo`.
    const NAME: &'static str;
    /// Guest version.
    const VERSION: &'static str;

    /// Builds the policy; validate the configuration here.
    fn new(config: Self::Config, ctx: &mut dyn Context) -> Result<Self, Error>;
    /// Loads or replaces the model. Refuse a model that does not fit (not
    /// parseable, wrong input shape) with an error naming what is wrong, and
    /// keep the previous model in that case.
    fn load(&mut self, ctx: &mut dyn Context, model: &[u8]) -> Result<ModelInfo, Error>;
    /// Decides on one observation.
    fn act(&mut self, ctx: &mut dyn Context, observation: &Observation) -> Result<Action, Error>;
}

/// The [`GuestInfo`] of a policy type.
pub fn policy_info<P: Policy>() -> GuestInfo {
    GuestInfo::new(P::NAME, P::VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_rejects_a_feature_count_that_is_not_rows_times_columns() {
        let err = Observation::new(InstrumentId(0), 0, 2, 3, vec![0.0; 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "observation has 5 features, expected rows 2 x columns 3 = 6"
        );
        let ok = Observation::new(InstrumentId(0), 0, 2, 3, (0..6).map(|i| i as f32).collect()).unwrap();
        assert_eq!(ok.row(1), &[3.0, 4.0, 5.0]);
    }
}
