// SPDX-License-Identifier: MIT
// cpu_pacing.hpp — how long a CPU thread sleeps after a pass: the policy, apart from the thread
// (engine_threads.cpp runs it; test/unit/reclaim_test.cpp checks it case by case).
//
// A CPU thread cannot be woken by the atomic path (a wake is a system call), so it polls. What it
// saw in its last pass decides the next look:
//   flooded    it freed >= kFloodObjectsPerMs objects per millisecond since the previous pass,
//              its pool ran dry, or pending memory is over the soft cap: every dry tick (100 us),
//              so that each pass stays short (below);
//   busy       it freed something: every tick (worker_tick);
//   aging      only objects still aging: when the first falls due, within [dry tick, tick]
//              (a producer that left may come back: 2-3 ms of its flood empty a 128-page pool);
//   quiet      nothing, but there was work within kQuietMs: backing off from the dry tick to a
//              tick (a producer that migrated away often comes back);
//   idle       nothing for kQuietMs: no timed wake-up at all (the supervisor wakes it).
//
// Why short passes while flooded. The thread shares its core with the producer and asks for a
// 100 us time slice so that its wake-ups preempt it (engine_threads.cpp). A pass that runs past the
// slice is preempted at the next scheduler tick (4 ms at 250 Hz) and the producer then has the
// core to itself until the tick after: with a pass every tick, passes of 30-40k objects did, and
// pending reached 100-180k objects (docs/PERFORMANCE.md). A real client (the cds_lfht benchmark)
// frees 1.5-2.2k objects per millisecond per CPU, far below the flood rate; passes every 100 us
// there cost it 14 % of its writes.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "coarse_clock.hpp"

namespace rcufree::detail {

class cpu_pacing {
 public:
  static constexpr double kFloodObjectsPerMs = 8000;
  using us = std::chrono::microseconds;

  cpu_pacing(us tick, us dry_tick) noexcept : tick_(tick), dry_tick_(std::min(tick, dry_tick)) {}

  // What the last pass saw. Times are the engine's coarse milliseconds.
  struct seen {
    bool flooded;  // expedited (over the soft cap), ran dry, or freed at the flood rate
    bool found;    // freed something
    bool pending;  // objects left (aging, or queued meanwhile)
    std::uint32_t now_ms, next_due_ms, quiet_since_ms;
  };
  static bool flood_rate(std::uint64_t freed, double ms_since_last_pass) noexcept {
    return ms_since_last_pass > 0 &&
           static_cast<double>(freed) >= kFloodObjectsPerMs * ms_since_last_pass;
  }

  // The next sleep after a pass, given the one before it; nullopt: go idle (no timed wake-up).
  std::optional<us> next(const seen& s, us last) const noexcept {
    if (s.flooded) return dry_tick_;
    if (s.found) return tick_;
    if (s.pending) return std::clamp(time_until(s.now_ms, s.next_due_ms), dry_tick_, tick_);
    if (!reached(s.now_ms, s.quiet_since_ms + kQuietMs))
      return std::clamp(last * 2, dry_tick_, tick_);
    return std::nullopt;
  }

 private:
  us tick_, dry_tick_;
};

}  // namespace rcufree::detail
