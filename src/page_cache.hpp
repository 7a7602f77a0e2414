// page_cache.hpp — one CPU's cache of empty pages.
//
// A single-producer single-consumer ring (Boost.Lockfree spsc_queue, sized once at construction,
// never allocating after): the worker is the only producer (refills and recycled pages); the
// consumer is whoever holds the CPU slot's busy flag, which serializes the atomic callers, the
// head-less callers and the worker's shrink into one consumer at a time. Both ends are wait-free.
// Invariant: pushed - popped == pages in the ring <= capacity.
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>

namespace rcufree::detail {

class page_cache {
 public:
  // capacity 0 is allowed: every take() then fails.
  explicit page_cache(std::size_t capacity) : ring_(capacity + 1), capacity_(capacity) {}

  // Consumer side (busy-flag holder). Wait-free, no allocation, no system call.
  void* take() noexcept {
    void* page = nullptr;
    if (!ring_.pop(page)) return nullptr;
    // relaxed: a statistic written only by the (serialized) consumer.
    popped_.store(popped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return page;
  }

  // Producer side (worker only). False when the ring is full.
  bool put(void* page) noexcept {
    if (size() >= capacity_ || !ring_.push(page)) return false;
    // relaxed: a statistic written only by the producer.
    pushed_.store(pushed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return true;
  }

  // Approximate from any thread; exact from the producer when no consumer runs.
  std::size_t size() const noexcept {
    // relaxed: statistics; the producer's own count is exact, popped may lag.
    const auto in = pushed_.load(std::memory_order_relaxed);
    const auto out = popped_.load(std::memory_order_relaxed);
    return in > out ? static_cast<std::size_t>(in - out) : 0;
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  boost::lockfree::spsc_queue<void*> ring_;
  std::size_t capacity_;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> popped_{0};
};

}  // namespace rcufree::detail
