#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command one: install what is missing, build, and run an example with live statistics.
#   scripts/run-example.sh [ARGS]             the reclaim loop (C++): --seconds 30 --readers 2 ...
#   scripts/run-example.sh --hash-map [ARGS]  liburcu's cds_lfht hash map (C API): --seconds N
#                                             --readers N --writers N --keys N
# Other arguments go to the example.
set -euo pipefail
cd "$(dirname "$0")/.."
example=reclaim_loop
if [ "${1:-}" = "--hash-map" ]; then
  example=hash_map
  shift
fi
bash scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRCUFREE_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target "$example" >/dev/null
exec "build/release/examples/$example" "$@"
