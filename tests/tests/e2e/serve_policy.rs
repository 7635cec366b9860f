//! An RL policy inside `wasmtrade serve`: the `clstm-ppo` guest (tract in
//! wasm) named in `[[policies]]` trades the paper market as a strategy; a
//! second model version is uploaded and activated with the real CLI while
//! bars flow, and bad models (wrong input shape, not ONNX) are refused while
//! the policy keeps stepping.
//!
//! The proof that no event was dropped and that the strategy state was not
//! reset by the swap is the durable transitions log: one transition per
//! decision, and the policy decides on every bar once its 32-bar window is
//! full, so consecutive transitions are exactly one bar (1 s of market time)
//! apart from the first to the last, across every swap and refusal. A reset
//! window would show as a gap of 31 bars; a dropped bar as a gap of 2 s.
//!
//! The models come from `tests/python/make_clstm_model.py` (needs
//! `WASMTRADE_PYTHON`, as `make test` sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::ops::{get_ok, metric, ops_addr};
use wasmtrade_e2e::{Serve, guest_path, python, serve_refused, wasmtrade_bin, workspace_root};
use wasmtrade_models::TransitionLog;

const BAR_NANOS: i64 = 1_000_000_000;

/// How long the policy may take to make progress.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// The generated models in a temp dir.
fn models() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let script = workspace_root().join("tests/python/make_clstm_model.py");
    let out = Command::new(python().unwrap())
        .arg(&script)
        .arg(dir.path())
        .args(["--observations", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// Puts `model` into the models volume as version 1 of `name`, active: the
/// on-disk layout of docs/policies.md (what a mounted `/models` holds).
fn seed_model(data_dir: &Path, name: &str, model: &Path) {
    let dir = data_dir.join("models").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(model, dir.join("v1.onnx")).unwrap();
    std::fs::write(dir.join("ACTIVE"), "1\n").unwrap();
}

fn policies_env(guest: &Path) -> String {
    format!(
        r#"[{{name = "clstm", guest = "{}", model = "clstm", instrument = "SYNTH"}}]"#,
        guest.display()
    )
}

const STEPS: &str = r#"wasmtrade_policy_steps_total{policy="clstm"}"#;

/// Scrapes until the policy has taken at least `n` steps; returns the count.
#[allow(clippy::disallowed_methods, reason = "a test waits in real time")]
fn wait_for_steps(ops: &str, n: f64) -> f64 {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    loop {
        let text = get_ok(ops, "/metrics");
        let steps = metric(&text, STEPS).unwrap_or(0.0);
        if steps >= n {
            return steps;
        }
        assert!(
            Instant::now() < deadline,
            "the policy took {steps} steps, not {n}, in {PROGRESS_TIMEOUT:?}; metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `wasmtrade events --bars --json` in a child process.
struct Events {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Events {
    fn follow(serve: &Serve) -> Events {
        let mut child = Command::new(wasmtrade_bin().unwrap())
            .args(["events", "--bars", "--json"])
            .env("WASMTRADE_SERVER", &serve.addr)
            .env("WASMTRADE_TOKEN", &serve.token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).expect("events are JSON"));
            }
        });
        Events { child, lines }
    }

    fn seen(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The active version in `wasmtrade model list --json`.
fn active_version(serve: &Serve) -> u64 {
    let list = serve
        .cli_json(["model", "list", "--name", "clstm", "--json"])
        .unwrap();
    let active: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(active.len(), 1, "exactly one active version: {list}");
    active[0]
}

/// Activates `file` as the next version; the CLI's stderr if it was refused.
fn upload_and_activate(serve: &Serve, file: &Path) -> Result<Value, String> {
    let out = serve
        .cli([
            "model",
            "upload",
            file.to_str().unwrap(),
            "--name",
            "clstm",
            "--activate",
            "--json",
        ])
        .unwrap();
    if out.status.success() {
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        Ok(list[0].clone())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn model_hot_swap_under_flow_keeps_every_bar_and_the_policy_state_and_bad_models_are_refused() {
    let (_models, models) = models();
    let dir = tempfile::tempdir().unwrap();
    seed_model(dir.path(), "clstm", &models.join("clstm_ppo.onnx"));
    let guest = guest_path("clstm_ppo").unwrap();
    let policies = policies_env(&guest);
    // The first start compiles the 15 MB guest (tract's operator set).
    let mut serve = Serve::start_within(
        dir.path(),
        &[
            ("WASMTRADE__MARKET__SPEED", "100"),
            ("WASMTRADE__EVENTS__BUFFER", "262144"),
            ("WASMTRADE__POLICIES", policies.as_str()),
        ],
        Duration::from_secs(300),
    )
    .unwrap();
    let ops = ops_addr(&serve);
    let events = Events::follow(&serve);
    let before = wait_for_steps(&ops, 20.0);
    assert_eq!(active_version(&serve), 1);

    // A second version, activated while bars flow.
    let v2 = upload_and_activate(&serve, &models.join("clstm_ppo_v2.onnx")).unwrap();
    assert_eq!(
        (v2["version"].as_u64(), v2["active"].as_bool()),
        (Some(2), Some(true)),
        "{v2}"
    );
    assert_eq!(active_version(&serve), 2);
    let swapped = wait_for_steps(&ops, before + 20.0);

    // Wrong input shape: refused, named, v2 keeps running and stays active.
    let err = upload_and_activate(&serve, &models.join("clstm_ppo_wrong_shape.onnx")).unwrap_err();
    assert!(
        err.contains("version 3 is stored but not active")
            && err.contains("policy `clstm` refused model `clstm` version 3")
            && err.contains("keeps running version 2"),
        "{err}"
    );
    assert!(
        err.contains("shape"),
        "the refusal names the shape problem: {err}"
    );
    // Not ONNX at all.
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"this is not an ONNX model").unwrap();
    let err = upload_and_activate(&serve, &junk).unwrap_err();
    assert!(
        err.contains("version 4 is stored but not active") && err.contains("keeps running version 2"),
        "{err}"
    );
    assert_eq!(
        active_version(&serve),
        2,
        "a refused version is never marked active"
    );
    let after = wait_for_steps(&ops, swapped + 20.0);
    let text = get_ok(&ops, "/metrics");
    for series in [
        r#"wasmtrade_policy_portfolio_value{policy="clstm"}"#,
        r#"wasmtrade_policy_reward_cumulative{policy="clstm"}"#,
        r#"wasmtrade_policy_action_latency_seconds_count{policy="clstm"}"#,
    ] {
        assert!(metric(&text, series).is_some(), "{series} missing:\n{text}");
    }
    assert!(
        metric(
            &text,
            r#"wasmtrade_policy_action_latency_seconds_count{policy="clstm"}"#
        )
        .unwrap()
            >= after,
        "every step is timed"
    );

    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
    let seen = events.seen();
    drop(events);

    // The swaps as events: v2 taken, v3 and v4 refused with the reason.
    let swaps: Vec<&Value> = seen
        .iter()
        .filter(|e| e["kind"] == "swap" && e["swap"]["action"] == "model")
        .collect();
    let error = |e: &Value| e["swap"]["error"].as_str().unwrap_or_default().to_string();
    let ok = |to: u64| {
        swaps
            .iter()
            .any(|e| e["swap"]["to_version"] == to && error(e).is_empty())
    };
    let refused = |to: u64| {
        swaps
            .iter()
            .any(|e| e["swap"]["to_version"] == to && !error(e).is_empty())
    };
    assert!(ok(2) && refused(3) && refused(4), "{swaps:#?}");

    // Every event in order, every bar one second after the previous one.
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "event sequence numbers increase"
    );
    let bars: Vec<i64> = seen
        .iter()
        .filter(|e| e["kind"] == "bar")
        .map(|e| e["ts_ns"].as_i64().unwrap())
        .collect();
    assert!(bars.len() > 60, "{} bars seen", bars.len());
    for w in bars.windows(2) {
        assert_eq!(
            w[1] - w[0],
            BAR_NANOS,
            "a bar was dropped or repeated at {}",
            w[0]
        );
    }

    // One transition per bar from the first decision to the last, across
    // the swap and the refusals: no dropped bar, no reset window.
    let log = dir.path().join("checkpoints/clstm/transitions.log");
    let transitions = TransitionLog::read_all(&log).unwrap();
    assert!(
        transitions.len() as f64 >= after - 1.0,
        "{} transitions",
        transitions.len()
    );
    for w in transitions.windows(2) {
        assert_eq!(
            w[1].ts.nanos() - w[0].ts.nanos(),
            BAR_NANOS,
            "the policy skipped or repeated a decision at {:?}",
            w[0].ts
        );
    }
    let swap_ts = swaps
        .iter()
        .find(|e| e["swap"]["to_version"] == 2)
        .and_then(|e| e["ts_ns"].as_i64())
        .unwrap();
    assert!(
        transitions.first().unwrap().ts.nanos() < swap_ts && transitions.last().unwrap().ts.nanos() > swap_ts,
        "the transitions span the swap"
    );
}

#[test]
fn serve_refuses_to_start_when_a_policys_model_or_guest_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_env(&dir.path().join("no-such-policy.wasm"));
    let err = serve_refused(dir.path(), &[("WASMTRADE__POLICIES", policies.as_str())]).unwrap();
    assert!(
        err.contains("policies[0].guest: cannot read") && err.contains("no-such-policy.wasm"),
        "{err}"
    );
    assert!(
        err.contains("policies[0].model") && err.contains("wasmtrade model upload"),
        "{err}"
    );
}

/// The bars the running policy has been handed since this process started
/// (its slot's counter in `strategy list`).
fn policy_bars(serve: &Serve) -> u64 {
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "clstm")
        .and_then(|m| m["counters"]["bars"].as_u64())
        .unwrap_or(0)
}

/// Waits until the policy has been handed at least `n` bars.
#[allow(clippy::disallowed_methods, reason = "a test waits in real time")]
fn wait_for_policy_bars(serve: &Serve, n: u64) -> u64 {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    loop {
        let bars = policy_bars(serve);
        if bars >= n {
            return bars;
        }
        assert!(Instant::now() < deadline, "the policy got {bars} bars, not {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_policy_is_listed_like_a_module_and_resumes_mid_window_after_a_restart() {
    let (_models, models) = models();
    let dir = tempfile::tempdir().unwrap();
    seed_model(dir.path(), "clstm", &models.join("clstm_ppo.onnx"));
    let guest = guest_path("clstm_ppo").unwrap();
    let policies = policies_env(&guest);
    let env = |speed: &'static str| {
        vec![
            ("WASMTRADE__MARKET__SPEED", speed),
            ("WASMTRADE__POLICIES", policies.as_str()),
        ]
    };
    let mut serve = Serve::start_within(dir.path(), &env("100"), Duration::from_secs(300)).unwrap();
    let ops = ops_addr(&serve);
    wait_for_steps(&ops, 10.0);

    // Listed by `strategy list`, `/status` and the per-module series.
    let list = serve.cli_json(["strategy", "list", "--json"]).unwrap();
    let listed = list["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "clstm")
        .unwrap_or_else(|| panic!("the policy is not in `strategy list`: {list}"));
    assert_eq!(listed["kind"], "policy", "{listed}");
    assert_eq!(listed["state"], "running", "{listed}");
    assert_eq!(listed["active_version"], 1, "the model version: {listed}");
    assert!(listed["counters"]["bars"].as_u64().unwrap() > 0, "{listed}");
    let status: Value = serde_json::from_str(&get_ok(&ops, "/status")).unwrap();
    let row = status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "clstm")
        .unwrap_or_else(|| panic!("the policy is not in /status: {status}"));
    assert_eq!(
        (&row["kind"], &row["state"]),
        (&"policy".into(), &"running".into()),
        "{row}"
    );
    let text = get_ok(&ops, "/metrics");
    assert!(
        text.contains(r#"wasmtrade_guest_version{module="clstm",kind="policy"} 1"#),
        "no per-module series for the policy:\n{text}"
    );
    let status = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{}", serve.stderr());

    // Mid-window (the window holds 32 bars): the policy's feature windows
    // are resumed from its snapshot, so after the restart it decides from
    // its first bars on instead of waiting 32 bars to refill them. Each
    // decision is a transition (logged one bar later, with its reward).
    let log = dir.path().join("checkpoints/clstm/transitions.log");
    let last = TransitionLog::read_all(&log).unwrap().last().unwrap().ts;
    let serve = Serve::start_within(dir.path(), &env("20"), Duration::from_secs(120)).unwrap();
    let bars = wait_for_policy_bars(&serve, 6);
    let new = TransitionLog::read_all(&log)
        .unwrap()
        .iter()
        .filter(|t| t.ts > last)
        .count();
    assert!(
        new >= 3 && bars < 32,
        "{new} decisions in the first {bars} bars after the restart: the window was refilled"
    );
}

#[test]
fn a_model_slower_to_load_than_model_load_deadline_ms_is_refused_and_the_running_model_keeps_trading() {
    let (_models, models) = models();
    let slow = models.join("slow.onnx");
    // ~20 000 nodes for the inference library to analyse: seconds of work.
    wasmtrade_e2e::slow_model(&slow, 20_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    seed_model(dir.path(), "clstm", &models.join("clstm_ppo.onnx"));
    let policies = policies_env(&guest_path("clstm_ppo").unwrap());
    let env = [
        ("WASMTRADE__MARKET__SPEED", "100"),
        ("WASMTRADE__POLICIES", policies.as_str()),
        // The load's own deadline, far shorter than the slow model needs
        // and far longer than the bundled one's load; fuel high enough
        // that only the deadline can stop it.
        ("WASMTRADE__GUESTS__SANDBOX__DEADLINE_MS", "1000"),
        ("WASMTRADE__GUESTS__SANDBOX__MODEL_LOAD_DEADLINE_MS", "500"),
        ("WASMTRADE__GUESTS__SANDBOX__FUEL_PER_MODEL_LOAD", "1000000000000"),
    ];
    let serve = Serve::start_within(dir.path(), &env, Duration::from_secs(300)).unwrap();
    let before = wait_for_policy_bars(&serve, 5);

    let err = upload_and_activate(&serve, &slow).unwrap_err();
    assert!(
        err.contains("model load deadline 500 ms") && err.contains("model_load_deadline_ms"),
        "the refusal does not name the deadline: {err}"
    );
    assert_eq!(active_version(&serve), 1, "the slow model became active");

    // The running model was never touched: the policy keeps deciding.
    wait_for_policy_bars(&serve, before + 10);
    let list = serve.cli_json(["strategy", "list", "clstm", "--json"]).unwrap();
    let module = &list["modules"][0];
    assert_eq!(module["state"], "running", "{list}");
    assert_eq!(module["active_version"], 1, "{list}");
}
