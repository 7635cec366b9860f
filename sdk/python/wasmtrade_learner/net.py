"""The CLSTM actor-critic of `graph.py` in numpy: forward pass and hand-written gradients.

The computation is exactly the ONNX graph's (Conv1d with one zero of padding
each side -> ReLU -> one-layer LSTM with ONNX's gate order i, o, f, c and zero
initial state -> last hidden state -> Gemm heads, softmax), batched, in
float64. Gradients are written out by hand (back-propagation through time);
the unit tests check them against finite differences and the forward pass
against onnxruntime on the exported model.

Why numpy: the graph is tiny (about 2 000 weights), so a framework buys
nothing at run time, while it costs the install (see docs/policies.md), and
plain numpy on one thread gives bit-for-bit repeatable results.
"""

import numpy as np

from .graph import HIDDEN, KERNEL, NAMES


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def forward(params, obs, keep=False):
    """logits [B, A], value [B], and (with keep) the activations backward() needs.

    params: dict of float64 arrays (graph shapes); obs: [B, T, F].
    """
    obs = np.asarray(obs, dtype=np.float64)
    b, t, f = obs.shape
    pad = KERNEL // 2
    xp = np.zeros((b, t + 2 * pad, f))
    xp[:, pad : pad + t, :] = obs
    # cols[b, t, f, k] = xp[b, t + k, f]
    cols = np.stack([xp[:, k : k + t, :] for k in range(KERNEL)], axis=3)
    cw = params["conv.weight"]  # [C, F, K]
    z = cols.reshape(b * t, f * KERNEL) @ cw.reshape(cw.shape[0], -1).T + params["conv.bias"]
    z = z.reshape(b, t, -1)
    u = np.maximum(z, 0.0)

    w = params["lstm.W"][0]  # [4H, C]
    r = params["lstm.R"][0]  # [4H, H]
    bias = params["lstm.B"][0, : 4 * HIDDEN] + params["lstm.B"][0, 4 * HIDDEN :]
    xw = (u.reshape(b * t, -1) @ w.T).reshape(b, t, 4 * HIDDEN) + bias
    h = np.zeros((b, HIDDEN))
    c = np.zeros((b, HIDDEN))
    hs, cs, gates = [h], [c], []
    for s in range(t):
        g = xw[:, s, :] + h @ r.T
        i = _sigmoid(g[:, :HIDDEN])
        o = _sigmoid(g[:, HIDDEN : 2 * HIDDEN])
        fg = _sigmoid(g[:, 2 * HIDDEN : 3 * HIDDEN])
        cc = np.tanh(g[:, 3 * HIDDEN :])
        c = fg * c + i * cc
        h = o * np.tanh(c)
        if keep:
            gates.append((i, o, fg, cc))
            hs.append(h)
            cs.append(c)
    logits = h @ params["policy.weight"] + params["policy.bias"]
    value = (h @ params["value.weight"] + params["value.bias"])[:, 0]
    if not keep:
        return logits, value, None
    cache = {"cols": cols, "z": z, "u": u, "hs": hs, "cs": cs, "gates": gates}
    return logits, value, cache


def backward(params, cache, dlogits, dvalue):
    """Gradients of a scalar loss given dL/dlogits [B, A] and dL/dvalue [B]."""
    hs, cs, gates, u = cache["hs"], cache["cs"], cache["gates"], cache["u"]
    b, t, _ = u.shape
    h_last = hs[-1]
    dvalue = dvalue.reshape(-1, 1)
    grads = {
        "policy.weight": h_last.T @ dlogits,
        "policy.bias": dlogits.sum(axis=0),
        "value.weight": h_last.T @ dvalue,
        "value.bias": dvalue.sum(axis=0),
    }
    w = params["lstm.W"][0]
    r = params["lstm.R"][0]
    dh = dlogits @ params["policy.weight"].T + dvalue @ params["value.weight"].T
    dc = np.zeros_like(dh)
    dgs = np.zeros((b, t, 4 * HIDDEN))
    for s in range(t - 1, -1, -1):
        i, o, fg, cc = gates[s]
        tc = np.tanh(cs[s + 1])
        do = dh * tc
        dc = dc + dh * o * (1.0 - tc * tc)
        dg = dgs[:, s, :]
        dg[:, :HIDDEN] = dc * cc * i * (1.0 - i)
        dg[:, HIDDEN : 2 * HIDDEN] = do * o * (1.0 - o)
        dg[:, 2 * HIDDEN : 3 * HIDDEN] = dc * cs[s] * fg * (1.0 - fg)
        dg[:, 3 * HIDDEN :] = dc * i * (1.0 - cc * cc)
        dc = dc * fg
        dh = dg @ r
    hprev = np.stack(hs[:-1], axis=1)  # [B, T, H]
    dg2 = dgs.reshape(b * t, -1)
    grads["lstm.W"] = (dg2.T @ u.reshape(b * t, -1))[None]
    grads["lstm.R"] = (dg2.T @ hprev.reshape(b * t, -1))[None]
    db = dg2.sum(axis=0)
    grads["lstm.B"] = np.concatenate([db, db])[None]
    du = (dg2 @ w).reshape(b, t, -1)
    dz = du * (cache["z"] > 0.0)
    cols = cache["cols"]
    cw = params["conv.weight"]
    grads["conv.weight"] = (dz.reshape(b * t, -1).T @ cols.reshape(b * t, -1)).reshape(cw.shape)
    grads["conv.bias"] = dz.sum(axis=(0, 1))
    return {n: grads[n] for n in NAMES}


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
