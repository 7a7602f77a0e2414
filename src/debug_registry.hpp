// SPDX-License-Identifier: MIT
// debug_registry.hpp — RCUFREE_DEBUG builds: which objects are queued right now.
//
// The kernel's debug-objects check for kfree_rcu, in user space: an object queued a second time
// before its grace period ended (a double free in waiting) is reported as misuse at the second
// call, naming the object. A fixed open-addressing table sized at engine construction: insert is
// lock-free and bounded (kProbes slots), so the atomic path stays allocation-free and syscall-free
// in debug builds too. When a probe run is full the object goes untracked, never
// waited for.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace rcufree::detail {

class debug_registry {
 public:
  explicit debug_registry(std::size_t slots_log2 = 21);
  // Atomic-safe. Reports misuse if obj is already queued: always fatal on the atomic path (it may
  // be a signal handler), per set_misuse_action() on the head-less path.
  void on_queue(const void* obj, bool atomic_path);
  // Sleepable (the freeing thread), before the free.
  void on_free(const void* obj) noexcept;

 private:
  static constexpr unsigned kProbes = 64;
  static constexpr std::uintptr_t kEmpty = 0, kErased = 1;
  std::size_t index(std::uintptr_t key) const noexcept {
    return static_cast<std::size_t>((key >> 4) * 0x9E3779B97F4A7C15ull >> shift_);
  }
  std::unique_ptr<std::atomic<std::uintptr_t>[]> table_;
  std::size_t mask_;
  unsigned shift_;
};

}  // namespace rcufree::detail
