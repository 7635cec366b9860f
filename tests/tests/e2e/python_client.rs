//! The API from another language, unchanged: a Python client generated from
//! `proto/` with `grpcio-tools` uploads, lists, activates and streams events
//! from the real `wasmtrade serve`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::Command;

use wasmtrade_e2e::{Serve, guest_path, python, workspace_root};

#[test]
fn a_python_client_generated_from_the_proto_uploads_lists_and_streams_events() {
    let python = python().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "500")]).unwrap();
    let root = workspace_root();
    let out = Command::new(&python)
        .arg(root.join("tests/python/grpc_client.py"))
        .arg("--proto-dir")
        .arg(root.join("proto"))
        .args([
            "--server",
            &serve.addr,
            "--token",
            &serve.token,
            "--name",
            "sma-py",
        ])
        .arg("--wasm")
        .arg(guest_path("sma_cross").unwrap())
        .args([
            "--config",
            r#"{"fast": 5, "slow": 20, "quantity": 10}"#,
            "--events",
            "200",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["uploaded_version"], 1, "{report}");
    assert_eq!(report["listed"], serde_json::json!(["sma-py"]), "{report}");
    assert_eq!(report["events"], 200, "{report}");
    assert_eq!(report["seqs_increasing"], true, "{report}");
    assert_eq!(report["unauthenticated_ok"], true, "{report}");
    // The Rust CLI sees what Python did.
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    assert_eq!(list["modules"][0]["name"], "sma-py");
    assert_eq!(list["modules"][0]["state"], "running");
}
