// SPDX-License-Identifier: MIT
// fork.cpp — engines across fork(): nothing lost in the parent; a child that does not use
// rcufree pays nothing and risks nothing, one that does gets a working engine.
//
// Like liburcu's call_rcu_before_fork()/after_fork_parent()/after_fork_child(), but registered
// with pthread_atfork() so that applications need not call anything:
//   prepare: every engine's supervisor and CPU threads park between passes (within a second: a
//            pass still running then goes on, and the child trusts nothing it held); then no
//            grace period may start, and one in progress is waited for (within a second; not at
//            all with liburcu-bp, whose urcu_bp_before_fork() may hold the lock it needs); last,
//            each engine's page arena lock (within a second);
//   parent:  unlock and resume;
//   child:   only the forking thread exists. Locks and condition variables are rebuilt, slot
//            flags that absent threads held are cleared, lists are cut at links never stored.
//            No thread starts and no grace period runs: the engine is dormant until the child
//            calls a sleepable rcufree function on it, which starts its supervisor. The objects
//            queued before the fork are the child's copies, freed by the child's engine once it
//            runs (its parent frees its own), without a grace period unless the forking thread
//            was inside a read-side critical section. A child that exits without using the
//            engine leaves them to its parent.
// Limit: an object another thread was pushing at the very instant of fork() may not be reached
// by the child (its link never completes there); the child's copy of it is then not freed.
#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <new>

#include "engine_core.hpp"
#include "pressure.hpp"

namespace rcufree::detail {
namespace {

// How long fork() waits for an engine's threads to park, and for a grace period in progress.
constexpr std::chrono::milliseconds kParkLimit{1000};
constexpr std::chrono::milliseconds kGraceLimit{1000};

// liburcu-bp's flavor table, if the program links liburcu-bp (weak: null otherwise).
extern "C" const struct rcu_flavor_struct urcu_bp_flavor __attribute__((weak));
bool is_bp(const rcu_flavor_struct* flavor) {
  return &urcu_bp_flavor != nullptr && flavor == &urcu_bp_flavor;
}

std::mutex g_registry_mu;
engine_core* g_registry = nullptr;
std::once_flag g_atfork_once;

// In two phases across all engines: every engine's threads park first, and only then is any
// engine's grace period held, so that a deleter on one engine's thread that needs another
// engine's grace period (a head-less inline free) finishes before its own engine is parked.
void prepare_all() {
  g_registry_mu.lock();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->park_for_fork();
  RCUFREE_STOP_AT(fork_engines_parked);
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->hold_grace_for_fork();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->hold_pages_for_fork();
  RCUFREE_STOP_AT(fork_prepared);
}
void parent_all() {
  RCUFREE_STOP_AT(fork_parent_resuming);
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->parent_after_fork();
  g_registry_mu.unlock();
}
void child_all() {
  new (&g_registry_mu) std::mutex();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->child_after_fork();
}

}  // namespace

std::unique_lock<std::mutex> hold_off_fork() {
  std::call_once(g_atfork_once, [] { pthread_atfork(prepare_all, parent_all, child_all); });
  return std::unique_lock<std::mutex>(g_registry_mu);
}

void register_engine(engine_core* e, const std::unique_lock<std::mutex>& held) {
  (void)held;  // the registry's mutex, from hold_off_fork()
  e->fork_next = g_registry;
  if (g_registry != nullptr) g_registry->fork_prev = e;
  g_registry = e;
}

void unregister_engine(engine_core* e) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (e->fork_prev != nullptr) e->fork_prev->fork_next = e->fork_next;
  if (e->fork_next != nullptr) e->fork_next->fork_prev = e->fork_prev;
  if (g_registry == e) g_registry = e->fork_next;
}

void engine_core::park_for_fork() {
  // Every thread parked between passes: none holds a slot, a reclaim lock or a grace period.
  threads.prepare_fork(kParkLimit);
}

void engine_core::hold_grace_for_fork() {
  // No grace period starts until after the fork; one in progress is waited for, as long as
  // that is safe: with liburcu-bp not at all (urcu_bp_before_fork() may hold the lock it needs).
  gp.lock_for_fork(is_bp(gp.flavor()) ? std::chrono::milliseconds(0) : kGraceLimit);
}

void engine_core::hold_pages_for_fork() {
  // The page arena's lock, so that the child finds its chunk lists whole (a user thread may be
  // allocating: a head-less call, reserve_pages). Within the park limit: a holder stopped inside
  // makes the child forget the arena's chunks instead (page_arena.hpp).
  if (page_arena* arena = pages.arena()) arena->lock_for_fork(kParkLimit);
}

void engine_core::parent_after_fork() {
  if (page_arena* arena = pages.arena()) arena->unlock_in_parent();
  gp.unlock_after_fork();
  threads.parent_after_fork();
}

void engine_core::child_after_fork() {
  const bool grace_period_was_running = gp.reset_in_child();
  if (page_arena* arena = pages.arena()) arena->reset_in_child();
  // Only the forking thread is here, running this handler. Unless it was inside a read-side
  // critical section of this engine's flavor at the fork, no thread of the child can hold a
  // reference to an object queued before it: they need no grace period here (design.md, "fork").
  // liburcu-bp's read_ongoing() may register the thread, taking locks urcu_bp_before_fork()
  // holds: bp children wait for one.
  const bool need_grace_period = is_bp(gp.flavor()) || gp.flavor()->read_ongoing() != 0;
  rec.adopt_in_child(need_grace_period);  // clears slot flags, cuts unfinished lists
  handed_over_at_fork_ = handed_over_total();
  new (&inline_mu_) std::mutex();
  threads.child_after_fork();  // dormant: no thread until the child uses the engine
  // The memory-pressure watch's thread is not here either: a new one starts on wake.
  (void)pressure_.release();
  if (grace_period_was_running) {
    std::fprintf(stderr,
                 "rcufree: fork() went on while a thread of the parent was still inside a grace "
                 "period (synchronize_rcu) after %lld ms; if that thread held liburcu's own "
                 "grace-period lock, grace periods in this child will never end\n",
                 static_cast<long long>(kGraceLimit.count()));
  }
}

void engine_core::wake_after_fork() {
  if (!threads.dormant()) return;
  const auto no_fork = hold_off_fork();  // a fork sees the engine with its threads, or neither
  // acquire: pairs with shutdown()'s release; a shut-down engine starts nothing.
  if (shut_down_.load(std::memory_order_acquire)) return;
  threads.wake_after_fork();
  if (cfg.watch_memory_pressure && !pressure_)
    pressure_ = std::make_unique<pressure_watch>(threads);
}

// --- what each part does across fork(): its own state, kept here with the handlers above ----

void engine_threads::prepare_fork(std::chrono::milliseconds limit) {
  paused_.store(true, std::memory_order_relaxed);  // relaxed: published by the locks below
  // A barrier's flush the supervisor is running gives up for now (it is served again after the
  // fork): fork() must not wait for a thread stopped holding a slot (promise 9).
  rec_.yield_barriers(true);
  // Each thread parks when its pass ends. A pass may outlast `limit`: a slow deleter, or with
  // liburcu-bp a grace period that waits for the lock urcu_bp_before_fork() took on this very
  // thread. fork() then goes on without it (the child trusts nothing it held).
  const auto deadline = std::chrono::steady_clock::now() + limit;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (supervisor_.joinable()) {
      wake_cv_.notify_one();
      rouse_supervisor();
      done_cv_.wait_until(lock, deadline, [this] { return parked_; });
    }
  }
  // The supervisor is parked (or busy in a pass): it starts or joins no thread meanwhile.
  for (std::size_t i = 0; i < slot_count_; ++i) {
    cpu_thread& t = cpu_[i];
    if (!t.thread.joinable()) continue;
    std::unique_lock<std::mutex> lock(t.mu);
    t.cv.notify_all();
    rouse(t);  // an idle thread sleeps on its futex word, not on t.cv
    t.cv.wait_until(lock, deadline, [&] { return t.parked; });
  }
}

void engine_threads::parent_after_fork() {
  paused_.store(false, std::memory_order_relaxed);  // relaxed: published by the locks below
  rec_.yield_barriers(false);
  { std::lock_guard<std::mutex> lock(mu_); }
  wake_cv_.notify_one();
  rouse_supervisor();
  // `parked`, read under each thread's own lock (the supervisor, now resumed, may start threads
  // meanwhile: the thread handles are not read here).
  for (std::size_t i = 0; i < slot_count_; ++i) {
    cpu_thread& t = cpu_[i];
    bool parked;
    {
      std::lock_guard<std::mutex> lock(t.mu);
      parked = t.parked;
    }
    if (parked) t.cv.notify_all();
  }
}

void engine_threads::child_after_fork() {
  // Only the forking thread exists here. Every lock and condition variable anew; thread handles
  // of the parent's threads forgotten. No thread starts now: a child that exits or execs without
  // using the engine must not have one (it would reuse a vanished parent thread's stack and
  // thread-local storage, which liburcu's registry may still link), nor run a grace period.
  new (&mu_) std::mutex();
  new (&wake_cv_) std::condition_variable();
  new (&done_cv_) std::condition_variable();
  parked_ = wake_ = false;
  paused_.store(false, std::memory_order_relaxed);        // relaxed: single-threaded here
  wake_pending_.store(false, std::memory_order_relaxed);  // relaxed: single-threaded here
  sleeping_.store(0, std::memory_order_relaxed);          // relaxed: single-threaded here
  rec_.yield_barriers(false);
  for (std::size_t i = 0; i < slot_count_; ++i) {
    cpu_thread& t = cpu_[i];
    new (&t.mu) std::mutex();
    new (&t.cv) std::condition_variable();
    t.thread.forget();
    t.wake = t.stop = t.parked = t.failed = false;
    t.idle.store(0, std::memory_order_relaxed);  // relaxed: single-threaded here
    t.woken_by_call.store(false, std::memory_order_relaxed);
    t.started.store(false, std::memory_order_relaxed);
  }
  const bool had_supervisor = supervisor_.joinable();
  new (&supervisor_) std::thread();
  // (C1) release: pairs with (C2) in dormant().
  dormant_.store(had_supervisor && !stopped_, std::memory_order_release);
}

void engine_threads::wake_after_fork() {
  if (!dormant()) return;
  start();
  // (C1) release: pairs with (C2); a caller that sees the engine awake sees its supervisor.
  dormant_.store(false, std::memory_order_release);
}

cpu_slot::adopted cpu_slot::adopt_in_child(bool need_grace_period) noexcept {
  // relaxed: no other thread exists here.
  if (held()) {
    head.open = nullptr;
    // Still queued (queued() does not change): the reclaimer counts them abandoned.
    closed_objects.add(head.fill.load(std::memory_order_relaxed) >> 32);
    head.fill.store(0, std::memory_order_relaxed);
    head.here.store(0, std::memory_order_relaxed);
    head.elsewhere.store(0, std::memory_order_relaxed);
  } else if (!need_grace_period) {
    close_locked();  // no flag is held: this thread is the only one
  }
  adopted a{head.fill.load(std::memory_order_relaxed) >> 32, closed.take_all(), nullptr};
  block_stack::cut_at_missing_link(a.closed);
  rcu_head* listed = fallback.take_all();
  fallback_list::stack::cut_at_missing_link(listed);
  if (need_grace_period) {
    a.objects += fallback_list::length(listed);
    fallback.restore_in_child(listed);  // taken later, with a cookie
  } else {
    a.past_grace = listed;
  }
  return a;
}

void reclaimer::adopt_in_child(bool need_grace_period) noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    slot_state& st = state_[i];
    // The lock still held: its holder, a reclaimer that had not parked within the fork handler's
    // patience (engine_threads::prepare_fork), was between steps on this state. Nothing it kept is
    // trusted; the count below calls it abandoned.
    if (!st.mu.try_lock()) {
      st.closed_stalled = nullptr;
      st.fallback_stalled = nullptr;
    }
    new (&st.mu) std::mutex();
    // The pool lock likewise: its holder (a reclaimer or top-up that had not parked) was in the
    // middle of a put or a retarget; the ring stays whole either way (a push is published by one
    // index store), at worst a page or a target change is lost.
    new (&st.pool_mu) std::mutex();
    auto [kept, taken, past_grace] = slots_[i].adopt_in_child(need_grace_period);
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

}  // namespace rcufree::detail
