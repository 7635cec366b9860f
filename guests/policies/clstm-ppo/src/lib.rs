//! wasmtrade guest: a CLSTM-PPO actor-critic policy in ONNX, run with tract
//! inside the wasm sandbox.
//!
//! The host hands over the model's bytes (`load`; again on every hot swap of
//! weights) and one observation window per decision (`act`). The model is an
//! ONNX graph as `torch.onnx.export` writes it for a CLSTM-PPO network:
//! input `observation` `[1, window, features]`, outputs `probabilities`
//! `[1, actions]` (after softmax) and `value` `[1, 1]`; any model with that
//! signature works unchanged (see `tests/python/make_clstm_model.py`).
//!
//! Action `i` means "hold `targets[i]` of equity in the instrument" (default
//! targets `[-1, 0, 1]`: short, flat, long). The action is the most probable
//! one, or, with `"sample": true`, drawn from the probabilities with the
//! host's seeded RNG (deterministic per run).
//!
//! Configuration (JSON, every field optional):
//! `{"window": 32, "features": 6, "targets": [-1.0, 0.0, 1.0], "sample": false}`.

pub mod inference;

use serde::Deserialize;
use wasmtrade_sdk::{Action, Context, Decision, Error, ModelInfo, Observation, Policy, export_policy};

use crate::inference::Model;

/// The policy's configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Rows (time steps) of the observation window. Default 32.
    pub window: usize,
    /// Features per row. Default 6.
    pub features: usize,
    /// Target position (fraction of equity, in [-1, 1]) of each action.
    /// Default `[-1, 0, 1]`.
    pub targets: Vec<f64>,
    /// Draw the action from the probabilities with the host's RNG instead of
    /// taking the most probable one. Default false.
    pub sample: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window: 32,
            features: 6,
            targets: vec![-1.0, 0.0, 1.0],
            sample: false,
        }
    }
}

/// The CLSTM-PPO policy guest.
#[derive(Debug)]
pub struct ClstmPpo {
    config: Config,
    model: Option<Model>,
}

/// Index of the largest probability (the first one on ties).
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Draws an index from `p` with a uniform `u` in [0, 1).
pub fn draw(p: &[f32], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, v) in p.iter().enumerate() {
        acc += f64::from(*v);
        if u < acc {
            return i;
        }
    }
    p.len().saturating_sub(1)
}

impl Policy for ClstmPpo {
    type Config = Config;
    const NAME: &'static str = "clstm-ppo";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        if config.window == 0 || config.features == 0 {
            return Err(Error::config("`window` and `features` must be at least 1"));
        }
        if config.targets.is_empty() || config.targets.iter().any(|t| !(-1.0..=1.0).contains(t)) {
            return Err(Error::config(
                "`targets` must be a non-empty list of fractions in [-1, 1]",
            ));
        }
        Ok(Self { config, model: None })
    }

    fn load(&mut self, ctx: &mut dyn Context, bytes: &[u8]) -> Result<ModelInfo, Error> {
        // On any error the previous model stays loaded.
        let model = Model::load(bytes, self.config.window, self.config.features)
            .map_err(|e| Error::new(e.to_string()))?;
        if model.actions() != self.config.targets.len() {
            return Err(Error::new(format!(
                "model has {} actions but the policy is configured with {} `targets`",
                model.actions(),
                self.config.targets.len()
            )));
        }
        let info = ModelInfo {
            input_shape: [1, model.window(), model.features()]
                .iter()
                .map(|d| u32::try_from(*d).unwrap_or(u32::MAX))
                .collect(),
            actions: u32::try_from(model.actions()).unwrap_or(u32::MAX),
        };
        ctx.info(&format!(
            "model loaded: {} bytes, {} actions",
            bytes.len(),
            model.actions()
        ));
        self.model = Some(model);
        Ok(info)
    }

    fn act(&mut self, ctx: &mut dyn Context, obs: &Observation) -> Result<Action, Error> {
        let model = self
            .model
            .as_mut()
            .ok_or_else(|| Error::new("no model loaded: the host must call load before act"))?;
        if obs.rows as usize != model.window() || obs.columns as usize != model.features() {
            return Err(Error::new(format!(
                "observation is {}x{}, the model takes {}x{} (window x features)",
                obs.rows,
                obs.columns,
                model.window(),
                model.features()
            )));
        }
        let out = model.run(&obs.features).map_err(|e| Error::new(e.to_string()))?;
        let index = if self.config.sample {
            // 53 random bits -> a uniform float in [0, 1).
            let u = (ctx.random_u64() >> 11) as f64 / (1u64 << 53) as f64;
            draw(&out.probabilities, u)
        } else {
            argmax(&out.probabilities)
        };
        let target = self.config.targets.get(index).copied().unwrap_or(0.0);
        Ok(Action {
            decision: Decision::Target(target),
            index: u32::try_from(index).unwrap_or(u32::MAX),
            probabilities: out.probabilities,
            value: out.value,
        })
    }
}

export_policy!(ClstmPpo);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[1.0]), 0);
    }

    #[test]
    fn draw_follows_the_cumulative_distribution() {
        let p = [0.25, 0.5, 0.25];
        assert_eq!(draw(&p, 0.0), 0);
        assert_eq!(draw(&p, 0.3), 1);
        assert_eq!(draw(&p, 0.99), 2);
    }
}
