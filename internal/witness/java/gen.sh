#!/bin/bash
# Regenerates the Java client's partitioner vectors that ordo's hermetic
# test checks partition.For against:
#
#   bash internal/witness/java/gen.sh            # rewrites testdata/java_murmur2.tsv
#   bash internal/witness/java/gen.sh OUT.tsv    # writes elsewhere (CI diffs it)
#
# Needs mvn and a JDK (javac 17+); resolves kafka-clients from Maven Central
# through mvn's own configuration. Build output goes to $ORDO_CACHE
# (default ~/.cache/ordo), not into the tree.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$(dirname "$HERE")/testdata/java_murmur2.tsv}
WORK=${ORDO_CACHE:-$HOME/.cache/ordo}/witness-java
rm -rf "$WORK"
mkdir -p "$WORK/lib" "$WORK/classes"

mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
	-DoutputDirectory="$WORK/lib" >"$WORK/mvn.log" 2>&1 || {
	cat "$WORK/mvn.log" >&2
	exit 1
}
javac -encoding UTF-8 -d "$WORK/classes" -cp "$WORK/lib/*" \
	"$HERE"/src/main/java/ordo/witness/*.java
# kafka-clients logs through SLF4J without a binding; drop that notice.
java -cp "$WORK/classes:$WORK/lib/*" ordo.witness.Murmur2Vectors >"$OUT.tmp" 2> >(grep -v '^SLF4J:' >&2)
mv "$OUT.tmp" "$OUT"
echo "witness: wrote $(grep -vc '^#' "$OUT") vectors to $OUT" >&2
