// SPDX-License-Identifier: MIT
// fault_allocator.hpp — a page allocator for config.allocate_page that fails or stalls on demand,
// and counts every page it has out.
#pragma once

#include <rcufree/config.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

namespace torture {

class fault_allocator {
 public:
  enum class mode : int {
    ok,           // every allocation succeeds
    always_fail,  // every allocation returns nullptr
    random_fail,  // about one in two fails (a hash of the call number decides)
    bursts,       // 192 failures in a row, then 64 successes, repeating
  };

  void set_mode(mode m) noexcept { mode_.store(m, std::memory_order_relaxed); }  // relaxed: a knob
  // The next allocation (only the next one) sleeps this long first: a stalled refill.
  void stall_next(std::chrono::milliseconds d) noexcept {
    stall_ms_.store(d.count(), std::memory_order_relaxed);  // relaxed: a knob
  }

  void* allocate(std::size_t bytes) noexcept {
    // relaxed: a call number for the failure pattern; no data hangs on it.
    const std::uint64_t i = calls_.fetch_add(1, std::memory_order_relaxed);
    // relaxed: a knob; exchange so that exactly one call stalls.
    if (const auto ms = stall_ms_.exchange(0, std::memory_order_relaxed); ms > 0) {
      stalls_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    bool fail = false;
    switch (mode_.load(std::memory_order_relaxed)) {  // relaxed: a knob
      case mode::ok: break;
      case mode::always_fail: fail = true; break;
      case mode::random_fail: fail = ((i * 0x9E3779B97F4A7C15ull) >> 63) != 0; break;
      case mode::bursts: fail = (i / 64) % 4 != 3; break;
    }
    if (fail) {
      failures_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      return nullptr;
    }
    void* page = std::aligned_alloc(bytes, bytes);
    if (page == nullptr) return nullptr;
    // relaxed: a statistic; the peak is kept with a CAS loop.
    const std::int64_t now = outstanding_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::int64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return page;
  }

  void release(void* page, std::size_t) noexcept {
    outstanding_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: statistic
    std::free(page);
  }

  // A config whose page allocator is this one. The allocator must outlive the engine.
  rcufree::config wire(rcufree::config cfg) {
    cfg.allocate_page = [this](std::size_t n) { return allocate(n); };
    cfg.release_page = [this](void* p, std::size_t n) { release(p, n); };
    return cfg;
  }

  // relaxed loads: statistics.
  std::int64_t outstanding() const noexcept { return outstanding_.load(std::memory_order_relaxed); }
  std::int64_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  std::uint64_t stalls() const noexcept { return stalls_.load(std::memory_order_relaxed); }
  void reset_peak() noexcept { peak_.store(outstanding(), std::memory_order_relaxed); }

 private:
  std::atomic<mode> mode_{mode::ok};
  std::atomic<std::int64_t> stall_ms_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> stalls_{0};
  std::atomic<std::int64_t> outstanding_{0};
  std::atomic<std::int64_t> peak_{0};
};

}  // namespace torture
