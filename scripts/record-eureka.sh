#!/usr/bin/env bash
# Records what a real Eureka server (tests/peers/eureka, Spring Cloud Netflix) answers while a
# real Spring Cloud application (tests/peers/eureka/client) lives: registered, taken
# OUT_OF_SERVICE and back, then stopped with SIGTERM (its client cancels the lease). Writes the
# raw responses, byte for byte, to DIR (default events/recordings/eureka/spring-cloud-netflix-5)
# and the time of each fetch (ms since the epoch) to events/fetch-times/NAME.txt (outside the
# recordings, which hold payloads only). The server runs here
# on a free port with the test settings (no read-only response cache), then stops.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-events/recordings/eureka/spring-cloud-netflix-5}
times=events/fetch-times/$(basename "$out").txt
mkdir -p "$out" "$(dirname "$times")"
: >"$times"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
app_port=$(free_port)
url=http://127.0.0.1:$port/eureka
scripts/services.sh install eureka
scripts/services.sh node eureka-server "$port" \
  --eureka.server.enable-self-preservation=false \
  --eureka.server.use-read-only-response-cache=false >/tmp/record-eureka-server.log 2>&1 &
server=$!
client=
trap 'kill $server ${client:-} 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "$url/apps"; do kill -0 $server || exit 1; sleep 0.5; done

fetch() { # NAME PATH [ACCEPT]: one GET, its body to $out/NAME, its time to fetch-times.txt
  local accept=${3:-application/json}
  echo "$1 $(date +%s%3N)" >>"$times"
  curl -sf -H "Accept: $accept" "$url/$2" -o "$out/$1"
}

REGSYNC_IT_EUREKA_URL=$url scripts/services.sh node eureka-client orders "$app_port" orders-1 127.0.0.61 \
  --eureka.instance.metadata-map.version=v1 --eureka.instance.metadata-map.zone=zone-a \
  >/tmp/record-eureka-client.log 2>&1 &
client=$!
until curl -sf -H 'Accept: application/json' "$url/apps/ORDERS" | grep -q '"status":"UP"'; do
  kill -0 $client || { cat /tmp/record-eureka-client.log >&2; exit 1; }
  sleep 0.5
done
sleep 2 # a few renewals, as a live registry has
fetch 001-apps.json apps/
fetch 001-apps.xml apps/ application/xml
fetch 002-delta-added.json apps/delta
curl -sf -X PUT "$url/apps/ORDERS/orders-1/status?value=OUT_OF_SERVICE"
fetch 003-delta-out-of-service.json apps/delta
curl -sf -X PUT "$url/apps/ORDERS/orders-1/status?value=UP"
fetch 004-delta-back-up.json apps/delta
kill -TERM $client
wait $client || true
client=
fetch 005-delta-cancelled.json apps/delta
fetch 006-apps-empty.json apps/
echo "recorded into $out:"
ls -l "$out"
