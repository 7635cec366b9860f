//! What `wasmtrade backtest` reports beyond the statistics, and
//! `wasmtrade indicator run`, through the real binary as a user runs it:
//! rejections by reason and the guest's warnings (table and JSON), the
//! equity curve as CSV, and an indicator guest's values per bar checked
//! against a rolling mean computed here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use wasmtrade_e2e::{guest_path, run_cli};

/// Runs the binary; panics with its stderr unless it succeeded.
fn ok(args: &[&OsStr]) -> String {
    let out = run_cli(args).unwrap();
    assert!(
        out.status.success(),
        "wasmtrade {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `wasmtrade backtest` of sma-cross (fast 10, slow 20) on the embedded
/// data with `extra` arguments.
fn backtest(extra: &[&OsStr]) -> String {
    let strategy = guest_path("sma_cross").unwrap();
    let mut args: Vec<&OsStr> = vec!["backtest".as_ref(), "--strategy".as_ref(), strategy.as_os_str()];
    args.extend_from_slice(extra);
    ok(&args)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The value of the table row `label`.
fn row<'a>(table: &'a str, label: &str) -> Option<&'a str> {
    table
        .lines()
        .find_map(|l| l.strip_prefix(label).filter(|rest| rest.starts_with("  ")))
        .map(str::trim)
}

/// The report's rejections by reason, checked to sum to `rejected_orders`.
fn rejections(report: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let by_reason = report["rejections"].as_object().unwrap().clone();
    let sum: u64 = by_reason.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(
        sum,
        report["rejected_orders"].as_u64().unwrap(),
        "rejections by reason must sum to rejected_orders: {report}"
    );
    by_reason
}

#[test]
fn a_risk_limit_shows_rejections_by_reason_and_the_guests_warnings() {
    // Sized at 95 % of equity, a few of sma-cross's entries exceed 100 shares.
    let limit: [&OsStr; 4] = [
        "--config".as_ref(),
        "fast=10,slow=20".as_ref(),
        "--max-position".as_ref(),
        "100".as_ref(),
    ];
    let table = backtest(&limit);
    let rejected: u64 = row(&table, "Rejected orders").unwrap().parse().unwrap();
    assert!(rejected > 0, "the limit must bite:\n{table}");
    assert_eq!(
        row(&table, "Rejected by reason"),
        Some(format!("max-position {rejected}").as_str()),
        "{table}"
    );
    // sma-cross logs each rejection at warn level: the summary shows them
    // without -vv.
    let warnings = row(&table, "Guest warnings").unwrap_or_else(|| panic!("no warnings row:\n{table}"));
    assert!(
        warnings.starts_with(&format!("{rejected} warn, 0 error")),
        "{table}"
    );
    assert!(
        table.contains("[warn] sma-cross: sma-cross-") && table.contains("rejected (max-position)"),
        "{table}"
    );

    let mut with_json = limit.to_vec();
    with_json.push("--json".as_ref());
    let v = json(&backtest(&with_json));
    let report = &v["report"];
    let by_reason = rejections(report);
    assert_eq!(by_reason.len(), 1, "{report}");
    assert_eq!(by_reason["max-position"].as_u64(), Some(rejected));
    let logs = &report["guest_logs"];
    assert_eq!(logs["warn"].as_u64(), Some(rejected), "{logs}");
    let first = logs["first_warnings"].as_array().unwrap();
    assert!(!first.is_empty() && first.len() <= 5, "{logs}");
    assert_eq!(first[0]["source"], "sma-cross");
    assert_eq!(first[0]["level"], "warn");
    assert!(
        first[0]["message"].as_str().unwrap().contains("max-position"),
        "{logs}"
    );

    // A fixed size the cash cannot pay for: another reason, same sum.
    let v = json(&backtest(&[
        "--config".as_ref(),
        "fast=10,slow=20,quantity=120".as_ref(),
        "--json".as_ref(),
    ]));
    let by_reason = rejections(&v["report"]);
    assert!(
        by_reason["insufficient-buying-power"].as_u64().unwrap() > 0,
        "{}",
        v["report"]
    );
    assert!(v["report"]["trades"].as_u64().unwrap() > 0);

    // No rejections, no warnings: no rows for them, empty JSON.
    let plain: [&OsStr; 2] = ["--config".as_ref(), "fast=10,slow=20".as_ref()];
    let table = backtest(&plain);
    assert_eq!(row(&table, "Rejected orders"), Some("0"), "{table}");
    assert!(row(&table, "Rejected by reason").is_none(), "{table}");
    assert!(row(&table, "Guest warnings").is_none(), "{table}");
    let mut with_json = plain.to_vec();
    with_json.push("--json".as_ref());
    let v = json(&backtest(&with_json));
    assert!(rejections(&v["report"]).is_empty());
    assert_eq!(v["report"]["guest_logs"]["warn"], 0);
}

#[test]
fn the_equity_csv_has_a_row_per_bar_and_ends_at_the_reported_final_equity() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("equity.csv");
    let v = json(&backtest(&[
        "--config".as_ref(),
        "fast=10,slow=20".as_ref(),
        "--commission".as_ref(),
        "0.002".as_ref(),
        "--equity-csv".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
    ]));
    let report = &v["report"];
    assert!(report["trades"].as_u64().unwrap() > 10, "{report}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,equity,drawdown,exposed"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Daily bars of one symbol: one point per bar.
    assert_eq!(rows.len() as u64, report["bars"].as_u64().unwrap());
    assert_eq!(rows[0][0], report["start"].as_str().unwrap());
    let last = rows.last().unwrap();
    assert_eq!(last[0], report["end"].as_str().unwrap());
    let final_equity: f64 = report["final_equity"].as_str().unwrap().parse().unwrap();
    let last_equity: f64 = last[1].parse().unwrap();
    assert_eq!(
        format!("{last_equity:.2}"),
        report["final_equity"].as_str().unwrap(),
        "the last equity is the report's final equity"
    );
    assert!((last_equity - final_equity).abs() < 0.005);
    // The drawdown column and the exposed flags agree with the report.
    let max_dd = rows
        .iter()
        .map(|r| r[2].parse::<f64>().unwrap())
        .fold(0.0f64, f64::min);
    let report_dd = report["max_drawdown_pct"].as_f64().unwrap() / 100.0;
    assert!((max_dd - report_dd).abs() < 1e-6, "{max_dd} vs {report_dd}");
    let exposed = rows.iter().filter(|r| r[3] == "true").count() as f64 / rows.len() as f64;
    let report_exposure = report["exposure_pct"].as_f64().unwrap() / 100.0;
    assert!((exposed - report_exposure).abs() < 1e-9);
    assert!(rows.iter().all(|r| r[3] == "true" || r[3] == "false"));
}

/// Closes of a wandering series with two decimals (deterministic).
fn closes(n: usize) -> Vec<String> {
    let mut cents: i64 = 10_000;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            cents += (state % 401) as i64 - 200;
            format!("{}.{:02}", cents / 100, cents % 100)
        })
        .collect()
}

/// An OHLCV CSV of daily bars with these closes (no symbol column).
fn write_bars(path: &Path, closes: &[String]) {
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for (i, c) in closes.iter().enumerate() {
        let day = day_text(i);
        text.push_str(&format!("{day}T00:00:00Z,{c},{c},{c},{c},1000\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// `2024-01-01` plus `i` days, for i < 60 (January and February 2024).
fn day_text(i: usize) -> String {
    assert!(i < 60);
    if i < 31 {
        format!("2024-01-{:02}", i + 1)
    } else {
        format!("2024-02-{:02}", i - 30)
    }
}

/// The mean of each window of `period` closes, from the decimal text.
fn rolling_mean(closes: &[String], period: usize) -> Vec<Option<f64>> {
    let x: Vec<f64> = closes.iter().map(|c| c.parse().unwrap()).collect();
    (0..x.len())
        .map(|i| (i + 1 >= period).then(|| x[i + 1 - period..=i].iter().sum::<f64>() / period as f64))
        .collect()
}

fn close_enough(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn indicator_run_gives_sma_values_equal_to_a_rolling_mean_of_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bars.csv");
    let out_csv = dir.path().join("sma.csv");
    let closes = closes(60);
    write_bars(&data, &closes);
    let expected = rolling_mean(&closes, 20);
    let sma = guest_path("sma").unwrap();
    let base: [&OsStr; 9] = [
        "indicator".as_ref(),
        "run".as_ref(),
        "--guest".as_ref(),
        sma.as_os_str(),
        "--config".as_ref(),
        "period=20".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--symbol".as_ref(),
    ];
    let with = |extra: &[&OsStr]| {
        let mut args = base.to_vec();
        args.push("ABC".as_ref());
        args.extend_from_slice(extra);
        ok(&args)
    };

    // --csv: every row.
    let stdout = with(&["--csv".as_ref(), out_csv.as_os_str()]);
    assert!(stdout.contains("Values written to"), "{stdout}");
    let text = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,symbol,close,sma"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), closes.len());
    for (i, (r, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(r[0], format!("{}T00:00:00Z", day_text(i)));
        assert_eq!(r[1], "ABC");
        assert_eq!(r[2].parse::<f64>().unwrap(), closes[i].parse::<f64>().unwrap());
        match want {
            None => assert_eq!(r[3], "", "row {i} is in the warm-up"),
            Some(want) => {
                let got: f64 = r[3].parse().unwrap();
                assert!(
                    close_enough(got, *want),
                    "row {i}: sma {got}, rolling mean {want}"
                );
            }
        }
    }

    // --json: the same values, null while warming up.
    let v = json(&with(&["--json".as_ref()]));
    assert_eq!(v["indicator"]["name"], "sma");
    assert_eq!(v["outputs"], serde_json::json!(["sma"]));
    assert_eq!(v["bars"], 60);
    assert_eq!(v["with_values"], 41);
    let json_rows = v["rows"].as_array().unwrap();
    for (i, (r, want)) in json_rows.iter().zip(&expected).enumerate() {
        match want {
            None => assert!(r["values"].is_null(), "row {i}: {r}"),
            Some(want) => assert!(
                close_enough(r["values"][0].as_f64().unwrap(), *want),
                "row {i}: {r}"
            ),
        }
    }

    // The table: a summary, the first and last rows, the count.
    let table = with(&[]);
    assert_eq!(row(&table, "Bars"), Some("60"), "{table}");
    assert_eq!(row(&table, "With values"), Some("41 (warm-up 19)"), "{table}");
    assert!(table.contains("... 50 more rows ..."), "{table}");
    let last = table.lines().last().unwrap();
    let last_sma: f64 = last.split_whitespace().last().unwrap().parse().unwrap();
    assert!(close_enough(last_sma, expected[59].unwrap()), "{table}");
}

fn failed(args: &[&OsStr]) -> (Output, String) {
    let out = run_cli(args).unwrap();
    assert!(!out.status.success(), "wasmtrade {args:?} should fail");
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out, stderr)
}

#[test]
fn indicator_run_refuses_a_strategy_and_a_bad_config_saying_what_to_do() {
    let strategy = guest_path("sma_cross").unwrap();
    let (out, stderr) = failed(&[
        "indicator".as_ref(),
        "run".as_ref(),
        "--guest".as_ref(),
        strategy.as_os_str(),
        "--config".as_ref(),
        "period=20".as_ref(),
    ]);
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let shown = strategy.display().to_string();
    assert!(stderr.contains(&format!("{shown} is a strategy")), "{stderr}");
    assert!(
        stderr.contains(&format!("wasmtrade backtest --strategy {shown}")),
        "{stderr}"
    );
    let errors = stderr.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(errors, 1, "one error line: {stderr}");

    let sma = guest_path("sma").unwrap();
    let (_, stderr) = failed(&[
        "indicator".as_ref(),
        "run".as_ref(),
        "--guest".as_ref(),
        sma.as_os_str(),
        "--config".as_ref(),
        "period=0".as_ref(),
    ]);
    assert!(stderr.contains("refused --config `period=0`"), "{stderr}");
    assert!(stderr.contains("period"), "{stderr}");
}
