#!/usr/bin/env bash
# Configures and builds deepgate with CMake. Used by test.sh, run.sh and docker/Dockerfile, so
# the image is built the way CI builds.
#   BUILD_DIR   (default: build)            BUILD_TYPE  (default: RelWithDebInfo)
#   SANITIZE    (address | thread | fuzzer | empty)  BUILD_TESTS (ON | OFF, default ON)
#   CXX         the compiler, for a new build directory (the fuzz build: clang++)
#   BUILD_TARGETS  (default: all) e.g. "deepgate deepgate-mock unit_tests"
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

cmake -S . -B "$BUILD_DIR" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DDEEPGATE_SANITIZE="${SANITIZE:-}" \
  -DDEEPGATE_BUILD_TESTS="${BUILD_TESTS:-ON}" >/dev/null
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" --parallel "$(nproc)" "${targets[@]}"
