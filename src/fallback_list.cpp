// SPDX-License-Identifier: MIT
// fallback_list.cpp — the per-CPU list of objects linked through their rcu_head.
#include "fallback_list.hpp"

#include <cstring>

#include "fixed_registry.hpp"
#include "misuse.hpp"

namespace rcufree::detail {
namespace {
constinit fixed_registry<fallback_kind, 4096> g_fallback_kinds;  // no start-up order to mind
static_assert(decltype(g_fallback_kinds)::capacity == 4096, "the message below names it");
}  // namespace

const fallback_kind* fallback_kind_for(const reclaim_kind& kind, std::size_t head_offset) noexcept {
  const fallback_kind* fk = g_fallback_kinds.find_or_add(
      [&](const fallback_kind& e) { return e.kind == &kind && e.head_offset == head_offset; },
      fallback_kind{&kind, head_offset});
  if (fk == nullptr) {
    RCUFREE_MISUSE_FATAL(
        "more than 4096 distinct (type, rcu_head member) pairs were passed to "
        "kfree_rcu/delete_rcu; the fallback registry is full");
  }
  return fk;
}

// The object is recovered from head - fk->head_offset when freed.
rcu_head* fallback_list::publish(rcu_head* head, const fallback_kind* fk) noexcept {
  // Plain store: published by the release exchange (S1) in stack::publish.
  std::memcpy(&head->func, &fk, sizeof fk);
  return stack_.publish(head);
}

std::uint64_t fallback_list::length(rcu_head* chain) noexcept {
  std::uint64_t n = 0;
  for (; chain != nullptr; chain = stack::try_next(chain)) ++n;
  return n;
}

}  // namespace rcufree::detail
