//! The learner that ships with the project (`sdk/python/wasmtrade_learner`,
//! PPO for the bundled CLSTM policy), run as a process on a transitions log
//! written by the runtime's own writer (`wasmtrade_models::TransitionLog`):
//!
//! - `--once` trains on the log and writes `<checkpoints>/clstm/ppo-NNNNNN.onnx`
//!   and its metrics JSON; the runtime's `Checkpoints` lists and activates it;
//! - the same seed and transitions give byte-identical checkpoints (another
//!   seed does not);
//! - a learner following the log is killed with SIGKILL while it trains,
//!   with a torn record at the end of the log; restarted, it resumes at the
//!   offset it saved and its checkpoints are byte for byte those of one
//!   uninterrupted run;
//! - the real binary backtests the bundled policy guest with the learner's
//!   checkpoint (the host and tract accept its ONNX);
//! - the package's Python unit tests pass (log reader, atomic writes,
//!   gradients, forward pass against onnxruntime).
//!
//! Needs `WASMTRADE_PYTHON` (target/pyenv: numpy, onnx, onnxruntime) and the
//! clstm_ppo guest (`make guests`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::{guest_path, python, run_cli, workspace_root};
use wasmtrade_model::{InstrumentId, Timestamp, Transition};
use wasmtrade_models::{Checkpoints, ModelStore, TransitionLog};

const WINDOW: usize = 32;
const FEATURES: usize = 6;

/// Seeded transitions (xorshift): the reward pays action 2 (long) when the
/// last row's first feature is positive and action 0 (short) when negative.
fn transitions(n: usize, seed: u64) -> Vec<Transition> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let observation: Vec<f32> = (0..WINDOW * FEATURES)
                .map(|_| (next() * 2.0 - 1.0) as f32)
                .collect();
            let raw = [next() + 0.2, next() + 0.2, next() + 0.2];
            let total: f64 = raw.iter().sum();
            let probabilities: Vec<f32> = raw.iter().map(|p| (p / total) as f32).collect();
            let u = next();
            let action = if u < f64::from(probabilities[0]) {
                0
            } else if u < f64::from(probabilities[0] + probabilities[1]) {
                1
            } else {
                2
            };
            let signal = f64::from(observation[(WINDOW - 1) * FEATURES]);
            let reward = (f64::from(action) - 1.0) * signal * 100.0 + (next() - 0.5) * 20.0;
            Transition {
                ts: Timestamp::from_secs(1_700_000_000 + 60 * i as i64),
                instrument: InstrumentId(0),
                observation,
                action,
                probabilities,
                value: 0.0,
                reward,
            }
        })
        .collect()
}

fn learner_cmd(checkpoints: &Path, log: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(python().unwrap());
    cmd.env("PYTHONPATH", workspace_root().join("sdk/python"))
        .arg("-m")
        .arg("wasmtrade_learner")
        .arg("--checkpoints")
        .arg(checkpoints)
        .args(["--name", "clstm", "--seed", "7"])
        .arg("--transitions")
        .arg(log)
        .args(extra);
    cmd
}

fn run_learner(checkpoints: &Path, log: &Path, extra: &[&str]) -> Output {
    let out = learner_cmd(checkpoints, log, extra).output().unwrap();
    assert!(
        out.status.success(),
        "learner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn onnx_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect();
    out.sort();
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_log(path: &Path, transitions: &[Transition]) {
    let mut log = TransitionLog::open(path).unwrap();
    log.append(transitions).unwrap();
}

fn record_bytes(t: &Transition) -> Vec<u8> {
    let payload = serde_json::to_vec(t).unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // its crc: never checked, the record is cut short
    out.extend_from_slice(&payload);
    out
}

#[allow(
    clippy::disallowed_methods,
    reason = "a test waits in real time for a process"
)]
fn wait_for(path: &Path, child: &mut Child, timeout: Duration) {
    let start = std::time::Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the learner exited ({status}) before writing {}", path.display());
        }
        assert!(
            start.elapsed() < timeout,
            "no {} after {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_learner_trains_resumes_after_sigkill_and_its_checkpoints_run_in_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let all = transitions(384, 1);

    // 1. --once on a log the runtime's writer wrote, at its suggested place.
    let ck = tmp.path().join("checkpoints");
    let log = ck.join("clstm/transitions.log");
    write_log(&log, &all[..256]);
    let out = run_learner(&ck, &log, &["--every-transitions", "128", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checkpoint ppo-000002"), "{stderr}");
    let dir = ck.join("clstm");
    let metrics = read_json(&dir.join("ppo-000002.json"));
    assert_eq!(metrics["id"], "ppo-000002");
    assert_eq!(metrics["seed"], 7);
    assert_eq!(metrics["transitions"], 128);
    assert_eq!(metrics["transitions_consumed"], 256);
    assert_eq!(metrics["log_offset"], std::fs::metadata(&log).unwrap().len());
    for key in ["loss", "entropy", "policy_loss", "value_loss"] {
        assert!(
            metrics["train"][key].as_f64().unwrap().is_finite(),
            "{key}: {metrics}"
        );
    }
    assert!(metrics["eval_score"].as_f64().unwrap().is_finite(), "{metrics}");
    assert!(metrics["optimizer_steps"].as_u64().unwrap() > 0, "{metrics}");
    eprintln!(
        "learner: update of 128 transitions in {} s, eval score {} (behaviour {})",
        metrics["train_seconds"], metrics["eval"]["score"], metrics["eval"]["behaviour_mean_reward"]
    );

    // The runtime sees the checkpoints (ids sort in training order) and
    // activates one as a model version.
    let checkpoints = Checkpoints::open(&ck).unwrap();
    let ids: Vec<String> = checkpoints
        .list("clstm")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["ppo-000001", "ppo-000002"]);
    let models = ModelStore::open(tmp.path().join("models"), 64 << 20).unwrap();
    let v = checkpoints.activate(&models, "clstm", "ppo-000002").unwrap();
    assert_eq!(v.version, 1);

    // 2. Determinism: the same seed and transitions give the same bytes.
    let again = tmp.path().join("again");
    run_learner(&again, &log, &["--every-transitions", "128", "--once"]);
    assert_eq!(onnx_files(&dir), onnx_files(&again.join("clstm")));
    let other = tmp.path().join("other-seed");
    let mut cmd = learner_cmd(&other, &log, &["--every-transitions", "128", "--once"]);
    cmd.args(["--seed", "8"]);
    assert!(cmd.output().unwrap().status.success());
    assert_ne!(onnx_files(&dir)[1], onnx_files(&other.join("clstm"))[1]);

    // 3. SIGKILL while following the log, with a torn record at its end.
    let reference = tmp.path().join("reference");
    let full_log = tmp.path().join("full.log");
    write_log(&full_log, &all);
    run_learner(&reference, &full_log, &["--every-transitions", "32", "--once"]);
    let expected = onnx_files(&reference.join("clstm"));
    assert_eq!(expected.len(), 12);

    let follow = tmp.path().join("follow");
    let live_log = tmp.path().join("live.log");
    write_log(&live_log, &all[..192]);
    let good_end = std::fs::metadata(&live_log).unwrap().len();
    {
        let torn = record_bytes(&all[192]);
        let mut f = std::fs::OpenOptions::new().append(true).open(&live_log).unwrap();
        f.write_all(&torn[..torn.len() / 2]).unwrap();
    }
    let mut child = learner_cmd(
        &follow,
        &live_log,
        &[
            "--every-transitions",
            "32",
            "--every-minutes",
            "60",
            "--poll-seconds",
            "0.05",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let fdir = follow.join("clstm");
    wait_for(&fdir.join("ppo-000002.onnx"), &mut child, Duration::from_secs(30));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let state = read_json(&fdir.join("learner-state.json"));
    let offset = state["offset"].as_u64().unwrap();
    let updates = state["updates"].as_u64().unwrap();
    eprintln!("learner: killed after {updates} saved updates, offset {offset}");
    assert!((1..=6).contains(&updates), "{updates}");
    assert!(offset <= good_end, "the torn record was consumed");
    // Whatever was written before the kill is what one run writes.
    for (name, bytes) in onnx_files(&fdir) {
        let want = &expected.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!(bytes == *want, "{name} differs from the uninterrupted run's");
    }

    // The runtime reopens the log (dropping the torn tail) and appends the rest.
    write_log(&live_log, &all[192..]);
    let out = run_learner(&follow, &live_log, &["--every-transitions", "32", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("resuming clstm at offset {offset} ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("next checkpoint ppo-{:06}", updates + 1)),
        "{stderr}"
    );
    assert_eq!(onnx_files(&fdir), expected, "resumed checkpoints differ");
    let last = read_json(&fdir.join("ppo-000012.json"));
    assert_eq!(last["transitions_consumed"], 384);

    // 4. The host runs the learner's checkpoint in the bundled policy guest.
    let model = fdir.join("ppo-000012.onnx");
    let strategy = guest_path("clstm_ppo").unwrap();
    let out = run_cli([
        "backtest",
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--cash",
        "100000",
        "--json",
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["strategies"][0]["guest"], "clstm-ppo");
    assert!(report["policy"]["steps"].as_u64().unwrap() > 2400, "{report}");
}

#[test]
fn the_learner_python_unit_tests_pass() {
    let dir: PathBuf = workspace_root().join("sdk/python/tests");
    let out = Command::new(python().unwrap())
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
