//! Policies in the loop: started from the configuration, their model
//! weights swapped between two events.

use wasmtrade_model::{StrategyGuest, StrategyId};

use super::Core;
use crate::clock::Stopwatch;
use crate::error::LiveError;
use crate::event::SwapAction;

impl Core {
    /// Runs policy `name` (built off the loop) as a strategy.
    pub(super) fn add_policy(
        &mut self,
        name: String,
        hosted: crate::policy::Hosted,
        guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<(), LiveError> {
        if self.deployments.is_taken(&name) {
            return Err(LiveError::FailedPrecondition(format!(
                "policy `{name}`: a strategy or policy of that name already runs: give the policy another name"
            )));
        }
        self.engine
            .add_strategy(StrategyId::new(&name), guest)
            .map_err(|e| LiveError::FailedPrecondition(format!("policy `{name}`: {e}")))?;
        let to = u32::try_from(hosted.version).unwrap_or(u32::MAX);
        // Its events carry the model version.
        self.deployments.add_policy(&name, hosted);
        self.swap_event(&name, SwapAction::Model, 0, to, 0, None);
        Ok(())
    }

    /// Runs the instance prepared for each policy running `model` (each
    /// keeps its state), in name order; a policy whose preparation failed or
    /// that refuses the instance keeps its running one, the error says why
    /// and the policies after it are not tried (`serve` gives each model to
    /// one policy).
    pub(super) fn load_model(
        &mut self,
        model: &str,
        version: u64,
        prepared: Vec<(String, crate::policy::Prepared)>,
    ) -> Result<Vec<String>, LiveError> {
        let mut done = Vec::with_capacity(prepared.len());
        for (name, outcome) in prepared {
            let watch = Stopwatch::start();
            let kept = self.deployments.policy_version(&name);
            let (from, to) = (
                u32::try_from(kept).unwrap_or(u32::MAX),
                u32::try_from(version).unwrap_or(u32::MAX),
            );
            let Some(slot) = self.engine.strategy_mut(&StrategyId::new(&name)) else {
                continue;
            };
            // `name` is one of the policies this loop started.
            let outcome = outcome.and_then(|(policy, info)| {
                crate::policy::replace_model(slot.guest.as_mut(), true, policy, &info).map(|old| (old, info))
            });
            let pause_ns = watch.elapsed_ns();
            match outcome {
                Ok((old, info)) => {
                    drop(old);
                    tracing::info!(policy = %name, model, version, shape = ?info.input_shape, "model swapped");
                    self.deployments.set_policy_version(&name, version);
                    self.swap_event(&name, SwapAction::Model, from, to, pause_ns, None);
                    done.push(name);
                }
                Err(e) => {
                    let err = crate::policy::refused(&name, model, version, kept, &e);
                    self.swap_event(
                        &name,
                        SwapAction::Model,
                        from,
                        to,
                        pause_ns,
                        Some(err.to_string()),
                    );
                    return Err(err);
                }
            }
        }
        Ok(done)
    }
}
