#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# liburcu's own test suite with its call_rcu family routed to rcufree by the preload libraries
# (docs/switching-from-call_rcu.md, "liburcu's own tests"). Not part of scripts/test.sh: it needs
# liburcu's source, which Debian gives with deb-src lines in the apt sources:
#
#   apt-get source --download-only liburcu && tar xjf liburcu_*.orig.tar.bz2
#   bash scripts/liburcu-suite.sh userspace-rcu-0.13.2 build/bench
#
# LIBURCU_SRC: the unpacked source (the version of the installed liburcu-dev: the same sonames).
# RCUFREE_BUILD: a build tree of this repository with the drop-in (src/dropin/librcufree-preload-
# <flavor>.so), e.g. scripts/bench.sh's build/bench.
# Builds liburcu and its tests in place, then runs `make check` (unit tests) and `make regtest`
# (rcutorture on every flavor and call_rcu_data setup, the fork test, the queue, stack and
# hash-table benchmarks for 1 s each) with all five preload libraries loaded in every process the
# suite starts, so that each test's flavor reaches its rcufree engine. Exit status: make's.
set -euo pipefail
src=$(cd "$1" && pwd)
dropin=$(cd "$2/src/dropin" && pwd)
preload=""
for flavor in memb mb signal qsbr bp; do
  lib=$dropin/librcufree-preload-$flavor.so
  [ -f "$lib" ] || { echo "liburcu-suite: $lib is missing; build $2 first" >&2; exit 2; }
  preload=${preload:+$preload:}$lib
done
cd "$src"
[ -f Makefile ] || ./configure -q
make -s -j"$(nproc)"
make -s -j"$(nproc)" -C tests
# No RCUFREE_URCU_STATS here: with it, every process the suite starts (its shells and awk carry the
# preload too) prints statistics at exit, and the suite's TAP driver stopped on the first test
# with "internal error getting exit status".
LD_PRELOAD=$preload make -s check
LD_PRELOAD=$preload make -s regtest
