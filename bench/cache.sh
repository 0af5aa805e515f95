#!/usr/bin/env bash
# Benchmark: cache hits. wrk on loopback sends one deterministic prompt (temperature 0) over and
# over to (a) nginx proxying to deepgate-mock, (b) deepgate with its in-memory cache and (c)
# deepgate with the cache in a local redis-server, both warmed with one request first, so every
# measured deepgate answer is a hit (checked with the cache metrics after each run), plus (d)
# deepgate with the cache off, proxying to the mock, for scale. Non-stream and stream (a hit
# with stream: true is replayed as SSE). One worker each, in one run on one machine. Prints
# req/s, p50/p99, CPU µs per request and RSS, and the hit/nginx ratios. Not a test.
#   DURATION (default 10s)  CONNECTIONS (default 32)  ROUNDS (default 3; the median is reported)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
source bench/lib.sh
start_mock
start_nginx
start_redis
start_deepgate memory "cache: {store: memory}"
memory_pid=$dg_pid memory_port=$dg_port memory_admin=$dg_admin
start_deepgate redis "cache: {store: redis}
redis: {url: \"redis://127.0.0.1:$redis_port\"}"
redis_pid=$dg_pid redis_dg_port=$dg_port redis_admin=$dg_admin
start_deepgate off "cache: {policy: off}"
off_pid=$dg_pid off_port=$dg_port

body() {  # $1 stream true|false
  echo "{\"model\":\"deepseek-flash\",\"thinking\":{\"type\":\"disabled\"},\"stream\":$1,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"benchmark prompt\"}]}"
}
warm() {  # port: the first request is the miss that fills the cache; wait until a second one hits
  curl -sf -o /dev/null "http://127.0.0.1:$1/v1/chat/completions" -H 'Content-Type: application/json' \
    -H 'Authorization: Bearer dg-bench-key-0000000000000000' -d "$(body false)"
  for _ in $(seq 100); do
    curl -s -D - -o /dev/null "http://127.0.0.1:$1/v1/chat/completions" -H 'Content-Type: application/json' \
      -H 'Authorization: Bearer dg-bench-key-0000000000000000' -d "$(body false)" | grep -qi '^x-deepgate-cache: hit' && return
    sleep 0.05
  done
  echo "bench: the cache on port $1 never answered a hit" >&2; exit 1
}
warm "$memory_port"
warm "$redis_dg_port"

metric() {  # admin port, series → value
  curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1==s {print $2}'
}

once() {  # port pid mode → "rps p50 p99 cpu"
  local port=$1 pid=$2 mode=$3 before after out reqs
  before=$(cpu_ticks "$pid")
  out=$(BENCH_STREAM=$([[ $mode == stream ]] && echo 1 || echo 0) BENCH_TEMPERATURE=0 \
        wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$port/v1/chat/completions")
  after=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: non-2xx answers on port $port:" >&2; echo "$out" >&2; exit 1; fi
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  awk -v t=$((after - before)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" \
    -v rps="$(awk '/Requests\/sec/{print $2}' <<<"$out")" -v p50="$(awk '$1=="50%"{print $2}' <<<"$out")" \
    -v p99="$(awk '$1=="99%"{print $2}' <<<"$out")" 'BEGIN{printf "%s %s %s %.1f\n", rps, p50, p99, t/hz*1e6/n}'
}

declare -A rps_of
rows=()
for mode in non-stream stream; do
  # Rounds interleave the targets, so a drift of the machine hits them alike; medians are reported.
  declare -A runs=()
  for r in $(seq "$ROUNDS"); do
    for t in nginx memory redis off; do
      case $t in
        nginx) runs[$t]+="$(once "$nginx_port" "$nginx_worker" "$mode")"$'\n' ;;
        memory) runs[$t]+="$(once "$memory_port" "$memory_pid" "$mode")"$'\n' ;;
        redis) runs[$t]+="$(once "$redis_dg_port" "$redis_pid" "$mode")"$'\n' ;;
        off) runs[$t]+="$(once "$off_port" "$off_pid" "$mode")"$'\n' ;;
      esac
    done
  done
  for t in nginx memory redis off; do
    med=$(printf '%s' "${runs[$t]}" | sort -n -k1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
    pid_var="${t}_pid"; [[ $t == nginx ]] && pid_var=nginx_worker
    rss=$(( $(rss_kib "${!pid_var}") / 1024 ))
    rps_of["$t/$mode"]=${med%% *}
    rows+=("$t|$mode|${med// /|}|$rss")
  done
  unset runs
done

# Every measured deepgate answer on the cached targets was a hit: no miss after the warm-up one.
for t in memory redis; do
  admin_var="${t}_admin"
  misses=$(metric "${!admin_var}" 'deepgate_cache_lookups_total{result="miss"}')
  [[ "${misses%.*}" == 1 ]] || { echo "bench: $t cache had $misses misses (expected only the warm-up)" >&2; exit 1; }
done

name() { case $1 in nginx) echo "nginx → mock";; memory) echo "deepgate, cache hit (memory)";;
  redis) echo "deepgate, cache hit (redis)";; off) echo "deepgate, cache off → mock";; esac; }
echo "## $(date -u +%Y-%m-%d) — cache hits, $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, median of $ROUNDS interleaved rounds, 1 worker each"
echo
echo "| target | mode | req/s | p50 | p99 | CPU µs/req | RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do IFS='|' read -r t m rest <<<"$r"; echo "| $(name "$t") | $m | ${rest//|/ | } |"; done
echo
for mode in non-stream stream; do
  for t in memory redis; do
    awk -v m="$mode" -v t="$t" -v a="${rps_of[$t/$mode]}" -v b="${rps_of[nginx/$mode]}" \
      'BEGIN{printf "- %s: cache hit (%s) / nginx → mock throughput **%.2f×** (target ≥ 1.5×)\n", m, t, a/b}'
  done
done
