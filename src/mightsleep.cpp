// SPDX-License-Identifier: MIT
// mightsleep.cpp — the head-less forms, kvfree_rcu_mightsleep and delete_rcu_mightsleep.
//
// With no rcu_head there is no fallback list: the pointer must go into a block. If this CPU's
// cache is empty the caller, being sleepable, allocates a page itself; if even that fails it waits
// for a grace period and frees the object inline (the kernel's synchronize_rcu() + kvfree()).
// Called where waiting would deadlock (a read-side critical section, an atomic_scope) it reports
// the misuse before doing anything (require_sleepable, sleepable_check.cpp).
#include <cstdio>
#include <mutex>

#include "engine_core.hpp"
#include "misuse.hpp"
#include "patience.hpp"

namespace rcufree {
namespace {

bool queue_in_block(detail::engine_core& core, void* obj, const detail::reclaim_kind& kind);

}  // namespace

void engine::queue_mightsleep(void* obj, const detail::reclaim_kind& kind, const char* caller) {
  if (obj == nullptr) return;
  detail::engine_core& core = *core_;
#ifdef RCUFREE_DEBUG
  // relaxed: a best-effort check for use after destruction.
  if (core.slots.magic.load(std::memory_order_relaxed) != detail::cpu_slots::kAlive) {
    RCUFREE_MISUSE("a head-less free was called on an engine that is being or has been destroyed");
  }
#endif
  detail::require_sleepable(core, caller, detail::sleepable_use::head_less);
  core.wake_after_fork();
#ifdef RCUFREE_DEBUG
  core.debug->on_queue(obj, /*atomic_path=*/false);
#endif

  // Once shut down (the default engine after exit handlers) nothing would free a queued object:
  // go straight to the inline free of step 3.
  if (!core.is_shut_down() && queue_in_block(core, obj, kind)) return;
  // 3. No memory for a page: wait for a grace period and free inline.
  core.rec.free_after_grace_period(kind, obj);
}

namespace {
// Steps 1 and 2 of the head-less path; false when no page could be had.
bool queue_in_block(detail::engine_core& core, void* obj, const detail::reclaim_kind& kind) {
  // 1. A pooled page or room in the open block: exactly like the two-argument form. The slot may
  //    be held by a thread that was preempted inside; waiting a little is fine here, but never
  //    forever (the holder might be this thread, interrupted by the signal handler we run in).
  const std::size_t cpu = core.slots.this_cpu();
  detail::cpu_slot& s = core.slots[cpu];
  detail::patience wait(detail::patience::kind::brief, cpu, "the slot's flag");
  if (const detail::cpu_slot::entry e = s.enter(wait)) {
    RCUFREE_STOP_AT(slot_flag_held);
    const bool queued = s.append_locked(obj, kind);
    s.leave(e);
    if (queued) {
      // Closed blocks here, and either the opt-in or pending memory past the soft cap (then every
      // sleepable caller helps): free them on this thread, unless this CPU's reclaimer is at it.
      // (Not from a deleter the engine is running: that thread already holds a reclaim lock.)
      if (!s.closed.empty() &&
          (core.cfg.sleepable_callers_reclaim ||
           core.rec.over_soft_cap(core.rec.pending_estimate_with(cpu))) &&
          !detail::reclaimer::running_deleters_of(&core.rec)) {
        std::unique_lock<std::mutex> lock(core.rec.lock_of(cpu), std::try_to_lock);
        if (lock.owns_lock()) {
          core.rec.caller_reclaims.add(core.rec.pass(cpu, detail::kHeadlessHelp).freed);
        }
      }
      return true;
    }
  }
  // 2. No page pooled: allocate one here (we may sleep); the reclaim threads restock the pool.
  detail::patience::kind brief = detail::patience::kind::brief;
  if (void* page = core.pages.allocate(brief, cpu)) {
    RCUFREE_STOP_AT(headless_page_allocated);
    const std::size_t now_cpu = core.slots.this_cpu();  // we may have migrated while allocating
    detail::cpu_slot& t = core.slots[now_cpu];
    detail::patience wait_again(detail::patience::kind::brief, now_cpu, "the slot's flag");
    if (const detail::cpu_slot::entry e = t.enter(wait_again)) {
      t.append_to_page_locked(page, obj, kind);
      t.leave(e);
      core.threads.wake_supervisor();
      return true;
    }
    core.pages.release(page);
  }
  return false;
}
}  // namespace

std::size_t engine::reclaim_local() {
  detail::engine_core& core = *core_;
  detail::require_sleepable(core, __func__, detail::sleepable_use::waits_for_engine);
  core.wake_after_fork();
  if (core.is_shut_down()) return 0;  // afterwards the caller runs passes itself
  const std::size_t cpu = core.slots.this_cpu();
  std::lock_guard<std::mutex> lock(core.rec.lock_of(cpu));
  const std::uint64_t n = core.rec.pass(cpu, detail::kReclaimLocal).freed;
  core.rec.caller_reclaims.add(n);
  return static_cast<std::size_t>(n);
}

}  // namespace rcufree
