"""Builds CLSTM-PPO models whose behaviour is known, for the shadow-gate tests.

The bundled policy guest takes the argmax of the probabilities (or, with
`"sample": true`, draws from them) and maps actions 0, 1, 2 to targets -1,
0, +1 of equity. With the policy head's weights zero and a large bias on one
action, the model always takes that action, whatever it observes:

    short.onnx      always -1 (the worst policy on a rising market)
    long.onnx       always +1 (the best one)
    nan.onnx        a NaN in the policy head: non-finite probabilities
    untrained.onnx  the learner's seeded initial weights (seed 7) with the
                    policy head's bias moved towards short and flat: on the
                    rising market it draws short more than half of the time
                    and long about one time in seven, so it loses money but
                    still tries long now and then (what a learner learns from)

Usage: make_gate_models.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
from wasmtrade_learner import net  # noqa: E402
from wasmtrade_learner.graph import FEATURES, NAMES, WINDOW, build_model, init_weights  # noqa: E402

# Added to the seeded policy bias of untrained.onnx (short, flat, long):
# modest, so PPO can unlearn it within a few updates.
UNTRAINED_BIAS = (0.5, 0.5, -1.0)


def biased(action, nan=False):
    w = init_weights(7)
    w["policy.weight"] = np.zeros_like(w["policy.weight"])
    bias = np.zeros_like(w["policy.bias"])
    bias[action] = 10.0
    if nan:
        bias[0] = np.nan
    w["policy.bias"] = bias
    return build_model(w)


def rising_market(position, n=256, seed=0):
    """Observation windows of the tests' rising market while holding
    `position` of equity: the feature rows of `wasmtrade_policy`'s window
    (log return, range, body, log volume change, position, cash)."""
    rng = np.random.default_rng(seed)
    obs = np.empty((n, WINDOW, FEATURES))
    obs[..., 0] = 2.3e-4  # ~ the drift of a bar
    obs[..., 1] = 3.1e-4
    obs[..., 2] = 2.3e-4
    obs[..., 3] = rng.normal(0.0, 0.4, (n, WINDOW))
    obs[..., 4] = position
    obs[..., 5] = 1.0 - position
    return obs


def untrained():
    w = init_weights(7)
    w["policy.bias"] = w["policy.bias"] + np.array(UNTRAINED_BIAS, dtype=np.float32)
    params = {n: w[n].astype(np.float64) for n in NAMES}
    # Checked, not hoped: in every position it may hold, short is the most
    # probable action and long the least.
    for position in (-1.0, 0.0, 1.0):
        logits, _, _ = net.forward(params, rising_market(position))
        p = np.exp(net.log_softmax(logits)).mean(axis=0)
        if not p[0] > p[1] > p[2]:
            raise SystemExit(f"untrained.onnx leans long holding {position}: probabilities {p}")
        print(f"untrained.onnx holding {position:+.0f}: probabilities {np.round(p, 3).tolist()}")
    return build_model(w)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    models = {
        "short": biased(0),
        "long": biased(2),
        "nan": biased(2, nan=True),
        "untrained": untrained(),
    }
    for name, model in models.items():
        (out / f"{name}.onnx").write_bytes(model.SerializeToString())


if __name__ == "__main__":
    main()
