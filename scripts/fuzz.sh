#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time on a
# copy of its seed corpus (fuzz/corpus/<target>, which stays as it is in the repo). Any crash,
# leak, timeout or out-of-memory fails the run; the input is left in build-fuzz/findings/<target>/
# to minimise (fuzz_<target> -minimize_crash=1 <input>) into the corpus with a test. Prints each
# target's executions and coverage for docs/reliability.md.
#   FUZZ_SECONDS  per target (default 60)      FUZZ_TARGETS  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"http_request chat_request sse_stream config_load resp_reply"}
build_targets=""
for t in $targets; do build_targets+=" fuzz_$t"; done

echo "== build (libFuzzer, clang, ASan + UBSan)"
CXX=clang++ BUILD_DIR=build-fuzz BUILD_TYPE=RelWithDebInfo SANITIZE=fuzzer BUILD_TESTS=OFF \
  BUILD_TARGETS="$build_targets" ./scripts/build.sh

# Two targets at a time (the machine's two cores), each alone on its core.
fuzz_one() {  # $1 target; prints its summary line, or the finding; returns non-zero on a finding
  local t=$1 work=build-fuzz/work/$1 findings=build-fuzz/findings/$1 log=build-fuzz/fuzz-$1.log
  rm -rf "$work" && mkdir -p "$work" "$findings"
  cp fuzz/corpus/"$t"/* "$work"/
  # -timeout: one input taking 10 s is a finding; -rss_limit_mb bounds memory; leaks are findings.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./build-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$findings/" "$work" >"$log" 2>&1; then
    local runs cov
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
    printf '%-14s %10s runs  %6s edges  %s s  no finding\n' "$t" "$runs" "$cov" "$seconds" > build-fuzz/summary-"$t"
  else
    { echo "$t: FOUND A PROBLEM (input in $findings/)"; tail -40 "$log"; } > build-fuzz/summary-"$t"
    return 1
  fi
}

echo "== fuzz (${seconds}s per target, two at a time)"
failed=0
pids=()
for t in $targets; do
  fuzz_one "$t" &
  pids+=($!)
  if (( ${#pids[@]} == 2 )); then
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
echo "== fuzz summary"
for t in $targets; do cat build-fuzz/summary-"$t"; done
exit $failed
