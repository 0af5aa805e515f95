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

# A demo client key, created once and reused: .deepgate/ holds the keys file (digests only) and
# the demo key's value (mode 600). Delete .deepgate/ to start over.
mkdir -p .deepgate
export DEEPGATE_KEYS_FILE=${DEEPGATE_KEYS_FILE:-$PWD/.deepgate/keys.json}
demo_key=""
if [[ -s .deepgate/demo-key ]]; then
  demo_key=$(cat .deepgate/demo-key)
  digest=$(printf %s "$demo_key" | sha256sum | cut -d' ' -f1)
  grep -q "$digest" "$DEEPGATE_KEYS_FILE" 2>/dev/null || demo_key=""
fi
if [[ -z "$demo_key" ]]; then
  demo_key=$(./build/deepgate keys create --owner demo --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
  (umask 077 && printf %s "$demo_key" >.deepgate/demo-key)
fi
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

  curl http://localhost:${PORT}/v1/chat/completions -H "Authorization: Bearer ${demo_key}" \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"deepseek-flash","messages":[{"role":"user","content":"Hello!"}]}'

  curl -N http://localhost:${PORT}/v1/chat/completions -H "Authorization: Bearer ${demo_key}" \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"deepseek-flash","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

  More keys: ./build/deepgate keys create --owner NAME   (the running gateway picks them up)
  Metrics:   curl http://127.0.0.1:${DEEPGATE_ADMIN_PORT:-8081}/metrics
  The access log (one JSON line per request) goes to stdout, application logs to stderr.

MSG
./build/deepgate "$@" &
pids+=($!)
wait "${pids[-1]}"
