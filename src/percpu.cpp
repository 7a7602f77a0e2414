// percpu.cpp — the atomic path: the two-argument kfree_rcu/delete_rcu.
//
// Per call: find this CPU's slot (one load from glibc's rseq area: no system call), take
// its busy flag with one exchange, store the pointer in the open block, release the flag. A busy
// flag already taken (another thread on this CPU was preempted inside, or a signal handler
// interrupted this very thread inside) is never waited for: the object goes to the fallback list
// instead. So is an object for which no empty page is pooled. Nothing here allocates, blocks or
// makes a system call; every loop is bounded (the fallback registry size). Misuse found here
// always aborts (it may be a signal handler: no exception may leave it).
#include <sched.h>
#include <sys/rseq.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "engine_core.hpp"
#include "misuse.hpp"

namespace rcufree {

using detail::cpu_slot;

void engine::queue_with_head(void* obj, rcu_head* head, const detail::reclaim_kind& kind) {
  detail::queue_with_head(*core_, obj, head, kind);
}

void detail::queue_with_head(engine_core& core, void* obj, rcu_head* head,
                             const reclaim_kind& kind) {
#ifdef RCUFREE_DEBUG
  // relaxed: a best-effort check for use after destruction.
  if (core.magic.load(std::memory_order_relaxed) != detail::engine_core::kAlive) {
    RCUFREE_MISUSE_FATAL(
        "kfree_rcu/delete_rcu called on an engine that is being or has been destroyed");
  }
  if ((reinterpret_cast<std::uintptr_t>(obj) & 1) != 0) {
    RCUFREE_MISUSE_FATAL(
        "kfree_rcu/delete_rcu called with an odd address; objects must come "
        "from malloc or operator new");
  }
  core.debug->on_queue(obj, /*atomic_path=*/true);
#endif
  cpu_slot& s = core.this_cpu_slot();
  if (s.try_enter()) {
    const bool queued = s.append_locked(obj, kind, core.gp, core.clock);
    s.leave();
    if (queued) return;
  } else {
    s.contended.add();
  }
  // head >= obj: the member-pointer form guarantees it; the C API checks it before calling here.
  const auto offset =
      reinterpret_cast<std::uintptr_t>(head) - reinterpret_cast<std::uintptr_t>(obj);
  s.fallback.push(head, detail::fallback_kind_for(kind, offset));
  s.fallback_queued.add();  // after the push: the reclaimer learns of the list from the list
}

namespace detail {

// The CPU this thread runs on. glibc (2.35+) registers an rseq area for every thread, in which
// the kernel keeps cpu_id current: one load from thread-local memory, where sched_getcpu() costs
// 15-30 ns on this machine (it goes through the vDSO). Where rseq is not registered (valgrind,
// GLIBC_TUNABLES=glibc.pthread.rseq=0, old kernels) cpu_id is negative: ask sched_getcpu().
static inline int current_cpu() noexcept {
  if (__rseq_size >= offsetof(struct rseq, cpu_id) + sizeof(std::uint32_t)) {
    const auto* area = reinterpret_cast<const volatile struct rseq*>(
        static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
    const auto cpu = static_cast<std::int32_t>(area->cpu_id);
    if (cpu >= 0) return cpu;
  }
  return sched_getcpu();
}

std::size_t engine_core::this_cpu() const noexcept {
  const int cpu = current_cpu();
  const std::size_t i = cpu < 0 ? 0 : static_cast<std::size_t>(cpu);
  return i < slot_count ? i : i % slot_count;  // CPUs hot-added past the count seen at start
}

bool cpu_slot::append_to_pooled_page_locked(void* obj, const reclaim_kind& kind,
                                            const grace_period& gp,
                                            const coarse_clock& clock) noexcept {
  void* page = pool.take();
  if (page == nullptr) {
    close_locked(gp);  // a full block must not wait for a page: the reclaimer should see it now
    return false;
  }
  append_to_page_locked(page, obj, kind, gp, clock);
  return true;
}

void cpu_slot::append_to_page_locked(void* page, void* obj, const reclaim_kind& kind,
                                     const grace_period& gp, const coarse_clock& clock) noexcept {
  close_locked(gp);
  block* b = new (page) block(page_size, clock.now());  // the clock read: once per page
  b->try_append(obj, &kind);  // an empty page has room for a marker and an object
  open = b;
  queued.add();
  blocks_opened.add();
}

void cpu_slot::close_locked(const grace_period& gp) noexcept {
  block* b = open;
  if (b == nullptr) return;
  open = nullptr;
  b->cookie = gp.snapshot();  // a full fence; once per block, not per object
  closed.push(b);             // (S1) publishes the records to the reclaimer
}

cpu_slot::adopted cpu_slot::adopt_in_child() noexcept {
  // relaxed: no other thread exists here.
  if (busy.load(std::memory_order_relaxed)) {
    open = nullptr;
    busy.store(false, std::memory_order_relaxed);
  }
  adopted a{open != nullptr ? open->objects : 0, closed.take_all()};
  block_stack::cut_at_missing_link(a.closed);
  rcu_head* listed = fallback.take_all();
  fallback_list::stack::cut_at_missing_link(listed);
  a.objects += fallback_list::length(listed);
  fallback.restore_in_child(listed);  // not yet past a grace period: taken later, with a cookie
  return a;
}

bool cpu_slot::enter_waiting_slow(unsigned max_yields) noexcept {
  for (unsigned spins = 0, yields = 0;; ++spins) {
    if (try_enter()) return true;
    if (spins >= 100) {
      if (yields++ >= max_yields) return false;
      sched_yield();
    }
  }
}

}  // namespace detail
}  // namespace rcufree
