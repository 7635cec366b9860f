"""Builds the small CLSTM-PPO test models with onnx.helper and the onnxruntime reference outputs.

No torch and nothing downloaded: the graph is written node by node with fixed
seeds, so the same command always produces byte-identical models. It is
defined once, in sdk/python/wasmtrade_learner/graph.py, shared with the
learner, whose checkpoints are the same architecture. The graph is what
`torch.onnx.export` gives for a CLSTM-PPO actor-critic (as in the seed bot):
Conv1d over time -> ReLU -> LSTM -> last hidden state -> policy head (softmax
over actions) and value head.

    input  "observation"    float32 [1, WINDOW, FEATURES]   (rows oldest first)
    output "probabilities"  float32 [1, ACTIONS]
    output "value"          float32 [1, 1]

Usage: make_clstm_model.py OUT_DIR [--observations N]

Writes into OUT_DIR:
    clstm_ppo.onnx              the model (seed 7)
    clstm_ppo_v2.onnx           same shape, other weights (seed 8): a hot swap
    clstm_ppo_wrong_shape.onnx  FEATURES + 1 input columns: must be refused
    observations.json           N observations (seed 11)
    onnxruntime.json            onnxruntime's outputs for each model and observation
"""

import json
import sys
from pathlib import Path

import numpy as np

# The graph is defined once, in the learner package (sdk/python): the models
# written here and the learner's checkpoints are the same architecture.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
from wasmtrade_learner.graph import FEATURES, WINDOW, build_model, init_weights  # noqa: E402


def build(seed, features=FEATURES, window=WINDOW):
    return build_model(init_weights(seed, features), window=window, features=features)


def main():
    out = Path(sys.argv[1])
    n = int(sys.argv[sys.argv.index("--observations") + 1]) if "--observations" in sys.argv else 64
    out.mkdir(parents=True, exist_ok=True)
    models = {
        "clstm_ppo": build(7),
        "clstm_ppo_v2": build(8),
        "clstm_ppo_wrong_shape": build(7, features=FEATURES + 1),
    }
    for name, model in models.items():
        (out / f"{name}.onnx").write_bytes(model.SerializeToString())

    rng = np.random.default_rng(11)
    obs = rng.normal(0.0, 1.0, size=(n, 1, WINDOW, FEATURES)).astype(np.float32)
    (out / "observations.json").write_text(
        json.dumps({"window": WINDOW, "features": FEATURES, "observations": obs.reshape(n, -1).tolist()})
    )

    import onnxruntime as ort

    reference = {"onnxruntime": ort.__version__, "models": {}}
    for name in ["clstm_ppo", "clstm_ppo_v2"]:
        sess = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        rows = []
        for o in obs:
            probs, value = sess.run(["probabilities", "value"], {"observation": o})
            rows.append({"probabilities": probs[0].tolist(), "value": float(value[0, 0])})
        reference["models"][name] = rows
    (out / "onnxruntime.json").write_text(json.dumps(reference))


if __name__ == "__main__":
    main()
