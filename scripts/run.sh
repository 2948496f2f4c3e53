#!/usr/bin/env bash
# The main job on the embedded default: `regsync up`. One process runs a file:// snapshot store
# under .regsync/ (REGSYNC_DATA_DIR), the signed webhook on 127.0.0.1:8787, the function core,
# and the MCP server istiod connects to on 127.0.0.1:15010 (/status on 127.0.0.1:15014); on
# first start it loads the demo recording events/recordings/demo.jsonl. Ctrl-C stops it.
# Extra arguments go to `regsync up`, e.g. --zookeeper 127.0.0.1:2181 or --eureka URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
# REGSYNC_BIN names a regsync binary built already (scripts/test.sh passes the tests' build).
if [ -z "${REGSYNC_BIN:-}" ]; then
  cargo build -q --release --locked -p regsync
  REGSYNC_BIN=target/release/regsync
fi
exec "$REGSYNC_BIN" up "$@"
