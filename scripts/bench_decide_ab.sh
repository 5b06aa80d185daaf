#!/usr/bin/env bash
# Alternates BenchmarkDecide of several builds in one run, so that builds
# are compared on the same machine at the same time (a shared machine's
# speed moves by far more than most changes between runs).
#
#   REFS="a1c93fd 391f716 HEAD" ROUNDS=10 ./scripts/bench_decide_ab.sh
#
# For each ref it exports the tree (git archive), builds the scoring test
# binary, then runs ROUNDS rounds, the refs' order reversed every other
# round, each sub-benchmark of BENCHES once per ref and round:
#
#   scoring.test -test.run '^$' -test.bench 'BenchmarkDecide$/^NAME$' \
#     -test.benchtime ${N}x -test.cpu 1 -test.benchmem
#
# from the build's scoring/ directory, under /usr/bin/time. It prints every
# run, then per benchmark and ref the median wall time per decision (the
# benchmark's ns/op), the median CPU time per decision (user + system
# seconds of the process / N: less sensitive to other processes taking the
# core), B/op, allocs/op, and both medians over those of the first ref
# that has the benchmark.
# A build from before the sub-benchmarks (BenchmarkDecide alone, the
# sequential ids of newTestEngine) runs BenchmarkDecide$ as sequential-ids
# and has no other.
set -euo pipefail

REFS=${REFS:-"391f716 HEAD"}
ROUNDS=${ROUNDS:-10}
N=${N:-200000}
BENCHES=${BENCHES:-"sequential-ids interactions-schema"}

root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A pattern
i=0
for ref in $REFS; do
	dir="$tmp/src$i"
	mkdir -p "$dir"
	git -C "$root" archive "$ref" | tar -x -C "$dir"
	(cd "$dir" && go test -c -o "$dir/scoring.test" ./scoring)
	for b in $BENCHES; do
		if grep -q "\"$b\"" "$dir/scoring/engine_bench_test.go"; then
			pattern["$i/$b"]="BenchmarkDecide\$/^$b\$"
		elif [ "$b" = sequential-ids ]; then
			pattern["$i/$b"]='BenchmarkDecide$'
		fi
	done
	i=$((i + 1))
done
refs=($REFS)

results="$tmp/results"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
	order=$(seq 0 $((${#refs[@]} - 1)))
	if [ $((round % 2)) -eq 0 ]; then order=$(echo "$order" | tac); fi
	for k in $order; do
		for b in $BENCHES; do
			pat=${pattern["$k/$b"]:-}
			[ -n "$pat" ] || continue
			out=$(cd "$tmp/src$k/scoring" && { /usr/bin/time -f 'cpu %U %S' ./../scoring.test -test.run '^$' -test.bench "$pat" -test.benchtime "${N}x" -test.cpu 1 -test.benchmem; } 2>&1)
			line=$(echo "$out" | awk -v ref="${refs[$k]}" -v b="$b" -v n="$N" '
				/^Benchmark/ { ns = $3; bytes = $5; allocs = $7 }
				/^cpu / { cpu = ($2 + $3) * 1e9 / n }
				END { printf "%s %s %s %.0f %s %s\n", ref, b, ns, cpu, bytes, allocs }')
			echo "round $round: $line"
			echo "$line" >>"$results"
		done
	done
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
printf '%-20s %-10s %12s %12s %8s %7s %10s %10s\n' benchmark ref 'wall ns/op' 'CPU ns/op' B/op allocs 'wall/first' 'CPU/first'
for b in $BENCHES; do
	first_wall="" first_cpu=""
	for ref in $REFS; do
		rows=$(awk -v ref="$ref" -v b="$b" '$1 == ref && $2 == b' "$results")
		[ -n "$rows" ] || continue
		wall=$(echo "$rows" | awk '{ print $3 }' | median)
		cpu=$(echo "$rows" | awk '{ print $4 }' | median)
		mem=$(echo "$rows" | tail -1 | awk '{ print $5, $6 }')
		[ -n "$first_wall" ] || { first_wall=$wall; first_cpu=$cpu; }
		printf '%-20s %-10s %12.0f %12.0f %8s %7s %10.2f %10.2f\n' "$b" "$ref" "$wall" "$cpu" $mem \
			"$(echo "$wall $first_wall" | awk '{ print $1 / $2 }')" "$(echo "$cpu $first_cpu" | awk '{ print $1 / $2 }')"
	done
done
