#!/usr/bin/env bash
# Benchmark: many concurrent slow streams. wrk holds STREAMS connections open, each asking for a
# stream the mock paces at 4 tokens a second (16 tokens, ~4 s), through nginx and through
# deepgate, one after the other on the same mock. Samples each proxy's RSS every 100 ms and
# prints the peak, the streams completed, and errors. Not a test: nothing passes or fails.
#   STREAMS (default 9000)  DURATION (default 12s)
#   PRELOAD: a library to LD_PRELOAD into deepgate (e.g. another allocator, to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
STREAMS=${STREAMS:-9000}
DURATION=${DURATION:-12s}
ulimit -n "$(ulimit -Hn)"  # each proxy holds 2 fds a stream
source bench/lib.sh
"$BIN/deepgate-mock" --port 0 --workers 1 >"$work/mock.log" 2>&1 & pids+=($!)
mock_port=$(wait_port "$work/mock.log")
start_nginx 's/worker_connections 4096;/worker_connections 30000;/' \
  's/^worker_processes 1;/worker_processes 1;\nworker_rlimit_nofile 20000;/'

cat >"$work/dg.yaml" <<YAML
server: {host: 127.0.0.1, port: 0, workers: 1, max_requests_in_flight: 20000}
backends: [{name: mock, url: "http://127.0.0.1:$mock_port", max_connections: 20000}]
models: [{name: deepseek-flash, backend: mock}]
auth: {keys: [{id: bench, owner: bench, key: dg-bench-key-0000000000000000}]}
admin: {port: 0}
YAML
LD_PRELOAD=${PRELOAD:-} "$BIN/deepgate" --config "$work/dg.yaml" >"$work/dg.log" 2>&1 & pids+=($!)
dg_pid=$!
dg_port=$(wait_port "$work/dg.log")

measure() {  # name port pid
  local name=$1 port=$2 pid=$3 peak=0 before out
  before=$(rss_kib "$pid")
  BENCH_STREAM=1 BENCH_CONTENT="slow [mock tps=4 tokens=16]" \
    wrk -t1 -c"$STREAMS" -d"$DURATION" --timeout 30s -s bench/post.lua "http://127.0.0.1:$port/v1/chat/completions" \
    >"$work/$name.wrk" 2>&1 &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    local r
    r=$(rss_kib "$pid")
    ((r > peak)) && peak=$r
    sleep 0.1
  done
  out=$(cat "$work/$name.wrk")
  local done errors non2xx
  done=$(grep -o "[0-9]* requests in" <<<"$out" | grep -o "^[0-9]*")
  errors=$(grep -o "Socket errors:.*" <<<"$out" || echo "Socket errors: none")
  non2xx=$(grep -o "Non-2xx.*" <<<"$out" || echo "Non-2xx: 0")
  printf '| %s | %d | %.1f | %.1f | %s | %s; %s |\n' "$name" "$STREAMS" "$(bc -l <<<"$before/1024")" \
    "$(bc -l <<<"$peak/1024")" "$done" "$errors" "$non2xx"
}

echo "| proxy | concurrent streams | RSS before (MiB) | peak RSS (MiB) | streams completed | errors |"
echo "|---|---|---|---|---|---|"
measure nginx "$nginx_port" "$nginx_worker"
measure deepgate "$dg_port" "$dg_pid"
