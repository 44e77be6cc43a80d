#!/bin/bash
# Runs every fuzz target of the module (every `func FuzzX(f *testing.F)` in a
# _test.go file) for a bounded time each, one target at a time:
#
#   bash internal/faults/fuzz.sh                 # 10 s per target
#   ORDO_FUZZTIME=30s bash internal/faults/fuzz.sh
#
# Seeds come from each target's f.Add calls and its testdata/fuzz/FuzzX
# directory, both kept in the repository. When a target fails, go test saves
# the failing input under that directory: commit it with the fix, and it
# stays a regression test of the ordinary `go test` run.
# Minimizing an input is given its own small budget (ORDO_FUZZMINIMIZE,
# go's -fuzzminimizetime, default 60 s per input otherwise): each new input
# that widens coverage is minimized before fuzzing goes on, and with go's
# default a 10 s run spent 8 s of its time minimizing at 0 execs/s. A
# failing input is saved all the same, less minimized.
# Environment: ORDO_FUZZTIME (10s), ORDO_FUZZMINIMIZE (1s),
# ORDO_FUZZ_PARALLEL (2 workers).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
FUZZTIME=${ORDO_FUZZTIME:-10s}
PARALLEL=${ORDO_FUZZ_PARALLEL:-2}
MINIMIZE=${ORDO_FUZZMINIMIZE:-1s}

log() { echo "fuzz: $*" >&2; }

# "dir name" per target, from the sources (cheaper than compiling every
# test binary to list them).
targets=$(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort -u)
if [[ -z $targets ]]; then
	log "no fuzz targets found"
	exit 1
fi

t0=$SECONDS
n=0
failed=()
while read -r dir name; do
	n=$((n + 1))
	log "$name in $dir for $FUZZTIME"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" -parallel "$PARALLEL" "$dir"; then
		failed+=("$dir $name")
		log "error: $name failed; its input is saved under $dir/testdata/fuzz/$name"
	fi
done <<<"$targets"
log "$n targets in $((SECONDS - t0))s; ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
