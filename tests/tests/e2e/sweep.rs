//! `wasmtrade sweep` on the real binary, checked the way a researcher would:
//! every row equals `wasmtrade backtest` of that combination alone, on the
//! same bars (all of them, the in-sample part, or the out-of-sample part);
//! walk-forward windows optimise on their own past; bad searches fail with
//! the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use wasmtrade_e2e::{guest_path, run_cli};

fn sma_cross() -> String {
    guest_path("sma_cross").unwrap().display().to_string()
}

/// Runs the binary, asserts success, parses stdout as JSON.
fn json_of(args: &[&str]) -> Value {
    let out = run_cli(args).unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the binary and expects a failure; returns stderr.
fn failure(args: &[&str]) -> String {
    let out = run_cli(args).unwrap();
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The backtest report of one combination alone.
fn backtest(data: &Path, config: &str) -> Value {
    let strategy = sma_cross();
    let data = data.display().to_string();
    json_of(&[
        "backtest",
        "--strategy",
        &strategy,
        "--data",
        &data,
        "--config",
        config,
        "--json",
        "--no-cache",
    ])["report"]
        .clone()
}

fn config_of(params: &Value) -> String {
    params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A synthetic CSV of `bars` daily bars and its lines.
fn synth(dir: &Path, bars: usize) -> (PathBuf, Vec<String>) {
    let path = dir.join("bars.csv");
    let out = run_cli([
        "data",
        "synth",
        "--bars",
        &bars.to_string(),
        "--seed",
        "11",
        "--out",
        &path.display().to_string(),
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (path, lines)
}

/// Writes the header and data lines `range` of `lines` to a new CSV.
fn slice(dir: &Path, name: &str, lines: &[String], range: std::ops::Range<usize>) -> PathBuf {
    let path = dir.join(name);
    let mut text = lines[0].clone();
    text.push('\n');
    for l in &lines[1 + range.start..1 + range.end] {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn same_report(a: &Value, b: &Value, what: &str) {
    for key in [
        "final_equity",
        "sharpe",
        "total_return_pct",
        "max_drawdown_pct",
        "trades",
        "bars",
    ] {
        assert_eq!(a[key], b[key], "{what}: {key} differs: sweep {a} vs backtest {b}");
    }
}

#[test]
fn sweep_ranking_equals_each_combination_backtested_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = synth(dir.path(), 600);
    let (strategy, data_s) = (sma_cross(), data.display().to_string());
    let sweep = json_of(&[
        "sweep",
        "--strategy",
        &strategy,
        "--data",
        &data_s,
        "--grid",
        "fast=3..9:3,slow=10..30:10",
        "--constraint",
        "fast<slow",
        "--train",
        "1",
        "--metric",
        "return",
        "--json",
        "--jobs",
        "2",
    ]);
    let rows = sweep["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9, "3 × 3 grid, all fast<slow: {sweep}");
    assert_eq!(sweep["out_of_sample"], Value::Null);
    let mut alone: Vec<(f64, String)> = Vec::new();
    for row in rows {
        let config = config_of(&row["params"]);
        let report = backtest(&data, &config);
        same_report(&row["in_sample"], &report, &config);
        alone.push((report["total_return_pct"].as_f64().unwrap(), config));
    }
    // The ranking is the single runs sorted by the metric, best first
    // (ties keep grid order, which the sort below keeps too: it is stable).
    let mut expected = alone.clone();
    expected.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let ranked: Vec<String> = rows.iter().map(|r| config_of(&r["params"])).collect();
    let expected: Vec<String> = expected.into_iter().map(|(_, c)| c).collect();
    assert_eq!(ranked, expected);
    assert_eq!(rows[0]["rank"], 1);
    assert_eq!(sweep["best"]["params"], rows[0]["params"]);
}

#[test]
fn sweep_optimises_in_sample_and_reports_the_best_out_of_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (data, lines) = synth(dir.path(), 500);
    let (strategy, data_s) = (sma_cross(), data.display().to_string());
    // The default: 70 % in-sample, the top rows run on the other 30 %.
    let sweep = json_of(&[
        "sweep",
        "--strategy",
        &strategy,
        "--data",
        &data_s,
        "--grid",
        "fast=2|5,slow=15|25",
        "--top",
        "2",
        "--json",
    ]);
    assert_eq!(sweep["train"], 0.7);
    assert_eq!(sweep["in_sample"]["bars"], 350);
    assert_eq!(sweep["out_of_sample"]["bars"], 150);
    let is_csv = slice(dir.path(), "is.csv", &lines, 0..350);
    let oos_csv = slice(dir.path(), "oos.csv", &lines, 350..500);
    let rows = sweep["rows"].as_array().unwrap();
    for (rank, row) in rows.iter().enumerate() {
        let config = config_of(&row["params"]);
        same_report(&row["in_sample"], &backtest(&is_csv, &config), &config);
        if rank < 2 {
            same_report(&row["out_of_sample"], &backtest(&oos_csv, &config), &config);
        } else {
            assert!(
                row.get("out_of_sample").is_none(),
                "only the top 2 run out-of-sample: {row}"
            );
        }
    }
}

#[test]
fn walk_forward_picks_each_windows_best_from_its_own_past() {
    let dir = tempfile::tempdir().unwrap();
    let (data, lines) = synth(dir.path(), 600);
    let (strategy, data_s) = (sma_cross(), data.display().to_string());
    let grid = "fast=2..6:2,slow=12|20";
    let wf = json_of(&[
        "sweep",
        "--strategy",
        &strategy,
        "--data",
        &data_s,
        "--grid",
        grid,
        "--walk-forward",
        "3",
        "--train",
        "0.5",
        "--json",
    ]);
    let folds = wf["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let mut next = 0usize;
    for (n, fold) in folds.iter().enumerate() {
        let (is_bars, oos_bars) = (
            fold["in_sample"]["bars"].as_u64().unwrap() as usize,
            fold["out_of_sample"]["bars"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            (is_bars, oos_bars),
            (100, 100),
            "window {n}: 600 bars / 3, halved"
        );
        // The window's best is the best of a sweep over its in-sample part alone.
        let is_csv = slice(dir.path(), &format!("is{n}.csv"), &lines, next..next + is_bars);
        let alone = json_of(&[
            "sweep",
            "--strategy",
            &strategy,
            "--data",
            &is_csv.display().to_string(),
            "--grid",
            grid,
            "--train",
            "1",
            "--json",
        ]);
        assert_eq!(fold["best"], alone["best"]["params"], "window {n}");
        let oos_csv = slice(
            dir.path(),
            &format!("oos{n}.csv"),
            &lines,
            next + is_bars..next + is_bars + oos_bars,
        );
        let config = config_of(&fold["best"]);
        same_report(
            &fold["out_of_sample_result"],
            &backtest(&oos_csv, &config),
            &config,
        );
        next += is_bars + oos_bars;
    }
    assert_eq!(next, 600, "the windows cover every bar once");
    assert!(wf["walk_forward"]["out_of_sample_compounded_return_pct"].is_number());
}

#[test]
fn sweep_writes_a_ranked_csv_a_heatmap_and_an_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let (csv_path, html_path) = (dir.path().join("r.csv"), dir.path().join("r.html"));
    // On the embedded synthetic data: no --data.
    let out = run_cli([
        "sweep",
        "--strategy",
        &sma_cross(),
        "--grid",
        "fast=2..10:2",
        "--grid",
        "slow=10..40:10",
        "--constraint",
        "fast<slow",
        "--csv",
        &csv_path.display().to_string(),
        "--html",
        &html_path.display().to_string(),
    ])
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("19 of 20 grid combinations"), "{stdout}");
    assert!(stdout.contains("Best sharpe per fast × slow"), "{stdout}");
    let mut csv = csv::Reader::from_path(&csv_path).unwrap();
    let header = csv.headers().unwrap().clone();
    assert_eq!(&header[0], "rank");
    assert_eq!((&header[1], &header[2], &header[3]), ("fast", "slow", "sharpe"));
    assert!(header.iter().any(|h| h == "oos_sharpe"));
    let records: Vec<_> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 19);
    let sharpes: Vec<f64> = records.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(
        sharpes.windows(2).all(|w| w[0] >= w[1]),
        "ranked best first: {sharpes:?}"
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg") && html.contains("id=\"ranking\""));
    assert!(!html.contains("<script"), "self-contained, no scripts");
}

#[test]
fn random_search_is_seeded() {
    let run = |seed: &str| {
        let v = json_of(&[
            "sweep",
            "--strategy",
            &sma_cross(),
            "--grid",
            "fast=2..12,slow=15..40:5",
            "--random",
            "6",
            "--search-seed",
            seed,
            "--train",
            "1",
            "--json",
        ]);
        assert_eq!(v["combinations"], 6);
        let mut p: Vec<String> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| config_of(&r["params"]))
            .collect();
        p.sort();
        p
    };
    assert_eq!(run("5"), run("5"));
    assert_ne!(run("5"), run("6"));
}

#[test]
fn bad_searches_fail_with_the_reason() {
    let s = sma_cross();
    let e = failure(&["sweep", "--strategy", &s, "--grid", "fast=10..2"]);
    assert!(
        e.contains("--grid entry `fast=10..2`") && e.contains("after its end"),
        "{e}"
    );
    let e = failure(&[
        "sweep",
        "--strategy",
        &s,
        "--grid",
        "fast=2..4",
        "--constraint",
        "fast<slw",
    ]);
    assert!(e.contains("`slw` is neither a --grid key (fast)"), "{e}");
    let e = failure(&[
        "sweep",
        "--strategy",
        &s,
        "--grid",
        "fast=5..9,slow=2..4",
        "--constraint",
        "fast<slow",
    ]);
    assert!(e.contains("no combination"), "{e}");
    // Every combination refused by the guest: the guest's reason, exit != 0.
    let e = failure(&[
        "sweep",
        "--strategy",
        &s,
        "--grid",
        "fast=2|3,slow=oops",
        "--train",
        "1",
    ]);
    assert!(
        e.contains("every one of the 2 combinations failed") && e.contains("oops"),
        "{e}"
    );
    let e = failure(&[
        "sweep",
        "--strategy",
        &s,
        "--grid",
        "fast=2|3",
        "--trades-csv",
        "t.csv",
    ]);
    assert!(e.contains("sweep does not take --trades-csv"), "{e}");
    let e = failure(&[
        "sweep",
        "--strategy",
        &s,
        "--grid",
        "fast=2|3",
        "--heatmap",
        "fast,nope",
    ]);
    assert!(e.contains("`nope` is not a --grid key"), "{e}");
    let e = failure(&["sweep", "--strategy", &s, "--grid", "fast=2|3", "--train", "1.5"]);
    assert!(e.contains("--train must be in (0, 1]"), "{e}");
}
