#!/usr/bin/env bash
# Installs every Debian 12 package deepgate needs to build, test and benchmark.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libhiredis-dev libyaml-cpp-dev libmimalloc-dev
  libgtest-dev googletest
  clang libclang-rt-14-dev  # the libFuzzer targets (scripts/fuzz.sh)
  redis-server prometheus nginx haproxy wrk openssl ca-certificates tzdata curl python3 python3-yaml
  nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm come with the machine image (not from apt); do not fight them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The packaged services must not run on their default ports: tests start their own.
  for svc in redis-server nginx haproxy prometheus; do
    "${sudo_cmd[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    "${sudo_cmd[@]}" service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "install-deps: all packages present"
fi
