//! Every version carries its own configuration, end to end: `wasmtrade
//! serve` on loopback, `sma-cross` uploaded twice with two configurations
//! and driven with the real CLI through activate, rollback, activate with a
//! new configuration, and a SIGTERM restart on the same data dir.
//!
//! Which configuration a guest really runs with is seen two ways: what the
//! server reports (`strategy list`: the active pair and each version's
//! configuration) and what the guest does — `trace_bars` in its
//! configuration makes it log every bar, tagged with its version, so a
//! configuration without it leaves the log silent.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path, with_custom_section};

/// v1's upload configuration: traces every bar.
const A: &str = r#"{"fast":3,"slow":8,"quantity":1,"trace_bars":true}"#;
/// v2's upload configuration: silent.
const B: &str = r#"{"fast":3,"slow":8,"quantity":2,"trace_bars":false}"#;
/// v2's configuration given at its second activation: traces again (same
/// windows: sma-cross refuses to restore state into other windows).
const C: &str = r#"{"fast":3,"slow":8,"quantity":3,"trace_bars":true}"#;

const ENV: &[(&str, &str)] = &[("WASMTRADE__MARKET__SPEED", "400")];

/// The `sma` module as `strategy list --json` reports it.
fn module(serve: &Serve) -> Value {
    let list = serve.cli_json(["strategy", "list", "sma", "--json"]).unwrap();
    list["modules"][0].clone()
}

/// `(active version, its configuration)` as the server reports it.
fn active(serve: &Serve) -> (u64, Value) {
    let m = module(serve);
    let config = serde_json::from_str(m["config_json"].as_str().unwrap()).unwrap();
    (m["active_version"].as_u64().unwrap(), config)
}

/// Each version's configuration, in version order.
fn version_configs(serve: &Serve) -> Vec<Value> {
    module(serve)["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| serde_json::from_str(v["config_json"].as_str().unwrap()).unwrap())
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Bars the running guest has received (its counters).
fn bars(serve: &Serve) -> u64 {
    module(serve)["counters"]["bars"].as_u64().unwrap()
}

/// Waits until the running guest has received `n` more bars.
fn wait_bars(serve: &Serve, n: u64) {
    let start = bars(serve);
    for _ in 0..600 {
        if bars(serve) >= start + n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the guest did not get {n} bars; stderr:\n{}", serve.stderr());
}

/// The guest's kept `bar n=..` log lines: the version of each.
fn traced_versions(serve: &Serve) -> Vec<u64> {
    let out = serve.cli(["strategy", "logs", "sma", "--json"]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with("bar ")))
        .map(|l| l["version"].as_u64().unwrap())
        .collect()
}

/// Waits until the guest has logged `n` more bar lines as `version`.
fn wait_traced(serve: &Serve, version: u64, n: usize) {
    let start = traced_versions(serve).len();
    for _ in 0..600 {
        let traced = traced_versions(serve);
        if traced.len() >= start + n && traced.iter().rev().take(n).all(|v| *v == version) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "v{version} did not trace {n} bars; traced: {:?}",
        traced_versions(serve)
    );
}

fn activation(serve: &Serve, args: &[&str]) -> Value {
    let mut full = vec!["strategy"];
    full.extend_from_slice(args);
    full.push("--json");
    serve.cli_json(full).unwrap()
}

#[test]
fn activate_and_rollback_run_each_version_with_its_own_config_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), ENV).unwrap();
    let v1 = guest_path("sma_cross").unwrap();
    let v2 = dir.path().join("sma_cross_v2.wasm");
    std::fs::write(
        &v2,
        with_custom_section(&std::fs::read(&v1).unwrap(), "wasmtrade-label", b"v2"),
    )
    .unwrap();
    for (path, label, config) in [(&v1, "v1", A), (&v2, "v2", B)] {
        activation(
            &serve,
            &[
                "upload",
                path.to_str().unwrap(),
                "--name",
                "sma",
                "--label",
                label,
                "--config",
                config,
            ],
        );
    }

    // v1 runs A: it traces.
    activation(&serve, &["activate", "sma", "1"]);
    assert_eq!(active(&serve), (1, json(A)));
    wait_traced(&serve, 1, 20);
    assert_eq!(version_configs(&serve), [json(A), json(B)]);

    // v2 runs B (not A): reported, and the guest stays silent.
    let done = activation(&serve, &["activate", "sma", "2"]);
    assert_eq!(done["previous_version"], 1, "{done}");
    assert_eq!(active(&serve), (2, json(B)));
    wait_bars(&serve, 100);
    let traced = traced_versions(&serve);
    assert!(
        !traced.contains(&2),
        "v2 traced bars, so it did not run with B: {traced:?}"
    );

    // Rollback: v1 with A again (not B).
    let done = activation(&serve, &["rollback", "sma"]);
    assert_eq!(
        (done["version"].as_u64(), done["previous_version"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(active(&serve), (1, json(A)));
    wait_traced(&serve, 1, 20);

    // v2 with a new config C: it runs C, and C becomes v2's config.
    activation(&serve, &["activate", "sma", "2", "--config", C]);
    assert_eq!(active(&serve), (2, json(C)));
    assert_eq!(version_configs(&serve), [json(A), json(C)]);
    wait_traced(&serve, 2, 20);

    // A restart keeps exactly the active pair, and the previous one.
    assert!(serve.terminate(Duration::from_secs(20)).unwrap().success());
    serve = Serve::start(dir.path(), ENV).unwrap();
    assert_eq!(active(&serve), (2, json(C)));
    assert_eq!(version_configs(&serve), [json(A), json(C)]);
    wait_traced(&serve, 2, 20);
    let done = activation(&serve, &["rollback", "sma"]);
    assert_eq!(
        (done["version"].as_u64(), done["previous_version"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(active(&serve), (1, json(A)));
    wait_traced(&serve, 1, 20);
}
