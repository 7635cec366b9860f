//! Policies in the loop: started from the configuration, their model
//! weights swapped between two events.

use std::sync::Arc;

use wasmtrade_model::{StrategyGuest, StrategyId};
use wasmtrade_policy::{GateConfig, Verdict};

use super::Core;
use crate::clock::Stopwatch;
use crate::error::LiveError;
use crate::event::{EventKind, SwapAction, VerdictRecord};
use crate::policy::Candidate;
use crate::view::PolicyShadow;

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

    /// Starts the shadow evaluation of model `model` version `version` in
    /// each policy with a prepared instance, in name order; a policy whose
    /// preparation failed or that refuses the candidate stops the rest, the
    /// error says why (its running model is untouched).
    pub(super) fn shadow_model(
        &mut self,
        model: &str,
        version: u64,
        bytes: &Arc<Vec<u8>>,
        gate: GateConfig,
        prepared: Vec<(String, crate::policy::Prepared)>,
    ) -> Result<Vec<String>, LiveError> {
        let mut started = Vec::with_capacity(prepared.len());
        for (name, outcome) in prepared {
            let kept = self.deployments.policy_version(&name);
            let Some(slot) = self.engine.strategy_mut(&StrategyId::new(&name)) else {
                continue;
            };
            let outcome = outcome.and_then(|(policy, info)| {
                crate::policy::start_shadow(slot.guest.as_mut(), true, policy, &info, version, gate)
            });
            match outcome {
                Ok(replaced) => {
                    let candidate = Candidate { bytes: bytes.clone() };
                    self.deployments.set_policy_candidate(&name, Some(candidate));
                    tracing::info!(policy = %name, model, version, replaced, decisions = gate.decisions, "shadow evaluation of a model started");
                    started.push(name);
                }
                Err(e) => return Err(crate::policy::refused(&name, model, version, kept, &e)),
            }
        }
        Ok(started)
    }

    /// The running shadow evaluations.
    pub(super) fn policy_shadows(&mut self) -> Vec<PolicyShadow> {
        let mut out = Vec::new();
        for name in self.deployments.policies_with_candidates() {
            let Some(slot) = self.engine.strategy_mut(&StrategyId::new(&name)) else {
                continue;
            };
            let Some(progress) = crate::policy::shadow_progress(slot.guest.as_mut()) else {
                continue;
            };
            let (model, active_version) = self
                .deployments
                .policies()
                .find(|(n, _)| **n == name)
                .map(|(_, h)| (h.model.clone(), h.version))
                .unwrap_or_default();
            out.push(PolicyShadow {
                policy: name,
                model,
                active_version,
                progress,
            });
        }
        out
    }

    /// Takes the shadow gate's decisions after an event: a promoted model
    /// is the policy's version from now on; every verdict goes to the bus
    /// (and the supervisor, which audits it and makes a promotion durable).
    pub(super) fn collect_verdicts(&mut self) {
        if !self.deployments.has_candidates() {
            return;
        }
        for name in self.deployments.policies_with_candidates() {
            let Some(slot) = self.engine.strategy_mut(&StrategyId::new(&name)) else {
                // Stopped after a fault: the evaluation went with it.
                self.deployments.set_policy_candidate(&name, None);
                continue;
            };
            for outcome in crate::policy::shadow_outcomes(slot.guest.as_mut()) {
                let Some(candidate) = self.deployments.set_policy_candidate(&name, None) else {
                    continue;
                };
                let active_version = self.deployments.policy_version(&name);
                let model = self
                    .deployments
                    .policies()
                    .find(|(n, _)| **n == name)
                    .map(|(_, h)| h.model.clone())
                    .unwrap_or_default();
                let promoted = outcome.verdict == Verdict::Promote;
                tracing::info!(
                    policy = %name, model, version = outcome.version, verdict = outcome.verdict.as_str(),
                    candidate = outcome.candidate.composite, active = outcome.active.composite,
                    "shadow gate decided"
                );
                if promoted {
                    self.deployments.set_policy_version(&name, outcome.version);
                    let (from, to) = (
                        u32::try_from(active_version).unwrap_or(u32::MAX),
                        u32::try_from(outcome.version).unwrap_or(u32::MAX),
                    );
                    self.swap_event(&name, SwapAction::Model, from, to, 0, None);
                }
                let record = VerdictRecord {
                    policy: name.clone(),
                    model,
                    active_version,
                    outcome,
                    bytes: promoted.then_some(candidate.bytes),
                };
                self.bus
                    .publish(self.now(), EventKind::ModelVerdict(Box::new(record)));
            }
        }
    }
}
