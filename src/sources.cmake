# SPDX-License-Identifier: MIT
# The engine's source files (owned by src/; the top-level CMakeLists.txt builds them).
set(RCUFREE_SOURCES
  src/c_api.cpp
  src/c_config.cpp
  src/config.cpp
  src/debug_registry.cpp
  src/default_engine.cpp
  src/engine.cpp
  src/engine_move.cpp
  src/engine_threads.cpp
  src/fallback_list.cpp
  src/fork.cpp
  src/mightsleep.cpp
  src/page_arena.cpp
  src/misuse.cpp
  src/percpu.cpp
  src/pressure.cpp
  src/reclaimer.cpp
  src/restock.cpp
  src/rseq_section.cpp
  src/sleepable_check.cpp
  src/stats.cpp
  src/stats_sampler.cpp
  src/stop_point.cpp)
