//! The same strategy source runs natively and as a sandboxed wasm guest with
//! identical results, and backtests are deterministic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::Arc;

use sma_cross::SmaCross;
use wasmtrade_e2e::{guest_bytes, guest_path, run_cli};
use wasmtrade_engine::{Backtest, BacktestConfig, BacktestResult};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_market::{SynthConfig, generate};
use wasmtrade_model::{Bar, GuestContext, Instruments, Money, Rate, StrategyGuest, StrategyId};
use wasmtrade_native::NativeStrategy;

const CONFIG: &str = r#"{"fast": 10, "slow": 30}"#;

fn data(bars: usize) -> (Vec<Bar>, Arc<Instruments>) {
    let mut instruments = Instruments::new();
    let cfg = SynthConfig {
        bars,
        seed: 7,
        ..SynthConfig::default()
    };
    let bars = generate(&cfg, &mut instruments).unwrap();
    (bars, Arc::new(instruments))
}

fn config() -> BacktestConfig {
    let mut c = BacktestConfig {
        starting_cash: Money::from_int(100_000),
        ..BacktestConfig::default()
    };
    c.paper.commission.rate = "0.001".parse::<Rate>().unwrap();
    c
}

fn run(guest: Box<dyn StrategyGuest>, bars: &[Bar], instruments: &Arc<Instruments>) -> BacktestResult {
    let mut bt = Backtest::new(instruments.clone(), config()).unwrap();
    bt.add_strategy(StrategyId::new("sma-cross"), guest).unwrap();
    bt.run(bars.iter(), &mut |_| {}).unwrap()
}

fn wasm_guest(instruments: &Arc<Instruments>) -> Box<dyn StrategyGuest> {
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let module = host.load_strategy(&guest_bytes("sma_cross").unwrap()).unwrap();
    Box::new(
        module
            .instantiate(GuestContext::new(instruments.clone(), 42), CONFIG)
            .unwrap(),
    )
}

fn native_guest(instruments: &Arc<Instruments>) -> Box<dyn StrategyGuest> {
    Box::new(NativeStrategy::<SmaCross>::new(GuestContext::new(instruments.clone(), 42), CONFIG).unwrap())
}

fn trades_csv(r: &BacktestResult) -> Vec<u8> {
    let mut out = Vec::new();
    r.write_trades_csv(&mut out).unwrap();
    out
}

#[test]
fn native_and_wasm_sma_cross_trade_identically() {
    let (bars, instruments) = data(5_000);
    let native = run(native_guest(&instruments), &bars, &instruments);
    let wasm = run(wasm_guest(&instruments), &bars, &instruments);
    assert!(
        native.trades.len() >= 20,
        "the data must produce trades, got {}",
        native.trades.len()
    );
    assert_eq!(native.fills, wasm.fills);
    assert_eq!(
        String::from_utf8(trades_csv(&native)).unwrap(),
        String::from_utf8(trades_csv(&wasm)).unwrap()
    );
    assert_eq!(native.final_equity(), wasm.final_equity());
    assert_eq!(native.report, wasm.report);
}

#[test]
fn two_runs_of_the_same_backtest_write_byte_identical_trades() {
    let (bars, instruments) = data(3_000);
    let a = trades_csv(&run(wasm_guest(&instruments), &bars, &instruments));
    let b = trades_csv(&run(wasm_guest(&instruments), &bars, &instruments));
    assert!(a.len() > 200);
    assert!(a == b, "trade files differ");
}

#[test]
fn the_cli_backtest_is_deterministic_and_prints_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let strategy = guest_path("sma_cross").unwrap();
    let mut outputs = Vec::new();
    for n in 0..2 {
        let trades = dir.path().join(format!("trades-{n}.csv"));
        let out = run_cli([
            "backtest".as_ref(),
            "--strategy".as_ref(),
            strategy.as_os_str(),
            "--config".as_ref(),
            "fast=10,slow=20".as_ref(),
            "--cash".as_ref(),
            "10000".as_ref(),
            "--commission".as_ref(),
            "0.002".as_ref(),
            "--trades-csv".as_ref(),
            trades.as_os_str(),
        ])
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for label in [
            "Total return [%]",
            "CAGR [%]",
            "Sharpe ratio",
            "Max drawdown [%]",
            "Trades",
            "Win rate [%]",
            "Exposure [%]",
            "Final equity",
        ] {
            assert!(stdout.contains(label), "`{label}` missing from report:\n{stdout}");
        }
        // Where the time went, then the speed, in every report.
        for label in ["Time [s]", "Speed [bars/s]"] {
            assert!(stdout.contains(label), "`{label}` missing from report:\n{stdout}");
        }
        assert!(stdout.contains("compile ") && stdout.contains("run "), "{stdout}");
        // The report minus the line naming the (different) trades file and
        // the timings (wall time differs from run to run).
        let report: String = stdout
            .lines()
            .filter(|l| {
                !l.starts_with("Trades written to")
                    && !l.starts_with("Time [s]")
                    && !l.starts_with("Speed [bars/s]")
            })
            .collect::<Vec<_>>()
            .join("\n");
        outputs.push((
            report,
            String::from_utf8(std::fs::read(&trades).unwrap()).unwrap(),
        ));
    }
    assert_eq!(outputs[0].0, outputs[1].0, "reports differ");
    assert!(outputs[0].1 == outputs[1].1, "trade files differ");
    let csv = outputs[0].1.clone();
    assert!(csv.starts_with("strategy,symbol,direction,quantity,entry_time"));
    assert!(csv.lines().count() > 5, "expected trades:\n{csv}");
}

#[test]
fn the_cli_json_report_parses_and_matches_the_library() {
    let strategy = guest_path("sma_cross").unwrap();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--config".as_ref(),
        "fast=10,slow=20".as_ref(),
        "--json".as_ref(),
    ])
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["report"]["trades"].as_u64().unwrap() > 0);
    assert_eq!(v["strategies"][0]["guest"], "sma-cross");
    assert_eq!(v["strategies"][0]["contract_version"], "0.1.0");
    // Where the time went: each phase, their sum, and the speeds.
    let t = &v["timings"];
    let secs = |k: &str| {
        t[k].as_f64()
            .unwrap_or_else(|| panic!("timings.{k} missing: {t}"))
    };
    let phases = secs("load_secs") + secs("compile_secs") + secs("run_secs") + secs("report_secs");
    assert!((phases - secs("total_secs")).abs() < 1e-6, "{t}");
    assert!(secs("compile_secs") > 0.0 && secs("run_secs") > 0.0, "{t}");
    assert_eq!(t["bars"], v["report"]["bars"], "{t}");
    let rate = secs("run_bars_per_sec");
    let expected = t["bars"].as_f64().unwrap() / secs("run_secs");
    assert!((rate - expected).abs() <= expected * 1e-9, "{t}");
    assert!(secs("total_bars_per_sec") < rate, "{t}");
}

#[test]
fn csv_data_replays_through_the_cli_with_time_zones() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bars.csv");
    let out = run_cli([
        "data".as_ref(),
        "synth".as_ref(),
        "--bars".as_ref(),
        "400".as_ref(),
        "--out".as_ref(),
        csv.as_os_str(),
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let strategy = guest_path("rsi_reversion").unwrap();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--data".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
    ])
    .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["bars"].as_u64(), Some(400));
}

/// `wasmtrade backtest --json` of sma-cross with the compiled-guest cache in
/// `cache` (and `extra` arguments, environment); the parsed report and stderr.
fn cached_backtest(
    cache: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (serde_json::Value, String) {
    let strategy = guest_path("sma_cross").unwrap();
    let out = std::process::Command::new(wasmtrade_e2e::wasmtrade_bin().unwrap())
        .args(["backtest", "--strategy"])
        .arg(&strategy)
        .args(["--config", "fast=10,slow=20", "--json"])
        .args(extra)
        .env("WASMTRADE_CACHE_DIR", cache)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "stderr: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_second_backtest_of_the_same_guest_loads_it_from_the_cache_with_the_same_result() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");

    let (first, _) = cached_backtest(&cache, &[], &[]);
    assert_eq!(first["timings"]["compile_cache"], "miss", "{}", first["timings"]);
    let stored = entries(&cache);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let mode = std::fs::metadata(&stored[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "entries are native code: private");
    let dir_mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);

    let (second, _) = cached_backtest(&cache, &[], &[]);
    assert_eq!(second["timings"]["compile_cache"], "hit", "{}", second["timings"]);
    assert_eq!(
        first["report"], second["report"],
        "a cached guest trades the same"
    );
    assert_eq!(entries(&cache).len(), 1);

    // A damaged entry (a flipped byte) is noticed, removed and rebuilt.
    let mut bytes = std::fs::read(&stored[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&stored[0], &bytes).unwrap();
    let (third, stderr) = cached_backtest(&cache, &[], &[]);
    assert_eq!(third["timings"]["compile_cache"], "miss");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(first["report"], third["report"]);
    let (fourth, _) = cached_backtest(&cache, &[], &[]);
    assert_eq!(fourth["timings"]["compile_cache"], "hit");

    // --no-cache neither reads nor writes it.
    let (off, _) = cached_backtest(&cache, &["--no-cache"], &[]);
    assert_eq!(off["timings"]["compile_cache"], "off");
}

#[test]
fn the_compile_cache_stays_within_its_bound_and_refuses_a_directory_others_may_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A bound smaller than one entry: nothing is kept, every run compiles.
    let tiny = dir.path().join("tiny");
    for _ in 0..2 {
        let (v, _) = cached_backtest(&tiny, &[], &[("WASMTRADE_CACHE_MAX_BYTES", "1")]);
        assert_eq!(v["timings"]["compile_cache"], "miss");
        assert!(entries(&tiny).is_empty(), "{:?}", entries(&tiny));
    }
    // A cache anyone may write to could hand us their native code.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (v, stderr) = cached_backtest(&shared, &[], &[]);
    assert_eq!(v["timings"]["compile_cache"], "off");
    assert!(stderr.contains("writable by group or others"), "{stderr}");
    assert!(entries(&shared).is_empty());
    // A bad bound is named, and the run goes on without the cache.
    let (v, stderr) = cached_backtest(&tiny, &[], &[("WASMTRADE_CACHE_MAX_BYTES", "lots")]);
    assert_eq!(v["timings"]["compile_cache"], "off");
    assert!(stderr.contains("WASMTRADE_CACHE_MAX_BYTES `lots`"), "{stderr}");
}
