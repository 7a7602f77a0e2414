// SPDX-License-Identifier: MIT
// reclaimer.cpp — take, wait, free, restock: see reclaimer.hpp.
#include "reclaimer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>
#include <thread>

#include "coarse_clock.hpp"
#include "engine_core.hpp"
#include "misuse.hpp"
#include "patience.hpp"

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

// The engines whose deleters this thread is running, innermost first. A deleter may call into
// another engine, whose pass runs deleters of its own (a head-less call helping, say), and one of
// those may call back into an engine further out: each finish() links a frame on its own stack.
struct deleter_frame {
  const engine_core* core;
  const deleter_frame* outer;
};
thread_local const deleter_frame* t_deleters = nullptr;

}  // namespace

patience::kind reclaimer::slot_patience(std::size_t i, patience::kind k) const noexcept {
  // A teardown that gave up on this slot once does not wait for it again, whatever waits next.
  // relaxed: see slot_state::left_behind.
  return state_[i].left_behind.load(std::memory_order_relaxed) ? patience::kind::brief : k;
}

void reclaimer::gave_up_on(std::size_t i, patience::kind k) noexcept {
  // relaxed: see slot_state::left_behind.
  if (k == patience::kind::teardown) state_[i].left_behind.store(true, std::memory_order_relaxed);
}

std::unique_lock<std::mutex> reclaimer::lock_slot(std::size_t i, patience::kind k) noexcept {
  std::unique_lock<std::mutex> lock(state_[i].mu, std::try_to_lock);
  if (lock.owns_lock()) return lock;
  k = slot_patience(i, k);
  patience wait = wait_on(i, k, "the reclaim lock");
  while (!lock.try_lock()) {
    if (!wait.again()) {
      gave_up_on(i, k);
      break;
    }
  }
  return lock;
}

bool reclaimer::running_deleters_of(const engine_core* core) noexcept {
  for (const deleter_frame* f = t_deleters; f != nullptr; f = f->outer) {
    if (f->core == core) return true;
  }
  return false;
}

std::uint64_t reclaimer::abandoned() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < core_.slot_count; ++i) n += state_[i].abandoned.get();
  return n;
}

void reclaimer::adopt_in_child(bool need_grace_period) noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    slot_state& st = state_[i];
    // The lock still held: its holder, a reclaimer that had not parked within the fork handler's
    // patience (workers::prepare_fork), was between steps on this state. Nothing it kept is
    // trusted; the count below calls it abandoned.
    if (!st.mu.try_lock()) {
      st.closed_stalled = nullptr;
      st.fallback_stalled = nullptr;
    }
    new (&st.mu) std::mutex();
    auto [kept, taken, past_grace] = core_.slots[i].adopt_in_child(need_grace_period, core_.gp);
    // Closed blocks: this slot's stalled chain, then the list the slot handed over, joined.
    block* head = st.closed_stalled;
    if (block* tail = block_stack::cut_at_missing_link(head)) {
      tail->next.store(taken, std::memory_order_relaxed);  // relaxed: single-threaded here
    } else {
      head = taken;
    }
    st.closed_stalled = head;  // all links stored now: the next pass walks it through
    for (block* b = head; b != nullptr; b = block_stack::try_next(b)) {
      kept += b->objects;
      if (!need_grace_period) b->cookie = 0;  // expired: freed without a grace period here
    }
    // The fallback chain an earlier pass took (past its grace period), cut likewise, then the
    // slot's list when it needs no grace period either.
    if (rcu_head* tail = fallback_list::stack::cut_at_missing_link(st.fallback_stalled)) {
      fallback_list::stack::link(tail, past_grace);
    } else {
      st.fallback_stalled = past_grace;
    }
    kept += fallback_list::length(st.fallback_stalled);
    // What the counters say is pending but no list holds any more (also the work a parent
    // thread had taken for itself, as in reclaim_local(), at the fork) is abandoned.
    const std::uint64_t pending = pending_of(i);
    if (pending > kept) {
      st.abandoned.add(pending - kept);
      total += pending - kept;
    }
  }
  if (total != 0) {
    std::fprintf(stderr,
                 "rcufree: in this fork child, %llu objects that other threads of the parent were "
                 "queueing or freeing at the fork are not freed (their state may be half "
                 "written); the parent frees its own copies\n",
                 static_cast<unsigned long long>(total));
  }
}

reclaimer::reclaimer(engine_core& core)
    : core_(core), state_(std::make_unique<slot_state[]>(core.slot_count)) {}

std::uint64_t reclaimer::pending_of(std::size_t i) const noexcept {
  // Freed first: every free follows its queueing, so handed_over read later is >= it.
  const std::uint64_t out = state_[i].freed.get() + state_[i].abandoned.get();
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

reclaim_batch reclaimer::take(std::size_t i, const reclaim_policy& p) noexcept {
  cpu_slot& s = core_.slots[i];
  slot_state& st = state_[i];
  const grace_period& gp = core_.gp;
  const std::uint32_t now = core_.now_ms();
  const auto drain_ms = static_cast<std::uint32_t>(core_.cfg.drain_interval.count());
  const auto tick_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(core_.cfg.worker_tick).count());
  reclaim_batch batch;
  batch.policy = &p;
  report_pending(i, pending_of(i));

  // 1. The open block, under the slot flag, closed onto the closed list as the policy says.
  //    A pass that waits for age visits it only if the slot queued something since a pass last
  //    left it with no open block.
  if (p.open_block == when::now || (p.open_block == when::due && s.queued() != st.open_seen)) {
    // A flush must be exact, so it waits for the flag; other passes come back later (the holder
    // may be stopped for good: a debugger, a signal handler that never returns).
    patience wait = wait_on(i, p.wait, "the slot's flag");
    const cpu_slot::entry entered = s.enter(wait);
    if (!entered) gave_up_on(i, p.wait);
    if (entered) {
      RCUFREE_STOP_AT(pass_holds_slot_flag);
      bool left_open = false;
      if (const block* o = s.head.open) {
        if (takes_open_block(p.open_block, age(now, o->opened_ms), drain_ms, tick_ms)) {
          s.close_locked(gp);
        } else {
          left_open = true;
          batch.next_due_ms = o->opened_ms + drain_ms;
        }
      }
      st.open_seen = left_open ? ~std::uint64_t{0} : s.queued();
      s.leave(entered);
    }
  }

  // 2. Closed blocks, after the busy section: blocks are closed only under the slot flag, so
  //    this catches every close that happened before (barrier exactness).
  //    Where an earlier pass stopped at an unstored link, it resumes there first, and takes the
  //    list again only once that chain is done (one stalled chain per slot at most).
  std::uint32_t oldest = 0;
  if (st.closed_stalled != nullptr) {
    st.closed_stalled = collect_blocks(i, st.closed_stalled, batch, now, oldest);
  }
  if (st.closed_stalled == nullptr) {
    st.closed_stalled = collect_blocks(i, s.closed.take_all(), batch, now, oldest);
  }

  // 3. The fallback list: taken once it has waited drain_interval, like an open block, or at
  //    once when it holds a page's worth of objects (the flood rule), for a flush, or for
  //    reclaim_local(). Its cookie is taken after the list: every unlink before a push is covered.
  //    A chain an earlier pass left at an unstored link goes first. A new list is taken only when
  //    there is none, or, for a flush, once that chain is linked to its end (the flush waits for
  //    its pushers, as its patience allows). So finish() can only ever leave the one chain it
  //    walks last stopped at a missing link: a slot never has more than one stalled chain.
  batch.resumed = st.fallback_stalled;
  st.fallback_stalled = nullptr;
  bool list_may_be_taken = batch.resumed == nullptr;
  if (!list_may_be_taken && p.exact) {
    patience wait = wait_on(i, p.wait, "a fallback-list link its pusher has not stored");
    list_may_be_taken = fallback_list::linked_to_end(batch.resumed, [&] { return wait.again(); });
    if (!list_may_be_taken) gave_up_on(i, p.wait);
  }
  if (p.fallback_list != when::never && list_may_be_taken && !s.fallback.empty()) {
    const std::uint64_t queued_fb = s.fallback_queued.get();
    if (st.fallback_since == kNeverMs) st.fallback_since = now;
    if (takes_fallback_list(p.fallback_list, queued_fb - st.fallback_taken,
                            block::records_in(core_.cfg.page_size), age(now, st.fallback_since),
                            drain_ms, tick_ms)) {
      batch.fallback = s.fallback.take_all();
      st.fallback_taken = queued_fb;
      st.fallback_since = kNeverMs;
      if (batch.fallback != nullptr) batch.cookie = std::max(batch.cookie, gp.snapshot());
    } else {
      batch.next_due_ms = std::min(batch.next_due_ms, st.fallback_since + drain_ms);
    }
  }
  if (!batch.empty()) {
    RCUFREE_STOP_AT(pass_took_work);
    drains.add();
    oldest_pending_ms.store(oldest, std::memory_order_relaxed);  // relaxed: statistic
  }
  return batch;
}

std::uint64_t reclaimer::finish(std::size_t i, reclaim_batch& batch) noexcept {
  cpu_slot& s = core_.slots[i];
  slot_state& st = state_[i];
  std::uint64_t n = 0;
  const deleter_frame frame{&core_, t_deleters};
  t_deleters = &frame;
  if (!batch.empty()) RCUFREE_STOP_AT(pass_freeing);
  for (block* b = batch.blocks; b != nullptr;) {
    // relaxed: the chain is private to this thread.
    block* next = b->next.load(std::memory_order_relaxed);
#ifdef RCUFREE_DEBUG
    b->for_each_run([&](const reclaim_kind&, void* const* objs, std::uint32_t count) {
      for (std::uint32_t k = 0; k < count; ++k) core_.debug->on_free(objs[k]);
    });
#endif
    b->for_each_run([&](const reclaim_kind& kind, void* const* objs, std::uint32_t count) {
      core_.free_run(kind, objs, count);
    });
    n += b->objects;
    st.retired.add();
    b->~block();
    RCUFREE_STOP_AT(page_recycled);
    // Emptied pages go back to their own CPU's pool (this slot's: blocks never change slot).
    if (!s.pool.put(b)) core_.release_page(b);
    b = next;
  }
  batch.blocks = nullptr;
  // Fallback objects, the resumed chain first. A link its pusher has not stored yet stops the
  // walk (after the pass's patience): the rest waits in fallback_stalled for the next pass.
  const auto next = [&](rcu_head* h) {
    patience wait =
        wait_on(i, batch.policy->wait, "a fallback-list link its pusher has not stored");
    rcu_head* following;
    while ((following = fallback_list::stack::try_next(h)) ==
               fallback_list::stack::link_pending() &&
           wait.again()) {
    }
    return following;
  };
  for (rcu_head** chain : {&batch.resumed, &batch.fallback}) {
    if (*chain == nullptr) continue;
    rcu_head* stalled = fallback_list::free_chain(
        *chain, core_.debug.get(), n, next,
        [&](const reclaim_kind& kind, void* object) { core_.free_run(kind, &object, 1); });
    *chain = nullptr;
    if (stalled == nullptr) continue;
    gave_up_on(i, batch.policy->wait);
    // take() lets a pass hold a second chain only once the first is linked to its end, so at
    // most one of them stops here.
    if (st.fallback_stalled != nullptr) {
      RCUFREE_MISUSE_FATAL("internal error: two stalled fallback chains on one CPU slot");
    }
    st.fallback_stalled = stalled;
  }
  t_deleters = frame.outer;
  st.freed.add(n);
  report_pending(i, pending_of(i));
  return n;
}

pass_result reclaimer::pass(std::size_t i, const reclaim_policy& p) noexcept {
  pass_result r;
  reclaim_batch batch = take(i, p);
  if (!batch.empty()) {
    core_.gp.wait_until(batch.cookie);  // shared with every other reclaimer waiting meanwhile
    r.freed = finish(i, batch);
  }
  // Found work = freed something: a chain stopped at a link a stopped thread never stores does
  // not count, or its CPU thread would poll every tick for as long as that thread is stopped.
  r.found = r.freed != 0;
  if (p.restock) r.ran_dry = restock(i);
  r.pending = pending_of(i) != 0;
  r.next_due_ms = batch.next_due_ms;
  return r;
}

block* reclaimer::collect_blocks(std::size_t i, block* chain, reclaim_batch& batch,
                                 std::uint32_t now, std::uint32_t& oldest) noexcept {
  while (chain != nullptr) {
    patience wait = wait_on(i, batch.policy->wait, "a closed-list link its pusher has not stored");
    block* next;
    while ((next = block_stack::try_next(chain)) == block_stack::link_pending()) {
      // Its pusher will still write chain->next: the block must stay as it is until then.
      if (!wait.again()) {
        gave_up_on(i, batch.policy->wait);
        return chain;
      }
    }
    oldest = std::max(oldest, age(now, chain->opened_ms));
    if (core_.gp.expired(chain->cookie)) {
      expired_on_arrival.add();
    } else {
      batch.cookie = std::max(batch.cookie, chain->cookie);
    }
    link_front(batch.blocks, chain);
    chain = next;
  }
  return nullptr;
}

bool reclaimer::flush_all(flush_scratch& scratch, const reclaim_policy& p) noexcept {
  std::uint64_t cookie = 0;
  bool any = false;
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    reclaim_batch& batch = scratch.batches[i];
    batch = reclaim_batch{};
    scratch.locks[i] = lock_slot(i, p.wait);
    if (!scratch.locks[i].owns_lock()) continue;  // held by a thread that does not run: later
    batch = take(i, p);
    cookie = std::max(cookie, batch.cookie);
    any = any || !batch.empty();
  }
  std::uint64_t freed = 0;
  if (any) {
    RCUFREE_STOP_AT(flush_took_all);
    core_.gp.wait_until(cookie);
    RCUFREE_STOP_AT(flush_before_free);
  }
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    if (!scratch.locks[i].owns_lock()) continue;
    if (!scratch.batches[i].empty()) freed += finish(i, scratch.batches[i]);
    scratch.locks[i].unlock();
  }
  // Progress, not a non-empty batch: a chain left at a link a stopped thread never stores is
  // handed back by every take, and must not keep a teardown looping.
  return freed != 0;
}

bool reclaimer::restock(std::size_t i) noexcept {
  cpu_slot& s = core_.slots[i];
  const std::uint32_t now = core_.now_ms();
  const bool ran_dry = s.pool.retarget(
      now, kPoolDecayMs, static_cast<std::uint32_t>(block::records_in(core_.cfg.page_size)));
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
  page_pool& pool = core_.slots[i].pool;
  const std::size_t page_size = core_.cfg.page_size;
  while (pool.size() < pool.target()) {
    refill_attempts.add();
    RCUFREE_STOP_AT(refill_allocating);
    void* page = core_.allocate_page();
    if (page == nullptr) {
      // Do not fight memory pressure: stop at the first failure and retry a drain_interval later.
      const auto drain_ms = static_cast<std::uint32_t>(core_.cfg.drain_interval.count());
      // relaxed: a hint.
      refill_resume_ms_.store(core_.now_ms() + drain_ms, std::memory_order_relaxed);
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

void reclaimer::shrink() noexcept {
  drop_all_pages(patience::kind::brief);
  const auto backoff = static_cast<std::uint32_t>(core_.cfg.refill_backoff_after_shrink.count());
  // relaxed: a hint read by restock().
  refill_resume_ms_.store(core_.now_ms() + backoff, std::memory_order_relaxed);
}

void reclaimer::drop_all_pages(patience::kind k) noexcept {
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    const auto lock = lock_slot(i, k);
    if (!lock.owns_lock()) continue;
    cpu_slot& s = core_.slots[i];
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
    core_.release_page(page);
  }
}

}  // namespace rcufree::detail
