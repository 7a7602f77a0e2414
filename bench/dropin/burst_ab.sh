#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The 600k burst through two builds of the drop-in, interleaved with liburcu itself: each round
# runs three fresh processes in turn (liburcu as built; the preload of OLD_BUILD; the preload of
# NEW_BUILD), all on NEW_BUILD's program; prints every run's line with the engine's fallback
# count (RCUFREE_URCU_STATS=1) and the load average. For a before/after of an engine change:
# build the old commit in a worktree the same way (docs/PERFORMANCE.md).
#
#   burst_ab.sh OLD_BUILD NEW_BUILD [FLAVOR] [ROUNDS]     FLAVOR memb (default), mb, signal, qsbr, bp
set -euo pipefail
old=$1 new=$2 flavor=${3:-memb} rounds=${4:-7}
program=$new/bench/dropin/rcufree_callback_bench
[ "$flavor" != memb ] && program=${program}_$flavor
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for _ in $(seq "$rounds"); do
  echo "liburcu $("$program" burst 600000) load $(cut -d' ' -f1 /proc/loadavg)"
  for side in old new; do
    build=$old
    [ "$side" = new ] && build=$new
    out=$(RCUFREE_URCU_STATS=1 LD_PRELOAD="$build/src/dropin/librcufree-preload-$flavor.so" \
      "$program" burst 600000 2>"$err")
    echo "$side $out fallback $(sed -n "s/.*urcu-$flavor.*\"fallback_objects\":\([0-9]*\).*/\1/p" "$err")"
  done
done
