#!/usr/bin/env bash
# One service change at 1k, 10k and 100k endpoints on file:// and on a real S3-compatible
# server (SeaweedFS on 127.0.0.1, started and stopped here): time, bytes written, S3 requests, and
# the 100k/1k ratios (target <= 2x). Extra arguments go to the bench binary's environment,
# e.g. `BENCH_SIZES=1000,10000 scripts/bench-store.sh`. First, the concurrent-writers test with
# its full 8 writers x 500 updates, optimized (the test command runs it with 50 unoptimized).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh start seaweedfs)"
trap 'scripts/services.sh stop seaweedfs' EXIT
cargo test --release --locked -p regsync-snapshots --test writers -- --nocapture 2>&1 |
  grep -E 'lost updates|test result|panicked|FAILED'
REGSYNC_BENCH_S3_ENDPOINT=$REGSYNC_IT_S3_ENDPOINT \
  cargo bench -p regsync-snapshots --bench one_change
