//! The adapter driven by a scripted policy.

use std::sync::Arc;

use wasmtrade_model::{
    AccountView, Bar, FEATURES, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, ModelError,
    ModelInfo, Observation, PolicyAction, PolicyDecision, PolicyGuest, Price, Quantity, RawIntent,
    StrategyGuest, Timestamp,
};

use crate::{LoadsModel, PolicyStrategy, as_policy};

/// A policy whose model is the window length it takes; it always targets
/// half of equity long.
struct Half {
    info: GuestInfo,
    ctx: GuestContext,
}

impl PolicyGuest for Half {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        let [rows] = model else {
            return Err(ModelError::Refused {
                message: "not a model".into(),
            });
        };
        Ok(ModelInfo {
            input_shape: vec![1, u32::from(*rows), FEATURES as u32],
            actions: 3,
        })
    }
    fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault> {
        assert_eq!(observation.features.len(), observation.rows as usize * FEATURES);
        Ok(PolicyAction {
            decision: PolicyDecision::Target(0.5),
            index: 2,
            probabilities: vec![0.0, 0.0, 1.0],
            value: 0.0,
        })
    }
}

/// The context of a guest trading instrument `AAA` with 10 000 of cash.
pub(crate) fn funded_context() -> GuestContext {
    let mut instruments = Instruments::new();
    instruments.intern("AAA");
    let mut ctx = GuestContext::new(Arc::new(instruments), 1);
    ctx.account = AccountView {
        cash: 10_000.0,
        equity: 10_000.0,
        buying_power: 10_000.0,
        ..AccountView::default()
    };
    ctx
}

fn strategy(rows: u8) -> PolicyStrategy<Half> {
    let ctx = funded_context();
    let half = Half {
        info: GuestInfo {
            name: "half".into(),
            ..GuestInfo::default()
        },
        ctx,
    };
    PolicyStrategy::new(half, &[rows]).unwrap()
}

fn bar(secs: i64) -> Bar {
    let p = Price::from_int(100);
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(secs),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: Quantity::from_int(10),
    }
}

#[test]
fn a_full_window_turns_the_target_into_one_market_order() {
    let mut s = strategy(2);
    assert_eq!(
        s.on_bar(&bar(0)).unwrap(),
        Vec::new(),
        "the window is not full yet"
    );
    let intents = s.on_bar(&bar(60)).unwrap();
    let [RawIntent::Submit { quantity, .. }] = intents.as_slice() else {
        panic!("one order: {intents:?}")
    };
    assert_eq!(*quantity, 50.0, "half of 10 000 at 100");
    assert_eq!(s.stats().steps, 1);
    assert_eq!(s.on_bar(&bar(120)).unwrap(), Vec::new(), "its order still works");
}

#[test]
fn a_model_swap_keeps_the_state_and_a_model_of_another_window_is_refused() {
    let mut s = strategy(2);
    s.on_bar(&bar(0)).unwrap();
    let before = s.snapshot().unwrap();
    LoadsModel::load_model(&mut s, &[2]).unwrap();
    assert_eq!(s.snapshot().unwrap(), before);
    assert!(matches!(s.load_model(&[3]), Err(ModelError::Shape { .. })));
    assert!(matches!(s.load_model(b"no"), Err(ModelError::Refused { .. })));
    s.on_bar(&bar(60)).unwrap();
    let full = s.snapshot().unwrap();
    let mut other = strategy(2);
    other.restore(&full).unwrap();
    assert_eq!(other.snapshot().unwrap(), full);
    assert_eq!(other.stats(), s.stats());
    assert!(
        strategy(1).restore(&full).is_err(),
        "a window longer than the model's"
    );
}

#[test]
fn only_a_policy_is_found_behind_a_strategy() {
    let mut boxed: Box<dyn StrategyGuest> = Box::new(strategy(2));
    assert!(as_policy::<PolicyStrategy<Half>>(boxed.as_mut()).is_some());
    // Another policy type is not it either.
    assert!(as_policy::<PolicyStrategy<Box<dyn PolicyGuest>>>(boxed.as_mut()).is_none());
}
