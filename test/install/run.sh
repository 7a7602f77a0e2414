#!/usr/bin/env bash
# Builds and runs the consumer project three ways, offline, against a fresh copy of rcufree:
#   1. find_package(rcufree CONFIG REQUIRED) after `cmake --install` into a temporary prefix
#   2. pkg-config --cflags --libs rcufree, with PKG_CONFIG_PATH at that prefix (C++ and C)
#   3. add_subdirectory() of the source tree
# and then installs the same build again elsewhere with `cmake --install --prefix` (relocation).
# Usage: run.sh SOURCE_DIR WORK_DIR. Builds at -O0 without debug info: this checks packaging,
# not code, and a library build is most of the time.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
here=$(cd "$(dirname "$0")" && pwd)
jobs=$(nproc)
fast=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DCMAKE_C_FLAGS_DEBUG=-O0)
rm -rf "$work"
mkdir -p "$work"
start=$SECONDS
step() { printf '[install test %3ds] %s\n' $((SECONDS - start)) "$*"; }
quiet() {  # run a command, show its output only if it fails
  local log=$work/last.log
  "$@" >"$log" 2>&1 || { tail -40 "$log"; echo "FAILED: $*"; return 1; }
}

step "build rcufree alone and install it into $work/prefix"
quiet cmake -S "$src" -B "$work/lib" "${fast[@]}" -DCMAKE_INSTALL_PREFIX="$work/prefix" \
  -DRCUFREE_BUILD_TESTS=OFF -DRCUFREE_BUILD_EXAMPLES=OFF -DRCUFREE_BUILD_BENCH=OFF
quiet cmake --build "$work/lib" -j"$jobs"
quiet cmake --install "$work/lib"
test -f "$work/prefix/include/rcufree/rcufree.hpp"
test -f "$work/prefix/include/rcufree/rcufree.h"

failed=()
# Each way runs in a subshell: a failure is recorded and the next way still runs.
way() {  # way NAME FUNCTION
  step "$1"
  # Not inside `if`: errexit would be ignored in the subshell there.
  set +e
  ( set -e; "$2" )
  local rc=$?
  set -e
  [ "$rc" -eq 0 ] || failed+=("$1")
}

by_package() {
  quiet cmake -S "$here/consumer" -B "$work/package" "${fast[@]}" -DRCUFREE_CONSUMER_MODE=package \
    -DCMAKE_PREFIX_PATH="$work/prefix"
  quiet cmake --build "$work/package" -j"$jobs"
  "$work/package/consumer"
  "$work/package/consumer_c"
}

by_pkg_config() {
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  local flags
  flags=$(pkg-config --cflags --libs rcufree)
  echo "  pkg-config: $flags"
  quiet c++ -std=c++20 -O0 "$here/consumer/main.cpp" $flags -o "$work/pc_consumer"
  "$work/pc_consumer"
  quiet cc -O0 "$here/consumer/main.c" $flags -o "$work/pc_consumer_c"
  "$work/pc_consumer_c"
}

by_subdirectory() {
  quiet cmake -S "$here/consumer" -B "$work/subdir" "${fast[@]}" -DRCUFREE_CONSUMER_MODE=subdir \
    -DRCUFREE_SOURCE_DIR="$src"
  quiet cmake --build "$work/subdir" -j"$jobs"
  "$work/subdir/consumer"
  "$work/subdir/consumer_c"
}

# Relocation: `cmake --install --prefix` into a second prefix (not the configured one) must give
# a usable package both ways: the CMake package and rcufree.pc must point at where they now are.
relocated() {
  quiet cmake --install "$work/lib" --prefix "$work/moved"
  local pc_prefix
  pc_prefix=$(PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config --variable=prefix rcufree)
  if [ "$(realpath -m "$pc_prefix")" != "$(realpath -m "$work/moved")" ]; then
    echo "  rcufree.pc installed with --prefix $work/moved says prefix=$pc_prefix"
    return 1
  fi
  quiet cmake -S "$here/consumer" -B "$work/moved-package" "${fast[@]}" \
    -DRCUFREE_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/moved"
  quiet cmake --build "$work/moved-package" -j"$jobs" --target consumer
  "$work/moved-package/consumer"
  local flags
  flags=$(PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config --cflags --libs rcufree)
  quiet cc -O0 "$here/consumer/main.c" $flags -o "$work/moved_pc_consumer_c"
  "$work/moved_pc_consumer_c"
}

way "1/3 find_package(rcufree CONFIG REQUIRED) after cmake --install" by_package
way "2/3 pkg-config --cflags --libs rcufree" by_pkg_config
way "3/3 add_subdirectory() of the source tree" by_subdirectory
way "relocated install (cmake --install --prefix elsewhere)" relocated

if [ ${#failed[@]} -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
step "all consumer builds passed"
rm -rf "$work"
