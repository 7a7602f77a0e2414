// SPDX-License-Identifier: MIT
// engine_core.hpp — what an engine is made of: its parts, built in order, each given what it
// uses, and the engine's own lifetime state.
//
// The parts, each owning its state (docs/design.md has the map):
//   cpu_slots       percpu.hpp/.cpp          the atomic path: one slot per CPU (flags, open block,
//                                            page pool's consumer side, closed and fallback lists)
//   page_source     page_source.hpp          where pages come from and go back to
//   grace_period    grace_period.hpp         polled cookies, grace periods shared by all waiters
//   reclaimer       reclaimer.hpp/.cpp       take, wait for the grace period, free, restock
//   engine_threads  engine_threads.hpp/.cpp  the supervisor and the per-CPU reclaim threads
// None of them includes this file. engine_core joins them with what belongs to no part: the
// engine's lifetime (building, shutting down, fork), the inline flush callers run once it is
// shut down, and the memory-pressure watch. The engine's calls live in engine.cpp (lifetime,
// barrier, shrink, stats), mightsleep.cpp (the head-less forms, reclaim_local) and percpu.cpp
// (the two-argument forms); fork handling in fork.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <rcufree/engine.hpp>

#include "coarse_clock.hpp"
#include "debug_registry.hpp"
#include "engine_threads.hpp"
#include "grace_period.hpp"
#include "page_source.hpp"
#include "percpu.hpp"
#include "reclaimer.hpp"

namespace rcufree::detail {

class engine_core {
 public:
  explicit engine_core(config cfg);
  ~engine_core();  // stops the threads, frees everything, gives back every page

  // The parts, in the order they are built.
  const config cfg;
  const std::unique_ptr<debug_registry> debug;  // RCUFREE_DEBUG builds only (null otherwise)
  grace_period gp;
  coarse_clock clock;
  cpu_slots slots;
  page_source pages;
  reclaimer rec;
  engine_threads threads;

  // An engine's memory per possible CPU besides its pages: the slot, its page ring (the pool's
  // bound plus one, and the ring's own spare entry), the reclaimer's per-slot state, the
  // threads' per-CPU state and the two flush scratch entries (the supervisor's and the inline
  // flush's). docs/design.md quotes it; test/unit/engine_test.cpp prints it for the defaults.
  static constexpr std::size_t bytes_per_cpu(std::size_t cached_pages_per_cpu) noexcept {
    return sizeof(cpu_slot) + (cached_pages_per_cpu + 2) * sizeof(void*) +
           reclaimer::bytes_per_slot() + engine_threads::bytes_per_cpu() +
           2 * (sizeof(reclaim_batch) + sizeof(std::unique_lock<std::mutex>));
  }

  // Stops the threads and frees everything, leaving the engine usable in a degraded mode (the
  // default engine at process exit): barrier() then reclaims on the caller, head-less frees run
  // inline. Sleepable.
  void shutdown();
  bool is_shut_down() const noexcept {
    // acquire: pairs with the release in shutdown(); callers then reclaim or free themselves.
    return shut_down_.load(std::memory_order_acquire);
  }
  void flush_inline();  // barrier() once shut down: one flushing pass on the calling thread
  bool pressure_watch_armed() const noexcept;

  // fork.cpp: park the threads, then hold grace periods across fork(); in the child, adopt what
  // can be trusted and stay dormant (no thread, no grace period) until the child uses the engine.
  // The registry of live engines the handlers walk is linked through fork_next/fork_prev.
  void park_for_fork();
  void hold_grace_for_fork();
  void hold_pages_for_fork();
  void parent_after_fork();
  void child_after_fork();
  // Every sleepable call (barrier, shrink, reserve_pages, reclaim_local, the head-less forms)
  // starts a dormant fork child's threads first. One acquire load otherwise.
  void wake_after_fork();
  engine_core* fork_next = nullptr;  // fork.cpp's, under its registry lock
  engine_core* fork_prev = nullptr;

 private:
  // Objects handed to this engine so far (O(CPUs)); a dormant child that queued nothing since the
  // fork (handed_over_at_fork_) runs no grace period at exit.
  std::uint64_t handed_over_total() const noexcept;
  // Flushes on the calling thread until nothing is taken, then gives every pooled page back.
  void run_everything_here(const reclaim_policy& p);

  std::atomic<bool> shut_down_{false};
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

// Calls that may sleep report misuse (naming `call`, mightsleep.cpp) inside an atomic_scope or a
// read-side critical section; those that wait for the engine's own work (barrier, shrink,
// reserve_pages, reclaim_local) also from a deleter the engine is running.
enum class sleepable_use { head_less, waits_for_engine };
void require_sleepable(const engine_core& core, const char* call, sleepable_use use);

}  // namespace rcufree::detail

namespace rcufree {
struct engine_access {
  static detail::engine_core& core(engine& e) noexcept { return *e.core_; }
};
}  // namespace rcufree

namespace rcufree::detail {
// The default engine's core once built (when the library loads), else null (default_engine.cpp).
extern constinit std::atomic<engine_core*> g_default_core;
// The default engine's core, for the C API: one load where default_engine() is a call and a guard
// check (a caller that runs before the library's initializers builds it there).
inline engine_core& default_core() noexcept {
  // acquire: pairs with the release store in default_engine.cpp.
  if (engine_core* c = g_default_core.load(std::memory_order_acquire)) return *c;
  return engine_access::core(default_engine());
}
}  // namespace rcufree::detail
