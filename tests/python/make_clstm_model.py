"""Builds the small CLSTM-PPO test models with onnx.helper and the onnxruntime reference outputs.

No torch and nothing downloaded: the graph is written node by node with fixed
seeds, so the same command always produces byte-identical models. The graph is
what `torch.onnx.export` gives for a CLSTM-PPO actor-critic (as in the seed
bot): Conv1d over time -> ReLU -> LSTM -> last hidden state -> policy head
(softmax over actions) and value head.

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
import onnx
from onnx import TensorProto, helper, numpy_helper

WINDOW = 32
FEATURES = 6
CHANNELS = 8
KERNEL = 3
HIDDEN = 16
ACTIONS = 3
OPSET = 17
IR_VERSION = 8


def init(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)


def build(seed, features=FEATURES, window=WINDOW):
    rng = np.random.default_rng(seed)

    def w(*shape, scale):
        return rng.normal(0.0, scale, size=shape).astype(np.float32)

    inits = [
        init("conv.weight", w(CHANNELS, features, KERNEL, scale=0.4)),
        init("conv.bias", w(CHANNELS, scale=0.1)),
        # ONNX LSTM gate order: input, output, forget, cell.
        init("lstm.W", w(1, 4 * HIDDEN, CHANNELS, scale=0.3)),
        init("lstm.R", w(1, 4 * HIDDEN, HIDDEN, scale=0.3)),
        init("lstm.B", w(1, 8 * HIDDEN, scale=0.1)),
        init("policy.weight", w(HIDDEN, ACTIONS, scale=0.8)),
        init("policy.bias", w(ACTIONS, scale=0.1)),
        init("value.weight", w(HIDDEN, 1, scale=0.5)),
        init("value.bias", w(1, scale=0.1)),
        numpy_helper.from_array(np.array([1, HIDDEN], dtype=np.int64), "hidden.shape"),
    ]
    nodes = [
        # [1, T, F] -> [1, F, T] for Conv1d (channels first).
        helper.make_node("Transpose", ["observation"], ["x.ncw"], perm=[0, 2, 1]),
        helper.make_node(
            "Conv", ["x.ncw", "conv.weight", "conv.bias"], ["conv"], kernel_shape=[KERNEL], pads=[1, 1]
        ),
        helper.make_node("Relu", ["conv"], ["conv.relu"]),
        # [1, C, T] -> [T, 1, C]: the LSTM's default (seq, batch, input) layout.
        helper.make_node("Transpose", ["conv.relu"], ["seq"], perm=[2, 0, 1]),
        helper.make_node(
            "LSTM", ["seq", "lstm.W", "lstm.R", "lstm.B"], ["lstm.Y", "lstm.Y_h"], hidden_size=HIDDEN
        ),
        helper.make_node("Reshape", ["lstm.Y_h", "hidden.shape"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "policy.weight", "policy.bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("Gemm", ["hidden", "value.weight", "value.bias"], ["value"]),
    ]
    graph = helper.make_graph(
        nodes,
        "clstm_ppo",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT, [1, window, features])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, ACTIONS]),
            helper.make_tensor_value_info("value", TensorProto.FLOAT, [1, 1]),
        ],
        inits,
    )
    model = helper.make_model(
        graph,
        producer_name="wasmtrade-make_clstm_model",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


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
