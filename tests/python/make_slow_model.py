"""Builds a CLSTM-PPO model that is slow to load, for the model-load deadline test.

The bundled graph (sdk/python/wasmtrade_learner/graph.py) with its value
output run through a chain of N no-op nodes (`Add` of zero): the same
inputs and outputs, so the guest accepts it, but the inference library
analyses and optimises every node when it loads the model, which takes far
longer than loading the bundled graph.

Usage: make_slow_model.py OUT_FILE [N]   (N defaults to 20000)
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
from wasmtrade_learner.graph import build_model, init_weights  # noqa: E402


def slow(n):
    from onnx import helper, numpy_helper

    model = build_model(init_weights(7))
    g = model.graph
    last = "value.chain.0"
    for node in g.node:
        node.output[:] = [last if o == "value" else o for o in node.output]
    g.initializer.append(numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "zero"))
    for i in range(n):
        out = "value" if i == n - 1 else f"value.chain.{i + 1}"
        g.node.append(helper.make_node("Add", [last, "zero"], [out]))
        last = out
    return model


def main():
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    out.write_bytes(slow(n).SerializeToString())


if __name__ == "__main__":
    main()
