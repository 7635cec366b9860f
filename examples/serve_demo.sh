#!/usr/bin/env bash
# A two-minute tour of serve mode on embedded defaults (paper market, paper
# broker, no external service): start `wasmtrade serve`, upload sma-cross,
# let it trade, hot-swap its configuration without losing its state, run a
# second version in shadow and promote it, then stop with SIGTERM (guests
# are snapshotted into the data dir).
#
#   examples/serve_demo.sh [path/to/wasmtrade]    (run by `make demo`)
set -euo pipefail

BIN=${1:-target/release/wasmtrade}
GUEST=target/wasm32-wasip2/guest/sma_cross.wasm
DATA=$(mktemp -d)
PORT=${WASMTRADE_DEMO_PORT:-50551}
export WASMTRADE_SERVER=127.0.0.1:$PORT
export WASMTRADE_TOKEN=demo-token
LOG=$DATA/serve.log

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A market 100x faster than real time: one bar per symbol per simulated second.
WASMTRADE__MARKET__SPEED=100 WASMTRADE__MARKET__SYMBOLS='["AAA","BBB"]' \
    "$BIN" serve --listen "$WASMTRADE_SERVER" --data-dir "$DATA" 2>"$LOG" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$LOG" && break; sleep 0.1; done
grep "listening on" "$LOG"

step "upload sma-cross v1 and activate it"
"$BIN" strategy upload "$GUEST" --name sma --label v1 --config fast=5,slow=20,quantity=10 --activate
sleep 3
"$BIN" strategy list
"$BIN" orders --open
"$BIN" positions

step "hot swap: a new order size; the windows and position are handed over between two events"
"$BIN" strategy config sma --config fast=5,slow=20,quantity=20
sleep 1

step "a second build runs in shadow: same events, intents compared, never sent"
cp "$GUEST" "$DATA/sma_v2.wasm"
printf '\0\x0a\x07wt-demov2' >>"$DATA/sma_v2.wasm"   # a custom section: same code, new sha256
"$BIN" strategy upload "$DATA/sma_v2.wasm" --name sma --label v2
"$BIN" strategy shadow sma 2
sleep 2
"$BIN" strategy list sma
"$BIN" strategy promote sma

step "the last events, the account and the audit trail"
"$BIN" events --count 5 || true
"$BIN" account
"$BIN" strategy audit sma

step "SIGTERM: readiness off, guests snapshotted, exit 0"
kill -TERM $SERVER
wait $SERVER
tail -n 2 "$LOG"
