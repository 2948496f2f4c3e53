#!/usr/bin/env bash
# The ingest-kafka function's own cost, pinned to one core: one invocation on 100 and 10,000
# records (memory:// store, so no store I/O is timed) beside the pure one-shot conversion of the
# same events measured in the same run, a per-phase breakdown, the in-process init, and the cold
# start of the real binary until it asks a local Runtime API for work (beside exec of
# /bin/true), on memory://, file:// and S3 (SeaweedFS on 127.0.0.1, started and stopped here).
# Targets: 10,000 records <= 50 ms, init <= 20 ms. BENCH_RUNS=N sets the samples (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh start seaweedfs)"
trap 'scripts/services.sh stop seaweedfs' EXIT
bucket=regsync-bench-init
# The bucket, with a SigV4-signed PUT (the test identity; an existing bucket is fine).
curl -sf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user test:test "$REGSYNC_IT_S3_ENDPOINT/$bucket" >/dev/null || true
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
AWS_ENDPOINT_URL=$REGSYNC_IT_S3_ENDPOINT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1 REGSYNC_BENCH_S3_STORE="s3://$bucket/init" \
  "${pin[@]}" cargo bench -p ingest-kafka --bench batch --bench cold_start
