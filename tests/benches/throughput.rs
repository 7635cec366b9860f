//! Backtest throughput through the full path (guest + risk + OMS + paper
//! broker) on 1,000,000 synthetic bars: the wasm `sma-cross` against the
//! same source compiled natively, measured in one run.
//!
//! `cargo bench --workspace --bench throughput` (after `make guests`).
//! Set `BENCH_BARS` to change the number of bars.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use sma_cross::SmaCross;
use wasmtrade_e2e::guest_bytes;
use wasmtrade_engine::{Backtest, BacktestConfig, EventBudget};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_market::{SynthConfig, generate};
use wasmtrade_model::{Bar, GuestContext, Instruments, Money, StrategyGuest, StrategyId};
use wasmtrade_native::NativeStrategy;

const CONFIG: &str = r#"{"fast": 10, "slow": 30}"#;

/// An event budget whose limits no run reaches: the work is still counted
/// but never found over a limit (the closest the engine comes to "off").
const UNLIMITED: EventBudget = EventBudget {
    max_callbacks: u32::MAX,
    max_intents: u32::MAX,
    max_rejects: u32::MAX,
    max_time_ms: None,
};

#[allow(clippy::disallowed_methods)]
fn time_run(
    guest: Box<dyn StrategyGuest>,
    bars: &[Bar],
    instruments: &Arc<Instruments>,
) -> (Duration, usize, Money) {
    time_run_with(guest, bars, instruments, EventBudget::default())
}

#[allow(clippy::disallowed_methods)]
fn time_run_with(
    guest: Box<dyn StrategyGuest>,
    bars: &[Bar],
    instruments: &Arc<Instruments>,
    budget: EventBudget,
) -> (Duration, usize, Money) {
    let cfg = BacktestConfig {
        starting_cash: Money::from_int(1_000_000),
        budget,
        ..BacktestConfig::default()
    };
    let mut bt = Backtest::new(instruments.clone(), cfg).unwrap();
    bt.add_strategy(StrategyId::new("sma-cross"), guest).unwrap();
    let start = std::time::Instant::now();
    let r = bt.run(bars.iter(), &mut |_| {}).unwrap();
    (start.elapsed(), r.trades.len(), r.final_equity())
}

/// Calls `on_bar` directly, without the engine: the guest call alone.
#[allow(clippy::disallowed_methods)]
fn time_calls(mut guest: Box<dyn StrategyGuest>, bars: &[Bar]) -> Duration {
    let start = std::time::Instant::now();
    let mut intents = 0usize;
    for bar in bars {
        intents += guest.on_bar(bar).unwrap().len();
    }
    std::hint::black_box(intents);
    start.elapsed()
}

fn main() {
    let n: usize = std::env::var("BENCH_BARS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut instruments = Instruments::new();
    let cfg = SynthConfig {
        bars: n,
        seed: 11,
        interval_secs: 60,
        ..SynthConfig::default()
    };
    let bars = generate(&cfg, &mut instruments).unwrap();
    let instruments = Arc::new(instruments);
    let wasm = guest_bytes("sma_cross").unwrap();

    let native = || -> Box<dyn StrategyGuest> {
        Box::new(NativeStrategy::<SmaCross>::new(GuestContext::new(instruments.clone(), 1), CONFIG).unwrap())
    };
    let wasm_with = |fuel: Option<u64>| -> Box<dyn StrategyGuest> {
        let host = GuestEngine::new(HostConfig {
            fuel_per_callback: fuel,
            ..HostConfig::default()
        })
        .unwrap();
        let module = host.load_strategy(&wasm).unwrap();
        Box::new(
            module
                .instantiate(GuestContext::new(instruments.clone(), 1), CONFIG)
                .unwrap(),
        )
    };
    let default_fuel = HostConfig::default().fuel_per_callback;

    // Warm up, then interleave rounds: native, wasm (default fuel), wasm (no
    // fuel), wasm (default fuel, an event budget no run reaches).
    let _ = time_run(native(), &bars[..bars.len().min(50_000)], &instruments);
    let rounds = 3;
    let mut best = [Duration::MAX; 4];
    let mut checks = Vec::new();
    for _ in 0..rounds {
        let runs = [
            time_run(native(), &bars, &instruments),
            time_run(wasm_with(default_fuel), &bars, &instruments),
            time_run(wasm_with(None), &bars, &instruments),
            time_run_with(wasm_with(default_fuel), &bars, &instruments, UNLIMITED),
        ];
        for (i, (d, trades, equity)) in runs.iter().enumerate() {
            best[i] = best[i].min(*d);
            checks.push((i, *trades, *equity));
        }
    }
    let first = checks[0];
    assert!(
        checks.iter().all(|c| c.1 == first.1 && c.2 == first.2),
        "runs disagree: {checks:?}"
    );

    let mut calls = [Duration::MAX; 2];
    for _ in 0..rounds {
        calls[0] = calls[0].min(time_calls(native(), &bars));
        calls[1] = calls[1].min(time_calls(wasm_with(default_fuel), &bars));
    }

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "backtest throughput, {n} bars, sma-cross fast=10 slow=30, {} trades, best of {rounds} rounds",
        first.1
    );
    println!(
        "  native            {:>12.0} bars/s  ({:.3} s)",
        rate(best[0]),
        best[0].as_secs_f64()
    );
    println!(
        "  wasm (fuel {:?}) {:>12.0} bars/s  ({:.3} s)",
        default_fuel,
        rate(best[1]),
        best[1].as_secs_f64()
    );
    println!(
        "  wasm (no fuel)    {:>12.0} bars/s  ({:.3} s)",
        rate(best[2]),
        best[2].as_secs_f64()
    );
    println!(
        "  wasm (fuel, event budget never reached) {:>12.0} bars/s  ({:.3} s)",
        rate(best[3]),
        best[3].as_secs_f64()
    );
    let pct = |a: Duration, b: Duration| (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0;
    println!(
        "  safety cost: event budget checks {:+.1} % (defaults vs limits never reached), fuel with host-call charges {:+.1} % (vs no fuel, host calls charged to a counter)",
        pct(best[1], best[3]),
        pct(best[1], best[2])
    );
    println!(
        "  ratio wasm/native (time): fuel {:.2}x, no fuel {:.2}x",
        best[1].as_secs_f64() / best[0].as_secs_f64(),
        best[2].as_secs_f64() / best[0].as_secs_f64()
    );
    let ns = |d: Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "  per bar, full path: native {:.0} ns, wasm {:.0} ns",
        ns(best[0]),
        ns(best[1])
    );
    println!(
        "  per bar, on_bar call alone (no engine): native {:.0} ns, wasm {:.0} ns",
        ns(calls[0]),
        ns(calls[1])
    );
    println!(
        "  engine path without the guest ≈ {:.0} ns per bar; the wasm boundary adds ≈ {:.0} ns per call",
        ns(best[0]) - ns(calls[0]),
        ns(calls[1]) - ns(calls[0])
    );
}
