#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs consumer projects, offline, against a fresh copy of rcufree installed into a
# temporary prefix (both libraries, headers, CMake package, rcufree.pc, license):
#   1. find_package(rcufree) from a C++17 project: rcufree::rcufree links librcufree.so.N (SONAME
#      checked) and compiles as C++17; rcufree::rcufree_static the archive; no variable leaks
#   2. find_package(rcufree) from a C-only project linking rcufree::rcufree_static (the C compiler
#      drives the link: the archive must bring the C++ runtime)
#   3. find_package(rcufree QUIET) where pkg-config finds no liburcu-memb: not found, a message,
#      no error; with REQUIRED, an error that names liburcu-memb
#   4. pkg-config --cflags --libs rcufree (C++17 and C): the shared library
#   5. pkg-config --static --cflags --libs rcufree into a fully static C program (Libs.private)
#   6. add_subdirectory() of the source tree with BUILD_SHARED_LIBS=OFF: only the archive is
#      built, rcufree::rcufree names it, and installing the consumer installs none of rcufree;
#      BUILD_SHARED_LIBS=ON configures the shared library alone
#   7. the same build installed elsewhere with `cmake --install --prefix` (relocation), and
#      staged for /usr with DESTDIR: rcufree.pc then adds no -I or -L of its own (pkgconf drops
#      system directories, which a prefix computed from ${pcfiledir} used to defeat)
#   8. examples/hash_map.c built with the command README.md gives for it
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
  -DCMAKE_INSTALL_LIBDIR=lib -DRCUFREE_BUILD_TESTS=OFF -DRCUFREE_BUILD_EXAMPLES=OFF \
  -DRCUFREE_BUILD_BENCH=OFF
quiet cmake --build "$work/lib" -j"$jobs"
quiet cmake --install "$work/lib"
for f in rcufree.hpp rcufree.h export.hpp call_site.hpp version.h; do
  test -f "$work/prefix/include/rcufree/$f" || { echo "include/rcufree/$f not installed"; exit 1; }
done
cmp "$src/LICENSE" "$work/prefix/share/doc/rcufree/LICENSE"
version=$(sed -n 's/^#define RCUFREE_VERSION_STRING "\(.*\)"$/\1/p' \
  "$work/prefix/include/rcufree/version.h")
libdir=$work/prefix/lib
soname=$(readelf -d "$libdir/librcufree.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
step "installed rcufree $version: $(cd "$libdir" && echo librcufree*) (SONAME $soname)"
case "$soname" in librcufree.so.[0-9]*) ;; *) echo "librcufree.so has no SONAME"; exit 1 ;; esac
test -f "$libdir/$soname"
test -f "$libdir/librcufree.a"

# needs BINARY LIB: the program's dynamic section lists LIB (needs_not: it does not).
needs() { readelf -d "$1" | grep "NEEDED.*\[$2\]" >/dev/null || { echo "  $1 does not need $2"; return 1; }; }
needs_not() {
  if readelf -d "$1" | grep "NEEDED.*\[$2" >/dev/null; then echo "  $1 needs $2"; return 1; fi
}
fully_static() {
  if readelf -d "$1" 2>/dev/null | grep NEEDED >/dev/null; then echo "  $1 is not static"; return 1; fi
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
    -DCMAKE_PREFIX_PATH="$work/prefix" -DRCUFREE_EXPECTED_VERSION="$version"
  quiet cmake --build "$work/package" -j"$jobs"
  "$work/package/consumer"
  "$work/package/consumer_c"
  "$work/package/consumer_static"
  needs "$work/package/consumer" "$soname"
  needs "$work/package/consumer_c" "$soname"
  needs_not "$work/package/consumer_static" librcufree
}

c_only_static() {
  quiet cmake -S "$here/c_only" -B "$work/c_only" "${fast[@]}" -DCMAKE_PREFIX_PATH="$work/prefix"
  quiet cmake --build "$work/c_only" -j"$jobs"
  "$work/c_only/consumer_c_static"
  needs_not "$work/c_only/consumer_c_static" librcufree
}

# pkg-config looks only in an empty directory: liburcu-memb.pc cannot be found.
not_found() {
  mkdir -p "$work/no-pc"
  PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" quiet cmake -S "$here/c_only" \
    -B "$work/not-found" -DCMAKE_PREFIX_PATH="$work/prefix" -DRCUFREE_EXPECT_NOT_FOUND=ON
  grep -h "not found, as expected" "$work/last.log" | sed 's/^/  /'
  # REQUIRED turns it into an error, with the same message.
  if PKG_CONFIG_LIBDIR="$work/no-pc" PKG_CONFIG_PATH="" cmake -S "$here/c_only" \
    -B "$work/not-found-required" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/required.log" 2>&1; then
    echo "  find_package(rcufree REQUIRED) succeeded without liburcu-memb"
    return 1
  fi
  grep -q "needs liburcu-memb" "$work/required.log" ||
    { tail -20 "$work/required.log"; echo "  the error does not name liburcu-memb"; return 1; }
}

by_pkg_config() {
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  [ "$(pkg-config --modversion rcufree)" = "$version" ] ||
    { echo "  rcufree.pc says version $(pkg-config --modversion rcufree), version.h $version"; return 1; }
  local flags
  flags=$(pkg-config --cflags --libs rcufree)
  echo "  pkg-config: $flags"
  local rpath=-Wl,-rpath,$(pkg-config --variable=libdir rcufree)
  quiet c++ -std=c++17 -DCONSUMER_CXX_STANDARD=201703L -O0 "$here/consumer/main.cpp" $flags \
    "$rpath" -o "$work/pc_consumer"
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
  fully_static "$work/pc_static_c"
}

by_subdirectory() {
  quiet cmake -S "$here/consumer" -B "$work/subdir" "${fast[@]}" -DRCUFREE_CONSUMER_MODE=subdir \
    -DRCUFREE_SOURCE_DIR="$src" -DBUILD_SHARED_LIBS=OFF
  quiet cmake --build "$work/subdir" -j"$jobs"
  if [ -n "$(find "$work/subdir" -name 'librcufree.so*')" ]; then
    echo "  BUILD_SHARED_LIBS=OFF built librcufree.so"
    return 1
  fi
  "$work/subdir/consumer"
  "$work/subdir/consumer_c"
  needs_not "$work/subdir/consumer" librcufree
  # rcufree is not the top-level project there: installing the consumer installs none of it.
  quiet cmake --install "$work/subdir" --prefix "$work/subdir-prefix"
  if [ -n "$(find "$work/subdir-prefix" -name '*rcufree*' 2>/dev/null)" ]; then
    echo "  installing an add_subdirectory() consumer installed rcufree too:"
    find "$work/subdir-prefix" -name '*rcufree*'
    return 1
  fi
  # BUILD_SHARED_LIBS=ON: the shared library alone (configured only; building is as in step 1).
  quiet cmake -S "$src" -B "$work/shared-only" -DBUILD_SHARED_LIBS=ON -DRCUFREE_BUILD_EXAMPLES=OFF
  quiet cmake --build "$work/shared-only" --target help
  grep -q '\.\.\. rcufree$' "$work/last.log" && ! grep -q 'rcufree_static' "$work/last.log" ||
    { echo "  BUILD_SHARED_LIBS=ON does not build the shared library alone"; return 1; }
}

# Relocation: `cmake --install --prefix` into a second prefix (not the configured one) must give
# a usable package both ways: the CMake package and rcufree.pc must point at where they now are.
# Staged for /usr (DESTDIR, as a distribution's build does), rcufree.pc says prefix=/usr, and
# pkg-config drops -I/usr/include and -L of the system library directory from its flags.
relocated() {
  quiet cmake --install "$work/lib" --prefix "$work/moved"
  local pc_prefix
  pc_prefix=$(PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config --variable=prefix rcufree)
  if [ "$(realpath -m "$pc_prefix")" != "$(realpath -m "$work/moved")" ]; then
    echo "  rcufree.pc installed with --prefix $work/moved says prefix=$pc_prefix"
    return 1
  fi
  quiet cmake -S "$here/consumer" -B "$work/moved-package" "${fast[@]}" \
    -DRCUFREE_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/moved" \
    -DRCUFREE_EXPECTED_VERSION="$version"
  quiet cmake --build "$work/moved-package" -j"$jobs" --target consumer
  "$work/moved-package/consumer"
  local flags
  flags=$(PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config --cflags --libs rcufree)
  quiet cc -O0 "$here/consumer/main.c" $flags -Wl,-rpath,"$work/moved/lib" \
    -o "$work/moved_pc_consumer_c"
  "$work/moved_pc_consumer_c"
  needs "$work/moved_pc_consumer_c" "$soname"

  local multiarch
  multiarch=$(cc -print-multiarch)
  quiet cmake -S "$src" -B "$work/lib" -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_INSTALL_LIBDIR="lib/$multiarch"
  DESTDIR="$work/stage" quiet cmake --install "$work/lib"
  local pc=$work/stage/usr/lib/$multiarch/pkgconfig
  grep -qx 'prefix=/usr' "$pc/rcufree.pc" ||
    { echo "  rcufree.pc staged for /usr says $(grep '^prefix=' "$pc/rcufree.pc")"; return 1; }
  # rcufree.pc's own flags: those liburcu-memb's do not account for (its multiarch include
  # directory, which pkg-config rightly keeps, is liburcu's).
  flags=$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs rcufree)
  local urcu own=""
  urcu=" $(pkg-config --cflags --libs liburcu-memb) "
  for f in $flags; do
    case "$urcu" in *" $f "*) ;; *) own="$own $f" ;; esac
  done
  echo "  pkg-config for a /usr install: $flags (rcufree.pc's own:$own)"
  [ "$own" = " -lrcufree" ] || { echo "  rcufree.pc adds more than -lrcufree for /usr"; return 1; }
}

# README.md's hash-map paragraph gives the command that builds examples/hash_map.c; run it as
# written, against this install, and run the program for a moment.
readme_hash_map() {
  local cmd
  cmd=$(sed -n 's/^cc hash_map\.c \(.*\)$/\1/p' "$src/README.md")
  [ -n "$cmd" ] || { echo "  README.md has no 'cc hash_map.c ...' line"; return 1; }
  echo "  README.md: cc hash_map.c $cmd"
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  cp "$src/examples/hash_map.c" "$work/hash_map.c"
  (cd "$work" && eval "quiet cc hash_map.c $cmd -Wl,-rpath,$work/prefix/lib")
  (cd "$work" && quiet ./hash_map --seconds 1)
}

way "1/8 find_package(rcufree) from a C++17 project" by_package
way "2/8 find_package(rcufree) from a C-only project, rcufree::rcufree_static" c_only_static
way "3/8 find_package(rcufree QUIET) without liburcu-memb's .pc: not found" not_found
way "4/8 pkg-config --cflags --libs rcufree" by_pkg_config
way "5/8 pkg-config --static --cflags --libs rcufree, cc -static" by_pkg_config_static
way "6/8 add_subdirectory() with BUILD_SHARED_LIBS=OFF; BUILD_SHARED_LIBS=ON configured" by_subdirectory
way "7/8 relocated install (cmake --install --prefix elsewhere), staged /usr install" relocated
way "8/8 README's command for examples/hash_map.c" readme_hash_map

if [ ${#failed[@]} -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
step "all consumer builds passed"
rm -rf "$work"
