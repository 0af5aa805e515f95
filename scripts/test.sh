#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit, integration (real deepgate
# and deepgate-mock processes on loopback, nginx from deploy/nginx in front of two replicas), the
# openai npm SDK compatibility test, and a check of the deployment files (scripts/check-deploy.py).
# Then the same suite again under AddressSanitizer + UBSan, and under ThreadSanitizer (skip the
# sanitizer passes with SANITIZE_PASS=0): see sanitizer_pass below. Last, every fuzz target runs
# for a bounded time under libFuzzer (scripts/fuzz.sh; FUZZ_SECONDS, default 60; skip with
# FUZZ_PASS=0); their seed corpora already ran as tests in every build above. The whole run took
# 22 minutes on this 2-core machine with ccache off (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

echo "== npm ci (tests/compat)"
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)

echo "== build"
./scripts/build.sh

echo "== deploy files (YAML, Kubernetes fields, Dockerfile, compose, systemd, haproxy)"
python3 scripts/check-deploy.py build

echo "== tests"
ctest --test-dir build --output-on-failure --parallel 2 --timeout 300

# The sanitizer passes build what runs the gateway's code: deepgate, deepgate-mock and the test
# binaries that run it in-process (label in_process). The tests that spawn those binaries (label
# spawns) are the release build's, pointed at the instrumented ones with DEEPGATE_BIN and
# DEEPGATE_MOCK_BIN: the clients need no instrumentation, and not building them twice more saves
# a third of the whole run. Every spawned process must exit 0, so a sanitizer report fails its test.
in_process="deepgate deepgate-mock unit_tests stage_test single_flight_test background_jobs_test redis_client_test cache_redis_test"
in_process+=" fuzz_replay_http_request fuzz_replay_chat_request fuzz_replay_sse_stream fuzz_replay_config_load fuzz_replay_resp_reply"
sanitizer_pass() {  # $1 build dir, $2 name; the sanitizer's options in the environment
  echo "== tests ($2): in-process"
  ctest --test-dir "$1" --output-on-failure --parallel 2 --timeout 300 -L in_process
  echo "== tests ($2): the release suite against the $2 binaries"
  DEEPGATE_BIN="$PWD/$1/deepgate" DEEPGATE_MOCK_BIN="$PWD/$1/deepgate-mock" \
    ctest --test-dir build --output-on-failure --parallel 2 --timeout 300 -L spawns
}

if [[ "${SANITIZE_PASS:-1}" == 1 ]]; then
  echo "== build (ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug SANITIZE=address BUILD_TARGETS="$in_process" ./scripts/build.sh
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    sanitizer_pass build-asan "ASan + UBSan"

  echo "== build (TSan)"
  BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo SANITIZE=thread BUILD_TARGETS="$in_process" ./scripts/build.sh
  TSAN_OPTIONS=halt_on_error=0 sanitizer_pass build-tsan TSan
fi

if [[ "${FUZZ_PASS:-1}" == 1 ]]; then
  ./scripts/fuzz.sh
fi
