//! Named API principals of `wasmtrade serve` through the CLI: a tokens file
//! (`server.tokens_file`) names principals by the sha256 of their token,
//! each call needs a role, the audit trail records the principal's name,
//! and a change that loosens risk limits takes effect only once a second,
//! different principal approves it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tonic::transport::Endpoint;
use wasmtrade_e2e::{Serve, guest_path, wasmtrade_bin};
use wasmtrade_proto::v1::SetLimitsRequest;
use wasmtrade_proto::v1::risk_service_client::RiskServiceClient;
use wasmtrade_proto::{AUTH_HEADER, bearer};

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// The call failed; its stderr.
fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "the call had to be refused: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `wasmtrade token hash` of `token`.
fn hash(token: &str) -> String {
    let mut child = Command::new(wasmtrade_bin().unwrap())
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    ok(child.wait_with_output().unwrap()).trim().to_string()
}

/// A tokens file (mode 0600) with `(name, role, token)` entries.
fn tokens_file(dir: &Path, principals: &[(&str, &str, &str)]) -> PathBuf {
    let text: String = principals
        .iter()
        .map(|(name, role, token)| {
            format!(
                "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n\n",
                hash(token)
            )
        })
        .collect();
    let path = dir.join("tokens.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn audit(serve: &Serve) -> Vec<Value> {
    let audit = serve.cli_json(["strategy", "audit", "--json"]).unwrap();
    audit["records"].as_array().unwrap().clone()
}

fn has_record(records: &[Value], who: &str, action: &str) -> bool {
    records.iter().any(|r| r["who"] == who && r["action"] == action)
}

#[test]
fn each_principal_may_make_the_calls_of_its_role_and_the_audit_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(
        dir.path(),
        &[
            ("vic", "viewer", "vic-token"),
            ("tara", "trader", "tara-token"),
            ("dana", "deployer", "dana-token"),
        ],
    );
    let data = dir.path().join("data");
    let env = [
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__SERVER__TOKENS_FILE", tokens.to_str().unwrap()),
    ];
    let mut serve = Serve::start(&data, &env).unwrap();
    let sma = guest_path("sma_cross").unwrap();
    let sma = sma.to_str().unwrap();
    let upload = [
        "strategy",
        "upload",
        sma,
        "--name",
        "sma",
        "--config",
        "fast=5,slow=20",
        "--activate",
    ];

    // A viewer reads, and nothing else.
    ok(serve.cli_as("vic-token", ["strategy", "list", "--json"]).unwrap());
    ok(serve.cli_as("vic-token", ["account", "--json"]).unwrap());
    let err = refused(serve.cli_as("vic-token", upload).unwrap());
    assert!(err.contains("permission_denied"), "{err}");
    assert!(
        err.contains(
            "principal `vic` (role viewer) may not call wasmtrade.v1.StrategyService/Upload: it needs the deployer role"
        ),
        "{err}"
    );
    let err = refused(
        serve
            .cli_as("vic-token", ["kill", "on", "--reason", "x"])
            .unwrap(),
    );
    assert!(
        err.contains("TradingService/SetKillSwitch: it needs the trader role"),
        "{err}"
    );

    // A deployer uploads and activates, under its own name.
    ok(serve.cli_as("dana-token", upload).unwrap());
    let err = refused(
        serve
            .cli_as("vic-token", ["strategy", "activate", "sma", "1"])
            .unwrap(),
    );
    assert!(
        err.contains("principal `vic`") && err.contains("StrategyService/Activate"),
        "{err}"
    );

    // A trader engages the kill switch, and may not deploy.
    ok(serve
        .cli_as("tara-token", ["kill", "on", "--reason", "drill"])
        .unwrap());
    let state = json(serve.cli_as("vic-token", ["kill", "status", "--json"]).unwrap());
    assert_eq!(state["who"], "tara", "{state}");
    let err = refused(serve.cli_as("tara-token", upload).unwrap());
    assert!(err.contains("principal `tara` (role trader)"), "{err}");
    assert!(err.contains("needs the deployer role"), "{err}");
    let err = refused(serve.cli_as("dana-token", ["kill", "off"]).unwrap());
    assert!(err.contains("principal `dana` (role deployer)"), "{err}");
    ok(serve.cli_as("tara-token", ["kill", "off"]).unwrap());

    // An unknown token is not a principal.
    let err = refused(serve.cli_as("nobody", ["strategy", "list"]).unwrap());
    assert!(
        err.contains("unauthenticated") && err.contains("wrong API token"),
        "{err}"
    );

    let records = audit(&serve);
    assert!(has_record(&records, "dana", "upload"), "{records:?}");
    assert!(has_record(&records, "dana", "activate"), "{records:?}");
    assert!(has_record(&records, "tara", "kill_on"), "{records:?}");
    assert!(has_record(&records, "tara", "kill_off"), "{records:?}");
    assert!(
        !records.iter().any(|r| r["who"] == "vic"),
        "refused calls change nothing: {records:?}"
    );
    // The single API token (WASMTRADE_TOKEN) still works beside the file,
    // as principal `token` with every role.
    ok(serve.cli(["kill", "on", "--reason", "single token"]).unwrap());
    let state = serve.cli_json(["kill", "status", "--json"]).unwrap();
    assert_eq!(state["who"], "token", "{state}");
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
}

#[test]
fn a_loosening_change_takes_effect_only_when_another_principal_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(
        dir.path(),
        &[
            ("alice", "deployer", "alice-token"),
            ("bob", "deployer", "bob-token"),
            ("vic", "viewer", "vic-token"),
        ],
    );
    let data = dir.path().join("data");
    let env = [
        ("WASMTRADE__MARKET__SPEED", "0"),
        ("WASMTRADE__SERVER__TOKENS_FILE", tokens.to_str().unwrap()),
        ("WASMTRADE__RISK_CHANGES__SECOND_APPROVER_TO_LOOSEN", "true"),
        ("WASMTRADE__RISK__ACCOUNT__MAX_ORDER_QUANTITY", "100"),
    ];
    let mut serve = Serve::start(&data, &env).unwrap();
    let quantity = |serve: &Serve| {
        let shown = serve.cli_json(["risk", "show", "--json"]).unwrap();
        shown["limits"]["account"]["max_order_quantity"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let loosen = |to: &str| {
        [
            "risk".to_string(),
            "set".into(),
            "--limit".into(),
            format!("account.max_order_quantity={to}"),
            "--note".into(),
            "needs more room".into(),
            "--json".into(),
        ]
    };

    // Naming an approver is no approval: the flag is gone, and the field is refused.
    let err = refused(
        serve
            .cli_as(
                "alice-token",
                [
                    "risk",
                    "set",
                    "--limit",
                    "account.max_order_quantity=1000000",
                    "--approved-by",
                    "the-cfo",
                ],
            )
            .unwrap(),
    );
    assert!(err.contains("--approved-by"), "{err}");
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let channel = Endpoint::from_shared(serve.url())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut request = tonic::Request::new(SetLimitsRequest {
                document_json: r#"{"account":{"max_order_quantity":"1000000"}}"#.into(),
                approved_by: "the-cfo".into(),
                ..Default::default()
            });
            request
                .metadata_mut()
                .insert(AUTH_HEADER, bearer("alice-token").parse().unwrap());
            RiskServiceClient::new(channel)
                .set_limits(request)
                .await
                .unwrap_err()
        });
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("approved_by is no longer accepted"),
        "{status:?}"
    );
    assert_eq!(quantity(&serve), "100");

    // Alice proposes; nothing changes until someone else approves.
    let proposed = json(serve.cli_as("alice-token", loosen("1000000")).unwrap());
    let id = proposed["pending_id"].as_u64().expect("a pending id");
    assert_eq!(proposed["revision"], 1, "{proposed}");
    assert_eq!(quantity(&serve), "100", "a pending change is not in force");
    let id_arg = id.to_string();
    let err = refused(serve.cli_as("alice-token", ["risk", "approve", &id_arg]).unwrap());
    assert!(err.contains("failed_precondition"), "{err}");
    assert!(err.contains("alice proposed pending risk change"), "{err}");
    assert!(err.contains("cannot approve it"), "{err}");
    let err = refused(serve.cli_as("vic-token", ["risk", "approve", &id_arg]).unwrap());
    assert!(err.contains("principal `vic` (role viewer)"), "{err}");
    assert_eq!(quantity(&serve), "100");

    // It survives a restart, and bob approves it.
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
    let serve = Serve::start(&data, &env).unwrap();
    let pending = json(serve.cli_as("bob-token", ["risk", "pending", "--json"]).unwrap());
    assert_eq!(pending["pending"][0]["id"], id, "{pending}");
    assert_eq!(pending["pending"][0]["proposed_by"], "alice", "{pending}");
    let approved = json(
        serve
            .cli_as("bob-token", ["risk", "approve", &id_arg, "--json"])
            .unwrap(),
    );
    assert_eq!(approved["revision"], 2, "{approved}");
    assert_eq!(approved["loosens"], true, "{approved}");
    assert_eq!(quantity(&serve), "1000000");
    let history = serve.cli_json(["risk", "history", "--json"]).unwrap();
    let last = history["revisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["changed_by"], "alice (approved by bob)", "{history}");
    assert_eq!(last["note"], "needs more room", "{history}");
    let records = audit(&serve);
    assert!(has_record(&records, "alice", "risk_propose"), "{records:?}");
    assert!(has_record(&records, "alice", "risk_refused"), "{records:?}");
    assert!(has_record(&records, "bob", "risk_approve"), "{records:?}");
    let pending = serve.cli_json(["risk", "pending", "--json"]).unwrap();
    assert_eq!(pending["pending"].as_array().unwrap().len(), 0, "{pending}");
    let err = refused(serve.cli_as("bob-token", ["risk", "approve", &id_arg]).unwrap());
    assert!(err.contains("not_found"), "an approval is used once: {err}");

    // A proposal made against an older revision cannot be approved.
    let proposed = json(serve.cli_as("alice-token", loosen("2000000")).unwrap());
    let stale = proposed["pending_id"].as_u64().unwrap().to_string();
    assert_ne!(stale, id_arg, "ids are never reused");
    ok(serve
        .cli_as(
            "bob-token",
            ["risk", "set", "--limit", "account.max_order_quantity=10"],
        )
        .unwrap());
    let err = refused(serve.cli_as("bob-token", ["risk", "approve", &stale]).unwrap());
    assert!(
        err.contains("aborted") && err.contains("propose the change again"),
        "{err}"
    );
    assert_eq!(quantity(&serve), "10");
}
