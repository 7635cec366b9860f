//! Issue 15: a swap refused because the running version's `snapshot` ran
//! out of fuel said "version 1 keeps running" while the guest was in fact
//! stopped by the sandbox. The refusal now says what happened: version 1 is
//! quarantined at once (not at its next bar), and the list agrees.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path, with_custom_section};

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn module<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no module {name} in {list}"))
}

#[test]
fn a_swap_whose_snapshot_runs_out_of_fuel_reports_the_running_version_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        dir.path(),
        &[
            ("WASMTRADE__MARKET__SPEED", "1000"),
            // No periodic snapshot: the swap's snapshot is the first one.
            ("WASMTRADE__GUESTS__SNAPSHOT_EVERY_BARS", "100000000"),
            // No restart behind the test's back.
            ("WASMTRADE__GUESTS__QUARANTINE__RESTART", "{ max_faults = 1 }"),
        ],
    )
    .unwrap();
    let bad = guest_path("hostile_bad_snapshot").unwrap();
    let bad_v2 = dir.path().join("bad_v2.wasm");
    std::fs::write(
        &bad_v2,
        with_custom_section(&std::fs::read(&bad).unwrap(), "wasmtrade-label", b"v2"),
    )
    .unwrap();
    // 64 MiB of garbage takes far more than the 50M fuel of one callback.
    ok(serve
        .cli([
            "strategy",
            "upload",
            bad.to_str().unwrap(),
            "--name",
            "b",
            "--config",
            r#"{"restore":"error","garbage_bytes":67108864}"#,
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
        err.contains("failed to snapshot its state")
            && err.contains("cpu budget")
            && err.contains("version 1 was quarantined by that fault")
            && err.contains("version 2 was not installed")
            && !err.contains("keeps running"),
        "{err}"
    );
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    let b = module(&list, "b");
    assert_eq!(b["active_version"], 1, "{b}");
    assert_ne!(b["state"], "running", "{b}");
}
