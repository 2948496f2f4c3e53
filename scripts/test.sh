#!/usr/bin/env bash
# The one test command: installs what the tests need (skipping what is present), then runs
# formatting, the infra checks, lints, every test, the golden drift check, event validation,
# bench builds and a short fuzz run. `.ci/run` calls exactly this. Usage: scripts/test.sh [--no-fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
fuzz=1
for a in "$@"; do
  case "$a" in
    --no-fuzz) fuzz=0 ;;
    *) echo "unknown option $a" >&2; exit 64 ;;
  esac
done

# Each step prints how long the one before it took, so a slow CI run shows where its time went.
started=$SECONDS
last=$SECONDS
step() {
  [ -n "${current:-}" ] && printf '<== %s: %ds\n' "$current" $((SECONDS - last))
  current=$*
  last=$SECONDS
  printf '\n==> %s\n' "$*"
}

step "toolchain"
scripts/install.sh

# The real servers of the integration tests install in the background, beside the workspace
# build (cargo leaves a core idle in its serial stretches: big crates, links): Apache Kafka's
# jars from Maven Central, SeaweedFS and the Lambda Runtime Interface Emulator built from the
# Go module proxy (niced), moto's venv (Secrets Manager only), the Eureka server and Spring Cloud
# client jars (Maven, tests/peers/eureka), the Dubbo provider and Spring Cloud Zookeeper app
# (Maven, tests/peers/dubbo). Each skips what is present.
peers_log=$(mktemp)
setsid scripts/services.sh install kafka seaweedfs rie moto eureka dubbo >"$peers_log" 2>&1 &
peers_pid=$!
# The istio harness (tests/istio, a Go module on istio.io/istio) compiles in the background too:
# `-run '^$'` builds the test binary into Go's cache and runs nothing, so the `go test` after the
# cargo tests only links and runs. Modules and builds stay in ~/go and ~/.cache/go-build.
istio_log=$(mktemp)
(cd tests/istio && setsid nice go test -count=1 -run '^$' ./... >"$istio_log" 2>&1) &
istio_pid=$!
# setsid: its own process group, so an early exit stops the builds too, not only the script.
trap 'kill -- -"$peers_pid" 2>/dev/null || true; kill "$istio_pid" 2>/dev/null || true; scripts/services.sh stop all' EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "infra: terraform fmt, checkov (no failed check; skips justified inline), kustomize"
scripts/check-infra.sh

# One feature set for every debug build below, so cargo builds the workspace once: `it` turns on
# the integration tests against the real servers started first. Building per package (-p) with
# different features rebuilt the dependency graph each time and filled CI's disk.
export CARGO_INCREMENTAL=0
it_features=regsync-e2e/it,regsync-store/it,regsync-snapshots/it,ingest-kafka/it,ingest-webhook/it,regsync/it,regsync-mcp-server/it,regsync-bridge/it

step "build every target (tests, benches, examples) linted by clippy -D warnings"
# clippy-driver compiles the workspace's own crates (the mechanism `cargo clippy` uses), so one
# build lints them and produces the test and bench binaries; a separate `cargo clippy` checked
# the ~700 dependencies again, 48 of a CI run's 90 minutes. Exported: every cargo call below
# then finds this build fresh. Benches are built in the test profile; scripts/bench-*.sh run them
# optimized.
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
cargo test --workspace --all-targets --locked --features "$it_features" --no-run

step "real servers on 127.0.0.1 for the integration tests"
if ! wait "$peers_pid"; then
  cat "$peers_log" >&2
  echo "installing the test servers failed (log above); scripts/services.sh install NAME retries one" >&2
  exit 1
fi
cat "$peers_log"
rm -f "$peers_log"
eval "$(scripts/services.sh start seaweedfs)"
echo "SeaweedFS (S3) at $REGSYNC_IT_S3_ENDPOINT"
eval "$(scripts/services.sh start kafka)"
echo "Apache Kafka at $REGSYNC_IT_KAFKA_BROKERS (SASL_SSL $REGSYNC_IT_KAFKA_SASL_SSL_BROKERS, SSL $REGSYNC_IT_KAFKA_SSL_BROKERS)"
eval "$(scripts/services.sh start zookeeper)"
echo "ZooKeeper (standalone) at $REGSYNC_IT_ZK"
eval "$(scripts/services.sh start moto)"
echo "moto (Secrets Manager only) at $REGSYNC_IT_SECRETS_ENDPOINT"
eval "$(scripts/services.sh start eureka)"
echo "Eureka server (Spring Cloud Netflix) at $REGSYNC_IT_EUREKA_URL"

step "cargo test (unit, contract and integration: s3_it, secrets_it, dlq_topic_it, consume_it, kafka_security_it, mcp store on S3, zookeeper_it)"
# consume_it drives regsync consume through the real broker: golden snapshots in file:// and S3,
# SIGKILL and restart, poison records to the DLQ, SIGTERM commits; kafka_security_it the same
# over SASL_SSL/SCRAM and TLS.
test_log=$(mktemp)
# The 8-writer x 500-update snapshot test runs 50 each here: unoptimized, 500 take ~15 min
# (scripts/bench-store.sh runs the 500, optimized).
REGSYNC_TEST_UPDATES=50 cargo test --workspace --locked --features "$it_features" 2>&1 | tee "$test_log"
grep -E '^test result: ' "$test_log" | awk '{p+=$4; f+=$6} END {printf "\ntests: %d passed, %d failed\n", p, f}'
rm -f "$test_log"

step "istiod's own code as the MCP peer (tests/istio: go test on istio.io/istio)"
# Each scenario fills a store with target/debug/regsync from events/, serves it with `regsync mcp
# serve` (one with `regsync up`), syncs istiod's pkg/adsc client into istio's validating store and
# generates a sidecar's clusters and endpoints with pilot/test/xds. One line per scenario.
if ! wait "$istio_pid"; then
  cat "$istio_log" >&2
  echo "building the istio harness failed (log above); cd tests/istio && go test ./... retries it" >&2
  exit 1
fi
rm -f "$istio_log"
istio_out=$(mktemp)
if (cd tests/istio && REGSYNC_BIN="$PWD/../../target/debug/regsync" go test -count=1 -v ./... >"$istio_out" 2>&1); then
  grep -E '^(istio: |ok )' "$istio_out"
else
  grep -vE 'CRD .* expected to have a v[0-9.]+ annotation' "$istio_out" | tail -150 >&2
  echo "the istio harness failed (above): cd tests/istio && go test -v ./..." >&2
  exit 1
fi
rm -f "$istio_out"

step "regsync events validate (every recorded event)"
# target/debug/regsync is the binary the test run above built.
mapfile -t event_files < <(find events/recordings/eureka-events events/recordings/dubbo-zk -name '*.json' -not -path '*/raw/*' | sort)
target/debug/regsync events validate "${event_files[@]}"

step "golden drift (regenerating must leave tests/golden unchanged)"
UPDATE_GOLDEN=1 cargo test --workspace --locked --features "$it_features" --test golden -q >/dev/null
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "not a git checkout: cannot check golden drift" >&2
  exit 1
fi
drift=$(git status --porcelain -- tests/golden)
if [ -n "$drift" ]; then
  echo "$drift" >&2
  echo "golden files drifted: run UPDATE_GOLDEN=1 cargo test -p regsync-e2e and review the diff" >&2
  exit 1
fi

step "the README's first command (scripts/run.sh) brings up regsync up with the demo"
# Default ports, as the README runs it; a fresh data directory, as on a fresh clone.
up_dir=$(mktemp -d)
# REGSYNC_BIN: the binary the tests built, not a second, optimized build of the workspace.
REGSYNC_BIN=target/debug/regsync REGSYNC_DATA_DIR="$up_dir/data" scripts/run.sh >"$up_dir/out" 2>&1 &
up_pid=$!
for _ in $(seq 1 600); do
  grep -q '^try:' "$up_dir/out" 2>/dev/null && break
  kill -0 "$up_pid" 2>/dev/null || break
  sleep 1
done
cat "$up_dir/out"
entries=$(target/debug/regsync snapshot get --store "file://$up_dir/data/store" | grep -c '^kind: ServiceEntry' || true)
status=$(curl -sf http://127.0.0.1:15014/status || true)
kill -TERM "$up_pid" 2>/dev/null || true
wait "$up_pid" || true
echo "regsync up serves $entries ServiceEntries; /status: ${status:0:120}"
[ "$entries" -ge 5 ] && [[ "$status" == *'"entries":'* ]] || { echo "scripts/run.sh should serve the demo entries" >&2; exit 1; }
rm -rf "$up_dir"

if [ "$fuzz" = 1 ]; then
  step "fuzz smoke"
  # Its own workspace, on nightly (or RUSTC_BOOTSTRAP): not through the pinned clippy-driver.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
echo "target/ holds $(du -sh target | cut -f1)"
step "done"
echo "all checks passed in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
