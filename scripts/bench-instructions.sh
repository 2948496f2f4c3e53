#!/usr/bin/env bash
# Repeatable companion to `cargo bench -p regsync-convert --bench convert`: counts the
# instructions of one baseline parse and one conversion of the same bytes with callgrind
# (wall-clock time on shared build machines drifts by up to 2x), minus generating the input.
# Prints both counts and their ratio. Needs valgrind (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
cargo bench -q -p regsync-convert --bench convert --no-run
bin=$(cargo bench -q -p regsync-convert --bench convert --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
count() {
  BENCH_ONLY=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" --bench 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
gen=$(count generate); base=$(count baseline); conv=$(count convert)
base=$((base - gen)); conv=$((conv - gen))
echo "instructions for ${BENCH_INSTANCES:-10000} Eureka instances:"
echo "  baseline serde_json typed parse: $base"
echo "  regsync parse+fold+render:       $conv"
awk -v b="$base" -v c="$conv" 'BEGIN { printf "  ratio (baseline/regsync): %.2fx (wall-clock target >= 0.50x)\n", b / c }'
