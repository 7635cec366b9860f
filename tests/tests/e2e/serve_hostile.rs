//! Hostile guests in `wasmtrade serve`, each beside a well-behaved
//! `sma-cross`: the runtime never crashes, `sma-cross` trades exactly as in
//! a run without the hostile guest, the hostile guest ends quarantined with
//! the right reason (and, with `max_faults = 1`, stopped for good), and the
//! runtime's memory stays bounded.
//!
//! Each run is deterministic: a first start plays a single bar and stops
//! the market, the guests are uploaded and activated, a SIGTERM snapshots
//! them, and a second start on the same data dir restores them *before* the
//! seeded market plays its 3000 bars as fast as the loop takes them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path};

const BARS: u64 = 3000;

struct Outcome {
    /// sma-cross's orders: client id, side, quantity, status, filled.
    orders: Vec<(String, String, String, String, String)>,
    /// sma-cross's positions: symbol, quantity, realised P&L (exact decimals).
    positions: Vec<(String, String, String)>,
    /// The hostile module as listed, and its audit trail.
    hostile: Option<(Value, Vec<Value>)>,
    /// Peak resident memory of the server, KiB.
    rss_kib: u64,
}

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn run(hostile: Option<(&str, &str)>, env: &[(&str, &str)]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut first = vec![
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__MARKET__MAX_BARS", "1"),
    ];
    first.extend_from_slice(env);
    let mut serve = Serve::start(dir.path(), &first).unwrap();
    let sma = guest_path("sma_cross").unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            sma.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":5,"slow":20,"quantity":10}"#,
            "--activate",
        ])
        .unwrap());
    if let Some((guest, config)) = hostile {
        let path = guest_path(guest).unwrap();
        ok(serve
            .cli([
                "strategy",
                "upload",
                path.to_str().unwrap(),
                "--name",
                "evil",
                "--config",
                config,
                "--activate",
            ])
            .unwrap());
    }
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());

    let bars = BARS.to_string();
    let mut second = vec![
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__MARKET__MAX_BARS", bars.as_str()),
        ("WASMTRADE__GUESTS__QUARANTINE__RESTART", "{ max_faults = 1 }"),
    ];
    second.extend_from_slice(env);
    let mut serve = Serve::start(dir.path(), &second).unwrap();
    let mut seen = 0;
    for _ in 0..1200 {
        let account = serve.cli_json(["account", "--json"]).unwrap();
        seen = account["bars"].as_u64().unwrap();
        if seen >= BARS {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, BARS, "the market did not finish: {}", serve.stderr());
    // Let the supervisor record what it decided.
    std::thread::sleep(Duration::from_millis(300));
    let orders = serve
        .cli_json(["orders", "--strategy", "sma", "--limit", "1000000", "--json"])
        .unwrap();
    let orders = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            (s("client_id"), s("side"), s("quantity"), s("status"), s("filled"))
        })
        .collect();
    let positions = serve
        .cli_json(["positions", "--strategy", "sma", "--json"])
        .unwrap();
    let positions = positions["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (s("symbol"), s("quantity"), s("realized_pnl"))
        })
        .collect();
    let hostile = hostile.map(|_| {
        let list = serve.cli_json(["strategy", "list", "evil", "--json"]).unwrap();
        let audit = serve.cli_json(["strategy", "audit", "evil", "--json"]).unwrap();
        (
            list["modules"][0].clone(),
            audit["records"].as_array().unwrap().clone(),
        )
    });
    let rss_kib = peak_rss_kib(serve.pid());
    let status = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "serve exited with {status}: {}", serve.stderr());
    Outcome {
        orders,
        positions,
        hostile,
        rss_kib,
    }
}

fn check(guest: &str, config: &str, kind: Option<&str>) {
    check_with(guest, config, kind, &[]);
}

/// `check`, with `env` (e.g. risk limits) in both runs.
fn check_with(guest: &str, config: &str, kind: Option<&str>, env: &[(&str, &str)]) -> Value {
    let baseline = run(None, env);
    assert!(
        baseline.orders.len() > 10,
        "sma-cross should trade in {BARS} bars"
    );
    let with = run(Some((guest, config)), env);
    assert_eq!(
        with.orders, baseline.orders,
        "{guest}: sma-cross's orders changed"
    );
    assert_eq!(
        with.positions, baseline.positions,
        "{guest}: sma-cross's fills changed"
    );
    let (module, audit) = with.hostile.unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r["action"].as_str().unwrap()).collect();
    match kind {
        Some(kind) => {
            assert_eq!(module["state"], "quarantined", "{guest}: {module}");
            let fault = audit
                .iter()
                .find(|r| r["action"] == "fault")
                .unwrap_or_else(|| panic!("{actions:?}"));
            assert!(
                fault["detail"].as_str().unwrap().starts_with(kind),
                "{guest}: expected a {kind} fault, got {}",
                fault["detail"]
            );
            assert!(actions.contains(&"stopped"), "{guest}: {actions:?}");
            if kind == "trap" {
                let detail = fault["detail"].as_str().unwrap();
                assert!(
                    detail.contains("wasm backtrace"),
                    "{guest}: no backtrace in {detail}"
                );
            }
        }
        None => {
            assert_eq!(module["state"], "running", "{guest}: {module}");
            assert!(!actions.contains(&"fault"), "{guest}: {actions:?}");
        }
    }
    // Bounded: the sandbox caps a guest's memory at 256 MiB.
    assert!(
        with.rss_kib < 1024 * 1024,
        "{guest}: peak RSS {} KiB",
        with.rss_kib
    );
    module
}

#[test]
fn an_infinite_loop_is_stopped_by_its_budget() {
    check("hostile_infinite_loop", r#"{"after": 100}"#, Some("budget"));
}

#[test]
fn deep_recursion_traps_on_the_stack_limit() {
    check("hostile_deep_recursion", r#"{"after": 100}"#, Some("trap"));
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    check("hostile_memory_bomb", r#"{"after": 100}"#, Some("limit"));
}

#[test]
fn a_trap_on_the_nth_bar_quarantines_the_guest() {
    check("hostile_trap_on_nth", r#"{"nth": 200}"#, Some("trap"));
}

#[test]
fn an_order_flood_is_refused_as_too_many_intents() {
    check(
        "hostile_order_flood",
        r#"{"count": 5000}"#,
        Some("too-many-intents"),
    );
}

#[test]
fn a_flood_of_oversized_orders_is_refused_by_risk_while_sma_cross_trades_as_alone() {
    // 20 fat-finger orders per bar, each refused by the strategy's
    // max_order_quantity: the guest keeps running, every order is refused
    // by name, and sma-cross (checked by `check_with`) trades exactly as
    // without it.
    let module = check_with(
        "hostile_order_flood",
        r#"{"count": 20, "quantity": 1000000}"#,
        None,
        &[("WASMTRADE__RISK__STRATEGIES__EVIL__MAX_ORDER_QUANTITY", "100")],
    );
    let rejects = module["counters"]["rejects"].as_u64().unwrap();
    assert!(rejects >= 20 * (BARS - 1), "{module}");
    assert_eq!(module["counters"]["fills"], 0, "{module}");
}

#[test]
fn a_log_flood_is_bounded_and_the_guest_keeps_running() {
    check(
        "hostile_log_flood",
        r#"{"lines": 2000, "line_bytes": 1000, "stdout_kib": 64}"#,
        None,
    );
}

#[test]
fn a_faulting_guest_is_restarted_from_its_last_good_snapshot_until_the_breaker_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        dir.path(),
        &[
            ("WASMTRADE__MARKET__SPEED", "200"),
            ("WASMTRADE__GUESTS__SNAPSHOT_EVERY_BARS", "20"),
            (
                "WASMTRADE__GUESTS__QUARANTINE__RESTART",
                "{ initial_backoff_ms = 200, max_faults = 3 }",
            ),
        ],
    )
    .unwrap();
    let sma = guest_path("sma_cross").unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            sma.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":5,"slow":20,"quantity":10}"#,
            "--activate",
        ])
        .unwrap());
    let evil = guest_path("hostile_trap_on_nth").unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            evil.to_str().unwrap(),
            "--name",
            "evil",
            "--config",
            r#"{"nth": 50}"#,
            "--activate",
        ])
        .unwrap());
    let mut actions = Vec::new();
    let mut audit = Value::Null;
    for _ in 0..400 {
        audit = serve.cli_json(["strategy", "audit", "evil", "--json"]).unwrap();
        actions = audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect();
        if actions.iter().any(|a| a == "stopped") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        actions,
        [
            "upload", "activate", "fault", "restart", "fault", "restart", "fault", "stopped"
        ],
        "{audit}"
    );
    // Restarts resumed from a snapshot taken before the fault, not from scratch.
    let restart = &audit["records"][3];
    assert!(
        !restart["detail"].as_str().unwrap().contains(" 0 bytes"),
        "{restart}"
    );
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    let modules = list["modules"].as_array().unwrap();
    let state = |name: &str| modules.iter().find(|m| m["name"] == name).unwrap()["state"].clone();
    assert_eq!(state("evil"), "quarantined");
    assert_eq!(state("sma"), "running");
    // An operator's activation runs it again and resets the breaker.
    ok(serve.cli(["strategy", "activate", "evil", "1"]).unwrap());
    let list = serve.cli_json(["strategy", "list", "evil", "--json"]).unwrap();
    assert_eq!(list["modules"][0]["state"], "running");
}
