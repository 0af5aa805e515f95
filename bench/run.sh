#!/usr/bin/env bash
# Benchmark: wrk on loopback against (a) deepgate-mock directly, (b) nginx proxying to it,
# (c) deepgate proxying to it (metrics and access log on, the default) and with both off, (d)
# deepgate with per-key limits in memory and (e) in a local
# redis-server (limits set high enough never to refuse: the cost of checking them), non-stream
# and stream, in one run on one machine. Prints
# req/s, p50/p99, time to first byte, gateway CPU µs per request and RSS, and deepgate/nginx
# ratios as a markdown table. Not a test: nothing here passes or fails.
#   DURATION (default 10s)  CONNECTIONS (default 32)  PROBES (TTFB samples, default 200)
#   AB_ROUNDS (default 5) × AB_DURATION (default 5s): observability on/off, interleaved
#   AB_ONLY=1: only that A/B, without the table
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
PROBES=${PROBES:-200}
AB_ROUNDS=${AB_ROUNDS:-5}
AB_DURATION=${AB_DURATION:-5s}
source bench/lib.sh
start_mock
start_nginx
start_redis
start_deepgate plain ""
deepgate_pid=$dg_pid deepgate_port=$dg_port
start_deepgate quiet "metrics: {enabled: false}
log: {access: {enabled: false}}"
quiet_pid=$dg_pid quiet_port=$dg_port
start_limited_deepgates

ttfb_ms() {  # median time to first byte over PROBES sequential stream requests
  local port=$1
  for _ in $(seq "$PROBES"); do
    curl -s -o /dev/null -w '%{http_code} %{time_starttransfer}\n' "http://127.0.0.1:$port/v1/chat/completions" \
      -H 'Content-Type: application/json' -H 'Authorization: Bearer dg-bench-key-0000000000000000' \
      -d '{"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":true,"messages":[{"role":"user","content":"ttfb"}]}'
  done | awk '$1 != 200 {bad++} {print $2} END {if (bad) {print "bench: " bad " TTFB probes were not 200" > "/dev/stderr"; exit 1}}' |
    sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}'
}

row() {  # name port pid mode
  local name=$1 port=$2 pid=$3 mode=$4 before after out rps p50 p99 reqs cpu rss
  before=$( [[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0)
  out=$(BENCH_STREAM=$([[ $mode == stream ]] && echo 1 || echo 0) \
        wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:$port/v1/chat/completions")
  after=$( [[ -n "$pid" ]] && cpu_ticks "$pid" || echo 0)
  if grep -q "Non-2xx" <<<"$out"; then  # a benchmark of error answers is no benchmark
    echo "bench: $name ($mode) answered non-2xx responses:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  if [[ -n "$pid" ]]; then
    cpu=$(awk -v t=$((after - before)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz*1e6/n}')
    rss=$(( $(rss_kib "$pid") / 1024 ))
  else cpu="-"; rss="-"; fi
  local ttfb="-"
  [[ $mode == stream ]] && ttfb=$(ttfb_ms "$port")
  echo "$name|$mode|$rps|$p50|$p99|$ttfb|$cpu|$rss"
}

results=()
[[ -n "${AB_ONLY:-}" ]] && modes=() || modes=(non-stream stream)
for mode in "${modes[@]}"; do
  results+=("$(row "mock direct" "$mock_port" "" "$mode")")
  results+=("$(row "nginx → mock" "$nginx_port" "$nginx_worker" "$mode")")
  results+=("$(row "deepgate → mock" "$deepgate_port" "$deepgate_pid" "$mode")")
  results+=("$(row "deepgate, metrics + access log off" "$quiet_port" "$quiet_pid" "$mode")")
  results+=("$(row "deepgate + limits (memory)" "$memory_port" "$memory_pid" "$mode")")
  results+=("$(row "deepgate + limits (redis)" "$redis_dg_port" "$redis_pid" "$mode")")
done

if [[ -z "${AB_ONLY:-}" ]]; then
echo "## $(date -u +%Y-%m-%d) — $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION, 1 worker each"
echo
echo "| target | mode | req/s | p50 | p99 | TTFB median (ms) | CPU µs/req | RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
echo
for mode in non-stream stream; do
  n=$(printf '%s\n' "${results[@]}" | awk -F'|' -v m="$mode" '$1=="nginx → mock" && $2==m {print $3}')
  d=$(printf '%s\n' "${results[@]}" | awk -F'|' -v m="$mode" '$1=="deepgate → mock" && $2==m {print $3}')
  nt=$(printf '%s\n' "${results[@]}" | awk -F'|' -v m="$mode" '$1=="nginx → mock" && $2==m {print $6}')
  dt=$(printf '%s\n' "${results[@]}" | awk -F'|' -v m="$mode" '$1=="deepgate → mock" && $2==m {print $6}')
  awk -v m="$mode" -v n="$n" -v d="$d" 'BEGIN{printf "- %s: deepgate/nginx throughput ratio **%.2f×**\n", m, d/n}'
  for l in memory redis; do
    x=$(printf '%s\n' "${results[@]}" | awk -F'|' -v m="$mode" -v t="deepgate + limits ($l)" '$1==t && $2==m {print $3}')
    awk -v m="$mode" -v l="$l" -v n="$n" -v x="$x" 'BEGIN{printf "- %s: deepgate with limits in %s / nginx **%.2f×**\n", m, l, x/n}'
  done
  [[ $mode == stream ]] && awk -v a="$dt" -v b="$nt" 'BEGIN{printf "- stream: TTFB deepgate − nginx = **%+.3f ms**\n", a-b}'
done
fi

# Observability on (the default: metrics + access log) against both off, interleaved so that a
# drift of the machine hits both alike; the median of the rounds is compared.
ab_rps() {  # port mode → req/s
  BENCH_STREAM=$([[ $2 == stream ]] && echo 1 || echo 0) \
    wrk -t1 -c"$CONNECTIONS" -d"$AB_DURATION" -s bench/post.lua "http://127.0.0.1:$1/v1/chat/completions" |
    awk '/Requests\/sec/{print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
for mode in non-stream stream; do
  on=() off=()
  for i in $(seq "$AB_ROUNDS"); do  # the order alternates too, so neither side always goes first
    if ((i % 2)); then
      on+=("$(ab_rps "$deepgate_port" "$mode")"); off+=("$(ab_rps "$quiet_port" "$mode")")
    else
      off+=("$(ab_rps "$quiet_port" "$mode")"); on+=("$(ab_rps "$deepgate_port" "$mode")")
    fi
  done
  mon=$(printf '%s\n' "${on[@]}" | median) moff=$(printf '%s\n' "${off[@]}" | median)
  awk -v m="$mode" -v a="$mon" -v b="$moff" -v r="$AB_ROUNDS" -v d="$AB_DURATION" 'BEGIN{
    printf "- %s: metrics + access log on / off = **%.3f×** (median of %d interleaved %s rounds: %.0f vs %.0f req/s)\n", m, a/b, r, d, a, b}'
done
