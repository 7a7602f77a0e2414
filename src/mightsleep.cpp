// mightsleep.cpp — the head-less forms, kvfree_rcu_mightsleep and delete_rcu_mightsleep.
//
// With no rcu_head there is no fallback list: the pointer must go into a block. If this CPU's
// cache is empty the caller, being sleepable, allocates a page itself; if even that fails it waits
// for a grace period and frees the object inline (the kernel's synchronize_rcu() + kvfree()).
// Called where waiting would deadlock (a read-side critical section, an atomic_scope) it reports
// the misuse before doing anything.
#include "engine_core.hpp"
#include "misuse.hpp"

#include <rcufree/atomic_scope.hpp>

#include <urcu/static/urcu-memb.h>

#include <cstdio>

namespace rcufree {
namespace {

// The flavor's read_ongoing(), inlined for the default flavor (urcu-memb): liburcu's static
// inline reads the reader's thread-local nesting count directly, saving a call through the
// flavor table into the shared library (4-7 ns here).
bool reader_inside(const rcu_flavor_struct* flavor) {
  if (flavor == &urcu_memb_flavor) return _urcu_memb_read_ongoing() != 0;
  return flavor->read_ongoing() != 0;
}

void require_sleepable(const detail::engine_core& core, const char* caller) {
  const char* where = nullptr;
  if (in_atomic_scope()) {
    where = "inside an rcufree::atomic_scope";
  } else if (reader_inside(core.gp.flavor())) {
    where = "inside an RCU read-side critical section";
  }
  if (where == nullptr) return;
  char sentence[512];
  std::snprintf(sentence, sizeof sentence,
                "%s() called %s; it may wait for a grace period, which there could deadlock. Use "
                "the two-argument kfree_rcu(obj, &T::head)/delete_rcu(obj, &T::head), which never "
                "sleeps, or call %s() outside.",
                caller, where, caller);
  RCUFREE_MISUSE(sentence);
}

bool queue_in_block(detail::engine_core& core, void* obj, const detail::reclaim_kind& kind);

}  // namespace

void engine::queue_mightsleep(void* obj, const detail::reclaim_kind& kind, const char* caller) {
  if (obj == nullptr) return;
  detail::engine_core& core = *core_;
#ifdef RCUFREE_DEBUG
  // relaxed: a best-effort check for use after destruction.
  if (core.magic.load(std::memory_order_relaxed) != detail::engine_core::kAlive) {
    RCUFREE_MISUSE("a head-less free was called on an engine that is being or has been destroyed");
  }
#endif
  require_sleepable(core, caller);
#ifdef RCUFREE_DEBUG
  core.debug->on_queue(obj, /*atomic_path=*/false);
#endif

  // Once shut down (the default engine after exit handlers) nothing would free a queued object:
  // go straight to the inline free of step 3.
  // acquire: pairs with the release in shutdown().
  if (!core.shut_down.load(std::memory_order_acquire) && queue_in_block(core, obj, kind)) return;
  // 3. No memory for a page: wait for a grace period and free inline.
  core.gp.wait_for_readers();
#ifdef RCUFREE_DEBUG
  core.debug->on_free(obj);
#endif
  kind.free_batch(&obj, 1);
  // relaxed: statistics (an inline free counts as queued and freed).
  core.inline_frees.fetch_add(1, std::memory_order_relaxed);
  core.freed.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// Steps 1 and 2 of the head-less path; false when no page could be had.
bool queue_in_block(detail::engine_core& core, void* obj, const detail::reclaim_kind& kind) {
  // 1. A cached page or room in the open block: exactly like the two-argument form. The slot may
  //    be held by a thread that was preempted inside; waiting a little is fine here, but never
  //    forever (the holder might be this thread, interrupted by the signal handler we run in).
  detail::cpu_slot& s = core.this_cpu_slot();
  if (core.append_sleepable(s, obj, kind)) {
    // Closed blocks here, and either the opt-in or pending memory past the soft cap (then every
    // sleepable caller helps): free them on this thread. At most once per closed block.
    if (!s.closed.empty() && (core.cfg.sleepable_callers_reclaim || core.over_soft_cap())) {
      core.reclaim_on_caller(s, false);
    }
    return true;
  }
  // 2. No page cached: allocate one here (we may sleep) and let the worker refill the cache.
  if (void* page = core.allocate_page()) {
    detail::cpu_slot& t = core.this_cpu_slot();  // we may have migrated while allocating
    if (t.enter_waiting(8)) {
      core.append_to_new_page_locked(t, page, obj, kind);
      t.leave();
      core.wake_worker();
      return true;
    }
    core.release_page(page);
  }
  return false;
}
}  // namespace

std::size_t engine::reclaim_local() {
  detail::engine_core& core = *core_;
  require_sleepable(core, __func__);
  // acquire: pairs with the release in shutdown(); afterwards the caller runs passes itself.
  if (core.shut_down.load(std::memory_order_acquire)) return 0;
  return static_cast<std::size_t>(core.reclaim_on_caller(core.this_cpu_slot(), true));
}

namespace detail {

std::uint64_t engine_core::reclaim_on_caller(cpu_slot& s, bool with_fallback) noexcept {
  if (s.closed.empty() && !(with_fallback && !s.fallback.empty())) return 0;  // relaxed peeks
  // (R1) seq_cst: registers this caller before it takes anything, so that a flushing worker that
  // finds the lists already taken waits for us; pairs with (R3) through (S3).
  caller_reclaimers.fetch_add(1, std::memory_order_seq_cst);
  block* chain = s.closed.take_all();
  rcu_head* objects = with_fallback ? s.fallback.take_all() : nullptr;
  bool all_expired = objects == nullptr;  // a taken fallback list always needs a grace period
  for (block* b = chain; b != nullptr && all_expired; b = block_stack::next(b)) {
    all_expired = gp.expired(b->cookie);
  }
  if (!all_expired) gp.synchronize();  // about a microsecond with no readers (membarrier)
  std::uint64_t n = 0;
  block* emptied = nullptr;  // pages to keep as the slot's spares, chained through their start
  while (chain != nullptr) {
    block* next = block_stack::next(chain);
    n += chain->count;
    void* page = empty_block(chain);
    *static_cast<void**>(page) = emptied;
    emptied = static_cast<block*>(page);
    chain = next;
  }
  if (objects != nullptr) {
    const std::uint64_t m = fallback_list::free_chain(objects, debug.get());
    freed.fetch_add(m, std::memory_order_relaxed);  // relaxed: statistic
    n += m;
  }
  // Emptied pages become the slot's spares, so the next blocks need no allocation, as far as the
  // slot's cache bound allows; the rest go back.
  if (emptied != nullptr && s.enter_waiting(8)) {
    while (emptied != nullptr) {
      void* next = *reinterpret_cast<void**>(emptied);
      if (!s.put_spare_locked(emptied)) break;
      emptied = static_cast<block*>(next);
    }
    s.leave();
  }
  while (emptied != nullptr) {
    void* next = *reinterpret_cast<void**>(emptied);
    release_page(emptied);
    emptied = static_cast<block*>(next);
  }
  caller_reclaims.fetch_add(n, std::memory_order_relaxed);  // relaxed: statistic
  // (R2) release: our frees happen before a flushing worker sees zero; pairs with its acquire
  // load after (R3).
  caller_reclaimers.fetch_sub(1, std::memory_order_release);
  return n;
}

}  // namespace detail
}  // namespace rcufree
