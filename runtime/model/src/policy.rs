//! RL policies as the engine drives them: the [`PolicyGuest`] contract and
//! [`PolicyStrategy`], the adapter that lets a policy trade as a strategy.
//!
//! A policy guest (WIT world `policy`) maps an [`Observation`] (a window of
//! features) to a [`PolicyAction`]. It knows nothing about orders, bars or
//! accounts; [`PolicyStrategy`] does the bookkeeping around it:
//!
//! - keeps, per instrument, a window of the last `rows` feature rows built
//!   from each closed bar and the account ([`FEATURES`], [`FEATURE_NAMES`]);
//! - once the window is full, calls `act` on every bar and turns a
//!   [`PolicyDecision::Target`] (a signed fraction of equity) into the market
//!   order that moves the position there (nothing while an order of its own
//!   is still working);
//! - computes the reward of the previous action as the change in equity and
//!   keeps [`Transition`]s (observation, action, reward) for a learner, which
//!   the host drains with [`PolicyStrategy::take_transitions`];
//! - replaces the model's weights between two events without losing any of
//!   this state ([`PolicyStrategy::load_model`]): a hot swap.
//!
//! Everything is a pure function of the events and the context: no clock,
//! no randomness (a sampling policy draws from its host-seeded RNG).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Intents, RawIntent, RawOrderType,
    RejectNotice, Side, StrategyGuest, Tick, TimeInForce, Timestamp,
};

/// Bars a working order may wait before the adapter cancels it.
const MAX_WAIT_BARS: u32 = 3;

/// Columns of each observation row built by [`PolicyStrategy`].
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

/// Sees every decision and every completed transition of a
/// [`PolicyStrategy`]: metrics, a durable transitions log for a learner, a
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

/// Per-instrument rolling state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Window {
    rows: VecDeque<[f32; FEATURES]>,
    last_close: Option<f64>,
    last_volume: Option<f64>,
}

/// The state that survives a weight swap and a guest restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    windows: BTreeMap<InstrumentId, Window>,
    /// Working orders of ours: client id → remaining quantity.
    working: BTreeMap<String, f64>,
    /// Bars the working orders have waited.
    waited: u32,
    orders: u64,
    stats: PolicyStats,
    /// The last decision, waiting for its reward.
    pending: Option<Transition>,
}

/// Trades a [`PolicyGuest`] as a [`StrategyGuest`] (see the module docs).
pub struct PolicyStrategy<P> {
    policy: P,
    rows: usize,
    state: State,
    transitions: Vec<Transition>,
    max_transitions: usize,
    last_action: Option<PolicyAction>,
    observer: Option<Arc<dyn PolicyObserver>>,
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

fn ln_ratio(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 { (a / b).ln() } else { 0.0 }
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

    fn push_row(&mut self, bar: &Bar) {
        let ctx = self.policy.context();
        let close = bar.close.to_f64();
        let equity = ctx.account.equity;
        let position_value = ctx.position(bar.instrument).quantity * close;
        let (pos, cash) = if equity.abs() > f64::EPSILON {
            (position_value / equity, ctx.account.cash / equity)
        } else {
            (0.0, 1.0)
        };
        let w = self.state.windows.entry(bar.instrument).or_default();
        let volume = bar.volume.to_f64();
        let row = [
            w.last_close.map_or(0.0, |p| ln_ratio(close, p)),
            if close > 0.0 {
                (bar.high.to_f64() - bar.low.to_f64()) / close
            } else {
                0.0
            },
            if close > 0.0 {
                (close - bar.open.to_f64()) / close
            } else {
                0.0
            },
            w.last_volume
                .map_or(0.0, |v| ln_ratio(volume, v).clamp(-5.0, 5.0)),
            pos,
            cash,
        ]
        .map(|v| if v.is_finite() { v as f32 } else { 0.0 });
        w.last_close = Some(close);
        w.last_volume = Some(volume);
        w.rows.push_back(row);
        while w.rows.len() > self.rows {
            w.rows.pop_front();
        }
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

    fn encode(&self) -> Vec<u8> {
        // A small self-describing binary form: the state has only numbers,
        // strings and nested lists, so serde's JSON-like data model is not
        // needed; one version byte lets a later layout take this one over.
        let mut out = vec![1u8];
        let windows: Vec<_> = self.state.windows.iter().collect();
        put_u64(&mut out, windows.len() as u64);
        for (id, w) in windows {
            put_u64(&mut out, u64::from(id.0));
            put_opt(&mut out, w.last_close);
            put_opt(&mut out, w.last_volume);
            put_u64(&mut out, w.rows.len() as u64);
            for row in &w.rows {
                for v in row {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        put_u64(&mut out, self.state.working.len() as u64);
        for (id, q) in &self.state.working {
            put_u64(&mut out, id.len() as u64);
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&q.to_le_bytes());
        }
        put_u64(&mut out, self.state.orders);
        put_u64(&mut out, self.state.stats.steps);
        out.extend_from_slice(&self.state.stats.cumulative_reward.to_le_bytes());
        out.extend_from_slice(&self.state.stats.portfolio_value.to_le_bytes());
        out
    }

    fn decode(&self, bytes: &[u8]) -> Option<State> {
        let mut r = Reader(bytes);
        if r.take(1)? != [1] {
            return None;
        }
        let mut state = State::default();
        for _ in 0..r.u64()? {
            let id = InstrumentId(u32::try_from(r.u64()?).ok()?);
            let last_close = r.opt()?;
            let last_volume = r.opt()?;
            let n = usize::try_from(r.u64()?).ok()?;
            if n > self.rows {
                return None;
            }
            let mut rows = VecDeque::with_capacity(n);
            for _ in 0..n {
                let mut row = [0f32; FEATURES];
                for v in &mut row {
                    *v = f32::from_le_bytes(r.take(4)?.try_into().ok()?);
                }
                rows.push_back(row);
            }
            state.windows.insert(
                id,
                Window {
                    rows,
                    last_close,
                    last_volume,
                },
            );
        }
        for _ in 0..r.u64()? {
            let len = usize::try_from(r.u64()?).ok()?;
            let id = String::from_utf8(r.take(len)?.to_vec()).ok()?;
            let q = r.f64()?;
            state.working.insert(id, q);
        }
        state.orders = r.u64()?;
        state.stats.steps = r.u64()?;
        state.stats.cumulative_reward = r.f64()?;
        state.stats.portfolio_value = r.f64()?;
        r.0.is_empty().then_some(state)
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn opt(&mut self) -> Option<Option<f64>> {
        match self.take(1)? {
            [0] => Some(None),
            [1] => Some(Some(self.f64()?)),
            _ => None,
        }
    }
}

impl<P: PolicyGuest> StrategyGuest for PolicyStrategy<P> {
    fn info(&self) -> &GuestInfo {
        self.policy.info()
    }

    fn take_fuel_used(&mut self) -> u64 {
        self.policy.take_fuel_used()
    }

    fn context(&mut self) -> &mut GuestContext {
        self.policy.context()
    }

    fn on_bar(&mut self, bar: &Bar) -> Intents {
        self.push_row(bar);
        let full = self
            .state
            .windows
            .get(&bar.instrument)
            .is_some_and(|w| w.rows.len() == self.rows);
        if !full {
            return Ok(Vec::new());
        }
        let equity = self.policy.context().account.equity;
        self.settle_reward(equity);
        let features: Vec<f32> = self
            .state
            .windows
            .get(&bar.instrument)
            .map(|w| w.rows.iter().flatten().copied().collect())
            .unwrap_or_default();
        let obs = Observation {
            instrument: bar.instrument,
            ts: bar.ts,
            rows: u32::try_from(self.rows).unwrap_or(u32::MAX),
            columns: FEATURES as u32,
            features,
        };
        let action = self.policy.act(&obs)?;
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
        let intents = if !self.state.working.is_empty() {
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
        };
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
        Ok(self.encode())
    }

    fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        PolicyStrategy::load_model(self, model)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        self.state = self.decode(state).ok_or_else(|| GuestFault::Returned {
            message: "invalid state: not a policy adapter snapshot of this window size".into(),
        })?;
        Ok(())
    }
}
