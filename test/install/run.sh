#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs the consumer project, offline, against a fresh copy of rcufree:
#   1. find_package(rcufree CONFIG REQUIRED) after `cmake --install` into a temporary prefix:
#      rcufree::rcufree links librcufree.so.N (SONAME checked), rcufree::rcufree_static the archive
#   2. pkg-config --cflags --libs rcufree, with PKG_CONFIG_PATH at that prefix (C++ and C): the
#      shared library; then pkg-config --static into a fully static program (Libs.private)
#   3. add_subdirectory() of the source tree, which must not install rcufree with the consumer
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
test -f "$work/prefix/include/rcufree/export.hpp"
libdir=$work/prefix/lib
soname=$(readelf -d "$libdir/librcufree.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
step "installed: $(cd "$libdir" && echo librcufree*) (SONAME $soname)"
case "$soname" in librcufree.so.[0-9]*) ;; *) echo "librcufree.so has no SONAME"; exit 1 ;; esac
test -f "$libdir/$soname"
test -f "$libdir/librcufree.a"

# needs BINARY LIB: the program's dynamic section lists LIB (needs_not: it does not).
needs() { readelf -d "$1" | grep "NEEDED.*\[$2\]" >/dev/null || { echo "  $1 does not need $2"; return 1; }; }
needs_not() {
  if readelf -d "$1" | grep "NEEDED.*\[$2" >/dev/null; then echo "  $1 needs $2"; return 1; fi
}

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
  "$work/package/consumer_static"
  needs "$work/package/consumer" "$soname"
  needs "$work/package/consumer_c" "$soname"
  needs_not "$work/package/consumer_static" librcufree
}

by_pkg_config() {
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  local flags
  flags=$(pkg-config --cflags --libs rcufree)
  echo "  pkg-config: $flags"
  local rpath=-Wl,-rpath,$(pkg-config --variable=libdir rcufree)
  quiet c++ -std=c++20 -O0 "$here/consumer/main.cpp" $flags "$rpath" -o "$work/pc_consumer"
  "$work/pc_consumer"
  needs "$work/pc_consumer" "$soname"
  quiet cc -O0 "$here/consumer/main.c" $flags "$rpath" -o "$work/pc_consumer_c"
  "$work/pc_consumer_c"
  needs "$work/pc_consumer_c" "$soname"
}

# A fully static C program: only works if rcufree.pc lists what the archive needs (Libs.private).
by_pkg_config_static() {
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  local flags
  flags=$(pkg-config --static --cflags --libs rcufree)
  echo "  pkg-config --static: $flags"
  quiet cc -static -O0 "$here/consumer/main.c" $flags -o "$work/pc_static_c"
  "$work/pc_static_c"
  if readelf -d "$work/pc_static_c" 2>/dev/null | grep NEEDED >/dev/null; then
    echo "  pc_static_c is not static"
    return 1
  fi
}

by_subdirectory() {
  quiet cmake -S "$here/consumer" -B "$work/subdir" "${fast[@]}" -DRCUFREE_CONSUMER_MODE=subdir \
    -DRCUFREE_SOURCE_DIR="$src"
  quiet cmake --build "$work/subdir" -j"$jobs"
  "$work/subdir/consumer"
  "$work/subdir/consumer_c"
  # rcufree is not the top-level project there: installing the consumer installs none of it.
  quiet cmake --install "$work/subdir" --prefix "$work/subdir-prefix"
  if [ -n "$(find "$work/subdir-prefix" -name '*rcufree*' 2>/dev/null)" ]; then
    echo "  installing an add_subdirectory() consumer installed rcufree too:"
    find "$work/subdir-prefix" -name '*rcufree*'
    return 1
  fi
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
  quiet cc -O0 "$here/consumer/main.c" $flags -Wl,-rpath,"$work/moved/lib" \
    -o "$work/moved_pc_consumer_c"
  "$work/moved_pc_consumer_c"
  needs "$work/moved_pc_consumer_c" "$soname"
}

way "1/4 find_package(rcufree CONFIG REQUIRED) after cmake --install" by_package
way "2/4 pkg-config --cflags --libs rcufree" by_pkg_config
way "3/4 pkg-config --static --cflags --libs rcufree, cc -static" by_pkg_config_static
way "4/4 add_subdirectory() of the source tree" by_subdirectory
way "relocated install (cmake --install --prefix elsewhere)" relocated

if [ ${#failed[@]} -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
step "all consumer builds passed"
rm -rf "$work"
