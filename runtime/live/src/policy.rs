//! RL policies hosted by the runtime: a policy guest (`policy` world) with a
//! model, wrapped in a [`PolicyStrategy`] and run by the engine as a
//! strategy, so risk, the OMS, the journal and the order gate apply to its
//! orders as to any strategy's.
//!
//! The composition root names the policies ([`PolicySpec`]): the guest's
//! wasm bytes, the model's bytes and version, the one instrument it trades
//! and observers (metrics, a durable transitions log). At start each is
//! instantiated and given its model off the event loop, then added to the
//! engine between two events. A new model later
//! ([`Handle::load_model`](crate::Handle::load_model)) goes to the loop as a
//! command: `load_model` runs between two events, the feature windows,
//! working orders, counters and pending transition stay, and a refused model
//! leaves the old weights running.
//!
//! Only policies take models ([`LoadsModel`]): the loop finds a policy it
//! started again by its type ([`HostedPolicy`], [`load_model`]); a plain
//! strategy is refused with [`ModelError::NotAPolicy`].

use std::sync::Arc;

use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Intents, ModelError, ModelInfo,
    PolicyAction, PolicyGuest, PolicyObserver, PolicyStats, RejectNotice, StrategyGuest, Tick, Timestamp,
    Transition,
};
use wasmtrade_policy::{GateConfig, LoadsModel, PolicyStrategy, ShadowOutcome, ShadowProgress};

use crate::error::LiveError;

/// Wraps the policy guest before it is handed to the [`PolicyStrategy`]
/// (e.g. a timer of each `act` call for a latency histogram).
pub type WrapPolicy = Arc<dyn Fn(Box<dyn PolicyGuest + Send>) -> Box<dyn PolicyGuest + Send> + Send + Sync>;

/// A policy the runtime runs from start to stop.
#[derive(Clone)]
pub struct PolicySpec {
    /// Its strategy id: orders, positions and events carry it.
    pub name: String,
    /// The policy guest's wasm component.
    pub guest: Arc<Vec<u8>>,
    /// The guest's `init` configuration (JSON; empty = `{}`).
    pub config: String,
    /// The symbol it trades (one of the market's).
    pub instrument: String,
    /// The model's name in the models directory.
    pub model: String,
    /// The model version handed over at start.
    pub model_version: u64,
    /// That version's bytes.
    pub model_bytes: Arc<Vec<u8>>,
    /// Told of every decision and completed transition.
    pub observers: Vec<Arc<dyn PolicyObserver>>,
    /// Applied to the guest before it is wrapped (none: as is).
    pub wrap: Option<WrapPolicy>,
    /// Told of every verdict of the shadow gate, after it is audited (e.g.
    /// to record it beside the model and make a promoted version the
    /// active one on disk, so a restart runs it). Runs off the event loop.
    pub on_verdict: Option<VerdictHook>,
}

/// What [`PolicySpec::on_verdict`] runs; an error is logged and audited.
pub type VerdictHook = Arc<dyn Fn(&crate::event::VerdictRecord) -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for PolicySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySpec")
            .field("name", &self.name)
            .field("instrument", &self.instrument)
            .field("model", &self.model)
            .field("model_version", &self.model_version)
            .finish_non_exhaustive()
    }
}

/// What the event loop knows about a running policy.
pub(crate) struct Hosted {
    /// The model name it runs.
    pub(crate) model: String,
    /// The model version it runs.
    pub(crate) version: u64,
    /// Its last snapshot taken while healthy (windows, pending
    /// transition): what a restart after a fault resumes from.
    pub(crate) last_good: Option<Vec<u8>>,
    /// The candidate model its shadow evaluates, if any.
    pub(crate) candidate: Option<Candidate>,
}

/// A candidate model under evaluation by the shadow gate.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    /// Its bytes (what a restart after a fault runs once it is promoted).
    pub(crate) bytes: Arc<Vec<u8>>,
}

/// A policy as the loop runs it: the engine holds it as a
/// `Box<dyn StrategyGuest>`, [`load_model`] finds it again by this type.
pub(crate) type HostedPolicy = OneInstrument<PolicyStrategy<Box<dyn PolicyGuest + Send>>>;

/// Builds the strategy for `spec` (instantiation, `init` and the first
/// model load run here, off the event loop).
pub(crate) fn build(
    spec: &PolicySpec,
    policy: Box<dyn PolicyGuest + Send>,
    instrument: InstrumentId,
) -> Result<Box<dyn StrategyGuest + Send>, LiveError> {
    let policy = match &spec.wrap {
        Some(wrap) => wrap(policy),
        None => policy,
    };
    let mut strategy = PolicyStrategy::new(policy, &spec.model_bytes).map_err(|e| {
        LiveError::InvalidArgument(format!(
            "policy `{}`: model `{}` version {}: {e}",
            spec.name, spec.model, spec.model_version
        ))
    })?;
    match spec.observers.len() {
        0 => {}
        1 => strategy.set_observer(spec.observers[0].clone()),
        _ => strategy.set_observer(Arc::new(Fanout(spec.observers.clone()))),
    }
    let hosted: HostedPolicy = OneInstrument {
        inner: strategy,
        instrument,
    };
    Ok(Box::new(hosted))
}

/// A new instance of a policy's guest that loaded a model off the event
/// loop, with what it reported; or why there is none.
pub(crate) type Prepared = Result<(Box<dyn PolicyGuest + Send>, ModelInfo), ModelError>;

/// A new instance of the guest of `spec` (`init`ed, wrapped like the
/// running one) that has loaded `model`. Runs off the event loop: a model
/// that is refused, faults or overruns its load deadline costs only this
/// instance, never the running one.
pub(crate) fn prepare(registry: &crate::registry::Registry, spec: &PolicySpec, model: &[u8]) -> Prepared {
    let policy = registry
        .instantiate_policy(&spec.guest, &spec.config)
        .map_err(|e| ModelError::Refused {
            message: format!("a new instance of the policy guest did not start: {e}"),
        })?;
    let mut policy: Box<dyn PolicyGuest + Send> = Box::new(policy);
    if let Some(wrap) = &spec.wrap {
        policy = wrap(policy);
    }
    let info = policy.load(model)?;
    Ok((policy, info))
}

/// Runs `policy` (which loaded its model as `info`) in the policy `guest`
/// is, between two events, and returns the instance it replaces. `hosted`
/// says whether the loop started a policy under that name: if so and
/// `guest` is no longer one, the engine stopped and released it after a
/// fault ([`ModelError::Stopped`]); a plain strategy has no model to
/// replace ([`ModelError::NotAPolicy`]).
pub(crate) fn replace_model(
    guest: &mut dyn StrategyGuest,
    hosted: bool,
    policy: Box<dyn PolicyGuest + Send>,
    info: &ModelInfo,
) -> Result<Box<dyn PolicyGuest + Send>, ModelError> {
    match wasmtrade_policy::as_policy::<HostedPolicy>(guest) {
        Some(running) => running.inner.replace_policy(policy, info),
        None if hosted => Err(ModelError::Stopped),
        None => Err(ModelError::NotAPolicy {
            strategy: guest.info().name.clone(),
        }),
    }
}

/// Starts evaluating `policy` (which loaded model `version` as `info`)
/// beside the policy `guest` is, by `gate`; returns the version of the
/// candidate it replaces. Refusals as [`replace_model`]'s.
pub(crate) fn start_shadow(
    guest: &mut dyn StrategyGuest,
    hosted: bool,
    policy: Box<dyn PolicyGuest + Send>,
    info: &ModelInfo,
    version: u64,
    gate: GateConfig,
) -> Result<Option<u64>, ModelError> {
    match wasmtrade_policy::as_policy::<HostedPolicy>(guest) {
        Some(running) => running.inner.start_shadow(policy, info, version, gate),
        None if hosted => Err(ModelError::Stopped),
        None => Err(ModelError::NotAPolicy {
            strategy: guest.info().name.clone(),
        }),
    }
}

/// The shadow gate's decisions in the policy `guest` is since the last call
/// (none for anything else).
pub(crate) fn shadow_outcomes(guest: &mut dyn StrategyGuest) -> Vec<ShadowOutcome> {
    wasmtrade_policy::as_policy::<HostedPolicy>(guest)
        .map_or_else(Vec::new, |p| p.inner.take_shadow_outcomes())
}

/// The running evaluation of the policy `guest` is, if any.
pub(crate) fn shadow_progress(guest: &mut dyn StrategyGuest) -> Option<ShadowProgress> {
    wasmtrade_policy::as_policy::<HostedPolicy>(guest).and_then(|p| p.inner.shadow_progress())
}

/// Hands every call to each observer in turn.
struct Fanout(Vec<Arc<dyn PolicyObserver>>);

impl PolicyObserver for Fanout {
    fn on_step(&self, stats: &PolicyStats, action: &PolicyAction) {
        for o in &self.0 {
            o.on_step(stats, action);
        }
    }
    fn on_transition(&self, transition: &Transition) {
        for o in &self.0 {
            o.on_transition(transition);
        }
    }
}

/// A policy that sees the bars of one instrument only (the engine hands
/// every strategy every bar; a policy's window is one instrument's).
pub(crate) struct OneInstrument<S> {
    inner: S,
    instrument: InstrumentId,
}

impl<S: StrategyGuest> StrategyGuest for OneInstrument<S> {
    fn info(&self) -> &GuestInfo {
        self.inner.info()
    }
    fn context(&mut self) -> &mut GuestContext {
        self.inner.context()
    }
    fn on_bar(&mut self, bar: &Bar) -> Intents {
        if bar.instrument == self.instrument {
            self.inner.on_bar(bar)
        } else {
            Ok(Vec::new())
        }
    }
    fn on_tick(&mut self, tick: &Tick) -> Intents {
        self.inner.on_tick(tick)
    }
    fn on_fill(&mut self, fill: &Fill) -> Intents {
        self.inner.on_fill(fill)
    }
    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents {
        self.inner.on_timer(name, ts)
    }
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        self.inner.on_reject(notice)
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        self.inner.snapshot()
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        self.inner.restore(state)
    }
    fn set_time_left(&mut self, left: Option<std::time::Duration>) {
        self.inner.set_time_left(left);
    }
}

impl<S: LoadsModel> LoadsModel for OneInstrument<S> {
    fn load_model(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        self.inner.load_model(model)
    }
}

/// The message for a model the running policy refused.
pub(crate) fn refused(policy: &str, model: &str, version: u64, kept: u64, e: &ModelError) -> LiveError {
    // With its causes: a fault says which budget or trap stopped the load.
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    let message = format!(
        "policy `{policy}` refused model `{model}` version {version}: {why}; it keeps running version {kept}"
    );
    match e {
        ModelError::TooLarge { .. } => LiveError::ResourceExhausted(message),
        ModelError::Fault(_) => LiveError::Aborted(message),
        ModelError::Stopped | ModelError::NotAPolicy { .. } => LiveError::FailedPrecondition(message),
        _ => LiveError::InvalidArgument(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{Instruments, Observation, PolicyDecision, Price, Quantity};

    /// A policy whose model is the action index it always takes; a model
    /// of any other length than one byte is refused.
    struct Fixed {
        info: GuestInfo,
        ctx: GuestContext,
        action: u32,
    }

    impl PolicyGuest for Fixed {
        fn info(&self) -> &GuestInfo {
            &self.info
        }
        fn context(&mut self) -> &mut GuestContext {
            &mut self.ctx
        }
        fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
            let [action] = model else {
                return Err(ModelError::Refused {
                    message: format!("not a model: {} bytes", model.len()),
                });
            };
            self.action = u32::from(*action);
            // Model 9 takes a window of 5 rows, every other one 2.
            let rows = if *action == 9 { 5 } else { 2 };
            Ok(ModelInfo {
                input_shape: vec![1, rows, wasmtrade_model::FEATURES as u32],
                actions: 3,
            })
        }
        fn act(&mut self, _: &Observation) -> Result<PolicyAction, GuestFault> {
            Ok(PolicyAction {
                decision: PolicyDecision::Hold,
                index: self.action,
                probabilities: vec![0.0; 3],
                value: 0.0,
            })
        }
    }

    fn spec() -> PolicySpec {
        PolicySpec {
            name: "clstm".into(),
            guest: Arc::default(),
            config: String::new(),
            instrument: "AAA".into(),
            model: "m".into(),
            model_version: 1,
            model_bytes: Arc::new(vec![1]),
            observers: Vec::new(),
            wrap: None,
            on_verdict: None,
        }
    }

    fn policy() -> (Box<dyn PolicyGuest + Send>, Arc<Instruments>) {
        let mut i = Instruments::new();
        i.intern("AAA");
        i.intern("BBB");
        let i = Arc::new(i);
        let fixed = Fixed {
            info: GuestInfo {
                name: "fixed".into(),
                version: "0".into(),
                sdk_version: "0".into(),
                contract_version: "0".into(),
            },
            ctx: GuestContext::new(i.clone(), 1),
            action: 0,
        };
        (Box::new(fixed), i)
    }

    /// A new instance that loaded `model`, as `Handle::load_model` prepares it.
    fn prepared(model: &[u8]) -> Prepared {
        let (mut p, _) = policy();
        let info = p.load(model)?;
        Ok((p, info))
    }

    /// Runs a new instance with `model` in `guest`.
    fn replace(guest: &mut dyn StrategyGuest, hosted: bool, model: &[u8]) -> Result<(), ModelError> {
        let (p, info) = prepared(model)?;
        replace_model(guest, hosted, p, &info).map(drop)
    }

    /// The action index of every step.
    #[derive(Default)]
    struct Steps(std::sync::Mutex<Vec<u32>>);

    impl PolicyObserver for Steps {
        fn on_step(&self, _: &PolicyStats, action: &PolicyAction) {
            self.0.lock().unwrap().push(action.index);
        }
        fn on_transition(&self, _: &Transition) {}
    }

    fn bar(instrument: InstrumentId, secs: i64) -> Bar {
        let p = Price::from_int(100);
        Bar {
            instrument,
            ts: Timestamp::from_secs(secs),
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Quantity::from_int(10),
        }
    }

    #[test]
    fn steps_on_its_instrument_only_and_swaps_weights_keeping_the_window() {
        let (p, i) = policy();
        let aaa = i.by_symbol("AAA").unwrap().id;
        let bbb = i.by_symbol("BBB").unwrap().id;
        let mut s = build(&spec(), p, aaa).unwrap();
        for t in 0..3 {
            s.on_bar(&bar(bbb, t)).unwrap();
        }
        let before = s.snapshot().unwrap();
        s.on_bar(&bar(aaa, 10)).unwrap();
        assert_ne!(s.snapshot().unwrap(), before, "its own bar fills the window");
        replace(s.as_mut(), true, &[2]).unwrap();
        let kept = s.snapshot().unwrap();
        s.on_bar(&bar(aaa, 11)).unwrap();
        assert_ne!(
            s.snapshot().unwrap(),
            kept,
            "the window was kept: the second row makes a step"
        );
    }

    #[test]
    fn a_refused_model_is_an_error_naming_policy_model_and_kept_version() {
        let (p, i) = policy();
        let mut s = build(&spec(), p, i.by_symbol("AAA").unwrap().id).unwrap();
        let e = replace(s.as_mut(), true, b"not onnx").unwrap_err();
        let err = refused("clstm", "m", 2, 1, &e);
        assert!(matches!(err, LiveError::InvalidArgument(_)));
        let text = err.to_string();
        assert!(text.contains("`clstm` refused model `m` version 2"), "{text}");
        assert!(text.contains("keeps running version 1"), "{text}");
    }

    #[test]
    fn only_a_running_policy_takes_a_model() {
        let (p, i) = policy();
        let mut s = build(&spec(), p, i.by_symbol("AAA").unwrap().id).unwrap();
        // What the engine leaves of a guest it stopped: no policy any more.
        let mut released = wasmtrade_engine::ReleasedStrategy::of(s.as_mut(), "trapped");
        let e = replace(&mut released, true, &[2]).unwrap_err();
        assert_eq!(e, ModelError::Stopped);
        assert!(matches!(
            refused("clstm", "m", 2, 1, &e),
            LiveError::FailedPrecondition(_)
        ));
        // A plain strategy (one the loop did not start as a policy).
        let e = replace(&mut released, false, &[2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`fixed` is not a policy: only policies take models"
        );
        replace(s.as_mut(), true, &[2]).unwrap();
    }

    #[test]
    fn a_model_with_another_window_is_refused_and_the_running_instance_never_sees_it() {
        let (p, i) = policy();
        let aaa = i.by_symbol("AAA").unwrap().id;
        let steps = Arc::new(Steps::default());
        let mut with_observer = spec();
        with_observer.observers = vec![steps.clone()];
        let mut s = build(&with_observer, p, aaa).unwrap();
        for t in 0..3 {
            s.on_bar(&bar(aaa, t)).unwrap();
        }
        let e = replace(s.as_mut(), true, &[9]).unwrap_err();
        assert!(matches!(e, ModelError::Shape { .. }), "{e}");
        s.on_bar(&bar(aaa, 3)).unwrap();
        // Model 1 (action 1) decides before and after the refusal.
        assert_eq!(*steps.0.lock().unwrap(), [1, 1, 1]);
        replace(s.as_mut(), true, &[2]).unwrap();
        s.on_bar(&bar(aaa, 4)).unwrap();
        assert_eq!(steps.0.lock().unwrap().last(), Some(&2));
    }

    #[test]
    fn a_first_model_the_policy_refuses_fails_the_build() {
        let (p, i) = policy();
        let mut bad = spec();
        bad.model_bytes = Arc::new(vec![1, 2]);
        let err = build(&bad, p, i.by_symbol("AAA").unwrap().id)
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string().contains("policy `clstm`: model `m` version 1"),
            "{err}"
        );
    }
}
