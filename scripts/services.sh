#!/usr/bin/env bash
# Installs (once), starts and stops the real servers the integration tests talk to, all on
# 127.0.0.1, all under .services/ (ignored by git). Usage:
#   scripts/services.sh start kafka   # Apache Kafka 4.4 (KRaft, Maven Central jars): PLAINTEXT
#                                     # on REGSYNC_IT_KAFKA_PORT (9092), SASL_SSL (SCRAM-SHA-512)
#                                     # on +1, SSL on +2; prints the REGSYNC_IT_KAFKA_* variables
#   scripts/services.sh start seaweedfs  # SeaweedFS `weed mini` (Go module), S3 on
#                                     # REGSYNC_IT_S3_PORT (8333); prints REGSYNC_IT_S3_ENDPOINT
#   scripts/services.sh start zookeeper  # ZooKeeper 3.8 standalone (Debian package); REGSYNC_IT_ZK
#   scripts/services.sh start moto    # moto, for Secrets Manager only (SeaweedFS has none);
#                                     # prints REGSYNC_IT_SECRETS_ENDPOINT
#   scripts/services.sh start eureka  # a Netflix Eureka server (Spring Cloud, tests/peers/eureka)
#                                     # on REGSYNC_IT_EUREKA_PORT (8761), fast leases and eviction;
#                                     # prints REGSYNC_IT_EUREKA_URL
#   scripts/services.sh stop kafka|seaweedfs|zookeeper|moto|eureka|all
#   scripts/services.sh install kafka|seaweedfs|rie|moto|eureka|dubbo ...  # only build/resolve
#   scripts/services.sh node zookeeper DIR PORT    # a private ZooKeeper, in the foreground
#   scripts/services.sh node dubbo-provider [--app A --zookeeper H:P --register-mode M
#       --protocol dubbo:PORT --service greeting:GROUP:VERSION:WEIGHT ...]  # tests/peers/dubbo
#   scripts/services.sh node sc-zookeeper APP PORT ID IP ZK [--spring.property=value ...]
#                                     # a Spring Cloud Zookeeper app, in the foreground
#   scripts/services.sh node eureka-client APP PORT ID IP [--spring.property=value ...]
#   scripts/services.sh node eureka-server PORT [--spring.property=value ...]  # foreground
#                                     # a Spring Cloud app registering itself, in the foreground
#   scripts/services.sh node kafka DIR PORT CONTROLLER_PORT   # a private broker, in the
#   scripts/services.sh node seaweedfs DIR PORT               # foreground (fault tests kill it)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.services
mkdir -p "$dir"
MOTO_PORT=${REGSYNC_IT_SECRETS_PORT:-9000}
SEAWEEDFS_PORT=${REGSYNC_IT_S3_PORT:-8333}
KAFKA_PORT=${REGSYNC_IT_KAFKA_PORT:-9092}
ZK_PORT=${REGSYNC_IT_ZK_PORT:-2181}
EUREKA_PORT=${REGSYNC_IT_EUREKA_PORT:-8761}
# The SCRAM user the SASL_SSL listener knows (created through the admin API at start).
KAFKA_SCRAM_USER=regsync
KAFKA_SCRAM_PASSWORD=regsync-it-secret
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
weed=$PWD/$dir/bin/weed
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d

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

until_ready() { # NAME SECONDS CHECK...: until CHECK passes, while NAME's pid file names a live
  # process; says which happened on failure
  local name=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" && return 0
    kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || { echo "$name exited (log below)" >&2; return 1; }
    sleep 0.1
  done
  echo "$name not ready after $seconds s (log below)" >&2
  return 1
}

start_moto() {
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  install_moto
  if [ -f "$dir/moto.pid" ] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_SECRETS_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
    return
  fi
  # Backgrounded directly, so $! is the server's PID.
  "$dir/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  wait_for "http://127.0.0.1:$MOTO_PORT/moto-api/" 30 || { cat "$dir/moto.log" >&2; exit 1; }
  echo "export REGSYNC_IT_SECRETS_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
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

zk_config() { # DIR PORT: a standalone ZooKeeper's zoo.cfg in DIR, its data in DIR/data (kept)
  mkdir -p "$1/data"
  cat >"$1/zoo.cfg" <<CFG
tickTime=2000
dataDir=$(cd "$1" && pwd)/data
clientPort=$2
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
minSessionTimeout=2000
CFG
}

zk_java() { # ZOO_CFG [HEAP]: ZooKeeperServerMain from the Debian package, in the foreground
  local cp=/usr/share/java/zookeeper.jar
  [ -f /usr/share/java/slf4j-simple.jar ] && cp="$cp:/usr/share/java/slf4j-simple.jar"
  exec java -Xmx"${2:-256m}" -cp "$cp" org.apache.zookeeper.server.ZooKeeperServerMain "$1"
}

start_zookeeper() {
  install_zookeeper
  if [ -f "$dir/zookeeper.pid" ] && kill -0 "$(cat "$dir/zookeeper.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_ZK=127.0.0.1:$ZK_PORT"
    return
  fi
  # Standalone, with its own config and data dir; not the system service.
  rm -rf "$dir/zookeeper"
  zk_config "$dir/zookeeper" "$ZK_PORT"
  (zk_java "$dir/zookeeper/zoo.cfg") >"$dir/zookeeper/zookeeper.log" 2>&1 &
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

install_kafka() {
  # The broker's classpath from Maven Central (tests/peers/kafka/pom.xml: kafka_2.13, kafka-tools
  # for ConfigCommand, a log4j2 binding); the jars stay in ~/.m2, only the path list is here.
  if [ ! -s "$dir/kafka.cp" ] || [ tests/peers/kafka/pom.xml -nt "$dir/kafka.cp" ]; then
    command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
    echo "resolving Apache Kafka from Maven Central (tests/peers/kafka/pom.xml)" >&2
    # Its output (colour codes even when quiet) only when it fails.
    mvn -B -q -f tests/peers/kafka/pom.xml \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
      -Dmdep.outputFile="$PWD/$dir/kafka.cp.new" >"$dir/mvn-kafka.log" 2>&1 \
      || { cat "$dir/mvn-kafka.log" >&2; exit 1; }
    mv "$dir/kafka.cp.new" "$dir/kafka.cp"
  fi
}

kafka_env() {
  echo "export REGSYNC_IT_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
  echo "export REGSYNC_IT_KAFKA_SASL_SSL_BROKERS=127.0.0.1:$((KAFKA_PORT + 1))"
  echo "export REGSYNC_IT_KAFKA_SSL_BROKERS=127.0.0.1:$((KAFKA_PORT + 2))"
  echo "export REGSYNC_IT_KAFKA_CA=$PWD/$dir/kafka/tls/ca.pem"
  echo "export REGSYNC_IT_KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER"
  echo "export REGSYNC_IT_KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD"
}

kafka_tls() { # a fresh CA and a server certificate for 127.0.0.1/localhost, as PEM and PKCS12
  local tls=$dir/kafka/tls
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=regsync test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 30 -extfile "$tls/san.ext" -out "$tls/server.pem" 2>/dev/null
  openssl pkcs12 -export -in "$tls/server.pem" -inkey "$tls/server.key" -certfile "$tls/ca.pem" \
    -name broker -passout pass:regsync-keystore -out "$tls/server.p12"
}

kafka_up() { # the PLAINTEXT port accepts connections
  { exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT"; } 2>/dev/null || return 1
  exec 3<&- 3>&-
}

kafka_config() { # DIR PLAINTEXT_PORT CONTROLLER_PORT [secure]: server.properties and log4j2
  local k=$1 plain=$2 ctl=$3 listeners protocols
  listeners="PLAINTEXT://127.0.0.1:$plain"
  protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ "${4:-}" = secure ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$((plain + 1)),SSL://127.0.0.1:$((plain + 2))"
    protocols="$protocols,SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  mkdir -p "$k/data"
  cat >"$k/server.properties" <<CFG
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctl
controller.listener.names=CONTROLLER
listeners=$listeners,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=$listeners
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$k/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
CFG
  if [ "${4:-}" = secure ]; then
    cat >>"$k/server.properties" <<CFG
ssl.keystore.type=PKCS12
ssl.keystore.location=$k/tls/server.p12
ssl.keystore.password=regsync-keystore
ssl.key.password=regsync-keystore
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
CFG
  fi
  cat >"$k/log4j2.properties" <<'CFG'
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=%d{HH:mm:ss.SSS} %-5p %c{1}: %m%n
CFG
}

kafka_java() { # DIR ARGS...: java with the broker's classpath and DIR's log4j2 configuration
  local k=$1
  shift
  command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
  java "-Dlog4j2.configurationFile=$k/log4j2.properties" -cp "$(cat "$dir/kafka.cp")" "$@"
}

kafka_format() { # DIR: format the KRaft log directory once
  local k=$1
  [ -f "$k/data/meta.properties" ] && return
  kafka_java "$k" kafka.tools.StorageTool format \
    --cluster-id "$(kafka_java "$k" kafka.tools.StorageTool random-uuid)" \
    --config "$k/server.properties" >"$k/format.log" 2>&1 || { cat "$k/format.log" >&2; exit 1; }
}

node_kafka() { # DIR PORT CONTROLLER_PORT: a private PLAINTEXT broker in the foreground; its data
  # in DIR survives a kill, so the same command restarts it
  install_kafka
  local k
  k=$(cd "$1" && pwd)
  [ -f "$k/server.properties" ] || kafka_config "$k" "$2" "$3"
  kafka_format "$k"
  command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
  exec java -Xmx384m "-Dlog4j2.configurationFile=$k/log4j2.properties" -cp "$(cat "$dir/kafka.cp")" \
    kafka.Kafka "$k/server.properties"
}

start_kafka() {
  install_kafka
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    kafka_env
    return
  fi
  local k=$PWD/$dir/kafka
  rm -rf "$k" && mkdir -p "$k"
  kafka_tls
  kafka_config "$k" "$KAFKA_PORT" $((KAFKA_PORT + 3)) secure
  kafka_format "$k"
  # Backgrounded directly, so $! is the broker's PID.
  java -Xmx512m "-Dlog4j2.configurationFile=$k/log4j2.properties" -cp "$(cat "$dir/kafka.cp")" \
    kafka.Kafka "$k/server.properties" >"$k/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  until_ready kafka 60 kafka_up || { cat "$k/kafka.log" >&2; exit 1; }
  # The SCRAM user, through the admin API (kafka-configs.sh's ConfigCommand) on PLAINTEXT.
  kafka_java "$k" org.apache.kafka.tools.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
    --alter --entity-type users --entity-name "$KAFKA_SCRAM_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$KAFKA_SCRAM_PASSWORD]" >"$k/scram.log" 2>&1 \
    || { cat "$k/scram.log" >&2; exit 1; }
  kafka_env
}

maven_peers() { # PEERS DIR SRC:DEST...: builds tests/peers/PEERS with Maven (once, and again
  # when a source is newer than the jars), then renames each built jar SRC into DIR/DEST
  local peers=tests/peers/$1 d=$2 pair stale=
  shift 2
  for pair in "$@"; do [ -s "$d/${pair#*:}" ] || stale=1; done
  if [ -z "$stale" ] && [ -z "$(find "$peers" -newer "$d/${1#*:}" -type f -not -path '*/target/*' | head -1)" ]; then
    return 0
  fi
  command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
  echo "building the test peers of $peers with Maven" >&2
  mkdir -p "$d"
  mvn -B -q -f "$peers/pom.xml" package -DskipTests >"$d/mvn.log" 2>&1 \
    || { cat "$d/mvn.log" >&2; exit 1; }
  # Renamed into place: a JVM still running the old jar keeps reading its own (unlinked) file.
  for pair in "$@"; do cp "$peers/${pair%%:*}" "$d/${pair#*:}.new"; done
  for pair in "$@"; do mv "$d/${pair#*:}.new" "$d/${pair#*:}"; done
}

install_eureka() {
  # The Eureka server and a Spring Cloud client application (tests/peers/eureka, Spring Boot
  # 4.0.7 + Spring Cloud 2025.1.4 from Maven Central), as two jars under .services/eureka.
  maven_peers eureka "$dir/eureka" server/target/eureka-server.jar:server.jar \
    client/target/eureka-client.jar:client.jar
}

eureka_up() { curl -sf -H 'Accept: application/json' "http://127.0.0.1:$EUREKA_PORT/eureka/apps" >/dev/null; }

start_eureka() {
  install_eureka
  if [ -f "$dir/eureka.pid" ] && kill -0 "$(cat "$dir/eureka.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_EUREKA_URL=http://127.0.0.1:$EUREKA_PORT/eureka"
    return
  fi
  # Test settings (../shared/docs/real-peers.md, checked here): no read-only cache, leases of 2 s
  # evicted every second whatever their share, self-preservation off. Tests that need the
  # defaults start their own server with `node eureka-server`.
  (node_eureka_server "$EUREKA_PORT" \
    --eureka.server.enable-self-preservation=false \
    --eureka.server.use-read-only-response-cache=false \
    --eureka.server.eviction-interval-timer-in-ms=1000 \
    --eureka.server.renewal-percent-threshold=0 \
    --eureka.server.expected-client-renewal-interval-seconds=1) >"$dir/eureka/server.log" 2>&1 &
  echo $! >"$dir/eureka.pid"
  until_ready eureka 120 eureka_up || { cat "$dir/eureka/server.log" >&2; exit 1; }
  echo "export REGSYNC_IT_EUREKA_URL=http://127.0.0.1:$EUREKA_PORT/eureka"
}

node_eureka_server() { # PORT [ARGS...]: a Eureka server in the foreground with the settings in
  # ARGS only (Spring Boot joins a property given twice into a list, so nothing is preset; heap
  # EUREKA_HEAP, 256m by default); a
  # peer to replicate with is --eureka.client.service-url.defaultZone=http://127.0.0.1:P/eureka/
  install_eureka
  local port=$1
  shift
  exec java -Xmx"${EUREKA_HEAP:-256m}" -jar "$dir/eureka/server.jar" --server.port="$port" "$@"
}

node_eureka_client() { # APP PORT ID IP [ARGS...]: registers with $REGSYNC_IT_EUREKA_URL (renewal
  # every second, lease of 2 s); its own lines go to stdout
  install_eureka
  local app=$1 port=$2 id=$3 ip=$4
  shift 4
  exec java -Xmx160m -XX:TieredStopAtLevel=1 -jar "$dir/eureka/client.jar" \
    --spring.application.name="$app" --server.port="$port" \
    --eureka.client.service-url.defaultZone="${REGSYNC_IT_EUREKA_URL:-http://127.0.0.1:$EUREKA_PORT/eureka}/" \
    --eureka.instance.instance-id="$id" --eureka.instance.ip-address="$ip" \
    --eureka.instance.lease-renewal-interval-in-seconds=1 \
    --eureka.instance.lease-expiration-duration-in-seconds=2 \
    --eureka.client.initial-instance-info-replication-interval-seconds=1 "$@"
}

install_rie() {
  # The AWS Lambda Runtime Interface Emulator (Go module), which runs the functions' bootstrap
  # binaries as Lambda does: the Runtime API, one invocation at a time, errors as Lambda reports.
  local bin=$dir/bin/aws-lambda-rie
  if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$RIE_VERSION" ]; then return; fi
  command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go; }
  echo "building aws-lambda-rie $RIE_VERSION (once per machine: ~1 min cold)" >&2
  mkdir -p "$dir/bin"
  rm -f "$bin"
  # From /, outside this repository's (Rust) tree; go.mod has no replace lines, so go install
  # takes the version directly.
  (cd / && GOBIN=$OLDPWD/$dir/bin CGO_ENABLED=0 GOFLAGS=-buildvcs=false nice -n 19 \
    go install -trimpath -ldflags='-s -w' \
    "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$RIE_VERSION") >&2
  [ -x "$bin" ] || { echo "go install left no $bin" >&2; exit 1; }
  echo "$RIE_VERSION" >"$bin.version"
}

install_seaweedfs() {
  # `weed` from the Go module, built once per machine into .services/bin (module and build caches
  # stay in Go's usual places). Its go.mod has `replace` lines, so `go install ...@version`
  # refuses: build a writable copy of the downloaded module instead.
  local bin=$dir/bin/weed
  if [ -x "$bin" ] && [ "$(cat "$bin.version" 2>/dev/null)" = "$SEAWEEDFS_VERSION" ]; then return; fi
  # The machine's Go (1.26) builds it. Debian 12's golang-go (1.19) is only a fallback: its go.mod
  # asks for 1.26.6, which a Go >= 1.21 would fetch itself as a module; 1.19 cannot.
  command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go; }
  echo "building SeaweedFS $SEAWEEDFS_VERSION (once per machine: ~8 min cold, seconds from a warm Go build cache)" >&2
  local tmp src out=$PWD/$bin.new
  tmp=$(mktemp -d)
  src=$(cd "$tmp" && go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$src" ] || { echo "go mod download gave no source directory" >&2; rm -rf "$tmp"; exit 1; }
  cp -R "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
  mkdir -p "$dir/bin"
  # Niced: it is minutes of compiling next to whatever else the machine builds.
  (cd "$tmp/src/weed" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
    nice -n 19 go build -trimpath -ldflags='-s -w' -o "$out" .) >&2 \
    || { rm -rf "$tmp"; exit 1; }
  rm -rf "$tmp"
  mv "$bin.new" "$bin"
  echo "$SEAWEEDFS_VERSION" >"$bin.version"
}

seaweedfs_ready() { # PORT: a SigV4-signed ListBuckets with the test identity: S3, IAM and filer are up
  curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user test:test \
    "http://127.0.0.1:$1/" >/dev/null 2>&1
}

exec_seaweedfs() { # DIR PORT: weed in the foreground, data in DIR/data (kept across restarts)
  local d=$1 p=$2
  mkdir -p "$d/data"
  # The tests' static credentials (test/test) as an admin identity; requests are SigV4-checked.
  cat >"$d/s3.json" <<'CFG'
{"identities": [{"name": "regsync-test",
  "credentials": [{"accessKey": "test", "secretKey": "test"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
CFG
  # One process, every listener on 127.0.0.1 and offset from the S3 port: master +1, volume +2,
  # filer +3, admin +4, and each one's gRPC at +10000 (S3's too). Explicit ports make weed fail
  # rather than move to another. WebDAV, the admin's legacy port, Iceberg and Lance are off.
  # No telemetry (on by default upstream). 64 MB volumes: each bucket takes volumes of its own,
  # and with mini's computed 1 GB ones a day of test runs ran out (about one per GB of free
  # disk; writes to new buckets then failed with 500 "No writable volumes"). Unset AWS_* keys: weed would add them as one more
  # admin identity. SIGTERM to this one process stops it all.
  cd "$d"
  exec env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    "$weed" mini -dir="$d/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.telemetry=false -master.volumeSizeLimitMB=64 \
      -s3.port="$p" -s3.port.grpc=$((p + 10000)) -s3.config="$d/s3.json" \
      -master.port=$((p + 1)) -master.port.grpc=$((p + 10001)) \
      -volume.port=$((p + 2)) -volume.port.grpc=$((p + 10002)) \
      -filer.port=$((p + 3)) -filer.port.grpc=$((p + 10003)) \
      -admin.port=$((p + 4)) -admin.port.grpc=$((p + 10004)) -admin.port.legacy=0 \
      -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
      -filer.localSocket="$d/filer.sock" -s3.localSocket="$d/s3.sock"
}

start_seaweedfs() {
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  install_seaweedfs
  if [ -f "$dir/seaweedfs.pid" ] && kill -0 "$(cat "$dir/seaweedfs.pid")" 2>/dev/null; then
    echo "export REGSYNC_IT_S3_ENDPOINT=http://127.0.0.1:$SEAWEEDFS_PORT"
    return
  fi
  local d=$PWD/$dir/seaweedfs
  rm -rf "$d" && mkdir -p "$d"
  # The subshell execs weed, so $! is weed's PID.
  (exec_seaweedfs "$d" "$SEAWEEDFS_PORT" >"$d/weed.log" 2>&1) &
  echo $! >"$dir/seaweedfs.pid"
  for _ in $(seq 1 600); do
    if seaweedfs_ready "$SEAWEEDFS_PORT"; then
      echo "export REGSYNC_IT_S3_ENDPOINT=http://127.0.0.1:$SEAWEEDFS_PORT"
      return
    fi
    kill -0 "$(cat "$dir/seaweedfs.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "seaweedfs exited or not ready after 60 s (log below)" >&2
  cat "$d/weed.log" >&2
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

install_dubbo() {
  # A Dubbo 3.3 provider and a Spring Cloud Zookeeper application (tests/peers/dubbo, Maven
  # Central), as two jars under .services/dubbo.
  maven_peers dubbo "$dir/dubbo" provider/target/dubbo-provider.jar:provider.jar \
    sc-zookeeper/target/sc-zookeeper.jar:sc-zookeeper.jar
}

node_dubbo_provider() { # [ARGS...]: a Dubbo provider in the foreground (flags: Provider.java)
  install_dubbo
  exec java -Xmx128m -XX:TieredStopAtLevel=1 -jar "$dir/dubbo/provider.jar" "$@"
}

node_sc_zookeeper() { # APP PORT ID IP ZK [ARGS...]: registers under /services/APP in ZK
  install_dubbo
  local app=$1 port=$2 id=$3 ip=$4 zk=$5
  shift 5
  exec java -Xmx160m -XX:TieredStopAtLevel=1 -jar "$dir/dubbo/sc-zookeeper.jar" \
    --spring.application.name="$app" --server.port="$port" --server.address="$ip" \
    --spring.cloud.zookeeper.connect-string="$zk" \
    --spring.cloud.zookeeper.discovery.instance-id="$id" \
    --spring.cloud.zookeeper.discovery.instance-host="$ip" \
    --spring.cloud.zookeeper.discovery.instance-ip-address="$ip" "$@"
}

install() {
  local name
  for name in "$@"; do
    case "$name" in
      kafka) install_kafka ;;
      seaweedfs) install_seaweedfs ;;
      rie) install_rie ;;
      moto) install_moto ;;
      zookeeper) install_zookeeper ;;
      eureka) install_eureka ;;
      dubbo) install_dubbo ;;
      *) echo "unknown server $name" >&2; exit 64 ;;
    esac
  done
}

case "${1:-} ${2:-}" in
  "install "*) shift; install "$@" ;;
  "start kafka") start_kafka ;;
  "start seaweedfs") start_seaweedfs ;;
  "start zookeeper") start_zookeeper ;;
  "start moto") start_moto ;;
  "start eureka") start_eureka ;;
  "node eureka-client") shift 2; node_eureka_client "$@" ;;
  "node eureka-server") shift 2; node_eureka_server "$@" ;;
  "node kafka") shift 2; node_kafka "$@" ;;
  "node zookeeper") shift 2; install_zookeeper; zk_config "$1" "$2"; zk_java "$1/zoo.cfg" 128m ;;
  "node dubbo-provider") shift 2; node_dubbo_provider "$@" ;;
  "node sc-zookeeper") shift 2; node_sc_zookeeper "$@" ;;
  "node seaweedfs") shift 2; install_seaweedfs; mkdir -p "$1"; exec_seaweedfs "$(cd "$1" && pwd)" "$2" ;;
  "stop kafka" | "stop seaweedfs" | "stop zookeeper" | "stop moto" | "stop eureka") stop "$2" ;;
  "stop all") stop moto; stop zookeeper; stop kafka; stop seaweedfs; stop eureka ;;
  *) sed -n '2,27p' "$0" >&2; exit 64 ;;
esac
