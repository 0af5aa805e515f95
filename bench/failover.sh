#!/usr/bin/env bash
# Benchmark: what an open circuit breaker costs. wrk on loopback, one worker each, in one run:
#   (a) nginx proxying to deepgate-mock (the reference),
#   (b) deepgate whose primary backend is down (answers 500) with its breaker open, serving every
#       request from the fallback (the open breaker means no attempt on the primary),
#   (c) deepgate with one backend whose breaker is open: every request is the fail-fast 503 with
#       Retry-After, never reaching a backend.
# Each breaker is opened first by five failing requests (checked in /metrics). Prints req/s and
# p50/p99 latency, and each row's p50 against nginx's. Not a test.
#   DURATION (default 5s)  CONNECTIONS (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-16}
source bench/lib.sh
start_mock
start_nginx
"$BIN/deepgate-mock" --port 0 --workers 1 --status 500 >"$work/down.log" 2>&1 & pids+=($!)
down_port=$(wait_port "$work/down.log")

gateway() {  # $1 name, $2 model routing → dg_port, dg_admin; its breaker on "down" opened
  start_deepgate "$1" "cache: {policy: off}
log: {access: {enabled: false}}" "backends:
  - {name: down, url: \"http://127.0.0.1:$down_port\", breaker: {failures: 5, cool_down: 10m, max_cool_down: 10m}}
  - {name: spare, url: \"http://127.0.0.1:$mock_port\"}
models: [{name: deepseek-flash, $2}]"
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null "http://127.0.0.1:$dg_port/v1/chat/completions" -H 'Content-Type: application/json' \
      -H 'Authorization: Bearer dg-bench-key-0000000000000000' -d '{"model":"deepseek-flash","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"trip"}]}'
  done
  local state
  state=$(curl -s "http://127.0.0.1:$dg_admin/metrics" | awk '$1=="deepgate_circuit_breaker_state{backend=\"down\"}" {print $2}')
  [[ "$state" == 2 ]] || { echo "bench: the breaker of $1 did not open (state '$state')" >&2; exit 1; }
}

run() {  # port → "rps p50 p99 non2xx"
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$1/v1/chat/completions")
  awk '/Requests\/sec/{rps=$2} $1=="50%"{p50=$2} $1=="99%"{p99=$2} /Non-2xx/{n=$NF} END{printf "%s %s %s %s\n", rps, p50, p99, n+0}' <<<"$out"
}
us() {  # wrk latency ("812.00us", "1.20ms") → microseconds
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /ms$/) n*=1000; else if (v ~ /[0-9]s$/) n*=1e6; print n}'
}

gateway fallback "backend: down, fallback: [spare]"
fallback_port=$dg_port
gateway failfast "backend: down"
failfast_port=$dg_port

read -r n_rps n_p50 n_p99 n_bad <<<"$(run "$nginx_port")"
read -r f_rps f_p50 f_p99 f_bad <<<"$(run "$fallback_port")"
read -r x_rps x_p50 x_p99 x_bad <<<"$(run "$failfast_port")"
[[ "$n_bad" == 0 && "$f_bad" == 0 ]] || { echo "bench: errors where none were expected (nginx $n_bad, fallback $f_bad)" >&2; exit 1; }
printf "%-36s %10s %10s %10s %12s\n" "" "req/s" "p50" "p99" "p50/nginx"
printf "%-36s %10s %10s %10s %12s\n" "nginx -> mock" "$n_rps" "$n_p50" "$n_p99" "1.00"
printf "%-36s %10s %10s %10s %12.2f\n" "deepgate, primary open -> fallback" "$f_rps" "$f_p50" "$f_p99" \
  "$(awk -v a="$(us "$f_p50")" -v b="$(us "$n_p50")" 'BEGIN{print a/b}')"
printf "%-36s %10s %10s %10s %12.2f\n" "deepgate, open -> fail-fast 503" "$x_rps" "$x_p50" "$x_p99" \
  "$(awk -v a="$(us "$x_p50")" -v b="$(us "$n_p50")" 'BEGIN{print a/b}')"
echo "(fail-fast answers: $x_bad, all 503 with Retry-After)"
