// SPDX-License-Identifier: MIT
// coarse_clock.hpp — the engine's millisecond clock.
//
// Advanced by the engine's threads at each pass (tick), read by them and by sleepable callers with
// one relaxed load; the atomic path never reads it (a new block's stamp is its slot's last take
// time, cpu_slot::taken_ms). 32 bits of milliseconds wrap after 49.7 days: compare times through
// their difference, never with <.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rcufree::detail {

class coarse_clock {
 public:
  coarse_clock() noexcept : epoch_(std::chrono::steady_clock::now()) {}

  std::uint32_t now() const noexcept {
    // relaxed: a stale value only makes a block look younger or older by a tick.
    return ms_.load(std::memory_order_relaxed);
  }
  // Sleepable threads (reads the system clock: a vDSO call, no system call on x86_64).
  void tick() noexcept {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - epoch_)
                        .count();
    ms_.store(static_cast<std::uint32_t>(ms), std::memory_order_relaxed);  // relaxed: see now()
  }

 private:
  std::atomic<std::uint32_t> ms_{0};
  std::chrono::steady_clock::time_point epoch_;
};

// An engine time that never comes (nothing due).
inline constexpr std::uint32_t kNeverMs = ~std::uint32_t{0};

// Engine time `when` has come.
inline bool reached(std::uint32_t now, std::uint32_t when) noexcept {
  return static_cast<std::int32_t>(now - when) >= 0;
}
// How long ago `since` was (0 if it looks later than now: the clock may step back a tick).
inline std::uint32_t age(std::uint32_t now, std::uint32_t since) noexcept {
  const auto d = static_cast<std::int32_t>(now - since);
  return d > 0 ? static_cast<std::uint32_t>(d) : 0;
}
// From engine time now_ms until due_ms (kNeverMs: never), in microseconds; 0 once due.
inline std::chrono::microseconds time_until(std::uint32_t now_ms, std::uint32_t due_ms) noexcept {
  if (due_ms == kNeverMs) return std::chrono::microseconds::max();
  return std::chrono::microseconds(
      reached(now_ms, due_ms) ? 0
                              : 1000 * std::int64_t{static_cast<std::int32_t>(due_ms - now_ms)});
}

// After this long with no work, the engine's threads slow to their idle pace (cpu_pacing.hpp,
// supervisor_pacing.hpp): a producer that migrated away often comes back within it.
inline constexpr std::uint32_t kQuietMs = 1000;

}  // namespace rcufree::detail
