# Front door for developer tasks. See README.md.
#
#   make demo   build the binary and the one guest the demo runs, backtest sma-cross on
#               embedded synthetic data, then run `wasmtrade serve` and upload, hot-swap,
#               shadow and promote it (~8 min cold on 2 cores, a few seconds when built)
#   make test   everything CI runs: set-up, format, lints, guests, all tests, deploy checks;
#               prints each stage's duration at the end
#   make check  the inner loop: format, clippy and unit tests of the crates you changed
#   make guests every guest in the repository (wasm32-wasip2, profile `guest`)
#   make bench  throughput (wasm vs native), serve (swap pause, API, stream), sandbox (fuel/epoch, pooling),
#               kill (kill switch under full load), durability (journal, restart to ready)
#   make bench-peers  wasmtrade beside backtesting.py and vectorbt on one generated 200k-bar file:
#               the same SMA-cross trades (checked), bars/s and ratios, and a 100-combination sweep
#   make soak   ten minutes of trading with partial fills: RSS, store size and restart time stay flat
#   make fuzz   coverage-guided fuzz runs (libFuzzer, AddressSanitizer, nightly) of guest loading
#               and CSV parsing; `make test` replays their entry points over every saved input
#               and a fixed set of mutations on stable (runtime/host/tests/fuzz_corpus.rs)

GUESTS := sma-cross rsi-reversion sma ema rsi macd bollinger atr breakout clstm-ppo \
	hostile-infinite-loop hostile-deep-recursion hostile-memory-bomb hostile-trap-on-nth \
	hostile-order-flood hostile-log-flood hostile-forbidden-import hostile-bad-snapshot \
	hostile-reject-storm hostile-host-call-storm
GUEST_FLAGS := $(foreach g,$(GUESTS),-p $(g))
# What `make demo` runs: examples/serve_demo.sh uploads sma-cross only.
DEMO_GUESTS := sma-cross
GUEST_DIR := target/wasm32-wasip2/guest
PYENV := target/pyenv
PY := $(PYENV)/bin/python
TIMED := .ci/timed.sh

.PHONY: browser browser-install demo demo-build test check guests lint clippy bench bench-peers fuzz soak setup python deploy-check deploy-tools

# Temporary files (tests' data dirs, the C++ compiler's scratch files) go
# under target/, on the disk that holds the build, not a possibly small /tmp.
export TMPDIR := $(CURDIR)/target/tmp
$(shell mkdir -p $(TMPDIR))

demo: demo-build
	target/release/wasmtrade backtest \
		--strategy $(GUEST_DIR)/sma_cross.wasm --config fast=10,slow=30 \
		--cash 10000 --commission 0.001 --trades-csv target/demo-trades.csv
	examples/serve_demo.sh target/release/wasmtrade

# The binary and the demo's guest only. The guest build is small, so it goes
# first (a broken toolchain shows in seconds, not after the long build).
# `--workspace --bins` resolves features exactly as `cargo test --workspace`
# does (proto/Cargo.toml explains the one difference it had to remove), so
# after `make test` this is a no-op and the demo runs the tested binary.
demo-build: setup $(GUEST_DIR)/sma_cross.wasm
	cargo build --workspace --release --bins

# The demo's guest, built only when it is missing or older than its sources:
# `make guests` builds it together with every other guest, where dependency
# features unify differently, so building it alone after `make test` would
# recompile its dependencies (~15 s) for the same guest.
DEMO_SOURCES := $(shell find guests/strategies/sma-cross sdk/src sdk/wit -type f 2>/dev/null) \
	sdk/Cargo.toml Cargo.toml Cargo.lock rust-toolchain.toml
$(GUEST_DIR)/sma_cross.wasm: $(DEMO_SOURCES) | setup
	cargo build --profile guest --target wasm32-wasip2 $(foreach g,$(DEMO_GUESTS),-p $(g))
	@touch $@

# The toolchain rust-toolchain.toml names (with its components and the
# wasm32-wasip2 target): rustup does not install it on its own here.
setup:
	@if command -v rustup >/dev/null; then \
		rustup toolchain install >/dev/null 2>&1 || rustup toolchain install; \
		rustup target add wasm32-wasip2 >/dev/null; \
	else \
		echo "rustup not found: make sure the toolchain of rust-toolchain.toml and its wasm32-wasip2 target are installed"; \
	fi

guests: setup
	cargo build --profile guest --target wasm32-wasip2 $(GUEST_FLAGS)

# Python reference tools for cross-checks; the stamp's name changes with the list.
# flock: `make test` installs them in the background while it compiles.
PY_REQS := "TA-Lib==0.8.2" "numpy>=1.26" "grpcio-tools==1.85.1" "onnx==1.23.2" "onnxruntime==1.31.1" "QuantLib==1.44"
PY_STAMP := $(PYENV)/.installed-4

python:
	@mkdir -p target
	flock target/pyenv.lock $(MAKE) --no-print-directory $(PY_STAMP)

$(PY_STAMP):
	test -x $(PY) || python3 -m venv $(PYENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(PY_REQS)
	touch $@

lint: clippy
	cargo fmt --all --check

# In the release profile: the proc macros and build scripts it compiles
# (syn, serde_derive, cranelift's generated code, …) are the ones the
# release build reuses, instead of a second debug copy of each.
clippy:
	cargo clippy --workspace --all-targets --release -- -D warnings
	cargo clippy --target wasm32-wasip2 -p wasmtrade-sdk $(GUEST_FLAGS) -- -D warnings

# `make test` lints while it compiles: clippy-driver (what `cargo clippy`
# runs) wraps rustc for the workspace's own crates, so every target
# `make clippy` lints — native with --all-targets, and the SDK and guests
# for wasm32 — is linted with `-D warnings` in the build that the tests
# then run, and the dependency tree is not type-checked a second time
# (the separate clippy stage took ~300 s of a 37-min CI here). CLIPPY_ARGS
# is how cargo-clippy hands its arguments to clippy-driver; cargo keeps
# both in the fingerprints, so the tests stage reuses that build. A later
# plain `cargo build` (`make demo`) compiles the workspace's crates once
# more, not their dependencies.
LINTED := env RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# Every stage timed; the table of durations is printed at the end (and when
# a stage fails). The Python tools and the deploy-check tools download and
# install in the background while the Rust code compiles (logs in target/).
# One feature resolution for everything native: `cargo test --workspace`
# builds the release binary too (runtime/wasmtrade has an integration test),
# so the binary the e2e tests run, deploy-check checks and the image ships
# is compiled once. `--all-targets` builds (and lints) the benchmarks too;
# the tests stage does not run them (`make bench` does).
test:
	@$(TIMED) --reset
	@$(TIMED) setup $(MAKE) --no-print-directory setup
	@echo "installing the Python and deploy-check tools in the background (target/python.log, target/deploy-tools.log)"
	@($(MAKE) --no-print-directory python >target/python.log 2>&1 &)
	@($(MAKE) --no-print-directory browser >target/browser.log 2>&1 &)
	@(deploy/check.sh --tools >target/deploy-tools.log 2>&1 &)
	@$(TIMED) fmt cargo fmt --all --check
	@$(TIMED) guests+lint $(LINTED) cargo build --profile guest --target wasm32-wasip2 -p wasmtrade-sdk $(GUEST_FLAGS)
	@$(TIMED) build+lint $(LINTED) cargo test --workspace --release --all-targets --no-run
	@$(TIMED) python sh -c '$(MAKE) --no-print-directory python || { cat target/python.log; exit 1; }'
	@$(TIMED) browser sh -c '$(MAKE) --no-print-directory browser || { cat target/browser.log; exit 1; }'
	@$(TIMED) tests env WASMTRADE_PYTHON=$(abspath $(PY)) $(LINTED) cargo test --workspace --release
	@$(TIMED) deploy-check deploy/check.sh
	@$(TIMED) --report

check:
	.ci/check-changed.sh

# Every file under deploy/ checked offline with helm, kubectl, kubernetes-validate,
# checkov, actionlint, hadolint and podman (installed into target/deploy-tools),
# against the release binary (built if missing).
deploy-check:
	deploy/check.sh

deploy-tools:
	deploy/check.sh --tools

bench: guests
	cargo bench --workspace --bench throughput
	cargo bench --workspace --bench serve
	cargo bench --workspace --bench sandbox
	cargo bench --workspace --bench kill
	cargo bench --workspace --bench durability
	cargo bench --workspace --bench risk

# The ten-minute soak of issue 15 (make test runs the same test for 45 s):
# sma-cross with partial fills at full market speed on the embedded
# defaults, printing RSS, store size and restart times as it goes.
SOAK_SECS ?= 600
# Debian's headless Chromium, for the test that renders `backtest --html`
# in a real browser (~25 s to install here). Runs beside the build in
# `make test`; WASMTRADE_CHROMIUM names another browser binary, and
# WASMTRADE_SKIP_BROWSER=1 skips the browser test (and this) on a machine
# where neither root nor apt-get is at hand.
browser:
	@mkdir -p target && flock target/browser.lock $(MAKE) --no-print-directory browser-install

browser-install:
	@if [ -n "$$WASMTRADE_SKIP_BROWSER" ] || [ -x "$${WASMTRADE_CHROMIUM:-/usr/bin/chromium}" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }; \
	else \
		echo "no Chromium at $${WASMTRADE_CHROMIUM:-/usr/bin/chromium} and cannot install it (needs root and apt-get):"; \
		echo "install Debian's chromium, set WASMTRADE_CHROMIUM=/path/to/chromium, or WASMTRADE_SKIP_BROWSER=1"; \
		exit 1; \
	fi

# The peers in their own venv (not the test venv: numba and pandas are big).
PEERS := target/peers/venv
PEERS_STAMP := $(PEERS)/.installed-1
$(PEERS_STAMP): tests/peers/requirements.txt
	test -x $(PEERS)/bin/python || python3 -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
	touch $@

BENCH_BARS ?= 200000
bench-peers: setup $(PEERS_STAMP) $(GUEST_DIR)/sma_cross.wasm
	cargo build --workspace --release
	$(PEERS)/bin/python tests/peers/bench_peers.py --wasmtrade target/release/wasmtrade \
		--guest $(GUEST_DIR)/sma_cross.wasm --bars $(BENCH_BARS)

soak: guests
	WASMTRADE_SOAK_SECS=$(SOAK_SECS) cargo test --workspace --release --test e2e \
		serve_soak::a_long_run -- --nocapture

# Coverage-guided fuzz runs with AddressSanitizer (nightly; installs
# cargo-fuzz if missing). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: guests
	runtime/host/fuzz/run.sh $(FUZZ_SECONDS)
