//! The CLSTM-PPO policy guest (`guests/policies/clstm-ppo`, tract inside
//! wasm) against onnxruntime on the same ONNX models and observations, bad
//! models refused while the policy keeps running, a weight hot swap, and a
//! backtest that trades with the policy end to end.
//!
//! The models are generated here by `tests/python/make_clstm_model.py`
//! (onnx.helper, fixed seeds; `make python` installs onnx and onnxruntime).
//!
//! Tolerance: 1e-4 absolute on every action probability and on the value.
//! tract and onnxruntime run the same f32 graph with different kernels
//! (summation order, fused multiply-add, tanh/sigmoid approximations); the
//! differences seen are around 1e-6.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use wasmtrade_e2e::{guest_bytes, guest_path, python, run_cli, workspace_root};
use wasmtrade_host::{GuestEngine, HostConfig, PolicyModule, WasmPolicy};
use wasmtrade_model::{GuestContext, InstrumentId, Instruments, ModelError, Observation, Timestamp};

const TOLERANCE: f32 = 1e-4;

struct Fixtures {
    _dir: tempfile::TempDir,
    path: PathBuf,
    window: u32,
    features: u32,
    observations: Vec<Vec<f32>>,
    reference: serde_json::Value,
}

impl Fixtures {
    fn model(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path.join(format!("{name}.onnx"))).unwrap()
    }

    fn observation(&self, i: usize) -> Observation {
        Observation {
            instrument: InstrumentId(0),
            ts: Timestamp::from_secs(i as i64),
            rows: self.window,
            columns: self.features,
            features: self.observations[i].clone(),
        }
    }

    /// onnxruntime's (probabilities, value) for `model` on observation `i`.
    fn expected(&self, model: &str, i: usize) -> (Vec<f32>, f32) {
        let row = &self.reference["models"][model][i];
        let probs = row["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        (probs, row["value"].as_f64().unwrap() as f32)
    }
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = workspace_root().join("tests/python/make_clstm_model.py");
        let out = Command::new(python().unwrap())
            .arg(&script)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let obs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("observations.json")).unwrap()).unwrap();
        let reference =
            serde_json::from_slice(&std::fs::read(dir.path().join("onnxruntime.json")).unwrap()).unwrap();
        Fixtures {
            path: dir.path().to_path_buf(),
            window: obs["window"].as_u64().unwrap() as u32,
            features: obs["features"].as_u64().unwrap() as u32,
            observations: serde_json::from_value(obs["observations"].clone()).unwrap(),
            reference,
            _dir: dir,
        }
    })
}

fn default_module() -> &'static PolicyModule {
    static M: OnceLock<PolicyModule> = OnceLock::new();
    M.get_or_init(|| {
        let host = GuestEngine::new(HostConfig::default()).unwrap();
        host.load_policy(&guest_bytes("clstm_ppo").unwrap()).unwrap()
    })
}

fn policy(module: &PolicyModule) -> WasmPolicy {
    let mut instruments = Instruments::new();
    instruments.intern("X");
    module
        .instantiate(GuestContext::new(Arc::new(instruments), 7), "")
        .unwrap()
}

fn assert_matches_onnxruntime(p: &mut WasmPolicy, model: &str, indices: impl IntoIterator<Item = usize>) {
    let f = fixtures();
    let mut worst = 0f32;
    for i in indices {
        let action = p.act(&f.observation(i)).unwrap();
        let (probs, value) = f.expected(model, i);
        assert_eq!(action.probabilities.len(), probs.len(), "{model}[{i}]: actions");
        for (a, b) in action.probabilities.iter().zip(&probs) {
            worst = worst.max((a - b).abs());
            assert!(
                (a - b).abs() <= TOLERANCE,
                "{model}[{i}]: wasm {a} vs onnxruntime {b}"
            );
        }
        worst = worst.max((action.value - value).abs());
        assert!(
            (action.value - value).abs() <= TOLERANCE,
            "{model}[{i}]: value wasm {} vs onnxruntime {value}",
            action.value
        );
        let argmax = (0..probs.len())
            .max_by(|x, y| probs[*x].total_cmp(&probs[*y]))
            .unwrap();
        assert_eq!(action.index as usize, argmax, "{model}[{i}]: chosen action");
    }
    eprintln!("{model}: largest |wasm - onnxruntime| = {worst:e}");
}

#[test]
fn wasm_policy_matches_onnxruntime_within_1e_4() {
    let f = fixtures();
    let mut p = policy(default_module());
    let info = p.load_model(&f.model("clstm_ppo")).unwrap();
    assert_eq!(info.input_shape, vec![1, f.window, f.features]);
    assert_eq!(info.actions, 3);
    assert_matches_onnxruntime(&mut p, "clstm_ppo", 0..f.observations.len());
}

#[test]
fn hot_swapped_weights_take_effect_on_the_next_action() {
    let f = fixtures();
    let mut p = policy(default_module());
    p.load_model(&f.model("clstm_ppo")).unwrap();
    assert_matches_onnxruntime(&mut p, "clstm_ppo", 0..4);
    p.load_model(&f.model("clstm_ppo_v2")).unwrap();
    assert_matches_onnxruntime(&mut p, "clstm_ppo_v2", 4..8);
}

#[test]
fn bad_models_are_refused_and_the_running_policy_keeps_running() {
    let f = fixtures();
    let mut p = policy(default_module());
    p.load_model(&f.model("clstm_ppo")).unwrap();

    let err = p.load_model(b"this is not an onnx model at all").unwrap_err();
    assert!(
        matches!(&err, ModelError::Refused { message } if message.starts_with("model is not a readable ONNX model")),
        "{err:?}"
    );
    assert_matches_onnxruntime(&mut p, "clstm_ppo", 0..2);

    let err = p.load_model(&f.model("clstm_ppo_wrong_shape")).unwrap_err();
    let ModelError::Refused { message } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("model input shape [1, 32, 7] does not match the observation window [1, 32, 6]"),
        "{message}"
    );
    assert_matches_onnxruntime(&mut p, "clstm_ppo", 2..4);
    assert!(p.quarantined().is_none());
}

#[test]
fn a_model_above_max_model_bytes_never_reaches_the_guest() {
    let f = fixtures();
    // Same wasmtime settings as the default engine: reuse its compiled code.
    let host = GuestEngine::new(HostConfig {
        max_model_bytes: 10_000,
        ..HostConfig::default()
    })
    .unwrap();
    let small = host
        .load_precompiled_policy(&default_module().precompiled().unwrap())
        .unwrap();
    let mut p = policy(&small);
    p.load_model(&f.model("clstm_ppo")).unwrap();
    let err = p.load_model(&vec![0u8; 10_001]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "model is 10001 bytes, above the limit of 10000 bytes (`max_model_bytes`)"
    );
    assert_matches_onnxruntime(&mut p, "clstm_ppo", 0..2);
}

#[test]
fn a_strategy_is_not_a_policy() {
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let err = host
        .load_policy(&guest_bytes("sma_cross").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("required by world policy@0.1.0"), "{err}");
}

#[test]
fn backtest_trades_with_the_policy_end_to_end() {
    let f = fixtures();
    let strategy = guest_path("clstm_ppo").unwrap();
    let model = f.path.join("clstm_ppo.onnx");
    let args = [
        "backtest",
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--cash",
        "100000",
        "--json",
    ];
    let out = run_cli(args).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &report["strategies"][0];
    assert_eq!(s["guest"], "clstm-ppo");
    // The embedded synthetic data set: 2520 seeded GBM bars.
    assert_eq!(s["bars"], 2520);
    assert!(
        s["intents"].as_u64().unwrap() > 0,
        "the policy never traded: {report}"
    );
    assert!(s["fills"].as_u64().unwrap() > 0, "no fills: {report}");
    assert!(report["policy"]["steps"].as_u64().unwrap() > 2400, "{report}");

    // A model of the wrong shape is refused with a clear message.
    let wrong = f.path.join("clstm_ppo_wrong_shape.onnx");
    let mut bad = args.map(str::to_string);
    bad[4] = wrong.to_str().unwrap().to_string();
    let out = run_cli(&bad).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the observation window"), "{err}");

    // A model whose load uses up `fuel_per_model_load` (20e9 by default) is
    // refused, naming that budget (not the per-callback one).
    let slow = f.path.join("slow.onnx");
    wasmtrade_e2e::slow_model(&slow, 20_000).unwrap();
    bad[4] = slow.to_str().unwrap().to_string();
    let out = run_cli(&bad).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fuel 20000000000 per model load (`fuel_per_model_load`)"),
        "{err}"
    );
}
