//! `wasmtrade backtest --html`: the page the real binary writes holds the
//! report's equity and trades, three charts and nothing from the network,
//! stays small on a million bars, and renders in a real headless browser
//! (Debian's chromium).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wasmtrade_e2e::{guest_path, run_cli};

/// Rows of the trades table on the page at most (the CSV has them all).
const PAGE_TRADES: u64 = 500;

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

/// `backtest` of sma-cross (fast 10, slow 20) with `--html page --json` and
/// `extra` arguments: the JSON report and the page.
fn backtest_html(page: &Path, extra: &[&OsStr]) -> (serde_json::Value, String) {
    let strategy = guest_path("sma_cross").unwrap();
    let mut args: Vec<&OsStr> = vec![
        "backtest".as_ref(),
        "--strategy".as_ref(),
        strategy.as_os_str(),
        "--config".as_ref(),
        "fast=10,slow=20".as_ref(),
        "--html".as_ref(),
        page.as_os_str(),
        "--json".as_ref(),
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&args);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    let html = std::fs::read_to_string(page).unwrap();
    (json["report"].clone(), html)
}

/// The final-equity cell the page must hold: the report's string exactly.
fn final_equity_cell(report: &serde_json::Value) -> String {
    format!(
        "<td id=\"final-equity\">{}</td>",
        report["final_equity"].as_str().unwrap()
    )
}

fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network references (the SVG namespace included): {}",
        html.lines()
            .find(|l| l.contains("http://") || l.contains("https://"))
            .unwrap_or_default()
    );
    assert!(!html.contains("<link") && !html.contains("@import") && !html.contains("url("));
    assert_eq!(html.matches("<svg").count(), 3, "equity, drawdown, price");
}

#[test]
fn the_page_holds_the_reports_equity_and_every_trade() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("out.html");
    let (report, html) = backtest_html(&page, &[]);
    assert_self_contained(&html);
    let cell = final_equity_cell(&report);
    assert!(html.contains(&cell), "{cell} is not in the page");
    let trades = report["trades"].as_u64().unwrap();
    assert!(trades > 0 && trades <= PAGE_TRADES, "{trades} trades");
    assert_eq!(html.matches("<tr class=\"trade\">").count() as u64, trades);
    for id in [
        "figures",
        "equity-chart",
        "drawdown-chart",
        "price-chart",
        "trades",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(
        html.contains("long entry") && html.contains("long exit"),
        "trade markers"
    );
    // The same run gives the same page (no timings on it).
    let again = dir.path().join("again.html");
    assert_eq!(backtest_html(&again, &[]).1, html);
}

#[test]
fn a_million_bars_give_a_small_page_with_the_first_trades() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bars.csv");
    ok(&[
        "data".as_ref(),
        "synth".as_ref(),
        "--bars".as_ref(),
        "1000000".as_ref(),
        "--interval-secs".as_ref(),
        "60".as_ref(),
        "--out".as_ref(),
        csv.as_os_str(),
    ]);
    let page = dir.path().join("big.html");
    let (report, html) = backtest_html(&page, &["--data".as_ref(), csv.as_os_str()]);
    assert_self_contained(&html);
    assert!(html.contains(&final_equity_cell(&report)));
    assert!(html.len() < 2_000_000, "{} bytes", html.len());
    let trades = report["trades"].as_u64().unwrap();
    assert!(trades > PAGE_TRADES, "{trades} trades");
    assert_eq!(html.matches("<tr class=\"trade\">").count() as u64, PAGE_TRADES);
    assert!(html.contains(&format!("The first {PAGE_TRADES} of {trades} closed trades")));
}

/// Debian's chromium: `$WASMTRADE_CHROMIUM`, else `/usr/bin/chromium`;
/// `None` only when `WASMTRADE_SKIP_BROWSER=1`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("WASMTRADE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("WASMTRADE_SKIP_BROWSER").as_deref() == Ok("1") {
        return None;
    }
    panic!(
        "no chromium at {} for the headless-browser test: run `make setup` (it installs Debian's \
         chromium), set WASMTRADE_CHROMIUM to a chromium binary, or WASMTRADE_SKIP_BROWSER=1 to skip it",
        path.display()
    );
}

/// Runs headless chromium on `page` with `args`, a fresh profile and no
/// network; fails after two minutes.
fn headless(chromium: &Path, dir: &Path, page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(out) => {
            let out = out.unwrap();
            assert!(
                out.status.success(),
                "chromium {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("chromium {args:?} did not finish within two minutes");
        }
    }
}

#[test]
fn the_page_renders_in_a_headless_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let (report, _) = backtest_html(&page, &[]);

    let dom = headless(&chromium, dir.path(), &page, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let cell = final_equity_cell(&report);
    assert!(dom.contains(&cell), "{cell} is not in the rendered DOM:\n{dom}");
    assert_eq!(dom.matches("<svg").count(), 3, "the three charts in the DOM");
    assert!(
        dom.contains("<polygon") || dom.contains("<polyline"),
        "the charts draw shapes"
    );

    let shot = dir.path().join("shot.png");
    headless(
        &chromium,
        dir.path(),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "a blank page? the screenshot is {} bytes",
        png.len()
    );
    if let Some(keep) = std::env::var_os("WASMTRADE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
