// percpu.hpp — one CPU's slot: where the atomic path puts objects.
//
// The slot owns what atomic callers touch: the busy flag, the open block, the page pool's
// consumer side, and the two wait-free lists the reclaimer takes from (closed blocks, fallback
// objects). What the reclaimer keeps per CPU (its lock, aging state, freed counts) is its own
// (reclaimer.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "block.hpp"
#include "coarse_clock.hpp"
#include "counter.hpp"
#include "fallback_list.hpp"
#include "grace_period.hpp"
#include "page_pool.hpp"
#include "wait_free_stack.hpp"

namespace rcufree::detail {

struct block_link {
  static void store(block* b, block* v, std::memory_order mo) noexcept { b->next.store(v, mo); }
  static block* load(block* b, std::memory_order mo) noexcept { return b->next.load(mo); }
};
using block_stack = wait_free_stack<block, block_link>;

// Cache-line aligned, one per possible CPU, allocated when the engine is built.
// Invariant: queued == objects put in blocks here (open, closed, or freed since);
//            fallback_queued == objects pushed on `fallback`.
struct alignas(128) cpu_slot {
  cpu_slot(std::size_t cached_pages, std::size_t page_bytes)
      : page_size(page_bytes), pool(cached_pages) {}
  const std::size_t page_size;

  // --- owned by the busy-flag holder ---
  std::atomic<bool> busy{false};
  block* open = nullptr;        // the block taking pointers, or null
  owned_counter queued;         // objects put in blocks
  owned_counter blocks_opened;  // pages taken into use here
  page_pool pool;               // consumer side under the busy flag

  // --- shared: wait-free pushes from any thread, taken by the reclaimer ---
  alignas(64) block_stack closed;  // full or aged blocks, stamped with their cookie
  fallback_list fallback;          // objects linked through their heads
  stat_counter fallback_queued;
  stat_counter contended;  // calls that found busy taken

  // Wait-free try-lock. Never waits.
  bool try_enter() noexcept {
    // relaxed pre-check keeps a contended line shared instead of bouncing it with an RMW.
    if (busy.load(std::memory_order_relaxed)) return false;
    // (B1) acquire: pairs with (B2) of the previous holder; makes its open block, pool position
    // and counters visible.
    return !busy.exchange(true, std::memory_order_acquire);
  }
  void leave() noexcept {
    // (B2) release: publishes this holder's writes; pairs with (B1).
    busy.store(false, std::memory_order_release);
  }
  // Sleepable callers only: spins, then yields, until the slot is free. Returns false after
  // `max_yields` yields (the holder may be this very thread, interrupted, or stopped for good).
  bool enter_waiting(unsigned max_yields) noexcept {
    return try_enter() || enter_waiting_slow(max_yields);
  }
  bool enter_waiting_slow(unsigned max_yields) noexcept;

  // --- the queueing steps (percpu.cpp), each under the busy flag ---
  // Appends obj to the open block, closing it and opening a pooled page when it has no room.
  // False: no page at hand (the caller takes the fallback list); a full block is closed anyway.
  // The common case (room in the open block) is inline; the page change is not.
  bool append_locked(void* obj, const reclaim_kind& kind, const grace_period& gp,
                     const coarse_clock& clock) noexcept {
    if (open != nullptr && open->try_append(obj, &kind)) {
      queued.add();
      return true;
    }
    return append_to_pooled_page_locked(obj, kind, gp, clock);
  }
  // The rest of append_locked: closes the open block and opens a pooled page, if there is one.
  [[gnu::cold, gnu::noinline]] bool append_to_pooled_page_locked(
      void* obj, const reclaim_kind& kind, const grace_period& gp,
      const coarse_clock& clock) noexcept;
  // Installs `page` as the open block (closing the current one) and appends obj to it.
  void append_to_page_locked(void* page, void* obj, const reclaim_kind& kind,
                             const grace_period& gp, const coarse_clock& clock) noexcept;
  // Stamps the open block with a cookie and pushes it on `closed`. Does nothing if none is open.
  void close_locked(const grace_period& gp) noexcept;

  // fork child, single-threaded: a busy flag held at the fork means its holder was between steps
  // (a count stored before its record, an open block half installed): that open block is not
  // trusted and is abandoned, page and all; the flag is cleared. Both lists are cut at their first
  // link a parent thread never stored; the fallback list stays here, the closed list goes to the
  // reclaimer.
  struct adopted {
    std::uint64_t objects;  // in the open block and on the fallback list, for the child to free
    block* closed;          // the closed list, taken and cut, for the reclaimer to join
  };
  adopted adopt_in_child() noexcept;

  // Objects handed to this slot so far (blocks and fallback list). A hint for other threads.
  std::uint64_t handed_over() const noexcept { return queued.get() + fallback_queued.get(); }
};

}  // namespace rcufree::detail
