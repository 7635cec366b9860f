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

fn measure(label: &str, config: HostConfig, bars: i64) {
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
        "{label:<22} {ns:>7.1} ns/on_bar  {:>6.2} M bars/s  ({bars} bars, {intents} intents)",
        1e3 / ns
    );
}

fn main() {
    let bars: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    measure("fuel on (default)", HostConfig::default(), bars);
    measure(
        "fuel off",
        HostConfig {
            fuel_per_callback: None,
            ..HostConfig::default()
        },
        bars,
    );
}
