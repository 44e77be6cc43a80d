#!/bin/bash
# Reads a whole topic with the Apache Kafka Java client (ReadTopic.java) and
# prints one line per record (partition, offset, key, value, headers; bytes
# in base64), for the integration tests that check the Java client reads
# what ordo writes.
#
#   bash internal/witness/java/read.sh BOOTSTRAP TOPIC
#
# Needs mvn and a JDK (javac 17+); the build is cached in $ORDO_CACHE
# (default ~/.cache/ordo) by the hash of the sources.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HASH=$(cat "$HERE/pom.xml" "$HERE"/src/main/java/ordo/witness/*.java | sha256sum | cut -c1-16)
WORK=${ORDO_CACHE:-$HOME/.cache/ordo}/witness-java-read-$HASH
if [[ ! -f $WORK/.complete ]]; then
	rm -rf "$WORK"
	mkdir -p "$WORK/lib" "$WORK/classes"
	mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$WORK/lib" >"$WORK/mvn.log" 2>&1 || {
		cat "$WORK/mvn.log" >&2
		exit 1
	}
	javac -encoding UTF-8 -d "$WORK/classes" -cp "$WORK/lib/*" \
		"$HERE"/src/main/java/ordo/witness/*.java
	touch "$WORK/.complete"
fi
# kafka-clients logs through SLF4J without a binding; drop that notice.
exec java -cp "$WORK/classes:$WORK/lib/*" ordo.witness.ReadTopic "$1" "$2" 2> >(grep -v '^SLF4J:' >&2)
