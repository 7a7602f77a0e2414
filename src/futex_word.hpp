// SPDX-License-Identifier: MIT
// futex_word.hpp — a 32-bit word a thread sleeps on and another wakes it through, with no lock:
// Linux's futex, for the engine's threads' sleeps that callers may end (engine_threads.cpp).
//
// The waker changes the word, then wakes (a system call only when the sleeper said so by the
// word's value); the sleeper sleeps only while the word still holds the value it expects, so a
// change made just before it sleeps is never missed. Sleeps may end early (a signal, a spurious
// wake-up): callers look at their own conditions again.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace rcufree::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

// Sleeps while `word` holds `expected`, at most `timeout`.
inline void futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                           std::chrono::microseconds timeout) noexcept {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(s.count());
  ts.tv_nsec = static_cast<long>(std::chrono::nanoseconds(timeout - s).count());
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &ts,
          nullptr, 0);
}

// Wakes one thread sleeping on `word` (one system call).
inline void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

}  // namespace rcufree::detail
