#!/usr/bin/env bash
# Installs (once), starts and stops the real servers the integration tests talk to, all on
# 127.0.0.1, all under .services/ (ignored by git). Usage:
#   scripts/services.sh start moto    # S3-compatible server; prints the REGSYNC_IT_* variable
#   scripts/services.sh start tansu   # Kafka-protocol broker (sqlite storage); same
#   scripts/services.sh start zookeeper  # ZooKeeper 3.8 standalone (Debian package); same
#   scripts/services.sh start kafka   # Apache Kafka 4.4 (KRaft, Maven Central jars): PLAINTEXT
#                                     # on REGSYNC_IT_KAFKA_PORT, SASL_SSL (SCRAM-SHA-512) on +1,
#                                     # SSL on +2; prints the REGSYNC_IT_KAFKA_* variables
#   scripts/services.sh stop moto|tansu|zookeeper|kafka|all
#   scripts/services.sh install tansu|kafka   # only build/resolve it
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.services
mkdir -p "$dir"
MOTO_PORT=${REGSYNC_IT_S3_PORT:-9000}
KAFKA_PORT=${REGSYNC_IT_KAFKA_PORT:-9092}
ZK_PORT=${REGSYNC_IT_ZK_PORT:-2181}
TANSU_VERSION=0.6.0
# The SCRAM user the SASL_SSL listener knows (created through the admin API at start).
KAFKA_SCRAM_USER=regsync
KAFKA_SCRAM_PASSWORD=regsync-it-secret

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

install_kafka() {
  # The broker's classpath from Maven Central (tests/peers/kafka/pom.xml: kafka_2.13, kafka-tools
  # for ConfigCommand, a log4j2 binding); the jars stay in ~/.m2, only the path list is here.
  if [ ! -s "$dir/kafka.cp" ] || [ tests/peers/kafka/pom.xml -nt "$dir/kafka.cp" ]; then
    command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
    echo "resolving Apache Kafka from Maven Central (tests/peers/kafka/pom.xml)" >&2
    mvn -B -q -f tests/peers/kafka/pom.xml \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:build-classpath \
      -Dmdep.outputFile="$PWD/$dir/kafka.cp.new" >&2
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

start_kafka() {
  install_kafka
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    kafka_env
    return
  fi
  command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
  local k=$dir/kafka cp
  cp=$(cat "$dir/kafka.cp")
  rm -rf "$k" && mkdir -p "$k/data"
  kafka_tls
  local plain=$KAFKA_PORT sasl=$((KAFKA_PORT + 1)) ssl=$((KAFKA_PORT + 2)) ctl=$((KAFKA_PORT + 3))
  cat >"$k/server.properties" <<CFG
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$ctl
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$plain,SASL_SSL://127.0.0.1:$sasl,SSL://127.0.0.1:$ssl,CONTROLLER://127.0.0.1:$ctl
advertised.listeners=PLAINTEXT://127.0.0.1:$plain,SASL_SSL://127.0.0.1:$sasl,SSL://127.0.0.1:$ssl
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$PWD/$k/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
ssl.keystore.type=PKCS12
ssl.keystore.location=$PWD/$k/tls/server.p12
ssl.keystore.password=regsync-keystore
ssl.key.password=regsync-keystore
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
CFG
  cat >"$k/log4j2.properties" <<'CFG'
rootLogger.level=WARN
rootLogger.appenderRef.out.ref=out
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=%d{HH:mm:ss.SSS} %-5p %c{1}: %m%n
CFG
  local log4j="-Dlog4j2.configurationFile=$PWD/$k/log4j2.properties"
  java "$log4j" -cp "$cp" kafka.tools.StorageTool format --cluster-id "$(java "$log4j" -cp "$cp" kafka.tools.StorageTool random-uuid)" \
    --config "$k/server.properties" >"$k/format.log" 2>&1 || { cat "$k/format.log" >&2; exit 1; }
  # Backgrounded directly, so $! is the broker's PID.
  java -Xmx512m "$log4j" -cp "$cp" kafka.Kafka "$k/server.properties" >"$k/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  for _ in $(seq 1 600); do
    kafka_up && break
    kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null || break
    sleep 0.1
  done
  kafka_up || { echo "kafka not ready after 60 s" >&2; cat "$k/kafka.log" >&2; exit 1; }
  # The SCRAM user, through the admin API (kafka-configs.sh's ConfigCommand) on PLAINTEXT.
  java "$log4j" -cp "$cp" org.apache.kafka.tools.ConfigCommand --bootstrap-server "127.0.0.1:$plain" \
    --alter --entity-type users --entity-name "$KAFKA_SCRAM_USER" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$KAFKA_SCRAM_PASSWORD]" >"$k/scram.log" 2>&1 \
    || { cat "$k/scram.log" >&2; exit 1; }
  kafka_env
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
  "install kafka") install_kafka ;;
  "start kafka") start_kafka ;;
  "stop kafka") stop kafka ;;
  "stop all") stop moto; stop tansu; stop zookeeper; stop kafka ;;
  *) sed -n '2,13p' "$0" >&2; exit 64 ;;
esac
