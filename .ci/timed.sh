#!/usr/bin/env bash
# .ci/timed.sh STAGE COMMAND...  runs COMMAND as one stage of `make test`
# and records its wall time; `.ci/timed.sh --report` prints every stage's
# duration (also printed when a stage fails, with the failing one marked);
# `.ci/timed.sh --reset` starts a new record. The record is target/stage-times.
set -uo pipefail

record=${STAGE_TIMES:-target/stage-times}
mkdir -p "$(dirname "$record")"

report() {
  [ -f "$record" ] || return 0
  echo
  echo "== make test: time per stage"
  awk -F'\t' '{ printf "  %-14s %6d s  %s\n", $1, $2, $3; total += $2 }
      END { printf "  %-14s %6d s (%d min %d s)\n", "total", total, total / 60, total % 60 }' "$record"
}

case "${1:-}" in
  --reset) rm -f "$record"; exit 0 ;;
  --report) report; exit 0 ;;
  "") echo "usage: .ci/timed.sh STAGE COMMAND... | --report | --reset" >&2; exit 2 ;;
esac

stage=$1
shift
printf '\n\033[1m== stage %s\033[0m: %s\n' "$stage" "$*"
start=$SECONDS
"$@"
rc=$?
secs=$((SECONDS - start))
if [ "$rc" -eq 0 ]; then
  printf '%s\t%s\t%s\n' "$stage" "$secs" "ok" >>"$record"
else
  printf '%s\t%s\t%s\n' "$stage" "$secs" "FAILED (exit $rc)" >>"$record"
  report
fi
exit "$rc"
