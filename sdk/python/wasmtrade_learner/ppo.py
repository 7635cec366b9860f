"""PPO on logged transitions: clipped objective, GAE, value loss, entropy bonus, Adam.

The transitions come from the running policy (the behaviour policy): its
logged `probabilities` give the old log-probabilities of PPO's ratio. One
update takes a batch of transitions in log order, splits it into one
trajectory per instrument, computes advantages with GAE(gamma, lambda) from
the current critic (the last step of each trajectory bootstraps from its own
value: the log has no next observation for it), then runs `epochs` passes of
shuffled minibatches with Adam and global gradient-norm clipping.

Everything is float64 numpy on one thread; the shuffling comes from a
generator seeded with (seed, update number), so an update is a pure function
of (weights, Adam state, batch, config, seed): the same inputs give the same
bits.
"""

import numpy as np

from . import net
from .graph import ACTIONS, NAMES


def adam_init(params):
    return {"t": 0, "m": {n: np.zeros_like(params[n]) for n in NAMES}, "v": {n: np.zeros_like(params[n]) for n in NAMES}}


def _adam_step(params, adam, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    adam["t"] += 1
    t = adam["t"]
    for n in NAMES:
        g = grads[n]
        adam["m"][n] = b1 * adam["m"][n] + (1.0 - b1) * g
        adam["v"][n] = b2 * adam["v"][n] + (1.0 - b2) * g * g
        mhat = adam["m"][n] / (1.0 - b1**t)
        vhat = adam["v"][n] / (1.0 - b2**t)
        params[n] = params[n] - lr * mhat / (np.sqrt(vhat) + eps)


def gae(rewards, values, instruments, gamma, lam):
    """Advantages per instrument trajectory (log order); the last step bootstraps from its own value."""
    adv = np.zeros_like(values)
    for inst in sorted(set(instruments)):
        idx = [i for i, x in enumerate(instruments) if x == inst]
        last = 0.0
        next_value = values[idx[-1]]
        for i in reversed(idx):
            delta = rewards[i] + gamma * next_value - values[i]
            last = delta + gamma * lam * last
            adv[i] = last
            next_value = values[i]
    return adv


def _loss_grads(params, obs, actions, old_logp, adv, returns, cfg):
    """PPO loss on one minibatch and its gradients."""
    n = len(actions)
    logits, value, cache = net.forward(params, obs, keep=True)
    logp_all = net.log_softmax(logits)
    p = np.exp(logp_all)
    rows = np.arange(n)
    logp = logp_all[rows, actions]
    ratio = np.exp(logp - old_logp)
    clipped = np.clip(ratio, 1.0 - cfg.clip, 1.0 + cfg.clip)
    unclipped_active = ratio * adv <= clipped * adv
    policy_loss = -np.mean(np.minimum(ratio * adv, clipped * adv))
    entropy = -(p * logp_all).sum(axis=1)
    value_loss = 0.5 * np.mean((value - returns) ** 2)
    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy.mean()

    onehot = np.zeros_like(p)
    onehot[rows, actions] = 1.0
    dratio = np.where(unclipped_active, adv, 0.0)
    dlogits = -(dratio * ratio)[:, None] * (onehot - p) / n
    # d entropy / d logit_j = -p_j (log p_j + H)
    dlogits += cfg.ent_coef * p * (logp_all + entropy[:, None]) / n
    dvalue = cfg.vf_coef * (value - returns) / n
    grads = net.backward(params, cache, dlogits, dvalue)
    stats = {
        "loss": loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy.mean(),
        "approx_kl": np.mean(old_logp - logp),
        "clip_fraction": np.mean(np.abs(ratio - 1.0) > cfg.clip),
    }
    return grads, stats


def update(params, adam, batch, cfg, seed, update_index):
    """One PPO update in place of `params` and `adam`; returns its training metrics."""
    obs, actions, old_probs, rewards, instruments = batch
    n = len(actions)
    _, values, _ = net.forward(params, obs)
    scale = cfg.reward_scale
    if scale <= 0.0:  # auto: the batch's reward standard deviation
        std = float(np.std(rewards))
        scale = std if std > 1e-12 else 1.0
    r = rewards / scale
    adv = gae(r, values, instruments, cfg.gamma, cfg.gae_lambda)
    returns = adv + values
    if n > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    old_logp = np.log(np.maximum(old_probs[np.arange(n), actions], 1e-8))

    rng = np.random.default_rng([seed, update_index])
    mb = max(1, min(cfg.minibatch, n))
    totals = {}
    count = 0
    grad_norm = 0.0
    for _ in range(cfg.epochs):
        perm = rng.permutation(n)
        for start in range(0, n, mb):
            idx = np.sort(perm[start : start + mb])
            grads, stats = _loss_grads(params, obs[idx], actions[idx], old_logp[idx], adv[idx], returns[idx], cfg)
            norm = float(np.sqrt(sum(float((grads[k] ** 2).sum()) for k in NAMES)))
            grad_norm += norm
            if cfg.max_grad_norm > 0.0 and norm > cfg.max_grad_norm:
                f = cfg.max_grad_norm / (norm + 1e-12)
                grads = {k: g * f for k, g in grads.items()}
            _adam_step(params, adam, grads, cfg.lr)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            count += 1
    metrics = {k: v / count for k, v in totals.items()}
    metrics["grad_norm"] = grad_norm / count
    metrics["optimizer_steps"] = count
    metrics["reward_scale"] = scale
    metrics["mean_reward"] = float(np.mean(rewards))
    return metrics


def evaluate(params, batch, cfg):
    """Figures of the updated policy on the batch it was trained on (an off-policy estimate, no market).

    score: the self-normalised importance-weighted mean reward per decision
    of the new policy, sum(w r) / sum(w) with w = pi_new(a|s) / pi_old(a|s)
    capped at `eval_ratio_cap`: above the behaviour policy's mean reward
    when the update moved probability towards the actions that paid.
    """
    obs, actions, old_probs, rewards, instruments = batch
    n = len(actions)
    logits, values, _ = net.forward(params, obs)
    logp_all = net.log_softmax(logits)
    p = np.exp(logp_all)
    rows = np.arange(n)
    old = np.maximum(old_probs[rows, actions], 1e-8)
    w = np.minimum(p[rows, actions] / old, cfg.eval_ratio_cap)
    score = float((w * rewards).sum() / max(w.sum(), 1e-12))
    scale = float(np.std(rewards)) or 1.0
    adv = gae(rewards / scale, values, instruments, cfg.gamma, cfg.gae_lambda)
    returns = adv + values
    var = float(np.var(returns))
    explained = 1.0 - float(np.var(returns - values)) / var if var > 1e-12 else 0.0
    kl = float(np.mean((old_probs * (np.log(np.maximum(old_probs, 1e-8)) - logp_all)).sum(axis=1)))
    return {
        "score": score,
        "behaviour_mean_reward": float(np.mean(rewards)),
        "entropy": float(-(p * logp_all).sum(axis=1).mean()),
        "kl_from_behaviour": kl,
        "explained_variance": explained,
        "greedy_action_share": [float(np.mean(p.argmax(axis=1) == a)) for a in range(ACTIONS)],
    }
