// SPDX-License-Identifier: MIT
// percpu.hpp — one CPU's slot: where the atomic path puts objects.
//
// The slot owns what atomic callers touch: its two flags, the open block, the page pool's
// consumer side, and the two wait-free lists the reclaimer takes from (closed blocks, fallback
// objects). What the reclaimer keeps per CPU (its lock, aging state, freed counts) is its own
// (reclaimer.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <rcufree/config.hpp>

#include "block.hpp"
#include "counter.hpp"
#include "debug_registry.hpp"
#include "fallback_list.hpp"
#include "page_pool.hpp"
#include "rseq_section.hpp"
#include "stop_point.hpp"
#include "wait_free_stack.hpp"

namespace rcufree::detail {

struct block_link {
  static void store(block* b, block* v, std::memory_order mo) noexcept { b->next.store(v, mo); }
  static block* load(block* b, std::memory_order mo) noexcept { return b->next.load(mo); }
};
using block_stack = wait_free_stack<block, block_link>;

class patience;

// Cache-line aligned, one per possible CPU, allocated when the engine is built.
// Invariant: queued() == objects put in blocks here (open, closed, or freed since)
//                     == closed_objects + (head.fill >> 32);
//            fallback_queued == objects pushed on `fallback`.
//
// Two protocols, one per engine (rseq_section.hpp says when the first is usable):
//   rseq       the atomic path appends same-kind objects to the open block inside a restartable
//              sequence, and takes the `here` flag inside one for anything else (a page change,
//              a new kind). Threads not on this slot's CPU take the `elsewhere` flag by exchange,
//              then restart the sequences running on the CPU and wait for `here` to be free.
//   exchange   everyone takes `elsewhere` by exchange (valgrind, ThreadSanitizer, not x86-64).
// Ordering pairs:
//   (B1) taking a flag (the exchange's acquire; the sequence's load of the flags: x86 loads are
//        acquire) pairs with (B2), the release store of the previous holder's leave(): its open
//        block, fill, pool position and counters are visible.
//   (M1) elsewhere-taker: the exchange, then membarrier(PRIVATE_EXPEDITED_RSEQ) on the slot's CPU,
//        pairs with (M2), a sequence's load of `elsewhere` before its commit: a sequence that
//        read it free before the exchange is restarted (and then reads it held), or committed
//        and visible, when membarrier returns.
//   (M3) elsewhere-taker: the acquire load of `here` after (M1) pairs with (B2) of a `here`
//        holder, which it waits for.
struct alignas(128) cpu_slot {
  cpu_slot(std::size_t cpu_number, std::size_t cached_pages, std::size_t page_bytes,
           bool rseq_sections)
      : records_per_page(static_cast<std::uint32_t>(block::records_in(page_bytes))),
        cpu(static_cast<std::uint32_t>(cpu_number)),
        rseq(rseq_sections),
        pool(cached_pages) {}
  const std::uint32_t records_per_page;  // a new block's capacity
  const std::uint32_t cpu;               // this slot's CPU number
  const bool rseq;                       // the protocol: rseq sections, or the exchange flag only

  // --- owned by the holder of a flag (and the rseq append's commit) ---
  slot_head head;
  owned_counter closed_objects;  // objects in blocks closed here
  owned_counter blocks_opened;   // pages taken into use here
  page_pool pool;                // consumer side under a flag

  // --- shared: wait-free pushes from any thread, taken by the reclaimer ---
  alignas(64) block_stack closed;  // full or aged blocks; the reclaimer stamps their cookie
  // The engine time of the reclaimer's last take on this slot, written by it beside the list it
  // exchanges (take_closed_blocks): what a page switch stamps a new block's opened_ms with, read
  // from the line the switch's push exchanges anyway, not from the engine's shared clock. It is
  // at or before the switch, so a block opened long after the last pass (after a quiet spell)
  // looks older than it is and is drained at the next look instead of drain_interval later:
  // draining early is always safe, it only lets a partly filled block go.
  std::atomic<std::uint32_t> taken_ms{0};
  fallback_list fallback;  // objects linked through their heads
  stat_counter fallback_queued;
  stat_counter contended;  // calls that found a flag taken

  // Which flag a holder has; true when it has one. leave() gives it back.
  struct entry {
    enum : std::uint8_t { none, here, elsewhere } flag = none;
    explicit operator bool() const noexcept { return flag != none; }
  };

  // Atomic-safe, exchange protocol only (the rseq protocol's atomic entry is rseq_enter): never
  // waits, never makes a system call.
  entry try_enter_by_exchange() noexcept {
    return try_exchange() ? entry{entry::elsewhere} : entry{};
  }
  // Sleepable (rseq protocol: a system call when the caller is not on this CPU): one try from
  // any thread. Fails if a flag is held.
  entry try_enter() noexcept;
  // Sleepable: waits for a held flag as `wait` allows (patience.hpp).
  entry enter(patience& wait) noexcept;
  void leave(entry e) noexcept {
    // (B2) release: publishes this holder's writes; pairs with (B1) of the next holder and with
    // (M3).
    if (e.flag == entry::here) head.here.store(0, std::memory_order_release);
    if (e.flag == entry::elsewhere) head.elsewhere.store(0, std::memory_order_release);
  }
  bool held() const noexcept {
    // relaxed: a snapshot for statistics and tests.
    return head.here.load(std::memory_order_relaxed) != 0 ||
           head.elsewhere.load(std::memory_order_relaxed) != 0;
  }

  // --- the queueing steps (percpu.cpp), each under a flag ---
  // Appends obj to the open block, closing it and opening a pooled page when it has no room.
  // False: no page at hand (the caller takes the fallback list); a full block is closed anyway.
  // The common case (room in the open block) is inline; the page change is not.
  bool append_locked(void* obj, const reclaim_kind& kind) noexcept {
    if (block* b = head.open) {
      // relaxed: the fill word's writers are ordered by the flags (B1/B2, M1-M3); its stores
      // are (F1) for queued(): see close_locked.
      const std::uint64_t f = head.fill.load(std::memory_order_relaxed);
      const auto used = static_cast<std::uint32_t>(f);
      if (&kind == b->last_kind && used < b->capacity) {
        b->records()[used] = obj;
        RCUFREE_STOP_AT(record_stored);
        head.fill.store(f + kOneRecord + kOneObject, std::memory_order_release);
        return true;
      }
      if (&kind != b->last_kind && b->capacity - used >= 2) {
        b->records()[used] = block::marker(&kind);
        b->records()[used + 1] = obj;
        b->last_kind = &kind;
        RCUFREE_STOP_AT(record_stored);
        head.fill.store(f + 2 * kOneRecord + kOneObject, std::memory_order_release);
        return true;
      }
    }
    return append_to_pooled_page_locked(obj, kind);
  }
  // The rest of append_locked, the page switch: closes the open block and opens a pooled page, if
  // there is one. One function: the pool's take, the close and the new header are inline in it.
  [[gnu::noinline]] bool append_to_pooled_page_locked(void* obj, const reclaim_kind& kind) noexcept;
  // Installs `page` as the open block (closing the current one) and appends obj to it.
  void append_to_page_locked(void* page, void* obj, const reclaim_kind& kind) noexcept;
  // Pushes the open block on `closed` (its cookie is the reclaimer's to stamp, when it takes the
  // list). Does nothing if none is open.
  void close_locked() noexcept;
  // fork child, single-threaded: a flag held at the fork means its holder was between steps
  // (a record stored before its marker, an open block half installed): that open block is not
  // trusted and is abandoned, page and all; the flags are cleared. (An rseq append either
  // committed or did not happen.) Both lists are cut at their first link a parent thread never
  // stored. The closed list goes to the reclaimer. Unless the child must wait a grace period
  // for what it inherits (`need_grace_period`), the open block is closed too, and the fallback
  // list goes to the reclaimer as past its grace period; otherwise the list stays here.
  struct adopted {
    std::uint64_t objects;  // in the open block and on the fallback list left here
    block* closed;          // the closed list, taken and cut, for the reclaimer to join
    rcu_head* past_grace;   // the fallback list, when it needs no grace period
  };
  adopted adopt_in_child(bool need_grace_period) noexcept;

  // Objects put in blocks here so far. Never less than the truth (F1/F2). A hint for other
  // threads.
  std::uint64_t queued() const noexcept {
    // (F2) acquire: pairs with (F1), every store of the fill word (release; the sequence's commit
    // is a plain x86 store after a compiler barrier): a fill seen comes with the closed count
    // of every close before it, the one that emptied it included.
    const std::uint64_t f = head.fill.load(std::memory_order_acquire);
    return closed_objects.get() + (f >> 32);
  }
  // Objects handed to this slot so far (blocks and fallback list). A hint for other threads.
  std::uint64_t handed_over() const noexcept { return queued() + fallback_queued.get(); }

 private:
  bool try_exchange() noexcept {
    // relaxed pre-check keeps a contended line shared instead of bouncing it with an RMW.
    if (head.elsewhere.load(std::memory_order_relaxed) != 0) return false;
    // (B1) acquire: pairs with (B2).
    return head.elsewhere.exchange(1, std::memory_order_acquire) == 0;
  }
  // rseq protocol, after try_exchange(): (M1), then (M3) as `wait` allows.
  bool claim_from_here_holders(patience& wait) noexcept;
  // The page switch's two steps (percpu.cpp), inline in each step above that takes them.
  [[gnu::always_inline]] inline void close_open_block() noexcept;
  [[gnu::always_inline]] inline void install_page(void* page, void* obj,
                                                  const reclaim_kind& kind) noexcept;
};

// An engine's CPU slots, one per possible CPU, with their protocol. Built and destroyed with the
// engine (engine_core.hpp), which owns all of it. A page change reads neither the grace-period
// sequence nor the engine's clock (the reclaimer stamps cookies; see cpu_slot::taken_ms).
class cpu_slots {
 public:
  cpu_slots(std::size_t count, const config& cfg, bool rseq, debug_registry* debug_checks);
  ~cpu_slots();
  cpu_slots(const cpu_slots&) = delete;
  cpu_slots& operator=(const cpu_slots&) = delete;

  cpu_slot& operator[](std::size_t i) noexcept { return at_[i]; }
  const cpu_slot& operator[](std::size_t i) const noexcept { return at_[i]; }
  std::size_t size() const noexcept { return count_; }
  bool rseq() const noexcept { return rseq_; }  // restartable sequences, or the exchange flag
  // The slot index of the CPU this thread runs on: glibc's rseq area (one thread-local load),
  // else sched_getcpu(); a CPU hot-added past the count maps into it. Any context.
  std::size_t this_cpu() const noexcept;
  cpu_slot& this_cpu_slot() noexcept { return at_[this_cpu()]; }

  debug_registry* const debug;  // RCUFREE_DEBUG builds; null otherwise
  // RCUFREE_DEBUG builds report a call into a destroyed engine while this memory still says so.
  static constexpr std::uint32_t kAlive = 0x52435546;  // "RCUF"
  std::atomic<std::uint32_t> magic{kAlive};

 private:
  cpu_slot* const at_;  // count_ slots, cache-line aligned
  const std::size_t count_;
  const bool rseq_;
};

// The atomic path (the two-argument forms) for the library's own callers: the C API, and
// engine::queue_with_head, the exported entry C++ callers reach. The common case is inline: one
// restartable sequence appends to this CPU's open block (rseq_section.hpp). The rest is out of
// line (percpu.cpp), after a first sequence that did not commit (`first`, on `cpu`) or could not
// run (the exchange protocol, no rseq area, a CPU past the slots): the inline path keeps no frame
// and reaches it by a tail call (six register arguments; noexcept: no terminate handler to keep a
// frame for).
void queue_slow(cpu_slots& slots, void* obj, rcu_head* head, const reclaim_kind& kind,
                std::int32_t cpu, rseq_result first) noexcept;
#ifdef RCUFREE_DEBUG
void check_queue(cpu_slots& slots, void* obj);  // liveness, odd address, queued twice
#endif
[[gnu::always_inline]] inline void queue_with_head(cpu_slots& slots, void* obj, rcu_head* head,
                                                   const reclaim_kind& kind) {
#ifdef RCUFREE_DEBUG
  check_queue(slots, obj);
#endif
  std::int32_t cpu = -1;
  rseq_result r = rseq_result::moved;
  if (slots.rseq()) {
    cpu = rseq_cpu_registered();  // negative only in a thread without an rseq area
    if (static_cast<std::uint32_t>(cpu) < slots.size()) {
      r = rseq_append(slots[static_cast<std::size_t>(cpu)].head, static_cast<std::uint32_t>(cpu),
                      obj, &kind);
      if (r == rseq_result::committed) return;
    }
  }
  queue_slow(slots, obj, head, kind, cpu, r);
}

}  // namespace rcufree::detail
