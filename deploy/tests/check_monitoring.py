"""Checks the monitoring files that no Kubernetes schema covers: the alert
rules (deploy/prometheus/alerts.yaml), the Grafana dashboard
(deploy/grafana/wasmtrade-dashboard.json) and the Prometheus Operator objects
the chart and the kustomize component render (ServiceMonitor,
PrometheusRule: CRDs, so kubernetes-validate has no schema for them).

Every PromQL expression is parsed (promql-parser, the Rust parser of the
Prometheus grammar) and every metric it reads must be a metric the runtime
exports (docs/observability.md's list plus the ops contract below) or one
the learner sidecar exports (the SERIES table of
sdk/python/wasmtrade_learner/metrics.py, read from the source).

    python3 deploy/tests/check_monitoring.py RENDERED_CRDS.yaml...
"""

import ast
import json
import pathlib
import re
import sys

import promql_parser
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The ops port's contract (runtime/ops): the names the alerts and the
# dashboard rely on, whether or not docs/observability.md lists them yet.
CONTRACT = {
    "wasmtrade_up", "wasmtrade_ready", "wasmtrade_kill_switch_engaged",
    "wasmtrade_risk_rejections_total", "wasmtrade_guest_quarantines_total",
    "wasmtrade_guest_faults_total", "wasmtrade_swaps_total", "wasmtrade_orders_total",
    "wasmtrade_fills_total", "wasmtrade_portfolio_value", "wasmtrade_daily_pnl",
    "wasmtrade_broker_connected", "wasmtrade_events_total",
    # The policies' shadow evaluation of candidate models (issue 19), on the
    # dashboard's "Learning loop" row: score per role (candidate, active),
    # decisions compared, verdicts (promote, keep, refuse).
    "wasmtrade_policy_shadow_score", "wasmtrade_policy_shadow_decisions",
    "wasmtrade_policy_model_verdicts_total",
}
LEARNER_METRICS = ROOT / "sdk/python/wasmtrade_learner/metrics.py"
SCRAPE = {"up"}  # Prometheus' own series per target
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
SEVERITIES = {"critical", "warning", "info"}

problems = []


def learner_metrics():
    """The names of the learner's SERIES table (name, type, help, key), from its source."""
    tree = ast.parse(LEARNER_METRICS.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SERIES" for t in node.targets):
            names = {row[0] for row in ast.literal_eval(node.value)}
            if not names or not all(n.startswith("wasmtrade_learner_") for n in names):
                problems.append(f"{LEARNER_METRICS.name}: SERIES names {sorted(names)}")
            return names
    problems.append(f"{LEARNER_METRICS.relative_to(ROOT)}: no SERIES table of metric names")
    return set()


def known_metrics():
    names = set(CONTRACT) | SCRAPE | learner_metrics()
    doc = ROOT / "docs/observability.md"
    if doc.exists():
        names |= set(re.findall(r"\bwasmtrade_[a-z0-9_]*[a-z0-9]\b", doc.read_text()))
    return names


def metric_names(node, out):
    kind = type(node).__name__
    if kind == "VectorSelector":
        if node.name:
            out.add(node.name)
        else:
            out.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        return out
    if kind == "MatrixSelector":
        return metric_names(node.vector_selector, out)
    for attr in ("expr", "lhs", "rhs", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            metric_names(child, out)
    for arg in getattr(node, "args", None) or []:
        metric_names(arg, out)
    return out


def check_expr(where, expr, allowed):
    # Grafana's variables are not PromQL.
    text = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    text = re.sub(r"\$\{?[a-z_]+\}?", "x", text)
    try:
        ast = promql_parser.parse(text)
    except Exception as e:  # the parser raises ValueError with the position
        problems.append(f"{where}: PromQL does not parse: {e}: {expr}")
        return
    for name in sorted(metric_names(ast, set())):
        if name not in allowed:
            problems.append(f"{where}: unknown metric {name} (not exported by the runtime: docs/observability.md, "
                            f"nor by the learner: {LEARNER_METRICS.relative_to(ROOT)})")


def check_groups(where, groups, allowed):
    if not isinstance(groups, list) or not groups:
        problems.append(f"{where}: no rule groups")
        return
    records = {r["record"] for g in groups for r in g.get("rules", []) if "record" in r}
    allowed = allowed | records
    seen = set()
    for g in groups:
        if set(g) - {"name", "rules", "interval", "limit"} or not g.get("name"):
            problems.append(f"{where}: group {g.get('name')!r}: unexpected keys or no name")
        if g.get("name") in seen:
            problems.append(f"{where}: group {g['name']} twice")
        seen.add(g.get("name"))
        for r in g.get("rules", []):
            rid = r.get("alert") or r.get("record")
            at = f"{where}: {g['name']}/{rid}"
            if ("alert" in r) == ("record" in r):
                problems.append(f"{at}: a rule is an alert or a record")
            allowed_keys = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"} if "alert" in r else {"record", "expr", "labels"}
            if set(r) - allowed_keys:
                problems.append(f"{at}: unexpected keys {sorted(set(r) - allowed_keys)}")
            if "for" in r and not DURATION.match(str(r["for"])):
                problems.append(f"{at}: bad duration {r['for']!r}")
            if "alert" in r:
                if r.get("labels", {}).get("severity") not in SEVERITIES:
                    problems.append(f"{at}: labels.severity must be one of {sorted(SEVERITIES)}")
                if not r.get("annotations", {}).get("summary"):
                    problems.append(f"{at}: no summary annotation")
            if not isinstance(r.get("expr"), str):
                problems.append(f"{at}: expr must be a string")
                continue
            check_expr(at, r["expr"], allowed)


def check_rule_file(allowed):
    path = ROOT / "deploy/prometheus/alerts.yaml"
    doc = yaml.safe_load(path.read_text())
    check_groups(str(path.relative_to(ROOT)), doc.get("groups"), allowed)
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    for need in ("WasmtradeDown", "WasmtradeBrokerDisconnected", "WasmtradeKillSwitchEngaged",
                 "WasmtradeDailyLossNearLimit", "WasmtradeGuestQuarantined"):
        if need not in alerts:
            problems.append(f"alerts.yaml: no {need} alert")
    return len(alerts)


def check_dashboard(allowed):
    path = ROOT / "deploy/grafana/wasmtrade-dashboard.json"
    d = json.loads(path.read_text())
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        if key not in d:
            problems.append(f"{path.name}: no {key}")
    ids, exprs = set(), 0
    for p in d.get("panels", []):
        if p.get("id") in ids:
            problems.append(f"{path.name}: panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")) or g.get("x", 0) + g.get("w", 0) > 24:
            problems.append(f"{path.name}: panel {p.get('title')!r}: bad gridPos {g}")
        for t in p.get("targets", []):
            exprs += 1
            check_expr(f"{path.name}: {p.get('title')!r}", t.get("expr", ""), allowed)
    return len(d.get("panels", [])), exprs


def check_rendered(paths, allowed):
    count = 0
    for path in paths:
        for doc in yaml.safe_load_all(pathlib.Path(path).read_text()):
            if not doc:
                continue
            count += 1
            where = f"{pathlib.Path(path).name}: {doc['kind']}/{doc['metadata']['name']}"
            if doc.get("apiVersion") != "monitoring.coreos.com/v1":
                problems.append(f"{where}: apiVersion {doc.get('apiVersion')}")
            spec = doc.get("spec", {})
            if doc["kind"] == "ServiceMonitor":
                if not spec.get("selector", {}).get("matchLabels"):
                    problems.append(f"{where}: no selector")
                for ep in spec.get("endpoints", []) or [None]:
                    if not ep or not ep.get("port") or not DURATION.match(str(ep.get("interval", "30s"))):
                        problems.append(f"{where}: endpoint needs a named port and a valid interval: {ep}")
            elif doc["kind"] == "PrometheusRule":
                if set(spec) != {"groups"}:
                    problems.append(f"{where}: spec has {sorted(spec)}")
                check_groups(where, spec.get("groups"), allowed)
            else:
                problems.append(f"{where}: unexpected kind")
    return count


def main(paths):
    allowed = known_metrics()
    alerts = check_rule_file(allowed)
    panels, exprs = check_dashboard(allowed)
    objects = check_rendered(paths, allowed)
    for p in problems:
        print("monitoring:", p, file=sys.stderr)
    if problems:
        return 1
    print(f"monitoring: {alerts} alerts, {panels} dashboard panels ({exprs} queries), "
          f"{objects} ServiceMonitor/PrometheusRule objects: PromQL parses, metrics known")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
