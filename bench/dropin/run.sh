#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The drop-in against liburcu's call_rcu, a fresh process per run, mechanisms interleaved in each
# round (liburcu = the program as built; rcufree = the same binary under LD_PRELOAD of
# librcufree-preload-<flavor>.so). Prints every run's line, then medians with min-max per row.
#
#   run.sh latency BUILD_DIR [ROUNDS] [FLAVOR]   lone call -> callback at 1 ms, 100 ms, 2 s gaps
#   run.sh burst BUILD_DIR [ROUNDS] [FLAVOR]     600k call_rcu from one thread after a quiet second
#   run.sh lfq BUILD_DIR [ROUNDS] [SECONDS] [FLAVOR]  lock-free queue: flat out, then 200k/s
#   run.sh lfht BUILD_DIR [ROUNDS] [SECONDS] [FLAVOR]  cds_lfht: 1 and 2 writers flat out, then
#                                                      1 writer at 200k/s
#   run.sh --smoke BUILD_DIR                     each program once per mechanism, tiny (ctest)
# ROUNDS defaults to 5; FLAVOR memb (default), mb, signal, qsbr or bp. Extra environment for the
# rcufree runs (e.g. RCUFREE_URCU_DRAIN_INTERVAL_MS=2) is passed by the caller's environment to
# both.
set -euo pipefail
mode=$1 build=$2
rounds=${3:-5}
dropin=$build/src/dropin
bench=$build/bench/dropin
run() {  # run MECH FLAVOR PROGRAM ARGS...: one fresh process; prints "MECH <program's line>"
  local mech=$1 flavor=$2
  shift 2
  local out err
  err=$(mktemp)
  if [ "$mech" = rcufree ]; then
    out=$(RCUFREE_URCU_STATS=1 LD_PRELOAD="$dropin/librcufree-preload-$flavor.so" "$@" 2>"$err")
  else
    out=$("$@" 2>"$err")
  fi || { cat "$err"; rm -f "$err"; echo "FAILED: $mech $*"; exit 1; }
  local stats
  stats=$(grep "^rcufree-urcu: urcu-$flavor: " "$err" || true)
  rm -f "$err"
  if [ -n "$stats" ]; then  # the rcufree engine's own account: queued and fallback objects
    out="$out queued $(echo "$stats" | sed -n 's/.*"queued":\([0-9]*\).*/\1/p')"
    out="$out fallback $(echo "$stats" | sed -n 's/.*"fallback_objects":\([0-9]*\).*/\1/p')"
  fi
  echo "$mech $out"
}
program_for() {  # program_for NAME FLAVOR: bench/dropin's NAME program built for FLAVOR
  if [ "$2" = memb ]; then echo "$bench/rcufree_$1_bench"; else echo "$bench/rcufree_$1_bench_$2"; fi
}
summary() {  # medians and ranges of every numeric field, per (mechanism, row key); ratios per round
  python3 -c '
import sys, statistics, collections
rows = collections.OrderedDict()
for line in sys.stdin:
    f = line.split()
    mech, kind = f[0], f[1]
    kv = dict(zip(f[2::2], f[3::2]))
    key = (kind, kv.get("gap_ms", kv.get("n", "")), mech)
    rows.setdefault(key, []).append(kv)
for (kind, sub, mech), runs in rows.items():
    parts = []
    for k in runs[0]:
        try: vals = [float(r[k]) for r in runs]
        except (KeyError, ValueError): continue
        if k in ("gap_ms", "n"): continue
        parts.append("%s %g [%g-%g]" % (k, statistics.median(vals), min(vals), max(vals)))
    print("%-6s %-8s %-8s runs %d: %s" % (kind, sub, mech, len(runs), ", ".join(parts)))
# Per round: rcufree / liburcu of each throughput and memory field (the k-th run of each pairs).
for (kind, sub, mech), runs in rows.items():
    base = rows.get((kind, sub, "liburcu"))
    if mech != "rcufree" or not base: continue
    parts = []
    for k in ("ops_per_s", "writes_s", "run_rss_kib", "peak_rss_kib"):
        r = [float(a[k]) / float(b[k]) for a, b in zip(runs, base) if k in a and k in b]
        if r: parts.append("%s %.2fx [%.2f-%.2f]" % (k, statistics.median(r), min(r), max(r)))
    if parts: print("%-6s %-8s rcufree / liburcu per round: %s" % (kind, sub, ", ".join(parts)))
'
}

case $mode in
  --smoke)
    for mech in liburcu rcufree; do
      run $mech memb "$bench/rcufree_callback_bench" lone 1 20
      run $mech qsbr "$bench/rcufree_callback_bench_qsbr" lone 1 20
      run $mech memb "$bench/rcufree_callback_bench" burst 20000
      run $mech memb "$bench/rcufree_lfq_bench" 0.3 1
      run $mech memb "$bench/rcufree_lfq_bench" 0.3 1 50000
      run $mech qsbr "$bench/rcufree_lfht_bench_qsbr" 0.3 1
      run $mech signal "$bench/rcufree_lfht_bench_signal" 0.3 1 50000
    done
    ;;
  latency)
    flavor=${4:-memb}
    program=$(program_for callback "$flavor")
    for r in $(seq "$rounds"); do
      for gap in "1 2000" "100 40" "2000 6"; do
        for mech in liburcu rcufree; do
          # shellcheck disable=SC2086
          run $mech "$flavor" "$program" lone $gap
        done
      done
    done | tee /dev/stderr | summary
    ;;
  burst)
    flavor=${4:-memb}
    program=$(program_for callback "$flavor")
    for r in $(seq "$rounds"); do
      for mech in liburcu rcufree; do run $mech "$flavor" "$program" burst 600000; done
    done | tee /dev/stderr | summary
    ;;
  lfq)
    seconds=${4:-3}
    flavor=${5:-memb}
    program=$(program_for lfq "$flavor")
    for r in $(seq "$rounds"); do
      for mech in liburcu rcufree; do
        run $mech "$flavor" "$program" "$seconds" 1 | sed 's/ lfq / lfq-max /'
        run $mech "$flavor" "$program" "$seconds" 1 200000 | sed 's/ lfq / lfq-200k /'
      done
    done | tee /dev/stderr | summary
    ;;
  lfht)
    seconds=${4:-2}
    flavor=${5:-memb}
    program=$(program_for lfht "$flavor")
    for r in $(seq "$rounds"); do
      for mech in liburcu rcufree; do
        run $mech "$flavor" "$program" "$seconds" 1 | sed 's/ lfht / lfht-w1 /'
        run $mech "$flavor" "$program" "$seconds" 2 | sed 's/ lfht / lfht-w2 /'
        run $mech "$flavor" "$program" "$seconds" 1 200000 | sed 's/ lfht / lfht-200k /'
      done
    done | tee /dev/stderr | summary
    ;;
  *)
    echo "usage: run.sh latency|burst|lfq|lfht|--smoke BUILD_DIR [ROUNDS]" >&2
    exit 2
    ;;
esac
