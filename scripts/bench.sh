#!/usr/bin/env bash
# One command for the benchmarks of issue 4 (docs/PERFORMANCE.md):
#   1. Release build with -DRCUFREE_BUILD_BENCH=ON into build/bench
#   2. the end-to-end harness: rcufree and every peer, 1 and 2 threads, ROUNDS interleaved rounds,
#      throughput + latency modes, then the flood timelines (CSV)
#   3. the Google Benchmark micro-benchmarks
#   4. cachegrind: array walk vs list walk (synthetic, cold) and the real engine's reclaim
#   5. the timeline chart, docs/img/flood_timeline.png
# Everything lands in build/bench/results/. Options: --quick (1 round, 200,000 objects, no
# cachegrind), --no-cachegrind. Environment: ROUNDS (default 7), OBJECTS (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
cachegrind=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1; cachegrind=0 ;;
    --no-cachegrind) cachegrind=0 ;;
    *) echo "usage: $0 [--quick] [--no-cachegrind]" >&2; exit 2 ;;
  esac
done
rounds=${ROUNDS:-7}
objects=${OBJECTS:-1000000}
[ "$quick" -eq 1 ] && rounds=1 && objects=200000

bash scripts/setup.sh
build=build/bench
out=$build/results
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRCUFREE_BUILD_BENCH=ON -DRCUFREE_WERROR=ON \
  -DRCUFREE_BUILD_TESTS=OFF -DRCUFREE_BUILD_EXAMPLES=OFF -DRCUFREE_DEBUG=OFF -DRCUFREE_SANITIZE= >/dev/null
cmake --build "$build" -j"$(nproc)" --target rcufree_harness rcufree_micro rcufree_walk
mkdir -p "$out"
bin=$build/bench

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet -- src include || echo ' (+ uncommitted changes in src/include)')"
  echo "kernel: $(uname -r); cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/env.txt"

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
  cg engine.array "$bin/rcufree_harness" --child rcufree_cfg --cfg-cached 2048 --cfg-tick-us 100 \
    --objects 1000000 --tsc-hz 2.6e9
  cg engine.default "$bin/rcufree_harness" --child rcufree --objects 1000000 --tsc-hz 2.6e9
  bash bench/cachegrind/report.sh "$out" | tee "$out/cachegrind.txt"
fi

echo "== timeline chart"
gnuplot -e "dir='$out'; out='docs/img/flood_timeline.png'" bench/plot/flood_timeline.gp
cp docs/img/flood_timeline.png "$out/"
echo "results in $out (summary.md, raw.txt, micro.txt, cachegrind.txt, timeline_*.csv)"
