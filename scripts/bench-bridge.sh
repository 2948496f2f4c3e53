#!/usr/bin/env bash
# ZooKeeper change -> event on Kafka through `regsync bridge zookeeper`, p50/p99, with the
# ZooKeeper-only and Kafka-only baselines measured in the same run. Starts ZooKeeper and Apache
# Kafka on 127.0.0.1 (scripts/services.sh) and stops them afterwards.
#   BENCH_ROUNDS=200 (registrations, each followed by a removal)  BENCH_DEBOUNCE_MS=20
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'scripts/services.sh stop zookeeper; scripts/services.sh stop kafka' EXIT
eval "$(scripts/services.sh start zookeeper)"
eval "$(scripts/services.sh start kafka)"
cargo bench -p regsync-bridge --bench zk_to_kafka
