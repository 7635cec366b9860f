//! A reject storm in `wasmtrade serve` (issue 15, item 1): a guest whose
//! `on_bar` returns ten cancels of unknown client ids, and ten more from
//! every `on_reject`, used to make ~10^8 callbacks per bar and freeze the
//! runtime (and every restart of it). With the budget per market event it
//! is quarantined with a reason on its first bar; sma-cross beside it keeps
//! trading at its normal rate; `/healthz`, `account` and `kill status`
//! answer at once; SIGTERM exits cleanly within the grace period; and a
//! restart comes up with the offender's version quarantined (not run into
//! the same storm) and sma-cross trading.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "a test measures real time")]

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::ops::{get, ops_addr};
use wasmtrade_e2e::{Serve, guest_path};

/// Bars per second the paper market plays (market seconds per second).
const SPEED: &str = "100";
/// The default `server.shutdown_grace_secs`.
const GRACE: Duration = Duration::from_secs(25);
/// A control call slower than this counts as the loop being held.
const QUICK: Duration = Duration::from_secs(5);

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a CLI call that must succeed within [`QUICK`]; its JSON.
fn quick(serve: &Serve, args: &[&str]) -> Value {
    let start = Instant::now();
    let v = serve
        .cli_json(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\nserver stderr:\n{}", serve.stderr()));
    let took = start.elapsed();
    assert!(took < QUICK, "{args:?} took {took:?} (the loop is held)");
    v
}

fn bars(serve: &Serve) -> u64 {
    quick(serve, &["account", "--json"])["bars"].as_u64().unwrap()
}

/// Bars per second the loop processes, measured over `window`.
fn rate(serve: &Serve, window: Duration) -> f64 {
    let (b0, t0) = (bars(serve), Instant::now());
    std::thread::sleep(window);
    let (b1, t1) = (bars(serve), Instant::now());
    (b1 - b0) as f64 / (t1 - t0).as_secs_f64()
}

fn module(serve: &Serve, name: &str) -> Value {
    quick(serve, &["strategy", "list", name, "--json"])["modules"][0].clone()
}

fn audit_actions(serve: &Serve, name: &str) -> (Vec<String>, Value) {
    let audit = quick(serve, &["strategy", "audit", name, "--json"]);
    let actions = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    (actions, audit)
}

fn healthz_ok(serve: &Serve) {
    let ops = ops_addr(serve);
    let start = Instant::now();
    let (code, body) = get(&ops, "/healthz").unwrap();
    assert_eq!(code, 200, "/healthz: {body}");
    assert!(start.elapsed() < QUICK, "/healthz took {:?}", start.elapsed());
}

fn upload(serve: &Serve, guest: &str, name: &str, config: &str) {
    let path = guest_path(guest).unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            path.to_str().unwrap(),
            "--name",
            name,
            "--config",
            config,
            "--activate",
        ])
        .unwrap());
}

#[test]
fn a_reject_storm_is_quarantined_for_good_while_sma_cross_trades_and_the_api_answers() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("WASMTRADE__MARKET__SPEED", SPEED)];
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    upload(
        &serve,
        "sma_cross",
        "sma",
        r#"{"fast":5,"slow":20,"quantity":10}"#,
    );
    let baseline = rate(&serve, Duration::from_secs(3));
    assert!(baseline > 5.0, "baseline {baseline:.1} bars/s");

    upload(&serve, "hostile_reject_storm", "evil", r#"{"width": 10}"#);
    // Quarantined on its first bar, with the budget and the numbers named.
    let mut evil = Value::Null;
    for _ in 0..100 {
        evil = module(&serve, "evil");
        if evil["state"] == "quarantined" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(evil["state"], "quarantined", "{evil}");
    let fault = evil["fault"].as_str().unwrap();
    assert!(fault.contains("budget per market event"), "{fault}");
    assert!(fault.contains("in one event (max_"), "{fault}");
    assert!(evil["counters"]["bars"].as_u64().unwrap() <= 1, "{evil}");

    // The rest of the runtime is not held: sma-cross trades at its rate,
    // health and control calls answer at once.
    healthz_ok(&serve);
    quick(&serve, &["kill", "status", "--json"]);
    let with_storm = rate(&serve, Duration::from_secs(3));
    assert!(
        with_storm > baseline * 0.5,
        "{with_storm:.1} bars/s with the storm guest vs {baseline:.1} before"
    );
    let sma = module(&serve, "sma");
    assert_eq!(sma["state"], "running", "{sma}");
    healthz_ok(&serve);

    // Stopped for good: no restart, and the version is quarantined in the store.
    let mut actions = Vec::new();
    let mut audit = Value::Null;
    for _ in 0..100 {
        (actions, audit) = audit_actions(&serve, "evil");
        if actions.iter().any(|a| a == "stopped") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(actions, ["upload", "activate", "fault", "stopped"], "{audit}");
    let fault = &audit["records"][2]["detail"];
    assert!(fault.as_str().unwrap().starts_with("event-budget: "), "{fault}");
    let evil = module(&serve, "evil");
    assert_eq!(evil["versions"][0]["status"], "quarantined", "{evil}");

    let start = Instant::now();
    let status = serve.terminate(GRACE).unwrap();
    assert!(status.success(), "serve exited with {status}: {}", serve.stderr());
    assert!(start.elapsed() < GRACE, "shutdown took {:?}", start.elapsed());

    // A restart does not run the storm again: sma-cross trades, evil stays
    // quarantined (its version cannot be activated).
    let serve = Serve::start(dir.path(), &env).unwrap();
    let first = bars(&serve);
    let sma = module(&serve, "sma");
    assert_eq!(sma["state"], "running", "{sma}");
    let evil = module(&serve, "evil");
    assert_ne!(evil["state"], "running", "{evil}");
    assert_eq!(evil["versions"][0]["status"], "quarantined", "{evil}");
    let after = rate(&serve, Duration::from_secs(3));
    assert!(
        after > baseline * 0.5,
        "{after:.1} bars/s after the restart vs {baseline:.1} before"
    );
    assert!(bars(&serve) > first);
    healthz_ok(&serve);
    let refused = serve.cli(["strategy", "activate", "evil", "1"]).unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("quarantined"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
