"""Builds CLSTM-PPO models whose behaviour is known, for the shadow-gate tests.

The bundled policy guest takes the argmax of the probabilities and maps
actions 0, 1, 2 to targets -1, 0, +1 of equity. With the policy head's
weights zero and a large bias on one action, the model always takes that
action, whatever it observes:

    short.onnx   always -1 (the worst policy on a rising market)
    long.onnx    always +1 (the best one)
    nan.onnx     a NaN in the policy head: non-finite probabilities

Usage: make_gate_models.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
from wasmtrade_learner.graph import build_model, init_weights  # noqa: E402


def biased(action, nan=False):
    w = init_weights(7)
    w["policy.weight"] = np.zeros_like(w["policy.weight"])
    bias = np.zeros_like(w["policy.bias"])
    bias[action] = 10.0
    if nan:
        bias[0] = np.nan
    w["policy.bias"] = bias
    return build_model(w)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, model in {"short": biased(0), "long": biased(2), "nan": biased(2, nan=True)}.items():
        (out / f"{name}.onnx").write_bytes(model.SerializeToString())


if __name__ == "__main__":
    main()
