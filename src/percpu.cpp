// percpu.cpp — the atomic path: the two-argument kfree_rcu/delete_rcu.
//
// Per call: find this CPU's slot (one load from glibc's rseq area: no system call), take
// its busy flag with one exchange, store the pointer in the open block, release the flag. A busy
// flag already taken (another thread on this CPU was preempted inside, or a signal handler
// interrupted this very thread inside) is never waited for: the object goes to the fallback list
// instead. So is an object for which no empty page is cached. Nothing here allocates, blocks or
// makes a system call; every loop is bounded by kOpenKinds or the fallback registry size. Misuse
// found here always aborts (it may be a signal handler: no exception may leave it).
#include "engine_core.hpp"
#include "misuse.hpp"

#include <sched.h>
#include <sys/rseq.h>

#include <cstddef>

#include <cstdint>
#include <new>

namespace rcufree {

using detail::cpu_slot;

void engine::queue_with_head(void* obj, rcu_head* head, const detail::reclaim_kind& kind) {
  detail::engine_core& core = *core_;
#ifdef RCUFREE_DEBUG
  // relaxed: a best-effort check for use after destruction.
  if (core.magic.load(std::memory_order_relaxed) != detail::engine_core::kAlive) {
    RCUFREE_MISUSE_FATAL(
        "kfree_rcu/delete_rcu called on an engine that is being or has been destroyed");
  }
  core.debug->on_queue(obj, /*atomic_path=*/true);
#endif
  cpu_slot& s = core.this_cpu_slot();
  if (s.try_enter()) {
    const bool queued = core.append_locked(s, obj, kind);
    s.leave();
    if (queued) return;
  } else {
    // relaxed: statistic.
    s.contended.fetch_add(1, std::memory_order_relaxed);
  }
  // head >= obj: the member-pointer form guarantees it; the C API checks it before calling here.
  const auto offset = reinterpret_cast<std::uintptr_t>(head) - reinterpret_cast<std::uintptr_t>(obj);
  s.fallback.push(obj, head, detail::fallback_kind_for(kind, offset));
  // relaxed: statistic; the worker learns of the list from the list itself.
  s.fallback_queued.fetch_add(1, std::memory_order_relaxed);
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

bool engine_core::append_sleepable(cpu_slot& s, void* obj, const reclaim_kind& kind) noexcept {
  if (!s.enter_waiting(8)) return false;
  const bool queued = append_locked(s, obj, kind);
  s.leave();
  return queued;
}

cpu_slot& engine_core::this_cpu_slot() noexcept {
  const int cpu = current_cpu();
  std::size_t i = cpu < 0 ? 0 : static_cast<std::size_t>(cpu);
  if (i >= slot_count) i %= slot_count;  // CPUs hot-added past the count seen at start
  return slots[i];
}

// The open entry for `kind`: its own, else an empty one, else the one it hashes to (whose
// block is closed). A full block found in it is closed. Bounded by kOpenKinds.
cpu_slot::open_entry& engine_core::entry_for_locked(cpu_slot& s, const reclaim_kind& kind) noexcept {
  cpu_slot::open_entry* empty = nullptr;
  for (auto& entry : s.open) {
    if (entry.kind == &kind) {
      if (entry.blk->full()) close_locked(s, entry);
      return entry;
    }
    if (empty == nullptr && entry.blk == nullptr) empty = &entry;
  }
  if (empty != nullptr) return *empty;
  auto& victim = s.open[(reinterpret_cast<std::uintptr_t>(&kind) >> 4) % kOpenKinds];
  close_locked(s, victim);
  return victim;
}

bool engine_core::append_locked(cpu_slot& s, void* obj, const reclaim_kind& kind) noexcept {
  // Fast case first: this kind's block is open and has room.
  for (auto& entry : s.open) {
    if (entry.kind == &kind && !entry.blk->full()) {
      block* b = entry.blk;
      b->records()[b->count++] = obj;
      // relaxed load + store: single writer (the busy holder), read by snapshot().
      s.queued.store(s.queued.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return true;
    }
  }
  void* page = s.cache.take();
  if (page == nullptr) {
    page = s.take_spare_locked();
  }
  if (page == nullptr) {
    // A full block must not wait for a page to be closed: the worker should see it now.
    for (auto& entry : s.open) {
      if (entry.kind == &kind) close_locked(s, entry);
    }
    return false;
  }
  append_to_new_page_locked(s, page, obj, kind);
  return true;
}

void engine_core::append_to_new_page_locked(cpu_slot& s, void* page, void* obj,
                                            const reclaim_kind& kind) noexcept {
  cpu_slot::open_entry& e = entry_for_locked(s, kind);
  if (e.blk != nullptr) close_locked(s, e);  // a partly filled block of this kind: close it
  const auto index = static_cast<std::uint32_t>(&s - slots);
  block* b = new (page) block(&kind, cfg.page_size, index, now_ms());
  b->records()[0] = obj;
  b->count = 1;
  e.kind = &kind;
  e.blk = b;
  // relaxed load + store: single writer (the busy holder), read by snapshot().
  s.queued.store(s.queued.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.blocks_opened.store(s.blocks_opened.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
}

void engine_core::close_locked(cpu_slot& s, cpu_slot::open_entry& e) noexcept {
  block* b = e.blk;
  e.blk = nullptr;
  e.kind = nullptr;
  b->cookie = gp.snapshot();  // a full fence; once per block, not per object
  s.closed.push(b);           // (S1) publishes the records to the worker
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
