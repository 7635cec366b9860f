//! [`PolicyStrategy`]: a [`PolicyGuest`] traded as a [`StrategyGuest`].

use std::sync::Arc;

use wasmtrade_model::{
    Bar, FEATURES, Fill, GuestContext, GuestFault, GuestInfo, Intents, ModelError, ModelInfo, Observation,
    PolicyAction, PolicyDecision, PolicyGuest, PolicyObserver, PolicyStats, RawIntent, RawOrderType,
    RejectNotice, Side, StrategyGuest, Tick, TimeInForce, Timestamp, Transition,
};

use crate::LoadsModel;
use crate::codec;
use crate::shadow::{GateConfig, Shadow, ShadowOutcome, ShadowProgress, Step, Verdict};
use crate::window::State;

/// Bars a working order may wait before the adapter cancels it.
const MAX_WAIT_BARS: u32 = 3;

/// Trades a [`PolicyGuest`] as a [`StrategyGuest`] (see the crate docs).
pub struct PolicyStrategy<P> {
    policy: P,
    rows: usize,
    state: State,
    transitions: Vec<Transition>,
    max_transitions: usize,
    last_action: Option<PolicyAction>,
    observer: Option<Arc<dyn PolicyObserver>>,
    /// A candidate model evaluated beside the running one.
    shadow: Option<Shadow<P>>,
    /// Decisions of the gate not yet taken by the host.
    outcomes: Vec<ShadowOutcome>,
}

impl<P: PolicyGuest> std::fmt::Debug for PolicyStrategy<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStrategy")
            .field("guest", self.policy.info())
            .field("rows", &self.rows)
            .field("stats", &self.state.stats)
            .finish_non_exhaustive()
    }
}

impl<P: PolicyGuest> PolicyStrategy<P> {
    /// Loads `model` into `policy` and wraps it. The model must take
    /// `[1, rows, FEATURES]` observations.
    pub fn new(mut policy: P, model: &[u8]) -> Result<Self, ModelError> {
        let info = policy.load(model)?;
        let rows = Self::rows_of(&info)?;
        Ok(Self {
            policy,
            rows,
            state: State::default(),
            transitions: Vec::new(),
            max_transitions: 100_000,
            last_action: None,
            observer: None,
            shadow: None,
            outcomes: Vec::new(),
        })
    }

    fn rows_of(info: &ModelInfo) -> Result<usize, ModelError> {
        match info.input_shape.as_slice() {
            [1, rows, cols] if *rows > 0 && *cols as usize == FEATURES => Ok(*rows as usize),
            _ => Err(ModelError::Shape {
                shape: info.input_shape.clone(),
            }),
        }
    }

    /// Replaces the model's weights between two events (a hot swap): the
    /// feature windows, working orders, counters and pending transition stay.
    /// The new model must take the same window; on any error the old model
    /// keeps running.
    pub fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        let info = self.policy.load(model)?;
        let rows = Self::rows_of(&info)?;
        if rows != self.rows {
            return Err(ModelError::Shape {
                shape: info.input_shape,
            });
        }
        Ok(info)
    }

    /// Runs `policy` — a new instance that has already loaded its model
    /// (`info`) — from the next event on, keeping the feature windows,
    /// working orders, counters and pending transition; returns the
    /// instance it replaces. A model with another window is refused and
    /// nothing changes. The running instance never sees the new weights, so
    /// a model that is refused, slow or faulting in its load cannot stop it.
    pub fn replace_policy(&mut self, policy: P, info: &ModelInfo) -> Result<P, ModelError> {
        let rows = Self::rows_of(info)?;
        if rows != self.rows {
            return Err(ModelError::Shape {
                shape: info.input_shape.clone(),
            });
        }
        Ok(std::mem::replace(&mut self.policy, policy))
    }

    /// Evaluates `candidate` — a new instance that has already loaded model
    /// `version` (`info`) — beside the running policy from the next bar on,
    /// by `gate` (see [`crate::shadow`]); returns the version of a
    /// candidate it replaces. A model with another window or an invalid
    /// gate is refused and nothing changes.
    pub fn start_shadow(
        &mut self,
        candidate: P,
        info: &ModelInfo,
        version: u64,
        gate: GateConfig,
    ) -> Result<Option<u64>, ModelError> {
        let rows = Self::rows_of(info)?;
        if rows != self.rows {
            return Err(ModelError::Shape {
                shape: info.input_shape.clone(),
            });
        }
        let shadow = Shadow::new(candidate, version, gate)?;
        Ok(self.shadow.replace(shadow).map(|s| s.version()))
    }

    /// Stops the evaluation, if one runs; returns the candidate's version.
    pub fn stop_shadow(&mut self) -> Option<u64> {
        self.shadow.take().map(|s| s.version())
    }

    /// The running evaluation's figures so far.
    pub fn shadow_progress(&self) -> Option<ShadowProgress> {
        self.shadow.as_ref().map(Shadow::progress)
    }

    /// The gate's decisions since the last call. After a
    /// [`Verdict::Promote`] the candidate is the running policy.
    pub fn take_shadow_outcomes(&mut self) -> Vec<ShadowOutcome> {
        std::mem::take(&mut self.outcomes)
    }

    /// The candidate decides on `obs` beside the running policy's `action`;
    /// a decided gate promotes or drops it.
    fn shadow_step(&mut self, obs: &Observation, close: f64, action: &PolicyAction) {
        let Some(shadow) = self.shadow.as_mut() else {
            return;
        };
        *shadow.guest.context() = self.policy.context().clone();
        let Step::Decided(outcome) = shadow.step(obs, close, action) else {
            return;
        };
        if let Some(shadow) = self.shadow.take()
            && outcome.verdict == Verdict::Promote
        {
            drop(std::mem::replace(&mut self.policy, shadow.guest));
        }
        if self.outcomes.len() < 64 {
            self.outcomes.push(outcome);
        }
    }

    /// Reports every decision and transition to `observer` from now on.
    pub fn set_observer(&mut self, observer: Arc<dyn PolicyObserver>) {
        self.observer = Some(observer);
    }

    /// The wrapped policy.
    pub fn policy(&mut self) -> &mut P {
        &mut self.policy
    }

    /// Rows of the observation window.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Steps, cumulative reward and portfolio value so far.
    pub fn stats(&self) -> PolicyStats {
        self.state.stats
    }

    /// The last action taken, if any.
    pub fn last_action(&self) -> Option<&PolicyAction> {
        self.last_action.as_ref()
    }

    /// Completed transitions since the last call (at most the newest
    /// 100 000 are kept between calls).
    pub fn take_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.transitions)
    }

    fn settle_reward(&mut self, equity: f64) {
        if let Some(mut t) = self.state.pending.take() {
            t.reward = equity - self.state.stats.portfolio_value;
            self.state.stats.cumulative_reward += t.reward;
            if let Some(o) = &self.observer {
                o.on_transition(&t);
            }
            if self.transitions.len() >= self.max_transitions {
                self.transitions.remove(0);
            }
            self.transitions.push(t);
        }
    }

    fn target_order(&mut self, bar: &Bar, target: f64) -> Vec<RawIntent> {
        let ctx = self.policy.context();
        let close = bar.close.to_f64();
        let equity = ctx.account.equity;
        if !target.is_finite() || close <= 0.0 || equity <= 0.0 {
            return Vec::new();
        }
        let held = ctx.position(bar.instrument).quantity;
        let want = (target.clamp(-1.0, 1.0) * equity / close).trunc();
        let delta = want - held;
        if delta.abs() < 1.0 {
            return Vec::new();
        }
        self.state.orders += 1;
        let client_id = format!("policy-{}", self.state.orders);
        let quantity = delta.abs().trunc();
        self.state.working.insert(client_id.clone(), quantity);
        vec![RawIntent::Submit {
            client_id,
            instrument: bar.instrument.0,
            side: if delta > 0.0 { Side::Buy } else { Side::Sell },
            quantity,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Gtc,
        }]
    }

    /// What to send after `action`: nothing while an order of ours still
    /// works (cancelling it after a few bars), else what the decision asks.
    fn intents_for(&mut self, bar: &Bar, action: &PolicyAction) -> Vec<RawIntent> {
        if !self.state.working.is_empty() {
            // An order of ours is still working: wait for it, but not
            // forever (an order that expired or was dropped without a notice
            // would block the policy): cancel it after a few bars.
            self.state.waited += 1;
            if self.state.waited > MAX_WAIT_BARS {
                self.state.waited = 0;
                std::mem::take(&mut self.state.working)
                    .into_keys()
                    .map(|client_id| RawIntent::Cancel { client_id })
                    .collect()
            } else {
                Vec::new()
            }
        } else {
            self.state.waited = 0;
            match &action.decision {
                PolicyDecision::Hold => Vec::new(),
                PolicyDecision::Target(t) => self.target_order(bar, *t),
                PolicyDecision::Orders(v) => v.clone(),
            }
        }
    }
}

impl<P: PolicyGuest> LoadsModel for PolicyStrategy<P> {
    fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        PolicyStrategy::load_model(self, model)
    }
}

impl<P: PolicyGuest + 'static> StrategyGuest for PolicyStrategy<P> {
    fn info(&self) -> &GuestInfo {
        self.policy.info()
    }

    fn take_fuel_used(&mut self) -> u64 {
        let shadow = self.shadow.as_mut().map_or(0, |s| s.guest.take_fuel_used());
        self.policy.take_fuel_used().saturating_add(shadow)
    }

    fn context(&mut self) -> &mut GuestContext {
        self.policy.context()
    }

    fn on_bar(&mut self, bar: &Bar) -> Intents {
        let rows = self.rows;
        let ctx = self.policy.context();
        let window = self.state.windows.entry(bar.instrument).or_default();
        window.push(bar, ctx, rows);
        if window.rows.len() != rows {
            return Ok(Vec::new());
        }
        let features: Vec<f32> = window.rows.iter().flatten().copied().collect();
        let equity = ctx.account.equity;
        self.settle_reward(equity);
        let obs = Observation {
            instrument: bar.instrument,
            ts: bar.ts,
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
            columns: FEATURES as u32,
            features,
        };
        let action = self.policy.act(&obs)?;
        self.shadow_step(&obs, bar.close.to_f64(), &action);
        self.state.stats.steps += 1;
        self.state.stats.portfolio_value = equity;
        self.state.pending = Some(Transition {
            ts: bar.ts,
            instrument: bar.instrument,
            observation: obs.features,
            action: action.index,
            probabilities: action.probabilities.clone(),
            value: action.value,
            reward: 0.0,
        });
        let intents = self.intents_for(bar, &action);
        if let Some(o) = &self.observer {
            o.on_step(&self.state.stats, &action);
        }
        self.last_action = Some(action);
        Ok(intents)
    }

    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Ok(Vec::new())
    }

    fn on_fill(&mut self, fill: &Fill) -> Intents {
        let id = fill.client_id.as_str();
        if let Some(left) = self.state.working.get_mut(id) {
            *left -= fill.quantity.to_f64();
            if *left < 1e-9 {
                self.state.working.remove(id);
            }
        }
        Ok(Vec::new())
    }

    fn on_timer(&mut self, _name: &str, _ts: Timestamp) -> Intents {
        Ok(Vec::new())
    }

    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        self.state.working.remove(notice.client_id.as_str());
        Ok(Vec::new())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(codec::encode(&self.state))
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        self.state = codec::decode(state, self.rows).ok_or_else(|| GuestFault::Returned {
            message: "invalid state: not a policy adapter snapshot of this window size".into(),
        })?;
        Ok(())
    }
}
