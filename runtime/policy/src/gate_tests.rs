//! The shadow gate driven by scripted policies on a rising market: the
//! best policy (long) is known, so every verdict is too.

use wasmtrade_model::{
    Bar, FEATURES, GuestContext, GuestFault, GuestInfo, InstrumentId, ModelError, ModelInfo, Observation,
    PolicyAction, PolicyDecision, PolicyGuest, Price, Quantity, StrategyGuest, Timestamp,
};

use crate::{GateConfig, PolicyStrategy, Verdict};

/// A model is `[rows, behaviour]`: 0 long, 1 short, 2 NaN target, 3 fault,
/// 4 NaN probabilities.
struct Scripted {
    info: GuestInfo,
    ctx: GuestContext,
    behaviour: u8,
}

impl PolicyGuest for Scripted {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        let [rows, behaviour] = model else {
            return Err(ModelError::Refused {
                message: "not a model".into(),
            });
        };
        self.behaviour = *behaviour;
        Ok(ModelInfo {
            input_shape: vec![1, u32::from(*rows), FEATURES as u32],
            actions: 3,
        })
    }
    fn act(&mut self, _observation: &Observation) -> Result<PolicyAction, GuestFault> {
        let (target, p) = match self.behaviour {
            0 => (1.0, 1.0),
            1 => (-1.0, 1.0),
            2 => (f64::NAN, 1.0),
            3 => {
                return Err(GuestFault::Trap {
                    reason: "unreachable executed".into(),
                    backtrace: None,
                });
            }
            _ => (1.0, f32::NAN),
        };
        Ok(PolicyAction {
            decision: PolicyDecision::Target(target),
            index: 0,
            probabilities: vec![p, 0.0, 0.0],
            value: 0.0,
        })
    }
}

fn guest() -> Scripted {
    Scripted {
        info: GuestInfo {
            name: "scripted".into(),
            ..GuestInfo::default()
        },
        ctx: crate::tests::funded_context(),
        behaviour: 0,
    }
}

fn candidate(model: [u8; 2]) -> (Scripted, ModelInfo) {
    let mut g = guest();
    let info = g.load(&model).unwrap();
    (g, info)
}

/// A close rising one unit a bar.
fn bar(i: i64) -> Bar {
    let p = Price::from_int(100 + i);
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(i * 60),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: Quantity::from_int(10),
    }
}

const GATE: GateConfig = GateConfig {
    decisions: 20,
    margin: 0.1,
    max_drawdown_increase: 0.05,
    turnover_cost: 0.0005,
};

/// The active model `active` with candidate `model` under evaluation; runs
/// `bars` bars and returns the strategy and the outcomes.
fn run(active: u8, model: [u8; 2], bars: i64) -> (PolicyStrategy<Scripted>, Vec<crate::ShadowOutcome>) {
    let mut s = PolicyStrategy::new(guest(), &[2, active]).unwrap();
    let (g, info) = candidate(model);
    assert_eq!(s.start_shadow(g, &info, 7, GATE).unwrap(), None);
    let mut outcomes = Vec::new();
    for i in 0..bars {
        s.on_bar(&bar(i)).unwrap();
        outcomes.extend(s.take_shadow_outcomes());
    }
    (s, outcomes)
}

/// The target the running model asks for on the next bar.
fn next_target(s: &mut PolicyStrategy<Scripted>, i: i64) -> f64 {
    s.on_bar(&bar(i)).unwrap();
    match s.last_action().unwrap().decision {
        PolicyDecision::Target(t) => t,
        ref d => panic!("{d:?}"),
    }
}

#[test]
fn a_better_candidate_is_promoted_and_trades_from_the_next_bar() {
    let (mut s, outcomes) = run(1, [2, 0], 30);
    let [o] = outcomes.as_slice() else {
        panic!("one verdict: {outcomes:?}")
    };
    assert_eq!(o.verdict, Verdict::Promote, "{o:?}");
    assert_eq!(o.version, 7);
    assert_eq!(o.candidate.decisions, GATE.decisions);
    assert!(
        o.candidate.total_return > 0.0 && o.active.total_return < 0.0,
        "{o:?}"
    );
    assert!(o.candidate.composite > o.active.composite + GATE.margin);
    assert!(s.shadow_progress().is_none());
    // The promoted (long) model decides now; the window carried over.
    assert_eq!(next_target(&mut s, 31), 1.0);
}

#[test]
fn a_worse_candidate_is_kept_out_and_the_active_model_runs_on() {
    let (mut s, outcomes) = run(0, [2, 1], 30);
    let [o] = outcomes.as_slice() else {
        panic!("one verdict: {outcomes:?}")
    };
    assert_eq!(o.verdict, Verdict::Keep, "{o:?}");
    assert!(o.candidate.composite < o.active.composite);
    assert_eq!(next_target(&mut s, 31), 1.0, "the long model still runs");
}

#[test]
fn an_equal_candidate_is_not_promoted_without_the_margin() {
    let (_, outcomes) = run(0, [2, 0], 30);
    assert_eq!(outcomes[0].verdict, Verdict::Keep, "{:?}", outcomes[0]);
}

#[test]
fn a_candidate_with_nan_weights_is_refused_at_its_first_decision() {
    for model in [[2, 2], [2, 4]] {
        let (_, outcomes) = run(1, model, 5);
        let [o] = outcomes.as_slice() else {
            panic!("one verdict: {outcomes:?}")
        };
        let Verdict::Refuse { reason } = &o.verdict else {
            panic!("{o:?}")
        };
        assert!(reason.contains("NaN"), "{reason}");
        assert_eq!(o.candidate.decisions, 0);
    }
}

#[test]
fn a_faulting_candidate_is_refused_and_the_active_model_keeps_trading() {
    let (mut s, outcomes) = run(0, [2, 3], 5);
    let Verdict::Refuse { reason } = &outcomes[0].verdict else {
        panic!("{outcomes:?}")
    };
    assert!(reason.contains("unreachable executed"), "{reason}");
    assert_eq!(next_target(&mut s, 6), 1.0);
    assert!(s.shadow_progress().is_none());
}

#[test]
fn a_candidate_of_another_window_or_an_invalid_gate_is_refused_up_front() {
    let mut s = PolicyStrategy::new(guest(), &[2, 0]).unwrap();
    let (g, info) = candidate([3, 0]);
    assert!(matches!(
        s.start_shadow(g, &info, 2, GATE),
        Err(ModelError::Shape { .. })
    ));
    let (g, info) = candidate([2, 0]);
    let bad = GateConfig { decisions: 0, ..GATE };
    assert!(matches!(
        s.start_shadow(g, &info, 2, bad),
        Err(ModelError::Refused { .. })
    ));
    assert!(s.shadow_progress().is_none());
    let (g, info) = candidate([2, 0]);
    s.start_shadow(g, &info, 2, GATE).unwrap();
    let (g, info) = candidate([2, 1]);
    assert_eq!(
        s.start_shadow(g, &info, 3, GATE).unwrap(),
        Some(2),
        "replaces the running one"
    );
    assert_eq!(s.stop_shadow(), Some(3));
}
