// SPDX-License-Identifier: MIT
// rcufree/engine.hpp — the reclaim engine: free memory after an RCU grace period.
//
// An engine collects the objects that updaters unlink from RCU-protected structures and frees
// them once every reader that might still see them has left its read-side critical section.
// Pointers are gathered per CPU in page-sized blocks (507 records per 4 KiB page), so freeing
// walks arrays instead of a linked list; a reclaim thread per CPU (bound to it, started when that
// CPU first has work) refills the CPU's pool of empty pages, waits for the grace periods
// (liburcu's, of the configured flavor, shared among all waiters) and frees ready blocks on the
// core that queued them.
//
//   struct node { int key; rcu_head head; };
//   rcufree::engine eng;                         // or rcufree::default_engine()
//   node* old = replace_under_lock(...);         // unlink: readers may still hold `old`
//   eng.kfree_rcu(old, &node::head);             // std::free(old) after a grace period
//
// Overheads (docs/PERFORMANCE.md has every figure with its machine, command and spread): the
// two-argument call is a few nanoseconds, one restartable sequence of plain loads and stores on
// x86-64 Linux with no locked instruction; grace periods (shared by all waiters) and frees run on
// the reclaim threads. In the seeds' million-object flood rcufree's CPU per object, all of it
// counted, was 1.6-1.9x Concurrency Kit's ck_epoch at one producer and 1.8-1.9x at two, over
// three runs on a 2-core VM (2026-12); most of the difference is glibc's cost of a free on a
// thread other than the one that allocated.
//
// Every call says its context below: whether it may block, allocate, or run inside a read-side
// critical section or an atomic_scope.
#pragma once

#include <urcu/call-rcu.h>  // struct rcu_head

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <rcufree/call_site.hpp>
#include <rcufree/config.hpp>
#include <rcufree/export.hpp>
#include <rcufree/stats.hpp>
#include <type_traits>

namespace rcufree {

using rcu_head = ::rcu_head;

namespace detail {

// How to free the objects of one kind. A block keeps each run of one kind together, so freeing a
// block is one call per run, a tight loop inside, no per-object dispatch.
struct reclaim_kind {
  void (*free_batch)(void* const* objects, std::size_t count) noexcept;  // C++ kinds
  void (*free_each)(void* object) = nullptr;  // C API kinds (rcufree_call): the user's function
};

RCUFREE_API void free_batch(void* const* objects, std::size_t count) noexcept;  // std::free each
RCUFREE_API inline constexpr reclaim_kind free_kind{&free_batch};

template <class T>
void delete_batch(void* const* objects, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) delete static_cast<T*>(objects[i]);
}
template <class T>
inline constexpr reclaim_kind delete_kind{&delete_batch<T>};

// retire(): a stateless deleter type, called per object, or once per run when it takes
// (void* const* objects, std::size_t n) -- the kernel's kfree_bulk.
template <class T, class Deleter>
void deleter_batch(void* const* objects, std::size_t count) noexcept {
  Deleter deleter{};
  if constexpr (std::is_invocable_v<Deleter&, void* const*, std::size_t>) {
    deleter(objects, count);
  } else {
    for (std::size_t i = 0; i < count; ++i) deleter(static_cast<T*>(objects[i]));
  }
}
template <class T, class Deleter>
inline constexpr reclaim_kind deleter_kind{&deleter_batch<T, Deleter>};

// The two-argument forms take `rcu_head Owner::*`: the head may be a member of T or of one of its
// base classes (&widget::head names rcu_base::head when widget inherits it).
template <class T, class Owner>
constexpr void check_head_owner() noexcept {
  static_assert(std::is_base_of_v<Owner, T>,
                "rcufree: the head must be an rcu_head member of T or of a base class of T");
}

class engine_core;

}  // namespace detail

class RCUFREE_API engine {
 public:
  // Sleepable context only: allocates the per-CPU slots and page pools and starts the supervisor
  // thread. Throws std::invalid_argument on a bad config, std::system_error if the thread cannot
  // start. The engine's threads run in the normal scheduling class (SCHED_OTHER, with a 100 us
  // time slice on Linux 6.12+) at the nice value of the thread that builds the engine, whatever
  // that thread's own policy; config::realtime_reclaim makes the CPU threads SCHED_FIFO.
  explicit engine(config cfg = {});

  // Sleepable context only; blocks. Frees everything still queued (waiting for the grace periods
  // this needs), stops and joins its threads, gives back every page.
  // Use after destruction: a call on a destroyed engine, or one racing with its destruction, is
  // undefined behaviour. The engine's memory is the caller's, so the library cannot leave a
  // tombstone behind as the C API does for its handles (rcufree.h: there a call after
  // rcufree_engine_destroy is always reported). Builds with RCUFREE_DEBUG report it while the
  // destroyed engine's memory has not been reused; other builds do not check.
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Moving hands the engine itself over (its threads, pages, queued objects and counters), so an
  // engine can be returned from a function or kept in a std::optional or a container. The
  // moved-from engine holds nothing: it may be destroyed or assigned to, and any other call on it
  // is undefined behaviour (as on a destroyed engine). Move assignment first destroys the engine
  // it replaces: it blocks like the destructor, sleepable context only. Nothing else refers to
  // an engine by its address, except a stats_sampler: do not move an engine one is sampling.
  // default_engine() can be neither moved from nor assigned to (reported as misuse: abort).
  engine(engine&& other) noexcept;
  engine& operator=(engine&& other) noexcept;

  // std::free(obj) after a grace period. `head` names an rcu_head member of T (or of a base class
  // of T), used only when this CPU has no empty page cached. Atomic-safe: never allocates, never
  // blocks or waits for anyone, makes no system call, bounded steps. Callable from signal handlers,
  // real-time threads, read-side critical sections and atomic_scopes; the calling thread need not
  // be registered with liburcu. obj == nullptr: no-op. obj must come from
  // malloc/calloc/realloc/aligned_alloc.
  template <class T, class Owner>
  void kfree_rcu(T* obj, rcu_head Owner::*head) noexcept {
    detail::check_head_owner<T, Owner>();
    if (obj != nullptr) queue_with_head(obj, &(obj->*head), detail::free_kind);
  }

  // `delete obj` after a grace period (T's destructor runs on a reclaim thread). Same context rules
  // as kfree_rcu. ~T must not throw and must not wait for this engine (barrier) or sleep long.
  template <class T, class Owner>
  void delete_rcu(T* obj, rcu_head Owner::*head) noexcept {
    detail::check_head_owner<T, Owner>();
    if (obj != nullptr) queue_with_head(obj, &(obj->*head), detail::delete_kind<T>);
  }

  // Deleter{}(obj) after a grace period: for objects from a pool, an arena, mi_free, sdallocx, a
  // destructor plus a pool return. Deleter is a stateless callable type (an empty struct with
  // operator()(T*), or a captureless lambda's type); objects of one deleter are batched into
  // pages like kfree_rcu's, and a Deleter that can also be called as (void* const* objects,
  // std::size_t n) gets whole runs of them at once (up to a page: 506 objects in 4 KiB), to
  // return them to its pool in one call. Same context rules as kfree_rcu: atomic-safe, never
  // allocates (a new deleter type is registered without allocating or waiting). The deleter runs
  // on a reclaim thread (or a reclaim_local() caller); it must not throw, nor wait for this engine.
  //   struct to_pool { void operator()(node* n) const noexcept { pool.put(n); } };
  //   eng.retire(old, &node::head, to_pool{});
  template <class T, class Owner, class Deleter>
  void retire(T* obj, rcu_head Owner::*head, Deleter = Deleter{}) noexcept {
    detail::check_head_owner<T, Owner>();
    static_assert(std::is_empty_v<Deleter> && std::is_default_constructible_v<Deleter>,
                  "rcufree::engine::retire: the deleter must be a stateless callable type (an "
                  "empty struct with operator(), or a captureless lambda), built where it runs");
    static_assert(std::is_invocable_v<Deleter&, T*> ||
                      std::is_invocable_v<Deleter&, void* const*, std::size_t>,
                  "rcufree::engine::retire: the deleter must be callable as deleter(T*) or as "
                  "deleter(void* const* objects, std::size_t n)");
    if (obj != nullptr) queue_with_head(obj, &(obj->*head), detail::deleter_kind<T, Deleter>);
  }

  // std::free(ptr) after a grace period, for objects without an rcu_head. May sleep: may allocate a
  // page, and when none can be had waits for a grace period and frees ptr inline. Not in a
  // read-side critical section or an atomic_scope: that is reported as misuse (abort by default),
  // never a deadlock; the report names the caller's line (`site`, call_site.hpp: leave it out).
  // ptr == nullptr: no-op.
  void kvfree_rcu_mightsleep(void* ptr, call_site site = call_site::current()) {
    const detail::at_call_site here(site);
    queue_mightsleep(ptr, detail::free_kind, __func__);
  }

  // `delete obj` after a grace period, for objects without an rcu_head. Context as
  // kvfree_rcu_mightsleep.
  template <class T>
  void delete_rcu_mightsleep(T* obj, call_site site = call_site::current()) {
    const detail::at_call_site here(site);
    queue_mightsleep(obj, detail::delete_kind<T>, __func__);
  }

  // Asks for what this CPU has queued to be freed soon: if its reclaim thread sleeps idle, wakes it
  // (one futex wake system call) and its next pass takes the open block at once, so that a lone
  // object's grace period starts within microseconds instead of after config.drain_interval (on
  // an idle engine, the supervisor may look only every 125 ms). When no thread watches this CPU
  // yet, or its page pool is down to half its target (a burst), it wakes the engine's supervisor
  // instead, which starts the thread or refills the pool from another CPU. Nothing otherwise (a
  // busy thread looks every tick anyway). liburcu's call_rcu wakes its worker the same way; the
  // liburcu drop-in calls this after every call_rcu. Never allocates, takes no lock, never waits;
  // but it may make a system call, so not where that is forbidden (the two-argument forms
  // themselves never do).
  void wake_reclaim_if_idle() noexcept;

  // Blocks until every object queued before this call (by any thread) has been freed. Sleepable
  // context only: not in a read-side critical section, an atomic_scope, or a deleter run by this
  // engine (all reported as misuse). Allocates nothing.
  void barrier();

  // Frees, on the calling thread, what this CPU has handed over so far (its closed blocks and its
  // fallback list) and no other reclaimer has taken already (those it frees itself), first
  // waiting for a grace period if any of it still needs one; returns how many objects it freed.
  // For allocation-heavy sleepable threads: glibc's malloc serves objects freed by the thread
  // that allocated them several times faster than objects freed by another thread
  // (docs/PERFORMANCE.md), so calling this every few thousand kfree_rcu calls turns a flood into
  // local frees. It first waits for this CPU's reclaimer of the moment, if any, to finish its pass
  // (the CPU's thread, through that pass's grace period and deleters, or another caller's
  // reclaim_local(): one stopped for good inside it keeps this waiting too). May sleep; not in a
  // read-side critical section, an atomic_scope, or a deleter this engine runs (misuse).
  std::size_t reclaim_local();

  // Fills every CPU's page pool to `pages_per_cpu` now (at most config.cached_pages_per_cpu) and
  // keeps at least that many there from then on, instead of the 5 a quiet CPU keeps by default.
  // For code that will call kfree_rcu/delete_rcu in bursts from an atomic context (a real-time
  // loop, a signal handler) and wants pages, not the fallback list, from the first call. Returns
  // the pages now cached over all CPUs (fewer if the page allocator failed, within the back-off
  // after a shrink, or for a CPU skipped as below). A CPU whose reclaim is busy, or held up by a
  // stopped thread, is filled all the same: it waits for no reclaim. Only a thread stopped for
  // good inside that CPU's pool lock (a few instructions of a pool step: another reserve_pages(),
  // a pass recycling a page, a refill) holds it up: after waiting 2 s once, it goes on without
  // that CPU (which keeps its old resting level and its pages, or misses the rest of its refill),
  // and stderr says so. Sleepable context only (allocates); not from a deleter of this engine.
  std::size_t reserve_pages(std::size_t pages_per_cpu);

  // Gives every cached empty page back, on the calling thread: it waits for no engine thread (a
  // barrier's flush may be waiting for a stopped one), and a slot held by a stopped thread is
  // skipped. Pools refill later, after config.refill_backoff_after_shrink. Sleepable context
  // only.
  void shrink();

  // Sums the counters. Never blocks the engine; allocates (the per-CPU vector). Any context where
  // allocation is allowed.
  stats snapshot() const;

  const config& settings() const noexcept;

 private:
  // Out of line: the atomic path (src/percpu.cpp) and the sleepable path (src/mightsleep.cpp).
  void queue_with_head(void* obj, rcu_head* head, const detail::reclaim_kind& kind) noexcept;
  void queue_mightsleep(void* obj, const detail::reclaim_kind& kind, const char* caller);

  friend struct engine_access;
  std::unique_ptr<detail::engine_core> core_;
};

// The process-wide engine (default config), whose grace periods are urcu-memb's: it waits for
// urcu-memb readers only (another flavor's readers need an engine of their own, config::flavor).
// Built when the library is loaded, so that even the first call from an atomic context never
// allocates: a program linked with rcufree runs its supervisor thread from then on, whether it
// calls rcufree or not (idle, it wakes about 8 times a second); at process exit everything it
// still holds is freed. Never destroyed: calls after exit handlers have run are still safe, but
// objects queued then are not freed.
RCUFREE_API engine& default_engine() noexcept;

}  // namespace rcufree
