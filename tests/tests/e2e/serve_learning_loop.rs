//! The learning loop of issue 19, closed with the real pieces: `serve` runs
//! a policy with an untrained model and records its transitions; the
//! learner (`sdk/python/wasmtrade_learner`, PPO) follows that log and writes
//! checkpoints; the policy's shadow gate evaluates each new checkpoint and
//! promotes one by its figures; the live policy then earns more than the
//! untrained model did, and the audit trail shows the figures.
//!
//! The market rises steadily (see `serve_shadow_gate`), so the better policy
//! is known: long. The untrained model (`untrained.onnx` of
//! `tests/python/make_gate_models.py`) is the learner's seeded initial
//! weights with a policy head leaning short and flat: it loses money, but it
//! draws its actions from its probabilities (`"sample": true`), so it tries
//! long now and then and its transitions show what long earns. (A policy
//! that takes the argmax logs one action per state, from which PPO cannot
//! learn that another action pays more.)
//!
//! P&L is read from the ops endpoint: `wasmtrade_policy_portfolio_value`
//! (the account's equity at the policy's last decision; the policy is the
//! account's only trader) against `wasmtrade_policy_steps_total`. Equity
//! changes a lot on this market, so windows are compared by their return
//! per decision, not their P&L in currency.

#![allow(clippy::disallowed_methods, reason = "a test waits in real time")]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wasmtrade_e2e::ops::{get_ok, metric, ops_addr};
use wasmtrade_e2e::{Serve, python, workspace_root};

use crate::serve_shadow_gate::{active, audit, gate_models, policies, seed_v1, start, versions};

/// Decisions in each P&L window (about 5 s of this market).
const WINDOW: u64 = 1000;
/// How long one window may take on a loaded machine.
const WINDOW_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the loop may take to promote a checkpoint.
const PROMOTION_TIMEOUT: Duration = Duration::from_secs(90);
/// Checkpoints the gate may evaluate before one is promoted.
const MAX_CHECKPOINTS: u64 = 10;
/// Learner updates up to the promoted checkpoint (it starts with about
/// four updates' worth of transitions waiting: the untrained model's window).
const MAX_UPDATES: u64 = 20;

/// The learner's settings, tuned for this market:
/// - `--gamma 0`: the reward of a decision is what the position it asks
///   for earns over the next bar, and the next decision sets the position
///   again, so a decision's later rewards are not its doing; discounting
///   them in (the default 0.99) only adds the noise of later draws to every
///   advantage;
/// - `--lr 3e-3` (ten times the default): PPO's clipping already bounds how
///   far one update moves the policy from the one that acted;
/// - `--every-transitions 256`: a checkpoint about every 1.3 s of this
///   market, a little faster than the watcher looks (every 2 s).
const LEARNER_SETTINGS: &[&str] = &[
    "--seed",
    "7",
    "--every-transitions",
    "256",
    "--gamma",
    "0",
    "--lr",
    "0.003",
    "--poll-seconds",
    "0.2",
];

/// The learner following `serve`'s transitions log of `clstm`; killed when
/// dropped (also when the test panics).
struct Learner {
    child: Child,
    stderr: PathBuf,
}

impl Learner {
    fn start(data_dir: &Path, init: &Path, stderr: PathBuf) -> Learner {
        let checkpoints = data_dir.join("checkpoints");
        let child = Command::new(python().unwrap())
            .env("PYTHONPATH", workspace_root().join("sdk/python"))
            .args(["-m", "wasmtrade_learner", "--name", "clstm", "--checkpoints"])
            .arg(&checkpoints)
            .arg("--transitions")
            .arg(checkpoints.join("clstm").join("transitions.log"))
            .arg("--init")
            .arg(init)
            .args(LEARNER_SETTINGS)
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Learner { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Panics with its stderr if it stopped.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the learner exited ({status}):\n{}", self.stderr());
        }
    }
}

impl Drop for Learner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The policy's decisions so far and the equity at the last one.
fn progress(serve: &Serve) -> Option<(u64, f64)> {
    let text = get_ok(&ops_addr(serve), "/metrics");
    let steps = metric(&text, r#"wasmtrade_policy_steps_total{policy="clstm"}"#)?;
    let equity = metric(&text, r#"wasmtrade_policy_portfolio_value{policy="clstm"}"#)?;
    Some((steps as u64, equity))
}

/// What the live policy earned over a window of decisions.
#[derive(Debug)]
struct Window {
    from: (u64, f64),
    to: (u64, f64),
}

impl Window {
    fn pnl(&self) -> f64 {
        self.to.1 - self.from.1
    }

    /// Log return per decision.
    fn per_decision(&self) -> f64 {
        (self.to.1 / self.from.1).ln() / (self.to.0 - self.from.0) as f64
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "decisions {}..{}: equity {:.2} -> {:.2}, P&L {:+.2}, {:+.3e} a decision",
            self.from.0,
            self.to.0,
            self.from.1,
            self.to.1,
            self.pnl(),
            self.per_decision()
        )
    }
}

/// The next [`WINDOW`] decisions of the live policy.
fn window(serve: &Serve, learner: Option<&mut Learner>) -> Window {
    let deadline = Instant::now() + WINDOW_TIMEOUT;
    let mut learner = learner;
    let mut wait_for = |done: &dyn Fn(u64) -> bool, what: &str| loop {
        if let Some(learner) = learner.as_deref_mut() {
            learner.assert_running();
        }
        if let Some(p) = progress(serve).filter(|(steps, _)| done(*steps)) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "the policy did not reach {what} in {WINDOW_TIMEOUT:?}: {:?}\n{}",
            progress(serve),
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let from = wait_for(&|steps| steps > 0, "its first decision");
    let to = wait_for(&|steps| steps >= from.0 + WINDOW, "the end of the window");
    Window { from, to }
}

/// Waits for the gate's first promotion; returns that version.
fn first_promotion(serve: &Serve, learner: &mut Learner) -> u64 {
    let deadline = Instant::now() + PROMOTION_TIMEOUT;
    loop {
        learner.assert_running();
        let list = versions(serve);
        if let Some(v) = list.iter().find(|v| v["verdict"]["verdict"] == "promote") {
            return v["version"].as_u64().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint promoted in {PROMOTION_TIMEOUT:?}: {list:#?}\nserve:\n{}\nlearner:\n{}",
            serve.stderr(),
            learner.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until a version the gate promoted, `version` or a later one, is
/// the active one on disk (the verdict is recorded just before).
fn wait_active(serve: &Serve, version: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = active(serve);
        if now >= version {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "version {version} was promoted but version {now} is active\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The learner's update that wrote the checkpoint stored as `version`.
fn update_of(data_dir: &Path, version: u64) -> u64 {
    let bytes = std::fs::read(data_dir.join(format!("models/clstm/v{version}.onnx"))).unwrap();
    let dir = data_dir.join("checkpoints/clstm");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ppo-") && n.ends_with(".onnx"))
        .collect();
    ids.sort();
    let id = ids
        .iter()
        .find(|n| std::fs::read(dir.join(n)).unwrap() == bytes)
        .unwrap_or_else(|| panic!("version {version} is none of the learner's checkpoints {ids:?}"));
    id["ppo-".len()..id.len() - ".onnx".len()].parse().unwrap()
}

#[test]
fn the_learner_and_the_shadow_gate_replace_an_untrained_model_with_one_that_earns_more() {
    let began = Instant::now();
    let (_files, files) = gate_models();
    let dir = tempfile::tempdir().unwrap();
    let untrained = files.join("untrained.onnx");
    seed_v1(dir.path(), &untrained);
    let serve = start(
        dir.path(),
        &policies(r#", config = '{"sample": true}', shadow_checkpoints = true, shadow_decisions = 50"#),
    );
    eprintln!("learning loop: serve started in {:?}", began.elapsed());

    // The untrained model trades alone first: no learner, no checkpoint.
    let before = window(&serve, None);
    assert_eq!(active(&serve), 1);
    eprintln!("learning loop: the untrained model (v1): {before}");
    assert!(
        before.per_decision() < 0.0,
        "the untrained model did not lose on a rising market: {before}"
    );

    // The learner follows the runtime's transitions log from its start.
    let mut learner = Learner::start(dir.path(), &untrained, dir.path().join("learner.stderr"));
    let promoted = first_promotion(&serve, &mut learner);
    let running = wait_active(&serve, promoted);
    let learned = began.elapsed();
    let list = versions(&serve);
    let verdict = list
        .iter()
        .find(|v| v["version"] == promoted)
        .map(|v| v["verdict"].clone())
        .unwrap();
    let update = update_of(dir.path(), promoted);
    eprintln!(
        "learning loop: v{promoted} (the learner's update {update}) promoted after {learned:?}: {verdict}"
    );
    assert!(
        promoted - 1 <= MAX_CHECKPOINTS,
        "the gate evaluated {} checkpoints before one was promoted: {list:#?}",
        promoted - 1
    );
    assert!(
        update <= MAX_UPDATES,
        "the promoted checkpoint is the learner's update {update}:\n{}",
        learner.stderr()
    );
    // Every checkpoint before it was evaluated and kept out, none skipped a verdict.
    for v in list
        .iter()
        .filter(|v| (2..promoted).contains(&v["version"].as_u64().unwrap()))
    {
        assert_eq!(v["verdict"]["verdict"], "keep", "{v}");
    }
    assert_eq!(verdict["against_version"], 1, "{verdict}");
    assert_eq!(verdict["decisions"], 50, "{verdict}");
    let (candidate, against) = (
        verdict["candidate_score"].as_f64().unwrap(),
        verdict["active_score"].as_f64().unwrap(),
    );
    assert!(candidate > against, "{verdict}");

    // The audit trail: the gate promoted it, with the figures.
    let trail = audit(&serve);
    let record = trail
        .iter()
        .find(|r| r["action"] == "model_promote" && r["version"] == promoted)
        .unwrap_or_else(|| panic!("no model_promote of v{promoted} in {trail:#?}"));
    assert_eq!(record["who"], "shadow-gate", "{record}");
    let detail = record["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("version {promoted} against version 1 over 50 decisions"))
            && detail.contains(&format!("composite {candidate:.4} vs {against:.4}"))
            && detail.ends_with("promoted"),
        "{detail}"
    );

    // The live policy, now a model the gate promoted, earns more than the
    // untrained one did over as many decisions, by a clear margin: it loses
    // at most three quarters as fast (so far it made money). A checkpoint
    // that learned nothing earns what the untrained model earned, give or
    // take a little, and the gate can promote one by the luck of its draws.
    let after = window(&serve, Some(&mut learner));
    eprintln!(
        "learning loop: the live policy from v{running} (v{} at the end): {after}",
        active(&serve)
    );
    assert!(
        after.per_decision() > 0.75 * before.per_decision(),
        "the promoted policy did not earn clearly more than the untrained one\nbefore: {before}\nafter: {after}\n{:#?}\nlearner:\n{}",
        versions(&serve),
        learner.stderr()
    );
    eprintln!("learning loop: {:?} in all", began.elapsed());
}
