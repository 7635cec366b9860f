//! A host-call storm in `wasmtrade serve` (issue 15, item 3): guests whose
//! own code does almost nothing but make the host copy a 1 MB key-value
//! entry 2000 times per bar, or answer 700 000 `position-of` per bar, used
//! to slow sma-cross beside them from 40 to 8–9 bars/s and were never
//! faulted (each host call was free for their fuel, and the callback stayed
//! under its deadline). Host calls now cost fuel for the work they do: both
//! are quarantined on their first bar with a reason naming the host call
//! and the fuel budget, sma-cross keeps trading at its normal rate, and
//! `/healthz` stays 200.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "a test measures real time")]

use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::ops::{get, ops_addr};
use wasmtrade_e2e::{Serve, guest_path};

/// Bars per second the paper market plays (market seconds per second).
const SPEED: &str = "100";

fn json(serve: &Serve, args: &[&str]) -> Value {
    serve
        .cli_json(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\nserver stderr:\n{}", serve.stderr()))
}

fn bars(serve: &Serve) -> u64 {
    json(serve, &["account", "--json"])["bars"].as_u64().unwrap()
}

/// Bars per second the loop processes, measured over `window`.
fn rate(serve: &Serve, window: Duration) -> f64 {
    let (b0, t0) = (bars(serve), Instant::now());
    std::thread::sleep(window);
    let (b1, t1) = (bars(serve), Instant::now());
    (b1 - b0) as f64 / (t1 - t0).as_secs_f64()
}

fn module(serve: &Serve, name: &str) -> Value {
    json(serve, &["strategy", "list", name, "--json"])["modules"][0].clone()
}

fn upload(serve: &Serve, guest: &str, name: &str, config: &str) {
    let path = guest_path(guest).unwrap();
    let out = serve
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
        .unwrap();
    assert!(
        out.status.success(),
        "upload of {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (up to 10 s) for `name` to be quarantined; its module JSON.
fn quarantined(serve: &Serve, name: &str) -> Value {
    let mut m = Value::Null;
    for _ in 0..100 {
        m = module(serve, name);
        if m["state"] == "quarantined" {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} was not quarantined: {m}");
}

fn healthz_ok(serve: &Serve) {
    let (code, body) = get(&ops_addr(serve), "/healthz").unwrap();
    assert_eq!(code, 200, "/healthz: {body}");
}

#[test]
fn host_call_storms_run_out_of_fuel_while_sma_cross_trades() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", SPEED)]).unwrap();
    upload(
        &serve,
        "sma_cross",
        "sma",
        r#"{"fast":5,"slow":20,"quantity":10}"#,
    );
    let baseline = rate(&serve, Duration::from_secs(3));
    assert!(baseline > 5.0, "baseline {baseline:.1} bars/s");

    upload(
        &serve,
        "hostile_host_call_storm",
        "kv-storm",
        r#"{"mode": "kv-get", "calls": 2000, "value_bytes": 1000000}"#,
    );
    upload(
        &serve,
        "hostile_host_call_storm",
        "position-storm",
        r#"{"mode": "position-of", "calls": 700000}"#,
    );
    for (name, call) in [("kv-storm", "kv-get"), ("position-storm", "position-of")] {
        let m = quarantined(&serve, name);
        let fault = m["fault"].as_str().unwrap();
        assert!(fault.contains("cpu budget (fuel "), "{name}: {fault}");
        assert!(fault.contains("used up by host calls: "), "{name}: {fault}");
        assert!(fault.contains(&format!("`{call}`")), "{name}: {fault}");
        // Each instance faults on its first bar; the supervisor may have
        // restarted it (with back-off) before this look, and the counters
        // are the module's, kept across restarts.
        let audit = serve.cli_json(["strategy", "audit", name, "--json"]).unwrap();
        let restarts = audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "restart")
            .count() as u64;
        assert!(
            m["counters"]["bars"].as_u64().unwrap() <= 1 + restarts,
            "{m}\n{audit}"
        );
    }

    healthz_ok(&serve);
    let with_storms = rate(&serve, Duration::from_secs(3));
    assert!(
        with_storms > baseline * 0.7,
        "{with_storms:.1} bars/s beside the storm guests vs {baseline:.1} before"
    );
    let sma = module(&serve, "sma");
    assert_eq!(sma["state"], "running", "{sma}");
    assert!(sma["counters"]["bars"].as_u64().unwrap() > 0, "{sma}");
    healthz_ok(&serve);
}
