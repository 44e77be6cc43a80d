#!/bin/bash
# Starts a real local cluster for development: one Kafka broker (the image
# the integration suite uses, ordo/kafka:4 built offline, or ORDO_KAFKA_IMAGE)
# and Apicurio Registry, both bound to 127.0.0.1. It prints the flags to
# pass to the examples on stdout, and on stderr the exact commands: the
# examples with those flags, and the ORDO_BROKERS / ORDO_REGISTRY exports
# the examples (examples/taste among them) read. Apicurio serves the
# Confluent API under /apis/ccompat/v7: the registry URL includes it.
# `stop` removes what `start` started.
#
#   bash .ci/devcluster.sh start    # broker on 127.0.0.1:19092 by default
#   go run ./examples/orders -brokers 127.0.0.1:19092 -registry http://127.0.0.1:PORT/apis/ccompat/v7
#   bash .ci/devcluster.sh stop
#
# Environment: ORDO_DEV_BROKER_PORT (19092), ORDO_DEV_CONTROLLER_PORT (19093),
# ORDO_KAFKA_IMAGE (ordo/kafka:4). Needs root for the first start (it may
# install Docker and build the image), like .ci/integration.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export ORDO_CACHE=${ORDO_CACHE:-$HOME/.cache/ordo}
NAME=ordo-devcluster
IMAGE=${ORDO_KAFKA_IMAGE:-ordo/kafka:4}
BPORT=${ORDO_DEV_BROKER_PORT:-19092}
CPORT=${ORDO_DEV_CONTROLLER_PORT:-19093}

log() { echo "devcluster: $*" >&2; }

start() {
	bash .ci/docker.sh
	[[ $IMAGE != ordo/* ]] || bash .ci/kafka-image/build.sh
	docker rm -f "$NAME" >/dev/null 2>&1 || true
	log "starting Kafka ($IMAGE) on 127.0.0.1:$BPORT"
	docker run -d --name "$NAME" --network host \
		-e KAFKA_NODE_ID=1 -e KAFKA_PROCESS_ROLES=broker,controller \
		-e "KAFKA_LISTENERS=PLAINTEXT://127.0.0.1:$BPORT,CONTROLLER://127.0.0.1:$CPORT" \
		-e "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:$BPORT" \
		-e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
		-e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT \
		-e KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT \
		-e "KAFKA_CONTROLLER_QUORUM_VOTERS=1@127.0.0.1:$CPORT" \
		-e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
		-e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 \
		-e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
		-e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 \
		-e KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1 \
		-e KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 \
		-e KAFKA_GROUP_CONSUMER_MIN_SESSION_TIMEOUT_MS=6000 \
		"$IMAGE" >/dev/null
	local url
	url=$(bash .ci/apicurio.sh start)
	local i
	for ((i = 0; i < 120; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null; then
			break
		fi
		sleep 0.5
	done
	log "Kafka answers on 127.0.0.1:$BPORT; registry at $url"
	usage "127.0.0.1:$BPORT" "$url" >&2
	echo "-brokers 127.0.0.1:$BPORT -registry $url"
}

# usage prints how to point the examples at the cluster.
usage() {
	cat <<EOF
devcluster: the examples take these flags:
  go run ./examples/orders -brokers $1 -registry $2
  go run ./examples/evolve -brokers $1 -registry $2
  go run ./examples/downtime -brokers $1 -registry $2
  go run ./examples/dlq list -brokers $1 -registry $2 -topic <topic>.dlt
devcluster: or the environment (examples/taste reads only this):
  export ORDO_BROKERS=$1 ORDO_REGISTRY=$2
  go run ./examples/taste
EOF
}

stop() {
	docker rm -f "$NAME" >/dev/null 2>&1 || true
	bash .ci/apicurio.sh stop
	log "stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
