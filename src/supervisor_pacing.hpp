// SPDX-License-Identifier: MIT
// supervisor_pacing.hpp — how long the supervisor sleeps after a look at the slots: the policy,
// apart from the thread (engine_threads.cpp runs it; test/unit/supervisor_pacing_test.cpp checks it
// case by case).
//
// Atomic callers cannot wake the supervisor, so it polls. What its last look saw decides the
// next one (tick = config::worker_tick; short cap = min(drain_interval, 8 ticks), at least a
// tick):
//   reclaiming   it freed something, or expedites in single mode: every tick (in single mode
//                over the soft cap, at once);
//   unwatched    work is pending and some CPU has no thread watching it (none started there, or
//                it went idle): every tick, so that a producer that moves there is seen on time;
//   aging        work is pending and CPU threads watch every CPU: when the first item falls due,
//                within [tick, short cap];
//   idle         nothing pending: backing off, doubling its sleep (plus a tick) up to the short
//                cap, and after kQuietMs with no work up to kIdleCap: an idle engine wakes about
//                8 times a second whatever the number of CPUs. A flood that starts after a quiet
//                second goes unnoticed for up to kIdleCap, its objects meanwhile on the fallback
//                list (freed correctly, just later).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "coarse_clock.hpp"

namespace rcufree::detail {

class supervisor_pacing {
 public:
  using us = std::chrono::microseconds;
  static constexpr us kIdleCap{125'000};

  supervisor_pacing(us tick, us short_cap) noexcept
      : tick_(tick), short_cap_(std::max(tick, short_cap)) {}

  // What the last look saw. Times are the engine's coarse milliseconds.
  struct seen {
    bool expedite_alone;  // over the soft cap in single mode (the supervisor frees everything)
    bool found;           // freed something
    bool pending;         // objects left in some slot
    bool cpu_unwatched;   // some CPU had no thread watching it (per-CPU mode)
    std::uint32_t now_ms, next_due_ms, quiet_since_ms;
  };

  // The next sleep after a look, given the one before it.
  us next(const seen& s, us last) const noexcept {
    if (s.expedite_alone) return us(0);
    if (s.found || (s.pending && s.cpu_unwatched)) return tick_;
    if (s.pending) return std::clamp(time_until(s.now_ms, s.next_due_ms), tick_, short_cap_);
    const us cap = reached(s.now_ms, s.quiet_since_ms + kQuietMs) ? std::max(short_cap_, kIdleCap)
                                                                  : short_cap_;
    return std::min(last * 2 + tick_, cap);
  }

 private:
  us tick_, short_cap_;
};

}  // namespace rcufree::detail
