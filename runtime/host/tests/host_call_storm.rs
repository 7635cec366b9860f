//! Host calls cost fuel (issue 15, item 3): the `hostile-host-call-storm`
//! guest, whose own code does almost nothing but makes the host copy a 1 MB
//! key-value entry thousands of times or answer hundreds of thousands of
//! `position-of` per bar, runs out of its budget per callback and is
//! stopped with a fault naming the host call; a guest making a few host
//! calls pays for them in proportion to the bytes they copy and runs on.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::path::PathBuf;

use common::{bar, context};
use wasmtrade_host::{GuestEngine, HOST_WORK_PER_CALLBACK, HostConfig, WasmStrategy};
use wasmtrade_model::{GuestFault, StrategyGuest};

fn guest(name: &str) -> Vec<u8> {
    let dir = match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/guest"),
    };
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("guest {} is not built ({e})", path.display()))
}

fn storm(engine: &GuestEngine, config: &str) -> WasmStrategy {
    let module = engine.load_strategy(&guest("hostile_host_call_storm")).unwrap();
    module.instantiate(context(), config).unwrap()
}

/// The budget named by the fault of the first bar; the guest is stopped for good.
fn budget_fault(g: &mut WasmStrategy) -> String {
    let fault = g.on_bar(&bar(1)).unwrap_err();
    let GuestFault::Budget { budget } = fault else {
        panic!("expected a budget fault, got {fault}");
    };
    assert!(matches!(g.on_bar(&bar(2)), Err(GuestFault::Quarantined { .. })));
    assert!(g.quarantined().is_some());
    budget
}

#[test]
fn a_kv_get_storm_runs_out_of_fuel_in_the_host_call() {
    let engine = GuestEngine::new(HostConfig::default()).unwrap();
    let mut g = storm(
        &engine,
        r#"{"mode": "kv-get", "calls": 2000, "value_bytes": 1000000}"#,
    );
    let budget = budget_fault(&mut g);
    assert!(
        budget.starts_with(
            "fuel 50000000 per callback, used up by host calls: host call `kv-get` needed 125121 units"
        ),
        "{budget}"
    );
}

#[test]
fn a_position_of_storm_runs_out_of_fuel_in_the_host_call() {
    let engine = GuestEngine::new(HostConfig::default()).unwrap();
    let mut g = storm(&engine, r#"{"mode": "position-of", "calls": 700000}"#);
    let budget = budget_fault(&mut g);
    // Either a charge or the guest's own next instruction finds the tank
    // empty; either way the fault says the host calls emptied it.
    assert!(
        budget.starts_with("fuel 50000000 per callback, used up by host calls: "),
        "{budget}"
    );
    assert!(budget.contains("`position-of`"), "{budget}");
}

#[test]
fn without_fuel_the_storm_exhausts_the_host_work_budget() {
    let engine = GuestEngine::new(HostConfig {
        fuel_per_callback: None,
        ..HostConfig::default()
    })
    .unwrap();
    let mut g = storm(&engine, r#"{"mode": "kv-get", "calls": 2000}"#);
    let budget = budget_fault(&mut g);
    assert!(
        budget.starts_with(&format!(
            "host-call budget {HOST_WORK_PER_CALLBACK} per callback (fuel is off), used up by host calls: host call `kv-get`"
        )),
        "{budget}"
    );
}

#[test]
fn a_few_host_calls_are_charged_by_the_bytes_and_the_guest_runs_on() {
    let engine = GuestEngine::new(HostConfig::default()).unwrap();
    let fuel_for = |value_bytes: usize| {
        let mut g = storm(
            &engine,
            &format!(r#"{{"mode": "kv-get", "calls": 10, "value_bytes": {value_bytes}}}"#),
        );
        g.take_fuel_used();
        for i in 1..=3 {
            assert!(g.on_bar(&bar(i)).unwrap().is_empty());
        }
        assert!(g.quarantined().is_none());
        g.take_fuel_used()
    };
    let small = fuel_for(1_000);
    let large = fuel_for(101_000);
    // 3 bars × 10 reads × 100 000 more bytes at 8 bytes per unit in the
    // host, plus what the guest spends on the larger buffers itself.
    let host_share = 3 * 10 * 100_000 / 8;
    assert!(large - small >= host_share, "{small} → {large}");
    assert!(large - small < 2 * host_share, "{small} → {large}");
}
