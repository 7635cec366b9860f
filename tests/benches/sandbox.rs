//! What the sandbox's safety mechanisms cost, measured in one run so the
//! ratios compare like with like.
//!
//! `cargo bench --workspace --bench sandbox` (after `make guests`).
//! Set `BENCH_BARS` to change the number of bars (default 2,000,000).
//!
//! The figures:
//!
//! 1. **Interruption overhead.** The whole backtest path (engine, risk, OMS,
//!    paper broker and the wasm `sma-cross` guest with `fast=10 slow=30` and a
//!    fixed `quantity`) over synthetic one-minute bars, under four
//!    [`HostConfig`]s: no interruption (no fuel, no deadline), fuel only (the
//!    default budget per callback), epoch deadline only (`deadline_ms` 1000)
//!    and fuel plus deadline (the live default). Each configuration runs three
//!    times, interleaved, and the fastest run counts; `bars/s` and `ns/bar`
//!    are over the whole path, and the ratio is the time against "no
//!    interruption". The target is under 10% for the live mechanism (fuel +
//!    1 s deadline); the line says PASS or FAIL.
//! 2. **Instantiation time.** Starting `sma-cross` (a fresh store, `info()`
//!    and `init(config)`) from an already compiled module, 300 times each with
//!    the on-demand allocator and with the pooling allocator, interleaved;
//!    each instance is dropped (untimed) before the next. p50, p99 and max in
//!    µs, and the on-demand / pooling ratio at p50.

#![allow(clippy::print_stdout, reason = "a bench binary reports on stdout")]
#![allow(clippy::disallowed_methods, reason = "a benchmark reads the wall clock")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly on any setup error"
)]
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use wasmtrade_e2e::guest_bytes;
use wasmtrade_engine::{Backtest, BacktestConfig};
use wasmtrade_host::{GuestEngine, HostConfig, StrategyModule};
use wasmtrade_market::{SynthConfig, generate};
use wasmtrade_model::{Bar, GuestContext, Instruments, Money, StrategyId};

const CONFIG: &str = r#"{"fast": 10, "slow": 30, "quantity": 100}"#;
const ROUNDS: usize = 3;
const INSTANTIATIONS: usize = 300;
/// Largest acceptable time overhead of the live mechanism (fuel + deadline).
const TARGET_OVERHEAD: f64 = 0.10;

/// One sandbox configuration with its engine and compiled guest.
struct Variant {
    label: &'static str,
    // Keeps the engine (and its epoch ticker) alive while the module is used.
    _engine: GuestEngine,
    module: StrategyModule,
}

impl Variant {
    fn new(label: &'static str, config: HostConfig, wasm: &[u8]) -> Self {
        let engine = GuestEngine::new(config).expect("host config is valid");
        let module = engine.load_strategy(wasm).expect("sma_cross compiles");
        Self {
            label,
            _engine: engine,
            module,
        }
    }
}

/// Time of a whole backtest over `bars`, with the number of trades and the
/// final equity (to check every configuration computes the same thing).
fn time_backtest(
    module: &StrategyModule,
    bars: &[Bar],
    instruments: &Arc<Instruments>,
) -> (Duration, usize, Money) {
    let guest = module
        .instantiate(GuestContext::new(instruments.clone(), 1), CONFIG)
        .expect("sma_cross starts");
    let cfg = BacktestConfig {
        starting_cash: Money::from_int(1_000_000),
        ..BacktestConfig::default()
    };
    let mut bt = Backtest::new(instruments.clone(), cfg).unwrap();
    bt.add_strategy(StrategyId::new("sma-cross"), Box::new(guest))
        .unwrap();
    let start = Instant::now();
    let r = bt.run(bars.iter(), &mut |_| {}).unwrap();
    (start.elapsed(), r.trades.len(), r.final_equity())
}

fn interruption_overhead(wasm: &[u8]) {
    let n: usize = std::env::var("BENCH_BARS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let mut instruments = Instruments::new();
    let synth = SynthConfig {
        bars: n,
        seed: 11,
        interval_secs: 60,
        ..SynthConfig::default()
    };
    let bars = generate(&synth, &mut instruments).unwrap();
    let instruments = Arc::new(instruments);

    let default_fuel = HostConfig::default().fuel_per_callback;
    let with = |fuel: Option<u64>, deadline_ms: Option<u64>| HostConfig {
        fuel_per_callback: fuel,
        deadline_ms,
        ..HostConfig::default()
    };
    let variants = [
        Variant::new("no interruption", with(None, None), wasm),
        Variant::new("fuel", with(default_fuel, None), wasm),
        Variant::new("deadline 1 s", with(None, Some(1_000)), wasm),
        Variant::new("fuel + deadline 1 s", with(default_fuel, Some(1_000)), wasm),
    ];

    // Warm up every variant, then interleave the rounds: A B C D A B C D ...
    let warm = &bars[..bars.len().min(20_000)];
    for v in &variants {
        black_box(time_backtest(&v.module, warm, &instruments));
    }
    let mut best = [Duration::MAX; 4];
    let mut checks = Vec::new();
    for _ in 0..ROUNDS {
        for (i, v) in variants.iter().enumerate() {
            let (d, trades, equity) = time_backtest(&v.module, &bars, &instruments);
            best[i] = best[i].min(d);
            checks.push((v.label, trades, equity));
        }
    }
    let first = checks[0];
    assert!(
        checks.iter().all(|c| c.1 == first.1 && c.2 == first.2),
        "configurations disagree on the backtest: {checks:?}"
    );

    println!(
        "1. interruption overhead: full backtest path, wasm sma-cross fast=10 slow=30 quantity=100, \
         {n} bars, {} trades, best of {ROUNDS} interleaved rounds",
        first.1
    );
    let base = best[0].as_secs_f64();
    for (v, d) in variants.iter().zip(best) {
        let secs = d.as_secs_f64();
        println!(
            "  {:<22} {:>11.0} bars/s  {:>6.0} ns/bar  ({:.3} s)  {:.2}x ({:+.1}%)",
            v.label,
            n as f64 / secs,
            secs * 1e9 / n as f64,
            secs,
            secs / base,
            (secs / base - 1.0) * 100.0
        );
    }
    let live = best[3].as_secs_f64() / base - 1.0;
    println!(
        "  target: fuel + deadline 1 s (the live mechanism) < {:.0}% over no interruption: {:+.1}% {}",
        TARGET_OVERHEAD * 100.0,
        live * 100.0,
        if live < TARGET_OVERHEAD { "PASS" } else { "FAIL" }
    );
}

fn instantiation(wasm: &[u8]) {
    let mut instruments = Instruments::new();
    let synth = SynthConfig {
        bars: 1,
        ..SynthConfig::default()
    };
    generate(&synth, &mut instruments).unwrap();
    let instruments = Arc::new(instruments);

    let variants = [
        Variant::new(
            "on-demand",
            HostConfig {
                pooling: false,
                ..HostConfig::default()
            },
            wasm,
        ),
        Variant::new(
            "pooling (16 slots)",
            HostConfig {
                pooling: true,
                pool_guests: 16,
                ..HostConfig::default()
            },
            wasm,
        ),
    ];
    let mut hists: Vec<Histogram<u64>> = variants.iter().map(|_| Histogram::new(3).unwrap()).collect();
    let once = |module: &StrategyModule| -> Duration {
        let start = Instant::now();
        let guest = module
            .instantiate(GuestContext::new(instruments.clone(), 1), CONFIG)
            .expect("sma_cross starts");
        let elapsed = start.elapsed();
        drop(black_box(guest));
        elapsed
    };
    for v in &variants {
        for _ in 0..10 {
            once(&v.module);
        }
    }
    for _ in 0..INSTANTIATIONS {
        for (v, h) in variants.iter().zip(hists.iter_mut()) {
            let ns = u64::try_from(once(&v.module).as_nanos()).unwrap_or(u64::MAX);
            h.record(ns.max(1)).unwrap();
        }
    }

    println!(
        "2. instantiation: sma-cross from a compiled module (store + info + init), \
         {INSTANTIATIONS} each, interleaved"
    );
    let us = |ns: u64| ns as f64 / 1e3;
    for (v, h) in variants.iter().zip(&hists) {
        println!(
            "  {:<22} p50 {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs",
            v.label,
            us(h.value_at_quantile(0.50)),
            us(h.value_at_quantile(0.99)),
            us(h.max())
        );
    }
    let ratio = hists[0].value_at_quantile(0.50) as f64 / hists[1].value_at_quantile(0.50) as f64;
    println!("  on-demand / pooling at p50: {ratio:.2}x");
}

fn main() -> std::process::ExitCode {
    let wasm = match guest_bytes("sma_cross") {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("sandbox costs: `cargo bench --workspace --bench sandbox`");
    interruption_overhead(&wasm);
    instantiation(&wasm);
    std::process::ExitCode::SUCCESS
}
