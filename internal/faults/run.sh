#!/bin/bash
# Runs ordo's crash-and-partition suite (internal/faults) on a three-broker
# Kafka cluster in Docker and prints its table: scenario, acked, lost,
# duplicates, order violations, recovery time, verdict.
#
#   bash internal/faults/run.sh          # the short form CI runs (~13 min on 2 cores)
#   bash internal/faults/run.sh long     # the long form, by hand (several times longer)
#   ORDO_FAULTS_SEED=123 bash internal/faults/run.sh   # replay a seed
#
# It needs Docker and the image ordo/kafka:4 (.ci/integration.sh prepares
# both). ORDO_TEST_REGISTRY names the schema registry (CI: Apicurio); unset,
# the test serves an in-process srfake registry. Go's verbose output goes to
# $ORDO_FAULTS_LOG (default: a file under $TMPDIR), filtered to the suite's
# own lines on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export TESTCONTAINERS_RYUK_DISABLED=${TESTCONTAINERS_RYUK_DISABLED:-true}
form=${1:-short}
timeout=30m
case $form in
short) unset ORDO_FAULTS_LONG ;;
long)
	export ORDO_FAULTS_LONG=1
	timeout=85m
	;;
*)
	echo "usage: $0 [short|long]" >&2
	exit 2
	;;
esac
out=${ORDO_FAULTS_LOG:-$(mktemp "${TMPDIR:-/tmp}/ordo-faults-XXXXXX.log")}
echo "faults: $form form; full log in $out" >&2
t0=$SECONDS
rc=0
# The build tags: integration (real brokers) and faults (this suite only,
# so that .ci/integration.sh's `go test ./...` does not run it twice).
go test -race -tags 'integration faults' -count=1 -timeout "$timeout" \
	-run '^TestFaults$' -v ./internal/faults/ >"$out" 2>&1 || rc=$?
# The suite's own lines: t.Log output is indented; drop the brokers' logs
# and testcontainers' chatter.
grep -E '^(=== |--- |    [a-z_]+\.go:|        |ok |FAIL|PASS)' "$out" | grep -vE '^        \[[0-9]{4}-' || true
echo "faults: $form form exited $rc after $((SECONDS - t0))s" >&2
exit "$rc"
