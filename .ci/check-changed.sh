#!/usr/bin/env bash
# .ci/check-changed.sh — the inner loop behind `make check`: format, lints
# and unit tests of the crates you changed, in the debug profile (incremental;
# under 3 minutes once built). `make test` is still the whole truth.
#
# Changed = uncommitted files (staged, unstaged, untracked) plus the commits
# since CHECK_BASE (default: the branch's upstream, else `main` when you are
# on another branch). Each file counts for the crate whose Cargo.toml is
# nearest above it; a change outside any crate (the root Cargo.toml, say)
# checks the whole workspace's lints and library unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${CHECK_BASE:-}
if [ -z "$base" ]; then
  base=$(git rev-parse --abbrev-ref --symbolic-full-name '@{upstream}' 2>/dev/null || true)
  if [ -z "$base" ] && [ "$(git rev-parse --abbrev-ref HEAD)" != main ] && git rev-parse -q --verify main >/dev/null; then
    base=main
  fi
fi
files=$( {
  git diff --name-only HEAD
  git ls-files --others --exclude-standard
  if [ -n "$base" ]; then git diff --name-only "$(git merge-base HEAD "$base")" HEAD; fi
} | sort -u)

# The package of each changed file; "*" for a change outside every crate.
crates=()
whole=false
for f in $files; do
  case "$f" in
    *.md | docs/* | deploy/* | .ci/* | examples/*.sh | LICENSE* | CHANGELOG*) continue ;;
  esac
  dir=$(dirname "$f")
  while [ "$dir" != . ] && [ ! -f "$dir/Cargo.toml" ]; do dir=$(dirname "$dir"); done
  if [ "$dir" = . ]; then
    whole=true
    continue
  fi
  # Separate workspaces (fuzz targets, host test fixtures) are not members.
  if grep -q '^\[workspace\]' "$dir/Cargo.toml"; then continue; fi
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)
  [ -n "$name" ] && crates+=("$name")
done

echo "check: changed files since ${base:-HEAD}: $(echo "$files" | grep -c . || true)"
cargo fmt --all --check
if $whole; then
  echo "check: a change outside the crates: lints and unit tests of the whole workspace"
  cargo clippy --workspace --all-targets -- -D warnings
  cargo test --workspace --lib --bins
  exit 0
fi
if [ ${#crates[@]} -eq 0 ]; then
  echo "check: no crate changed: format checked, nothing else to do"
  exit 0
fi
mapfile -t crates < <(printf '%s\n' "${crates[@]}" | sort -u)
pkgs=()
for c in "${crates[@]}"; do pkgs+=(-p "$c"); done
echo "check: crates ${crates[*]}"
cargo clippy "${pkgs[@]}" --all-targets -- -D warnings
cargo test "${pkgs[@]}" --lib --bins
