#!/usr/bin/env bash
# The MCP server's push bench: 1,000 ServiceEntries x 100 endpoints over real gRPC on
# 127.0.0.1. Full push to 1/16/64 istiod-like clients next to a raw tonic server sending the
# same bytes, one-entry changes reaching 64 SotW and 64 delta clients (p50/p99), and memory
# per idle client. Environment: BENCH_CHANGES (one-entry changes, 40), BENCH_IDLE (idle
# clients, 64).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p regsync-mcp --bench push
