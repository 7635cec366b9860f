#![allow(clippy::unwrap_used, reason = "tests")]
//! Activation, restart and store-failure paths of the loop's deployments.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, Instruments, Intents, RejectNotice, Tick, Timestamp,
};

use super::*;
use crate::deployments::tests::{Flaky, store_with_two_versions};

const A: &str = r#"{"k":"a"}"#;
const B: &str = r#"{"k":"b"}"#;

/// A guest whose snapshot is its tag: which object runs is observable.
struct Tagged {
    tag: u8,
    /// The state it was restored from, if any.
    restored: Option<Vec<u8>>,
    info: GuestInfo,
    ctx: GuestContext,
}

fn tagged(tag: u8) -> NewGuest {
    NewGuest::Strategy(Box::new(Tagged {
        tag,
        restored: None,
        info: GuestInfo::default(),
        ctx: GuestContext::new(Arc::new(Instruments::new()), 1),
    }))
}

impl StrategyGuest for Tagged {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        Ok(vec![])
    }
    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Ok(vec![])
    }
    fn on_fill(&mut self, _fill: &Fill) -> Intents {
        Ok(vec![])
    }
    fn on_timer(&mut self, _name: &str, _ts: Timestamp) -> Intents {
        Ok(vec![])
    }
    fn on_reject(&mut self, _notice: &RejectNotice) -> Intents {
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![self.tag])
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        self.restored = Some(state.to_vec());
        Ok(())
    }
}

fn install(version: u32, config: &str) -> Install {
    Install {
        version,
        config: config.to_string(),
        action: SwapAction::Activate,
        restore: None,
        persist: true,
    }
}

fn running_tag(core: &mut Core) -> Option<u8> {
    let slot = core.engine.strategy_mut(&StrategyId::new("s"))?;
    slot.guest.snapshot().ok().and_then(|s| s.first().copied())
}

fn pair(version: u32, config: &str) -> Option<ActivePair> {
    Some(ActivePair {
        version,
        config: config.to_string(),
    })
}

#[test]
fn a_store_write_that_fails_undoes_the_swap_and_the_old_version_runs_on() {
    let (_dir, store) = store_with_two_versions();
    let flaky = Arc::new(Flaky {
        store: store.clone(),
        fail: AtomicBool::new(false),
    });
    let mut core = Core::for_tests(store.clone(), flaky.clone());
    core.install("s", tagged(1), install(1, A)).unwrap();
    flaky.fail.store(true, Ordering::SeqCst);

    let err = core.install("s", tagged(2), install(2, B)).unwrap_err();
    let LiveError::Aborted(message) = &err else {
        panic!("not an abort: {err:?}");
    };
    assert!(
        message.contains("the store did not record `s` v2 as active")
            && message.contains("injected failure")
            && message.contains("the swap was undone and version 1 keeps running"),
        "{message}"
    );
    // The running guest, the loop's record and the store agree: v1 with A.
    assert_eq!(running_tag(&mut core), Some(1));
    let status = core.status();
    assert_eq!(
        status
            .iter()
            .map(|r| (r.version, r.config.as_str()))
            .collect::<Vec<_>>(),
        [(1, A)]
    );
    let stored = store.modules().get("s").unwrap().unwrap();
    assert_eq!((stored.active_pair(), stored.previous), (pair(1, A), None));

    // Once the store takes writes again, the same activation goes through.
    flaky.fail.store(false, Ordering::SeqCst);
    let done = core.install("s", tagged(2), install(2, B)).unwrap();
    assert_eq!(done.previous, Some(1));
    assert_eq!(running_tag(&mut core), Some(2));
    let stored = store.modules().get("s").unwrap().unwrap();
    assert_eq!((stored.active_pair(), stored.previous), (pair(2, B), pair(1, A)));
}

#[test]
fn a_first_start_the_store_cannot_record_leaves_the_module_stopped() {
    let (_dir, store) = store_with_two_versions();
    let flaky = Arc::new(Flaky {
        store: store.clone(),
        fail: AtomicBool::new(true),
    });
    let mut core = Core::for_tests(store.clone(), flaky);
    let err = core.install("s", tagged(1), install(1, A)).unwrap_err();
    assert!(err.to_string().contains("the module stays stopped"), "{err}");
    assert!(!core.engine.has_strategy(&StrategyId::new("s")));
    assert!(core.status().is_empty());
    assert_eq!(store.modules().get("s").unwrap().unwrap().active, None);
}

#[test]
fn a_quarantined_guest_put_back_after_a_failed_write_stays_quarantined() {
    let (_dir, store) = store_with_two_versions();
    let flaky = Arc::new(Flaky {
        store: store.clone(),
        fail: AtomicBool::new(false),
    });
    let mut core = Core::for_tests(store.clone(), flaky.clone());
    core.install("s", tagged(1), install(1, A)).unwrap();
    let quarantined = SlotState::Quarantined {
        reason: "trap in on_bar".into(),
    };
    core.engine.strategy_mut(&StrategyId::new("s")).unwrap().state = quarantined.clone();
    flaky.fail.store(true, Ordering::SeqCst);
    core.install("s", tagged(2), install(2, B)).unwrap_err();
    let slot = core.engine.strategy_mut(&StrategyId::new("s")).unwrap();
    assert_eq!(slot.state, quarantined);
}

fn strategy(guest: NewGuest) -> Box<dyn StrategyGuest + Send> {
    match guest {
        NewGuest::Strategy(g) => g,
        NewGuest::Indicator(_) => unreachable!("a strategy"),
    }
}

#[test]
fn a_faulted_policy_is_listed_and_restarts_from_its_last_good_snapshot() {
    let (_dir, store) = store_with_two_versions();
    let flaky = Arc::new(Flaky {
        store: store.clone(),
        fail: AtomicBool::new(false),
    });
    let mut core = Core::for_tests(store.clone(), flaky);
    let hosted = crate::policy::Hosted {
        model: "m".into(),
        version: 3,
        last_good: None,
        candidate: None,
    };
    core.add_policy("p".into(), hosted, strategy(tagged(7))).unwrap();
    // The periodic snapshot keeps the policy's state as its last good one.
    core.keep_snapshots();
    let id = StrategyId::new("p");
    assert_eq!(store.snapshots().latest(&id).unwrap().unwrap().state, [7]);
    core.engine.strategy_mut(&id).unwrap().state = SlotState::Quarantined {
        reason: "trap in act".into(),
    };
    let listed = core.status().into_iter().find(|r| r.name == "p").unwrap();
    assert_eq!(
        (listed.model.as_deref(), listed.version, &listed.state),
        (
            Some("m"),
            3,
            &crate::view::RunState::Quarantined("trap in act".into())
        )
    );
    // Only the model version that faulted is restarted...
    let err = core.restart("p", 2, strategy(tagged(0))).unwrap_err();
    assert!(
        err.to_string().contains("no longer the quarantined version"),
        "{err}"
    );
    // ...from its last good snapshot, and it runs again.
    let done = core.restart("p", 3, strategy(tagged(0))).unwrap();
    assert_eq!(done.state_bytes, 1);
    let slot = core.engine.strategy_mut(&id).unwrap();
    assert!(slot.is_active());
    let guest: &mut dyn std::any::Any = slot.guest.as_mut();
    let restarted = guest.downcast_mut::<Tagged>().unwrap();
    assert_eq!(
        (restarted.tag, restarted.restored.as_deref()),
        (0, Some(&[7u8][..]))
    );
}
