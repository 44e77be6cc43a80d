#!/bin/bash
# Starts PostgreSQL 15 (Debian's package) on 127.0.0.1 for the tests of the
# outbox, the inbox and the fault suite's database scenarios:
#
#   bash .ci/postgres.sh start   # prints the connection URL on stdout
#   bash .ci/postgres.sh stop
#
# Installs postgresql-15 with apt when initdb is missing. The cluster is
# made fresh on each start with initdb (trust authentication on loopback
# only) in $ORDO_POSTGRES_DIR (/var/tmp/ordo-postgres), owned by the
# `postgres` system user (the server refuses to run as root), and started
# with pg_ctl on a free port.
# Environment: ORDO_POSTGRES_PORT (a free port), ORDO_POSTGRES_WAIT
# (seconds, 60). Log: $ORDO_POSTGRES_DIR.log.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
DATA=${ORDO_POSTGRES_DIR:-/var/tmp/ordo-postgres}
LOG=$DATA.log
WAIT=${ORDO_POSTGRES_WAIT:-60}

log() { echo "postgres: $*" >&2; }

install() {
	[[ -x $BIN/initdb ]] && return
	log "installing postgresql-15"
	export DEBIAN_FRONTEND=noninteractive
	if [[ ! -f /tmp/.ordo-apt-updated ]]; then
		apt-get update -q >&2 && touch /tmp/.ordo-apt-updated
	fi
	apt-get install -y -q postgresql-15 >&2
}

# as runs a command as the postgres user when we are root, else as us.
as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
	install
	stop >/dev/null 2>&1 || true
	rm -rf "$DATA"
	mkdir -p "$DATA"
	if [[ $(id -u) == 0 ]]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		chown postgres "$DATA"
		touch "$LOG" && chown postgres "$LOG"
	fi
	as "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null
	local port=${ORDO_POSTGRES_PORT:-$(free_port)}
	# Loopback only; durability off: these are test clusters, and fsync
	# on a busy shared disk only slows them.
	as "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$WAIT" start \
		-o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2
	echo "$port" >"$DATA/ordo.port"
	log "ready on 127.0.0.1:$port (log: $LOG)"
	echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

stop() {
	[[ -f $DATA/postmaster.pid ]] || return 0
	as "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >&2
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
