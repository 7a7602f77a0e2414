// percpu.hpp — one CPU's slot: its open blocks, page cache, closed and fallback lists.
#pragma once

#include "block.hpp"
#include "fallback_list.hpp"
#include "page_cache.hpp"
#include "wait_free_stack.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace rcufree::detail {

struct block_link {
  static void store(block* b, block* v, std::memory_order mo) noexcept { b->next.store(v, mo); }
  static block* load(block* b, std::memory_order mo) noexcept { return b->next.load(mo); }
};
using block_stack = wait_free_stack<block, block_link>;

// Open blocks a CPU keeps at once, one per reclaim kind (free, delete<T>, ...). A fifth kind
// closes the block in the entry it hashes to.
inline constexpr std::size_t kOpenKinds = 4;

// Cache-line aligned, one per possible CPU, allocated when the engine is built.
// Ownership: the fields in the first group are touched only by the holder of `busy`; the lists
// and counters below take concurrent pushes (wait-free) and are read by the worker.
struct alignas(128) cpu_slot {
  explicit cpu_slot(std::size_t cached_pages)
      : cache(cached_pages), spares(cached_pages != 0 ? new void*[cached_pages] : nullptr) {}

  // --- owned by the busy-flag holder ---
  std::atomic<bool> busy{false};
  struct open_entry {
    const reclaim_kind* kind = nullptr;
    block* blk = nullptr;
  } open[kOpenKinds];
  page_cache cache;  // consumer side is the busy holder; producer is the worker
  // Pages emptied by sleepable callers that reclaimed for themselves (they cannot push into the
  // cache: the worker is that ring's only producer). A stack used under the busy flag, taken after
  // the cache. Invariant: cache.size() + spare_count <= cache.capacity() (promise 7's bound).
  // spare_count is atomic only so that snapshot() may read it.
  std::unique_ptr<void*[]> spares;
  std::atomic<std::uint32_t> spare_count{0};
  void* take_spare_locked() noexcept {
    // relaxed: under the busy flag.
    const std::uint32_t n = spare_count.load(std::memory_order_relaxed);
    if (n == 0) return nullptr;
    spare_count.store(n - 1, std::memory_order_relaxed);
    return spares[n - 1];
  }
  bool put_spare_locked(void* page) noexcept {
    // relaxed: under the busy flag.
    const std::uint32_t n = spare_count.load(std::memory_order_relaxed);
    if (cache.size() + n >= cache.capacity()) return false;
    spares[n] = page;
    spare_count.store(n + 1, std::memory_order_relaxed);
    return true;
  }
  // Counters with one writer (the busy holder): relaxed load + store, read by snapshot().
  std::atomic<std::uint64_t> queued{0};          // objects put in blocks
  std::atomic<std::uint64_t> blocks_opened{0};   // pages taken into use here

  // --- shared: wait-free pushes from any thread, taken by the worker ---
  alignas(64) block_stack closed;  // full or evicted blocks, stamped with their cookie
  fallback_list fallback;          // objects linked through their heads
  std::atomic<std::uint64_t> fallback_queued{0};   // RMW: many writers
  std::atomic<std::uint64_t> contended{0};         // RMW: calls that found busy taken

  // --- written by the worker only ---
  alignas(64) std::atomic<std::uint64_t> blocks_retired{0};  // pages from here freed and recycled

  // Wait-free try-lock. Never waits.
  bool try_enter() noexcept {
    // relaxed pre-check keeps a contended line shared instead of bouncing it with an RMW.
    if (busy.load(std::memory_order_relaxed)) return false;
    // (B1) acquire: pairs with (B2) of the previous holder; makes its open blocks and cache
    // position visible.
    return !busy.exchange(true, std::memory_order_acquire);
  }
  void leave() noexcept {
    // (B2) release: publishes this holder's writes to open blocks and counters; pairs with (B1).
    busy.store(false, std::memory_order_release);
  }
  // Sleepable callers only (worker, head-less forms): spins, then yields, until the slot is free.
  // Returns false after `max_yields` yields (the holder may be this very thread, interrupted).
  bool enter_waiting(unsigned max_yields) noexcept {
    return try_enter() || enter_waiting_slow(max_yields);
  }
  bool enter_waiting_slow(unsigned max_yields) noexcept;
};

}  // namespace rcufree::detail
