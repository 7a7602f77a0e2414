// SPDX-License-Identifier: MIT
// sleepable_check.cpp — the misuse check every call that may sleep makes first (engine_core.hpp:
// require_sleepable): not inside an atomic_scope or a read-side critical section of the engine's
// flavor, where waiting for a grace period would deadlock; and, for the calls that wait for the
// engine's own work (barrier, shrink, reserve_pages, reclaim_local), not from a deleter the
// engine is running, which would wait for itself. Found misuse is reported naming the call, in
// the caller's language (misuse.hpp), never a silent hang.
#include <urcu/static/urcu-memb.h>

#include <cstdio>
#include <rcufree/atomic_scope.hpp>

#include "engine_core.hpp"
#include "misuse.hpp"

namespace rcufree {
namespace {

// The flavor's read_ongoing(), inlined for the default flavor (urcu-memb): liburcu's static
// inline reads the reader's thread-local nesting count directly, without a call through the
// flavor table into the shared library.
bool reader_inside(const rcu_flavor_struct* flavor) {
  if (flavor == &urcu_memb_flavor) return _urcu_memb_read_ongoing() != 0;
  return flavor->read_ongoing() != 0;
}

}  // namespace

void detail::require_sleepable(const engine_core& core, const char* call, sleepable_use use) {
  const char* why = nullptr;
  if (in_atomic_scope()) {
    why =
        "inside an rcufree::atomic_scope; it may wait for a grace period, which there could "
        "deadlock.";
  } else if (reader_inside(core.gp.flavor())) {
    why =
        "inside an RCU read-side critical section; it may wait for a grace period, which there "
        "would deadlock.";
  } else if (use == sleepable_use::waits_for_engine &&
             (core.threads.on_engine_thread() || reclaimer::running_deleters_of(&core.rec))) {
    why =
        "from a deleter this engine is running (on its reclaim thread, in reclaim_local() or in "
        "a head-less call's own reclaim); it would wait for itself.";
  }
  if (why == nullptr) return;
  // Spelled for the caller's language (misuse.hpp).
  const char* instead =
      use == sleepable_use::head_less ? two_argument_advice() : " Call it outside.";
  char sentence[512];
  std::snprintf(sentence, sizeof sentence, "%s() called %s%s", spelled_for_caller(call), why,
                instead);
  RCUFREE_MISUSE(sentence);
}

}  // namespace rcufree
