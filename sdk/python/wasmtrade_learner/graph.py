"""The one definition of the CLSTM-PPO actor-critic graph.

Used by the learner (to export checkpoints) and by
`tests/python/make_clstm_model.py` (to write the test models), so the ONNX
the learner writes is the architecture the bundled policy guest
(`guests/policies/clstm-ppo`) runs. The graph is what `torch.onnx.export`
gives for a CLSTM-PPO actor-critic: Conv1d over time -> ReLU -> LSTM -> last
hidden state -> policy head (softmax over actions) and value head.

    input  "observation"    float32 [1, WINDOW, FEATURES]   (rows oldest first)
    output "probabilities"  float32 [1, ACTIONS]
    output "value"          float32 [1, 1]

Weights are a dict name -> numpy array with the shapes of `shapes()`.
"""

import numpy as np

WINDOW = 32
FEATURES = 6
CHANNELS = 8
KERNEL = 3
HIDDEN = 16
ACTIONS = 3
OPSET = 17
IR_VERSION = 8

# The trainable tensors, in the order they are initialised and stored.
NAMES = (
    "conv.weight",
    "conv.bias",
    "lstm.W",
    "lstm.R",
    "lstm.B",
    "policy.weight",
    "policy.bias",
    "value.weight",
    "value.bias",
)


def shapes(features=FEATURES):
    """Shape of each trainable tensor (ONNX layouts; LSTM gate order i, o, f, c)."""
    return {
        "conv.weight": (CHANNELS, features, KERNEL),
        "conv.bias": (CHANNELS,),
        "lstm.W": (1, 4 * HIDDEN, CHANNELS),
        "lstm.R": (1, 4 * HIDDEN, HIDDEN),
        "lstm.B": (1, 8 * HIDDEN),
        "policy.weight": (HIDDEN, ACTIONS),
        "policy.bias": (ACTIONS,),
        "value.weight": (HIDDEN, 1),
        "value.bias": (1,),
    }


# Standard deviation of each tensor's seeded normal initialisation.
_SCALES = {
    "conv.weight": 0.4,
    "conv.bias": 0.1,
    "lstm.W": 0.3,
    "lstm.R": 0.3,
    "lstm.B": 0.1,
    "policy.weight": 0.8,
    "policy.bias": 0.1,
    "value.weight": 0.5,
    "value.bias": 0.1,
}


def init_weights(seed, features=FEATURES):
    """Seeded float32 weights (the test models' seeds 7 and 8 give clstm_ppo and clstm_ppo_v2)."""
    rng = np.random.default_rng(seed)
    shp = shapes(features)
    return {n: rng.normal(0.0, _SCALES[n], size=shp[n]).astype(np.float32) for n in NAMES}


def build_model(weights, window=WINDOW, features=FEATURES, producer_name="wasmtrade-make_clstm_model"):
    """The ONNX model (opset 17, IR 8) for `weights`; checked with onnx.checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shp = shapes(features)
    for n in NAMES:
        if tuple(np.shape(weights[n])) != shp[n]:
            raise ValueError(f"weight {n} has shape {np.shape(weights[n])}, expected {shp[n]}")

    def init(name, array):
        return numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name)

    inits = [init(n, weights[n]) for n in NAMES]
    inits.append(numpy_helper.from_array(np.array([1, HIDDEN], dtype=np.int64), "hidden.shape"))
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
        producer_name=producer_name,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def weights_from_model(model):
    """The trainable weights of a model of this graph (e.g. the active version, to continue from)."""
    from onnx import numpy_helper

    found = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    missing = [n for n in NAMES if n not in found]
    if missing:
        raise ValueError(f"not a CLSTM-PPO model of this graph: no initializer {', '.join(missing)}")
    features = found["conv.weight"].shape[1]
    shp = shapes(features)
    for n in NAMES:
        if found[n].shape != shp[n]:
            raise ValueError(f"initializer {n} has shape {found[n].shape}, expected {shp[n]}")
    return {n: np.asarray(found[n], dtype=np.float32) for n in NAMES}
