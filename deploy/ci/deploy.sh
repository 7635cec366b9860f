#!/usr/bin/env bash
# Deploys the chart and proves the release works, or rolls it back.
# Used by deploy/ci/github-workflow.yaml; runs as well by hand:
#   NAMESPACE=wasmtrade-dev VALUES=deploy/helm/wasmtrade/values-dev.yaml \
#   DIGEST=sha256:... deploy/ci/deploy.sh
#
# 1. helm upgrade --install (the image pinned by digest, --wait off: the
#    StatefulSet's rollout is watched explicitly below)
# 2. kubectl rollout status (a pod that never becomes ready fails here)
# 3. health: /readyz of every pod (through a port-forward), and
#    `helm test` (an authenticated API call from inside the cluster)
# 4. any failure: helm rollback to the previous revision, then delete the
#    pods still on the broken revision (a StatefulSet does not replace a pod
#    that never became ready: the forced-rollback caveat), and exit 1.
set -euo pipefail

: "${NAMESPACE:?}" "${VALUES:?}" "${DIGEST:?}"
RELEASE=${RELEASE:-wasmtrade}
CHART=${CHART:-deploy/helm/wasmtrade}
TIMEOUT=${TIMEOUT:-600s}
STS="statefulset/${RELEASE}"
[ "$RELEASE" = wasmtrade ] || STS="statefulset/${RELEASE}-wasmtrade"

previous=$(helm history "$RELEASE" -n "$NAMESPACE" --max 1 -o json 2>/dev/null |
  python3 -c 'import json,sys; h=json.load(sys.stdin); print(h[-1]["revision"] if h else "")' || true)

rollback() {
  echo "::error::release ${RELEASE} failed: rolling back" >&2
  kubectl -n "$NAMESPACE" get pods -l "app.kubernetes.io/instance=${RELEASE}" -o wide || true
  if [ -n "$previous" ]; then
    helm rollback "$RELEASE" "$previous" -n "$NAMESPACE" --wait --timeout "$TIMEOUT" || true
    # Pods of the broken revision that never became ready are not replaced
    # by the StatefulSet controller on their own: delete them.
    revision=$(kubectl -n "$NAMESPACE" get "$STS" -o jsonpath='{.status.updateRevision}')
    kubectl -n "$NAMESPACE" delete pod --wait=false \
      -l "app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=runtime,controller-revision-hash!=${revision}" || true
    kubectl -n "$NAMESPACE" rollout status "$STS" --timeout "$TIMEOUT" || true
  else
    echo "no previous revision: leaving the failed first install for inspection" >&2
  fi
  exit 1
}
trap rollback ERR

helm upgrade --install "$RELEASE" "$CHART" -n "$NAMESPACE" -f "$VALUES" \
  --set image.digest="$DIGEST" --history-max 20 --timeout "$TIMEOUT"

kubectl -n "$NAMESPACE" rollout status "$STS" --timeout "$TIMEOUT"

for pod in $(kubectl -n "$NAMESPACE" get pods -l "app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=runtime" -o name); do
  kubectl -n "$NAMESPACE" port-forward "$pod" 19464:9464 >/dev/null &
  forward=$!
  ok=0
  for _ in $(seq 1 20); do
    if curl -fsS http://127.0.0.1:19464/readyz >/dev/null 2>&1; then ok=1; break; fi
    sleep 1
  done
  kill "$forward" 2>/dev/null || true
  wait "$forward" 2>/dev/null || true
  [ "$ok" = 1 ] || { echo "${pod}: /readyz did not answer 200" >&2; false; }
  echo "${pod}: ready"
done

helm test "$RELEASE" -n "$NAMESPACE" --timeout 120s --logs
trap - ERR
echo "release ${RELEASE} in ${NAMESPACE}: deployed and healthy"
