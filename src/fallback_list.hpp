// SPDX-License-Identifier: MIT
// fallback_list.hpp — objects linked through their own rcu_head when no page is at hand.
//
// The two-argument form never allocates: when its CPU has no empty page cached (or its slot is
// busy), the object is pushed on the CPU's fallback list, threaded through the rcu_head embedded in
// it. liburcu's struct rcu_head has two words: `next` becomes the link, `func` holds a pointer to a
// fallback_kind that says how to free the object and where the head sits inside it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <rcufree/engine.hpp>

#include "debug_registry.hpp"
#include "stop_point.hpp"
#include "wait_free_stack.hpp"

namespace rcufree::detail {

// Immutable once published. Identity: (kind, head_offset).
struct fallback_kind {
  const reclaim_kind* kind;
  std::size_t head_offset;  // (char*)head - (char*)object
};

// Finds or registers the (kind, offset) pair in a fixed process-wide table. Lock-free, bounded by
// the table size, never allocates. Reports misuse if the table (4096 pairs) is full.
const fallback_kind* fallback_kind_for(const reclaim_kind& kind, std::size_t head_offset) noexcept;

// The link lives in rcu_head::next.next (a cds_wfcq_node*); rcufree owns the head while the
// object is queued. Values are rcu_head pointers carried in that field.
struct head_link {
  static std::atomic_ref<cds_wfcq_node*> ref(rcu_head* h) noexcept {
    return std::atomic_ref<cds_wfcq_node*>(h->next.next);
  }
  static void store(rcu_head* h, rcu_head* v, std::memory_order mo) noexcept {
    ref(h).store(reinterpret_cast<cds_wfcq_node*>(v), mo);
  }
  static rcu_head* load(rcu_head* h, std::memory_order mo) noexcept {
    return reinterpret_cast<rcu_head*>(ref(h).load(mo));
  }
};

class fallback_list {
 public:
  using stack = wait_free_stack<rcu_head, head_link>;

  // Wait-free, atomic-safe.
  void push(rcu_head* head, const fallback_kind* fk) noexcept {
    rcu_head* const below = publish(head, fk);
    RCUFREE_STOP_AT(fallback_push_published);
    stack::link(head, below);
  }
  // push's two steps (wait_free_stack::publish/link), apart for tests.
  rcu_head* publish(rcu_head* head, const fallback_kind* fk) noexcept;
  // Takes every object (sleepable consumers only walk the result).
  rcu_head* take_all() noexcept { return stack_.take_all(); }
  void restore_in_child(rcu_head* chain) noexcept { stack_.restore_in_child(chain); }
  bool empty() const noexcept { return stack_.empty(); }
  // Frees a taken chain in order, stopping at a node whose link `next(node)` cannot give yet
  // (it returns stack::link_pending()): that node is returned, not freed (its pusher will still
  // write its head), else nullptr. Each object goes to free(kind, object); `freed` counts them.
  // Sleepable. `debug` (RCUFREE_DEBUG builds, else null) is told of each free.
  template <class Next, class Free>
  static rcu_head* free_chain(rcu_head* chain, debug_registry* debug, std::uint64_t& freed,
                              Next&& next, Free&& free) noexcept {
    while (chain != nullptr) {
      rcu_head* following = next(chain);
      if (following == stack::link_pending()) return chain;
      const fallback_kind* fk = kind_of(chain);
      void* object = reinterpret_cast<char*>(chain) - fk->head_offset;
      if (debug != nullptr) debug->on_free(object);
      free(*fk->kind, object);
      ++freed;
      chain = following;
    }
    return nullptr;
  }
  // Whether every link of a taken chain is stored, waiting at a pending one while `again()` says
  // to (it returns false to give up). Sleepable.
  template <class Again>
  static bool linked_to_end(rcu_head* chain, Again&& again) noexcept {
    while (chain != nullptr) {
      rcu_head* following;
      while ((following = stack::try_next(chain)) == stack::link_pending()) {
        if (!again()) return false;
      }
      chain = following;
    }
    return true;
  }
  // Number of nodes of a chain whose links are all stored.
  static std::uint64_t length(rcu_head* chain) noexcept;

 private:
  static const fallback_kind* kind_of(rcu_head* head) noexcept {
    const fallback_kind* fk;
    std::memcpy(&fk, &head->func, sizeof fk);
    return fk;
  }
  stack stack_;
};

}  // namespace rcufree::detail
