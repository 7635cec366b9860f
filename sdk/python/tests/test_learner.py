"""Unit tests of the learner: python -m unittest discover -s sdk/python/tests

The forward-pass test needs onnxruntime (in target/pyenv; `pip install
./sdk/python[test]`); it is skipped without it.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from wasmtrade_learner import graph, net, ppo  # noqa: E402
from wasmtrade_learner.cli import config  # noqa: E402
from wasmtrade_learner.durable import LogCorrupt, encode_record, read_log, write_atomic  # noqa: E402
from wasmtrade_learner.learner import STATE, Config, Learner  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def transitions(n, seed=3, instruments=(0,)):
    """Seeded transitions whose reward favours action 2 when the last row's first feature is positive."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        obs = rng.normal(0.0, 1.0, size=(graph.WINDOW, graph.FEATURES)).astype(np.float32)
        logits = rng.normal(0.0, 1.0, size=3)
        p = np.exp(logits) / np.exp(logits).sum()
        a = int(rng.choice(3, p=p))
        signal = float(obs[-1, 0])
        reward = (a - 1) * signal * 10.0 + float(rng.normal(0.0, 1.0))
        out.append(
            {
                "ts": 1_700_000_000_000_000_000 + i * 60_000_000_000,
                "instrument": instruments[i % len(instruments)],
                "observation": [float(x) for x in obs.reshape(-1)],
                "action": a,
                "probabilities": [float(np.float32(x)) for x in p],
                "value": 0.0,
                "reward": reward,
            }
        )
    return out


def write_log(path, records):
    with open(path, "ab") as f:
        for r in records:
            f.write(encode_record(r))


def quiet(cfg):
    import wasmtrade_learner.learner as lmod

    lmod.log = lambda msg: None
    return cfg


class LogReaderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "transitions.log")

    def tearDown(self):
        self.tmp.cleanup()

    def test_reads_records_and_their_end_offsets(self):
        recs = transitions(5)
        write_log(self.path, recs)
        got, ends = read_log(self.path)
        self.assertEqual(got, json.loads(json.dumps(recs)))
        self.assertEqual(ends[-1], os.path.getsize(self.path))
        # resuming at an offset gives the rest
        rest, ends2 = read_log(self.path, ends[1])
        self.assertEqual(rest, got[2:])
        self.assertEqual(ends2, ends[2:])

    def test_a_partial_last_record_waits_until_complete(self):
        recs = transitions(3)
        write_log(self.path, recs[:2])
        full = encode_record(recs[2])
        size = os.path.getsize(self.path)
        for cut in (3, 8, 20, len(full) - 1):  # torn header, torn payload
            with open(self.path, "r+b") as f:
                f.truncate(size)
                f.seek(size)
                f.write(full[:cut])
            got, ends = read_log(self.path)
            self.assertEqual(len(got), 2, cut)
            self.assertEqual(ends[-1], size)
        with open(self.path, "ab") as f:
            f.write(full[len(full) - 1 :])
        got, ends = read_log(self.path)
        self.assertEqual(len(got), 3)

    def test_a_bad_checksum_in_the_last_record_is_a_torn_tail(self):
        write_log(self.path, transitions(2))
        data = bytearray(Path(self.path).read_bytes())
        data[-2] ^= 0xFF
        Path(self.path).write_bytes(bytes(data))
        got, _ = read_log(self.path)
        self.assertEqual(len(got), 1)

    def test_a_bad_checksum_before_more_records_is_corruption(self):
        recs = transitions(3)
        write_log(self.path, recs)
        first = len(encode_record(recs[0]))
        data = bytearray(Path(self.path).read_bytes())
        data[first + 20] ^= 0xFF
        Path(self.path).write_bytes(bytes(data))
        with self.assertRaises(LogCorrupt) as e:
            read_log(self.path)
        self.assertEqual(e.exception.offset, first)
        self.assertIn("checksum", str(e.exception))

    def test_the_record_format_is_len_crc_payload(self):
        rec = encode_record({"a": 1})
        n, crc = struct.unpack_from("<II", rec)
        self.assertEqual(rec[8:], b'{"a":1}')
        self.assertEqual((n, crc), (7, zlib.crc32(b'{"a":1}')))

    def test_missing_log_is_empty(self):
        self.assertEqual(read_log(self.path), ([], []))


class AtomicWriteTest(unittest.TestCase):
    def test_replaces_and_leaves_no_temp_file(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "sub", "x.json")
            write_atomic(p, "one")
            write_atomic(p, b"two")
            self.assertEqual(Path(p).read_bytes(), b"two")
            self.assertEqual(os.listdir(os.path.join(d, "sub")), ["x.json"])

    def test_a_failed_write_keeps_the_old_file(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.json")
            write_atomic(p, "old")

            real = os.write
            os.write = lambda fd, data: (_ for _ in ()).throw(OSError("disk full"))
            try:
                with self.assertRaises(OSError):
                    write_atomic(p, "new")
            finally:
                os.write = real
            self.assertEqual(Path(p).read_text(), "old")
            self.assertEqual(os.listdir(d), ["x.json"])


class NetTest(unittest.TestCase):
    def params(self, seed=7):
        return {k: v.astype(np.float64) for k, v in graph.init_weights(seed).items()}

    def test_forward_matches_onnxruntime_on_the_exported_model(self):
        try:
            import onnxruntime as ort
        except ImportError:
            self.skipTest("onnxruntime is not installed")
        rng = np.random.default_rng(5)
        for seed in (7, 8, 123):
            w = graph.init_weights(seed)
            # training moves weights off their seeded values: perturb them too
            w = {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in w.items()}
            m = graph.build_model(w, producer_name="wasmtrade-learner")
            sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            obs = rng.normal(0.0, 1.5, size=(16, graph.WINDOW, graph.FEATURES)).astype(np.float32)
            logits, value, _ = net.forward({k: v.astype(np.float64) for k, v in w.items()}, obs)
            probs = net.softmax(logits)
            for i in range(len(obs)):
                p, v = sess.run(["probabilities", "value"], {"observation": obs[i : i + 1]})
                np.testing.assert_allclose(probs[i], p[0], atol=1e-5, rtol=0)
                np.testing.assert_allclose(value[i], v[0, 0], atol=1e-5, rtol=0)

    def test_gradients_match_finite_differences(self):
        rng = np.random.default_rng(9)
        p = self.params()
        obs = rng.normal(size=(3, graph.WINDOW, graph.FEATURES))
        ca, cv = rng.normal(size=(3, graph.ACTIONS)), rng.normal(size=3)

        def loss():
            lg, v, _ = net.forward(p, obs)
            return float((lg * ca).sum() + (v * cv).sum())

        _, _, cache = net.forward(p, obs, keep=True)
        g = net.backward(p, cache, ca, cv)
        for n in graph.NAMES:
            flat = p[n].reshape(-1)
            for idx in rng.choice(flat.size, size=min(6, flat.size), replace=False):
                old = flat[idx]
                flat[idx] = old + 1e-6
                up = loss()
                flat[idx] = old - 1e-6
                down = loss()
                flat[idx] = old
                num = (up - down) / 2e-6
                self.assertAlmostEqual(g[n].reshape(-1)[idx], num, delta=1e-6 * max(1.0, abs(num)), msg=n)

    def test_ppo_loss_gradient_matches_finite_differences(self):
        cfg = Config(checkpoints="x", name="x")
        rng = np.random.default_rng(4)
        p = self.params()
        n = 5
        obs = rng.normal(size=(n, graph.WINDOW, graph.FEATURES))
        actions = rng.integers(0, 3, size=n)
        old = np.log(np.full(n, 0.3)) + rng.normal(0, 0.3, size=n)
        adv, ret = rng.normal(size=n), rng.normal(size=n)
        grads, stats = ppo._loss_grads(p, obs, actions, old, adv, ret, cfg)
        for name in ("policy.weight", "lstm.R", "conv.weight"):
            flat = p[name].reshape(-1)
            for idx in rng.choice(flat.size, size=4, replace=False):
                o = flat[idx]
                flat[idx] = o + 1e-6
                up = ppo._loss_grads(p, obs, actions, old, adv, ret, cfg)[1]["loss"]
                flat[idx] = o - 1e-6
                down = ppo._loss_grads(p, obs, actions, old, adv, ret, cfg)[1]["loss"]
                flat[idx] = o
                num = (up - down) / 2e-6
                self.assertAlmostEqual(grads[name].reshape(-1)[idx], num, delta=1e-6 * max(1.0, abs(num)), msg=name)

    def test_the_graph_is_the_test_models_graph(self):
        """make_clstm_model.py builds its models with this module: seed 7 is clstm_ppo.onnx."""
        sys.path.insert(0, str(ROOT / "tests" / "python"))
        import make_clstm_model

        a = make_clstm_model.build(7).SerializeToString()
        b = graph.build_model(graph.init_weights(7)).SerializeToString()
        self.assertEqual(a, b)
        back = graph.weights_from_model(graph.build_model(graph.init_weights(8)))
        for k, v in graph.init_weights(8).items():
            np.testing.assert_array_equal(back[k], v)


class LearnerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def cfg(self, sub="ck", **kw):
        base = dict(
            checkpoints=os.path.join(self.d, sub),
            name="clstm",
            transitions=os.path.join(self.d, "transitions.log"),
            seed=1,
            every_transitions=32,
            minibatch=16,
            epochs=2,
            once=True,
        )
        base.update(kw)
        return quiet(Config(**base))

    def test_once_writes_checkpoints_metrics_and_state(self):
        write_log(os.path.join(self.d, "transitions.log"), transitions(80))
        written = Learner(self.cfg()).run()
        self.assertEqual(written, ["ppo-000001", "ppo-000002", "ppo-000003"])  # 32 + 32 + the last 16
        out = os.path.join(self.d, "ck", "clstm")
        self.assertEqual(
            sorted(os.listdir(out)),
            ["learner-state.json"] + [f"ppo-00000{i}.{e}" for i in (1, 2, 3) for e in ("json", "onnx")],
        )
        m = json.loads(Path(os.path.join(out, "ppo-000003.json")).read_text())
        self.assertEqual(m["transitions"], 16)
        self.assertEqual(m["transitions_consumed"], 80)
        self.assertEqual(m["seed"], 1)
        for k in ("loss", "entropy", "policy_loss", "value_loss", "approx_kl"):
            self.assertTrue(np.isfinite(m["train"][k]), k)
        self.assertTrue(np.isfinite(m["eval_score"]))
        state = json.loads(Path(os.path.join(out, STATE)).read_text())
        self.assertEqual(state["offset"], os.path.getsize(os.path.join(self.d, "transitions.log")))
        import onnx

        onnx.checker.check_model(onnx.load(os.path.join(out, "ppo-000003.onnx")), full_check=True)
        # nothing new: no checkpoint
        self.assertEqual(Learner(self.cfg()).run(), [])

    def test_same_seed_and_transitions_give_the_same_bytes(self):
        write_log(os.path.join(self.d, "transitions.log"), transitions(64))
        Learner(self.cfg("a")).run()
        Learner(self.cfg("b")).run()
        Learner(self.cfg("c", seed=2)).run()
        f = lambda s: Path(os.path.join(self.d, s, "clstm", "ppo-000002.onnx")).read_bytes()  # noqa: E731
        self.assertEqual(f("a"), f("b"))
        self.assertNotEqual(f("a"), f("c"))

    def test_resume_from_the_saved_offset_gives_what_one_run_gives(self):
        log = os.path.join(self.d, "transitions.log")
        recs = transitions(96, instruments=(0, 1))
        write_log(log, recs[:40])
        # a torn record at the end is not consumed
        with open(log, "ab") as f:
            f.write(encode_record(recs[40])[:30])
        self.assertEqual(Learner(self.cfg("a", min_transitions=100)).run(), ["ppo-000001"])
        state = json.loads(Path(os.path.join(self.d, "a", "clstm", STATE)).read_text())
        self.assertEqual(state["offset"], sum(len(encode_record(r)) for r in recs[:32]))
        # the writer drops the torn tail when it reopens, then appends
        with open(log, "r+b") as f:
            f.truncate(sum(len(encode_record(r)) for r in recs[:40]))
        write_log(log, recs[40:])
        self.assertEqual(Learner(self.cfg("a")).run(), ["ppo-000002", "ppo-000003"])
        Learner(self.cfg("b")).run()
        for i in (1, 2, 3):
            name = f"ppo-00000{i}.onnx"
            self.assertEqual(
                Path(os.path.join(self.d, "a", "clstm", name)).read_bytes(),
                Path(os.path.join(self.d, "b", "clstm", name)).read_bytes(),
                name,
            )

    def test_a_state_of_another_seed_is_refused(self):
        write_log(os.path.join(self.d, "transitions.log"), transitions(32))
        Learner(self.cfg()).run()
        with self.assertRaises(ValueError) as e:
            Learner(self.cfg(seed=5))
        self.assertIn("--seed 1", str(e.exception))

    def test_training_moves_probability_towards_the_rewarded_action(self):
        log = os.path.join(self.d, "transitions.log")
        write_log(log, transitions(512, seed=21))
        Learner(self.cfg(every_transitions=128, epochs=8, minibatch=32, lr=3e-3)).run()
        first = json.loads(Path(os.path.join(self.d, "ck", "clstm", "ppo-000001.json")).read_text())
        last = json.loads(Path(os.path.join(self.d, "ck", "clstm", "ppo-000004.json")).read_text())
        # the off-policy estimate of the new policy beats the behaviour policy
        self.assertGreater(last["eval"]["score"], last["eval"]["behaviour_mean_reward"], last["eval"])
        self.assertGreater(first["eval"]["score"], first["eval"]["behaviour_mean_reward"], first["eval"])

    def test_the_timer_trains_on_what_has_come(self):
        log = os.path.join(self.d, "transitions.log")
        write_log(log, transitions(20))
        lr = Learner(self.cfg(once=False, every_transitions=1000, every_minutes=0.001, min_transitions=8))
        self.assertEqual(lr.poll(), 20)
        self.assertEqual(lr.step(), [])  # neither 1000 transitions nor the timer yet
        lr.last_train -= 1.0  # a second later: the timer (0.06 s) is due
        self.assertEqual(lr.step(), ["ppo-000001"])
        write_log(log, transitions(4, seed=9))
        lr.poll()
        lr.last_train -= 1.0
        self.assertEqual(lr.step(), [])  # 4 < min_transitions: waits for more
        self.assertEqual(len(lr.pending), 4)

    def test_a_long_log_is_read_one_batch_at_a_time(self):
        write_log(os.path.join(self.d, "transitions.log"), transitions(100))
        lr = Learner(self.cfg(once=False))
        self.assertEqual(lr.poll(), 32)
        self.assertEqual(lr.poll(), 0)  # holds one batch at most
        self.assertEqual(lr.step(timer=False), ["ppo-000001"])
        self.assertEqual(lr.poll(), 32)

    def test_init_from_a_model_of_the_graph(self):
        path = os.path.join(self.d, "start.onnx")
        Path(path).write_bytes(graph.build_model(graph.init_weights(7)).SerializeToString())
        lr = Learner(self.cfg(init=path))
        for k, v in graph.init_weights(7).items():
            np.testing.assert_array_equal(lr.params[k], v.astype(np.float64))

    def test_config_layers(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('lr = 0.01\nepochs = 7\nname = "from-toml"\n')
        try:
            env = {"WASMTRADE_LEARNER_EPOCHS": "9", "WASMTRADE_LEARNER_CHECKPOINTS": "/ck"}
            c = config(["--config", f.name, "--seed", "3", "--once"], env=env)
            self.assertEqual((c.lr, c.epochs, c.name, c.checkpoints, c.seed, c.once), (0.01, 9, "from-toml", "/ck", 3, True))
            c = config(["--config", f.name, "--epochs", "2"], env=env)
            self.assertEqual(c.epochs, 2)
        finally:
            os.unlink(f.name)

    def test_cli_once(self):
        write_log(os.path.join(self.d, "transitions.log"), transitions(40))
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        out = subprocess.run(
            [sys.executable, "-m", "wasmtrade_learner", "--checkpoints", os.path.join(self.d, "ck"),
             "--name", "clstm", "--transitions", os.path.join(self.d, "transitions.log"),
             "--every-transitions", "32", "--min-transitions", "8", "--once"],
            env=env, capture_output=True, text=True, check=False,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("checkpoint ppo-000001", out.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.d, "ck", "clstm", "ppo-000002.onnx")))
        bad = subprocess.run(
            [sys.executable, "-m", "wasmtrade_learner", "--checkpoints", self.d, "--name", "Bad Name", "--once"],
            env=env, capture_output=True, text=True, check=False,
        )
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--name", bad.stderr)


def scrape(server, path="/metrics"):
    """(status, content type, body) of GET path on the metrics server."""
    import urllib.error
    import urllib.request

    host, port = server.server_address[:2]
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def parse_exposition(text):
    """{(name, labels): value} of a Prometheus text exposition; checks HELP/TYPE come before each family's samples."""
    import re

    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')
    typed, out = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge"), line
                typed[parts[2]] = parts[3]
            continue
        m = sample.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} before its # TYPE"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return typed, out


class MetricsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.log = os.path.join(self.d, "transitions.log")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()
        self.tmp.cleanup()

    def cfg(self, **kw):
        base = dict(checkpoints=os.path.join(self.d, "ck"), name="clstm", transitions=self.log, seed=1,
                    every_transitions=32, minibatch=16, epochs=2, once=True)
        base.update(kw)
        return quiet(Config(**base))

    def serve(self, learner):
        from wasmtrade_learner.metrics import serve

        server = serve(learner.metrics, "127.0.0.1", 0)
        self.servers.append(server)
        return server

    def test_metrics_follow_the_updates_and_the_last_checkpoint(self):
        from wasmtrade_learner.metrics import CONTENT_TYPE, METRIC_NAMES

        write_log(self.log, transitions(80))
        lr = Learner(self.cfg())
        server = self.serve(lr)
        status, ctype, body = scrape(server)
        self.assertEqual((status, ctype), (200, CONTENT_TYPE))
        typed, got = parse_exposition(body)
        self.assertEqual(list(typed), list(METRIC_NAMES))
        self.assertEqual(typed["wasmtrade_learner_updates_total"], "counter")
        self.assertEqual(typed["wasmtrade_learner_transitions_consumed_total"], "counter")
        lab = '{model="clstm"}'
        # before any update: the counters at 0, no gauge sample yet
        self.assertEqual(got, {("wasmtrade_learner_updates_total", lab): 0.0,
                               ("wasmtrade_learner_transitions_consumed_total", lab): 0.0})

        before = time.time()
        self.assertEqual(lr.run(), ["ppo-000001", "ppo-000002", "ppo-000003"])
        _, _, body = scrape(server)
        _, got = parse_exposition(body)
        m = json.loads(Path(os.path.join(self.d, "ck", "clstm", "ppo-000003.json")).read_text())
        want = {
            "wasmtrade_learner_updates_total": 3,
            "wasmtrade_learner_transitions_consumed_total": 80,
            "wasmtrade_learner_policy_loss": m["train"]["policy_loss"],
            "wasmtrade_learner_value_loss": m["train"]["value_loss"],
            "wasmtrade_learner_entropy": m["train"]["entropy"],
            "wasmtrade_learner_checkpoint_score": m["eval_score"],
            "wasmtrade_learner_behaviour_mean_reward": m["eval"]["behaviour_mean_reward"],
        }
        for name, value in want.items():
            self.assertEqual(got[(name, lab)], value, name)  # repr() of a float parses back exactly
        stamp = got[("wasmtrade_learner_last_checkpoint_timestamp_seconds", lab)]
        self.assertTrue(before <= stamp <= time.time(), (before, stamp))

        # a restarted learner continues the counters and shows its last checkpoint
        lr2 = Learner(self.cfg())
        _, _, body = scrape(self.serve(lr2))
        _, again = parse_exposition(body)
        for name, value in want.items():
            self.assertEqual(again[(name, lab)], value, name)
        onnx_mtime = os.path.getmtime(os.path.join(self.d, "ck", "clstm", "ppo-000003.onnx"))
        self.assertEqual(again[("wasmtrade_learner_last_checkpoint_timestamp_seconds", lab)], onnx_mtime)

    def test_healthz_and_unknown_paths(self):
        server = self.serve(Learner(self.cfg()))
        self.assertEqual(scrape(server, "/healthz")[::2], (200, "ok\n"))
        self.assertEqual(scrape(server, "/")[0], 404)

    def test_exposition_format_of_special_values(self):
        from wasmtrade_learner.metrics import LearnerMetrics

        m = LearnerMetrics('a"b\\c')  # the model label: a"b\c
        m.set(policy_loss=float("nan"), value_loss=float("inf"), entropy=-float("inf"), score=1e-7, updates=2**60)
        text = m.render()
        lab = r'{model="a\"b\\c"}'  # escaped as the format says
        self.assertIn(f"wasmtrade_learner_policy_loss{lab} NaN\n", text)
        self.assertIn(f"wasmtrade_learner_value_loss{lab} +Inf\n", text)
        self.assertIn(f"wasmtrade_learner_entropy{lab} -Inf\n", text)
        self.assertIn(f"wasmtrade_learner_checkpoint_score{lab} 1e-07\n", text)
        self.assertIn(f"wasmtrade_learner_updates_total{lab} {float(2**60)!r}\n", text)
        self.assertIn(f"wasmtrade_learner_transitions_consumed_total{lab} 0\n", text)
        parse_exposition(text)

    def test_metrics_flags_and_a_busy_port(self):
        c = config(["--checkpoints", "/ck", "--name", "clstm", "--metrics-port", "9465", "--metrics-host", "127.0.0.1"], env={})
        self.assertEqual((c.metrics_port, c.metrics_host), (9465, "127.0.0.1"))
        self.assertEqual(config(["--name", "x"], env={"WASMTRADE_LEARNER_METRICS_PORT": "9470"}).metrics_port, 9470)
        self.assertEqual(config(["--name", "x"], env={}).metrics_port, 0)  # off unless asked for
        with self.assertRaises(ValueError):
            Learner(self.cfg(metrics_port=70000))
        # the CLI refuses a port in use with status 1 (an OSError), before training
        server = self.serve(Learner(self.cfg()))
        write_log(self.log, transitions(40))
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        out = subprocess.run(
            [sys.executable, "-m", "wasmtrade_learner", "--checkpoints", os.path.join(self.d, "ck2"), "--name", "clstm",
             "--transitions", self.log, "--once", "--metrics-host", "127.0.0.1",
             "--metrics-port", str(server.server_address[1])],
            env=env, capture_output=True, text=True, check=False,
        )
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("error:", out.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.d, "ck2", "clstm", "ppo-000001.onnx")))


if __name__ == "__main__":
    unittest.main()
