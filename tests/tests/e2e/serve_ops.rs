//! The ops endpoints of the real `wasmtrade serve`: liveness, readiness
//! (on at start, off first at SIGTERM), the JSON status page and the
//! Prometheus metrics moving as guests are activated, trade and are
//! refused by risk; JSON logs; the `server.ops_listen` setting.
//!
//! Plain HTTP/1.0 over `std::net::TcpStream`: no client library needed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtrade_e2e::ops::{get, get_ok, metric, ops_addr};
use wasmtrade_e2e::{Serve, guest_path, run_cli};

/// How long a metric may take to move.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Scrapes until `done` holds; fails with the last scrape.
#[allow(clippy::disallowed_methods, reason = "a test waits in real time")]
fn scrape_until(addr: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    loop {
        let text = get_ok(addr, "/metrics");
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {PROGRESS_TIMEOUT:?}; last scrape:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn upload_and_activate(serve: &Serve, name: &str) {
    let wasm = guest_path("sma_cross").unwrap();
    let out = serve
        .cli_json([
            "strategy",
            "upload",
            wasm.to_str().unwrap(),
            "--name",
            name,
            "--config",
            r#"{"fast":2,"slow":4,"quantity":10}"#,
            "--activate",
            "--json",
        ])
        .unwrap_or_else(|e| panic!("upload of {name}: {e:#}\nserver stderr:\n{}", serve.stderr()));
    assert_eq!(out["upload"]["version"], 1, "{out}");
}

#[test]
fn ops_endpoints_follow_the_runtime_from_start_to_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(
        dir.path(),
        &[
            ("WASMTRADE__SERVER__OPS_LISTEN", "127.0.0.1:0"),
            ("WASMTRADE__MARKET__SPEED", "0"),
            // `tiny` may not send orders above 1: sma-cross's 10 are refused.
            ("WASMTRADE__RISK__STRATEGIES__TINY__MAX_ORDER_QUANTITY", "1"),
            ("WASMTRADE_LOG_FORMAT", "json"),
            ("WASMTRADE_LOG", "warn,wasmtrade::commands=info"),
        ],
    )
    .unwrap();
    let ops = ops_addr(&serve);

    // Structured logs: the ops address as a JSON log event.
    let logged = serve
        .stderr()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|j| j["message"] == "ops endpoints listening")
        .unwrap_or_else(|| panic!("no JSON log line for the ops address:\n{}", serve.stderr()));
    assert_eq!(logged["addr"], ops.as_str(), "{logged}");
    assert_eq!(logged["level"], "INFO", "{logged}");

    // Started: alive and ready.
    let health: serde_json::Value = serde_json::from_str(&get_ok(&ops, "/healthz")).unwrap();
    assert_eq!(health["alive"], true);
    let ready: serde_json::Value = serde_json::from_str(&get_ok(&ops, "/readyz")).unwrap();
    assert_eq!(ready, serde_json::json!({ "ready": true }));
    let (code, body) = get(&ops, "/no-such-page").unwrap();
    assert_eq!(code, 404, "{body}");

    let first = get_ok(&ops, "/metrics");
    assert!(first.ends_with("# EOF\n"), "{first}");
    for series in [
        "wasmtrade_up 1",
        "wasmtrade_ready 1",
        "wasmtrade_trading_gate_open 1",
        "wasmtrade_kill_switch_engaged{scope=\"global\"} 0",
        "wasmtrade_broker_connected 1",
        "wasmtrade_fills_total 0",
        "wasmtrade_event_stream_lagged_total 0",
    ] {
        assert!(
            first.contains(&format!("{series}\n")),
            "no `{series}` in:\n{first}"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    assert!(first.contains(&format!("wasmtrade_build_info{{version=\"{version}\"}} 1")));
    // (Labelled counters such as wasmtrade_swaps_total appear with their
    // first event.)
    for name in [
        "wasmtrade_start_time_seconds",
        "wasmtrade_events_total",
        "wasmtrade_orders_total",
        "wasmtrade_swap_pause_seconds",
        "wasmtrade_guests_active",
        "wasmtrade_market_bars_total",
        "wasmtrade_portfolio_value",
        "wasmtrade_cash",
        "wasmtrade_realized_pnl",
        "wasmtrade_unrealized_pnl",
    ] {
        assert!(first.contains(name), "no {name} in:\n{first}");
    }

    // Two copies of sma-cross: `sma` trades, `tiny`'s orders are refused.
    upload_and_activate(&serve, "sma");
    upload_and_activate(&serve, "tiny");
    let text = scrape_until(&ops, "activations, fills and refusals", |t| {
        metric(t, "wasmtrade_swaps_total{action=\"activate\",outcome=\"ok\"}") >= Some(2.0)
            && metric(t, "wasmtrade_fills_total") >= Some(1.0)
            && metric(
                t,
                "wasmtrade_risk_rejections_total{reason=\"max-order-quantity\"}",
            ) >= Some(1.0)
    });
    let v = |s: &str| metric(&text, s).unwrap_or_else(|| panic!("no {s} in:\n{text}"));
    assert_eq!(v("wasmtrade_guests_active{kind=\"strategy\"}"), 2.0);
    assert!(v("wasmtrade_market_bars_total") > 0.0);
    assert!(v("wasmtrade_swap_pause_seconds_count") >= 2.0);
    assert!(v("wasmtrade_orders_total{status=\"submitted\"}") >= 1.0);
    assert!(v("wasmtrade_events_total{kind=\"fill\"}") >= 1.0);
    assert!(v("wasmtrade_guest_callbacks_total{module=\"sma\",callback=\"bar\"}") > 0.0);
    assert!(v("wasmtrade_guest_intents_total{module=\"tiny\"}") >= 1.0);
    assert_eq!(
        v("wasmtrade_guest_version{module=\"sma\",kind=\"strategy\"}"),
        1.0
    );
    assert!(v("wasmtrade_portfolio_value") > 0.0);
    // What guests cost and what passes to the broker and the journal.
    assert!(v("wasmtrade_guest_callback_duration_seconds_count{module=\"sma\"}") > 0.0);
    assert!(v("wasmtrade_guest_callback_duration_seconds_sum{module=\"sma\"}") > 0.0);
    assert!(v("wasmtrade_guest_fuel_consumed_total{module=\"sma\"}") > 0.0);
    assert!(v("wasmtrade_guest_instances_created_total") >= 2.0);
    assert!(v("wasmtrade_guest_instances_live") >= 2.0);
    assert!(v("wasmtrade_broker_requests_total{request=\"submit\"}") >= 1.0);
    assert!(v("wasmtrade_broker_reports_total{report=\"filled\"}") >= 1.0);
    assert!(
        v("wasmtrade_journal_records_total") >= 2.0,
        "an intent and its fill"
    );
    assert!(v("wasmtrade_journal_commit_duration_seconds_count") >= 1.0);
    // Non-zero only while an event is in flight (the scrape may catch one).
    assert!(v("wasmtrade_journal_lag_records") >= 0.0);

    // The status page.
    let status: serde_json::Value = serde_json::from_str(&get_ok(&ops, "/status")).unwrap();
    assert_eq!(status["version"], version, "{status}");
    assert_eq!(status["phase"], "running", "{status}");
    assert_eq!(status["ready"], true, "{status}");
    assert_eq!(status["data_dir"], dir.path().display().to_string(), "{status}");
    assert!(status["uptime_seconds"].as_f64().unwrap() > 0.0, "{status}");
    assert!(status["market"]["bars"].as_u64().unwrap() > 0, "{status}");
    let modules = status["modules"].as_array().unwrap();
    let sma = modules.iter().find(|m| m["name"] == "sma").unwrap();
    assert_eq!(sma["kind"], "strategy", "{status}");
    assert_eq!(sma["active_version"], 1, "{status}");
    assert_eq!(sma["state"], "running", "{status}");
    assert!(sma["counters"]["bars"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["risk"]["kill_switches"], serde_json::json!([]), "{status}");
    assert!(status["account"]["equity"].is_string(), "{status}");

    // SIGTERM: /readyz turns 503 while the runtime stops (if the shutdown
    // lasts long enough to see it), never back to 200, then the port closes.
    let (seen_tx, seen) = mpsc::channel();
    let poller = {
        let ops = ops.clone();
        std::thread::spawn(move || {
            let mut codes = Vec::new();
            while let Ok((code, _)) = get(&ops, "/readyz") {
                if codes.last() != Some(&code) {
                    let _ = seen_tx.send(code);
                    codes.push(code);
                }
            }
            codes
        })
    };
    assert_eq!(seen.recv_timeout(Duration::from_secs(10)), Ok(200));
    let exit = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(exit.success(), "exit status {exit}; stderr:\n{}", serve.stderr());
    let codes = poller.join().unwrap();
    assert!(
        codes == [200, 503] || codes == [200],
        "readiness must go from 200 to 503 and stay there until the process exits: {codes:?}"
    );
    let stderr = serve.stderr();
    let shutdown = stderr.find("SIGTERM: shutting down").unwrap();
    let stopped = stderr.find("stopped after").unwrap();
    assert!(shutdown < stopped, "{stderr}");
    eprintln!("readiness seen during shutdown: {codes:?}");
}

#[test]
fn an_empty_ops_listen_disables_the_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__SERVER__OPS_LISTEN", "")]).unwrap();
    assert!(!serve.stderr().contains("ops endpoints on"), "{}", serve.stderr());
}

#[test]
fn ops_listen_comes_from_the_flag_and_a_bad_address_is_named() {
    let out = run_cli(["serve", "--ops-listen", "0.0.0.0:9999", "--print-config"]).unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ops_listen = \"0.0.0.0:9999\""), "{text}");

    let out = run_cli(["serve", "--ops-listen", "nowhere", "--print-config"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.ops_listen") && err.contains("nowhere"),
        "{err}"
    );
}
