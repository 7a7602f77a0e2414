#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions of every two-argument call, page switch included, counted by callgrind (issue 21).
#
#   bash bench/micro/page_switch_callgrind.sh [path/to/rcufree_page_switch]
#
# Runs rcufree_page_switch --callgrind under callgrind three ways: warm (the C API on the default
# engine), cold (every cache level evicted before the open and switch calls: --cold) and fallback
# (an engine without pooled pages, --cached 0: every call pushes the object's own head). Each call
# of the measured run is collected alone and dumped with its index and class; per class this
# prints the calls' instructions (Ir: min / median / max) and the simulated misses of the worst
# one (callgrind's cache model: one cache for all threads, no coherence misses), then the worst
# call's instructions by function. Exit status 1 if any call exceeds LIMIT instructions (default
# 200): ctest runs it as page_switch_instructions (bench/CMakeLists.txt); 77 (a skip) if valgrind
# is missing; 2 if the program is missing or fails.
# Note: valgrind does not support rseq, so the engine takes its slot flag with an exchange here
# (the path of RCUFREE_NO_RSEQ=1 and ThreadSanitizer builds); natively the append is a restartable
# sequence. The instruction counts are those of that path.
set -euo pipefail
bin=${1:-build/bench/bench/rcufree_page_switch}
limit=${LIMIT:-200}
command -v valgrind >/dev/null || { echo "valgrind is not installed: skipped" >&2; exit 77; }
[ -x "$bin" ] || { echo "no $bin: build with -DRCUFREE_BUILD_BENCH=ON" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
# A switch counts only if it closed a block: the engine's reclaim thread may drain a block that
# sits open past drain_interval, which a loaded machine (each dumped call takes milliseconds under
# valgrind) makes likely, and the next call then only opens a page. So a run in which no call
# labelled "switch" cost more than the open is run again (three tries): the warm run must measure
# a real switch (else status 1). The cold run, whose evictions take seconds, only says so: its
# blocks are drained more often than not.
for variant in "warm:must:--api c" "cold:note:--api c --cold" "fallback:none:--api cpp --cached 0"; do
  name=${variant%%:*}
  rest=${variant#*:}
  need=${rest%%:*}
  args=${rest#*:}
  for attempt in 1 2 3; do
    rm -f "$out/$name" "$out/$name".* "$out/$name"-*
    # --separate-threads: each dump's file per thread; the calls run on the main thread (-01), so
    # an engine thread that valgrind schedules inside a call is never counted in it.
    # shellcheck disable=SC2086 # args is a list of options
    valgrind --tool=callgrind --collect-atstart=no --separate-threads=yes --cache-sim=yes \
      --dump-instr=no \
      --callgrind-out-file="$out/$name" "$bin" --callgrind $args >"$out/$name.log" 2>&1 ||
      { cat "$out/$name.log" >&2; exit 2; }
    echo "== $name: rcufree_page_switch --callgrind $args (try $attempt)"
    rc=0
    python3 - "$out" "$name" "$limit" "$need" <<'EOF' || rc=$?
import glob, re, statistics, sys
out, name, limit, need = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
calls = []  # (index, class, events dict, file)
for f in glob.glob(f"{out}/{name}.*-01"):
    if f.endswith(".log"):
        continue
    desc = events = summary = None
    with open(f) as fh:
        for line in fh:
            if line.startswith("desc: Trigger: Client Request: call "):
                desc = line.split("Request: call ", 1)[1].split()
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                summary = [int(x) for x in line.split()[1:]]
    if desc and events and summary:
        ev = dict(zip(events, summary + [0] * (len(events) - len(summary))))
        calls.append((int(desc[0]), desc[1], ev, f))
empty = [c for c in calls if c[1] == "empty"]
base = empty[0][2]["Ir"] if empty else 0
calls = [(i, c, {k: v - (base if k == "Ir" else 0) for k, v in ev.items()}, f)
         for i, c, ev, f in calls if c != "empty"]
if not calls:
    sys.exit("no per-call dumps found")
print(f"(the collection brackets alone: {base} instructions, subtracted below)")
worst_all = max(calls, key=lambda c: c[2]["Ir"])
for cls in ("open", "append", "switch"):
    cs = [c for c in calls if c[1] == cls]
    if not cs:
        continue
    irs = sorted(c[2]["Ir"] for c in cs)
    w = max(cs, key=lambda c: c[2]["Ir"])
    miss = ", ".join(f"{k} {w[2].get(k, 0)}" for k in ("Dr", "Dw", "D1mr", "D1mw", "DLmr", "DLmw", "I1mr", "ILmr"))
    print(f"{cls:7s} n={len(cs):4d} Ir min {irs[0]} median {statistics.median(irs):.0f} max {irs[-1]} "
          f"(call {w[0]}); worst call: {miss}")
print(f"worst call: {worst_all[0]} ({worst_all[1]}), {worst_all[2]['Ir']} instructions "
      f"(limit {limit}): {'OVER' if worst_all[2]['Ir'] > limit else 'within'}")
print(f"WORST_FILE {worst_all[3]}")
if worst_all[2]["Ir"] > limit:
    sys.exit(1)
opened = max((c[2]["Ir"] for c in calls if c[1] == "open"), default=0)
if need != "none" and not any(c[2]["Ir"] > opened for c in calls if c[1] == "switch"):
    print("no real page switch measured: every full block was drained before it filled")
    sys.exit(3 if need == "must" else 0)
EOF
    if [ "$rc" -ne 3 ]; then break; fi
  done
  if [ "$rc" -eq 3 ] && [ "$need" = must ]; then
    echo "FAIL: the warm page switch was never measured"
    status=1
  elif [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    status=1
  fi
  worst=$(python3 - "$out" "$name" <<'EOF'
import glob, sys
best = (0, "")
for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}.*-01"):
    if f.endswith(".log"):
        continue
    for line in open(f):
        if line.startswith("summary:") or line.startswith("totals:"):
            ir = int(line.split()[1])
            if ir > best[0]:
                best = (ir, f)
print(best[1])
EOF
)
  echo "-- the worst call's instructions by function (self, then inclusive):"
  { callgrind_annotate --threshold=100 "$worst" 2>/dev/null | sed -n '/^Ir/,$p' | grep -v '^$' |
    head -25; } || true
  { callgrind_annotate --inclusive=yes --threshold=100 "$worst" 2>/dev/null | sed -n '/^Ir/,$p' |
    grep -v '^$' | head -25; } || true
done
exit $status
