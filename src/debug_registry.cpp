// SPDX-License-Identifier: MIT
// debug_registry.cpp — double-queue detection for RCUFREE_DEBUG builds.
#include "debug_registry.hpp"

#include "misuse.hpp"

#include <cstdio>

namespace rcufree::detail {

debug_registry::debug_registry(std::size_t slots_log2)
    : table_(new std::atomic<std::uintptr_t>[std::size_t{1} << slots_log2]()),
      mask_((std::size_t{1} << slots_log2) - 1),
      shift_(static_cast<unsigned>(64 - slots_log2)) {}

void debug_registry::on_queue(const void* obj, bool atomic_path) {
  const auto key = reinterpret_cast<std::uintptr_t>(obj);
  std::atomic<std::uintptr_t>* free_slot = nullptr;
  for (unsigned i = 0; i < kProbes; ++i) {
    auto& slot = table_[(index(key) + i) & mask_];
    // acquire: pairs with the release CAS that inserted a value, so a hit is a real entry.
    const std::uintptr_t v = slot.load(std::memory_order_acquire);
    if (v == key) {
      static constexpr char kSentence[] =
          "an object was queued for freeing twice before its grace period ended (a double free "
          "in waiting)";
      if (atomic_path) RCUFREE_MISUSE_FATAL(kSentence);
      char sentence[256];
      std::snprintf(sentence, sizeof sentence, "object %p was queued for freeing twice before its "
                    "grace period ended (a double free in waiting)", obj);
      RCUFREE_MISUSE(sentence);
    }
    if (v == kEmpty) {
      if (free_slot == nullptr) free_slot = &slot;
      break;  // the probe run ends here: the key is not further along
    }
    if (v == kErased && free_slot == nullptr) free_slot = &slot;
  }
  if (free_slot != nullptr) {
    std::uintptr_t expected = free_slot->load(std::memory_order_relaxed);
    if (expected <= kErased &&
        // release: publishes the entry; pairs with the acquire loads above and in on_free.
        free_slot->compare_exchange_strong(expected, key, std::memory_order_release,
                                           std::memory_order_relaxed)) {
      return;
    }
  }
}

void debug_registry::on_free(const void* obj) noexcept {
  const auto key = reinterpret_cast<std::uintptr_t>(obj);
  for (unsigned i = 0; i < kProbes; ++i) {
    auto& slot = table_[(index(key) + i) & mask_];
    std::uintptr_t v = slot.load(std::memory_order_acquire);  // pairs with on_queue's release
    if (v == kEmpty) return;  // untracked
    if (v == key) {
      // A tombstone, never empty again: emptying a slot while another thread inserts past it
      // would cut that entry off its probe run and later report a false double queue. The price
      // (debug builds only): a long-running process probes further as tombstones accumulate.
      // relaxed: the slot's only meaning is the key; no data hangs off it.
      slot.compare_exchange_strong(v, kErased, std::memory_order_relaxed);
      return;
    }
  }
}

}  // namespace rcufree::detail
