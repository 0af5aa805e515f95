#!/usr/bin/env bash
# Soak (issue 20, docs/reliability.md; not in CI): SOAK_SECONDS (default 600) of mixed traffic
# through one deepgate with its limits and cache in a local redis-server — every model route,
# streams, cache hits (limits high enough not to refuse) — plus clients that hang up in the middle of streams, and a
# Redis restart halfway through. Samples the gateway's RSS, file descriptors and threads every
# 10 s, and prints them with the RSS slope over the second half (KiB per minute: a leak shows as
# a steady climb once the caches are warm). Loopback only; stops by itself.
#   SOAK_SECONDS (default 600)  CONNECTIONS (default 32)  BIN (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
SOAK_SECONDS=${SOAK_SECONDS:-600}
CONNECTIONS=${CONNECTIONS:-32}
source bench/lib.sh
[[ -x "$BIN/deepgate" ]] || ./scripts/build.sh

"$BIN/deepgate-mock" --port 0 --workers 1 --models deepseek-flash,bge-m3 >"$work/mock.log" 2>&1 & pids+=($!)
mock_port=$(wait_port "$work/mock.log")
start_redis
start_deepgate soak "limits:
  store: redis
  default: {requests_per_minute: 100000000, request_burst: 1000000, tokens_per_minute: 10000000000}
cache: {store: redis}
redis: {url: \"redis://127.0.0.1:$redis_port\", command_timeout: 100ms}" \
"backends: [{name: mock, url: \"http://127.0.0.1:$mock_port\"}]
models: [{name: deepseek-flash, backend: mock}, {name: bge-m3, backend: mock}]"
echo "soak: deepgate pid $dg_pid on port $dg_port, ${SOAK_SECONDS}s"

sample() {  # elapsed → "elapsed rss_kib fds threads"
  echo "$1 $(rss_kib "$dg_pid") $(ls "/proc/$dg_pid/fd" | wc -l) $(awk '/^Threads/{print $2}' "/proc/$dg_pid/status")"
}
samples="$work/samples"
sample 0 >"$samples"

wrk -t1 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" -s bench/soak.lua "http://127.0.0.1:$dg_port" >"$work/wrk.log" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
# Clients that hang up in the middle of slow streams.
(
  end=$((SECONDS + SOAK_SECONDS))
  while ((SECONDS < end)); do
    curl -s -o /dev/null --max-time 0.3 "http://127.0.0.1:$dg_port/v1/chat/completions" \
      -H 'Content-Type: application/json' -H 'Authorization: Bearer dg-bench-key-0000000000000000' \
      -d '{"model":"deepseek-flash","stream":true,"messages":[{"role":"user","content":"abort [mock tokens=100 tps=50]"}]}' || true
  done
) & pids+=($!)

restarted=0
start=$SECONDS
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 10
  elapsed=$((SECONDS - start))
  sample "$elapsed" >>"$samples"
  if ((restarted == 0 && elapsed >= SOAK_SECONDS / 2)); then
    echo "soak: restarting redis at ${elapsed}s"
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    sleep 5
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >>"$work/redis.log" 2>&1 & pids+=($!)
    restarted=1
  fi
done
sleep 12  # the aborting clients' last streams end
sample "$((SECONDS - start))" >>"$samples"

echo "== soak: deepgate RSS / fds / threads every 10 s"
awk '{printf "%6ss  rss %7d KiB  fds %4d  threads %3d\n", $1, $2, $3, $4}' "$samples"
echo "== soak: summary"
awk -v total="$SOAK_SECONDS" '
  { t[NR]=$1; r[NR]=$2; f[NR]=$3; th[NR]=$4 }
  END {
    # least-squares slope of RSS over the second half, in KiB per minute
    n=0; sx=0; sy=0; sxx=0; sxy=0
    for (i=1;i<=NR;i++) if (t[i] >= total/2) { n++; sx+=t[i]; sy+=r[i]; sxx+=t[i]*t[i]; sxy+=t[i]*r[i] }
    slope = (n > 1) ? (n*sxy - sx*sy) / (n*sxx - sx*sx) * 60 : 0
    printf "RSS %d KiB at start, %d KiB at the end (peak %d); slope over the second half %.1f KiB/min\n", r[1], r[NR], peak(r), slope
    printf "file descriptors %d before, %d after; threads %d before, %d after\n", f[1], f[NR], th[1], th[NR]
  }
  function peak(a,   i, m) { m=0; for (i in a) if (a[i]>m) m=a[i]; return m }' "$samples"
grep -E "Requests/sec|requests in|Non-2xx|Socket errors" "$work/wrk.log" || true
echo "status classes (the admin /metrics):"
curl -s "http://127.0.0.1:$dg_admin/metrics" | awk '/^deepgate_requests_total/ {split($0,a,"status_class=\""); split(a[2],b,"\""); c[b[1]]+=$2} END {for (k in c) printf "  %s %d\n", k, c[k]}'
