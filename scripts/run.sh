#!/usr/bin/env bash
# The main job on the embedded default: build regsync and convert the committed recordings
# into kubectl-ready ServiceEntries. Extra arguments go to `regsync convert`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
cargo build -q --release -p regsync
bin=target/release/regsync
if [ $# -eq 0 ]; then
  # A demo registry state: scenarios that describe different services, so none overrides another
  # (a full /eureka/apps document says which applications exist, so only one of those).
  set -- events/recordings/eureka-events/{istio-pilot-testdata,single-app}/*.json \
    events/recordings/dubbo-zk/{dubbo27-providers,dubbo3-tri-and-app-level}/*.json
fi
exec "$bin" convert "$@"
