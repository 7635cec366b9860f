//! Promotion by evidence (issue 19, item 2): a candidate model runs in the
//! shadow of the policy that runs its model — same observations, its
//! decisions recorded, never traded — and the shadow gate promotes it only
//! if its figures beat the running model's.
//!
//! The market rises steadily (a large drift over little noise), so the best
//! policy is known: always long. The policy starts with a model that is
//! always short; a long model is promoted by the gate, a NaN model and a
//! short model are not, and the promoted version is what a restart runs.
//! Models come from `tests/python/make_gate_models.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "a test waits in real time")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::ops::{get_ok, metric, ops_addr};
use wasmtrade_e2e::{Serve, guest_path, python, workspace_root};

/// How long a shadow evaluation may take to decide.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(180);

pub(crate) fn gate_models() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(python().unwrap())
        .arg(workspace_root().join("tests/python/make_gate_models.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// `model` as version 1 of `clstm`, active (the models volume's layout).
pub(crate) fn seed_v1(data_dir: &Path, model: &Path) {
    let models = data_dir.join("models").join("clstm");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(model, models.join("v1.onnx")).unwrap();
    std::fs::write(models.join("ACTIVE"), "1\n").unwrap();
}

/// The always-short model as version 1 of `clstm`, active.
fn seed_short(data_dir: &Path, files: &Path) {
    seed_v1(data_dir, &files.join("short.onnx"));
}

/// `[[policies]]` with the clstm guest on model `clstm`, plus `extra` keys.
pub(crate) fn policies(extra: &str) -> String {
    format!(
        r#"[{{name = "clstm", guest = "{}", model = "clstm", instrument = "SYNTH"{extra}}}]"#,
        guest_path("clstm_ppo").unwrap().display()
    )
}

fn env(policies: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WASMTRADE__MARKET__SPEED", "200".into()),
        // ~1.6e-4 a bar of drift against ~3.6e-5 of noise: it only rises.
        ("WASMTRADE__MARKET__ANNUAL_DRIFT", "5000".into()),
        ("WASMTRADE__POLICIES", policies.to_string()),
    ]
}

pub(crate) fn start(dir: &Path, policies: &str) -> Serve {
    let env = env(policies);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Serve::start_within(dir, &env, Duration::from_secs(300)).unwrap()
}

pub(crate) fn versions(serve: &Serve) -> Vec<Value> {
    serve
        .cli_json(["model", "list", "--name", "clstm", "--json"])
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn version(serve: &Serve, n: u64) -> Value {
    versions(serve)
        .into_iter()
        .find(|v| v["version"] == n)
        .unwrap_or_else(|| panic!("no version {n}"))
}

pub(crate) fn active(serve: &Serve) -> u64 {
    let list = versions(serve);
    let active: Vec<u64> = list
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(active.len(), 1, "one active version: {list:?}");
    active[0]
}

fn upload(serve: &Serve, file: &Path) -> u64 {
    let v = serve
        .cli_json([
            "model",
            "upload",
            file.to_str().unwrap(),
            "--name",
            "clstm",
            "--json",
        ])
        .unwrap();
    v[0]["version"].as_u64().unwrap()
}

/// `model activate --shadow` of version `n`: the CLI's JSON, or its stderr.
fn shadow(serve: &Serve, n: u64) -> Result<Value, String> {
    let out = serve
        .cli([
            "model",
            "activate",
            "--name",
            "clstm",
            "--version",
            &n.to_string(),
            "--shadow",
            "--decisions",
            "40",
            "--json",
        ])
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits for the gate's verdict about version `n`.
fn verdict(serve: &Serve, n: u64) -> Value {
    let deadline = Instant::now() + VERDICT_TIMEOUT;
    loop {
        // A version a watcher stores may not exist yet.
        let v = versions(serve)
            .into_iter()
            .find(|v| v["version"] == n)
            .unwrap_or(Value::Null);
        if !v["verdict"].is_null() {
            assert!(v["shadow"].is_null(), "decided and still evaluating: {v}");
            return v["verdict"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no verdict about version {n} in {VERDICT_TIMEOUT:?}: {v}\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub(crate) fn audit(serve: &Serve) -> Vec<Value> {
    serve.cli_json(["strategy", "audit", "clstm", "--json"]).unwrap()["records"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_shadow_gate_promotes_the_better_model_refuses_nan_keeps_out_the_worse_and_a_restart_runs_the_promoted()
{
    let (_files, files) = gate_models();
    let dir = tempfile::tempdir().unwrap();
    seed_short(dir.path(), &files);
    let policies = policies("");
    let mut serve = start(dir.path(), &policies);

    // The better model: evaluated, then promoted by its figures.
    let long = upload(&serve, &files.join("long.onnx"));
    assert_eq!(long, 2);
    let started = shadow(&serve, long).unwrap();
    assert_eq!(started["active"], false, "{started}");
    assert_eq!(started["shadow"]["needed"], 40, "{started}");
    assert_eq!(active(&serve), 1, "a shadow is not an activation");
    let v = verdict(&serve, long);
    assert_eq!(v["verdict"], "promote", "{v}");
    assert_eq!(v["against_version"], 1);
    assert_eq!(v["decisions"], 40);
    assert!(
        v["candidate_score"].as_f64().unwrap() > v["active_score"].as_f64().unwrap(),
        "{v}"
    );
    assert_eq!(active(&serve), 2, "the promotion is the active version on disk");
    let trail = audit(&serve);
    let promoted = trail
        .iter()
        .find(|r| r["action"] == "model_promote")
        .unwrap_or_else(|| panic!("no model_promote in {trail:?}"));
    assert_eq!(promoted["who"], "shadow-gate");
    assert_eq!(promoted["version"], 2);
    let detail = promoted["detail"].as_str().unwrap();
    assert!(
        detail.contains("composite") && detail.contains("promoted"),
        "{detail}"
    );

    // NaN weights: refused (at load or at its first decision), never promoted.
    let nan = upload(&serve, &files.join("nan.onnx"));
    match shadow(&serve, nan) {
        Ok(_) => {
            let v = verdict(&serve, nan);
            assert_eq!(v["verdict"], "refuse", "{v}");
            assert!(v["detail"].as_str().unwrap().contains("NaN"), "{v}");
        }
        Err(e) => assert!(e.contains("version 3"), "{e}"),
    }
    assert_eq!(active(&serve), 2);

    // The worse model: evaluated and kept out.
    let short = upload(&serve, &files.join("short.onnx"));
    shadow(&serve, short).unwrap();
    let v = verdict(&serve, short);
    assert_eq!(v["verdict"], "keep", "{v}");
    assert!(v["candidate_score"].as_f64().unwrap() < v["active_score"].as_f64().unwrap());
    assert_eq!(active(&serve), 2);

    // The metrics count every verdict.
    let text = get_ok(&ops_addr(&serve), "/metrics");
    let count = |verdict: &str| {
        metric(
            &text,
            &format!(r#"wasmtrade_policy_model_verdicts_total{{policy="clstm",verdict="{verdict}"}}"#),
        )
        .unwrap_or(0.0)
    };
    assert_eq!((count("promote"), count("keep")), (1.0, 1.0), "{text}");

    // A shadow of a model no policy runs is refused, naming why.
    let err = serve
        .cli([
            "model",
            "activate",
            "--name",
            "other",
            "--version",
            "1",
            "--shadow",
        ])
        .unwrap();
    assert!(!err.status.success());

    // A restart runs what the gate promoted, and remembers the verdicts.
    let status = serve.terminate(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "{}", serve.stderr());
    drop(serve);
    let serve = start(dir.path(), &policies);
    assert_eq!(active(&serve), 2);
    assert_eq!(version(&serve, 2)["verdict"]["verdict"], "promote");
    assert_eq!(version(&serve, 4)["verdict"]["verdict"], "keep");
    let list = serve.cli_json(["strategy", "list", "clstm", "--json"]).unwrap();
    assert_eq!(
        list["modules"][0]["active_version"], 2,
        "the policy runs v2: {list}"
    );
}

#[test]
fn a_policy_watching_its_checkpoints_promotes_a_learners_better_checkpoint_without_a_person() {
    let (_files, files) = gate_models();
    let dir = tempfile::tempdir().unwrap();
    seed_short(dir.path(), &files);
    let policies = policies(", shadow_checkpoints = true, shadow_decisions = 30");
    let mut serve = start(dir.path(), &policies);
    // What the learner does: a checkpoint written atomically.
    let checkpoints = dir.path().join("checkpoints").join("clstm");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let write = |id: &str, model: &str| {
        let tmp = checkpoints.join(format!(".{id}.tmp"));
        std::fs::copy(files.join(model), &tmp).unwrap();
        std::fs::rename(&tmp, checkpoints.join(format!("{id}.onnx"))).unwrap();
    };
    write("ppo-000001", "long.onnx");
    let v = verdict(&serve, 2);
    assert_eq!(v["verdict"], "promote", "{v}");
    assert_eq!(v["decisions"], 30);
    assert_eq!(active(&serve), 2);

    // A broken checkpoint is taken once, and never promoted.
    write("ppo-000002", "nan.onnx");
    let v = verdict(&serve, 3);
    assert_eq!(v["verdict"], "refuse", "{v}");
    assert_eq!(active(&serve), 2);

    // A restart neither takes the last checkpoint again nor loses the promotion.
    let status = serve.terminate(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "{}", serve.stderr());
    drop(serve);
    let serve = start(dir.path(), &policies);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(versions(&serve).len(), 3, "no version added after the restart");
    assert_eq!(active(&serve), 2);
}

#[test]
fn a_checkpoint_evaluation_cut_short_by_kill_9_is_evaluated_again_after_the_restart() {
    let (_files, files) = gate_models();
    let dir = tempfile::tempdir().unwrap();
    seed_short(dir.path(), &files);
    // A window too long to finish before the kill.
    let mut serve = start(
        dir.path(),
        &policies(", shadow_checkpoints = true, shadow_decisions = 1000000"),
    );
    let checkpoints = dir.path().join("checkpoints").join("clstm");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let tmp = checkpoints.join(".ppo-000001.tmp");
    std::fs::copy(files.join("long.onnx"), &tmp).unwrap();
    std::fs::rename(&tmp, checkpoints.join("ppo-000001.onnx")).unwrap();
    // Wait until the evaluation is under way, then kill -9.
    let deadline = Instant::now() + VERDICT_TIMEOUT;
    loop {
        let v = versions(&serve)
            .into_iter()
            .find(|v| v["version"] == 2)
            .unwrap_or(Value::Null);
        if v["shadow"]["decisions"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no evaluation of v2 under way: {v}\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    serve.kill().unwrap();
    drop(serve);

    // Restarted with a window it can finish: v2 is evaluated again and promoted.
    let serve = start(
        dir.path(),
        &policies(", shadow_checkpoints = true, shadow_decisions = 30"),
    );
    let v = verdict(&serve, 2);
    assert_eq!(v["verdict"], "promote", "{v}");
    assert_eq!(v["decisions"], 30);
    assert_eq!(active(&serve), 2);
    assert_eq!(
        versions(&serve).len(),
        2,
        "the checkpoint was not copied in twice"
    );
}
