#!/usr/bin/env bash
# `regsync bridge eureka` at 20,000 instances in 1,000 applications on a real Eureka server
# (tests/peers/eureka, started here on 127.0.0.1 with the test settings and stopped afterwards):
# REST registration, the server's own GET /eureka/apps as the baseline, the bridge's full
# fetch and RSS, then 50 changes/s with each change's latency to the event (p50/p99), the
# bridge's delta poll time and the server's /eureka/apps/delta beside it.
#   BENCH_INSTANCES=20000 BENCH_APPS=1000 BENCH_RATE=50 BENCH_SECONDS=20 BENCH_INTERVAL_MS=1000
set -euo pipefail
cd "$(dirname "$0")/.."
port=${REGSYNC_BENCH_EUREKA_PORT:-8769}
scripts/services.sh install eureka
cargo bench -p regsync-bridge --bench eureka_scale --no-run
# A heap for 20k instances; the test settings of `services.sh start eureka`.
EUREKA_HEAP=1g scripts/services.sh node eureka-server "$port" \
  --eureka.server.enable-self-preservation=false \
  --eureka.server.use-read-only-response-cache=false \
  --eureka.server.renewal-percent-threshold=0 >/tmp/regsync-bench-eureka.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 240); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/eureka/apps" && break
  kill -0 $server 2>/dev/null || { cat /tmp/regsync-bench-eureka.log >&2; exit 1; }
  sleep 0.5
done
REGSYNC_BENCH_EUREKA_URL=http://127.0.0.1:$port/eureka cargo bench -p regsync-bridge --bench eureka_scale
