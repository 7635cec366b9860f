//! Risk control of `wasmtrade serve` through the CLI: limits changed at run
//! time are enforced, persisted with who/when/why and survive a restart;
//! kill switches are latched across restarts until a person resets them;
//! a loosening change can require a second principal's approval; and the "Knight
//! drill": a strategy that orders on every event regardless of fills is
//! contained by its limits and ends halted with an alert event.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path, wasmtrade_bin};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

/// Polls `f` every 50 ms for up to `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..secs * 20 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Follows `wasmtrade events --json` in the background.
fn follow_events(serve: &Serve) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(wasmtrade_bin().unwrap())
        .args(["events", "--json"])
        .env_remove("WASMTRADE_LOG")
        .env("WASMTRADE_SERVER", &serve.addr)
        .env("WASMTRADE_TOKEN", &serve.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    (child, rx)
}

#[test]
fn limits_set_at_run_time_are_enforced_audited_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("WASMTRADE__MARKET__SPEED", "0")];
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    let first = serve.cli_json(["risk", "show", "--json"]).unwrap();
    assert_eq!(first["revision"], 1, "{first}");
    assert_eq!(first["changed_by"], "config-file", "{first}");

    upload(&serve, "sma_cross", "sma", r#"{"fast":2,"slow":5,"quantity":10}"#);
    ok(serve
        .cli([
            "risk",
            "set",
            "--limit",
            "strategies.sma.max_order_quantity=5",
            "--note",
            "tighten sma",
        ])
        .unwrap());
    // sma's orders of 10 are refused by name from now on.
    wait_for(30, "a max-order-quantity rejection", || {
        let account = serve.cli_json(["account", "--json"]).unwrap();
        (account["rejected"].as_u64().unwrap_or(0) > 0).then_some(())
    });
    let shown = serve.cli_json(["risk", "show", "--json"]).unwrap();
    assert_eq!(shown["revision"], 2, "{shown}");
    assert_eq!(
        shown["limits"]["strategies"]["sma"]["max_order_quantity"], "5",
        "{shown}"
    );
    let history = serve.cli_json(["risk", "history", "--json"]).unwrap();
    let revisions = history["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{history}");
    assert_eq!(revisions[1]["note"], "tighten sma");
    assert!(
        revisions[1]["changed_by"].as_str().unwrap().starts_with("token"),
        "who changed it is recorded: {history}"
    );
    let audit = serve.cli_json(["strategy", "audit", "--json"]).unwrap();
    assert!(
        audit["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "risk_set" && r["detail"].as_str().unwrap().contains("revision 2")),
        "{audit}"
    );
    // A bad change is refused with every problem named, and changes nothing.
    let out = serve
        .cli(["risk", "set", "--limit", "strategies.sma.max_position=-3"])
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strategies.sma.max_position"), "{err}");
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());

    // The file's [risk] section no longer decides: the store's revision does.
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    let shown = serve.cli_json(["risk", "show", "--json"]).unwrap();
    assert_eq!(shown["revision"], 2, "{shown}");
    assert_eq!(shown["limits"]["strategies"]["sma"]["max_order_quantity"], "5");
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
}

#[test]
fn kill_switches_stay_latched_across_restarts_until_reset() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("WASMTRADE__MARKET__SPEED", "0")];
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    upload(&serve, "sma_cross", "sma", r#"{"fast":2,"slow":5,"quantity":10}"#);
    ok(serve
        .cli(["kill", "on", "--strategy", "sma", "--reason", "drill: strategy"])
        .unwrap());
    ok(serve.cli(["kill", "on", "--reason", "drill: global"]).unwrap());
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["on"], true, "{state}");
    assert_eq!(state["latches"].as_array().unwrap().len(), 2, "{state}");
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());

    let mut serve = Serve::start(dir.path(), &env).unwrap();
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["on"], true, "the global switch survives a restart: {state}");
    assert_eq!(state["reason"], "drill: global");
    let scopes: Vec<&str> = state["latches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["global", "strategy sma"], "{state}");
    // Nothing trades while it is on: sma (flat) has no orders after restart.
    std::thread::sleep(Duration::from_millis(500));
    let orders = serve.cli_json(["orders", "--open", "--json"]).unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 0, "{orders}");

    ok(serve.cli(["kill", "off", "--reason", "drill over"]).unwrap());
    ok(serve.cli(["kill", "off", "--strategy", "sma"]).unwrap());
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["on"], false, "{state}");
    assert_eq!(state["latches"].as_array().unwrap().len(), 0, "{state}");
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
    let serve = Serve::start(dir.path(), &env).unwrap();
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(
        state["latches"].as_array().unwrap().len(),
        0,
        "reset is persisted too: {state}"
    );
}

#[test]
fn loosening_limits_needs_a_second_approver_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__RISK_CHANGES__SECOND_APPROVER_TO_LOOSEN", "true"),
        ("WASMTRADE__RISK__ACCOUNT__MAX_ORDER_QUANTITY", "100"),
    ];
    let serve = Serve::start(dir.path(), &env).unwrap();
    // Tightening needs nobody else.
    ok(serve
        .cli(["risk", "set", "--limit", "account.max_order_quantity=50"])
        .unwrap());
    // Loosening is only proposed: it waits for another principal
    // (tests/tests/e2e/serve_principals.rs shows the approval by a second one).
    let proposed = serve
        .cli_json([
            "risk",
            "set",
            "--limit",
            "account.max_order_quantity=500",
            "--json",
        ])
        .unwrap();
    let id = proposed["pending_id"].as_u64().expect("a pending id").to_string();
    let shown = serve.cli_json(["risk", "show", "--json"]).unwrap();
    assert_eq!(
        shown["limits"]["account"]["max_order_quantity"], "50",
        "pending, not in force: {shown}"
    );
    // The one who proposed it cannot approve it.
    let out = serve.cli(["risk", "approve", &id]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token proposed pending risk change"), "{err}");
    let shown = serve.cli_json(["risk", "show", "--json"]).unwrap();
    assert_eq!(shown["limits"]["account"]["max_order_quantity"], "50");
    let audit = serve.cli_json(["strategy", "audit", "--json"]).unwrap();
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"risk_propose"),
        "the proposal is audited: {audit}"
    );
    assert!(
        actions.contains(&"risk_refused"),
        "the refused approval is audited: {audit}"
    );
}

#[test]
fn a_strategy_ordering_on_every_event_is_contained_and_halted_with_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    // The Knight drill: `knight` buys 1 at the market on every bar, whatever
    // fills. After 10 executions within the window it must be halted.
    let env = [
        ("WASMTRADE__MARKET__SPEED", "20"),
        ("WASMTRADE__RISK__STRATEGIES__KNIGHT__MAX_EXECUTIONS", "10"),
        ("WASMTRADE__RISK__STRATEGIES__KNIGHT__MAX_POSITION", "50"),
    ];
    let serve = Serve::start(dir.path(), &env).unwrap();
    let (mut events, rx) = follow_events(&serve);
    std::thread::sleep(Duration::from_millis(300));
    upload(&serve, "hostile_order_flood", "knight", r#"{"count":1}"#);
    upload(&serve, "sma_cross", "sma", r#"{"fast":2,"slow":5,"quantity":1}"#);
    let halt = wait_for(60, "the halt alert event", || {
        rx.try_iter().find(|e| e["kind"] == "halt")
    });
    assert_eq!(halt["halt"]["scope"], "strategy knight", "{halt}");
    assert_eq!(halt["halt"]["reason"], "repeated-executions", "{halt}");
    assert_eq!(halt["halt"]["lifted"], false);
    // Its next orders are refused by name; the halt is latched.
    let rejection = wait_for(30, "a repeated-executions rejection", || {
        rx.try_iter()
            .find(|e| e["kind"] == "rejection" && e["rejection"]["strategy"] == "knight")
    });
    assert_eq!(
        rejection["rejection"]["code"], "repeated-executions",
        "{rejection}"
    );
    let orders = serve
        .cli_json(["orders", "--strategy", "knight", "--limit", "100000", "--json"])
        .unwrap();
    let filled = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "filled")
        .count();
    // The 10th execution halts; at most the one order already working
    // when it happened can still fill.
    assert!(
        (10..=11).contains(&filled),
        "knight filled {filled} orders: {orders}"
    );
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["halts"][0]["scope"], "strategy knight", "{state}");
    // sma keeps running beside it (it is not halted).
    let list = serve.cli_json(["strategy", "list", "sma", "--json"]).unwrap();
    assert_eq!(list["modules"][0]["state"], "running", "{list}");
    // A person lifts it.
    ok(serve.cli(["risk", "reenable", "--strategy", "knight"]).unwrap());
    let lifted = wait_for(30, "the halt-lifted event", || {
        rx.try_iter()
            .find(|e| e["kind"] == "halt" && e["halt"]["lifted"] == true)
    });
    assert_eq!(lifted["halt"]["scope"], "strategy knight");
    let _ = events.kill();
    let _ = events.wait();
}

#[test]
fn the_kill_switch_blocks_orders_at_once_and_cancels_working_ones_while_guests_spin() {
    let dir = tempfile::tempdir().unwrap();
    // `knight` keeps one market order working at every moment (sent on a
    // bar, filled at the next open); `spin` loops until its fuel runs out
    // on every bar it sees and is restarted 10 ms later, again and again.
    let env = [
        ("WASMTRADE__MARKET__SPEED", "100"),
        (
            "WASMTRADE__GUESTS__QUARANTINE__RESTART",
            "{ initial_backoff_ms = 10, max_backoff_ms = 10, max_faults = 100000 }",
        ),
    ];
    let serve = Serve::start(dir.path(), &env).unwrap();
    let (mut events, rx) = follow_events(&serve);
    std::thread::sleep(Duration::from_millis(300));
    upload(&serve, "hostile_infinite_loop", "spin", "{}");
    upload(&serve, "hostile_order_flood", "knight", r#"{"count":1}"#);
    let mut seen = Vec::new();
    wait_for(30, "knight's orders and spin's faults", || {
        seen.extend(rx.try_iter());
        let fills = seen.iter().filter(|e| e["kind"] == "fill").count();
        let faults = seen.iter().filter(|e| e["kind"] == "fault").count();
        (fills >= 5 && faults >= 2).then_some(())
    });
    ok(serve.cli(["kill", "on", "--reason", "drill under load"]).unwrap());
    // Let the flow go on for a while with the switch on.
    std::thread::sleep(Duration::from_millis(1500));
    seen.extend(rx.try_iter());
    let _ = events.kill();
    let _ = events.wait();

    let kill_at = seen
        .iter()
        .position(|e| e["kind"] == "kill_switch" && e["kill_switch"]["on"] == true)
        .expect("the kill switch event");
    let after = &seen[kill_at + 1..];
    let submitted_after: Vec<&Value> = after
        .iter()
        .filter(|e| e["kind"] == "order" && e["order"]["status"] == "submitted")
        .collect();
    assert!(
        submitted_after.is_empty(),
        "no order may be sent once the switch is on: {submitted_after:?}"
    );
    assert!(
        after
            .iter()
            .any(|e| e["kind"] == "rejection" && e["rejection"]["code"] == "kill-switch"),
        "knight's new orders are refused by the kill switch"
    );
    // The order knight had working when the switch came on was cancelled
    // before the switch was reported, and nothing is left working.
    let before = &seen[..kill_at];
    let last_submitted = before
        .iter()
        .rev()
        .find(|e| e["kind"] == "order" && e["order"]["status"] == "submitted")
        .expect("knight sent orders before the kill switch");
    let id = &last_submitted["order"]["order_id"];
    let ended = seen.iter().any(|e| {
        e["kind"] == "order"
            && e["order"]["order_id"] == *id
            && (e["order"]["status"] == "cancelled" || e["order"]["status"] == "filled")
    }) || seen
        .iter()
        .any(|e| e["kind"] == "fill" && e["fill"]["order_id"] == *id);
    assert!(ended, "the last working order {id} was cancelled (or had filled)");
    let open = serve.cli_json(["orders", "--open", "--json"]).unwrap();
    assert_eq!(open["orders"].as_array().unwrap().len(), 0, "{open}");
}

#[test]
fn start_up_opens_the_trading_gate_and_a_config_flag_can_start_with_the_kill_switch_on() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__RISK__REQUIRE_RECONCILIATION", "true"),
        ("WASMTRADE__RISK_CHANGES__KILL_SWITCH_AT_START", "true"),
    ];
    let serve = Serve::start(dir.path(), &env).unwrap();
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["trading_gate_open"], true, "{state}");
    assert_eq!(state["on"], true, "{state}");
    assert_eq!(state["who"], "config", "{state}");
    let audit = serve.cli_json(["strategy", "audit", "--json"]).unwrap();
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"kill_on"), "{audit}");
    assert!(actions.contains(&"trading_gate_open"), "{audit}");
}
