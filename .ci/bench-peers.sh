#!/usr/bin/env bash
# bench-peers.sh: issue 15's comparison of ordo with the SDKs a service
# would pick instead (confluent-kafka-go with its Avro serde, Watermill with
# watermill-kafka), on the same in-process broker and the same records
# (internal/peers, a module of its own). Each run is its own process; the
# three sides run interleaved, the order rotating each round (A B C, B C A,
# C A B, ...). Prints, per phase and peer, the ratio ordo/peer of records
# per second (higher is better for ordo; DESIGN.md's budget is >= 3) as
# median and range over the rounds.
#
#   .ci/bench-peers.sh [rounds] [records]     defaults: 5 rounds, 200000 records
#
# Phases: publish (all records acknowledged), consume steady state (the
# group join and first fetches left out), consume including the join.
# Extra flags for the test binary (e.g. -watermill.publishers=16) may be
# given in PEERS_FLAGS.
set -euo pipefail
rounds=${1:-5}
records=${2:-200000}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/peers.test" ./internal/peers/
sides=(ordo confluent watermill)

# run BENCH SIDE: one run of one side, its metrics as "unit value" lines.
run() {
	(cd internal/peers && "$tmp/peers.test" -test.run '^$' -test.bench "^Benchmark$1\$/^$2\$" \
		-test.benchtime "${records}x" -test.count 1 ${PEERS_FLAGS:-}) |
		awk '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) ~ /rec\/s$/) print $(i+1), $i }'
}

: >"$tmp/ratios"
for ((r = 0; r < rounds; r++)); do
	order=("${sides[@]:r%3}" "${sides[@]:0:r%3}")
	declare -A v=()
	for bench in Publish Consume; do
		for side in "${order[@]}"; do
			while read -r unit val; do v[$bench.$unit.$side]=$val; done < <(run "$bench" "$side")
		done
	done
	for peer in confluent watermill; do
		echo "publish/$peer ${v[Publish.rec/s.ordo]} ${v[Publish.rec/s.$peer]}" >>"$tmp/ratios"
		echo "consume-steady/$peer ${v[Consume.steady-rec/s.ordo]} ${v[Consume.steady-rec/s.$peer]}" >>"$tmp/ratios"
		echo "consume-join/$peer ${v[Consume.join-rec/s.ordo]} ${v[Consume.join-rec/s.$peer]}" >>"$tmp/ratios"
	done
	echo "round $((r + 1)) done (${order[*]})" >&2
done

# Each line: phase ordo peer; ratio ordo/peer. Median and range per phase.
bash .ci/ratios.sh "$tmp/ratios" ordo/peer
echo
echo "records per run: $records; rec/s of ordo and the peer, round by round:"
sort -s -k1,1 "$tmp/ratios" | awk '{ printf "%-26s %9.0f %9.0f\n", $1, $2, $3 }'

