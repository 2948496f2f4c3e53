#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 30), on the seed corpus in
# fuzz/corpus/<target>/. New inputs go to fuzz/target/corpus/<target>/ (ignored by git), so the
# committed seeds never change; a crash leaves its input in fuzz/artifacts/<target>/ and fails.
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz and a C++
# compiler (libFuzzer is C++) when they are missing. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly --profile minimal" >&2
  exit 1
fi
if ! command -v c++ >/dev/null; then
  apt-get update -qq && apt-get install -y -qq g++
fi
if ! command -v cargo-fuzz >/dev/null; then
  # Installed with the default toolchain, outside this repository's pinned one.
  (cd / && cargo install cargo-fuzz --locked)
fi

cd fuzz
targets=$(cargo +nightly fuzz list)
for target in $targets; do
  printf '\n==> fuzz %s for %ss\n' "$target" "$seconds"
  mkdir -p "target/corpus/$target" "corpus/$target"
  # The first corpus directory receives new inputs; the seeds are only read.
  cargo +nightly fuzz run "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
