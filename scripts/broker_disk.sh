#!/usr/bin/env bash
# Disk of the default run under sustained traffic (make bench-broker-disk).
#
# Starts `situ serve` (role all, as make run does) with a small broker
# budget, loads POST /v1/score with wrk for DURATION seconds, and every
# EVERY seconds prints the decisions served so far, `du -sb` of the data
# dir, and the broker's retained bytes and retained seconds of
# nba.decisions (its /metrics). At the end: the data dir's size and how
# often the broker warned that its size limit keeps less than the reward
# window.
#
# Knobs (environment): BUDGET=64MiB DURATION=240 EVERY=10 CONNECTIONS=32
# SITU_PORT=38080 BROKER_PORT=39092.
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=${BUDGET:-64MiB}
DURATION=${DURATION:-240}
EVERY=${EVERY:-10}
CONNECTIONS=${CONNECTIONS:-32}
SITU_PORT=${SITU_PORT:-38080}
BROKER_PORT=${BROKER_PORT:-39092}

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench-broker-disk: $tool is not installed; install it with: apt-get update && apt-get install -y $tool" >&2
    exit 1
  fi
done

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/situ" ./cmd/situ
"$work/situ" serve --addr "127.0.0.1:$SITU_PORT" --broker-addr "127.0.0.1:$BROKER_PORT" \
  --data-dir "$work/data" --broker-max-bytes "$BUDGET" 2>"$work/situ.log" &
pid=$!
for _ in $(seq 200); do
  if curl -sf -o /dev/null "http://127.0.0.1:$SITU_PORT/readyz"; then break; fi
  sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$SITU_PORT/readyz" || { cat "$work/situ.log" >&2; exit 1; }

wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s scripts/bench_http.lua "http://127.0.0.1:$SITU_PORT" >"$work/wrk.txt" &
wrk_pid=$!
start=$(date +%s)
echo "situ serve --broker-max-bytes $BUDGET; wrk -t1 -c$CONNECTIONS -d${DURATION}s"
printf '%6s %10s %12s %16s %10s\n' t_s decisions du_bytes decisions_bytes retained_s
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep "$EVERY"
  m=$(curl -s "http://127.0.0.1:$SITU_PORT/metrics")
  dec=$(awk '/^situ_decisions_total\{/ {s += $2} END {printf "%d", s}' <<<"$m")
  db=$(awk '/^situ_broker_retained_bytes\{.*topic="nba.decisions"/ {printf "%d", $2}' <<<"$m")
  rs=$(awk '/^situ_broker_retained_seconds\{.*topic="nba.decisions"/ {printf "%d", $2}' <<<"$m")
  printf '%6d %10d %12d %16d %10d\n' $(( $(date +%s) - start )) "$dec" "$(du -sb "$work/data" | cut -f1)" "$db" "$rs"
done
wait "$wrk_pid" || true
grep '^RESULT' "$work/wrk.txt" || true
kill -TERM "$pid"; wait "$pid" || true; pid=
echo "data dir after the stop: $(du -sb "$work/data" | cut -f1) bytes"
echo "warnings 'size retention keeps less than the reward window': $(grep -c 'size retention keeps less than the reward window' "$work/situ.log" || true)"
