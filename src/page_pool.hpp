// SPDX-License-Identifier: MIT
// page_pool.hpp — one CPU's empty pages: the ring the atomic path takes from, and its sizing.
//
// Two sides, each serialized by its own owner:
//   consumer  the holder of a CPU slot flag (atomic callers, head-less callers, a
//             shrink): take(), drop(). Wait-free, no allocation, no system call.
//   producer  the holder of the slot's pool lock (a reclaimer restocking or recycling, the
//             supervisor topping up, reserve_pages(), a shrink or teardown resetting the target:
//             restock.cpp): put(), retarget(), set_resting(), reset_target(). It refills and
//             recycles here.
// A Boost.Lockfree spsc_queue, sized once at construction, is the ring between them.
//
// Invariants (promise 7: cached pages stay within CPUs x cached_pages_per_cpu):
//   pushed - popped == pages in the ring == size() <= bound
//   resting <= target() <= bound    (the producer fills up to target, never past bound)
// Demand: take() that finds the ring empty counts a miss. retarget() raises target to twice the
// demand seen (pages taken plus pages lacked), and at least doubles it, when since its last call
// the slot ran dry (misses) or took half its target or more (a burst: the next interval may take
// twice that); it halves it (not below resting = min(5, bound), the kernel's fixed cache) when no
// page was taken for a whole decay period (pages sat unused).
#pragma once

#include <algorithm>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>

#include "counter.hpp"

namespace rcufree::detail {

class page_pool {
 public:
  // bound 0 is allowed: every take() then fails and nothing is ever cached.
  explicit page_pool(std::size_t bound)
      : ring_(bound + 1),
        bound_(bound),
        resting_(static_cast<std::uint32_t>(std::min(bound, kResting))),
        target_(resting_) {}

  // --- consumer (slot-flag holder) ---
  void* take() noexcept {
    void* page = nullptr;
    if (!ring_.pop(page)) {
      misses_.add();
      return nullptr;
    }
    popped_.add();
    return page;
  }
  // Takes a page back out without counting it as demand (shrink, trimming to target).
  void* drop() noexcept {
    void* page = nullptr;
    if (!ring_.pop(page)) return nullptr;
    popped_.add();
    dropped_.add();
    return page;
  }

  // --- producer (pool-lock holder) ---
  // False when the ring already holds target() pages (the caller gives the page back).
  bool put(void* page) noexcept {
    if (size() >= target() || !ring_.push(page)) return false;
    pushed_.add();
    return true;
  }
  // Moves target with the demand seen since the last call. `now_ms` is the engine's coarse clock.
  // Returns true when the slot ran dry since the last call.
  bool retarget(std::uint32_t now_ms, std::uint32_t decay_ms,
                std::uint32_t records_per_page) noexcept {
    const std::uint64_t misses = misses_.get(), taken = popped_.get() - dropped_.get();
    const bool ran_dry = misses != seen_misses_;
    auto t = static_cast<std::uint32_t>(target());
    if (ran_dry || 2 * (taken - seen_taken_) >= std::uint64_t{t}) {
      // Each miss is one object that found no page: the pages the CPU used since the last call
      // plus those it lacked is its demand over one interval. Keep twice that ready (at least
      // twice the old target), so that the next interval does not run dry.
      const std::uint64_t demand =
          (taken - seen_taken_) + (misses - seen_misses_) / records_per_page;
      t = static_cast<std::uint32_t>(std::min<std::uint64_t>(
          bound_, std::max<std::uint64_t>(2 * std::uint64_t{t}, 2 * demand)));
      last_demand_ms_ = now_ms;
    } else if (taken != seen_taken_) {
      last_demand_ms_ = now_ms;
    } else if (t > resting_ && now_ms - last_demand_ms_ >= decay_ms) {
      t = std::max(resting_, t / 2);
      last_demand_ms_ = now_ms;  // one step per decay period
    }
    seen_misses_ = misses;
    seen_taken_ = taken;
    target_.store(t, std::memory_order_relaxed);  // relaxed: see target()
    return ran_dry;
  }
  // Sets the level a quiet CPU keeps (engine::reserve_pages), within the bound; raises the target
  // to it.
  void set_resting(std::size_t pages) noexcept {
    resting_ = static_cast<std::uint32_t>(std::min(pages, bound_));
    // relaxed: see target().
    if (target() < resting_) target_.store(resting_, std::memory_order_relaxed);
  }
  // Forgets the demand history (after a shrink: start small again).
  void reset_target() noexcept {
    target_.store(resting_, std::memory_order_relaxed);  // relaxed: see target()
  }

  // --- anyone ---
  // Exact for the producer when no consumer runs; a close estimate otherwise.
  std::size_t size() const noexcept {
    const auto in = pushed_.get(), out = popped_.get();
    return in > out ? static_cast<std::size_t>(in - out) : 0;
  }
  // relaxed: written by the producer only; other readers use it as a statistic.
  std::size_t target() const noexcept { return target_.load(std::memory_order_relaxed); }

 private:
  // The target a quiet CPU settles at unless reserve_pages() said otherwise: the kernel's five
  // pages (or the bound, if smaller).
  static constexpr std::size_t kResting = 5;

  boost::lockfree::spsc_queue<void*> ring_;
  const std::size_t bound_;
  std::uint32_t resting_;  // producer-private
  owned_counter popped_;   // consumer
  owned_counter misses_;   // consumer
  owned_counter dropped_;  // consumer
  owned_counter pushed_;   // producer
  std::atomic<std::uint32_t> target_;
  // producer-private
  std::uint64_t seen_misses_ = 0, seen_taken_ = 0;
  std::uint32_t last_demand_ms_ = 0;
};

}  // namespace rcufree::detail
