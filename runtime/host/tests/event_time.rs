//! The engine's wall-time budget per event reaches into a running wasm
//! callback: the time it says is left shortens the callback's epoch
//! deadline, and a callback stopped by it faults as over the event budget
//! (not as over the per-callback deadline).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    reason = "the deadline tests measure wall-clock time"
)]

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{bar, context};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_model::{GuestFault, StrategyGuest};

fn guest(name: &str) -> Vec<u8> {
    let dir = match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/guest"),
    };
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("guest {} is not built ({e})", path.display()))
}

#[test]
fn the_time_left_of_the_event_budget_interrupts_a_looping_callback() {
    let engine = GuestEngine::new(HostConfig {
        fuel_per_callback: None,
        deadline_ms: Some(5_000),
        ..HostConfig::default()
    })
    .unwrap();
    let module = engine.load_strategy(&guest("hostile_infinite_loop")).unwrap();
    let mut g = module.instantiate(context(), r#"{"after": 1}"#).unwrap();
    // A time left longer than the callback needs changes nothing.
    g.set_time_left(Some(Duration::from_secs(1)));
    g.on_bar(&bar(1)).unwrap();
    g.set_time_left(Some(Duration::from_millis(40)));
    let start = Instant::now();
    let fault = g.on_bar(&bar(2)).unwrap_err();
    let took = start.elapsed();
    match &fault {
        GuestFault::EventBudget { what } => assert!(what.contains("40 ms"), "{what}"),
        other => panic!("expected an event budget fault, got {other}"),
    }
    assert!(took >= Duration::from_millis(40), "{took:?}");
    // Far below the 5 s per-callback deadline.
    assert!(took < Duration::from_secs(2), "{took:?}");
}
