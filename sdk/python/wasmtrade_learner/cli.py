"""Settings from defaults < a TOML file (--config) < WASMTRADE_LEARNER_* env < flags."""

import argparse
import dataclasses
import os
import sys

# One BLAS thread, set before numpy loads: sums in a fixed order (the same
# seed and transitions give the same checkpoint bytes) and no contention.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .learner import Config  # noqa: E402

ENV_PREFIX = "WASMTRADE_LEARNER_"

HELP = {
    "checkpoints": "the checkpoints directory (the runtime's /checkpoints)",
    "name": "the model's name: checkpoints go to <checkpoints>/<name>/<id>.onnx",
    "transitions": "the transitions log (default <checkpoints>/<name>/transitions.log)",
    "seed": "seed of the initial weights and the minibatch shuffling",
    "every_transitions": "train on every N new transitions",
    "every_minutes": "... or every T minutes on what has come (at least --min-transitions)",
    "min_transitions": "fewest transitions the timer (and --once) trains on",
    "poll_seconds": "how often the log is read for new records",
    "once": "read what the log has, train on it (N at a time, then the rest), and exit",
    "init": "an ONNX model of the same graph to start from (default: seeded weights)",
    "window": "observation rows (the policy's config)",
    "features": "observation columns (the policy's config)",
    "reward_scale": "divide rewards by this (0: by the batch's standard deviation)",
    "metrics_port": "serve Prometheus metrics (/metrics) and /healthz on this port (0: none)",
    "metrics_host": "the address the metrics server listens on",
}


def _parse_value(field, text):
    if field.type in (bool, "bool"):
        return str(text).strip().lower() in ("1", "true", "yes", "on")
    if field.type in (int, "int"):
        return int(text)
    if field.type in (float, "float"):
        return float(text)
    return str(text)


def parser():
    p = argparse.ArgumentParser(
        prog="python -m wasmtrade_learner",
        description="PPO learner for the bundled CLSTM policy: follows the transitions log, "
        "trains on a schedule and writes checkpoints atomically.",
    )
    p.add_argument("--config", help="a TOML file of settings (keys as the flags, with _)")
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            p.add_argument(flag, dest=f.name, action="store_true", default=None, help=HELP.get(f.name))
        else:
            p.add_argument(flag, dest=f.name, default=None, help=HELP.get(f.name, f"PPO: {f.name} (default {f.default})"))
    return p


def config(argv=None, env=None):
    env = os.environ if env is None else env
    args = parser().parse_args(argv)
    fields = {f.name: f for f in dataclasses.fields(Config)}
    values = {}
    if args.config:
        import tomllib

        with open(args.config, "rb") as fh:
            for k, v in tomllib.load(fh).items():
                k = k.replace("-", "_")
                if k not in fields:
                    raise SystemExit(f"{args.config}: unknown setting {k!r}")
                values[k] = _parse_value(fields[k], v)
    for k, f in fields.items():
        if ENV_PREFIX + k.upper() in env:
            values[k] = _parse_value(f, env[ENV_PREFIX + k.upper()])
    for k, f in fields.items():
        v = getattr(args, k)
        if v is not None:
            values[k] = _parse_value(f, v)
    return Config(**values)


def main(argv=None):
    from .durable import LogCorrupt
    from .learner import Learner, log

    try:
        cfg = config(argv)
        learner = Learner(cfg)
        if cfg.metrics_port:
            from .metrics import serve

            serve(learner.metrics, cfg.metrics_host, cfg.metrics_port)
            log(f"metrics on http://{cfg.metrics_host}:{cfg.metrics_port}/metrics")
        learner.run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (ValueError, OSError, LogCorrupt) as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
