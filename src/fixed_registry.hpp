// SPDX-License-Identifier: MIT
// fixed_registry.hpp — a fixed table of values that any context may look up or add to.
//
// The atomic path needs a stable pointer per (kind, head offset) for the fallback list, and the C
// API one reclaim kind per function given to rcufree_call; both may be asked for first from a
// signal handler, so the table never allocates, locks or waits: a bounded scan of the claimed
// entries, then one fetch_add to claim a fresh one. Two threads adding the same value at once
// get two equal entries, which is harmless; an entry not yet ready is skipped, never awaited.
// Entries live as long as the process.
#pragma once

#include <atomic>
#include <cstddef>

namespace rcufree::detail {

template <class Value, std::size_t N>
class fixed_registry {
 public:
  static constexpr std::size_t capacity = N;

  // The first ready entry for which match(value) holds, else a new entry holding `value`.
  // nullptr when the table is full (the caller says so, naming its call).
  template <class Match>
  const Value* find_or_add(Match match, const Value& value) noexcept {
    // relaxed: an upper bound for the scan; each entry's readiness is checked with (R2).
    std::size_t n = claimed_.load(std::memory_order_relaxed);
    if (n > N) n = N;
    for (std::size_t i = 0; i < n; ++i) {
      // (R2) acquire: pairs with (R1); the value is complete once ready reads true.
      if (entries_[i].ready.load(std::memory_order_acquire) && match(entries_[i].value)) {
        return &entries_[i].value;
      }
    }
    // relaxed: the claim only has to be unique; publication is (R1).
    const std::size_t i = claimed_.fetch_add(1, std::memory_order_relaxed);
    if (i >= N) return nullptr;
    entries_[i].value = value;
    // (R1) release: publishes the value; pairs with (R2).
    entries_[i].ready.store(true, std::memory_order_release);
    return &entries_[i].value;
  }

  // The position of an entry find_or_add returned, and the entry at a position it returned:
  // for callers that key something of their own by it (the drop-in's callback table).
  std::size_t index_of(const Value* v) const noexcept {
    return static_cast<std::size_t>(reinterpret_cast<const entry*>(v) - entries_);
  }
  const Value& at(std::size_t i) const noexcept { return entries_[i].value; }

 private:
  struct entry {
    Value value{};  // first: index_of converts a value's address to its entry's
    std::atomic<bool> ready{false};
  };
  entry entries_[N];
  std::atomic<std::size_t> claimed_{0};
};

}  // namespace rcufree::detail
