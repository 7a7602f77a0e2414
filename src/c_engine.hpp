// SPDX-License-Identifier: MIT
// c_engine.hpp — the C API's engine handle (struct rcufree_engine), shared by c_api.cpp (the
// calls) and c_config.cpp (rcufree_engine_new, which builds it from a struct rcufree_config).
//
// A handle outlives its engine. rcufree_engine_destroy stops and frees the engine but keeps the
// handle, its `core` null, as a tombstone for the rest of the process (on a list, so that leak
// checkers see it reachable). Every call loads `core` to reach the engine anyway; the null check
// beside that load makes a second destroy, or any call after destroy, a report naming the C call
// in every build, instead of a read of freed memory. The price: 32 bytes per destroyed engine,
// for good (a handle is never reused, or a stale one would reach another engine).
#pragma once

#include <rcufree/rcufree.h>

#include <atomic>
#include <optional>
#include <rcufree/engine.hpp>
#include <utility>

namespace rcufree::detail {
class engine_core;
}

struct rcufree_engine {
  explicit rcufree_engine(rcufree::config cfg);

  // The live engine's core; null once destroyed. Relaxed loads and stores: no call may race
  // with rcufree_engine_destroy (rcufree.h), so a call made after it is ordered after it by the
  // caller's own synchronization, which also makes the null visible.
  std::atomic<rcufree::detail::engine_core*> core;
  std::optional<rcufree::engine> eng;  // empty once destroyed
  rcufree_engine* next_tombstone = nullptr;
};
