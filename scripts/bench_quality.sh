#!/usr/bin/env bash
# make bench-quality: the decision-quality benchmark. For each world seed a
# fresh situ serve (embedded broker, default schema, model, policy and
# learner, or QUALITY_SERVE_FLAGS) and situ sim --world SEED over
# QUALITY_CONTACTS contacts; then the drift runs (--drift-at); then one
# table (scripts/quality_table). The seeds are fixed and were not used to
# tune the defaults (docs/benchmarks.md, "Decision quality").
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR=${QUALITY_ADDR:-127.0.0.1:18090}
BROKER=${QUALITY_BROKER:-127.0.0.1:19093}
WORLDS=${QUALITY_WORLDS:-"101 102 103 104 105 106 107 108 109 110"}
DRIFT_WORLDS=${QUALITY_DRIFT_WORLDS:-"201 202 203 204 205"}
CONTACTS=${QUALITY_CONTACTS:-20000}
DRIFT_AT=${QUALITY_DRIFT_AT:-20000}
DRIFT_CONTACTS=${QUALITY_DRIFT_CONTACTS:-35000}
OUT=${QUALITY_OUT:-out/quality}
SERVE_FLAGS=${QUALITY_SERVE_FLAGS:-}

mkdir -p bin "$OUT"
go build -o bin/situ ./cmd/situ

# one_run NAME SIM-FLAGS...: a fresh situ, one simulation, its report in $OUT/NAME.json
one_run() {
  local name=$1; shift
  local data; data=$(mktemp -d)
  # shellcheck disable=SC2086
  bin/situ serve --addr "$ADDR" --broker-addr "$BROKER" --data-dir "$data" --log-level warn $SERVE_FLAGS > "$OUT/$name-serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    if curl -sf "http://$ADDR/readyz" > /dev/null; then break; fi
    if ! kill -0 $pid 2>/dev/null; then cat "$OUT/$name-serve.log"; exit 1; fi
    sleep 0.1
  done
  bin/situ sim --url "http://$ADDR" --kafka-brokers "$BROKER" "$@" --json "$OUT/$name.json" > "$OUT/$name.txt" 2> "$OUT/$name.err"
  kill -TERM $pid; wait $pid 2>/dev/null || true
  rm -rf "$data"
  echo "  $name: $(grep 'last window' "$OUT/$name.txt")" >&2
}

files=()
for w in $WORLDS; do
  one_run "world-$w" --world "$w" --contacts "$CONTACTS" --window 2000
  files+=("$OUT/world-$w.json")
done
for w in $DRIFT_WORLDS; do
  one_run "drift-$w" --world "$w" --contacts "$DRIFT_CONTACTS" --drift-at "$DRIFT_AT" --window 1000
  files+=("$OUT/drift-$w.json")
done
go run ./scripts/quality_table "${files[@]}" | tee "$OUT/table.txt"
