// fallback_list.cpp — the per-CPU list of objects linked through their rcu_head.
#include "fallback_list.hpp"

#include "misuse.hpp"

#include <cstring>

namespace rcufree::detail {
namespace {

constexpr std::size_t kMaxKinds = 4096;

struct registry_entry {
  fallback_kind value{};
  std::atomic<bool> ready{false};
};
registry_entry g_entries[kMaxKinds];
std::atomic<std::size_t> g_claimed{0};

}  // namespace

const fallback_kind* fallback_kind_for(const reclaim_kind& kind, std::size_t head_offset) noexcept {
  // relaxed: an upper bound for the scan; each entry's readiness is checked with (K2).
  std::size_t n = g_claimed.load(std::memory_order_relaxed);
  if (n > kMaxKinds) n = kMaxKinds;
  for (std::size_t i = 0; i < n; ++i) {
    // (K2) acquire: pairs with (K1); value is complete once ready reads true.
    if (g_entries[i].ready.load(std::memory_order_acquire) &&
        g_entries[i].value.kind == &kind && g_entries[i].value.head_offset == head_offset) {
      return &g_entries[i].value;
    }
  }
  // Not found: claim a fresh entry. Two threads registering the same pair at once both succeed
  // with equal entries, which is harmless. Entries not yet ready are skipped above, never awaited.
  // relaxed: the claim only has to be unique; publication is (K1).
  const std::size_t i = g_claimed.fetch_add(1, std::memory_order_relaxed);
  if (i >= kMaxKinds) {
    RCUFREE_MISUSE_FATAL("more than 4096 distinct (type, rcu_head member) pairs were passed to "
                   "kfree_rcu/delete_rcu; the fallback registry is full");
  }
  g_entries[i].value = fallback_kind{&kind, head_offset};
  // (K1) release: publishes value; pairs with (K2).
  g_entries[i].ready.store(true, std::memory_order_release);
  return &g_entries[i].value;
}

rcu_head* fallback_list::publish(void* object, rcu_head* head, const fallback_kind* fk) noexcept {
  (void)object;  // recovered from head - fk->head_offset when freed
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
