//! The guest's inference code, compiled natively, against onnxruntime on the
//! models of `tests/python/make_clstm_model.py` (run here; needs
//! `WASMTRADE_PYTHON` pointing at a python with onnx and onnxruntime, as
//! `make python` sets up). Tolerance: 1e-4 absolute, as for the wasm build
//! (`tests/tests/e2e/policy.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::Path;
use std::process::Command;

use clstm_ppo::inference::{InferenceError, Model};

fn generate(dir: &Path) {
    let python = std::env::var_os("WASMTRADE_PYTHON")
        .expect("set WASMTRADE_PYTHON to a python with onnx and onnxruntime (`make python`)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/python/make_clstm_model.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir)
        .args(["--observations", "16"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn native_inference_matches_onnxruntime_and_refuses_a_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let obs = json(&dir.path().join("observations.json"));
    let reference = json(&dir.path().join("onnxruntime.json"));
    let window = obs["window"].as_u64().unwrap() as usize;
    let features = obs["features"].as_u64().unwrap() as usize;
    let observations: Vec<Vec<f32>> = serde_json::from_value(obs["observations"].clone()).unwrap();

    for name in ["clstm_ppo", "clstm_ppo_v2"] {
        let bytes = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let mut model = Model::load(&bytes, window, features).unwrap();
        assert_eq!(model.actions(), 3);
        for (i, o) in observations.iter().enumerate() {
            let out = model.run(o).unwrap();
            let want = &reference["models"][name][i];
            for (a, b) in out
                .probabilities
                .iter()
                .zip(want["probabilities"].as_array().unwrap())
            {
                let b = b.as_f64().unwrap() as f32;
                assert!((a - b).abs() <= 1e-4, "{name}[{i}]: tract {a} vs onnxruntime {b}");
            }
            let v = want["value"].as_f64().unwrap() as f32;
            assert!(
                (out.value - v).abs() <= 1e-4,
                "{name}[{i}]: value tract {} vs {v}",
                out.value
            );
        }
        let err = model.run(&[0.0; 3]).unwrap_err();
        assert_eq!(
            err,
            InferenceError::Observation {
                got: 3,
                expected: window * features
            }
        );
    }

    let wrong = std::fs::read(dir.path().join("clstm_ppo_wrong_shape.onnx")).unwrap();
    let err = Model::load(&wrong, window, features).unwrap_err();
    assert_eq!(
        err,
        InferenceError::InputShape {
            declared: "[1, 32, 7]".into(),
            expected: [1, 32, 6]
        }
    );
}
