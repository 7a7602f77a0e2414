#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_program.sh MODE FLAVOR PROGRAM [PRELOAD]: runs test/dropin/urcu_program and checks which
# call_rcu served it, from what librcufree-urcu says at exit (RCUFREE_URCU_STATS=1).
#   MODE liburcu   the program as built, no rcufree: no engine may speak at exit
#   MODE include   built with <rcufree/urcu.h>: the flavor's engine queued every retired element
#   MODE preload   the plain build under LD_PRELOAD=PRELOAD (a list, ':'-separated, as ld.so
#                  takes it): the same
# Fails when the program fails (a stale read, freed != retired), or when the statistics disagree.
set -euo pipefail
mode=$1 flavor=$2 program=$3 preload=${4:-}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
if [ "$mode" = preload ]; then
  RCUFREE_URCU_STATS=1 LD_PRELOAD="$preload" "$program" 1 2 2 >"$out" 2>"$err" ||
    { cat "$out" "$err"; echo "the program failed"; exit 1; }
else
  RCUFREE_URCU_STATS=1 "$program" 1 2 2 >"$out" 2>"$err" ||
    { cat "$out" "$err"; echo "the program failed"; exit 1; }
fi
cat "$out"
retired=$(sed -n 's/^retired \([0-9]*\) .*/\1/p' "$out")
line=$(grep "^rcufree-urcu: urcu-$flavor: " "$err" || true)
if [ "$mode" = liburcu ]; then
  [ -z "$line" ] || { echo "an rcufree engine spoke in a plain liburcu run: $line"; exit 1; }
  echo "liburcu's call_rcu served $retired callbacks"
  exit 0
fi
[ -n "$line" ] || { cat "$err"; echo "no urcu-$flavor engine statistics: rcufree was not used"; exit 1; }
queued=$(echo "$line" | sed -n 's/.*"queued":\([0-9]*\).*/\1/p')
freed=$(echo "$line" | sed -n 's/.*"freed":\([0-9]*\).*/\1/p')
echo "rcufree urcu-$flavor engine: queued $queued freed $freed (program retired $retired)"
[ "$queued" = "$retired" ] && [ "$freed" = "$retired" ] ||
  { echo "the engine did not queue and free exactly the retired elements"; exit 1; }
