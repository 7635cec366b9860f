"""Prometheus metrics of the learner, served with the standard library only.

`python -m wasmtrade_learner ... --metrics-port 9465` serves, from a daemon
thread (`http.server.ThreadingHTTPServer`):

    GET /metrics   the Prometheus text format (version 0.0.4)
    GET /healthz   200 "ok" while the process runs (the pod's probes)

Every series carries the label `model` (the learner's `--name`):

    wasmtrade_learner_updates_total                    counter  PPO updates (checkpoints) written
    wasmtrade_learner_transitions_consumed_total       counter  transitions trained on
    wasmtrade_learner_policy_loss                      gauge    last update: clipped policy loss (mean over minibatches)
    wasmtrade_learner_value_loss                       gauge    last update: value loss
    wasmtrade_learner_entropy                          gauge    last update: policy entropy (training, mean over minibatches)
    wasmtrade_learner_checkpoint_score                 gauge    last checkpoint: `eval_score` (evaluation `score`)
    wasmtrade_learner_behaviour_mean_reward            gauge    last checkpoint: mean reward of the acting policy on the batch
    wasmtrade_learner_last_checkpoint_timestamp_seconds gauge   when the last checkpoint was written (Unix time)

The two counters are the learner's durable totals (learner-state.json): a
restarted learner continues them rather than starting at 0, and takes the
gauges from its last checkpoint's `<id>.json`. A gauge with no value yet
(no checkpoint so far) has no sample.
"""

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (name, type, help, key in the state); the order of the exposition.
SERIES = (
    ("wasmtrade_learner_updates_total", "counter",
     "PPO updates (checkpoints) the learner has written for the model.", "updates"),
    ("wasmtrade_learner_transitions_consumed_total", "counter",
     "Transitions of the log the learner has trained on.", "consumed"),
    ("wasmtrade_learner_policy_loss", "gauge",
     "Clipped PPO policy loss of the last update (mean over its minibatches).", "policy_loss"),
    ("wasmtrade_learner_value_loss", "gauge",
     "Value (critic) loss of the last update (mean over its minibatches).", "value_loss"),
    ("wasmtrade_learner_entropy", "gauge",
     "Policy entropy during the last update (mean over its minibatches).", "entropy"),
    ("wasmtrade_learner_checkpoint_score", "gauge",
     "Evaluation score of the last checkpoint (eval_score: the new policy's importance-weighted "
     "mean reward per decision on the batch, off-policy).", "score"),
    ("wasmtrade_learner_behaviour_mean_reward", "gauge",
     "Mean reward per decision of the acting policy on the last checkpoint's batch "
     "(what checkpoint_score compares with).", "behaviour_mean_reward"),
    ("wasmtrade_learner_last_checkpoint_timestamp_seconds", "gauge",
     "Unix time at which the last checkpoint was written.", "last_checkpoint_time"),
)

METRIC_NAMES = tuple(s[0] for s in SERIES)


def _value(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def _label(v):
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class LearnerMetrics:
    """The figures of one learner; updated by the training loop, read by the HTTP thread."""

    def __init__(self, model):
        self.model = model
        self._lock = threading.Lock()
        self._values = {"updates": 0, "consumed": 0}

    def set(self, **values):
        with self._lock:
            self._values.update({k: v for k, v in values.items() if v is not None})

    def get(self, key):
        with self._lock:
            return self._values.get(key)

    def checkpoint(self, info, when):
        """Takes the figures of a checkpoint's metrics JSON (`Learner.train` writes it) written at `when`."""
        train, evaluation = info.get("train", {}), info.get("eval", {})
        self.set(
            updates=info.get("update"),
            consumed=info.get("transitions_consumed"),
            policy_loss=train.get("policy_loss"),
            value_loss=train.get("value_loss"),
            entropy=train.get("entropy"),
            score=info.get("eval_score", evaluation.get("score")),
            behaviour_mean_reward=evaluation.get("behaviour_mean_reward"),
            last_checkpoint_time=when,
        )

    def render(self):
        """The exposition in the Prometheus text format."""
        with self._lock:
            values = dict(self._values)
        labels = f'{{model="{_label(self.model)}"}}'
        out = []
        for name, kind, help_text, key in SERIES:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            if values.get(key) is not None:
                out.append(f"{name}{labels} {_value(values[key])}")
        return "\n".join(out) + "\n"


class _Handler(BaseHTTPRequestHandler):
    metrics = None  # set on the subclass `serve` makes

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, self.metrics.render(), CONTENT_TYPE)
        elif path == "/healthz":
            self._answer(200, "ok\n", "text/plain; charset=utf-8")
        else:
            self._answer(404, "not found: /metrics or /healthz\n", "text/plain; charset=utf-8")

    def _answer(self, status, text, content_type):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        pass  # one line per scrape would drown the learner's own log


def serve(metrics, host="0.0.0.0", port=9465):
    """Serves `metrics` on host:port from a daemon thread; returns the server (`server_address`, `shutdown()`)."""
    handler = type("LearnerMetricsHandler", (_Handler,), {"metrics": metrics})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server
