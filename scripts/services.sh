#!/usr/bin/env bash
# Installs (once), starts and stops the real servers the integration tests talk to, all on
# 127.0.0.1, all under .services/ (ignored by git). Usage:
#   scripts/services.sh start moto    # S3-compatible server; prints the REGSYNC_IT_* variable
#   scripts/services.sh stop moto
#   scripts/services.sh stop all
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.services
mkdir -p "$dir"
MOTO_PORT=${REGSYNC_IT_S3_PORT:-9000}

install_moto() {
  if [ ! -x "$dir/venv/bin/moto_server" ]; then
    command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
    python3 -m venv "$dir/venv" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$dir/venv"; }
    "$dir/venv/bin/pip" install -q 'moto[server]==5.2.5' >&2
  fi
}

wait_for() { # url, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready after $2 s: $1" >&2
  return 1
}

start_moto() {
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  install_moto
  if [ -f "$dir/moto.pid" ] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
    return
  fi
  # The server itself is backgrounded, so $! is its PID (not a wrapper's).
  "$dir/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 || { cat "$dir/moto.log" >&2; exit 1; }
  echo "export REGSYNC_IT_S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
}

stop() {
  local pidfile="$dir/$1.pid"
  [ -f "$pidfile" ] || return 0
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-} ${2:-}" in
  "start moto") start_moto ;;
  "stop moto") stop moto ;;
  "stop all") stop moto ;;
  *) sed -n '2,7p' "$0" >&2; exit 64 ;;
esac
