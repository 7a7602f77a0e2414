#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# report.sh DIR — per-object cache misses from the cachegrind runs scripts/bench.sh leaves in DIR:
#   cg.walk.{array,list}.{free,nofree}  (rcufree_walk, 1,000,000 objects, cold)
#   cg.engine.{array,default}           (rcufree_harness --child, 1,000,000 objects)
# Traversal = the walk function's own misses (nofree run). Walk phase with free = everything the
# free run missed beyond the nofree run's setup (its total minus its walk).
set -euo pipefail
dir=$1
n=1000000

# fn_misses FILE PATTERN -> "D1mr DLmr" of the functions matching PATTERN (self counts, summed)
fn_misses() {
  cg_annotate --show=D1mr,DLmr "$1" 2>/dev/null | awk -v pat="$2" '
    $0 ~ pat { line = $0; gsub(/\([^)]*\)/, "", line); gsub(/,/, "", line); split(line, f, " ");
               d1 += f[1]; ll += f[2] }
    END { printf "%d %d\n", d1, ll }'
}

per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

echo "Cold walk over $n objects of 64 B (misses per object; D1 = first level, LL = last level)"
printf '%-6s %-22s %-22s %-22s\n' walk "traversal D1 / LL" "walk+free D1 / LL" "free's share D1 / LL"
for m in array list; do
  fn=walk_$m
  read -r td1 tll < <(fn_misses "$dir/cg.walk.$m.nofree" "$fn")
  read -r nd1 nll < <(fn_misses "$dir/cg.walk.$m.nofree" "PROGRAM TOTALS")
  read -r fd1 fll < <(fn_misses "$dir/cg.walk.$m.free" "PROGRAM TOTALS")
  wd1=$((fd1 - (nd1 - td1)))
  wll=$((fll - (nll - tll)))
  printf '%-6s %-22s %-22s %-22s\n' "$m" "$(per "$td1" $n) / $(per "$tll" $n)" \
    "$(per "$wd1" $n) / $(per "$wll" $n)" "$(per $((wd1 - td1)) $n) / $(per $((wll - tll)) $n)"
done
read -r ad1 _ < <(fn_misses "$dir/cg.walk.array.nofree" walk_array)
read -r ld1 _ < <(fn_misses "$dir/cg.walk.list.nofree" walk_list)
echo "traversal D1 misses, array / list: $(per "$ad1" "$ld1") (target <= 0.125)"

echo
echo "Real engine, $n objects, 1 thread (self misses of the reclaim loops, per object they freed)"
for run in array default; do
  fallbacks=$(grep -o 'fallbacks=[0-9]*' "$dir/cg.engine.$run.out" | cut -d= -f2)
  arrays=$((n - fallbacks))
  read -r bd1 bll < <(fn_misses "$dir/cg.engine.$run" 'free_batch')
  read -r cd1 cll < <(fn_misses "$dir/cg.engine.$run" 'free_chain')
  echo "engine.$run: $arrays objects in arrays, $fallbacks in the fallback list"
  echo "  array walk (free_batch): D1 $(per "$bd1" "$arrays") / LL $(per "$bll" "$arrays") per object"
  [ "$fallbacks" -gt 0 ] &&
    echo "  list walk (free_chain):  D1 $(per "$cd1" "$fallbacks") / LL $(per "$cll" "$fallbacks") per object"
done
