#!/usr/bin/env bash
# ratios.sh FILE TITLE: the benchmark scripts' summary. FILE holds lines
# "phase a b", one per round; for each phase it prints the ratio a/b as
# median, min and max over the rounds, phases sorted, under a header that
# names the ratio (TITLE, e.g. "ordo/raw").
set -euo pipefail
awk '{ print $1, $2 / $3 }' "$1" | sort -k1,1 -k2,2g |
	awk -v title="phase ($2)" '{ v[$1] = v[$1] " " $2 }
	END {
		printf "%-32s %7s %7s %7s %s\n", title, "median", "min", "max", "rounds"
		for (p in v) {
			n = split(substr(v[p], 2), a, " ")
			med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			printf "%-32s %7.3f %7.3f %7.3f %d\n", p, med, a[1], a[n], n
		}
	}' | { read -r head; echo "$head"; sort; }
