// SPDX-License-Identifier: MIT
// reclaimer.cpp — take, wait, free, restock: see reclaimer.hpp.
#include "reclaimer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <thread>

#include "coarse_clock.hpp"
#include "misuse.hpp"
#include "patience.hpp"

namespace rcufree::detail {
namespace {

// How long ago a block was opened, from its opened_ms: the slot's last take before it opened
// (cpu_slot::taken_ms), which after a long quiet spell may be so old that the 32-bit difference
// wraps (24.8 days) and the stamp looks ahead of now. The engine's clock steps back by far less
// than kStampAheadMs (a ticking thread preempted between its read and its store), so a stamp
// further ahead counts as older than any interval: the block is drained, not kept for weeks.
std::uint32_t opened_age(std::uint32_t now, std::uint32_t opened_ms) noexcept {
  constexpr std::int32_t kStampAheadMs = 1000;
  constexpr auto kAncient = static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max());
  return static_cast<std::int32_t>(now - opened_ms) < -kStampAheadMs ? kAncient
                                                                     : age(now, opened_ms);
}

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
  const reclaimer* owner;
  const deleter_frame* outer;
};
thread_local const deleter_frame* t_deleters = nullptr;

}  // namespace

patience::kind reclaimer::slot_patience(std::size_t i, patience::kind k) const noexcept {
  // A teardown that gave up on this slot once does not wait for it again, whatever waits next
  // (none stays none: a single try is shorter still). relaxed: see slot_state::left_behind.
  if (k == patience::kind::none) return k;
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

bool reclaimer::running_deleters_of(const reclaimer* r) noexcept {
  for (const deleter_frame* f = t_deleters; f != nullptr; f = f->outer) {
    if (f->owner == r) return true;
  }
  return false;
}

std::uint64_t reclaimer::abandoned() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < slot_count_; ++i) n += state_[i].abandoned.get();
  return n;
}

reclaimer::reclaimer(const reclaim_inputs& in)
    : cfg_(in.cfg),
      slots_(in.slots),
      slot_count_(in.slots.size()),
      drain_ms_(static_cast<std::uint32_t>(in.cfg.drain_interval.count())),
      tick_ms_(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(in.cfg.worker_tick).count())),
      gp_(in.gp),
      clock_(in.clock),
      pages_(in.pages),
      debug_(in.debug),
      state_(std::make_unique<slot_state[]>(in.slots.size())) {}

std::uint64_t reclaimer::pending_of(std::size_t i) const noexcept {
  // Freed first: every free follows its queueing, so handed_over read later is >= it.
  const std::uint64_t out = state_[i].freed.get() + state_[i].abandoned.get();
  const std::uint64_t in = slots_[i].handed_over();
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
  const std::uint32_t now = clock_.now();
  reclaim_batch batch;
  batch.policy = &p;
  report_pending(i, pending_of(i));
  take_open_block(i, p, batch, now);
  const std::uint32_t oldest = take_closed_blocks(i, batch, now);
  take_fallback_list(i, p, batch, now);
  if (!batch.empty()) {
    RCUFREE_STOP_AT(pass_took_work);
    drains.add();
    oldest_pending_ms.store(oldest, std::memory_order_relaxed);  // relaxed: statistic
  }
  return batch;
}

// 1. The open block, under the slot flag, closed onto the closed list as the policy says. A pass
//    that waits for age visits it only if the slot queued something since a pass last left it
//    with no open block.
void reclaimer::take_open_block(std::size_t i, const reclaim_policy& p, reclaim_batch& batch,
                                std::uint32_t now) noexcept {
  cpu_slot& s = slots_[i];
  slot_state& st = state_[i];
  if (p.open_block == when::never) return;
  if (p.open_block == when::due && s.queued() == st.open_seen) return;
  // A flush must be exact, so it waits for the flag; other passes come back later (the holder may
  // be stopped for good: a debugger, a signal handler that never returns).
  patience wait = wait_on(i, p.wait, "the slot's flag");
  const cpu_slot::entry entered = s.enter(wait);
  if (!entered) {
    gave_up_on(i, p.wait);
    return;
  }
  RCUFREE_STOP_AT(pass_holds_slot_flag);
  bool left_open = false;
  if (const block* o = s.head.open) {
    if (takes_open_block(p.open_block, opened_age(now, o->opened_ms), drain_ms_, tick_ms_)) {
      s.close_locked();
    } else {
      left_open = true;
      batch.next_due_ms = o->opened_ms + drain_ms_;
    }
  }
  st.open_seen = left_open ? ~std::uint64_t{0} : s.queued();
  s.leave(entered);
}

// 2. The closed blocks, after the open block's busy section: blocks are closed only under the
//    slot flag, so this catches every close that happened before (barrier exactness). Where an
//    earlier pass stopped at an unstored link, it resumes there first, and takes the list again
//    only once that chain is done (one stalled block chain per slot at most). Returns the age of
//    the oldest block taken.
//    Cookies are stamped here, not by the page switch: a snapshot taken after the take covers
//    every block taken. An object's unlink happened before its kfree_rcu call, which happened
//    before its block's push (S1, release), which the take (S3, acquire) synchronizes with; so the
//    unlink happens before the snapshot's fence (G1), and a grace period that starts after that
//    (G2) waits for every reader that may still see the object (the fallback list's cookie, below,
//    and liburcu's own call_rcu thread, which takes callbacks and then calls synchronize_rcu, rest
//    on the same argument). It is conservative: the sequence never goes back, so it is at least
//    the snapshot the switch could have taken before its push. A stalled chain was taken by an
//    earlier pass, ordered before this one by the reclaim lock: a snapshot taken now covers it
//    too. The cost: a block no longer arrives with a cookie a grace period run meanwhile has
//    already passed (blocks_expired_on_arrival counts only a fork child's inheritance now).
std::uint32_t reclaimer::take_closed_blocks(std::size_t i, reclaim_batch& batch,
                                            std::uint32_t now) noexcept {
  slot_state& st = state_[i];
  std::uint32_t oldest = 0;
  if (st.closed_stalled != nullptr) {
    st.closed_stalled = collect_blocks(i, st.closed_stalled, gp_.snapshot(), batch, now, oldest);
  }
  if (st.closed_stalled == nullptr) {
    cpu_slot& s = slots_[i];
    if (block* taken = s.closed.take_all()) {  // (S3) inside take_all
      st.closed_stalled = collect_blocks(i, taken, gp_.snapshot(), batch, now, oldest);
    }
    // relaxed: a hint for the page switch (cpu_slot::taken_ms), on the line just taken. Written
    // only when it changed, so that an idle slot's line is not dirtied by every look.
    if (s.taken_ms.load(std::memory_order_relaxed) != now) {
      s.taken_ms.store(now, std::memory_order_relaxed);
    }
  }
  return oldest;
}

// 3. The fallback list, as the policy says; its cookie is taken after the list, so every unlink
//    before a push is covered. A chain an earlier pass left at an unstored link goes first. A new
//    list is taken only when there is none, or, for an exact flush, once that chain is linked to
//    its end (the flush waits for its pushers, as its patience allows). So finish() can only ever
//    leave the one chain it walks last stopped at a missing link: a slot never has more than one
//    stalled chain.
void reclaimer::take_fallback_list(std::size_t i, const reclaim_policy& p, reclaim_batch& batch,
                                   std::uint32_t now) noexcept {
  cpu_slot& s = slots_[i];
  slot_state& st = state_[i];
  batch.resumed = st.fallback_stalled;
  st.fallback_stalled = nullptr;
  bool list_may_be_taken = batch.resumed == nullptr;
  if (!list_may_be_taken && p.exact) {
    patience wait = wait_on(i, p.wait, "a fallback-list link its pusher has not stored");
    list_may_be_taken = fallback_list::linked_to_end(batch.resumed, [&] { return wait.again(); });
    if (!list_may_be_taken) gave_up_on(i, p.wait);
  }
  if (p.fallback_list == when::never || !list_may_be_taken || s.fallback.empty()) return;
  const std::uint64_t queued_fb = s.fallback_queued.get();
  if (st.fallback_since == kNeverMs) st.fallback_since = now;
  if (!takes_fallback_list(p.fallback_list, queued_fb - st.fallback_taken,
                           block::records_in(cfg_.page_size), age(now, st.fallback_since),
                           drain_ms_, tick_ms_)) {
    batch.next_due_ms = std::min(batch.next_due_ms, st.fallback_since + drain_ms_);
    return;
  }
  batch.fallback = s.fallback.take_all();
  st.fallback_taken = queued_fb;
  st.fallback_since = kNeverMs;
  if (batch.fallback != nullptr) batch.cookie = std::max(batch.cookie, gp_.snapshot());
}

std::uint64_t reclaimer::finish(std::size_t i, reclaim_batch& batch) noexcept {
  slot_state& st = state_[i];
  std::uint64_t n = 0;
  const deleter_frame frame{this, t_deleters};
  t_deleters = &frame;
  if (!batch.empty()) RCUFREE_STOP_AT(pass_freeing);
  patience::kind pool_wait = patience::kind::brief;  // recycle() turns it to none on a give-up
  for (block* b = batch.blocks; b != nullptr;) {
    // relaxed: the chain is private to this thread.
    block* next = b->next.load(std::memory_order_relaxed);
#ifdef RCUFREE_DEBUG
    b->for_each_run([&](const reclaim_kind&, void* const* objs, std::uint32_t count) {
      for (std::uint32_t k = 0; k < count; ++k) debug_->on_free(objs[k]);
    });
#endif
    b->for_each_run([&](const reclaim_kind& kind, void* const* objs, std::uint32_t count) {
      free_run(kind, objs, count);
    });
    n += b->objects;
    st.retired.add();
    b->~block();
    RCUFREE_STOP_AT(page_recycled);
    // Emptied pages go back to their own CPU's pool (this slot's: blocks never change slot).
    if (!recycle(i, b, pool_wait)) pages_.release(b);
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
        *chain, debug_, n, next,
        [&](const reclaim_kind& kind, void* object) { free_run(kind, &object, 1); });
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
    gp_.wait_until(batch.cookie);  // shared with every other reclaimer waiting meanwhile
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

block* reclaimer::collect_blocks(std::size_t i, block* chain, std::uint64_t cookie,
                                 reclaim_batch& batch, std::uint32_t now,
                                 std::uint32_t& oldest) noexcept {
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
    oldest = std::max(oldest, opened_age(now, chain->opened_ms));
    // The take's cookie, or the block's own if smaller: block::kUnstamped unless a fork child
    // found it past its grace period (0).
    const std::uint64_t c = std::min(cookie, chain->cookie);
    if (gp_.expired(c)) {
      expired_on_arrival.add();
    } else {
      batch.cookie = std::max(batch.cookie, c);
    }
    link_front(batch.blocks, chain);
    chain = next;
  }
  return nullptr;
}

bool reclaimer::flush_all(flush_scratch& scratch, const reclaim_policy& p) noexcept {
  std::uint64_t cookie = 0;
  bool any = false;
  for (std::size_t i = 0; i < slot_count_; ++i) {
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
    gp_.wait_until(cookie);
    RCUFREE_STOP_AT(flush_before_free);
  }
  for (std::size_t i = 0; i < slot_count_; ++i) {
    if (!scratch.locks[i].owns_lock()) continue;
    if (!scratch.batches[i].empty()) freed += finish(i, scratch.batches[i]);
    scratch.locks[i].unlock();
  }
  // Progress, not a non-empty batch: a chain left at a link a stopped thread never stores is
  // handed back by every take, and must not keep a teardown looping.
  return freed != 0;
}

void reclaimer::free_run(const reclaim_kind& kind, void* const* objects, std::size_t n) noexcept {
  if (kind.free_batch == &detail::free_batch && cfg_.free_bulk) {
    cfg_.free_bulk(objects, n);  // the std::free kind, through the engine's bulk hook
  } else if (kind.free_batch != nullptr) {
    kind.free_batch(objects, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) kind.free_each(objects[i]);
  }
}

void reclaimer::free_after_grace_period(const reclaim_kind& kind, void* object) noexcept {
  gp_.synchronize();
#ifdef RCUFREE_DEBUG
  debug_->on_free(object);
#endif
  free_run(kind, &object, 1);
  inline_frees.add();  // counted queued and freed at once
}

std::uint64_t reclaimer::pending_total() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < slot_count_; ++i) n += pending_of(i);
  return n;
}

// The std::free kind (engine.hpp): declared beside reclaim_kind, run here with every other kind.
void free_batch(void* const* objects, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) std::free(objects[i]);
}

}  // namespace rcufree::detail
