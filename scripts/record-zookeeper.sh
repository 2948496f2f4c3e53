#!/usr/bin/env bash
# Records what `regsync bridge zookeeper` publishes while real applications register in a real
# ZooKeeper (scripts/services.sh node zookeeper, a private one on port 2191 that starts empty):
#   spring-cloud-zookeeper  two Spring Cloud Zookeeper instances of `orders` register, one goes
#                           OUT_OF_SERVICE and back through Spring's serviceregistry endpoint,
#                           then the other stops (SIGTERM);
#   dubbo-3.3               a Dubbo 3.3 provider `shop` in register mode `all` (dubbo and tri,
#                           GreetingService plain and group blue / version 2.0.0 with weight
#                           50), a provider `stock` in mode `instance` (tri, EchoService), a
#                           Dubbo Admin style override (weight 25) on shop's dubbo port, then
#                           stock stops (SIGTERM).
# Each story ends with what is still running stopped after the bridge, so its last event
# leaves a live state (the golden snapshots of tests/golden show it).
# Each story's events, as the bridge wrote them (one CloudEvent per line), are split into
# events/recordings/dubbo-zk/<story>/NNN-<kind>-<name>.json, unchanged but pretty-printed.
# Usage: scripts/record-zookeeper.sh [STORY...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
stories=("$@")
[ ${#stories[@]} -gt 0 ] || stories=(spring-cloud-zookeeper dubbo-3.3)
port=2191
zk=127.0.0.1:$port
cargo build -q --bin regsync
scripts/services.sh install zookeeper dubbo
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
lines() { wc -l <"$work/events.jsonl" 2>/dev/null || echo 0; }
settle() { # waits until the bridge has published nothing new for 2 s
  local n
  n=$(lines); sleep 2
  while [ "$(lines)" != "$n" ]; do n=$(lines); sleep 2; done
}
until_file_says() { # FILE TEXT PID: waits (up to 180 s) for a peer's readiness line
  for _ in $(seq 1800); do
    grep -q "$2" "$1" 2>/dev/null && return
    kill -0 "$3" || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "not ready: $1" >&2; exit 1
}
until_http() { # URL PID
  for _ in $(seq 1800); do
    curl -sf -o /dev/null "$1" && return
    kill -0 "$2" || exit 1
    sleep 0.1
  done
  exit 1
}
status() { # IP PORT STATUS: Spring Cloud's serviceregistry endpoint
  curl -sf -X POST -H 'Content-Type: application/json' -d "{\"status\":\"$3\"}" "http://$1:$2/actuator/serviceregistry" >/dev/null
}

spring_cloud_zookeeper() {
  local p1 p2 a b
  p1=$(free_port); p2=$(free_port)
  scripts/services.sh node sc-zookeeper orders "$p1" orders-1 127.0.0.61 "$zk" >"$work/a.log" 2>&1 &
  a=$!; pids+=("$a")
  until_http "http://127.0.0.61:$p1/actuator/health" "$a"; settle
  scripts/services.sh node sc-zookeeper orders "$p2" orders-2 127.0.0.62 "$zk" >"$work/b.log" 2>&1 &
  b=$!; pids+=("$b")
  until_http "http://127.0.0.62:$p2/actuator/health" "$b"; settle
  status 127.0.0.61 "$p1" OUT_OF_SERVICE; settle
  status 127.0.0.61 "$p1" UP; settle
  kill -TERM "$b"; wait "$b" || true; settle
}

dubbo_3_3() {
  local shop stock address rule
  scripts/services.sh node dubbo-provider --app shop --zookeeper "$zk" --register-mode all \
    --protocol dubbo:20880 --protocol tri:50051 --service greeting --service greeting:blue:2.0.0:50 \
    >"$work/shop.log" 2>&1 &
  shop=$!; pids+=("$shop")
  until_file_says "$work/shop.log" "dubbo provider ready" "$shop"; settle
  scripts/services.sh node dubbo-provider --app stock --zookeeper "$zk" --register-mode instance \
    --protocol tri:50052 --service echo >"$work/stock.log" 2>&1 &
  stock=$!; pids+=("$stock")
  until_file_says "$work/stock.log" "dubbo provider ready" "$stock"; settle
  # The address shop registered (Dubbo registers the machine's own, never a loopback one).
  address=$(grep -o '"address":"[^"]*"' "$work/events.jsonl" | head -1 | cut -d'"' -f4)
  rule=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "override://$address:20880/io.regsync.peers.dubbo.provider.GreetingService?category=configurators&dynamic=false&enabled=true&weight=25")
  /usr/share/zookeeper/bin/zkCli.sh -server "$zk" \
    create "/dubbo/io.regsync.peers.dubbo.provider.GreetingService/configurators/$rule" >/dev/null 2>&1
  settle
  kill -TERM "$stock"; wait "$stock" || true; settle
}

for story in "${stories[@]}"; do
  rm -rf "$work/zk" "$work/events.jsonl"
  scripts/services.sh node zookeeper "$work/zk" "$port" >"$work/zk.log" 2>&1 &
  server=$!; pids+=("$server")
  until echo srvr | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3" 2>/dev/null | grep -q standalone; do sleep 0.2; done
  target/debug/regsync bridge zookeeper --connect "$zk" --sink "file://$work/events.jsonl" \
    --metrics-listen 127.0.0.1:0 >"$work/bridge.log" 2>&1 &
  bridge=$!; pids+=("$bridge")
  case "$story" in
    spring-cloud-zookeeper) spring_cloud_zookeeper ;;
    dubbo-3.3) dubbo_3_3 ;;
    *) echo "unknown story $story" >&2; exit 64 ;;
  esac
  kill -TERM "$bridge"; wait "$bridge" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  out=events/recordings/dubbo-zk/$story
  rm -rf "$out"; mkdir -p "$out"
  python3 - "$work/events.jsonl" "$out" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
for n, line in enumerate(open(src), 1):
    ev = json.loads(line)
    kind = ev["type"].split(".")[3]
    name = ev["data"]["path"].rstrip("/").split("/")[-1 if kind == "mapping" else -2 if kind in ("providers", "configurators") else -1]
    name = name.rsplit(".", 1)[-1]
    with open(f"{out}/{n:03}-{kind}-{name}.json", "w") as f:
        json.dump(ev, f, indent=2)
        f.write("\n")
PY
  echo "recorded $story into $out:"; ls "$out"
done
