#!/usr/bin/env bash
# bench.sh: issue 15's throughput comparisons, ordo against raw franz-go on
# the same records, run interleaved (A B A B ...) on one machine, each run
# its own process. Prints, per phase, the ratio ordo/raw (higher is
# better for ordo) as median and range over the rounds.
#
#   .ci/bench.sh [rounds] [records]     defaults: 5 rounds, 1000000 records
#
# At 100,000 records the steady window of a consume run is ~20 ms: noise.
#
# Phases, consume (every one the ratio of records/s):
#   consume-whole          from the first record handled to the last, no
#                          part of the run left out (issue 20's goals)
#   consume-steady         from the record after the first quarter to the
#                          last (issue 15's figure: the join's prefetch
#                          burst left out)
#   consume-join           from the consumer's start, the join included
#   consume-*-noheaders    both sides on records without ordo's headers
#   consume-*-vs-raw-noheaders  ordo on its records, raw on the same
#                          records without ordo's headers
#   ceiling-whole, ceiling-steady  both sides on kfake's synthetic fetch
#                          (one canned batch, served without end): the
#                          broker's cost out, the ratio is ordo's own cost
#   consume-cpu*, ceiling-cpu  the process's CPU time per record, raw's
#                          over ordo's (the broker's included when it is
#                          embedded): what the rates say, less the noise
#                          of a shared machine
# and end to end (publish and consume in one process, the consumer already
# joined), 64 lanes over one (a 1 ms handler: this ratio is a speed-up,
# not ordo/raw), publish against raw writing ordo's headers by hand,
# publish against raw without them; and, for scale, the ceiling: raw
# carrying ordo's headers built before the run (no per-record work for
# them) against raw without them, the most any publisher writing ordo's
# headers in their current encoding can reach, and ordo against that
# ceiling.
set -euo pipefail
rounds=${1:-5}
records=${2:-1000000}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/consumer.test" ./consumer/
go test -c -o "$tmp/producer.test" ./producer/

# metric BIN DIR BENCH UNIT: one run of one benchmark, the value of UNIT.
metric() {
	(cd "$2" && "$1" -test.run '^$' -test.bench "$3" -test.benchtime "${records}x" -test.count 1) |
		awk -v unit="$4" '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }'
}

: >"$tmp/ratios"
: >"$tmp/allocs"
for ((r = 1; r <= rounds; r++)); do
	# Consume: raw then ordo in one round, alternating which goes first.
	if ((r % 2)); then order="raw ordo"; else order="ordo raw"; fi
	declare -A rate # rate[metric/bench/side]: records/s
	for bench in Throughput Ceiling; do
		sides=$order
		[[ $bench == Throughput ]] && sides="$order ${order// /-noheaders }-noheaders"
		for side in $sides; do
			out=$(cd consumer && "$tmp/consumer.test" -test.run '^$' -test.bench "^Benchmark$bench\$/^${side}\$" \
				-test.benchtime "${records}x" -test.count 1)
			echo "$bench/$side $(awk '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == "allocs/op") print $i }' <<<"$out")" >>"$tmp/allocs"
			for m in whole steady join cpu; do
				unit="$m-rec/s"
				[[ $m == cpu ]] && unit=cpu-ns/rec
				rate[$m/$bench/$side]=$(awk -v unit="$unit" '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' <<<"$out")
			done
		done
	done
	for m in whole steady join; do
		echo "consume-$m ${rate[$m/Throughput/ordo]} ${rate[$m/Throughput/raw]}" >>"$tmp/ratios"
		echo "consume-$m-noheaders ${rate[$m/Throughput/ordo-noheaders]} ${rate[$m/Throughput/raw-noheaders]}" >>"$tmp/ratios"
		echo "consume-$m-vs-raw-noheaders ${rate[$m/Throughput/ordo]} ${rate[$m/Throughput/raw-noheaders]}" >>"$tmp/ratios"
	done
	echo "ceiling-whole ${rate[whole/Ceiling/ordo]} ${rate[whole/Ceiling/raw]}" >>"$tmp/ratios"
	echo "ceiling-steady ${rate[steady/Ceiling/ordo]} ${rate[steady/Ceiling/raw]}" >>"$tmp/ratios"
	# CPU per record: raw's over ordo's, so that higher is better here too.
	echo "consume-cpu ${rate[cpu/Throughput/raw]} ${rate[cpu/Throughput/ordo]}" >>"$tmp/ratios"
	echo "consume-cpu-noheaders ${rate[cpu/Throughput/raw-noheaders]} ${rate[cpu/Throughput/ordo-noheaders]}" >>"$tmp/ratios"
	echo "ceiling-cpu ${rate[cpu/Ceiling/raw]} ${rate[cpu/Ceiling/ordo]}" >>"$tmp/ratios"
	# End to end: publish and consume in one process, both sides.
	declare -A e2e
	for side in $order; do
		e2e[$side]=$(metric "$tmp/consumer.test" consumer "^BenchmarkEndToEnd\$/^${side}\$" e2e-rec/s)
	done
	echo "end-to-end ${e2e[ordo]} ${e2e[raw]}" >>"$tmp/ratios"
	# Key-parallelism: 64 lanes against one, a 1 ms handler, one
	# partition (DESIGN.md: at least 50x). Fixed sizes: a lane handles
	# under a thousand records a second.
	l1=$(cd consumer && "$tmp/consumer.test" -test.run '^$' -test.bench '^BenchmarkLanes$/^lanes=1$' -test.benchtime 400x -test.count 1 |
		awk '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == "records/s") print $i }')
	l64=$(cd consumer && "$tmp/consumer.test" -test.run '^$' -test.bench '^BenchmarkLanes$/^lanes=64$' -test.benchtime 20000x -test.count 1 |
		awk '/^Benchmark/ { for (i = 2; i < NF; i++) if ($(i+1) == "records/s") print $i }')
	echo "lanes-64-over-1 $l64 $l1" >>"$tmp/ratios"
	# Publish: ns/op, so the ratio is raw's time over ordo's.
	if ((r % 2)); then order="ordo raw raw+headers raw+prebuilt-headers"; else order="raw+prebuilt-headers raw+headers raw ordo"; fi
	declare -A pub
	for side in $order; do
		pub[$side]=$(metric "$tmp/producer.test" producer "^BenchmarkPublish\$/^${side//+/\\+}\$" ns/op)
	done
	echo "publish-vs-raw+headers ${pub[raw+headers]} ${pub[ordo]}" >>"$tmp/ratios"
	echo "publish-vs-raw ${pub[raw]} ${pub[ordo]}" >>"$tmp/ratios"
	echo "publish-ceiling-vs-raw ${pub[raw]} ${pub[raw+prebuilt-headers]}" >>"$tmp/ratios"
	echo "publish-vs-ceiling ${pub[raw+prebuilt-headers]} ${pub[ordo]}" >>"$tmp/ratios"
	echo "round $r done" >&2
done

# Each line: phase a b; ratio a/b. Median and range per phase.
bash .ci/ratios.sh "$tmp/ratios" ordo/raw
# Allocations per record (allocs/op, the embedded broker's included, the
# same for both sides): median per side.
echo
sort -k1,1 -k2,2g "$tmp/allocs" | awk '{ v[$1] = v[$1] " " $2 }
	END {
		printf "%-32s %7s %s\n", "allocs/record", "median", "all"
		for (p in v) {
			n = split(substr(v[p], 2), a, " ")
			med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			printf "%-32s %7s %s\n", p, med, substr(v[p], 2)
		}
	}' | { read -r head; echo "$head"; sort; }
