// SPDX-License-Identifier: MIT
// reclaim_policy.hpp — what one reclaim pass takes from its CPU slot, and how long it waits for
// a thread that holds the slot up: one named field per decision, one preset per kind of pass.
//
// A pass (reclaimer.cpp) takes the slot's open block, its closed blocks (always: they are full or
// aged) and its fallback list; waits for their grace period; frees; and may restock the slot's
// page pool. The presets below are every pass the engine runs. The two age decisions are pure
// functions of a preset and what the slot looks like, tested case by case without threads
// (test/unit/reclaim_policy_test.cpp); changing what a pass takes is a change here and there.
#pragma once

#include <cstdint>

#include "patience.hpp"

namespace rcufree::detail {

struct reclaim_policy {
  enum class when : std::uint8_t {
    never,  // this pass does not take it
    due,    // once it has waited drain_interval (a tick early, so that the pass that would come
            // just after the deadline is not a tick late); the fallback list also once it holds
            // a page's worth of objects (the flood rule)
    now,    // whatever its age
  };
  when open_block;     // close the open block (under the slot flag) and take it
  when fallback_list;  // take the fallback list
  // A barrier's or a teardown's flush: exactness first. A new fallback list is taken only once
  // the chain an earlier pass left at a missing link is linked to its end (design.md, "At most
  // one stalled chain per slot").
  bool exact;
  patience::kind wait;  // how long it waits for a held slot flag, a missing link, the reclaim lock
  bool restock;         // then retarget, refill and trim the slot's page pool
};

using when = reclaim_policy::when;

// A CPU thread's pass, or the supervisor's for a slot no CPU thread serves.
inline constexpr reclaim_policy kPeriodicPass{when::due, when::due, false, patience::kind::brief,
                                              true};
// A CPU thread's pass right after a caller woke it (engine::wake_reclaim_if_idle): the open block
// at once, so that a lone object's grace period starts now rather than after drain_interval; the
// fallback list as in a periodic pass.
inline constexpr reclaim_policy kWokenPass{when::now, when::due, false, patience::kind::brief,
                                           true};
// The same while pending memory is over the soft cap: everything, without waiting for age.
inline constexpr reclaim_policy kExpeditedPass{when::now, when::now, false, patience::kind::brief,
                                               true};
// barrier(): everything, and it waits for any thread that holds the slot up (saying so after a
// second), unless a fork or the engine's stop makes barrier waits give way.
inline constexpr reclaim_policy kBarrierFlush{when::now, when::now, true, patience::kind::barrier,
                                              false};
// Engine destruction and the default engine's exit drain: everything, waiting a bounded time.
inline constexpr reclaim_policy kTeardownFlush{when::now, when::now, true, patience::kind::teardown,
                                               false};
// reclaim_local(): the closed blocks and the fallback list, on the calling thread.
inline constexpr reclaim_policy kReclaimLocal{when::never, when::now, false, patience::kind::brief,
                                              false};
// A head-less call helping on its own CPU: the closed blocks only.
inline constexpr reclaim_policy kHeadlessHelp{when::never, when::never, false,
                                              patience::kind::brief, false};

// Whether an open block `age_ms` old is closed and taken.
constexpr bool takes_open_block(when w, std::uint32_t age_ms, std::uint32_t drain_ms,
                                std::uint32_t tick_ms) noexcept {
  return w == when::now || (w == when::due && age_ms + tick_ms >= drain_ms);
}

// Whether the fallback list is taken: `pushed_since_take` objects were pushed on it since the
// last take, and it was first seen non-empty `waited_ms` ago.
constexpr bool takes_fallback_list(when w, std::uint64_t pushed_since_take,
                                   std::uint64_t records_per_page, std::uint32_t waited_ms,
                                   std::uint32_t drain_ms, std::uint32_t tick_ms) noexcept {
  return w == when::now || (w == when::due && (pushed_since_take >= records_per_page ||
                                               waited_ms + tick_ms >= drain_ms));
}

}  // namespace rcufree::detail
