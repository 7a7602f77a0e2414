// SPDX-License-Identifier: MIT
// counted.hpp — test objects that know whether they were freed, and readers that can check.
#pragma once

#include <rcufree/rcufree.hpp>

#include <atomic>
#include <cstdint>

namespace rcufree_test {

// Destroyed through delete_rcu: the destructor bumps a shared counter and poisons the object.
struct counted {
  static constexpr std::uint64_t kAlive = 0xA11CEA11CEA11CE5ull;
  static constexpr std::uint64_t kDead = 0xDEADDEADDEADDEADull;

  explicit counted(std::atomic<std::uint64_t>* deaths) : sink(deaths) {}
  ~counted() {
    magic = kDead;
    sink->fetch_add(1, std::memory_order_relaxed);  // relaxed: read after barrier()
  }
  std::uint64_t magic = kAlive;
  std::atomic<std::uint64_t>* sink;
  rcu_head head{};
};

// Plain C-style object for kfree_rcu (std::free): the test counts mallocs itself.
struct plain {
  long payload[4];
  rcu_head head;
};

}  // namespace rcufree_test
