"""Compares what the Helm chart renders with what a kustomize overlay renders:
the same objects (kind, name) with the same content, once the differences
that do not matter are taken out (Helm's bookkeeping labels, checksum
annotations, kustomize's name hashes on generated ConfigMaps, the `helm test`
objects, comments in the runtime's TOML, which is compared parsed).

    python3 deploy/tests/compare_renders.py HELM.yaml KUSTOMIZE.yaml
"""

import re
import sys
import tomllib

import yaml

HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}
HASHED = re.compile(r"^(wasmtrade(?:-ib-gateway-probe)?)-[a-z0-9]{10}$")


def unhash(name):
    m = HASHED.match(name) if isinstance(name, str) else None
    return m.group(1) if m else name


def normalise(obj, path=()):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "labels" and isinstance(v, dict):
                v = {lk: lv for lk, lv in v.items() if lk not in HELM_ONLY_LABELS}
            if k == "annotations" and isinstance(v, dict):
                v = {ak: av for ak, av in v.items() if not ak.startswith("checksum/")}
                if not v:
                    continue
            if k == "name":
                v = unhash(v)
            out[k] = normalise(v, path + (k,))
        return out
    if isinstance(obj, list):
        return [normalise(v, path) for v in obj]
    return obj


def load(path):
    objs = {}
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            if doc.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") == "test":
                continue
            if doc["kind"] == "NetworkPolicy" and doc["metadata"]["name"].endswith("-test"):
                continue
            doc = normalise(doc)
            if doc["kind"] == "ConfigMap" and "wasmtrade.toml" in doc.get("data", {}):
                doc["data"]["wasmtrade.toml"] = tomllib.loads(doc["data"]["wasmtrade.toml"])
            objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def diff(a, b, path="", out=None):
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: only in kustomize: {b[k]!r}")
            elif k not in b:
                out.append(f"{path}.{k}: only in helm: {a[k]!r}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: helm {a!r} != kustomize {b!r}")
    return out


def main(helm_path, kustomize_path):
    helm, kust = load(helm_path), load(kustomize_path)
    problems = []
    for key in sorted(set(helm) - set(kust)):
        problems.append(f"{key[0]}/{key[1]}: rendered by helm only")
    for key in sorted(set(kust) - set(helm)):
        problems.append(f"{key[0]}/{key[1]}: rendered by kustomize only")
    for key in sorted(set(helm) & set(kust)):
        for d in diff(helm[key], kust[key]):
            problems.append(f"{key[0]}/{key[1]}{d}")
    for p in problems:
        print("helm vs kustomize:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"helm vs kustomize: {len(helm)} objects, same kinds, names and content")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
