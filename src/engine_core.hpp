// engine_core.hpp — the state behind rcufree::engine, shared by the engine's source files.
#pragma once

#include <rcufree/engine.hpp>

#include "debug_registry.hpp"
#include "grace_period.hpp"
#include "percpu.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rcufree::detail {

// The blocks a worker pass detached for reclaim (the fallback chains it took are in
// engine_core::fallback_chains_; they, too, need the pass's grace period).
struct reclaim_batch {
  block* ready = nullptr;      // cookies already expired: free without a new grace period
  block* waiting = nullptr;    // need the next grace period
};

class engine_core {
 public:
  explicit engine_core(config cfg);
  ~engine_core();  // stops the worker, frees everything, gives back every page

  // --- atomic path (percpu.cpp) ---
  cpu_slot& this_cpu_slot() noexcept;
  // Appends obj to the slot's open block of `kind`, opening a cached page if needed. Caller holds
  // the slot's busy flag. False: no page at hand (nothing changed).
  bool append_locked(cpu_slot& s, void* obj, const reclaim_kind& kind) noexcept;
  // The head-less forms' first attempt: like the atomic path, but may wait a little for the busy
  // flag. In percpu.cpp so that the fast path inlines.
  bool append_sleepable(cpu_slot& s, void* obj, const reclaim_kind& kind) noexcept;
  // Installs a page the caller allocated as the open block of `kind` and appends obj to it.
  void append_to_new_page_locked(cpu_slot& s, void* page, void* obj,
                                 const reclaim_kind& kind) noexcept;
  void close_locked(cpu_slot& s, cpu_slot::open_entry& e) noexcept;
  cpu_slot::open_entry& entry_for_locked(cpu_slot& s, const reclaim_kind& kind) noexcept;

  // --- sleepable callers (mightsleep.cpp) ---
  // Frees slot s's closed blocks (and, with `with_fallback`, its fallback list) on the calling
  // thread, waiting for a grace period first if any of it still needs one; keeps emptied pages
  // as the slot's spares (within its cache bound). Returns objects freed. Sleepable contexts only.
  std::uint64_t reclaim_on_caller(cpu_slot& s, bool with_fallback) noexcept;
  std::atomic<std::uint32_t> caller_reclaimers{0};  // callers between (R1) and (R2)

  // --- worker (worker.cpp) ---
  void worker_main();
  // Requests a full flush and waits for it (barrier); shrink likewise.
  void request_and_wait(std::atomic<std::uint64_t>& requested,
                        std::atomic<std::uint64_t>& completed);
  void wake_worker();
  void stop_worker();
  void start_worker();
  bool on_worker_thread() const noexcept { return std::this_thread::get_id() == worker_id_; }

  // --- fork (fork.cpp): park the worker and hold the locks across fork(); restart in the child
  void prepare_fork();
  void parent_after_fork();
  void child_after_fork();
  engine_core* fork_next = nullptr;  // the registry of live engines (fork.cpp)
  engine_core* fork_prev = nullptr;

  // --- pages ---
  void* allocate_page() noexcept;     // sleepable contexts only
  void release_page(void* page) noexcept;
  // Frees a block's records and recycles its page to its origin CPU's cache while there is room,
  // else gives it back. The caller is the cache's producer: the worker (or, once it has stopped,
  // the thread running passes in its place).
  void retire_block(block* b) noexcept;
  // Frees a block's records and returns its page, now empty, to the caller.
  void* empty_block(block* b) noexcept;

  // Frees every block of a chain, in order.
  void free_block_chain(block* chain) noexcept;

  std::uint64_t pending_objects() const noexcept;
  std::uint32_t now_ms() const noexcept {
    // relaxed: a coarse clock; a stale value only makes a block look older (drained sooner).
    return now_ms_.load(std::memory_order_relaxed);
  }

  config cfg;
  grace_period gp;
  std::size_t slot_count;
  cpu_slot* slots;  // slot_count slots, cache-line aligned, built in the constructor

  // Engine-wide counters (off the atomic path). RMW relaxed unless stated: statistics only.
  std::atomic<std::uint64_t> freed{0};
  std::atomic<std::uint64_t> page_allocs{0};
  std::atomic<std::uint64_t> page_alloc_failures{0};
  std::atomic<std::uint64_t> refill_attempts{0};
  std::atomic<std::uint64_t> drains{0};
  std::atomic<std::uint64_t> inline_frees{0};
  std::atomic<std::uint64_t> caller_reclaims{0};
  std::atomic<std::uint64_t> expired_on_arrival{0};
  std::atomic<std::uint64_t> shrinks{0};
  std::atomic<std::uint64_t> pressure_events{0};
  std::atomic<std::uint64_t> expedited_passes{0};
  // Set by the pressure watcher (pressure.cpp), consumed by the worker's next pass.
  std::atomic<bool> pressure_pending{false};
  void on_memory_pressure();  // any thread; wakes the worker
  bool pressure_watch_armed() const noexcept;
  bool over_soft_cap() const noexcept {
    return pending_objects() * cfg.assumed_object_bytes > cfg.pending_soft_cap_bytes;
  }
  std::atomic<std::uint64_t> oldest_pending_ms{0};

  std::atomic<bool> wake_pending{false};  // a wake_worker() is on its way: skip the system call
  std::atomic<std::uint64_t> flush_requested{0}, flush_completed{0};
  std::atomic<std::uint64_t> shrink_requested{0}, shrink_completed{0};

  // Stops the worker and frees everything, leaving the engine usable in a degraded mode (the
  // default engine at process exit): barrier() then reclaims on the caller, head-less frees run
  // inline. Sleepable.
  void shutdown();
  // barrier() once shut down: one flushing pass on the calling thread.
  void flush_inline();
  std::atomic<bool> shut_down{false};

  // RCUFREE_DEBUG builds only (null otherwise; the member exists either way so that the layout
  // does not depend on the build option).
  std::unique_ptr<debug_registry> debug;

  static constexpr std::uint32_t kAlive = 0x52435546;  // "RCUF"
  std::atomic<std::uint32_t> magic{kAlive};

 private:
  // One worker pass; returns true if it found any work.
  bool worker_pass(bool flush, bool shrink);
  reclaim_batch detach(bool flush, bool expedite);
  void reclaim(reclaim_batch& batch);
  void refill_caches();
  void drop_caches();

  std::atomic<std::uint32_t> now_ms_{0};
  // Worker-private, sized at construction so that a pass never allocates:
  std::vector<rcu_head*> fallback_chains_;     // chains taken in the current pass
  std::vector<std::uint64_t> open_seen_;       // per slot: queued count when last left without
                                               // open blocks (~0: some were left open)
  static constexpr std::uint32_t kNever = ~std::uint32_t{0};
  std::vector<std::uint32_t> fallback_since_;  // per slot: now_ms() when its fallback list was
                                               // first seen non-empty (kNever: empty)
  std::vector<std::uint64_t> fallback_taken_;  // per slot: fallback_queued at the last take
  std::uint32_t next_due_ms_ = kNever;         // earliest now_ms() at which something left
                                               // aging by the last pass falls due
  std::chrono::steady_clock::time_point epoch_;
  std::chrono::steady_clock::time_point refill_backoff_until_{};

  std::mutex inline_mu_;  // serializes passes run by callers once shut down
  std::mutex mu_;
  std::condition_variable wake_cv_;   // worker waits here
  std::condition_variable done_cv_;   // barrier / shrink callers wait here
  bool wake_ = false;
  bool stop_ = false;
  bool paused_ = false;  // set around fork()
  bool parked_ = false;  // the worker acknowledged paused_
  std::thread worker_;
  std::unique_ptr<class pressure_watch> pressure_;  // null unless cfg.watch_memory_pressure
  std::thread::id worker_id_{};
};

// fork.cpp: the registry of live engines that pthread_atfork handlers walk.
void register_engine(engine_core* e);
void unregister_engine(engine_core* e);

// True when the library was built with RCUFREE_DEBUG (double-queue and use-after-destroy checks).
bool debug_checks_enabled() noexcept;

}  // namespace rcufree::detail

namespace rcufree {
struct engine_access {
  static detail::engine_core& core(engine& e) noexcept { return *e.core_; }
  // The C API's rcufree_kfree_rcu: std::free kind, head given as a pointer.
  static void queue_with_head(engine& e, void* obj, rcu_head* head) {
    e.queue_with_head(obj, head, detail::free_kind);
  }
};
}  // namespace rcufree
