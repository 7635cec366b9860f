//! Hot swap end to end: `wasmtrade serve` on loopback, `sma-cross` uploaded
//! and swapped with the real CLI while bars flow at thousands per second.
//! The guest's own bar counter (logged on every bar with `trace_bars`)
//! proves that no bar was dropped or delivered twice across the swaps and
//! that every new version started from the previous one's state.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path, wasmtrade_bin, with_custom_section};

const BAR_NANOS: i64 = 1_000_000_000;

/// One `bar n=.. ts=.. instrument=..` line of the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Traced {
    version: u64,
    n: u64,
    ts: i64,
    instrument: u64,
}

fn parse(line: &Value) -> Option<Traced> {
    let message = line["message"].as_str()?;
    let rest = message.strip_prefix("bar ")?;
    let mut fields = BTreeMap::new();
    for kv in rest.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        fields.insert(k, v);
    }
    Some(Traced {
        version: line["version"].as_u64()?,
        n: fields.get("n")?.parse().ok()?,
        ts: fields.get("ts")?.parse().ok()?,
        instrument: fields.get("instrument")?.parse().ok()?,
    })
}

/// Follows `strategy logs NAME --follow --json` in a child process.
struct Follower {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<Value>>>,
    errors: Arc<Mutex<String>>,
}

impl Follower {
    fn start(serve: &Serve, name: &str) -> Follower {
        let mut child = Command::new(wasmtrade_bin().unwrap())
            .args(["strategy", "logs", name, "--follow", "--json"])
            .env("WASMTRADE_SERVER", &serve.addr)
            .env("WASMTRADE_TOKEN", &serve.token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    let v: Value = serde_json::from_str(&line).expect("log lines are JSON");
                    lines.lock().unwrap().push(v);
                }
            });
        }
        {
            let errors = errors.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                    errors.lock().unwrap().push_str(&line);
                }
            });
        }
        Follower { child, lines, errors }
    }

    fn traced(&self) -> Vec<Traced> {
        self.lines.lock().unwrap().iter().filter_map(parse).collect()
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut(&[Traced]) -> bool) {
        for _ in 0..600 {
            if done(&self.traced()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}; follower stderr: {}",
            self.errors.lock().unwrap()
        );
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hot_swap_under_flow_drops_and_repeats_no_event_and_hands_over_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(
        dir.path(),
        &[
            ("WASMTRADE__MARKET__SPEED", "2500"),
            ("WASMTRADE__MARKET__SYMBOLS", "[\"AAA\", \"BBB\"]"),
            ("WASMTRADE__EVENTS__BUFFER", "262144"),
        ],
    )
    .unwrap();
    let v1 = guest_path("sma_cross").unwrap();
    let v2_bytes = with_custom_section(&std::fs::read(&v1).unwrap(), "wasmtrade-label", b"v2");
    let v2 = dir.path().join("sma_cross_v2.wasm");
    std::fs::write(&v2, v2_bytes).unwrap();
    let config = r#"{"fast":5,"slow":20,"quantity":10,"trace_bars":true}"#;

    // v1: upload, follow its log, activate, let it trade.
    let up = serve
        .cli_json([
            "strategy",
            "upload",
            v1.to_str().unwrap(),
            "--name",
            "sma",
            "--label",
            "v1",
            "--config",
            config,
            "--json",
        ])
        .unwrap();
    assert_eq!(up["upload"]["version"], 1, "{up}");
    let follower = Follower::start(&serve, "sma");
    std::thread::sleep(Duration::from_millis(300));
    ok(serve.cli(["strategy", "activate", "sma", "1"]).unwrap());
    follower.wait_for("v1 to see 3000 bars", |t| t.len() >= 3000);
    let orders = serve.cli_json(["orders", "--json"]).unwrap();
    let sent = orders["orders"].as_array().map_or(0, Vec::len);
    assert!(sent > 0, "sma-cross v1 sent no order in 3000 bars");

    // v2 while bars flow.
    let up = serve
        .cli_json([
            "strategy",
            "upload",
            v2.to_str().unwrap(),
            "--name",
            "sma",
            "--label",
            "v2",
            "--json",
        ])
        .unwrap();
    assert_eq!(up["upload"]["version"], 2, "{up}");
    let act = serve
        .cli_json(["strategy", "activate", "sma", "2", "--json"])
        .unwrap();
    assert_eq!(act["previous_version"], 1, "{act}");
    assert!(
        act["state_bytes"].as_u64().unwrap() > 0,
        "no state handed over: {act}"
    );
    follower.wait_for("v2 to see 2000 bars", |t| {
        t.iter().filter(|x| x.version == 2).count() >= 2000
    });

    // Roll back to v1 (the previous version), then remove the module.
    let back = serve.cli_json(["strategy", "rollback", "sma", "--json"]).unwrap();
    assert_eq!(
        (back["version"].as_u64(), back["previous_version"].as_u64()),
        (Some(1), Some(2)),
        "{back}"
    );
    follower.wait_for("v1 again to see 1000 bars", |t| {
        t.iter().rev().take_while(|x| x.version == 1).count() >= 1000
    });
    let removed = serve.cli_json(["strategy", "remove", "sma", "--json"]).unwrap();
    assert_eq!(removed["removed"], serde_json::json!([1, 2]), "{removed}");
    // Let the follower drain what the guest logged before its removal.
    std::thread::sleep(Duration::from_millis(500));
    let traced = follower.traced();
    drop(follower);

    // The guest's own counter: 1, 2, 3, ... with no gap or repeat across
    // three versions, so no bar was lost or delivered twice, and each new
    // version continued from the previous one's state.
    assert_eq!(traced.first().map(|t| t.n), Some(1));
    for pair in traced.windows(2) {
        assert_eq!(
            pair[1].n,
            pair[0].n + 1,
            "the guest's bar counter jumped between {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    let versions: Vec<u64> = {
        let mut v: Vec<u64> = traced.iter().map(|t| t.version).collect();
        v.dedup();
        v
    };
    assert_eq!(versions, [1, 2, 1], "swaps seen by the guest");
    // The market: every instrument's bars arrive one interval apart, none
    // missing, so the event loop dropped nothing before the guest either.
    let mut last: BTreeMap<u64, i64> = BTreeMap::new();
    for t in &traced {
        if let Some(prev) = last.insert(t.instrument, t.ts) {
            assert_eq!(
                t.ts - prev,
                BAR_NANOS,
                "bar gap on instrument {} at n={}",
                t.instrument,
                t.n
            );
        }
    }
    assert_eq!(last.len(), 2);

    // Every step is in the audit trail, with who and the sha256.
    let audit = serve.cli_json(["strategy", "audit", "sma", "--json"]).unwrap();
    let audit = &audit["records"];
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["upload", "activate", "upload", "activate", "rollback", "remove"],
        "{audit}"
    );
    assert!(
        audit.as_array().unwrap()[..5]
            .iter()
            .all(|r| r["sha256"].as_str().is_some_and(|s| s.len() == 64))
    );

    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    let sma = &list["modules"].as_array().unwrap()[0];
    assert_eq!(sma["state"], "stopped", "{sma}");

    let status = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "serve exited with {status}: {}", serve.stderr());
}

#[test]
fn a_shadow_run_matches_the_active_version_sends_nothing_and_can_be_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "2000")]).unwrap();
    let v1 = guest_path("sma_cross").unwrap();
    let v2 = dir.path().join("sma_cross_v2.wasm");
    std::fs::write(
        &v2,
        with_custom_section(&std::fs::read(&v1).unwrap(), "wasmtrade-label", b"v2"),
    )
    .unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            v1.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":5,"slow":20,"quantity":10}"#,
            "--activate",
        ])
        .unwrap());
    ok(serve
        .cli(["strategy", "upload", v2.to_str().unwrap(), "--name", "sma"])
        .unwrap());
    let started = serve
        .cli_json(["strategy", "shadow", "sma", "2", "--json"])
        .unwrap();
    assert_eq!(started["shadow"]["version"], 2, "{started}");
    let mut shadow = Value::Null;
    for _ in 0..200 {
        let list = serve.cli_json(["strategy", "list", "sma", "--json"]).unwrap();
        shadow = list["modules"][0]["shadow"].clone();
        if shadow["intents"].as_u64().unwrap_or(0) >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        shadow["intents"].as_u64().unwrap() >= 4,
        "the shadow returned no intents: {shadow}"
    );
    // Same code from the same state: every callback returns the same intents.
    assert_eq!(shadow["diverging"], 0, "{shadow}");
    assert!(shadow["matching"].as_u64().unwrap() >= shadow["intents"].as_u64().unwrap());
    // The shadow is the same code in the same state: had its intents been
    // sent, every client id would appear twice (or be refused as a duplicate).
    let orders = serve.cli_json(["orders", "--json"]).unwrap()["orders"]
        .as_array()
        .unwrap()
        .clone();
    let ids: std::collections::BTreeSet<&str> =
        orders.iter().map(|o| o["client_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), orders.len(), "an order was sent twice");
    let account = serve.cli_json(["account", "--json"]).unwrap();
    assert_eq!(account["rejected"], 0, "{account}");

    let promoted = serve.cli_json(["strategy", "promote", "sma", "--json"]).unwrap();
    assert_eq!(
        (
            promoted["version"].as_u64(),
            promoted["previous_version"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let list = serve.cli_json(["strategy", "list", "sma", "--json"]).unwrap();
    assert_eq!(list["modules"][0]["active_version"], 2);
    assert!(list["modules"][0]["shadow"].is_null(), "{}", list["modules"][0]);
    let audit = serve.cli_json(["strategy", "audit", "sma", "--json"]).unwrap();
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["upload", "activate", "upload", "shadow_start", "promote"]
    );
}

#[test]
fn sigterm_snapshots_the_guests_and_a_restart_resumes_them_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("WASMTRADE__MARKET__SPEED", "1000")];
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    let v1 = guest_path("sma_cross").unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            v1.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":5,"slow":20,"quantity":10,"trace_bars":true}"#,
            "--activate",
        ])
        .unwrap());
    let follower = Follower::start(&serve, "sma");
    follower.wait_for("500 bars", |t| t.len() >= 500);
    let status = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "serve exited with {status}: {}", serve.stderr());
    assert!(
        serve.stderr().contains("1 guest snapshots saved"),
        "{}",
        serve.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = follower.traced().last().copied().unwrap();
    drop(follower);

    // Same data dir: the active version comes back with its state.
    let serve = Serve::start(dir.path(), &env).unwrap();
    let follower = Follower::start(&serve, "sma");
    follower.wait_for("bars after the restart", |t| !t.is_empty());
    let after = follower.traced()[0];
    assert_eq!(
        after.n,
        before.n + 1,
        "the counter resumes from the shutdown snapshot"
    );
    let list = serve.cli_json(["strategy", "list", "sma", "--json"]).unwrap();
    assert_eq!(list["modules"][0]["active_version"], 1);
    assert_eq!(list["modules"][0]["state"], "running");
}

fn module<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no module {name} in the list"))
}

fn bars_of(serve: &Serve, name: &str) -> u64 {
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    module(&list, name)["counters"]["bars"].as_u64().unwrap_or(0)
}

#[test]
fn a_version_whose_init_fails_is_rolled_back_and_the_old_one_trades_on() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "1000")]).unwrap();
    let good = guest_path("sma_cross").unwrap();
    let bad = guest_path("hostile_bad_snapshot").unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            good.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":5,"slow":20}"#,
            "--activate",
        ])
        .unwrap());
    ok(serve
        .cli([
            "strategy",
            "upload",
            bad.to_str().unwrap(),
            "--name",
            "sma",
            "--label",
            "bad",
        ])
        .unwrap());
    // Its config is sma-cross's (the module's), which it refuses: init fails.
    let out = serve.cli(["strategy", "activate", "sma", "2"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aborted") && err.contains("version 2 failed to start"),
        "{err}"
    );
    let before = bars_of(&serve, "sma");
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    assert_eq!(module(&list, "sma")["active_version"], 1);
    assert_eq!(module(&list, "sma")["state"], "running");
    std::thread::sleep(Duration::from_millis(300));
    assert!(bars_of(&serve, "sma") > before, "v1 keeps receiving bars");
    let audit = serve.cli_json(["strategy", "audit", "sma", "--json"]).unwrap();
    let rolled_back = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "auto_rollback")
        .count();
    assert_eq!(rolled_back, 1, "{audit}");
}

#[test]
fn restore_failure_after_a_clean_init_is_rolled_back_with_the_guests_error() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "1000")]).unwrap();
    let bad = guest_path("hostile_bad_snapshot").unwrap();
    let bad_v2 = dir.path().join("bad_v2.wasm");
    std::fs::write(
        &bad_v2,
        with_custom_section(&std::fs::read(&bad).unwrap(), "wasmtrade-label", b"v2"),
    )
    .unwrap();
    ok(serve
        .cli([
            "strategy",
            "upload",
            bad.to_str().unwrap(),
            "--name",
            "b",
            "--config",
            r#"{"restore":"error"}"#,
            "--activate",
        ])
        .unwrap());
    ok(serve
        .cli(["strategy", "upload", bad_v2.to_str().unwrap(), "--name", "b"])
        .unwrap());
    let out = serve.cli(["strategy", "activate", "b", "2"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed to restore") && err.contains("version 1 keeps running"),
        "{err}"
    );
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    assert_eq!(module(&list, "b")["active_version"], 1);
    assert_eq!(module(&list, "b")["state"], "running");
}

#[test]
fn strategies_and_indicators_run_side_by_side_and_a_swap_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "1000")]).unwrap();
    let sma = guest_path("sma_cross").unwrap();
    let ema = guest_path("ema").unwrap();
    let ema_v2 = dir.path().join("ema_v2.wasm");
    std::fs::write(
        &ema_v2,
        with_custom_section(&std::fs::read(&ema).unwrap(), "wasmtrade-label", b"v2"),
    )
    .unwrap();
    for name in ["a", "b"] {
        ok(serve
            .cli([
                "strategy",
                "upload",
                sma.to_str().unwrap(),
                "--name",
                name,
                "--config",
                r#"{"fast":5,"slow":20,"quantity":1}"#,
                "--activate",
            ])
            .unwrap());
    }
    ok(serve
        .cli([
            "strategy",
            "upload",
            ema.to_str().unwrap(),
            "--name",
            "ema10",
            "--kind",
            "indicator",
            "--config",
            r#"{"period":10}"#,
            "--activate",
        ])
        .unwrap());
    ok(serve
        .cli([
            "strategy",
            "upload",
            ema_v2.to_str().unwrap(),
            "--name",
            "ema10",
            "--kind",
            "indicator",
        ])
        .unwrap());
    let b_before = bars_of(&serve, "b");
    // Swap the indicator (state handed over) and strategy `a` (new config).
    let swapped = serve
        .cli_json(["strategy", "activate", "ema10", "2", "--json"])
        .unwrap();
    assert!(swapped["state_bytes"].as_u64().unwrap() > 0, "{swapped}");
    ok(serve
        .cli([
            "strategy",
            "config",
            "a",
            "--config",
            r#"{"fast":5,"slow":20,"quantity":2}"#,
        ])
        .unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    for (name, version) in [("a", 1), ("b", 1), ("ema10", 2)] {
        assert_eq!(module(&list, name)["state"], "running", "{name}");
        assert_eq!(module(&list, name)["active_version"], version, "{name}");
    }
    assert_eq!(module(&list, "ema10")["kind"], "indicator");
    let config: Value = serde_json::from_str(module(&list, "a")["config_json"].as_str().unwrap()).unwrap();
    assert_eq!(config, serde_json::json!({"fast": 5, "slow": 20, "quantity": 2}));
    assert!(
        bars_of(&serve, "b") > b_before,
        "`b` kept receiving bars through both swaps"
    );
}
