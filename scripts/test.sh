#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit, integration (real deepgate
# and deepgate-mock processes on loopback, nginx from deploy/nginx in front of two replicas), the
# openai npm SDK compatibility test, and a check of the deployment files (scripts/check-deploy.py).
# Then the same suite again under AddressSanitizer + UBSan, and under ThreadSanitizer (skip the
# sanitizer passes with SANITIZE_PASS=0). Test fixtures require every deepgate and mock process
# to exit 0, so a sanitizer report in any of them fails the test that started it.
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

if [[ "${SANITIZE_PASS:-1}" == 1 ]]; then
  echo "== build (ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug SANITIZE=address ./scripts/build.sh
  echo "== tests (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure --parallel 2 --timeout 300 -E compat_openai_sdk

  echo "== build (TSan)"
  BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo SANITIZE=thread ./scripts/build.sh
  echo "== tests (TSan)"
  TSAN_OPTIONS=halt_on_error=0 \
    ctest --test-dir build-tsan --output-on-failure --parallel 2 --timeout 300 -E compat_openai_sdk
fi
