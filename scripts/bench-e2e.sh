#!/usr/bin/env bash
# ZooKeeper change -> istiod-like client, end to end through every real component as a process
# (regsync bridge zookeeper -> Apache Kafka -> regsync consume -> SeaweedFS (S3) -> regsync mcp
# serve), with 100k
# endpoints loaded: p50/p99 and lost changes at 100 changes/s, with ZooKeeper's own notification
# latency measured on the same changes. Starts ZooKeeper, Kafka and SeaweedFS on 127.0.0.1 and stops
# them afterwards. Settings (env): BENCH_ENDPOINTS BENCH_RATE BENCH_SECONDS
# BENCH_BRIDGE_DEBOUNCE BENCH_BATCH_WAIT BENCH_POLL_INTERVAL BENCH_MCP_DEBOUNCE (see
# tests/benches/zk_to_mesh.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'scripts/services.sh stop all' EXIT
eval "$(scripts/services.sh start zookeeper)"
eval "$(scripts/services.sh start kafka)"
eval "$(scripts/services.sh start seaweedfs)"
export REGSYNC_IT_ZK REGSYNC_IT_KAFKA_BROKERS REGSYNC_IT_S3_ENDPOINT
cargo build --release --locked -p regsync
REGSYNC_BIN=$PWD/target/release/regsync cargo bench --locked -p regsync-e2e --bench zk_to_mesh
