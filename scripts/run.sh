#!/usr/bin/env bash
# The main job on the embedded default: build regsync and convert the committed recordings
# into kubectl-ready ServiceEntries. Extra arguments go to `regsync convert`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
cargo build -q --release -p regsync
bin=target/release/regsync
if [ $# -eq 0 ]; then
  set -- events/recordings/eureka-events/*/*.json events/recordings/dubbo-zk/*/*.json
fi
exec "$bin" convert "$@"
