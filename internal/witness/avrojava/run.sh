#!/bin/bash
# Runs the Apache Avro Java witness (AvroWitness.java) on an exchange file
# written by ../avro_interop_test.go:
#
#   bash internal/witness/avrojava/run.sh IN.json OUT.json
#
# Needs mvn and a JDK (javac 17+); resolves org.apache.avro:avro through
# mvn's own configuration (cached in ~/.m2 after the first run). Build
# output goes to $ORDO_CACHE (default ~/.cache/ordo), not into the tree.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${ORDO_CACHE:-$HOME/.cache/ordo}/witness-avrojava
mkdir -p "$WORK/lib"
rm -rf "$WORK/classes"
mkdir -p "$WORK/classes"

mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
	-DoutputDirectory="$WORK/lib" >"$WORK/mvn.log" 2>&1 || {
	cat "$WORK/mvn.log" >&2
	exit 1
}
javac -encoding UTF-8 -d "$WORK/classes" -cp "$WORK/lib/*" \
	"$HERE"/src/main/java/ordo/witness/*.java
# Avro logs through SLF4J without a binding; drop that notice.
java -cp "$WORK/classes:$WORK/lib/*" ordo.witness.AvroWitness "$1" "$2" 2> >(grep -v '^SLF4J:' >&2)
