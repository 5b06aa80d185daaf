#!/usr/bin/env bash
# HTTP load test of POST /v1/score (make bench-http).
#
# Runs a situ API replica (situ serve --role api) and cmd/situ-baseline (a
# minimal gin handler that decodes the same JSON body and answers a JSON
# document of the same size) side by side and loads them alternately with
# wrk, ROUNDS rounds each, same threads, connections and duration. Prints
# every round, then the medians and the ratios situ/baseline: throughput
# (target ≥ 0.90) and p99 latency (target ≤ 1.2).
#
# MODE=all measures the default run instead: `situ serve` as make run
# starts it (role all: the API, with the embedded broker and the learner in
# its child processes), unpinned, default GOMAXPROCS, 32 connections, 5 s
# rounds; targets throughput ≥ 0.80 and p99 ≤ 1.5. SITU_ARGS adds flags to
# the process under test (e.g. SITU_ARGS=--single-process); SITU_BIN runs a
# situ binary built before (another version, to compare) instead of building.
#
# As in production, the API replica publishes every decision to Kafka; the
# broker runs in another process (situ serve --role broker: the embedded
# broker alone), not in the process under test. The learner is not on the
# score path and does not run.
#
# Fairness: the API replica and the baseline run with GOMAXPROCS=1 pinned to
# SERVER_CPU; wrk (one thread) and the broker process share WRK_CPU, when
# the machine has two CPUs and taskset. The broker only works while situ is
# loaded, so it competes with wrk during situ's rounds only: against situ.
# The servers are loaded one at a time and the order alternates per round.
#
# Knobs (environment): MODE=api ROUNDS=5 DURATION=6s WARMUP=3s
# CONNECTIONS=16 SERVER_CPU=0 WRK_CPU=1 STRICT=0 (1: exit 1 when a target
# is missed) SITU_ARGS= SITU_PORT=18080 BASE_PORT=18081 BROKER_PORT=19092
# PIPELINE_PORT=18082.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-api}
case "$MODE" in
  api) def_duration=6s def_connections=16 min_thr=0.90 max_p99=1.2 ;;
  all) def_duration=5s def_connections=32 min_thr=0.80 max_p99=1.5 ;;
  *) echo "bench-http: MODE must be api or all, got $MODE" >&2; exit 2 ;;
esac
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-$def_duration}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-$def_connections}
read -r -a situ_args <<<"${SITU_ARGS:-}"
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
STRICT=${STRICT:-0}
SITU_PORT=${SITU_PORT:-18080}
BASE_PORT=${BASE_PORT:-18081}
BROKER_PORT=${BROKER_PORT:-19092}
PIPELINE_PORT=${PIPELINE_PORT:-18082}

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench-http: $tool is not installed; install it with: apt-get update && apt-get install -y $tool" >&2
    exit 1
  fi
done

pin_server=() pin_wrk=() procs=(env GOMAXPROCS=1)
if [ "$MODE" = all ]; then
  procs=(env)
  pinning="MODE=all: situ serve (role all, its broker and learner child processes), baseline and wrk unpinned, default GOMAXPROCS"
elif command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c "$SERVER_CPU")
  pin_wrk=(taskset -c "$WRK_CPU")
  pinning="situ --role api and baseline on CPU $SERVER_CPU (GOMAXPROCS=1); wrk and the broker process on CPU $WRK_CPU"
else
  pinning="no pinning (taskset missing or one CPU); servers GOMAXPROCS=1"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building…"
if [ -n "${SITU_BIN:-}" ]; then cp "$SITU_BIN" "$work/situ"; else go build -o "$work/situ" ./cmd/situ; fi
go build -o "$work/situ-baseline" ./cmd/situ-baseline

if [ "$MODE" = all ]; then
# the default run, as make run starts it
"$work/situ" serve --addr "127.0.0.1:$SITU_PORT" --broker-addr "127.0.0.1:$BROKER_PORT" \
  --data-dir "$work/all" "${situ_args[@]}" 2>"$work/situ.log" &
pids+=($!)
PIPELINE_PORT=$SITU_PORT
else
# the Kafka cluster the replica publishes to (role broker: the embedded
# broker and its topics, nothing else), on the wrk CPU
GOMAXPROCS=1 "${pin_wrk[@]}" "$work/situ" serve --role broker --addr "127.0.0.1:$PIPELINE_PORT" \
  --broker-addr "127.0.0.1:$BROKER_PORT" --data-dir "$work/data" 2>"$work/pipeline.log" &
pids+=($!)
fi
for _ in $(seq 100); do
  if curl -sf -o /dev/null "http://127.0.0.1:$PIPELINE_PORT/readyz"; then break; fi
  sleep 0.1
done
if ! curl -sf -o /dev/null "http://127.0.0.1:$PIPELINE_PORT/readyz"; then
  echo "bench-http: the broker process is not ready; its log:" >&2
  cat "$work/pipeline.log" "$work/situ.log" >&2 2>/dev/null || true
  exit 1
fi
if [ "$MODE" = api ]; then
# the process under test: a stateless API replica publishing to that broker
GOMAXPROCS=1 "${pin_server[@]}" "$work/situ" serve --role api --addr "127.0.0.1:$SITU_PORT" \
  --kafka-brokers "127.0.0.1:$BROKER_PORT" --data-dir "$work/api" "${situ_args[@]}" 2>"$work/situ.log" &
pids+=($!)
fi
"${procs[@]}" "${pin_server[@]}" "$work/situ-baseline" --addr "127.0.0.1:$BASE_PORT" 2>"$work/baseline.log" &
pids+=($!)

body=$(cat internal/situtest/contract_request.json)
check() { # name port
  local code size
  for _ in $(seq 50); do
    if read -r code size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' \
        -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$2/v1/score") \
        && [ "$code" = 200 ]; then
      echo "  $1 answers 200 with $size bytes"
      return 0
    fi
    sleep 0.2
  done
  echo "bench-http: $1 on port $2 does not answer 200 (last status ${code:-none}); its log:" >&2
  cat "$work/$1.log" >&2
  exit 1
}
echo "checking the servers:"
check situ "$SITU_PORT"
check baseline "$BASE_PORT"

load() { # port duration → RESULT line
  local out
  out=$("${pin_wrk[@]}" wrk -t1 -c"$CONNECTIONS" -d"$2" --latency -s scripts/bench_http.lua "http://127.0.0.1:$1")
  local line
  line=$(grep '^RESULT' <<<"$out")
  if ! grep -q 'non2xx=0 socket_errors=0' <<<"$line"; then
    echo "bench-http: errors during the load test: $line" >&2
    exit 1
  fi
  echo "$line"
}
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }

echo "warming up ($WARMUP each)…"
load "$BASE_PORT" "$WARMUP" >/dev/null
load "$SITU_PORT" "$WARMUP" >/dev/null

echo "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "MODE=$MODE SITU_ARGS=${SITU_ARGS:-} ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS"
echo "wrk -t1 -c$CONNECTIONS -d$DURATION --latency -s scripts/bench_http.lua; $pinning"
printf '%-6s %-9s %12s %9s %9s %9s\n' round server req/s p50_us p90_us p99_us
base_rps=() base_p99=() situ_rps=() situ_p99=()
for round in $(seq "$ROUNDS"); do
  order=(baseline situ)
  if [ $((round % 2)) -eq 0 ]; then order=(situ baseline); fi
  for name in "${order[@]}"; do
    port=$BASE_PORT
    if [ "$name" = situ ]; then port=$SITU_PORT; fi
    r=$(load "$port" "$DURATION")
    rps=$(field rps "$r") p50=$(field p50_us "$r") p90=$(field p90_us "$r") p99=$(field p99_us "$r")
    printf '%-6s %-9s %12s %9s %9s %9s\n' "$round" "$name" "$rps" "$p50" "$p90" "$p99"
    if [ "$name" = situ ]; then situ_rps+=("$rps") situ_p99+=("$p99"); else base_rps+=("$rps") base_p99+=("$p99"); fi
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mb_rps=$(median "${base_rps[@]}") ms_rps=$(median "${situ_rps[@]}")
mb_p99=$(median "${base_p99[@]}") ms_p99=$(median "${situ_p99[@]}")
read -r thr_ratio p99_ratio verdict < <(awk -v sr="$ms_rps" -v br="$mb_rps" -v sp="$ms_p99" -v bp="$mb_p99" -v mt="$min_thr" -v mp="$max_p99" 'BEGIN {
  t = sr / br; p = sp / bp
  v = (t >= mt && p <= mp) ? "meets-targets" : "MISSES-targets"
  printf "%.3f %.3f %s\n", t, p, v }')
echo
printf 'median    baseline %10.1f req/s  p99 %6s µs\n' "$mb_rps" "$mb_p99"
printf 'median    situ     %10.1f req/s  p99 %6s µs\n' "$ms_rps" "$ms_p99"
echo "throughput situ/baseline = $thr_ratio (target ≥ $min_thr)"
echo "p99        situ/baseline = $p99_ratio (target ≤ $max_p99)"
echo "$verdict"
if [ "$STRICT" = 1 ] && [ "$verdict" != meets-targets ]; then exit 1; fi
