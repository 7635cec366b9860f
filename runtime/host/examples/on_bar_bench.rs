//! Prints the cost of one `on_bar` call into the strategy fixture guest
//! (informational; the engine's benchmark measures the whole path).
//!
//! `cargo run --release -p wasmtrade-host --example on_bar_bench [bars]`
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(clippy::disallowed_methods, reason = "a benchmark reads the wall clock")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_model::StrategyGuest;

/// Nanoseconds per `on_bar` under `config`.
fn measure(label: &str, config: HostConfig, bars: i64) -> f64 {
    let engine = GuestEngine::new(config).unwrap();
    let module = engine.load_strategy(&common::fixture("strategy")).unwrap();
    let mut guest = module
        .instantiate(common::context(), r#"{"mode":"buy3"}"#)
        .unwrap();
    let input: Vec<_> = (0..1024).map(common::bar).collect();
    for b in &input {
        black_box(guest.on_bar(b).unwrap());
    }
    let start = Instant::now();
    let mut intents = 0usize;
    for i in 0..bars {
        intents += guest.on_bar(&input[(i & 1023) as usize]).unwrap().len();
    }
    let elapsed = start.elapsed();
    let ns = elapsed.as_nanos() as f64 / bars as f64;
    println!(
        "{label:<26} {ns:>7.1} ns/on_bar  {:>6.2} M bars/s  ({bars} bars, {intents} intents)",
        1e3 / ns
    );
    ns
}

fn main() {
    let bars: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let fuel = HostConfig::default();
    let none = HostConfig {
        fuel_per_callback: None,
        ..HostConfig::default()
    };
    let deadline = |base: &HostConfig| HostConfig {
        deadline_ms: Some(1_000),
        ..base.clone()
    };
    let fuel_ns = measure("fuel on (default)", fuel.clone(), bars);
    let none_ns = measure("fuel off", none.clone(), bars);
    let epoch_ns = measure("fuel off, deadline 1 s", deadline(&none), bars);
    let both_ns = measure("fuel on, deadline 1 s", deadline(&fuel), bars);
    println!(
        "epoch deadline overhead: {:+.1}% without fuel, {:+.1}% with fuel",
        (epoch_ns / none_ns - 1.0) * 100.0,
        (both_ns / fuel_ns - 1.0) * 100.0
    );
    println!(
        "fuel overhead:           {:+.1}%",
        (fuel_ns / none_ns - 1.0) * 100.0
    );
}
