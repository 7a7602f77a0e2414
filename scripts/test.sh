#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command two (and CI): install what is missing, then build and pass the whole suite:
#   1. RelWithDebInfo build (line tables only, -g1: what valgrind and callgrind read) with
#      -Werror, debug checks and stop points: unit, stress, atomic, torture (the stop-point matrix
#      included), install
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: the same labels
#   3. ThreadSanitizer build: the same labels
#   4. valgrind memcheck on the million-op stress test: no leak, no error
# --quick instead builds without debug info or benchmarks (build/quick) and runs the unit, atomic
# and torture labels with one second per torture case and a sample of the stop-point matrix: a
# few minutes, for every change.
# RCUFREE_TORTURE_SECONDS=N lengthens the torture cases (both tiers).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
bash scripts/setup.sh
jobs=$(nproc)
start=$SECONDS

stage() { printf '\n=== %s (%ds elapsed)\n' "$*" $((SECONDS - start)); }

build() {  # build DIR cmake-args...
  local dir=$1
  shift
  mkdir -p "$dir"
  cmake -S . -B "$dir" -DRCUFREE_WERROR=ON -DRCUFREE_DEBUG=ON -DRCUFREE_STOP_POINTS=ON "$@" \
    >"$dir/configure.log" 2>&1 ||
    { tail -30 "$dir/configure.log"; echo "configure of $dir failed"; exit 1; }
  cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1 ||
    { grep -E -A5 'error|Error' "$dir/build.log" | head -60; echo "build of $dir failed"; exit 1; }
}

if [ "$quick" -eq 1 ]; then
  stage "quick 1/2 build (-O2 without debug info, -Werror, debug checks, no benchmarks)"
  build build/quick -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" "-DRCUFREE_TEST_DIRS=atomic;torture;matrix"
  stage "quick 2/2 unit, atomic, torture (${RCUFREE_TORTURE_SECONDS:-1} s per torture case)"
  RCUFREE_TORTURE_SECONDS=${RCUFREE_TORTURE_SECONDS:-1} RCUFREE_MATRIX_SAMPLE=${RCUFREE_MATRIX_SAMPLE:-80} \
    ctest --test-dir build/quick -j"$jobs" --output-on-failure -L "unit|atomic|torture" --timeout 120
  stage "quick tier passed"
  exit 0
fi

stage "1/4 build and test (RelWithDebInfo, -Werror, debug checks)"
build build/ci -DRCUFREE_BUILD_BENCH=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
ctest --test-dir build/ci -j"$jobs" --output-on-failure --timeout 600

stage "2/4 AddressSanitizer + UndefinedBehaviorSanitizer"
build build/asan -DRCUFREE_SANITIZE=address -DRCUFREE_BUILD_EXAMPLES=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -j"$jobs" --output-on-failure -L sanitizer --timeout 600

stage "3/4 ThreadSanitizer"
build build/tsan -DRCUFREE_SANITIZE=thread -DRCUFREE_BUILD_EXAMPLES=OFF
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 die_after_fork=0 suppressions=$PWD/test/tsan.supp" \
  ctest --test-dir build/tsan -j"$jobs" --output-on-failure -L sanitizer --timeout 900

stage "4/4 valgrind memcheck on the million-op stress test"
valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect -q build/ci/test/stress/million_ops_test
stage "all stages passed"
