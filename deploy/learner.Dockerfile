# The learner image: wasmtrade's PPO learner (sdk/python, `python -m
# wasmtrade_learner`) on the official Python slim image, with its
# dependencies pinned to the versions its tests run with (target/pyenv:
# numpy, onnx and what onnx needs; no deep-learning framework, no GPU code).
#
# Build from the repository root; deploy/learner.Dockerfile.dockerignore
# keeps the context to sdk/python (BuildKit reads it next to this file):
#   docker build -f deploy/learner.Dockerfile -t registry.example.com/wasmtrade-learner:0.1.0 .
# It runs as the sidecar container `learner` of the runtime's pod
# (learner.enabled in the Helm chart, deploy/kustomize/components/learner;
# docs/policies.md, "Learning loop on Kubernetes"): non-root (user 65532,
# the runtime's, so both own the files of the checkpoints folder), read-only
# root filesystem (bytecode compiled here, /tmp an emptyDir), metrics and
# /healthz on 9465.
#
# deploy/check.sh lints this file (hadolint, checkov) but cannot build it:
# the base image comes from a registry, and the check machines have none.
# Pin the base image by digest where you build it
# (python:3.11.7-slim-bookworm@sha256:...), as the runtime image is pinned.

# checkov:skip=CKV_DOCKER_2: Kubernetes probes GET /healthz on the metrics port itself (the pod spec), a HEALTHCHECK would be ignored
FROM docker.io/library/python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp

WORKDIR /opt/wasmtrade-learner
COPY sdk/python/pyproject.toml sdk/python/README.md ./src/
COPY sdk/python/wasmtrade_learner/ ./src/wasmtrade_learner/

# Every distribution pinned (onnx needs protobuf, ml_dtypes and
# typing_extensions), the learner itself without dependency resolution and
# with a pinned build backend, then `pip check`. Bytecode is compiled here
# because the root filesystem is read-only at run time.
RUN pip install --no-cache-dir \
        numpy==2.4.6 \
        onnx==1.23.2 \
        protobuf==7.36.2 \
        ml_dtypes==0.7.0 \
        typing_extensions==4.16.0 \
        setuptools==84.2.1 \
    && pip install --no-cache-dir --no-deps --no-build-isolation ./src \
    && pip check \
    && python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/wasmtrade_learner" \
    && rm -rf ./src \
    && python -c "import onnx, numpy, wasmtrade_learner.cli, wasmtrade_learner.metrics"

USER 65532:65532
WORKDIR /tmp
EXPOSE 9465
ENTRYPOINT ["python", "-m", "wasmtrade_learner"]
CMD ["--help"]
