// SPDX-License-Identifier: MIT
// percpu.cpp — the atomic path (the two-argument kfree_rcu/delete_rcu), and how a CPU slot's
// flags are taken (percpu.hpp has the protocol).
//
// Per call, inline: this CPU from glibc's rseq area (one load), then one restartable sequence
// that appends the pointer to the CPU's open block (rseq_section.hpp). Out of line: a page change
// or a new kind under the own-CPU flag; with the exchange protocol, the exchange flag. A flag
// already taken (another thread on this CPU was preempted inside, or a signal handler
// interrupted this very thread inside) is never waited for: the object goes to the fallback list
// instead. So is an object for which no empty page is pooled. Nothing here allocates, blocks or
// makes a system call; every loop is bounded (three sequences, the fallback registry size).
// Misuse found here always aborts (it may be a signal handler: no exception may leave it).
#include <sched.h>
#include <sys/rseq.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "engine_core.hpp"
#include "misuse.hpp"
#include "patience.hpp"

namespace rcufree {

using detail::cpu_slot;

void engine::queue_with_head(void* obj, rcu_head* head, const detail::reclaim_kind& kind) noexcept {
  detail::queue_with_head(core_->slots, obj, head, kind);
}

void detail::queue_slow(cpu_slots& slots, void* obj, rcu_head* head, const reclaim_kind& kind,
                        std::int32_t cpu, rseq_result first) noexcept {
  using detail::rseq_result;
  cpu_slot* s = nullptr;
  if (slots.rseq()) {
    // Three sequences at most: each restart means this thread was preempted, migrated or
    // signalled inside one, and the next try reads the CPU again.
    rseq_result r = first;
    for (int tries = 1;; ++tries) {
      if (static_cast<std::uint32_t>(cpu) >= slots.size()) break;  // no sequence there
      s = &slots[static_cast<std::size_t>(cpu)];
      const auto here = static_cast<std::uint32_t>(cpu);
      if (r == rseq_result::other) {  // a page change or a new kind: under the `here` flag
        r = detail::rseq_enter(s->head, here);
        if (r == rseq_result::committed) {
          RCUFREE_STOP_AT(slot_flag_held);
          const bool queued = s->append_locked(obj, kind);
          s->leave(cpu_slot::entry{cpu_slot::entry::here});
          if (queued) return;
          break;
        }
      }
      if (r == rseq_result::held) {
        s->contended.add();
        break;
      }
      if (tries == 3) break;
      cpu = detail::rseq_cpu_registered();
      if (static_cast<std::uint32_t>(cpu) >= slots.size()) break;
      r = detail::rseq_append(slots[static_cast<std::size_t>(cpu)].head,
                              static_cast<std::uint32_t>(cpu), obj, &kind);
      if (r == rseq_result::committed) return;
    }
    if (s == nullptr) s = &slots.this_cpu_slot();
  } else {
    s = &slots.this_cpu_slot();
    if (const cpu_slot::entry e = s->try_enter_by_exchange()) {
      RCUFREE_STOP_AT(slot_flag_held);
      const bool queued = s->append_locked(obj, kind);
      s->leave(e);
      if (queued) return;
    } else {
      s->contended.add();
    }
  }
  // head >= obj: the member-pointer form guarantees it; the C API checks it before calling here.
  const auto offset =
      reinterpret_cast<std::uintptr_t>(head) - reinterpret_cast<std::uintptr_t>(obj);
  // Counted before the push: every node a list can hold is in handed_over(), so a fork child that
  // finds a pusher's node (whole, its link not stored yet) frees it and counts exactly the
  // objects past it as abandoned. (Counted after, that node was freed but never counted, and one
  // object past it went missing from stats.fork_abandoned: found by the stop-point matrix.)
  s->fallback_queued.add();
  s->fallback.push(head, detail::fallback_kind_for(kind, offset));
}

#ifdef RCUFREE_DEBUG
void detail::check_queue(cpu_slots& slots, void* obj) {
  // relaxed: a best-effort check for use after destruction.
  if (slots.magic.load(std::memory_order_relaxed) != cpu_slots::kAlive) {
    RCUFREE_MISUSE_FATAL(
        "kfree_rcu/delete_rcu called on an engine that is being or has been destroyed");
  }
  if ((reinterpret_cast<std::uintptr_t>(obj) & 1) != 0) {
    RCUFREE_MISUSE_FATAL(
        "kfree_rcu/delete_rcu called with an odd address; objects must come "
        "from malloc or operator new");
  }
  slots.debug->on_queue(obj, /*atomic_path=*/true);
}
#endif

namespace detail {

// The CPU this thread runs on: the rseq area's cpu_id (rseq_cpu(), one thread-local load, where
// sched_getcpu() is a vDSO call), else sched_getcpu().
static inline int current_cpu() noexcept {
  const std::int32_t cpu = rseq_cpu();
  return cpu >= 0 ? cpu : sched_getcpu();
}

std::size_t cpu_slots::this_cpu() const noexcept {
  const int cpu = current_cpu();
  const std::size_t i = cpu < 0 ? 0 : static_cast<std::size_t>(cpu);
  return i < count_ ? i : i % count_;  // CPUs hot-added past the count seen at start
}

cpu_slots::cpu_slots(std::size_t count, const config& cfg, bool rseq, debug_registry* debug_checks)
    : debug(debug_checks),
      at_(static_cast<cpu_slot*>(
          ::operator new (sizeof(cpu_slot) * count, std::align_val_t{alignof(cpu_slot)}))),
      count_(count),
      rseq_(rseq) {
  for (std::size_t i = 0; i < count; ++i)
    new (&at_[i]) cpu_slot(i, cfg.cached_pages_per_cpu, cfg.page_size, rseq);
}

cpu_slots::~cpu_slots() {
  // relaxed: debug detection only (a late call reads it before anything else).
  magic.store(0, std::memory_order_relaxed);
  for (std::size_t i = 0; i < count_; ++i) at_[i].~cpu_slot();
  ::operator delete (at_, std::align_val_t{alignof(cpu_slot)});
}

// The page switch's first step: the open block, if any, emptied and pushed on `closed`. No
// cookie, no fence: the reclaimer stamps one after it takes the list (take_closed_blocks).
inline void cpu_slot::close_open_block() noexcept {
  block* b = head.open;
  if (b == nullptr) return;
  // relaxed: ordered by the flags.
  const std::uint64_t f = head.fill.load(std::memory_order_relaxed);
  b->count = static_cast<std::uint32_t>(f);
  b->objects = static_cast<std::uint32_t>(f >> 32);
  closed_objects.add(b->objects);
  // (F1) release: the count above before the emptied fill; pairs with (F2) in queued(). Every
  // later store of the fill word is release too, so a reader that sees a refilled word also sees
  // this count.
  head.fill.store(0, std::memory_order_release);
  head.open = nullptr;
  RCUFREE_STOP_AT(block_closed);
  block* const below = closed.publish(b);  // (S1) publishes the records to the reclaimer
  RCUFREE_STOP_AT(closed_push_published);
  block_stack::link(b, below);
}

// The second: `page` becomes the open block, obj its first object. Its opened_ms is the time of
// the reclaimer's last take here (taken_ms), on the line the push above just exchanged.
inline void cpu_slot::install_page(void* page, void* obj, const reclaim_kind& kind) noexcept {
  close_open_block();
  // relaxed: a hint written by the reclaimer (percpu.hpp says why a stale one is safe).
  block* b = new (page) block(records_per_page, taken_ms.load(std::memory_order_relaxed));
  b->records()[0] = block::marker(&kind);
  b->records()[1] = obj;
  b->last_kind = &kind;
  // (F1) release: after close_open_block's closed count; ordered for the other writers by the
  // flags.
  head.fill.store(2 * kOneRecord + kOneObject, std::memory_order_release);
  head.open = b;
  blocks_opened.add();
}

bool cpu_slot::append_to_pooled_page_locked(void* obj, const reclaim_kind& kind) noexcept {
  void* page = pool.take();
  if (page == nullptr) {
    close_open_block();  // a full block must not wait for a page: the reclaimer should see it now
    return false;
  }
  RCUFREE_STOP_AT(page_taken);
  install_page(page, obj, kind);
  return true;
}

void cpu_slot::append_to_page_locked(void* page, void* obj, const reclaim_kind& kind) noexcept {
  install_page(page, obj, kind);
}

void cpu_slot::close_locked() noexcept {
  close_open_block();
}

cpu_slot::entry cpu_slot::try_enter() noexcept {
  patience once(patience::kind::none, cpu, "the slot's flag");
  return enter(once);
}

cpu_slot::entry cpu_slot::enter(patience& wait) noexcept {
  if (!rseq) {
    for (;;) {
      if (const entry e = try_enter_by_exchange()) return e;
      if (!wait.again()) return entry{};
    }
  }
  while (rseq_cpu() == static_cast<std::int32_t>(cpu)) {
    switch (rseq_enter(head, cpu)) {
      case rseq_result::committed:
        return entry{entry::here};
      case rseq_result::held:
        if (!wait.again()) return entry{};
        break;
      default:
        break;  // restarted (preempted, migrated, signalled): look at the CPU again
    }
  }
  while (!try_exchange()) {
    if (!wait.again()) return entry{};
  }
  return claim_from_here_holders(wait) ? entry{entry::elsewhere} : entry{};
}

bool cpu_slot::claim_from_here_holders(patience& wait) noexcept {
  // (M1) the exchange (done), then every sequence on this CPU restarted or committed.
  restart_sequences_on(cpu);
  // (M3) acquire: pairs with (B2) of the `here` holder.
  while (head.here.load(std::memory_order_acquire) != 0) {
    if (!wait.again()) {
      head.elsewhere.store(0, std::memory_order_release);  // (B2)
      return false;
    }
  }
  return true;
}

}  // namespace detail
}  // namespace rcufree
