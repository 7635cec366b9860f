"""The runtime's configs the chart and kustomize render, checked by the real
binary: `wasmtrade serve --config X --print-config` must accept each one (the
runtime refuses unknown keys and bad values, all reported at once), and the
pod spec next to it must give the shutdown enough time
(terminationGracePeriodSeconds >= preStop sleep + server.shutdown_grace_secs + 5).
Then every key of examples/wasmtrade.toml goes through the chart's `config`
value and back: the chart's TOML writer loses nothing (integers stay
integers, decimals stay strings, nested tables and arrays survive).

    python3 deploy/tests/check_configs.py BINARY OUTDIR
"""

import os
import pathlib
import subprocess
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy/helm/wasmtrade"
OWNED = {("data_dir",), ("server", "listen"), ("server", "ops_listen"), ("server", "token_file")}

problems = []


def print_config(binary, path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASMTRADE")}
    r = subprocess.run([binary, "serve", "--config", str(path), "--print-config"],
                       capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        problems.append(f"{path}: wasmtrade refuses it:\n{r.stderr.strip()}")
        return None
    return tomllib.loads(r.stdout)


def flatten(d, prefix=()):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from flatten(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def check_renderings(binary, out):
    count = 0
    for path in sorted((out / "manifests").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        cms = [d for d in docs if d["kind"] == "ConfigMap" and "wasmtrade.toml" in d.get("data", {})]
        sts = [d for d in docs if d["kind"] == "StatefulSet" and "ib-gateway" not in d["metadata"]["name"]]
        if len(cms) != 1 or len(sts) != 1:
            problems.append(f"{path.name}: want one runtime ConfigMap and StatefulSet, got {len(cms)} and {len(sts)}")
            continue
        name = path.stem
        cfg_dir = out / "config" / name
        cfg_dir.mkdir(parents=True, exist_ok=True)
        cfg_file = cfg_dir / "wasmtrade.toml"
        cfg_file.write_text(cms[0]["data"]["wasmtrade.toml"])
        effective = print_config(binary, cfg_file)
        if effective is None:
            continue
        count += 1
        pod = sts[0]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        grace = pod.get("terminationGracePeriodSeconds", 30)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        shutdown = effective["server"]["shutdown_grace_secs"]
        if grace < pre_stop + shutdown + 5:
            problems.append(f"{path.name}: terminationGracePeriodSeconds {grace} < preStop {pre_stop} + shutdown_grace_secs {shutdown} + 5")
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        if effective["server"]["listen"] != f"0.0.0.0:{ports['grpc']}":
            problems.append(f"{path.name}: server.listen {effective['server']['listen']} is not the grpc port {ports['grpc']}")
        if effective["server"].get("ops_listen") != f"0.0.0.0:{ports['ops']}":
            problems.append(f"{path.name}: server.ops_listen {effective['server'].get('ops_listen')} is not the ops port {ports['ops']}")
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        if str(effective["data_dir"]) != mounts.get("data"):
            problems.append(f"{path.name}: data_dir {effective['data_dir']} is not the data volume {mounts.get('data')}")
        if not str(effective["server"].get("token_file", "")).startswith(mounts.get("api-token", "?") + "/"):
            problems.append(f"{path.name}: server.token_file is not in the API token volume")
    return count


def check_round_trip(binary, out):
    example = ROOT / "examples/wasmtrade.toml"
    values = out / "round-trip-values.yaml"
    values.write_text(yaml.safe_dump({"config": tomllib.loads(example.read_text())}))
    r = subprocess.run(["helm", "template", "wasmtrade", str(CHART), "-f", str(values),
                        "--show-only", "templates/configmap.yaml"], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"helm template with examples/wasmtrade.toml as config: {r.stderr.strip()}")
        return 0
    rendered = out / "config" / "round-trip" / "wasmtrade.toml"
    rendered.parent.mkdir(parents=True, exist_ok=True)
    rendered.write_text(yaml.safe_load(r.stdout)["data"]["wasmtrade.toml"])
    want, got = print_config(binary, example), print_config(binary, rendered)
    if want is None or got is None:
        return 0
    want = {k: v for k, v in flatten(want) if k not in OWNED}
    got = {k: v for k, v in flatten(got) if k not in OWNED}
    keys = 0
    for k in sorted(set(want) | set(got)):
        keys += 1
        if want.get(k) != got.get(k):
            problems.append(f"round trip: {'.'.join(k)}: examples/wasmtrade.toml gives {want.get(k)!r}, the chart's TOML {got.get(k)!r}")
    return keys


def main(binary, out):
    out = pathlib.Path(out)
    renderings = check_renderings(binary, out)
    keys = check_round_trip(binary, out)
    for p in problems:
        print("configs:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"configs: {renderings} rendered configs accepted by wasmtrade; {keys} settings of examples/wasmtrade.toml survive the chart")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
