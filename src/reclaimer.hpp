// SPDX-License-Identifier: MIT
// reclaimer.hpp — the one reclaim path: take a CPU's queued work, wait for its grace period,
// free it, recycle its pages, keep the CPU's page pool stocked.
//
// Every thread that frees runs this and nothing else: a CPU's reclaim thread, the supervisor (for a
// slot no CPU thread serves, and a barrier's flush), a caller in reclaim_local() or helping from a
// head-less call. Whoever holds slot i's reclaim lock is slot i's reclaimer: it alone takes from
// the slot's lists and keeps the per-slot state below. A reclaimer that takes work keeps the lock
// until that work is freed, so taking the lock waits for every earlier pass on the slot to finish:
// that is what makes barrier() exact.
// The producer side of slot i's page pool has a lock of its own, the pool lock, held for a few
// steps on the pool at a time (never across an allocation, a deleter or a wait): a reclaimer
// takes it inside the reclaim lock to recycle and restock; a helping top-up (the supervisor, for
// a CPU whose pool runs low during a burst) and reserve_pages() take it alone, so that they
// refill while the slot's reclaimer waits for a grace period. Every pool step takes it through
// lock_pool(), with patience: a user thread may stop for good inside a hold, and then engine
// threads skip the step (a page goes back to the allocator) rather than wait.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <rcufree/config.hpp>
#include <vector>

#include "coarse_clock.hpp"
#include "counter.hpp"
#include "debug_registry.hpp"
#include "grace_period.hpp"
#include "page_source.hpp"
#include "patience.hpp"
#include "percpu.hpp"
#include "reclaim_policy.hpp"

namespace rcufree::detail {

// What a reclaimer works on. All of it is its engine's (engine_core.hpp) and outlives it.
struct reclaim_inputs {
  const config& cfg;
  cpu_slots& slots;
  grace_period& gp;
  const coarse_clock& clock;
  page_source& pages;
  debug_registry* debug;  // RCUFREE_DEBUG builds; null otherwise
};

// Work taken from one slot, waiting for its grace period; private to the thread that took it.
struct reclaim_batch {
  block* blocks = nullptr;       // chained through block::next
  rcu_head* fallback = nullptr;  // a taken fallback list
  rcu_head* resumed = nullptr;   // the rest of a fallback chain an earlier pass left at a
                                 // link its pusher had not stored (past its grace period)
  std::uint64_t cookie = 0;      // the largest cookie of all of it (0: none needs a grace period)
  const reclaim_policy* policy = &kPeriodicPass;  // the pass that took it
  std::uint32_t next_due_ms = kNeverMs;           // when what take() left aging falls due
  bool empty() const noexcept {
    return blocks == nullptr && fallback == nullptr && resumed == nullptr;
  }
};

// A flush's private scratch: per slot, the work it took and the reclaim lock it holds from the
// take to the end of the frees. Sized once, so a flush allocates nothing.
struct flush_scratch {
  explicit flush_scratch(std::size_t slots) : batches(slots), locks(slots) {}
  std::vector<reclaim_batch> batches;
  std::vector<std::unique_lock<std::mutex>> locks;
};

struct pass_result {
  std::uint64_t freed = 0;               // objects freed
  bool found = false;                    // anything was taken
  bool ran_dry = false;                  // the slot's pool ran empty since the previous pass
  bool pending = false;                  // objects remain in the slot (aging, or queued meanwhile)
  std::uint32_t next_due_ms = kNeverMs;  // when the earliest aging item falls due
};

class reclaimer {
 public:
  explicit reclaimer(const reclaim_inputs& in);
  std::size_t slot_count() const noexcept { return slot_count_; }
  // What the reclaimer keeps per slot, in bytes (engine_core::bytes_per_cpu).
  static constexpr std::size_t bytes_per_slot() noexcept;

  std::mutex& lock_of(std::size_t i) noexcept { return state_[i].mu; }
  // Slot i's reclaim lock, waited for as `k` allows (patience.hpp): a caller reclaiming there
  // (reclaim_local(), a head-less call helping) may be stopped while it holds it. Comes back not
  // owned when the wait gave up: the caller leaves the slot for later (brief) or behind
  // (teardown). Engine threads take it this way; callers' own calls use lock_of().
  std::unique_lock<std::mutex> lock_slot(std::size_t i, patience::kind k) noexcept;

  // One whole pass on slot i: take, wait for the grace period, free, restock. The caller holds
  // lock_of(i). Sleepable.
  pass_result pass(std::size_t i, const reclaim_policy& p) noexcept;

  // The pieces of a pass, for a flush that lets one grace period serve every slot. Each needs
  // lock_of(i) held while it runs (not in between).
  reclaim_batch take(std::size_t i, const reclaim_policy& p) noexcept;
  std::uint64_t finish(std::size_t i, reclaim_batch& batch) noexcept;  // after the grace period
  // Retargets and refills the pool; true if it ran dry. The exception here: it needs no reclaim
  // lock (each step takes the pool lock or tries the slot flag). `k`: how long each step waits
  // for the pool lock (brief: a step it gives up on is skipped).
  bool restock(std::size_t i, patience::kind k = patience::kind::brief) noexcept;

  // A helping refill of slot i's pool by a thread that does not hold its reclaim lock (the
  // supervisor, roused by a caller whose pool runs low: engine_threads::wake_if_idle): retargets
  // the pool to demand and refills it, while the slot's reclaimer may be waiting for a grace
  // period. Sleepable (allocates).
  void top_up(std::size_t i) noexcept;
  // Whether slot i's pool holds at most half its target: a hint (the pool's counters, relaxed).
  bool pool_running_low(std::size_t i) const noexcept {
    const page_pool& pool = slots_[i].pool;
    return pool.target() != 0 && pool.size() * 2 <= pool.target();
  }
  // The pages slot i's pool keeps when quiet (engine::reserve_pages); then restocks it. Needs no
  // reclaim lock (restock's steps take the pool lock and try the slot flag, as top_up's do), so
  // a slot whose reclaim is busy or held up is served all the same. Waits for the pool lock as
  // patience::kind::request allows, once: after a give-up (a thread stopped inside a hold) the
  // slot keeps its resting level and pages, or the rest of its restock is skipped. Sleepable
  // (allocates).
  void set_resting(std::size_t i, std::size_t pages) noexcept;

  // A flush of every slot (barrier, shutdown): takes all of it, waits for ONE grace period, frees.
  // Takes each reclaim lock in turn and keeps it until that slot's frees are done, like any
  // pass: a pass another thread runs holds its lock until its frees are done, so this also waits
  // for those, and no pass can come between this flush's take and its frees. A slot whose lock
  // stays held (a stopped caller) is left for later, as the policy's patience says. Returns true
  // if it freed anything.
  bool flush_all(flush_scratch& scratch, const reclaim_policy& p) noexcept;

  // shrink(): no refills for refill_backoff_after_shrink from now on (not even one in flight, but
  // one put by a thread stopped inside its pool-lock hold), and every slot's cached pages given
  // back (a slot whose flag a stopped thread holds is skipped); counted in `shrinks` once done.
  void shrink() noexcept;
  // Gives back every slot's cached pages, waiting for each slot's flag as `k` allows (brief, or
  // a teardown's 2 s); a slot that stays held is skipped. Takes no reclaim lock.
  void drop_all_pages(patience::kind k) noexcept;

  // While on, waits as patience::kind::barrier give up (patience.hpp): the supervisor must park
  // for a fork (on until the fork is over) or stop (on for good). Any thread.
  void yield_barriers(bool on) noexcept {
    barrier_yield_.store(on, std::memory_order_relaxed);  // relaxed: see patience::again
  }
  bool barriers_yield() const noexcept {
    // relaxed: read by the supervisor after its flush; the setter then waits for it to park.
    return barrier_yield_.load(std::memory_order_relaxed);
  }

  // fork child, single-threaded: every reclaim lock anew; nothing a parent thread may have been
  // writing at the fork is trusted: the open block of a slot whose flag was held, the chains a
  // reclaimer that still held its lock kept, and every list past a link that was never stored,
  // are abandoned (not freed here, counted, said once on stderr; stats: abandoned()). Unless
  // `need_grace_period`, everything inherited is marked past its grace period: the child frees
  // it without waiting for one.
  void adopt_in_child(bool need_grace_period) noexcept;
  std::uint64_t abandoned() const noexcept;
  // True while the calling thread runs deleters for `r` (a pass's frees), however deep in other
  // engines' deleters it is now: barrier() or shrink() from there would wait for itself.
  static bool running_deleters_of(const reclaimer* r) noexcept;
  // The head-less forms' last resort (no page to be had): waits for a grace period and frees
  // `object` on the calling thread. Sleepable.
  void free_after_grace_period(const reclaim_kind& kind, void* object) noexcept;
  // Objects of slot i not yet freed (exact once the slot is quiet). Any thread.
  std::uint64_t pending_of(std::size_t i) const noexcept;
  // Every object handed over and not yet freed (exact when quiet; O(CPUs)). Any thread.
  std::uint64_t pending_total() const noexcept;
  // Whether `pending` objects are past config::pending_soft_cap_bytes (as pending x
  // assumed_object_bytes); without an argument, by the O(1) estimate.
  bool over_soft_cap(std::uint64_t pending) const noexcept {
    return pending * cfg_.assumed_object_bytes > cfg_.pending_soft_cap_bytes;
  }
  bool over_soft_cap() const noexcept { return over_soft_cap(pending_estimate()); }
  // O(1): the sum of what each slot's last pass saw pending. Any thread; a hint.
  std::uint64_t pending_estimate() const noexcept { return pending_.get(); }
  // The same with slot i's share brought up to date (for a caller on CPU i). O(1), any thread.
  std::uint64_t pending_estimate_with(std::size_t i) const noexcept {
    // relaxed: a hint; the wrapping sum stays a sum of non-negative shares.
    return pending_.get() - state_[i].reported_pending.load(std::memory_order_relaxed) +
           pending_of(i);
  }
  std::uint64_t peak_pending() const noexcept { return peak_.get(); }
  void observe_peak(std::uint64_t pending) noexcept { peak_.observe(pending); }
  std::uint64_t freed_from(std::size_t i) const noexcept { return state_[i].freed.get(); }
  std::uint64_t blocks_retired(std::size_t i) const noexcept { return state_[i].retired.get(); }

  // Counters (statistics).
  stat_counter drains;              // passes that took something
  stat_counter inline_frees;        // head-less objects freed inline (counted queued and freed)
  stat_counter caller_reclaims;     // objects freed by sleepable callers for themselves
  stat_counter shrinks;             // shrink(): by a caller or a memory-pressure event
  stat_counter expired_on_arrival;  // blocks freed without a new grace period
  stat_counter refill_attempts;
  std::atomic<std::uint64_t> oldest_pending_ms{0};

 private:
  void report_pending(std::size_t i, std::uint64_t now_pending) noexcept;
  // Gives pooled pages back to the allocator until `keep` remain. Needs a flag of s.
  void release_pages_over(cpu_slot& s, std::size_t keep) noexcept;
  // Every wait on slot i: `k`, or brief once a teardown gave up on the slot (gave_up_on).
  patience::kind slot_patience(std::size_t i, patience::kind k) const noexcept;
  void gave_up_on(std::size_t i, patience::kind k) noexcept;  // a wait as `k` gave up on slot i
  // Every wait on slot i: slot_patience(i, k), given up early when barriers yield.
  patience wait_on(std::size_t i, patience::kind k, const char* what) const noexcept {
    return patience(slot_patience(i, k), i, what, &barrier_yield_);
  }
  // take()'s three steps (reclaimer.cpp), in order.
  void take_open_block(std::size_t i, const reclaim_policy& p, reclaim_batch& batch,
                       std::uint32_t now) noexcept;
  std::uint32_t take_closed_blocks(std::size_t i, reclaim_batch& batch, std::uint32_t now) noexcept;
  void take_fallback_list(std::size_t i, const reclaim_policy& p, reclaim_batch& batch,
                          std::uint32_t now) noexcept;
  // Walks a taken chain into batch, each block under `cookie` (taken after the chain was).
  block* collect_blocks(std::size_t i, block* chain, std::uint64_t cookie, reclaim_batch& batch,
                        std::uint32_t now, std::uint32_t& oldest) noexcept;
  // Frees n objects of one kind: its batch free (or its C function, each), or for the std::free
  // kind this engine's free_bulk hook when one is set.
  void free_run(const reclaim_kind& kind, void* const* objects, std::size_t n) noexcept;
  // Slot i's pool lock, waited for as `k` allows: not owned when the wait gave up, and then `k`
  // becomes none, so that the caller's next steps try once and do not wait again for a holder
  // that is stopped. The only way any step takes it (stop point pool_lock_held, right after).
  std::unique_lock<std::mutex> lock_pool(std::size_t i, patience::kind& k) noexcept;
  // The pool steps, each under slot i's pool lock (taken as `k` allows, which lock_pool turns to
  // none on a give-up): an emptied page back into the pool (false if it is full or the lock was
  // not had: the caller gives the page back).
  bool recycle(std::size_t i, void* page, patience::kind& k) noexcept;
  // A page refill() allocated into the pool; false if it is full, its lock was not had, or a
  // shrink's back-off began since refill() looked (the caller gives the page back).
  bool refill_put(std::size_t i, void* page, patience::kind& k) noexcept;
  // The target to demand (true if the pool ran dry since the last time); unchanged, false, if the
  // lock was not had.
  bool retarget(std::size_t i, patience::kind& k) noexcept;
  bool retarget_locked(std::size_t i) noexcept;  // the caller holds the pool lock
  // Refills slot i's pool up to its target (not while backing off), allocating outside the lock.
  void refill(std::size_t i, patience::kind& k) noexcept;

  struct alignas(128) slot_state {
    std::mutex mu;                // the slot's reclaim lock; guards the fields below but pool_mu
    std::mutex pool_mu;           // the pool lock: the producer side of the slot's page pool
    std::uint64_t open_seen = 0;  // slot.queued when a pass last left no open block
    std::uint64_t fallback_taken = 0;         // slot.fallback_queued at the last take of the list
    std::uint32_t fallback_since = kNeverMs;  // engine time the list was first seen non-empty
    std::atomic<std::uint64_t> reported_pending{0};  // this slot's share of pending_ (written
                                                     // under mu, read by anyone: relaxed)
    owned_counter freed;                             // objects freed from this slot
    owned_counter retired;                           // blocks from this slot freed
    owned_counter abandoned;                         // objects given up on in a fork child
    // Where an earlier pass stopped at a link whose pusher had not stored it yet (a thread
    // preempted or stopped mid-push): that node and the rest of its chain, not yet processed.
    block* closed_stalled = nullptr;
    rcu_head* fallback_stalled = nullptr;
    // A teardown gave up on this slot: later ones do not wait again. Atomic (relaxed: a hint
    // between teardown steps on one thread) because a give-up on the reclaim lock itself sets it
    // without holding that lock.
    std::atomic<bool> left_behind{false};
  };

  const config& cfg_;
  cpu_slots& slots_;
  const std::size_t slot_count_;
  const std::uint32_t drain_ms_, tick_ms_;  // config::drain_interval and worker_tick
  grace_period& gp_;
  const coarse_clock& clock_;
  page_source& pages_;
  debug_registry* const debug_;
  std::unique_ptr<slot_state[]> state_;
  std::atomic<std::uint32_t> refill_resume_ms_{0};  // no refills before this engine time
  std::atomic<bool> barrier_yield_{false};          // yield_barriers()
  // Sum of the slots' reported_pending. Each slot adds the difference from its last report
  // (wrapping arithmetic): the total is a sum of non-negative shares at every instant.
  stat_counter pending_;
  peak_gauge peak_;
};

constexpr std::size_t reclaimer::bytes_per_slot() noexcept {
  return sizeof(slot_state);
}

}  // namespace rcufree::detail
