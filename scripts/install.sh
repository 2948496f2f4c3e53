#!/usr/bin/env bash
# Installs what builds and tests need, skipping what is already there (`command -v`).
# Safe to run repeatedly. The test servers (Kafka, SeaweedFS, ZooKeeper, the Lambda RIE, moto) are scripts/services.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v cc >/dev/null || need_apt+=(gcc)
command -v make >/dev/null || need_apt+=(make)
# librdkafka is built with OpenSSL (rdkafka's ssl feature: SSL and SASL_SSL/SCRAM for MSK and
# self-managed clusters), found through pkg-config.
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo >/dev/null || { echo "cargo is missing: install the Rust toolchain (rustup) first" >&2; exit 1; }
# rust-toolchain.toml pins the toolchain; make sure its components are present.
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version
