#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 30), on the seed corpus in
# fuzz/corpus/<target>/. New inputs go to fuzz/target/corpus/<target>/ (ignored by git), so the
# committed seeds never change; a crash leaves its input in fuzz/artifacts/<target>/ and fails.
# Prefers a nightly toolchain (falls back to RUSTC_BOOTSTRAP=1); installs cargo-fuzz and a C++
# compiler (libFuzzer is C++) when they are missing. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac

# cargo-fuzz passes -Z flags (sanitizers, coverage): use nightly when installed, otherwise let
# the pinned stable toolchain accept them (RUSTC_BOOTSTRAP), since no toolchain can be
# downloaded on the build machines.
if cargo +nightly --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  echo "no nightly toolchain: running cargo-fuzz on the pinned toolchain with RUSTC_BOOTSTRAP=1" >&2
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi
if ! command -v c++ >/dev/null; then
  apt-get update -qq && apt-get install -y -qq g++
fi
if ! command -v cargo-fuzz >/dev/null; then
  # Installed with the default toolchain, outside this repository's pinned one.
  (cd / && cargo install cargo-fuzz --locked)
fi

cd fuzz
targets=$(cargo "${toolchain[@]}" fuzz list)
for target in $targets; do
  printf '\n==> fuzz %s for %ss\n' "$target" "$seconds"
  mkdir -p "target/corpus/$target" "corpus/$target"
  # The first corpus directory receives new inputs; the seeds are only read.
  cargo "${toolchain[@]}" fuzz run "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
