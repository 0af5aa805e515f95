#!/usr/bin/env bash
# The performance table of issue 19 in one command: deepgate against nginx 1.22 on the same
# deepgate-mock, in one run on this machine, one worker each, wrk -t1 -c32 on loopback. Every row
# is ROUNDS interleaved rounds (the order alternating), medians reported, CPU µs per request read
# from /proc. Then the 9,000-stream memory row (bench/streams.sh) and the TLS row (bench/tls.sh).
# Ratios, not thresholds: nothing passes or fails.
#   DURATION (default 5s)  ROUNDS (default 3)  STREAMS (default 9000; 0 skips that row)  TLS (1; 0 skips)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-9000}
TLS=${TLS:-1}
source bench/lib.sh
start_mock
start_nginx
start_redis
start_deepgate plain ""
plain_pid=$dg_pid plain_port=$dg_port
start_limited_deepgates

declare -A rps cpu p50
run() {  # key port pid stream temperature connections
  local key=$1 port=$2 pid=$3 before after out n
  before=$(cpu_ticks "$pid")
  out=$(env BENCH_STREAM="$4" ${5:+BENCH_TEMPERATURE=$5} wrk -t1 -c"$6" -d"$DURATION" --latency -s bench/post.lua \
        "http://127.0.0.1:$port/v1/chat/completions")
  after=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: $key answered non-2xx" >&2; echo "$out" >&2; exit 1; fi
  n=$(grep -o "[0-9]* requests in" <<<"$out" | grep -o "^[0-9]*")
  rps[$key]+="$(awk '/Requests\/sec/{print $2}' <<<"$out") "
  cpu[$key]+="$(awk -v t=$((after - before)) -v n="$n" 'BEGIN{printf "%.1f", t*10000/n}') "
  p50[$key]+="$(awk '$1=="50%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else {sub(/s/,"",v); v*=1000}; printf "%.3f", v}' <<<"$out") "
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f×", a/b}'; }

# The cache hit row: deepgate's default cache answers a deterministic request after one miss.
warm_hit() {
  curl -sf -o /dev/null "http://127.0.0.1:$plain_port/v1/chat/completions" -H 'Content-Type: application/json' \
    -H 'Authorization: Bearer dg-bench-key-0000000000000000' \
    -d '{"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":false,"temperature":0,"messages":[{"role":"user","content":"benchmark prompt"}]}'
}
warm_hit

cases=(
  "nginx_ns $nginx_port $nginx_worker 0 _ 32" "dg_ns $plain_port $plain_pid 0 _ 32"
  "nginx_s $nginx_port $nginx_worker 1 _ 32" "dg_s $plain_port $plain_pid 1 _ 32"
  "nginx_t0 $nginx_port $nginx_worker 0 0 32" "dg_hit $plain_port $plain_pid 0 0 32"
  "dg_mem $memory_port $memory_pid 0 _ 32" "dg_redis $redis_dg_port $redis_pid 0 _ 32"
  "nginx_c1 $nginx_port $nginx_worker 0 _ 1" "dg_c1 $plain_port $plain_pid 0 _ 1"
)
for r in $(seq "$ROUNDS"); do
  order=("${cases[@]}")
  if ((r % 2 == 0)); then  # alternate the order: the machine favours whichever runs second
    order=()
    for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[$i]}"); done
  fi
  for c in "${order[@]}"; do
    read -r key port pid stream temp conns <<<"$c"
    [[ $temp == _ ]] && temp=""
    run "$key" "$port" "$pid" "$stream" "$temp" "$conns"
  done
done

R() { median "${rps[$1]}"; }
C() { median "${cpu[$1]}"; }
P() { median "${p50[$1]}"; }

echo "### $(date -u +%Y-%m-%d) — $(nproc) cores, wrk -t1 -c32 -d$DURATION, $ROUNDS interleaved rounds (medians), 1 worker each"
echo
echo "| path | nginx 1.22 | deepgate | deepgate / nginx |"
echo "|---|---|---|---|"
echo "| non-stream proxied: req/s | $(R nginx_ns) | $(R dg_ns) | $(ratio "$(R dg_ns)" "$(R nginx_ns)") |"
echo "| non-stream: CPU µs per request | $(C nginx_ns) | $(C dg_ns) | $(ratio "$(C dg_ns)" "$(C nginx_ns)") |"
echo "| stream (15 events): req/s | $(R nginx_s) | $(R dg_s) | $(ratio "$(R dg_s)" "$(R nginx_s)") |"
echo "| stream: CPU µs per request | $(C nginx_s) | $(C dg_s) | $(ratio "$(C dg_s)" "$(C nginx_s)") |"
echo "| cache hit (temperature 0) vs nginx proxying the same request: req/s | $(R nginx_t0) | $(R dg_hit) | $(ratio "$(R dg_hit)" "$(R nginx_t0)") |"
echo "| cache hit: CPU µs per request | $(C nginx_t0) (proxying) | $(C dg_hit) | $(ratio "$(C dg_hit)" "$(C nginx_t0)") |"
echo "| limits in memory: req/s | $(R nginx_ns) | $(R dg_mem) | $(ratio "$(R dg_mem)" "$(R nginx_ns)") |"
echo "| limits in memory: CPU µs per request (plain deepgate: $(C dg_ns)) | – | $(C dg_mem) | +$(awk -v a="$(C dg_mem)" -v b="$(C dg_ns)" 'BEGIN{printf "%.1f", a-b}') µs |"
echo "| limits in Redis: req/s | $(R nginx_ns) | $(R dg_redis) | $(ratio "$(R dg_redis)" "$(R nginx_ns)") |"
echo "| limits in Redis: CPU µs per request (deepgate's own; redis-server's not included) | – | $(C dg_redis) | +$(awk -v a="$(C dg_redis)" -v b="$(C dg_ns)" 'BEGIN{printf "%.1f", a-b}') µs |"
echo "| latency at c=1, p50 (ms) | $(P nginx_c1) | $(P dg_c1) | +$(awk -v a="$(P dg_c1)" -v b="$(P nginx_c1)" 'BEGIN{printf "%.0f", (a-b)*1000}') µs |"
cleanup
trap - EXIT

if ((STREAMS > 0)); then
  echo
  STREAMS=$STREAMS BIN=$BIN bench/streams.sh
fi
if ((TLS)); then
  echo
  DURATION=$DURATION ROUNDS=$ROUNDS BIN=$BIN bench/tls.sh
fi
