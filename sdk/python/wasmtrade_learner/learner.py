"""The learner: follows the transitions log, trains on a schedule, writes checkpoints.

Files, all in `<checkpoints>/<name>/` and all written atomically
(`durable.write_atomic`):

    transitions.log        the runtime's log (default; `--transitions` names another)
    <id>.onnx              a checkpoint, `ppo-000001`, `ppo-000002`, ... (sortable)
    <id>.json              its training metrics
    learner-state.json     where the learner is: the log offset after the last
                           record it trained on, the update counter, the weights
                           and Adam's moments (float64, exact in JSON)

The figures of each update also go to `self.metrics` (`metrics.LearnerMetrics`),
which `--metrics-port` serves to Prometheus.

Order of writes for one update: checkpoint, metrics, then state. A kill
between them repeats the same update after the restart (from the same
offset, weights and seed), which rewrites the same checkpoint bytes: the
learner resumes where it stopped and never skips or double-counts
transitions. Records after the saved offset are simply read again.
"""

import dataclasses
import json
import os
import re
import sys
import time

import numpy as np

from . import graph, ppo
from .durable import read_log, write_atomic
from .metrics import LearnerMetrics

STATE = "learner-state.json"
STATE_FORMAT = 1
NAME_RE = re.compile(r"^[a-z0-9_-]+$")


@dataclasses.dataclass
class Config:
    """Every setting; from defaults < TOML file < WASMTRADE_LEARNER_* env < CLI flags."""

    checkpoints: str = ""
    name: str = ""
    transitions: str = ""  # default <checkpoints>/<name>/transitions.log
    seed: int = 0
    every_transitions: int = 256
    every_minutes: float = 10.0
    min_transitions: int = 16  # the timer trains only on at least this many
    poll_seconds: float = 1.0
    once: bool = False
    init: str = ""  # an ONNX model of the graph to start from (default: seeded weights)
    window: int = graph.WINDOW
    features: int = graph.FEATURES
    # PPO
    lr: float = 3e-4
    epochs: int = 4
    minibatch: int = 64
    clip: float = 0.2
    gamma: float = 0.99
    gae_lambda: float = 0.95
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    reward_scale: float = 0.0  # 0: divide rewards by the batch's standard deviation
    eval_ratio_cap: float = 2.0
    # Prometheus metrics (metrics.py); 0: not served
    metrics_port: int = 0
    metrics_host: str = "0.0.0.0"

    def validate(self):
        if not self.checkpoints:
            raise ValueError("--checkpoints is required")
        if not NAME_RE.match(self.name or ""):
            raise ValueError(f"--name {self.name!r}: use lowercase letters, digits, '-' and '_' (a model name)")
        if self.every_transitions < 1:
            raise ValueError("every_transitions must be at least 1")
        if self.every_minutes <= 0:
            raise ValueError("every_minutes must be positive")
        if self.epochs < 1 or self.minibatch < 1:
            raise ValueError("epochs and minibatch must be at least 1")
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port {self.metrics_port}: use 1-65535, or 0 for no metrics")

    def hyper(self):
        keys = ["lr", "epochs", "minibatch", "clip", "gamma", "gae_lambda", "vf_coef", "ent_coef",
                "max_grad_norm", "reward_scale", "every_transitions", "every_minutes", "min_transitions"]
        return {k: getattr(self, k) for k in keys}


def _to_lists(arrays):
    return {n: np.asarray(arrays[n], dtype=np.float64).reshape(-1).tolist() for n in graph.NAMES}


def _from_lists(lists, features):
    shp = graph.shapes(features)
    return {n: np.array(lists[n], dtype=np.float64).reshape(shp[n]) for n in graph.NAMES}


def log(msg):
    print(f"wasmtrade-learner: {msg}", file=sys.stderr, flush=True)


class Learner:
    def __init__(self, cfg):
        cfg.validate()
        self.cfg = cfg
        self.dir = os.path.join(cfg.checkpoints, cfg.name)
        self.log_path = cfg.transitions or os.path.join(self.dir, "transitions.log")
        os.makedirs(self.dir, exist_ok=True)
        self.state_path = os.path.join(self.dir, STATE)
        self.pending = []  # (record, end offset) read past the saved offset, not trained on yet
        self.read_offset = 0
        self.last_train = time.monotonic()
        self.metrics = LearnerMetrics(cfg.name)
        if os.path.exists(self.state_path):
            self._load_state()
            self._restore_metrics()
            log(
                f"resuming {cfg.name} at offset {self.offset} of {self.log_path} "
                f"({self.consumed} transitions consumed, {self.updates} updates, "
                f"next checkpoint {self.checkpoint_id(self.updates + 1)})"
            )
        else:
            if cfg.init:
                import onnx

                w = graph.weights_from_model(onnx.load(cfg.init))
                src = cfg.init
            else:
                w = graph.init_weights(cfg.seed, cfg.features)
                src = f"seeded weights (seed {cfg.seed})"
            self.params = {n: w[n].astype(np.float64) for n in graph.NAMES}
            self.adam = ppo.adam_init(self.params)
            self.offset = 0
            self.consumed = 0
            self.updates = 0
            self.steps = 0
            log(f"starting {cfg.name} from {src}, reading {self.log_path} from its start")
        self.read_offset = self.offset

    @staticmethod
    def checkpoint_id(update):
        return f"ppo-{update:06d}"

    def _load_state(self):
        with open(self.state_path) as f:
            s = json.load(f)
        if s.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.state_path}: unknown state format {s.get('format')}")
        if s["seed"] != self.cfg.seed:
            raise ValueError(
                f"{self.state_path} was trained with seed {s['seed']}, not {self.cfg.seed}: "
                f"pass --seed {s['seed']} or use another --name or --checkpoints"
            )
        if s.get("log") != os.path.abspath(self.log_path):
            log(
                f"warning: the state's offset is into {s.get('log')}; reading {os.path.abspath(self.log_path)} "
                "from it (the same log under another path?)"
            )
        self.offset = s["offset"]
        self.consumed = s["consumed"]
        self.updates = s["updates"]
        self.steps = s["steps"]
        self.params = _from_lists(s["params"], self.cfg.features)
        self.adam = {
            "t": s["adam"]["t"],
            "m": _from_lists(s["adam"]["m"], self.cfg.features),
            "v": _from_lists(s["adam"]["v"], self.cfg.features),
        }

    def _restore_metrics(self):
        """The durable counters, and the gauges of the last checkpoint's JSON when it is there."""
        self.metrics.set(updates=self.updates, consumed=self.consumed)
        if not self.updates:
            return
        cid = self.checkpoint_id(self.updates)
        try:
            with open(os.path.join(self.dir, f"{cid}.json")) as f:
                info = json.load(f)
            when = os.path.getmtime(os.path.join(self.dir, f"{cid}.onnx"))
        except (OSError, ValueError):
            return  # the counters are enough; the gauges come with the next update
        self.metrics.checkpoint(dict(info, update=self.updates, transitions_consumed=self.consumed), when)

    def _save_state(self):
        s = {
            "format": STATE_FORMAT,
            "name": self.cfg.name,
            "log": os.path.abspath(self.log_path),
            "offset": self.offset,
            "consumed": self.consumed,
            "updates": self.updates,
            "steps": self.steps,
            "seed": self.cfg.seed,
            "last_checkpoint": self.checkpoint_id(self.updates) if self.updates else None,
            "params": _to_lists(self.params),
            "adam": {"t": self.adam["t"], "m": _to_lists(self.adam["m"]), "v": _to_lists(self.adam["v"])},
        }
        write_atomic(self.state_path, json.dumps(s, separators=(",", ":")))

    def poll(self):
        """Reads the records completed since the last poll, up to one batch; returns how many.

        At most `every_transitions` are held at a time, so a long log is read
        (and trained on) batch by batch in bounded memory.
        """
        room = self.cfg.every_transitions - len(self.pending)
        if room <= 0:
            return 0
        records, ends = read_log(self.log_path, self.read_offset, limit=room)
        for r, e in zip(records, ends):
            self.pending.append((r, e))
        if ends:
            self.read_offset = ends[-1]
        return len(records)

    def _batch(self, records):
        cfg = self.cfg
        size = cfg.window * cfg.features
        obs, actions, probs, rewards, instruments = [], [], [], [], []
        for r in records:
            o = r["observation"]
            if len(o) != size:
                raise ValueError(
                    f"a transition has {len(o)} observation values, expected window {cfg.window} x "
                    f"features {cfg.features} = {size} (set --window/--features as the policy's config)"
                )
            if len(r["probabilities"]) != graph.ACTIONS or not 0 <= r["action"] < graph.ACTIONS:
                raise ValueError(f"a transition has {len(r['probabilities'])} actions, the graph {graph.ACTIONS}")
            obs.append(o)
            actions.append(r["action"])
            probs.append(r["probabilities"])
            rewards.append(r["reward"])
            instruments.append(r["instrument"])
        return (
            np.array(obs, dtype=np.float64).reshape(len(records), cfg.window, cfg.features),
            np.array(actions, dtype=np.int64),
            np.array(probs, dtype=np.float64),
            np.array(rewards, dtype=np.float64),
            instruments,
        )

    def train(self, count):
        """One PPO update on the next `count` pending transitions; writes checkpoint, metrics, state."""
        cfg = self.cfg
        chunk = self.pending[:count]
        batch = self._batch([r for r, _ in chunk])
        update = self.updates + 1
        t0 = time.perf_counter()
        metrics = ppo.update(self.params, self.adam, batch, cfg, cfg.seed, update)
        evaluation = ppo.evaluate(self.params, batch, cfg)
        seconds = time.perf_counter() - t0
        weights = {n: self.params[n].astype(np.float32) for n in graph.NAMES}
        model = graph.build_model(weights, cfg.window, cfg.features, producer_name="wasmtrade-learner")
        cid = self.checkpoint_id(update)
        end = chunk[-1][1]
        write_atomic(os.path.join(self.dir, f"{cid}.onnx"), model.SerializeToString())
        info = {
            "id": cid,
            "name": cfg.name,
            "seed": cfg.seed,
            "update": update,
            "transitions": len(chunk),
            "transitions_consumed": self.consumed + len(chunk),
            "log": os.path.abspath(self.log_path),
            "log_offset": end,
            "optimizer_steps": self.steps + metrics["optimizer_steps"],
            "train": metrics,
            "eval": evaluation,
            "eval_score": evaluation["score"],
            "hyperparameters": cfg.hyper(),
            "train_seconds": round(seconds, 4),
        }
        write_atomic(os.path.join(self.dir, f"{cid}.json"), json.dumps(info, indent=1) + "\n")
        self.offset = end
        self.consumed += len(chunk)
        self.updates = update
        self.steps += metrics["optimizer_steps"]
        self._save_state()
        del self.pending[:count]
        self.last_train = time.monotonic()
        self.metrics.checkpoint(info, time.time())
        log(
            f"checkpoint {cid}: {len(chunk)} transitions (consumed {self.consumed}, offset {end}), "
            f"loss {metrics['loss']:.5f}, entropy {metrics['entropy']:.4f}, "
            f"eval score {evaluation['score']:.6g} (behaviour {evaluation['behaviour_mean_reward']:.6g}), "
            f"{seconds:.3f} s"
        )
        return cid

    def step(self, flush=False, timer=True):
        """Trains on what the schedule says; returns the checkpoint ids written.

        Every full batch of `every_transitions` is trained on; the rest only
        when `every_minutes` have passed since the last update (timer) or on
        `flush`, and only if at least `min_transitions`.
        """
        cfg = self.cfg
        out = []
        while len(self.pending) >= cfg.every_transitions:
            out.append(self.train(cfg.every_transitions))
        due = flush or (timer and time.monotonic() - self.last_train >= cfg.every_minutes * 60.0)
        if due and len(self.pending) >= max(1, cfg.min_transitions):
            out.append(self.train(len(self.pending)))
        elif due:
            self.last_train = time.monotonic()
        return out

    def run(self):
        if self.cfg.once:
            written = []
            while self.poll():
                written += self.step(timer=False)
            written += self.step(flush=True)
            if not written:
                log(f"no checkpoint: {len(self.pending)} new transitions, fewer than --min-transitions")
            return written
        while True:
            while self.poll():
                self.step()
            self.step()
            time.sleep(self.cfg.poll_seconds)
