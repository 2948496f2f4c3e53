#!/usr/bin/env bash
# Installs (once), starts and stops the real servers the integration tests talk to, all on
# 127.0.0.1, all under .services/ (ignored by git). Usage:
#   scripts/services.sh start moto    # S3-compatible server; prints the REGSYNC_IT_* variable
#   scripts/services.sh start tansu   # Kafka-protocol broker (sqlite storage); same
#   scripts/services.sh start zookeeper  # ZooKeeper 3.8 standalone (Debian package); same
#   scripts/services.sh stop moto|tansu|zookeeper|all
#   scripts/services.sh install tansu    # only build it (scripts/test.sh does so in the background)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.services
mkdir -p "$dir"
MOTO_PORT=${REGSYNC_IT_S3_PORT:-9000}
KAFKA_PORT=${REGSYNC_IT_KAFKA_PORT:-9092}
ZK_PORT=${REGSYNC_IT_ZK_PORT:-2181}
TANSU_VERSION=0.6.0

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
  # moto's own app behind a lock that makes conditional writes atomic (see moto_server.py; plain
  # moto_server loses updates under concurrent If-Match writers). Backgrounded directly, so $! is
  # the server's PID.
  "$dir/venv/bin/python" scripts/moto_server.py 127.0.0.1 "$MOTO_PORT" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 || { cat "$dir/moto.log" >&2; exit 1; }
  echo "export REGSYNC_IT_S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
}

install_tansu() {
  # A real Kafka-protocol broker. The build takes 10-15 minutes once per machine; `libsql` gives
  # it durable sqlite storage (the memory engine loses reads from mid-batch offsets). Optimized at
  # level 1 (TANSU_OPT_LEVEL): the build is what CI waits for, and a test broker needs no more.
  if ! command -v tansu >/dev/null; then
    command -v cc >/dev/null || { apt-get update -qq && apt-get install -y -qq gcc make; }
    echo "installing tansu $TANSU_VERSION (once per machine, ~15 min)" >&2
    CARGO_PROFILE_RELEASE_OPT_LEVEL=${TANSU_OPT_LEVEL:-1} \
      cargo install --locked tansu --version "$TANSU_VERSION" --features libsql >&2
  fi
}

start_tansu() {
  install_tansu
  if [ -f "$dir/tansu.pid" ] && kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
    return
  fi
  rm -rf "$dir/tansu" && mkdir -p "$dir/tansu"
  # The subshell execs the broker, so $! is the broker's PID; the sqlite path is relative to it.
  (cd "$dir/tansu" && exec tansu broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine "sqlite://tansu.db" >tansu.log 2>&1) &
  echo $! >"$dir/tansu.pid"
  for _ in $(seq 1 300); do
    if tansu topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1; then
      echo "export REGSYNC_IT_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
      return
    fi
    sleep 0.1
  done
  echo "tansu not ready after 30 s" >&2
  cat "$dir/tansu/tansu.log" >&2
  exit 1
}

install_zookeeper() {
  if [ ! -f /usr/share/java/zookeeper.jar ]; then
    echo "installing zookeeper (Debian package, once per machine)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >"$dir/apt-zookeeper.log" 2>&1 \
      || { cat "$dir/apt-zookeeper.log" >&2; exit 1; }
  fi
}

zk_ok() { # serving, by ZooKeeper's four-letter `srvr` over bash's /dev/tcp (`ruok` answers too early)
  { exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT"; } 2>/dev/null || return 1
  printf srvr >&3
  local reply
  reply=$(timeout 2 cat <&3 2>/dev/null || true)
  exec 3<&- 3>&-
  [[ "$reply" == *"Mode: standalone"* ]]
}

start_zookeeper() {
  install_zookeeper
  if [ -f "$dir/zookeeper.pid" ] && kill -0 "$(cat "$dir/zookeeper.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_ZK=127.0.0.1:$ZK_PORT"
    return
  fi
  # Standalone, with its own config and data dir; not the system service.
  rm -rf "$dir/zookeeper" && mkdir -p "$dir/zookeeper/data"
  cat >"$dir/zookeeper/zoo.cfg" <<CFG
tickTime=2000
dataDir=$PWD/$dir/zookeeper/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
minSessionTimeout=2000
CFG
  local cp=/usr/share/java/zookeeper.jar
  [ -f /usr/share/java/slf4j-simple.jar ] && cp="$cp:/usr/share/java/slf4j-simple.jar"
  java -Xmx256m -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain \
    "$dir/zookeeper/zoo.cfg" >"$dir/zookeeper/zookeeper.log" 2>&1 &
  echo $! >"$dir/zookeeper.pid"
  for _ in $(seq 1 300); do
    if zk_ok; then
      echo "export REGSYNC_IT_ZK=127.0.0.1:$ZK_PORT"
      return
    fi
    sleep 0.1
  done
  echo "zookeeper not ready after 30 s" >&2
  cat "$dir/zookeeper/zookeeper.log" >&2
  exit 1
}

stop() {
  local pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  # Wait (up to 10 s) until it is gone, so a start right after finds its port free.
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidfile"
}

case "${1:-} ${2:-}" in
  "start moto") start_moto ;;
  "stop moto") stop moto ;;
  "install tansu") install_tansu ;;
  "start tansu") start_tansu ;;
  "stop tansu") stop tansu ;;
  "start zookeeper") start_zookeeper ;;
  "stop zookeeper") stop zookeeper ;;
  "stop all") stop moto; stop tansu; stop zookeeper ;;
  *) sed -n '2,10p' "$0" >&2; exit 64 ;;
esac
