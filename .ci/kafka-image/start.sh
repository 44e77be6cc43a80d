#!/bin/bash
# Entry point of the offline Kafka test image (see build.sh).
#
# Like the official apache/kafka image, it turns KAFKA_* environment
# variables into server.properties: drop the KAFKA_ prefix, lower-case the
# rest, then "___" -> "-", "__" -> "_", "_" -> ".". So
# KAFKA_ADVERTISED_LISTENERS becomes advertised.listeners. Variables that
# configure the JVM (KAFKA_HEAP_OPTS and friends) are not broker settings.
# CLUSTER_ID names the KRaft cluster; the storage is formatted on first start
# and kept across container stop/start. ORDO_SCRAM_USERS, whitespace-separated
# name=password pairs, creates SCRAM-SHA-512 users when the storage is
# formatted (the passwords are never echoed).
set -euo pipefail

KAFKA_HOME=/opt/kafka
CONF=${KAFKA_CONF:-$KAFKA_HOME/config/server.properties}
CLUSTER_ID=${CLUSTER_ID:-hMO4C6_9S2GxuiSSayDYFg}

jvm_var() {
	case "$1" in
	KAFKA_HEAP_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_OPTS | KAFKA_LOG4J_OPTS | \
		KAFKA_GC_LOG_OPTS | KAFKA_JMX_OPTS | KAFKA_DEBUG | KAFKA_CONF | KAFKA_HOME | KAFKA_VERSION)
		return 0
		;;
	esac
	return 1
}

prop_name() {
	local n=${1#KAFKA_}
	n=${n,,}
	n=${n//___/-}
	n=${n//__/@}
	n=${n//_/.}
	printf '%s' "${n//@/_}"
}

write_config() {
	mkdir -p "$(dirname "$CONF")"
	: >"$CONF"
	local var have_dirs=0
	while IFS= read -r var; do
		jvm_var "$var" && continue
		[[ $var == KAFKA_LOG_DIRS ]] && have_dirs=1
		printf '%s=%s\n' "$(prop_name "$var")" "${!var}" >>"$CONF"
	done < <(compgen -e | grep '^KAFKA_' | sort)
	if ((have_dirs == 0)); then
		echo "log.dirs=/var/lib/kafka/data" >>"$CONF"
	fi
}

write_config
echo "start: $CONF:" >&2
sed 's/^/start:   /' "$CONF" >&2

CP="$KAFKA_HOME/libs/*"
LOG4J=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$KAFKA_HOME/config/log4j2.properties}
HEAP=${KAFKA_HEAP_OPTS:--Xmx384m -Xms64m}
PERF=${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}

SCRAM=()
for pair in ${ORDO_SCRAM_USERS:-}; do
	SCRAM+=(--add-scram "SCRAM-SHA-512=[name=${pair%%=*},password=${pair#*=}]")
done
if ((${#SCRAM[@]} > 0)); then
	echo "start: SCRAM-SHA-512 users: $(for p in ${ORDO_SCRAM_USERS}; do printf '%s ' "${p%%=*}"; done)" >&2
fi

# shellcheck disable=SC2086 # the *_OPTS variables are word lists.
java -Xmx128m -XX:TieredStopAtLevel=1 $LOG4J -cp "$CP" kafka.tools.StorageTool \
	format --ignore-formatted -t "$CLUSTER_ID" -c "$CONF" "${SCRAM[@]}" >&2

# shellcheck disable=SC2086
exec java $HEAP $PERF $LOG4J ${KAFKA_OPTS:-} -cp "$CP" kafka.Kafka "$CONF"
