// SPDX-License-Identifier: MIT
// counter.hpp — statistics counters.
//
// Every counter here is a statistic or a polling hint: nothing is published through it, so
// relaxed ordering is enough everywhere (the data a counter describes is handed over by a busy
// flag, a lock or a wait-free list, each with its own acquire/release pair). Two kinds:
//   stat_counter   many writers: one relaxed fetch_add per event.
//   owned_counter  one writer at a time (the holder of a flag or lock that orders successive
//                  writers): a relaxed load and store, no read-modify-write on the hot path.
// Readers on other threads may see a value a little behind; each is monotonic on its own.
#pragma once

#include <atomic>
#include <cstdint>

namespace rcufree::detail {

class stat_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class owned_counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A high-water mark with many writers.
class peak_gauge {
 public:
  void observe(std::uint64_t v) noexcept {
    std::uint64_t seen = v_.load(std::memory_order_relaxed);
    while (v > seen && !v_.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace rcufree::detail
