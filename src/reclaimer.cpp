// reclaimer.cpp — take, wait, free, restock: see reclaimer.hpp.
#include "reclaimer.hpp"

#include <algorithm>
#include <climits>
#include <new>

#include "engine_core.hpp"

namespace rcufree::detail {
namespace {

// A page's pool target drops by one after this long with no page taken from it.
constexpr std::uint32_t kPoolDecayMs = 1000;

// Chains a block onto a reclaimer-private list.
void link_front(block*& head, block* b) noexcept {
  // relaxed: the block is private to the reclaimer now.
  b->next.store(head, std::memory_order_relaxed);
  head = b;
}

// Engine times are a wrapping 32-bit millisecond clock: compare through the difference.
bool reached(std::uint32_t now, std::uint32_t when) noexcept {
  return static_cast<std::int32_t>(now - when) >= 0;
}

thread_local const engine_core* t_running_deleters = nullptr;

}  // namespace

bool reclaimer::running_deleters_of(const engine_core* core) noexcept {
  return t_running_deleters == core;
}

void reclaimer::reset_in_child() noexcept {
  for (std::size_t i = 0; i < core_.slot_count; ++i) new (&state_[i].mu) std::mutex();
}

reclaimer::reclaimer(engine_core& core)
    : core_(core), state_(std::make_unique<slot_state[]>(core.slot_count)) {}

std::uint64_t reclaimer::pending_of(std::size_t i) const noexcept {
  // Freed first: every free follows its queueing, so handed_over read later is >= it.
  const std::uint64_t out = state_[i].freed.get();
  const std::uint64_t in = core_.slots[i].handed_over();
  return in > out ? in - out : 0;
}

void reclaimer::report_pending(std::size_t i, std::uint64_t now_pending) noexcept {
  slot_state& st = state_[i];
  // relaxed: statistics; written only under the slot's reclaim lock.
  pending_.add(now_pending - st.reported_pending.load(std::memory_order_relaxed));  // wrapping
  st.reported_pending.store(now_pending, std::memory_order_relaxed);
  peak_.observe(pending_.get());
}

reclaim_batch reclaimer::take(std::size_t i, reclaim_scope scope) noexcept {
  cpu_slot& s = core_.slots[i];
  slot_state& st = state_[i];
  const grace_period& gp = core_.gp;
  const bool flush = scope == reclaim_scope::everything;
  const bool all = flush || scope == reclaim_scope::expedited;
  const std::uint32_t now = core_.now_ms();
  const auto drain_ms = static_cast<std::uint32_t>(core_.cfg.drain_interval.count());
  const auto tick_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(core_.cfg.worker_tick).count());
  reclaim_batch batch;
  st.next_due_ms = kNever;
  report_pending(i, pending_of(i));

  // 1. The open block, under the busy flag: closed (onto the closed list) once it has aged
  //    past drain_interval, or at once for a flush. Visited only if the slot queued something
  //    since the last pass left it with no open block.
  if (all || scope == reclaim_scope::periodic) {
    if (all || s.queued.get() != st.open_seen) {
      // A flush must be exact, so it waits for the flag; other passes come back later (the
      // holder may be stopped for good: a debugger, a signal handler that never returns).
      if (s.enter_waiting(flush ? UINT_MAX : 16)) {
        bool left_open = false;
        if (const block* o = s.open) {
          if (all || now - std::min(now, o->opened_ms) + tick_ms >= drain_ms) {
            s.close_locked(gp);
          } else {
            left_open = true;
            st.next_due_ms = o->opened_ms + drain_ms;
          }
        }
        st.open_seen = left_open ? ~std::uint64_t{0} : s.queued.get();
        s.leave();
      }
    }
  }

  // 2. Closed blocks, after the busy section: blocks are closed only under the busy flag, so
  //    this catches every close that happened before (barrier exactness).
  std::uint32_t oldest = 0;
  for (block* b = s.closed.take_all(); b != nullptr;) {
    block* next = block_stack::next(b);
    oldest = std::max(oldest, now - std::min(now, b->opened_ms));
    if (gp.expired(b->cookie)) {
      expired_on_arrival.add();
    } else {
      batch.cookie = std::max(batch.cookie, b->cookie);
    }
    link_front(batch.blocks, b);
    b = next;
  }

  // 3. The fallback list: taken once it has waited drain_interval, like an open block, or at
  //    once when it holds a page's worth of objects (the flood rule), for a flush, or for
  //    reclaim_local(). Its cookie is taken after the list: every unlink before a push is covered.
  if (scope != reclaim_scope::caller_closed && !s.fallback.empty()) {
    const std::uint64_t queued_fb = s.fallback_queued.get();
    if (st.fallback_since == kNever) st.fallback_since = now;
    const bool due = all || scope == reclaim_scope::caller_all ||
                     queued_fb - st.fallback_taken >= block::records_in(core_.cfg.page_size) ||
                     now - std::min(now, st.fallback_since) + tick_ms >= drain_ms;
    if (due) {
      batch.fallback = s.fallback.take_all();
      st.fallback_taken = queued_fb;
      st.fallback_since = kNever;
      if (batch.fallback != nullptr) batch.cookie = std::max(batch.cookie, gp.snapshot());
    } else {
      st.next_due_ms = std::min(st.next_due_ms, st.fallback_since + drain_ms);
    }
  }
  if (!batch.empty()) {
    drains.add();
    oldest_pending_ms.store(oldest, std::memory_order_relaxed);  // relaxed: statistic
  }
  return batch;
}

std::uint64_t reclaimer::finish(std::size_t i, reclaim_batch& batch) noexcept {
  cpu_slot& s = core_.slots[i];
  slot_state& st = state_[i];
  std::uint64_t n = 0;
  const engine_core* outer = t_running_deleters;
  t_running_deleters = &core_;
  for (block* b = batch.blocks; b != nullptr;) {
    // relaxed: the chain is private to this thread.
    block* next = b->next.load(std::memory_order_relaxed);
#ifdef RCUFREE_DEBUG
    b->for_each_run([&](const reclaim_kind&, void* const* objs, std::uint32_t count) {
      for (std::uint32_t k = 0; k < count; ++k) core_.debug->on_free(objs[k]);
    });
#endif
    b->free_records();
    n += b->objects;
    st.retired.add();
    b->~block();
    // Emptied pages go back to their own CPU's pool (this slot's: blocks never change slot).
    if (!s.pool.put(b)) core_.release_page(b);
    b = next;
  }
  batch.blocks = nullptr;
  if (batch.fallback != nullptr) {
    n += fallback_list::free_chain(batch.fallback, core_.debug.get());
    batch.fallback = nullptr;
  }
  t_running_deleters = outer;
  st.freed.add(n);
  report_pending(i, pending_of(i));
  return n;
}

pass_result reclaimer::pass(std::size_t i, reclaim_scope scope) noexcept {
  pass_result r;
  reclaim_batch batch = take(i, scope);
  r.found = !batch.empty();
  if (r.found) {
    core_.gp.wait_until(batch.cookie);  // shared with every other reclaimer waiting meanwhile
    r.freed = finish(i, batch);
  }
  if (scope == reclaim_scope::periodic || scope == reclaim_scope::expedited) {
    r.ran_dry = restock(i);
  }
  r.pending = pending_of(i) != 0;
  r.next_due_ms = state_[i].next_due_ms;
  return r;
}

bool reclaimer::flush_all(reclaim_batch* scratch) noexcept {
  std::uint64_t cookie = 0;
  bool any = false;
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    std::lock_guard<std::mutex> lock(state_[i].mu);
    scratch[i] = take(i, reclaim_scope::everything);
    cookie = std::max(cookie, scratch[i].cookie);
    any = any || !scratch[i].empty();
  }
  if (!any) return false;
  core_.gp.wait_until(cookie);
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    if (scratch[i].empty()) continue;
    std::lock_guard<std::mutex> lock(state_[i].mu);
    finish(i, scratch[i]);
  }
  return true;
}

bool reclaimer::restock(std::size_t i) noexcept {
  cpu_slot& s = core_.slots[i];
  const std::uint32_t now = core_.now_ms();
  const bool ran_dry = s.pool.retarget(
      now, kPoolDecayMs, static_cast<std::uint32_t>(block::records_in(core_.cfg.page_size)));
  // relaxed: a back-off hint shared by the reclaimers.
  if (reached(now, refill_resume_ms.load(std::memory_order_relaxed))) refill(i);
  // Pages over a lowered target go back (consumer side: only if the flag is free right now).
  if (s.pool.size() > s.pool.target() && s.try_enter()) {
    while (s.pool.size() > s.pool.target()) {
      void* page = s.pool.drop();
      if (page == nullptr) break;
      core_.release_page(page);
    }
    s.leave();
  }
  return ran_dry;
}

void reclaimer::refill(std::size_t i) noexcept {
  page_pool& pool = core_.slots[i].pool;
  const std::size_t page_size = core_.cfg.page_size;
  while (pool.size() < pool.target()) {
    refill_attempts.add();
    void* page = core_.allocate_page();
    if (page == nullptr) {
      // Do not fight memory pressure: stop at the first failure and retry a drain_interval later.
      const auto drain_ms = static_cast<std::uint32_t>(core_.cfg.drain_interval.count());
      // relaxed: a hint.
      refill_resume_ms.store(core_.now_ms() + drain_ms, std::memory_order_relaxed);
      return;
    }
    // Fault the page in here, on the reclaimer, not on the first atomic caller that writes it.
    for (std::size_t off = 0; off < page_size; off += 4096)
      static_cast<volatile char*>(page)[off] = 0;
    if (!pool.put(page)) {
      core_.release_page(page);
      return;
    }
  }
}

bool reclaimer::drop_pages(std::size_t i) noexcept {
  cpu_slot& s = core_.slots[i];
  if (!s.enter_waiting(64)) return false;
  while (void* page = s.pool.drop()) core_.release_page(page);
  s.pool.reset_target();
  s.leave();
  return true;
}

}  // namespace rcufree::detail
