// worker.cpp — the background worker: refills page caches, runs grace periods, frees batches.
//
// Atomic callers never wake the worker (that would be a system call), so it polls: every
// worker_tick while anything is pending, backing off to drain_interval while idle. Sleepable
// callers (barrier, shrink, head-less forms that found no page) wake it at once.
//
// One pass:
//   1. detach  — take every CPU's closed blocks and fallback list; close open blocks that have
//                aged past drain_interval (all of them when flushing or over the soft cap).
//   2. reclaim — free blocks whose cookie already expired; if anything else was taken, wait for one
//                grace period (it covers everything taken: see grace_period.hpp) and free the rest.
//                Emptied pages go back to their CPU's cache, surplus pages are released.
//   3. refill  — top every CPU's cache up to cached_pages_per_cpu, stopping at the first failed
//                allocation and backing off for a while after one.
#include "engine_core.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

namespace rcufree::detail {
namespace {

// Chains a block onto a worker-private list.
void link_front(block*& head, block* b) noexcept {
  // relaxed: the block is private to the worker now.
  b->next.store(head, std::memory_order_relaxed);
  head = b;
}

}  // namespace

void engine_core::worker_main() {
  const auto tick = std::chrono::duration_cast<std::chrono::microseconds>(cfg.worker_tick);
  const auto idle_max = std::min<std::chrono::microseconds>(
      std::chrono::duration_cast<std::chrono::microseconds>(cfg.drain_interval), tick * 8);
  auto sleep = tick;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!wake_ && !stop_ && !paused_) {
        wake_cv_.wait_for(lock, sleep, [this] { return wake_ || stop_ || paused_; });
      }
      while (paused_) {  // fork() in progress: park between passes (fork.cpp)
        parked_ = true;
        done_cv_.notify_all();
        wake_cv_.wait(lock);
      }
      parked_ = false;
      wake_ = false;
      stopping = stop_;
    }
    // relaxed: a hint that lets wakers skip redundant system calls; a waker that sets it after
    // this point also notifies (under the mutex), so no wake is lost.
    wake_pending.store(false, std::memory_order_relaxed);
    // acquire: pairs with the release increments in request_and_wait; a request seen here was
    // made after the objects its caller wants flushed were queued.
    const std::uint64_t flush_target = flush_requested.load(std::memory_order_acquire);
    const std::uint64_t shrink_target = shrink_requested.load(std::memory_order_acquire);
    // relaxed: only this thread writes the completed counters.
    const bool flush = stopping || flush_target != flush_completed.load(std::memory_order_relaxed);
    // acquire exchange: pairs with the release store in on_memory_pressure.
    const bool pressure = pressure_pending.exchange(false, std::memory_order_acquire);
    const bool shrink =
        pressure || shrink_target != shrink_completed.load(std::memory_order_relaxed);

    const bool found = worker_pass(flush, shrink);

    if (flush || shrink) {
      std::lock_guard<std::mutex> lock(mu_);
      // release: the frees of this pass happen before a waiter sees completion; pairs with the
      // acquire load in request_and_wait.
      flush_completed.store(flush_target, std::memory_order_release);
      shrink_completed.store(shrink_target, std::memory_order_release);
      done_cv_.notify_all();
    }
    if (stopping && (!found || pending_objects() == 0)) return;
    if (over_soft_cap()) {
      sleep = std::chrono::microseconds(0);
    } else if (found) {
      sleep = tick;
    } else if (pending_objects() != 0) {
      // Something is aging (an open block or a fallback list): sleep until the first of them is
      // due, but at least a tick and at most the idle cap (new work may have arrived meanwhile).
      const std::uint32_t now = now_ms();
      const auto until_due = std::chrono::microseconds(
          next_due_ms_ == kNever ? idle_max.count()
                                 : 1000 * std::int64_t{next_due_ms_ > now ? next_due_ms_ - now : 0});
      sleep = std::clamp(until_due, tick, std::max(tick, idle_max));
    } else {
      sleep = std::min(sleep * 2 + tick, idle_max);
    }
  }
}

bool engine_core::worker_pass(bool flush, bool shrink) {
  now_ms_.store(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - epoch_)
                                               .count()),
                std::memory_order_relaxed);  // relaxed: see now_ms()
  const bool expedite = over_soft_cap();
  if (expedite) expedited_passes.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  reclaim_batch batch = detach(flush, expedite);
  const bool found = batch.ready != nullptr || batch.waiting != nullptr || !fallback_chains_.empty();
  if (found) {
    drains.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    reclaim(batch);
  }
  if (flush) {
    // Blocks a sleepable caller took before our detach are freed by that caller: wait for it.
    // (R3) acquire fence: pairs with the release in (S3) of a caller's take; with it, the
    // caller's registration (R1) happens before the load below.
    std::atomic_thread_fence(std::memory_order_acquire);
    while (caller_reclaimers.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  }
  if (shrink) {
    drop_caches();
    shrinks.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    refill_backoff_until_ = std::chrono::steady_clock::now() + cfg.refill_backoff_after_shrink;
  } else {
    refill_caches();
  }
  return found;
}

reclaim_batch engine_core::detach(bool flush, bool expedite) {
  reclaim_batch batch;
  fallback_chains_.clear();  // capacity reserved at construction: no allocation
  const std::uint32_t now = now_ms();
  const auto drain_ms = static_cast<std::uint32_t>(cfg.drain_interval.count());
  const auto tick_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.worker_tick).count());
  std::uint32_t oldest = 0;
  next_due_ms_ = kNever;
  const std::uint64_t per_page = block::records_in(cfg.page_size);

  for (std::size_t i = 0; i < slot_count; ++i) {
    cpu_slot& s = slots[i];
    // Open blocks: visited under the busy flag, and only if the slot queued something since the
    // last visit left it with no open block (relaxed: a hint; the flag orders the real reads).
    const std::uint64_t queued_now = s.queued.load(std::memory_order_relaxed);
    if (flush || expedite || queued_now != open_seen_[i]) {
      if (s.enter_waiting(flush ? UINT_MAX : 16)) {
        bool left_open = false;
        for (auto& e : s.open) {
          if (e.blk == nullptr) continue;
          if (!(flush || expedite || now - std::min(now, e.blk->opened_ms) + tick_ms >= drain_ms)) {
            left_open = true;
            next_due_ms_ = std::min(next_due_ms_, e.blk->opened_ms + drain_ms);
            continue;
          }
          block* b = e.blk;
          e.blk = nullptr;
          e.kind = nullptr;
          b->cookie = gp.snapshot();
          oldest = std::max(oldest, now - std::min(now, b->opened_ms));
          link_front(batch.waiting, b);
        }
        // relaxed: single writer; ordered by the flag.
        open_seen_[i] = left_open ? ~std::uint64_t{0} : s.queued.load(std::memory_order_relaxed);
        s.leave();
      }
    }

    // Closed blocks after the open ones: blocks are closed only under the busy flag, so taking
    // this list after leaving it catches every close that happened before (barrier exactness).
    for (block* b = s.closed.take_all(); b != nullptr;) {
      block* next = block_stack::next(b);
      oldest = std::max(oldest, now - std::min(now, b->opened_ms));
      if (gp.expired(b->cookie)) {
        link_front(batch.ready, b);
        expired_on_arrival.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      } else {
        link_front(batch.waiting, b);
      }
      b = next;
    }

    // Fallback list: taken once it has waited drain_interval, like an open block, or at once when
    // it holds a page's worth of objects (the flood rule), when flushing, or over the soft cap.
    if (!s.fallback.empty()) {
      // relaxed: a count bumped after each push; lagging it only delays the flood rule a little.
      const std::uint64_t queued_fb = s.fallback_queued.load(std::memory_order_relaxed);
      if (fallback_since_[i] == kNever) fallback_since_[i] = now;
      const bool due = flush || expedite || queued_fb - fallback_taken_[i] >= per_page ||
                       now - std::min(now, fallback_since_[i]) + tick_ms >= drain_ms;
      if (due) {
        if (rcu_head* chain = s.fallback.take_all()) fallback_chains_.push_back(chain);
        fallback_taken_[i] = queued_fb;
        fallback_since_[i] = kNever;
      } else {
        next_due_ms_ = std::min(next_due_ms_, fallback_since_[i] + drain_ms);
      }
    }
  }
  oldest_pending_ms.store(oldest, std::memory_order_relaxed);  // relaxed: statistic
  return batch;
}

void engine_core::reclaim(reclaim_batch& batch) {
  free_block_chain(batch.ready);
  if (batch.waiting != nullptr || !fallback_chains_.empty()) {
    gp.synchronize();  // every cookie handed out before this pass expires here
    free_block_chain(batch.waiting);
    std::uint64_t n = 0;
    for (rcu_head* chain : fallback_chains_) n += fallback_list::free_chain(chain, debug.get());
    freed.fetch_add(n, std::memory_order_relaxed);  // relaxed: statistic
  }
}

void engine_core::free_block_chain(block* chain) noexcept {
  while (chain != nullptr) {
    // relaxed: the chain is private to this thread.
    block* next = chain->next.load(std::memory_order_relaxed);
    retire_block(chain);
    chain = next;
  }
}

void* engine_core::empty_block(block* b) noexcept {
  const std::uint32_t origin = b->origin;
  const std::uint32_t count = b->count;
#ifdef RCUFREE_DEBUG
  for (std::uint32_t i = 0; i < count; ++i) debug->on_free(b->records()[i]);
#endif
  b->free_records();
  freed.fetch_add(count, std::memory_order_relaxed);  // relaxed: statistic
  slots[origin].blocks_retired.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  b->~block();
  return b;
}

void engine_core::retire_block(block* b) noexcept {
  const std::uint32_t origin = b->origin;
  void* page = empty_block(b);
  if (!slots[origin].cache.put(page)) release_page(page);
}

void engine_core::refill_caches() {
  if (std::chrono::steady_clock::now() < refill_backoff_until_) return;
  for (std::size_t i = 0; i < slot_count; ++i) {
    cpu_slot& s = slots[i];
    while (s.cache.size() < s.cache.capacity()) {
      refill_attempts.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      void* page = allocate_page();
      if (page == nullptr) {
        // Do not fight memory pressure: stop at the first failure and retry later.
        refill_backoff_until_ = std::chrono::steady_clock::now() + cfg.drain_interval;
        return;
      }
      // Fault the page in here, on the worker, not on the first atomic caller that writes it.
      for (std::size_t off = 0; off < cfg.page_size; off += 4096) {
        static_cast<volatile char*>(page)[off] = 0;
      }
      if (!s.cache.put(page)) {
        release_page(page);
        break;
      }
    }
  }
}

void engine_core::drop_caches() {
  for (std::size_t i = 0; i < slot_count; ++i) {
    cpu_slot& s = slots[i];
    if (!s.enter_waiting(UINT_MAX)) continue;
    while (void* page = s.cache.take()) release_page(page);
    while (void* spare = s.take_spare_locked()) release_page(spare);
    s.leave();
  }
}

}  // namespace rcufree::detail
