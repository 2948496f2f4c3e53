#!/usr/bin/env bash
# Store growth under `regsync up`: what one single-event change writes next to the size of the
# changed unit, and the store's files and bytes over BENCH_CHANGES (10000) changes with
# scheduled GC off (baseline) and on, in one run. It counts bytes, not time, so it runs the
# test-profile build `scripts/test.sh` already made. Usage: [BENCH_CHANGES=N] scripts/bench-gc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --profile test --locked -p regsync --bench store_growth
