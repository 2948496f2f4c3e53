#!/usr/bin/env bash
# The ZooKeeper bridge, measured two ways, each beside its baselines of the same run. Starts
# ZooKeeper, Apache Kafka and SeaweedFS on 127.0.0.1 (scripts/services.sh) and stops them after.
# 1. ZooKeeper change -> event on Kafka through `regsync bridge zookeeper`, p50/p99, with the
#    ZooKeeper-only and Kafka-only baselines (services/bridge/benches/zk_to_kafka.rs).
#      BENCH_ROUNDS=200 (registrations, each followed by a removal)  BENCH_DEBOUNCE_MS=20
# 2. Dubbo at scale through the whole path to an istiod-like client (tests/benches/zk_to_mesh.rs
#    with these settings): 2,000 providers across 200 interfaces registered first, then steady
#    churn (BENCH_RATE=20 changes/s for BENCH_SECONDS=30, registering and deregistering), then
#    real Dubbo 3.3 providers (tests/peers/dubbo) started and stopped BENCH_REAL_PROVIDERS=10
#    times: ZooKeeper's watch of each registration -> the push, beside ZooKeeper's own write ->
#    watch latency. BENCH_ONLY=kafka|mesh runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'scripts/services.sh stop all' EXIT
eval "$(scripts/services.sh start zookeeper)"
eval "$(scripts/services.sh start kafka)"
if [ "${BENCH_ONLY:-}" != mesh ]; then
  cargo bench -p regsync-bridge --bench zk_to_kafka
fi
if [ "${BENCH_ONLY:-}" != kafka ]; then
  eval "$(scripts/services.sh start seaweedfs)"
  export REGSYNC_IT_ZK REGSYNC_IT_KAFKA_BROKERS REGSYNC_IT_S3_ENDPOINT
  scripts/services.sh install dubbo
  cargo build --release --locked -p regsync
  BENCH_ENDPOINTS=${BENCH_ENDPOINTS:-1000} BENCH_SERVICES=${BENCH_SERVICES:-200} \
    BENCH_PRELOAD=${BENCH_PRELOAD:-2000} BENCH_LIVE=${BENCH_LIVE:-2000} \
    BENCH_RATE=${BENCH_RATE:-20} BENCH_SECONDS=${BENCH_SECONDS:-30} \
    BENCH_REAL_PROVIDERS=${BENCH_REAL_PROVIDERS:-10} \
    REGSYNC_BIN=$PWD/target/release/regsync cargo bench --locked -p regsync-e2e --bench zk_to_mesh
fi
