//! Bad input gives a clear one-line error naming the input and a non-zero
//! exit, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::path::Path;

use wasmtrade_e2e::{guest_path, run_cli};

fn assert_one_line_error(out: &std::process::Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {stderr}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_csv_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "bars.csv",
        "timestamp,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,abc,9,10,100\n",
    );
    let strategy = guest_path("sma_cross").unwrap();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--data".as_ref(),
        csv.as_os_str(),
        "--config".as_ref(),
        "fast=2,slow=3".as_ref(),
    ])
    .unwrap();
    assert_one_line_error(&out, &["bars.csv:3", "high"]);
}

#[test]
fn a_file_that_is_not_wasm_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let fake = write(dir.path(), "strategy.wasm", "this is not wasm");
    let out = run_cli(["backtest".as_ref(), "--strategy".as_ref(), fake.as_os_str()]).unwrap();
    assert_one_line_error(&out, &["strategy.wasm", "not a wasm"]);
}

#[test]
fn an_indicator_component_is_not_accepted_as_a_strategy() {
    let indicator = guest_path("sma").unwrap();
    let out = run_cli(["backtest".as_ref(), "--strategy".as_ref(), indicator.as_os_str()]).unwrap();
    assert_one_line_error(&out, &["sma.wasm", "on-bar"]);
}

#[test]
fn a_missing_config_key_names_the_key() {
    let strategy = guest_path("sma_cross").unwrap();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--config".as_ref(),
        "fast=10".as_ref(),
    ])
    .unwrap();
    assert_one_line_error(&out, &["sma_cross.wasm", "slow"]);
}

#[test]
fn a_missing_strategy_file_is_named() {
    let out = run_cli(["backtest", "--strategy", "/nonexistent/x.wasm"]).unwrap();
    assert_one_line_error(&out, &["/nonexistent/x.wasm"]);
}

#[test]
fn bad_numbers_on_the_command_line_are_named() {
    let strategy = guest_path("sma_cross").unwrap();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--cash".as_ref(),
        "lots".as_ref(),
    ])
    .unwrap();
    assert_one_line_error(&out, &["--cash", "lots"]);
}
