// SPDX-License-Identifier: MIT
// patience.hpp — how long a reclaimer waits for a thread that holds up a slot.
//
// Another thread can hold up a reclaimer in four ways: it holds the slot's flag, it pushed a
// node and has not stored the node's link yet, it holds the slot's reclaim lock (a caller in
// reclaim_local() or a head-less call helping), or it holds the slot's pool lock (a few steps of
// reserve_pages() or a restock). Usually it is only preempted, for microseconds;
// it may also be stopped for good (a debugger, SIGSTOP, starved by real-time threads, gone by
// siglongjmp or cancellation). So no reclaimer waits without a plan (`none`: a single try):
//   passes (periodic, expedited, callers)  a moment (64 tries, then 16 yields), then come back
//                                          later: the other CPUs' reclaim never waits on it;
//   barrier (everything)                   as long as it takes (barrier must be exact), saying
//                                          so on stderr once it has waited a second; but not
//                                          past a fork or the engine's stop (`yield`): the
//                                          supervisor serves the barrier again after the fork,
//                                          and at teardown what the held slot keeps is left
//                                          behind, as the teardown says;
//   teardown (final_drain)                 2 s, then it says what it leaves behind and goes on;
//   request (reserve_pages)                2 s, then it says which CPU it goes on without.
#pragma once

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <thread>

#include "stop_point.hpp"

namespace rcufree::detail {

// How long a teardown waits for a slot a stopped thread holds (the stop-point tests shorten it).
inline std::chrono::milliseconds teardown_limit() noexcept {
#ifdef RCUFREE_STOP_POINTS
  return stop_points::teardown_patience();
#else
  return std::chrono::seconds(2);
#endif
}

class patience {
 public:
  enum class kind { none, brief, barrier, teardown, request };  // none: one try, no waiting

  // `cpu` and `what` ("the slot's flag", "a list link its pusher has not stored") go into the
  // reports. `yield` (barrier only): once it reads true, give up.
  patience(kind k, std::size_t cpu, const char* what,
           const std::atomic<bool>* yield = nullptr) noexcept
      : kind_(k), cpu_(cpu), what_(what), yield_(yield) {}

  // Call after each failed attempt; false: give up (the caller leaves the work for later, or
  // behind).
  bool again() noexcept {
    if (kind_ == kind::none) return false;
    ++tries_;
    if (tries_ <= 64) return true;
    if (tries_ <= 80) {
      sched_yield();
      return true;
    }
    if (kind_ == kind::brief) return false;
    // relaxed: a request to stop waiting, made before its maker waits for this thread (a fork's
    // parking, the engine's stop); read late, it costs one more millisecond here.
    if (kind_ == kind::barrier && yield_ != nullptr && yield_->load(std::memory_order_relaxed))
      return false;
    const auto now = std::chrono::steady_clock::now();
    if (tries_ == 81) start_ = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto waited = now - start_;
    if ((kind_ == kind::teardown || kind_ == kind::request) && waited >= teardown_limit()) {
      const bool teardown = kind_ == kind::teardown;
      std::fprintf(stderr,
                   "rcufree: %s on CPU %zu waited %.1f s for %s, which a thread inside rcufree "
                   "holds and does not run (stopped, starved, or gone by siglongjmp or "
                   "cancellation); %s\n",
                   teardown ? "engine teardown" : "a request", cpu_,
                   std::chrono::duration<double>(waited).count(), what_,
                   teardown ? "the objects it holds up are left behind, not freed"
                            : "it goes on without that CPU");
      return false;
    }
    if (kind_ == kind::barrier && !said_ && waited >= std::chrono::seconds(1)) {
      std::fprintf(stderr,
                   "rcufree: barrier() has waited 1 s on CPU %zu for %s, which a thread inside "
                   "rcufree holds and does not run (stopped, starved, or gone by siglongjmp or "
                   "cancellation); it keeps waiting, as it must to be exact\n",
                   cpu_, what_);
      said_ = true;
    }
    return true;
  }

 private:
  kind kind_;
  std::size_t cpu_;
  const char* what_;
  const std::atomic<bool>* yield_;
  unsigned tries_ = 0;
  bool said_ = false;
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace rcufree::detail
