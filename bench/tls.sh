#!/usr/bin/env bash
# Benchmark: TLS to the backend, the real path to api.deepseek.com. deepgate-mock serves HTTPS
# with a certificate made now; nginx (proxy_ssl_verify on, proxy_ssl_session_reuse on: its
# default) and deepgate (verification on, session resumption) proxy to it, one worker each.
#   1. warm pool: wrk -t1 -c32 on keep-alive connections, CPU µs per request (no handshakes);
#   2. reconnects: the mock closes idle connections after 200 ms, so each probe after a 300 ms
#      pause opens a new backend connection: the median request time with that handshake, and
#      how many of deepgate's were resumed (deepgate_upstream_tls_handshakes_total).
# Not a test: nothing passes or fails.
#   DURATION (default 10s)  ROUNDS (default 3, interleaved)  PROBES (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PROBES=${PROBES:-20}
source bench/lib.sh
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
"$BIN/deepgate-mock" --port 0 --workers 1 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  --idle-timeout-ms 200 >"$work/mock.log" 2>&1 & pids+=($!)
mock_port=$(wait_port "$work/mock.log")

start_nginx "s#proxy_pass http://mock;#proxy_pass https://mock;\n      proxy_ssl_verify on;\n      proxy_ssl_trusted_certificate $work/cert.pem;\n      proxy_ssl_name localhost;\n      proxy_ssl_server_name on;\n      proxy_ssl_session_reuse on;#"

start_deepgate tls "" "backends: [{name: mock, url: \"https://localhost:$mock_port\", tls: {ca_file: \"$work/cert.pem\"}}]
models: [{name: deepseek-flash, backend: mock}]"

cpu_row() {  # name port pid → "req/s CPU-µs"
  local before after out n
  before=$(cpu_ticks "$3")
  out=$(BENCH_STREAM=0 wrk -t1 -c32 -d"$DURATION" -s bench/post.lua "http://127.0.0.1:$2/v1/chat/completions")
  after=$(cpu_ticks "$3")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: $1 answered non-2xx" >&2; echo "$out" >&2; exit 1; fi
  n=$(grep -o "[0-9]* requests in" <<<"$out" | grep -o "^[0-9]*")
  echo "$(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk -v t=$((after - before)) -v n="$n" 'BEGIN{printf "%.1f", t*10000/n}')"
}

reconnect_ms() {  # port → median ms of PROBES requests, each after the backend closed the idle connection
  for _ in $(seq "$PROBES"); do
    sleep 0.3  # the scenario: the pooled connection sits idle past the backend's 200 ms
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$1/v1/chat/completions" \
      -H 'Content-Type: application/json' -H 'Authorization: Bearer dg-bench-key-0000000000000000' \
      -d '{"model":"deepseek-flash","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"reconnect"}]}'
  done | awk '$1 != 200 {bad++} {print $2} END {if (bad) {print "bench: " bad " probes were not 200" > "/dev/stderr"; exit 1}}' |
    sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}'
}

echo "| round | nginx req/s | nginx CPU µs/req | deepgate req/s | deepgate CPU µs/req |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then n=$(cpu_row nginx "$nginx_port" "$nginx_worker"); d=$(cpu_row deepgate "$dg_port" "$dg_pid")
  else d=$(cpu_row deepgate "$dg_port" "$dg_pid"); n=$(cpu_row nginx "$nginx_port" "$nginx_worker"); fi
  echo "| $r | ${n% *} | ${n#* } | ${d% *} | ${d#* } |"
done
echo
nginx_ms=$(reconnect_ms "$nginx_port")
dg_ms=$(reconnect_ms "$dg_port")
handshakes=$(curl -s "http://127.0.0.1:$dg_admin/metrics" | grep '^deepgate_upstream_tls_handshakes_total' || true)
echo "| reconnect after idle (median of $PROBES) | nginx | deepgate |"
echo "|---|---|---|"
echo "| request time with a new TLS connection (ms) | $nginx_ms | $dg_ms |"
echo
echo "deepgate's handshakes over the whole run:"
echo "$handshakes" | sed 's/^/    /'
