#!/bin/bash
# Runs ordo's integration tests (build tag integration) against real
# Apache Kafka in Docker, with independent witnesses (kcat, the Java client).
#
#   bash .ci/integration.sh
#
# Steps, each skipped when already done: install the tools (kcat,
# debootstrap, maven, a JDK, PostgreSQL 15) with apt; start Docker (.ci/docker.sh); build
# the offline Kafka image (.ci/kafka-image/build.sh); regenerate the Java
# partitioner vectors and fail if they differ from the checked-in ones;
# start a real schema registry on loopback (Apicurio Registry serving the
# Confluent API, .ci/apicurio.sh) and export ORDO_TEST_REGISTRY; then
#
#   go test -race -tags integration -count=1 -timeout 30m ./... (every module)
#
# Every integration test bounds itself (kafkatest.Bound): a test that hangs
# stops its package with a goroutine dump that names it, within minutes;
# the package timeout is only the backstop.
#
# on the newest Kafka (ordo/kafka:4, Kafka 4.4.0), and the restart and
# rebalance tests again on the older supported line (ordo/kafka:4.1, Kafka
# 4.1.2). ORDO_TEST_REGISTRY_KIND=srfake serves franz-go's srfake instead
# (it answers "compatible" to every check: never for CI).
#
# On exit it stops the registry, removes test containers left behind, and
# stops dockerd if this script started it (ORDO_KEEP_DOCKER=1 keeps it).
# Caches live in $ORDO_CACHE (default ~/.cache/ordo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ORDO_CACHE=${ORDO_CACHE:-$HOME/.cache/ordo}
export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}
mkdir -p "$ORDO_CACHE/bin"

log() { echo "integration: $*" >&2; }

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if [[ ! -f /tmp/.ordo-apt-updated ]]; then
		apt-get update -q >&2 && touch /tmp/.ordo-apt-updated
	fi
	# Package lists may be stale on a long-lived machine: refresh, retry once.
	apt-get install -y -q "$@" >&2 || {
		apt-get update -q >&2
		apt-get install -y -q "$@" >&2
	}
}

install_tools() {
	local need=()
	command -v kcat >/dev/null || need+=(kcat)
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v mvn >/dev/null || need+=(maven)
	command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
	# PostgreSQL 15 for the outbox and inbox stores' tests: each test
	# package starts its own server with initdb and pg_ctl on 127.0.0.1
	# (internal/pgtest), as the postgres user the package creates.
	[[ -x /usr/lib/postgresql/15/bin/initdb ]] || need+=(postgresql-15)
	if ((${#need[@]} > 0)); then
		log "installing ${need[*]}"
		apt_install "${need[@]}"
	fi
}

remove_test_containers() {
	local ids
	ids=$(docker ps -aq --filter label=ordo.kafkatest 2>/dev/null || true)
	if [[ -n $ids ]]; then
		log "removing test containers left behind (id, test):"
		docker ps -a --filter label=ordo.kafkatest --format '  {{.ID}} {{.Label "ordo.kafkatest"}} {{.Status}}' >&2 || true
		# shellcheck disable=SC2086
		docker rm -f $ids >/dev/null || true
	fi
}

REGISTRY_PID=
APICURIO=0
STARTED_DOCKER=0
cleanup() {
	if [[ -n $REGISTRY_PID ]]; then
		kill "$REGISTRY_PID" 2>/dev/null || true
		wait "$REGISTRY_PID" 2>/dev/null || true
	fi
	if ((APICURIO == 1)); then
		bash .ci/apicurio.sh stop || true
	fi
	remove_test_containers
	if ((STARTED_DOCKER == 1)) && [[ ${ORDO_KEEP_DOCKER:-0} != 1 ]]; then
		local pid
		pid=$(cat /var/run/docker.pid 2>/dev/null || true)
		if [[ -n $pid ]]; then
			log "stopping the dockerd this run started (pid $pid)"
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 30); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 1
			done
		fi
	fi
}
trap cleanup EXIT

start_registry() {
	if [[ ${ORDO_TEST_REGISTRY_KIND:-apicurio} == srfake ]]; then
		start_srfake
		return
	fi
	APICURIO=1
	ORDO_TEST_REGISTRY=$(bash .ci/apicurio.sh start)
	export ORDO_TEST_REGISTRY
	log "schema registry: Apicurio at $ORDO_TEST_REGISTRY"
}

start_srfake() {
	local url_file=$ORDO_CACHE/registry.url
	rm -f "$url_file"
	go build -o "$ORDO_CACHE/bin/srserver" ./internal/kafkatest/srserver
	"$ORDO_CACHE/bin/srserver" -addr 127.0.0.1:0 -url-file "$url_file" >/dev/null &
	REGISTRY_PID=$!
	for _ in $(seq 100); do
		[[ -s $url_file ]] && break
		kill -0 "$REGISTRY_PID" 2>/dev/null || {
			log "error: srserver exited"
			exit 1
		}
		sleep 0.1
	done
	[[ -s $url_file ]] || {
		log "error: srserver wrote no URL in 10s"
		exit 1
	}
	ORDO_TEST_REGISTRY=$(cat "$url_file")
	export ORDO_TEST_REGISTRY
	log "schema registry: srfake (srserver) at $ORDO_TEST_REGISTRY"
}

check_java_vectors() {
	local fresh=$ORDO_CACHE/java_murmur2.tsv want=internal/witness/testdata/java_murmur2.tsv
	bash internal/witness/java/gen.sh "$fresh"
	if ! cmp -s "$fresh" "$want"; then
		log "error: the Java client's partitioner vectors differ from $want:"
		diff "$want" "$fresh" | head -n 20 >&2 || true
		exit 1
	fi
	log "Java client vectors match $want"
}

main() {
	local t0=$SECONDS
	install_tools
	docker info >/dev/null 2>&1 || STARTED_DOCKER=1
	bash .ci/docker.sh
	remove_test_containers
	local t=$SECONDS image=${ORDO_KAFKA_IMAGE:-ordo/kafka:4} older=${ORDO_KAFKA_OLDER_IMAGE:-ordo/kafka:4.1}
	if [[ $image == ordo/* ]]; then
		bash .ci/kafka-image/build.sh
		ORDO_KAFKA_IMAGE=$older ORDO_KAFKA_VERSION=4.1.2 bash .ci/kafka-image/build.sh
		log "Kafka images $image and $older ready in $((SECONDS - t))s"
	else
		log "using image $image as it is (ORDO_KAFKA_IMAGE)"
	fi
	check_java_vectors
	start_registry
	log "setup took $((SECONDS - t0))s; running go test -race -tags integration ./..."
	local rc=0
	# Every module of the workspace (go.work): the SDK, the examples and
	# the test harnesses.
	local modules
	mapfile -t modules < <(go list -f '{{.Dir}}/...' -m)
	go test -race -tags integration -count=1 -timeout 30m "${modules[@]}" || rc=$?
	log "go test exited $rc; total $((SECONDS - t0))s"
	if [[ $image == ordo/* ]] && ((rc == 0)); then
		log "restart and rebalance tests on the older line ($older)"
		ORDO_KAFKA_IMAGE=$older go test -race -tags integration -count=1 -timeout 20m \
			-run 'TestRestartAndRebalance|TestClusterNoAckedLossAcrossRestart' ./internal/e2e/ ./internal/kafkatest/ || rc=$?
		log "older line exited $rc; total $((SECONDS - t0))s"
	fi
	# --- fault suite ---
	# The crash-and-partition suite (internal/faults, build tags integration
	# and faults, so the go test ./... above leaves it out) in its short
	# form, then every fuzz target for ORDO_FUZZTIME (10 s) each. Both run
	# even when an earlier step failed: their verdicts are independent.
	local tf=$SECONDS
	bash internal/faults/run.sh short || rc=$?
	log "fault suite done after $((SECONDS - tf))s (rc $rc)"
	tf=$SECONDS
	ORDO_FUZZTIME=${ORDO_FUZZTIME:-10s} bash internal/faults/fuzz.sh || rc=$?
	log "fuzzing done after $((SECONDS - tf))s (rc $rc); total $((SECONDS - t0))s"
	# --- end fault suite ---
	return "$rc"
}

# --- avro interop witnesses ---
# internal/witness/avro_interop_test.go runs Python fastavro (installed here
# from PyPI) and Apache Avro Java (resolved by mvn from Maven Central in
# internal/witness/avrojava/run.sh); it fails, never skips, without them.
install_avro_witnesses() {
	command -v python3 >/dev/null || apt_install python3 python3-pip
	if ! python3 -c 'import fastavro' 2>/dev/null; then
		log "installing fastavro"
		python3 -m pip install -q fastavro >&2 ||
			python3 -m pip install -q --break-system-packages fastavro >&2
	fi
}
install_avro_witnesses
# --- end avro interop witnesses ---

main "$@"
