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

/// Issue 15: a 1 GiB field used to be read whole (4.2 GB RSS) and the
/// backtest exited 0. Now the read stops at the first byte past the field
/// limit, quickly, naming file:line and the limit. An 8 MiB field (128
/// times the limit) stands for the 1 GiB one.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test measures how long the refusal takes"
)]
fn a_huge_csv_field_is_refused_quickly_naming_file_line_and_limit() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"timestamp,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,10,")
        .unwrap();
    let chunk = vec![b'7'; 1 << 20];
    for _ in 0..8 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\n").unwrap();
    drop(f);
    let strategy = guest_path("sma_cross").unwrap();
    let started = std::time::Instant::now();
    let out = run_cli([
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--data".as_ref(),
        path.as_os_str(),
        "--config".as_ref(),
        "fast=2,slow=3".as_ref(),
    ])
    .unwrap();
    assert_one_line_error(
        &out,
        &[
            "huge.csv:3",
            "field 6 (column `volume`)",
            "65536 bytes",
            "limit of a CSV field",
        ],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_csv_row_over_the_line_limit_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let row = "1,".repeat(600_000);
    let csv = write(
        dir.path(),
        "wide.csv",
        &format!("timestamp,open,high,low,close\n2024-01-02,10,11,9,10.5\n{row}\n"),
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
    assert_one_line_error(&out, &["wide.csv:3", "1048576 bytes", "limit of a CSV row"]);
}
