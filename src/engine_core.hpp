// SPDX-License-Identifier: MIT
// engine_core.hpp — what an engine is made of, and what its parts share.
//
// The parts, each owning its state (docs/design.md has the map):
//   cpu_slot[]      percpu.hpp/.cpp    the atomic path: slot flags, open block, page pool's
//                                      consumer side, closed and fallback lists
//   page_pool       page_pool.hpp      one CPU's empty pages and their demand-driven target
//   reclaimer       reclaimer.hpp/.cpp take, wait for the grace period, free, recycle, restock
//   workers         workers.hpp/.cpp   the supervisor and the per-CPU reclaim threads, pacing
//   grace_period    grace_period.hpp   polled cookies, grace periods shared by all waiters
//   head-less calls mightsleep.cpp; lifetime, barrier, shrink, stats engine.cpp; fork fork.cpp
// engine_core holds them together with the configuration, the page allocator and the counters
// that belong to no single part.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <rcufree/engine.hpp>
#include <vector>

#include "coarse_clock.hpp"
#include "counter.hpp"
#include "debug_registry.hpp"
#include "grace_period.hpp"
#include "percpu.hpp"
#include "reclaimer.hpp"
#include "workers.hpp"

namespace rcufree::detail {

class engine_core {
 public:
  explicit engine_core(config cfg);
  ~engine_core();  // stops the threads, frees everything, gives back every page

  std::size_t this_cpu() const noexcept;  // percpu.cpp: from glibc's rseq area
  cpu_slot& this_cpu_slot() noexcept { return slots[this_cpu()]; }

  // Frees n objects of one kind: its batch free (or its C function, each), or for the std::free
  // kind this engine's free_bulk hook when one is set. Sleepable (the reclaimers).
  void free_run(const reclaim_kind& kind, void* const* objects, std::size_t n) noexcept {
    if (kind.free_batch == &detail::free_batch && cfg.free_bulk) {
      cfg.free_bulk(objects, n);
    } else if (kind.free_batch != nullptr) {
      kind.free_batch(objects, n);
    } else {
      for (std::size_t i = 0; i < n; ++i) kind.free_each(objects[i]);
    }
  }

  // Pages, from sleepable contexts only.
  void* allocate_page() noexcept;
  void release_page(void* page) noexcept;

  // Every object handed over and not yet freed (exact when quiet; O(CPUs)).
  std::uint64_t pending_objects() const noexcept;
  // O(1): pending memory estimated from what the last reclaim passes saw.
  bool over_soft_cap() const noexcept { return over_soft_cap(rec.pending_estimate()); }
  bool over_soft_cap(std::uint64_t pending) const noexcept {
    return pending * cfg.assumed_object_bytes > cfg.pending_soft_cap_bytes;
  }

  // The engine's coarse millisecond clock, advanced by its threads (coarse_clock.hpp).
  std::uint32_t now_ms() const noexcept { return clock.now(); }
  void tick_clock() noexcept { clock.tick(); }

  // Memory pressure (pressure.cpp's thread, or a test): the supervisor shrinks on its next look.
  void on_memory_pressure();
  // shrink() and pressure events: every cached page back (slots a stopped thread holds are
  // skipped), then no refills for a while. Any sleepable thread.
  void shrink() noexcept {
    rec.shrink();
    shrinks.add();
  }
  bool take_pressure_event() noexcept {
    // acquire exchange: pairs with the release store in on_memory_pressure.
    return pressure_pending_.exchange(false, std::memory_order_acquire);
  }
  bool pressure_watch_armed() const noexcept;

  // Stops the threads and frees everything, leaving the engine usable in a degraded mode (the
  // default engine at process exit): barrier() then reclaims on the caller, head-less frees run
  // inline. Sleepable.
  void shutdown();
  void flush_inline();  // barrier() once shut down: one flushing pass on the calling thread
  std::atomic<bool> shut_down{false};

  // fork.cpp: park the threads, then hold grace periods across fork(); in the child, adopt what
  // can be trusted and stay dormant (no thread, no grace period) until the child uses the engine.
  void park_for_fork();
  void hold_grace_for_fork();
  void parent_after_fork();
  void child_after_fork();
  // Every sleepable call (barrier, shrink, reserve_pages, reclaim_local, the head-less forms)
  // starts a dormant fork child's threads first. One acquire load otherwise.
  void wake_after_fork();
  // Objects handed to this engine so far (O(CPUs)); a dormant child that queued nothing since the
  // fork (handed_over_at_fork) runs no grace period at exit.
  std::uint64_t handed_over_total() const noexcept;
  engine_core* fork_next = nullptr;  // the registry of live engines (fork.cpp)
  engine_core* fork_prev = nullptr;

  config cfg;
  grace_period gp;
  std::size_t slot_count;
  bool rseq;        // the slots' protocol: restartable sequences (rseq_section.hpp), or exchange
  cpu_slot* slots;  // slot_count slots, cache-line aligned, built in the constructor
  coarse_clock clock;
  reclaimer rec;
  workers threads;

  // Counters that belong to no single part (statistics).
  stat_counter page_allocs;
  stat_counter page_alloc_failures;
  stat_counter inline_frees;     // head-less objects freed inline (counted queued and freed)
  stat_counter caller_reclaims;  // objects freed by sleepable callers for themselves
  stat_counter shrinks;
  stat_counter pressure_events;
  stat_counter expedited_passes;

  // RCUFREE_DEBUG builds only (null otherwise; the member exists either way so that the layout
  // does not depend on the build option).
  std::unique_ptr<debug_registry> debug;

  static constexpr std::uint32_t kAlive = 0x52435546;  // "RCUF"
  std::atomic<std::uint32_t> magic{kAlive};

 private:
  // Flushes on the calling thread until nothing is taken, then gives every pooled page back.
  void run_everything_here(const reclaim_policy& p);

  std::atomic<bool> pressure_pending_{false};
  std::uint64_t handed_over_at_fork_ = 0;  // fork child: handed_over_total() at the fork
  std::mutex inline_mu_;                   // serializes passes run by callers once shut down
  flush_scratch inline_scratch_;           // their scratch
  std::unique_ptr<class pressure_watch> pressure_;  // null unless cfg.watch_memory_pressure
};

// fork.cpp: the registry of live engines that pthread_atfork handlers walk. While the lock that
// hold_off_fork() returns is held, no fork handler runs: an engine starts its threads and
// registers under it (a fork sees both or neither), and stops them under it.
std::unique_lock<std::mutex> hold_off_fork();
void register_engine(engine_core* e, const std::unique_lock<std::mutex>& held);
void unregister_engine(engine_core* e);

// True when the library was built with RCUFREE_DEBUG (double-queue and use-after-destroy checks).
bool debug_checks_enabled() noexcept;

// The atomic path under hidden names, for the library's own callers (the C API, and
// engine::queue_with_head, the exported twin C++ callers reach): the common case inline, one
// sequence appending to this CPU's open block (rseq_section.hpp); the rest out of line in
// percpu.cpp, after a first sequence that did not commit (`first`, on `cpu`) or could not run
// (the exchange protocol, no rseq area, a CPU past the slots), so the inline path keeps no frame
// and reaches it by a tail call (noexcept: no terminate handler to keep a frame for).
void queue_slow(engine_core& core, void* obj, rcu_head* head, const reclaim_kind& kind,
                std::int32_t cpu, rseq_result first) noexcept;
#ifdef RCUFREE_DEBUG
void check_queue(engine_core& core, void* obj);  // liveness, odd address, queued twice
#endif
[[gnu::always_inline]] static inline void queue_with_head(engine_core& core, void* obj,
                                                          rcu_head* head,
                                                          const reclaim_kind& kind) {
#ifdef RCUFREE_DEBUG
  check_queue(core, obj);
#endif
  std::int32_t cpu = -1;
  rseq_result r = rseq_result::moved;
  if (core.rseq) {
    cpu = rseq_cpu_registered();  // negative only in a thread without an rseq area
    if (static_cast<std::uint32_t>(cpu) < core.slot_count) {
      r = rseq_append(core.slots[cpu].head, static_cast<std::uint32_t>(cpu), obj, &kind);
      if (r == rseq_result::committed) return;
    }
  }
  queue_slow(core, obj, head, kind, cpu, r);
}

// Calls that may sleep report misuse (naming `call`, mightsleep.cpp) inside an atomic_scope or a
// read-side critical section; those that wait for the engine's own work (barrier, shrink,
// reserve_pages, reclaim_local) also from a deleter the engine is running.
enum class sleepable_use { head_less, waits_for_engine };
void require_sleepable(const engine_core& core, const char* call, sleepable_use use);
engine& the_default_engine() noexcept;

}  // namespace rcufree::detail

namespace rcufree {
struct engine_access {
  static detail::engine_core& core(engine& e) noexcept { return *e.core_; }
};
}  // namespace rcufree

namespace rcufree::detail {
// The default engine's core once built (when the library loads), else null.
extern constinit std::atomic<engine_core*> g_default_core;
// The C API's way to the default engine: one load where the_default_engine() is a call and a
// guard check (a caller that runs before the library's initializers builds it there).
inline engine_core& the_default_core() noexcept {
  // acquire: pairs with the release store in default_engine.cpp's build().
  if (engine_core* c = g_default_core.load(std::memory_order_acquire)) return *c;
  return engine_access::core(the_default_engine());
}
}  // namespace rcufree::detail
