// SPDX-License-Identifier: MIT
// restock.cpp — the producer side of the slots' page pools: a reclaimer's last step (retarget the
// pool to demand, refill it from the page source, trim it), the supervisor's top-up during a
// burst, reserve_pages' resting level, recycling; and shrink(), which gives every pool's pages
// back. Each pool step runs under the slot's pool lock, taken through lock_pool() with patience;
// pages are allocated outside it (reclaimer.hpp has the contracts, page_pool.hpp the pool's
// invariants).
#include "reclaimer.hpp"

namespace rcufree::detail {
namespace {

// A pool's target drops by one step after this long with no page taken from it.
constexpr std::uint32_t kPoolDecayMs = 1000;

}  // namespace

std::unique_lock<std::mutex> reclaimer::lock_pool(std::size_t i, patience::kind& k) noexcept {
  std::unique_lock<std::mutex> lock(state_[i].pool_mu, std::try_to_lock);
  if (!lock.owns_lock()) {
    patience wait = wait_on(i, k, "the pool lock");
    while (!lock.try_lock()) {
      if (!wait.again()) {
        k = patience::kind::none;  // the caller skips its step, and its next ones do not wait
        return lock;
      }
    }
  }
  RCUFREE_STOP_AT(pool_lock_held);
  return lock;
}

bool reclaimer::restock(std::size_t i, patience::kind k) noexcept {
  cpu_slot& s = slots_[i];
  const bool ran_dry = retarget(i, k);  // k becomes none if it gave up: the refill does not wait
  refill(i, k);
  // Pages over a lowered target go back (consumer side: only if the flag is free right now).
  if (s.pool.size() > s.pool.target()) {
    if (const cpu_slot::entry e = s.try_enter()) {
      release_pages_over(s, s.pool.target());
      s.leave(e);
    }
  }
  return ran_dry;
}

void reclaimer::top_up(std::size_t i) noexcept {
  patience::kind k = patience::kind::brief;
  retarget(i, k);  // half the pool or more went since the last one: it doubles
  RCUFREE_STOP_AT(pool_topping_up);
  refill(i, k);
}

void reclaimer::set_resting(std::size_t i, std::size_t pages) noexcept {
  patience::kind k = patience::kind::request;
  {
    const auto pool_lock = lock_pool(i, k);
    if (!pool_lock.owns_lock()) return;  // said on stderr; this CPU keeps what it has
    slots_[i].pool.set_resting(pages);
  }
  restock(i, k);
}

// Each step below: if the wait for the pool lock gives up, `k` becomes none, so that the steps
// after it (a pass's next pages, a refill after a retarget) try the lock once and do not wait
// again for a holder that is stopped. A holder that is only preempted costs a page given back to
// the allocator (and allocated again by a later refill), where a blocking lock would have waited.
bool reclaimer::recycle(std::size_t i, void* page, patience::kind& k) noexcept {
  const auto pool_lock = lock_pool(i, k);
  return pool_lock.owns_lock() && slots_[i].pool.put(page);
}

bool reclaimer::refill_put(std::size_t i, void* page, patience::kind& k) noexcept {
  const auto pool_lock = lock_pool(i, k);
  if (!pool_lock.owns_lock()) return false;
  // relaxed: ordered by the pool lock after a shrink's store, when the shrink's drop took that
  // lock (see shrink()).
  if (!reached(clock_.now(), refill_resume_ms_.load(std::memory_order_relaxed))) return false;
  return slots_[i].pool.put(page);
}

bool reclaimer::retarget(std::size_t i, patience::kind& k) noexcept {
  const auto pool_lock = lock_pool(i, k);
  return pool_lock.owns_lock() && retarget_locked(i);
}

bool reclaimer::retarget_locked(std::size_t i) noexcept {
  return slots_[i].pool.retarget(clock_.now(), kPoolDecayMs,
                                 static_cast<std::uint32_t>(block::records_in(cfg_.page_size)));
}

void reclaimer::refill(std::size_t i, patience::kind& k) noexcept {
  page_pool& pool = slots_[i].pool;
  const std::size_t page_size = cfg_.page_size;
  // relaxed: a back-off hint shared by the reclaimers.
  if (!reached(clock_.now(), refill_resume_ms_.load(std::memory_order_relaxed))) return;
  // size() and target() are estimates here; put() decides, under the pool lock.
  while (pool.size() < pool.target()) {
    refill_attempts.add();
    RCUFREE_STOP_AT(refill_allocating);
    void* page = pages_.allocate(k, i);
    if (page == nullptr) {
      // Do not fight memory pressure: stop at the first failure and retry a drain_interval later.
      // relaxed: a hint.
      refill_resume_ms_.store(clock_.now() + drain_ms_, std::memory_order_relaxed);
      return;
    }
    // Fault the page in here, on the reclaimer, not on the first atomic caller that writes it.
    for (std::size_t off = 0; off < page_size; off += 4096)
      static_cast<volatile char*>(page)[off] = 0;
    if (!refill_put(i, page, k)) {  // full meanwhile (another refiller, recycled pages), shrunk,
                                    // or its lock held past `k`
      pages_.release(page);
      return;
    }
  }
}

void reclaimer::shrink() noexcept {
  const auto backoff = static_cast<std::uint32_t>(cfg_.refill_backoff_after_shrink.count());
  // The back-off before the drops, each of which takes its pool lock first: a refill that put a
  // page after that lock sees the back-off there (refill_put) and gives the page back, so no
  // refill in flight fills a pool this shrink emptied. (Set after the drops, it let a refill that
  // had looked before go on filling to the target.) relaxed: refill_put's load is ordered by the
  // pool lock; refill()'s early look is a hint. The exception: a slot whose pool lock a stopped
  // thread holds is dropped without it (drop_all_pages), and that thread's one put lands after.
  refill_resume_ms_.store(clock_.now() + backoff, std::memory_order_relaxed);
  drop_all_pages(patience::kind::brief);
  pages_.trim();  // the page arena's empty chunks back to the system
  shrinks.add();  // once done: stats.shrinks == n says n shrinks have given their pages back
}

void reclaimer::drop_all_pages(patience::kind k) noexcept {
  for (std::size_t i = 0; i < slot_count_; ++i) {
    // No reclaim lock: a pass holds it through its grace period, and the pool needs only the
    // slot flag (its consumer side) and the pool lock (its producer side).
    cpu_slot& s = slots_[i];
    patience wait = wait_on(i, k, "the slot's flag");
    const cpu_slot::entry entered = s.enter(wait);
    if (!entered) {
      gave_up_on(i, slot_patience(i, k));
      continue;
    }
    RCUFREE_STOP_AT(pages_dropping);
    // The pool lock orders this drop after every refill_put() before it (shrink()'s back-off)
    // and guards the target. The drop itself needs only the flag (the ring is single-producer
    // single-consumer): if a thread stopped inside a pool-lock hold keeps the lock (or, in a fork
    // child, a parent thread that held it at the fork and is gone), the pages go back all the
    // same. Then the target stays as it was, and that thread's one put, if it ever goes on, lands
    // after the drop; its later refills see the back-off (refill()'s look).
    patience::kind k_pool = patience::kind::brief;
    if (const auto pool_lock = lock_pool(i, k_pool); pool_lock.owns_lock()) {
      s.pool.reset_target();
    }
    release_pages_over(s, 0);
    s.leave(entered);
  }
}

void reclaimer::release_pages_over(cpu_slot& s, std::size_t keep) noexcept {
  while (s.pool.size() > keep) {
    void* page = s.pool.drop();
    if (page == nullptr) break;
    pages_.release(page);
  }
}

}  // namespace rcufree::detail
