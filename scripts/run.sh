#!/usr/bin/env bash
# One command to a running gateway on its embedded defaults.
#   DEEPSEEK_API_KEY set   -> fronts https://api.deepseek.com
#   DEEPSEEK_API_KEY unset -> starts the bundled DeepSeek-compatible mock and fronts it
# PORT (default 8080) is the gateway's port. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_TESTS=OFF ./scripts/build.sh

PORT=${PORT:-8080}
export PORT
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [[ -z "${DEEPSEEK_API_KEY:-}" ]]; then
  log=$(mktemp)
  ./build/deepgate-mock --port 0 --tps 40 >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening on" "$log" && break
    sleep 0.05
  done
  mock_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
  [[ -n "$mock_port" ]] || { cat "$log"; echo "deepgate-mock did not start" >&2; exit 1; }
  export DEEPGATE_UPSTREAM_URL="http://127.0.0.1:${mock_port}"
  echo "DEEPSEEK_API_KEY is not set: fronting the bundled mock backend at $DEEPGATE_UPSTREAM_URL"
fi

cat <<MSG

deepgate on http://localhost:${PORT}  — try:

  curl http://localhost:${PORT}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"deepseek-chat","messages":[{"role":"user","content":"Hello!"}]}'

  curl -N http://localhost:${PORT}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

MSG
./build/deepgate "$@" &
pids+=($!)
wait "${pids[-1]}"
