#!/bin/bash
# Builds the Kafka test image (default ordo/kafka:4) without pulling
# anything from an image registry:
#
#   1. a Debian bookworm root filesystem with a JRE, made by debootstrap from
#      the Debian mirror this machine's apt is configured with;
#   2. the Apache Kafka jars, resolved by Maven from pom.xml;
#   3. start.sh and log4j2.properties;
#
# packed with `docker import`. Every step is cached under $ORDO_CACHE
# (default ~/.cache/ordo), and the image carries a label with the hash of
# its inputs: when an image with the same inputs exists, the script exits at
# once. ORDO_KAFKA_VERSION picks the Kafka release (default: pom.xml's,
# the newest on Maven Central); ORDO_KAFKA_IMAGE overrides the image name;
# ORDO_REBUILD=1 forces a rebuild. Needs root (debootstrap), docker, mvn.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=${ORDO_KAFKA_IMAGE:-ordo/kafka:4}
CACHE=${ORDO_CACHE:-$HOME/.cache/ordo}
VERSION=${ORDO_KAFKA_VERSION:-}
SUITE=bookworm
JRE=openjdk-17-jre-headless

log() { echo "kafka-image: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

inputs_hash() {
	{
		cat "$HERE/pom.xml" "$HERE/start.sh" "$HERE/log4j2.properties" "$HERE/build.sh"
		echo "$VERSION"
	} | sha256sum | cut -c1-16
}

# mvn_version passes ORDO_KAFKA_VERSION to Maven, if set.
mvn_version() { [[ -z $VERSION ]] || echo "-Dkafka.version=$VERSION"; }

# debian_mirror prints the first Debian archive URI of apt's own sources
# (deb822 .sources files or one-line .list files), skipping the security
# archive.
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$f" |
			grep -v -- '-security' | grep -i 'debian' | head -n1 || true)
		[[ -n $uri ]] && {
			echo "$uri"
			return
		}
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" |
			grep -v -- '-security' | grep -i 'debian' | head -n1 || true)
		[[ -n $uri ]] && {
			echo "$uri"
			return
		}
	done
	return 1
}

make_rootfs() {
	local dir=$CACHE/rootfs-$SUITE
	if [[ -f $dir/.ordo-complete ]]; then
		log "reusing root filesystem $dir"
		echo "$dir"
		return
	fi
	command -v debootstrap >/dev/null || {
		log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
	}
	local mirror
	mirror=$(debian_mirror) || die "no Debian mirror found in /etc/apt/sources*"
	log "debootstrap $SUITE with $JRE (mirror from apt sources)"
	rm -rf "$dir"
	debootstrap --variant=minbase --include="$JRE" "$SUITE" "$dir" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $CACHE/debootstrap.log"
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	touch "$dir/.ordo-complete"
	echo "$dir"
}

fetch_jars() {
	local dir
	dir=$CACHE/kafka-jars-$( (cat "$HERE/pom.xml" && echo "$VERSION") | sha256sum | cut -c1-16)
	if [[ -f $dir/.ordo-complete ]]; then
		log "reusing Kafka jars $dir"
		echo "$dir"
		return
	fi
	log "resolving Kafka jars with mvn"
	rm -rf "$dir"
	# shellcheck disable=SC2046
	mvn -q -B -f "$HERE/pom.xml" $(mvn_version) dependency:copy-dependencies \
		-DoutputDirectory="$dir" >"$CACHE/mvn.log" 2>&1 || {
		cat "$CACHE/mvn.log" >&2
		die "mvn dependency:copy-dependencies failed"
	}
	touch "$dir/.ordo-complete"
	echo "$dir"
}

main() {
	local want have
	want=$(inputs_hash)
	have=$(docker image inspect -f '{{index .Config.Labels "ordo.inputs"}}' "$IMAGE" 2>/dev/null || true)
	if [[ $have == "$want" && ${ORDO_REBUILD:-0} != 1 ]]; then
		log "$IMAGE is up to date ($want)"
		return
	fi
	mkdir -p "$CACHE"
	local rootfs jars version
	rootfs=$(make_rootfs)
	jars=$(fetch_jars)
	version=$(find "$jars" -name 'kafka_2.13-*.jar' -printf '%f\n' | sed 's/^kafka_2.13-//; s/\.jar$//')
	[[ -n $version ]] || die "no kafka_2.13 jar in $jars"

	rm -rf "$rootfs/opt/kafka"
	mkdir -p "$rootfs/opt/kafka/libs" "$rootfs/opt/kafka/bin" "$rootfs/opt/kafka/config" "$rootfs/var/lib/kafka/data"
	cp "$jars"/*.jar "$rootfs/opt/kafka/libs/"
	install -m 0755 "$HERE/start.sh" "$rootfs/opt/kafka/bin/start"
	install -m 0644 "$HERE/log4j2.properties" "$rootfs/opt/kafka/config/log4j2.properties"

	log "importing $IMAGE (Kafka $version)"
	tar -C "$rootfs" --exclude=./.ordo-complete -c . | docker import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c "ENV KAFKA_VERSION=$version" \
		-c 'WORKDIR /opt/kafka' \
		-c 'CMD ["/opt/kafka/bin/start"]' \
		-c "LABEL ordo.inputs=$want" \
		-c "LABEL org.apache.kafka.version=$version" \
		- "$IMAGE" >/dev/null
	# The image this one replaces is left untagged: drop it.
	docker image prune -f --filter label=ordo.inputs >/dev/null || true
	log "built $IMAGE (Kafka $version, inputs $want)"
}

main "$@"
