"""Times onnxruntime on one observation at a time (batch 1, one thread): the
reference figure for tests/benches/policy.rs.

Usage: bench_onnxruntime.py MODEL.onnx OBSERVATIONS.json N
Prints one JSON object: {"onnxruntime": version, "p50_us": ..., "p99_us": ..., "mean_us": ...}
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    model, observations, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    obs = json.load(open(observations))
    window, features = obs["window"], obs["features"]
    xs = [np.asarray(o, dtype=np.float32).reshape(1, window, features) for o in obs["observations"]]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    for x in xs[:50]:
        sess.run(None, {"observation": x})
    times = []
    for i in range(n):
        x = xs[i % len(xs)]
        t = time.perf_counter_ns()
        sess.run(None, {"observation": x})
        times.append(time.perf_counter_ns() - t)
    times.sort()
    print(
        json.dumps(
            {
                "onnxruntime": ort.__version__,
                "p50_us": times[len(times) // 2] / 1e3,
                "p99_us": times[int(len(times) * 0.99)] / 1e3,
                "mean_us": sum(times) / len(times) / 1e3,
            }
        )
    )


if __name__ == "__main__":
    main()
