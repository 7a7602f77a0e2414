// SPDX-License-Identifier: MIT
// restock.cpp — a reclaimer's last step, on the producer side of its slot's page pool: retarget
// the pool to demand, refill it from the page source, trim it; and shrink(), which gives every
// pool's pages back (reclaimer.hpp has the contracts, page_pool.hpp the pool's invariants).
#include "reclaimer.hpp"

namespace rcufree::detail {
namespace {

// A pool's target drops by one step after this long with no page taken from it.
constexpr std::uint32_t kPoolDecayMs = 1000;

}  // namespace

bool reclaimer::restock(std::size_t i) noexcept {
  cpu_slot& s = slots_[i];
  const std::uint32_t now = clock_.now();
  const bool ran_dry = s.pool.retarget(
      now, kPoolDecayMs, static_cast<std::uint32_t>(block::records_in(cfg_.page_size)));
  // relaxed: a back-off hint shared by the reclaimers.
  if (reached(now, refill_resume_ms_.load(std::memory_order_relaxed))) refill(i);
  // Pages over a lowered target go back (consumer side: only if the flag is free right now).
  if (s.pool.size() > s.pool.target()) {
    if (const cpu_slot::entry e = s.try_enter()) {
      release_pages_over(s, s.pool.target());
      s.leave(e);
    }
  }
  return ran_dry;
}

void reclaimer::refill(std::size_t i) noexcept {
  page_pool& pool = slots_[i].pool;
  const std::size_t page_size = cfg_.page_size;
  while (pool.size() < pool.target()) {
    refill_attempts.add();
    RCUFREE_STOP_AT(refill_allocating);
    void* page = pages_.allocate();
    if (page == nullptr) {
      // Do not fight memory pressure: stop at the first failure and retry a drain_interval later.
      // relaxed: a hint.
      refill_resume_ms_.store(clock_.now() + drain_ms_, std::memory_order_relaxed);
      return;
    }
    // Fault the page in here, on the reclaimer, not on the first atomic caller that writes it.
    for (std::size_t off = 0; off < page_size; off += 4096)
      static_cast<volatile char*>(page)[off] = 0;
    if (!pool.put(page)) {
      pages_.release(page);
      return;
    }
  }
}

void reclaimer::shrink() noexcept {
  shrinks.add();
  drop_all_pages(patience::kind::brief);
  const auto backoff = static_cast<std::uint32_t>(cfg_.refill_backoff_after_shrink.count());
  // relaxed: a hint read by restock().
  refill_resume_ms_.store(clock_.now() + backoff, std::memory_order_relaxed);
}

void reclaimer::drop_all_pages(patience::kind k) noexcept {
  for (std::size_t i = 0; i < slot_count_; ++i) {
    const auto lock = lock_slot(i, k);
    if (!lock.owns_lock()) continue;
    cpu_slot& s = slots_[i];
    patience wait = wait_on(i, k, "the slot's flag");
    const cpu_slot::entry entered = s.enter(wait);
    if (!entered) {
      gave_up_on(i, slot_patience(i, k));
      continue;
    }
    RCUFREE_STOP_AT(pages_dropping);
    release_pages_over(s, 0);
    s.pool.reset_target();
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
