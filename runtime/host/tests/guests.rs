//! End-to-end tests of the host against fixture guests built from `tests/fixtures`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::OnceLock;

use common::{bar, context, fixture};
use wasmtrade_host::{GuestEngine, HostConfig, HostError, StrategyModule};
use wasmtrade_model::{
    AccountView, ClientOrderId, Fill, GuestFault, GuestRng, IndicatorGuest, InstrumentId, LogLevel, Money,
    OrderId, PositionView, Price, Quantity, RawIntent, RawOrderType, RejectCode, RejectNotice, Rejection,
    Side, StrategyGuest, StrategyId, Tick, TickData, TimeInForce, Timestamp,
};

/// The default engine and the strategy fixture compiled once for all tests.
fn shared() -> &'static (GuestEngine, StrategyModule) {
    static SHARED: OnceLock<(GuestEngine, StrategyModule)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let engine = GuestEngine::new(HostConfig::default()).unwrap();
        let module = engine.load_strategy(&fixture("strategy")).unwrap();
        (engine, module)
    })
}

fn start(mode: &str) -> wasmtrade_host::WasmStrategy {
    shared()
        .1
        .instantiate(context(), &format!(r#"{{"mode":"{mode}"}}"#))
        .unwrap()
}

#[test]
fn runs_a_strategy_that_buys_every_third_bar() {
    let mut g = start("buy3");
    assert_eq!(g.info().name, "fixture-strategy");
    assert_eq!(g.info().contract_version, "0.1.0");
    let mut submitted = Vec::new();
    for n in 1..=9 {
        for intent in g.on_bar(&bar(n)).unwrap() {
            submitted.push(intent);
        }
    }
    assert_eq!(submitted.len(), 3);
    assert_eq!(
        submitted[0],
        RawIntent::Submit {
            client_id: "b3".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: 1.0,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Day,
        }
    );
    assert_eq!(submitted[2].client_id(), "b9");
    assert_eq!(g.sha256().len(), 64);
}

#[test]
fn host_imports_answer_from_the_context() {
    let mut g = start("imports");
    let ctx = g.context();
    ctx.now = Timestamp::from_secs(1234);
    ctx.positions.insert(
        InstrumentId(0),
        PositionView {
            quantity: 5.0,
            ..PositionView::default()
        },
    );
    ctx.account = AccountView {
        cash: 9000.5,
        ..AccountView::default()
    };
    ctx.set_indicator("sma", InstrumentId(0), Some(vec![101.5]));
    let expected_random = GuestRng::new(7).next_u64();

    g.on_bar(&bar(1)).unwrap();
    g.on_bar(&bar(2)).unwrap();

    let ctx = g.context();
    let line = &ctx.logs[0];
    assert_eq!(line.level, LogLevel::Warn);
    assert_eq!(
        line.message,
        format!(
            "now=1234000000000 rand={expected_random} pos=5 n=1 cash=9000.5 ind=Some([101.5]) sym=Some(\"AAPL\") by=Some(1) kv=0"
        )
    );
    assert!(ctx.logs[1].message.ends_with("kv=1"), "{}", ctx.logs[1].message);
    assert_eq!(ctx.kv.get("count").map(<[u8]>::len), Some(2));
    assert_eq!(
        ctx.timers.get("wake"),
        Some(&Timestamp::from_nanos(bar(2).ts.nanos() + 60))
    );
}

#[test]
fn converts_ticks_fills_timers_and_rejects() {
    let mut g = start("buy3");
    let tick = Tick {
        instrument: InstrumentId(1),
        ts: Timestamp::from_secs(1),
        data: TickData::Trade {
            price: Price::from_int(10),
            size: Quantity::from_int(500),
        },
    };
    assert_eq!(g.on_tick(&tick).unwrap()[0].client_id(), "tick");
    let fill = Fill {
        order_id: OrderId(1),
        strategy: StrategyId::new("s"),
        client_id: ClientOrderId::new("b3"),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: Quantity::from_int(2),
        price: "100.5".parse().unwrap(),
        commission: Money::from_f64(0.25).unwrap(),
        ts: Timestamp::from_secs(2),
        exec_id: "e1".into(),
    };
    assert_eq!(
        g.on_fill(&fill).unwrap(),
        vec![RawIntent::Amend {
            client_id: "b3".into(),
            quantity: Some(2.0),
            limit_price: Some(100.75),
        }]
    );
    assert_eq!(
        g.on_timer("wake", Timestamp::from_nanos(42)).unwrap(),
        vec![RawIntent::Cancel {
            client_id: "wake@42".into()
        }]
    );
    let notice = RejectNotice {
        strategy: StrategyId::new("s"),
        client_id: ClientOrderId::new("b6"),
        order_id: None,
        rejection: Rejection::new(RejectCode::MaxOrderQuantity, "quantity 9 above 5"),
        ts: Timestamp::from_secs(3),
    };
    assert_eq!(
        g.on_reject(&notice).unwrap_err(),
        GuestFault::Returned {
            message: "b6: max-order-quantity (quantity 9 above 5)".into()
        }
    );
    // A returned error does not quarantine.
    assert!(g.quarantined().is_none());
    assert!(g.on_bar(&bar(1)).is_ok());
}

#[test]
fn snapshot_restores_into_a_new_instance() {
    let mut a = start("buy3");
    a.on_bar(&bar(1)).unwrap();
    a.on_bar(&bar(2)).unwrap();
    let state = a.snapshot().unwrap();
    let mut b = start("buy3");
    b.restore(&state).unwrap();
    assert_eq!(b.on_bar(&bar(3)).unwrap()[0].client_id(), "b3");
    assert!(matches!(b.restore(b"xx"), Err(GuestFault::Returned { .. })));
}

#[test]
fn runs_an_indicator() {
    let engine = &shared().0;
    let module = engine.load_indicator(&fixture("indicator")).unwrap();
    let mut ind = module.instantiate(context(), "{}").unwrap();
    assert_eq!(ind.outputs(), ["sma".to_string()]);
    assert_eq!(ind.info().name, "fixture-sma");
    assert_eq!(ind.update(&bar(0)).unwrap(), None);
    assert_eq!(ind.update(&bar(1)).unwrap(), None);
    assert_eq!(ind.update(&bar(2)).unwrap(), Some(vec![100.25]));
    let state = ind.snapshot().unwrap();
    let mut again = module.instantiate(context(), "{}").unwrap();
    again.restore(&state).unwrap();
    assert_eq!(again.update(&bar(3)).unwrap(), Some(vec![100.5]));
    match module.instantiate(context(), r#"{"fail":true}"#) {
        Err(HostError::Init { message }) => assert_eq!(message, "period must be positive"),
        other => panic!("expected an init error, got {other:?}"),
    }
}

#[test]
fn refuses_files_that_are_not_components() {
    let engine = &shared().0;
    let err = engine.load_strategy(b"#!/bin/sh\necho hi\n").unwrap_err();
    assert!(matches!(err, HostError::NotWasm), "{err}");
    let core = b"\0asm\x01\0\0\0";
    let err = engine.load_strategy(core).unwrap_err();
    assert!(matches!(err, HostError::CoreModule));
    assert!(
        err.to_string().contains("build the guest for wasm32-wasip2"),
        "{err}"
    );
    let small = GuestEngine::new(HostConfig {
        max_module_bytes: 1024,
        ..HostConfig::default()
    })
    .unwrap();
    let err = small.load_strategy(&fixture("strategy")).unwrap_err();
    assert!(
        matches!(err, HostError::ModuleTooLarge { limit: 1024, .. }),
        "{err}"
    );
    let mut broken = fixture("strategy");
    broken.truncate(broken.len() / 2);
    assert!(matches!(
        engine.load_strategy(&broken),
        Err(HostError::Compile { .. })
    ));
}

#[test]
fn refuses_a_guest_of_the_wrong_world() {
    let engine = &shared().0;
    let err = engine.load_strategy(&fixture("indicator")).unwrap_err();
    let HostError::WorldMismatch { world, missing, .. } = &err else {
        panic!("expected a world mismatch, got {err}")
    };
    assert_eq!(*world, "strategy@0.1.0");
    assert!(missing.contains(&"on-bar".to_string()), "{missing:?}");
    let msg = err.to_string();
    assert!(msg.contains("does not export `on-bar`"), "{msg}");
    assert!(msg.contains("is it an indicator"), "{msg}");

    let err = engine.load_indicator(&fixture("strategy")).unwrap_err();
    let HostError::WorldMismatch { missing, .. } = &err else {
        panic!("expected a world mismatch, got {err}")
    };
    assert_eq!(missing, &["outputs".to_string(), "update".to_string()]);
}

#[test]
fn refuses_forbidden_imports_naming_them() {
    let engine = &shared().0;
    let err = engine.load_strategy(&fixture("fs-reader")).unwrap_err();
    let HostError::ForbiddenImports { imports } = &err else {
        panic!("expected forbidden imports, got {err}")
    };
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/types@")),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/preopens@")),
        "{imports:?}"
    );
    assert!(imports.iter().all(|i| !i.starts_with("wasi:cli/")), "{imports:?}");
    assert!(err.to_string().contains("`wasi:filesystem/types@"), "{err}");
}

#[test]
fn budget_fault_on_fuel_exhaustion_then_quarantine() {
    let engine = GuestEngine::new(HostConfig {
        fuel_per_callback: Some(2_000_000),
        ..HostConfig::default()
    })
    .unwrap();
    let module = engine.load_strategy(&fixture("strategy")).unwrap();
    let mut g = module.instantiate(context(), r#"{"mode":"spin"}"#).unwrap();
    assert!(g.on_bar(&bar(1)).is_ok());
    let fault = g.on_bar(&bar(2)).unwrap_err();
    assert_eq!(fault.kind(), "budget", "{fault}");
    assert!(matches!(g.on_bar(&bar(3)), Err(GuestFault::Quarantined { .. })));
    assert!(g.quarantined().unwrap().contains("cpu budget"));
}

#[test]
fn trap_is_reported_with_a_backtrace_then_quarantined() {
    let mut g = start("trap");
    for n in 1..=4 {
        g.on_bar(&bar(n)).unwrap();
    }
    let fault = g.on_bar(&bar(5)).unwrap_err();
    let GuestFault::Trap { reason, backtrace } = &fault else {
        panic!("expected a trap, got {fault}")
    };
    assert!(reason.contains("unreachable"), "{reason}");
    assert!(reason.contains("bar 5 is cursed"), "{reason}");
    assert!(backtrace.is_some());
    // The panic message also reached the guest log.
    assert!(
        g.context()
            .logs
            .iter()
            .any(|l| l.message.contains("bar 5 is cursed"))
    );
    assert!(matches!(g.on_bar(&bar(6)), Err(GuestFault::Quarantined { .. })));
    assert!(matches!(g.snapshot(), Err(GuestFault::Quarantined { .. })));
}

#[test]
fn memory_bomb_hits_the_limit_and_the_host_survives() {
    let engine = GuestEngine::new(HostConfig {
        max_memory_bytes: 32 << 20,
        ..HostConfig::default()
    })
    .unwrap();
    let module = engine.load_strategy(&fixture("strategy")).unwrap();
    let mut g = module.instantiate(context(), r#"{"mode":"bomb"}"#).unwrap();
    g.on_bar(&bar(1)).unwrap();
    let fault = g.on_bar(&bar(2)).unwrap_err();
    assert_eq!(fault.kind(), "limit", "{fault}");
    assert!(fault.to_string().contains("limit of 33554432 bytes"), "{fault}");
    let mut fresh = module.instantiate(context(), r#"{"mode":"buy3"}"#).unwrap();
    for n in 1..=3 {
        fresh.on_bar(&bar(n)).unwrap();
    }
}

#[test]
fn init_errors_carry_the_guest_message() {
    let module = &shared().1;
    match module.instantiate(context(), r#"{"mode":"init-error"}"#) {
        Err(HostError::Init { message }) => assert_eq!(message, "fast period 9 must be below slow period 3"),
        other => panic!("expected an init error, got {other:?}"),
    }
    match module.instantiate(context(), r#"{"mode":"init-trap"}"#) {
        Err(HostError::Startup {
            call: "init",
            fault: GuestFault::Trap { reason, .. },
        }) => assert!(reason.contains("init exploded"), "{reason}"),
        other => panic!("expected a startup trap, got {other:?}"),
    }
}

#[test]
fn too_many_intents_is_a_fault_without_quarantine() {
    let mut g = start("flood");
    assert_eq!(
        g.on_bar(&bar(1)).unwrap_err(),
        GuestFault::TooManyIntents {
            count: 5000,
            limit: 1000
        }
    );
    assert!(g.quarantined().is_none());
}

#[test]
fn stdout_and_stderr_go_to_the_guest_log() {
    let mut g = start("print");
    g.on_bar(&bar(1)).unwrap();
    let logs = &g.context().logs;
    assert!(
        logs.iter()
            .any(|l| l.level == LogLevel::Info && l.message == "stdout bar 1"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.level == LogLevel::Warn && l.message == "stderr bar 1"),
        "{logs:?}"
    );
}

#[test]
fn precompiled_artifacts_round_trip() {
    let (engine, module) = shared();
    let artifact = module.precompiled().unwrap();
    let loaded = engine.load_precompiled_strategy(&artifact).unwrap();
    assert_eq!(loaded.sha256(), module.sha256());
    let mut g = loaded.instantiate(context(), "{}").unwrap();
    assert_eq!(g.on_bar(&bar(3)).unwrap().len(), 0);
    let fp = engine.engine_fingerprint();
    assert_eq!(fp.len(), 64);
    assert_eq!(
        fp,
        GuestEngine::new(HostConfig::default())
            .unwrap()
            .engine_fingerprint()
    );
    let no_fuel = GuestEngine::new(HostConfig {
        fuel_per_callback: None,
        ..HostConfig::default()
    })
    .unwrap();
    assert_ne!(fp, no_fuel.engine_fingerprint());
    assert!(matches!(
        no_fuel.load_precompiled_strategy(&artifact),
        Err(HostError::Deserialize { .. })
    ));
    assert!(matches!(
        engine.load_precompiled_strategy(b"garbage"),
        Err(HostError::Deserialize { .. })
    ));
    // The world check runs again on artifacts.
    let indicator = engine
        .load_indicator(&fixture("indicator"))
        .unwrap()
        .precompiled()
        .unwrap();
    assert!(matches!(
        engine.load_precompiled_strategy(&indicator),
        Err(HostError::WorldMismatch { .. })
    ));
}

#[test]
fn pooling_allocator_runs_guests() {
    let engine = GuestEngine::new(HostConfig {
        pooling: true,
        pool_guests: 4,
        fuel_per_callback: None,
        ..HostConfig::default()
    })
    .unwrap();
    let module = engine.load_strategy(&fixture("strategy")).unwrap();
    let mut g = module.instantiate(context(), "{}").unwrap();
    let intents: usize = (1..=3).map(|n| g.on_bar(&bar(n)).unwrap().len()).sum();
    assert_eq!(intents, 1);
}
