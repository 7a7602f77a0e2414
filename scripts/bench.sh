#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One command for the benchmarks of issue 4 (docs/PERFORMANCE.md):
#   1. Release build with -DRCUFREE_BUILD_BENCH=ON into build/bench
#   2. the end-to-end harness: rcufree (default, rcufree_ms, rcufree_local) and every peer, 1 and 2
#      threads, ROUNDS interleaved rounds, throughput + latency modes, then the flood timelines (CSV)
#   3. the Google Benchmark micro-benchmarks
#   4. cachegrind: array walk vs list walk (synthetic, cold) and the real engine's reclaim
#   5. the timeline chart, docs/img/flood_timeline.png
# Everything lands in build/bench/results/. Options: --quick (1 round, 200,000 objects, no
# cachegrind), --no-cachegrind. Environment: ROUNDS (default 7), OBJECTS (default 1000000).
#
# --issue9 runs what issue 9's "Done when" asks instead (results in build/bench/results/issue9/):
#   1. the flood, 1 and 2 producers: inline free, rcufree through the C API (rcufree_c, the seeds'
#      test), rcufree in both reclaim modes (when the engine has config::reclaim_threads; else the
#      default engine config), call_rcu, ck_epoch; throughput and latency children, ROUNDS (7)
#   2. the cds_lfht client, 1 and 2 writers, 1 reader: rcufree vs call_rcu (LFHT_SECONDS, 2 s)
#   3. the idle engine's wakeups: 1 s after the last object, over 5 s (IDLE_ROUNDS, 3)
#   4. the allocator matrix: the flood under glibc, jemalloc, mimalloc and tcmalloc (LD_PRELOAD)
#   5. same-core vs other-core reclaim through the engine: one producer pinned to CPU 0, the
#      single reclaim thread pinned to CPU 0 or CPU 1 (and per-CPU reclaim), glibc/jemalloc/mimalloc
# --issue9 --quick: 1 round of each, small sizes (a check, not a result).
#
# --issue21 runs what issue 21's phase 1 measured (results in build/bench/results/issue21/; the
# build is RelWithDebInfo there, as in docs/PERFORMANCE.md, unless BUILD_TYPE says otherwise):
#   1. the yardstick: inline free, rcufree_c, rcufree_local, call_rcu, ck_epoch, 1 and 2 producers,
#      ROUNDS (21) interleaved rounds, throughput only: cost over the floor and ratio to ck_epoch
#   2. the two-harness factors: registration, placement (call_rcu's worker on the producer's CPU or
#      the other one), linkage (rcufree_harness_static), the peak sampler, objects per thread,
#      each alternated with the default setup (ALT, 9, invocations of one round each)
#   3. call latency (timer included) and malloc timing, 5 rounds
#   4. where the cost goes: the flood under glibc, nofree (free() does nothing), jemalloc and
#      mimalloc, and the opt-in real-time reclaim (a small backlog), 7 and 9 rounds
#   5. the page switch alone: fenced TSC per call class, warm, L2 evicted, all evicted; and the
#      callgrind count of every call (bench/micro/page_switch_callgrind.sh; LIMIT=200)
#
# --tuning runs the config experiments of docs/TUNING.md instead (results in
# build/bench/results/tuning/): the flood under each config override, rcufree_local's reclaim
# period, and the trickle (drain interval, worker tick, idle wakeups). ROUNDS defaults to 5 there
# (3 for the trickles, which take seconds each).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
cachegrind=1
tuning=0
issue9=0
issue21=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1; cachegrind=0 ;;
    --no-cachegrind) cachegrind=0 ;;
    --tuning) tuning=1 ;;
    --issue9) issue9=1 ;;
    --issue21) issue21=1 ;;
    *) echo "usage: $0 [--quick] [--no-cachegrind] [--tuning | --issue9 | --issue21]" >&2; exit 2 ;;
  esac
done
rounds=${ROUNDS:-7}
objects=${OBJECTS:-1000000}
[ "$quick" -eq 1 ] && rounds=1 && objects=200000

# With the allocators the harness preloads (--alloc).
bash scripts/setup.sh libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
build=build/bench
out=$build/results
build_type=${BUILD_TYPE:-Release}
[ "$issue21" -eq 1 ] && build_type=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="$build_type" -DRCUFREE_BUILD_BENCH=ON -DRCUFREE_WERROR=ON \
  -DRCUFREE_BUILD_TESTS=OFF -DRCUFREE_BUILD_EXAMPLES=OFF -DRCUFREE_DEBUG=OFF -DRCUFREE_SANITIZE= >/dev/null
cmake --build "$build" -j"$(nproc)" --target rcufree_harness rcufree_micro rcufree_walk rcufree_lfht \
  rcufree_harness_static rcufree_page_switch nofree_alloc
mkdir -p "$out"
bin=$build/bench

env_txt() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet -- src include || echo ' (+ uncommitted changes in src/include)')"
  echo "kernel: $(uname -r); cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "$issue9" -eq 1 ]; then
  d=$out/issue9
  mkdir -p "$d"
  env_txt >"$d/env.txt"
  h=$bin/rcufree_harness
  lfht_seconds=${LFHT_SECONDS:-2}
  idle_rounds=${IDLE_ROUNDS:-3}
  settle_ms=1000
  idle_ms=5000
  [ "$quick" -eq 1 ] && lfht_seconds=0.5 && idle_rounds=1 && idle_ms=1000
  m=rcufree@reclaim=per_cpu,rcufree@reclaim=single
  single=rcufree@reclaim=single
  echo "reclaim variants: $m" >>"$d/env.txt"
  echo "== issue9 1/5: flood, $rounds rounds x $objects objects, 1 and 2 producers"
  "$h" --threads 1,2 --objects "$objects" --rounds "$rounds" --out "$d/flood" \
    --mechs "floor,rcufree_c,$m,call_rcu,ck_epoch" | tee "$d/flood.txt"
  echo "== issue9 2/5: cds_lfht client, 1 and 2 writers + 1 reader, ${lfht_seconds} s per run"
  "$bin/rcufree_lfht" --writers 1,2 --readers 1 --seconds "$lfht_seconds" --rounds "$rounds" \
    --mechs "rcufree_c,$m,call_rcu" --out "$d/lfht" | tee "$d/lfht.txt"
  echo "== issue9 3/5: idle wakeups (${settle_ms} ms after the last object, over ${idle_ms} ms)"
  "$h" --idle --objects 100000 --settle-ms "$settle_ms" --idle-ms "$idle_ms" \
    --rounds "$idle_rounds" --mechs "rcufree_c,$m,call_rcu" --out "$d/idle" | tee "$d/idle.txt"
  echo "== issue9 4/5: allocator matrix (LD_PRELOAD), throughput only"
  "$h" --threads 1,2 --objects "$objects" --rounds "$rounds" --no-latency \
    --alloc glibc,jemalloc,mimalloc,tcmalloc --out "$d/alloc" \
    --mechs "floor,rcufree_c,$m,call_rcu,ck_epoch" | tee "$d/alloc.txt"
  echo "== issue9 5/5: same-core vs other-core reclaim through the engine (producer on CPU 0)"
  pinned="floor@pcpu=0,$single+pcpu=0+wcpu=0,$single+pcpu=0+wcpu=1,call_rcu@pcpu=0+wcpu=0"
  pinned="$pinned,call_rcu@pcpu=0+wcpu=1,rcufree@reclaim=per_cpu+pcpu=0"
  "$h" --threads 1 --objects "$objects" --rounds "$rounds" --no-latency \
    --alloc glibc,jemalloc,mimalloc --out "$d/who_frees" --mechs "$pinned" | tee "$d/who_frees.txt"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$d/env.txt"
  echo "results in $d (flood.txt, lfht.txt, idle.txt, alloc.txt, who_frees.txt; raw records beside)"
  exit 0
fi

if [ "$issue21" -eq 1 ]; then
  d=$out/issue21
  rm -rf "$d"  # the alternations are collected by directory name: no leftovers from a past run
  mkdir -p "$d"
  env_txt >"$d/env.txt"
  h=$bin/rcufree_harness
  yrounds=${ROUNDS:-21}
  alt=${ALT:-9}
  [ "$quick" -eq 1 ] && yrounds=1 && alt=1
  m=floor,call_rcu,rcufree_c,ck_epoch
  echo "== issue21 1/5: the yardstick, $yrounds rounds x $objects objects, 1 and 2 producers"
  "$h" --threads 1,2 --objects "$objects" --rounds "$yrounds" --no-latency --out "$d/yard" \
    --mechs floor,rcufree_c,rcufree_local,call_rcu,ck_epoch | tee "$d/yard.txt"
  echo "== issue21 2/5: the two-harness factors"
  "$h" --threads 1,2 --objects "$objects" --rounds "$alt" --no-latency --out "$d/r1" \
    --mechs floor,call_rcu,call_rcu@reg=0,call_rcu@pcpu=0+wcpu=0,call_rcu@pcpu=0+wcpu=1,rcufree_c,rcufree_c@pcpu=0,ck_epoch \
    | tee "$d/r1.txt"
  for i in $(seq "$alt"); do
    "$h" --threads 1,2 --objects "$objects" --rounds 1 --no-latency --mechs "$m" --out "$d/shared.$i" >/dev/null
    "$bin/rcufree_harness_static" --threads 1,2 --objects "$objects" --rounds 1 --no-latency \
      --mechs "$m" --out "$d/static.$i" >/dev/null
    "$h" --threads 1,2 --objects "$objects" --rounds 1 --no-latency --mechs "$m" --peak-sample-us 0 \
      --out "$d/nosampler.$i" >/dev/null
    "$h" --threads 2 --objects "$objects" --rounds 1 --no-latency --mechs "$m" --per-thread \
      --out "$d/perthread.$i" >/dev/null
  done
  list() { find "$d" -maxdepth 1 -name "$1.*" -type d | sort | paste -sd, -; }
  python3 bench/harness/aggregate.py "shared=$(list shared)" "static=$(list static)" \
    "nosampler=$(list nosampler)" "perthread=$(list perthread)" | tee "$d/factors.md"
  echo "== issue21 3/5: call latency (timer included), then malloc timing"
  "$h" --threads 1,2 --objects "$objects" --rounds 5 --mechs "$m" --out "$d/lat" | tee "$d/lat.txt"
  "$h" --threads 1,2 --objects "$objects" --rounds 5 --time-make \
    --mechs floor,rcufree_c,rcufree_local,ck_epoch --out "$d/make" | tee "$d/make.txt"
  echo "== issue21 4/5: where the cost goes (allocators, no free at all, a small backlog)"
  "$h" --threads 1,2 --objects "$objects" --rounds 7 --no-latency \
    --alloc glibc,nofree,jemalloc,mimalloc --mechs floor,rcufree_c,rcufree_local,call_rcu,ck_epoch \
    --out "$d/alloc" | tee "$d/alloc.txt"
  "$h" --threads 1,2 --objects "$objects" --rounds 9 --no-latency \
    --mechs floor,rcufree,rcufree@rt=1,rcufree_local,ck_epoch --out "$d/rt" | tee "$d/rt.txt"
  echo "== issue21 5/5: the page switch alone"
  for e in 0 4 96; do
    "$bin/rcufree_page_switch" --runs "$([ "$e" -eq 96 ] && echo 40 || echo 300)" --evict-mib "$e" |
      tee -a "$d/page_switch.txt"
  done
  RCUFREE_NO_RSEQ=1 "$bin/rcufree_page_switch" --runs 300 | tee -a "$d/page_switch.txt"
  LIMIT=${LIMIT:-200} bash bench/micro/page_switch_callgrind.sh "$bin/rcufree_page_switch" |
    tee "$d/callgrind.txt" || true
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$d/env.txt"
  echo "results in $d"
  exit 0
fi

if [ "$tuning" -eq 1 ]; then
  t=$out/tuning
  mkdir -p "$t"
  env_txt >"$t/env.txt"
  rounds=${ROUNDS:-5}
  frounds=${ROUNDS:-9}  # the config floods differ by less than this machine's noise: more rounds
  [ "$quick" -eq 1 ] && rounds=1 && frounds=1
  echo "== tuning 1/4: the flood under config overrides ($frounds rounds x $objects objects)"
  "$bin/rcufree_harness" --threads 1,2 --objects "$objects" --rounds "$frounds" --out "$t/flood" \
    --mechs floor,rcufree,rcufree@cached=0,rcufree@cached=1,rcufree@cached=32,rcufree@drain_ms=1,rcufree@drain_ms=1000,rcufree@tick_us=100,rcufree@soft_cap_kib=1024,rcufree@soft_cap_kib=65536,rcufree@page_size=16384,rcufree@shrink=1,rcufree@shrink=1+backoff_ms=0,rcufree_ms,rcufree_ms@sleepable=0 \
    | tee "$t/flood.txt"
  echo "== tuning 2/4: rcufree_local's reclaim period"
  "$bin/rcufree_harness" --threads 1,2 --objects "$objects" --rounds "$rounds" --out "$t/local" \
    --mechs floor,rcufree,rcufree_local@every=256,rcufree_local@every=1024,rcufree_local,rcufree_local@every=16384,rcufree_local@every=65536,rcufree_local@cached=32,rcufree_local@cached=2048,ck_epoch,array512 \
    | tee "$t/local.txt"
  trickle_mechs=rcufree,rcufree@drain_ms=1,rcufree@drain_ms=5,rcufree@drain_ms=100,rcufree@drain_ms=1000,rcufree@tick_us=100,rcufree@tick_us=5000,rcufree@cached=0,rcufree@cached=1,rcufree@psi=1,rcufree@shrink=1,rcufree@shrink=1+backoff_ms=0
  trounds=${ROUNDS:-3}
  [ "$quick" -eq 1 ] && trounds=1
  echo "== tuning 3/4: steady trickle, one object per ms (idle_cv: a bare 8 ms timed wait, idle only)"
  "$bin/rcufree_harness" --trickle --rounds "$trounds" --trickle-us 1000 --trickle-objects 1000 \
    --idle-ms 1000 --mechs "idle_cv,$trickle_mechs" --out "$t/trickle_steady" | tee "$t/trickle_steady.txt"
  echo "== tuning 4/4: lone objects, one every 250 ms"
  "$bin/rcufree_harness" --trickle --rounds "$trounds" --trickle-us 250000 --trickle-objects 12 \
    --idle-ms 200 --mechs "$trickle_mechs" --out "$t/trickle_lone" | tee "$t/trickle_lone.txt"
  echo "results in $t"
  exit 0
fi

env_txt >"$out/env.txt"

echo "== harness: $rounds rounds x $objects objects, 1 and 2 threads"
"$bin/rcufree_harness" --threads 1,2 --objects "$objects" --rounds "$rounds" --timeline \
  --out "$out" | tee "$out/harness.txt"

echo "== micro-benchmarks"
"$bin/rcufree_micro" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json | tee "$out/micro.txt"

if [ "$cachegrind" -eq 1 ]; then
  echo "== cachegrind (D1 32 KiB 8-way, LL 8 MiB 16-way, 64-byte lines)"
  cg() {  # cg NAME command...
    local name=$1
    shift
    valgrind --tool=cachegrind --cache-sim=yes --D1=32768,8,64 --LL=8388608,16,64 \
      --cachegrind-out-file="$out/cg.$name" "$@" >"$out/cg.$name.out" 2>"$out/cg.$name.log"
  }
  for m in array list; do
    for f in free nofree; do cg "walk.$m.$f" "$bin/rcufree_walk" "$m" 1000000 "$f"; done
  done
  # The real engine, 1,000,000 objects: all in arrays (big cache, fast tick) vs the default
  # config, whose flood mostly takes the fallback list.
  cg engine.array "$bin/rcufree_harness" --child 'rcufree@cached=2048+tick_us=100' \
    --objects 1000000 --tsc-hz 2.6e9 --peak-sample-us 0
  cg engine.default "$bin/rcufree_harness" --child rcufree --objects 1000000 --tsc-hz 2.6e9 --peak-sample-us 0
  bash bench/cachegrind/report.sh "$out" | tee "$out/cachegrind.txt"
fi

echo "== timeline chart"
gnuplot -e "dir='$out'; out='docs/img/flood_timeline.png'" bench/plot/flood_timeline.gp
cp docs/img/flood_timeline.png "$out/"
echo "results in $out (summary.md, raw.txt, micro.txt, cachegrind.txt, timeline_*.csv)"
