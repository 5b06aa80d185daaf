#!/usr/bin/env bash
# Runs every fuzz target of the module (make fuzz-ci): each `func FuzzXxx`
# in a _test.go file, one after the other, for FUZZTIME each (default
# 3000x: 3,000 new inputs per target, `go test -fuzztime`'s count form).
# The seed corpus of every target also runs in `make test`; this adds
# FUZZTIME of new inputs per target. A count, unlike a duration, bounds
# the fuzzing without a deadline: go test fails a target whose duration
# ends while it is still running the seed corpus to gather its baseline
# coverage ("context deadline exceeded"), which a slow or busy machine
# and a large seed corpus make likely. A failing input is written to the
# package's testdata/fuzz/FuzzXxx/ by go test, which prints how to rerun it.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-3000x}"

targets=$(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  dir=$(dirname "$f")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |$dir |"
done)
if [ -z "$targets" ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi
n=0
while read -r dir name; do
  echo "== $name ($dir) for $FUZZTIME"
  "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
  n=$((n + 1))
done <<<"$targets"
echo "fuzz-ci: $n targets, $FUZZTIME each, no failure"
