#!/usr/bin/env bash
# Short bounded fuzz run of every target; exits non-zero on a crash.
#
#   runtime/host/fuzz/run.sh [SECONDS]     (default 20 seconds per target)
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing), and
# the built guests as the seed corpus of `load_guest` (`make guests`, or set
# WASMTRADE_GUEST_DIR). Honours CARGO_TARGET_DIR and FUZZ_SANITIZER
# (`address`, the default, or `none`: faster to build and run). See README.md.
set -euo pipefail

secs="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
guest_dir="${WASMTRADE_GUEST_DIR:-$root/target/wasm32-wasip2/guest}"
sanitizer="${FUZZ_SANITIZER:-address}"
targets=(load_guest csv_bars)

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "run.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if [ ! -f "$guest_dir/sma_cross.wasm" ]; then
    echo "run.sh: no guests in $guest_dir to seed load_guest: run \`make guests\` (or set WASMTRADE_GUEST_DIR)" >&2
    exit 2
fi

# A fresh corpus per run: the seeds, plus what this run finds (thrown away),
# so every bounded run costs the same. Crashes are kept in fuzz/artifacts/.
# load_guest is seeded with one strategy, one indicator and the
# forbidden-import guest: each seed costs a full compilation before the
# timed phase starts (see README.md for longer runs with every guest).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/seeds/load_guest" "$work/seeds/csv_bars"
for g in sma_cross sma hostile_forbidden_import; do
    if [ -f "$guest_dir/$g.wasm" ]; then cp "$guest_dir/$g.wasm" "$work/seeds/load_guest/"; fi
done
cp "$here"/seeds/csv_bars/* "$work/seeds/csv_bars/"

cd "$here/.."  # cargo fuzz looks for ./fuzz
start=$(date +%s)
if ! cargo +nightly fuzz build --sanitizer "$sanitizer"; then
    # Say what the machine looked like, then try once more on one job: a
    # compile error fails again, a transient resource shortage may not.
    echo "run.sh: the fuzz build failed; disk and memory at that point:" >&2
    df -h "$here" "${TMPDIR:-/tmp}" >&2 || true
    free -m >&2 || true
    echo "run.sh: retrying the build with one job" >&2
    CARGO_BUILD_JOBS=1 cargo +nightly fuzz build --sanitizer "$sanitizer"
fi
echo "run.sh: built in $(($(date +%s) - start)) s"

for t in "${targets[@]}"; do
    start=$(date +%s)
    mkdir -p "$work/new/$t"
    # -timeout: one input (compiling a guest) may take seconds, not minutes.
    # -rss_limit_mb: wasmtime compiles in memory; well above what it needs.
    if ! cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$work/new/$t" "$work/seeds/$t" -- \
        -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1; then
        echo "run.sh: $t found a crash; the input is in $here/artifacts/$t/" >&2
        exit 1
    fi
    echo "run.sh: $t ran clean in $(($(date +%s) - start)) s"
done
