# Shared by the benchmarks (sourced, not run): a scratch directory and process cleanup, free
# ports, CPU and RSS readings, and starting the mock, nginx, redis-server and deepgate on loopback.
# Expects BIN (the build directory) and the repository root as the working directory.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_port() {  # $1 log file → prints the port from its "listening on" line
  for _ in $(seq 200); do
    p=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$1" | head -1)
    [[ -n "$p" ]] && { echo "$p"; return; }
    sleep 0.05
  done
  cat "$1" >&2; exit 1
}
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    ss -ltn "sport = :$p" | grep -q ":$p" || { echo "$p"; return; }
  done
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

start_mock() {  # → mock_port
  "$BIN/deepgate-mock" --port 0 --workers 1 >"$work/mock.log" 2>&1 & pids+=($!)
  mock_port=$(wait_port "$work/mock.log")
}

start_nginx() {  # nginx as a keep-alive reverse proxy to the mock → nginx_port, nginx_worker; $@: more sed expressions for its config
  nginx_port=$(free_port)
  mkdir -p "$work/nginx"
  local extra=()
  for e in "$@"; do extra+=(-e "$e"); done
  sed -e "s#@DIR@#$work/nginx#g" -e "s#@PORT@#$nginx_port#g" -e "s#@MOCK_PORT@#$mock_port#g" "${extra[@]}" \
    bench/nginx.conf.template >"$work/nginx/nginx.conf"
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" >"$work/nginx.log" 2>&1 & pids+=($!)
  local master=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/models" >/dev/null && break; sleep 0.05; done
  nginx_worker=$(pgrep -P "$master" | head -1)
  [[ -n "$nginx_worker" ]] || { echo "bench: nginx did not start:" >&2; cat "$work/nginx.log" "$work/nginx/nginx-error.log" >&2 2>/dev/null; exit 1; }
}

start_redis() {  # → redis_port
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
}

start_deepgate() {  # $1 name, $2 extra YAML, $3 backends + models YAML (default: the mock) → dg_pid, dg_port, dg_admin
  local routing=${3:-}
  [[ -n "$routing" ]] || routing="backends: [{name: mock, url: \"http://127.0.0.1:$mock_port\"}]
models: [{name: deepseek-flash, backend: mock}]"
  cat >"$work/$1.yaml" <<YAML
server: {host: 127.0.0.1, port: 0, workers: 1}
$routing
auth: {keys: [{id: bench, owner: bench, key: dg-bench-key-0000000000000000}]}
admin: {port: 0}
$2
YAML
  "$BIN/deepgate" --config "$work/$1.yaml" >"$work/$1.log" 2>&1 & pids+=($!)
  dg_pid=$!
  dg_port=$(wait_port "$work/$1.log")
  dg_admin=$(sed -n 's/.*admin API on [^ ]*:\([0-9]*\).*/\1/p' "$work/$1.log")
}

# deepgate with request, token and concurrency limits set high enough never to refuse, in memory
# and in the redis-server start_redis made: the cost of checking and settling them.
# → memory_pid, memory_port, redis_pid, redis_dg_port
start_limited_deepgates() {
  local high="  default: {requests_per_minute: 100000000, tokens_per_minute: 1000000000000, concurrent_requests: 100000}"
  start_deepgate memory "limits:
$high"
  memory_pid=$dg_pid memory_port=$dg_port
  start_deepgate redis "limits:
  store: redis
$high
redis: {url: \"redis://127.0.0.1:$redis_port\"}"
  redis_pid=$dg_pid redis_dg_port=$dg_port
}
