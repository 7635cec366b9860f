# Front door for developer tasks. See README.md.
#
#   make demo   build the bundled guests, backtest sma-cross on embedded synthetic data,
#               then run `wasmtrade serve` and upload, hot-swap, shadow and promote it
#   make test   everything CI runs: set-up, format, lints, guests, all tests
#   make bench  throughput (wasm vs native), serve (swap pause, API, stream), sandbox (fuel/epoch, pooling),
#               kill (kill switch under full load), durability (journal, restart to ready)
#   make fuzz   longer fuzz runs (AddressSanitizer) of guest loading and CSV parsing (nightly);
#               `make test` runs a short one without a sanitizer (fuzz-smoke)

GUESTS := sma-cross rsi-reversion sma ema rsi macd bollinger atr breakout clstm-ppo \
	hostile-infinite-loop hostile-deep-recursion hostile-memory-bomb hostile-trap-on-nth \
	hostile-order-flood hostile-log-flood hostile-forbidden-import hostile-bad-snapshot \
	hostile-reject-storm
GUEST_FLAGS := $(foreach g,$(GUESTS),-p $(g))
GUEST_DIR := target/wasm32-wasip2/guest
PYENV := target/pyenv
PY := $(PYENV)/bin/python

.PHONY: demo test guests lint bench fuzz fuzz-smoke setup python deploy-check

# Temporary files (tests' data dirs, the C++ compiler's scratch files) go
# under target/, on the disk that holds the build, not a possibly small /tmp.
export TMPDIR := $(CURDIR)/target/tmp
$(shell mkdir -p $(TMPDIR))

demo: guests
	cargo run --release --quiet -p wasmtrade -- backtest \
		--strategy $(GUEST_DIR)/sma_cross.wasm --config fast=10,slow=30 \
		--cash 10000 --commission 0.001 --trades-csv target/demo-trades.csv
	examples/serve_demo.sh target/release/wasmtrade

setup:
	@command -v rustup >/dev/null && rustup target add wasm32-wasip2 >/dev/null || \
		echo "rustup not found: make sure the wasm32-wasip2 target is installed"

guests: setup
	cargo build --profile guest --target wasm32-wasip2 $(GUEST_FLAGS)

# Python reference tools for cross-checks; the stamp's name changes with the list.
PY_REQS := "TA-Lib==0.8.2" "numpy>=1.26" "grpcio-tools==1.85.1" "onnx==1.23.2" "onnxruntime==1.31.1"
PY_STAMP := $(PYENV)/.installed-3

python: $(PY_STAMP)

$(PY_STAMP):
	test -x $(PY) || python3 -m venv $(PYENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(PY_REQS)
	touch $@

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip2 -p wasmtrade-sdk $(GUEST_FLAGS) -- -D warnings

test: guests python lint
	cargo build --release -p wasmtrade
	WASMTRADE_PYTHON=$(abspath $(PY)) cargo test --workspace --release
	cargo bench --workspace --no-run
	$(MAKE) fuzz-smoke
	$(MAKE) deploy-check

# Every file under deploy/ checked offline with helm, kubectl, kubernetes-validate,
# checkov, actionlint, hadolint and podman (installed into target/deploy-tools).
deploy-check:
	deploy/check.sh

bench: guests
	cargo bench -p wasmtrade-e2e --bench throughput
	cargo bench -p wasmtrade-e2e --bench serve
	cargo bench -p wasmtrade-e2e --bench sandbox
	cargo bench -p wasmtrade-e2e --bench kill
	cargo bench -p wasmtrade-e2e --bench durability

# A short bounded fuzz run of every target, part of `make test`: built without
# a sanitizer (~5 min cold here; the AddressSanitizer build of `make fuzz`
# takes ~16 min). Needs the nightly toolchain; installs cargo-fuzz if missing.
fuzz-smoke: guests
	FUZZ_SANITIZER=none runtime/host/fuzz/run.sh 15

# Longer fuzz runs with AddressSanitizer. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: guests
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	runtime/host/fuzz/run.sh $(FUZZ_SECONDS)
