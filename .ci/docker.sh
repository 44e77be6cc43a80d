#!/bin/bash
# Makes sure a Docker engine answers on this machine; idempotent.
#
# Installs Debian's docker.io when dockerd is missing, starts dockerd in the
# background when `docker info` does not answer, and waits (bounded) until it
# does. The flags suit a sandbox without a usable firewall: no iptables, no
# default bridge. Containers here use host networking only.
# Log: $ORDO_DOCKERD_LOG (default /var/log/ordo-dockerd.log).
set -euo pipefail

LOG=${ORDO_DOCKERD_LOG:-/var/log/ordo-dockerd.log}
WAIT=${ORDO_DOCKERD_WAIT:-60}

log() { echo "docker: $*" >&2; }

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine has no package lists yet; refresh them at most once.
	if [[ ! -f /tmp/.ordo-apt-updated ]]; then
		apt-get update -q >&2 && touch /tmp/.ordo-apt-updated
	fi
	apt-get install -y -q "$@" >&2
}

if docker info >/dev/null 2>&1; then
	log "engine already answers"
	exit 0
fi

if ! command -v dockerd >/dev/null; then
	log "installing docker.io"
	apt_install docker.io
fi
command -v docker >/dev/null || apt_install docker.io

# start_dockerd launches dockerd with the given extra flags and waits for it;
# it fails when dockerd exits or does not answer in time.
start_dockerd() {
	log "starting dockerd${*:+ $*} (log: $LOG)"
	mkdir -p "$(dirname "$LOG")"
	nohup dockerd --iptables=false --ip6tables=false --bridge=none "$@" \
		>>"$LOG" 2>&1 </dev/null &
	local pid=$!
	disown
	for ((i = 0; i < WAIT; i++)); do
		if docker info >/dev/null 2>&1; then
			log "engine ready after ${i}s ($(docker version -f '{{.Server.Version}}'))"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || {
			log "dockerd exited"
			return 1
		}
		sleep 1
	done
	log "dockerd did not answer within ${WAIT}s"
	return 1
}

if pgrep -x dockerd >/dev/null; then
	# Started by someone else and still coming up: wait for it.
	for ((i = 0; i < WAIT; i++)); do
		docker info >/dev/null 2>&1 && exit 0
		sleep 1
	done
	log "error: a dockerd runs but does not answer; last lines of $LOG:"
	tail -n 30 "$LOG" >&2 || true
	exit 1
fi

# The storage driver dockerd picks (overlay2) works in these sandboxes; vfs
# is the slow fallback for a kernel without overlayfs.
start_dockerd && exit 0
start_dockerd --storage-driver=vfs && exit 0
log "error: cannot start dockerd; last lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
