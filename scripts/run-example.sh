#!/usr/bin/env bash
# README command one: install what is missing, build, and run the example reclaim loop with live
# statistics. Extra arguments go to the example (e.g. --seconds 30 --readers 2 --updaters 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRCUFREE_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target reclaim_loop >/dev/null
exec build/release/examples/reclaim_loop "$@"
