// SPDX-License-Identifier: MIT
// supervisor_pacing_test.cpp — how long the supervisor sleeps after each kind of look, decided
// without threads (src/supervisor_pacing.hpp).
#include "supervisor_pacing.hpp"

#include <catch2/catch.hpp>
#include <chrono>

using rcufree::detail::kNeverMs;
using rcufree::detail::kQuietMs;
using rcufree::detail::supervisor_pacing;
using us = std::chrono::microseconds;

namespace {
constexpr us kTick{1000}, kShortCap{8000};  // the defaults: 1 ms tick, min(20 ms drain, 8 ticks)
const supervisor_pacing kPacing(kTick, kShortCap);

supervisor_pacing::seen idle_at(std::uint32_t now_ms, std::uint32_t quiet_since_ms) {
  return {false, false, false, true, now_ms, kNeverMs, quiet_since_ms};
}
}  // namespace

TEST_CASE("the supervisor looks every tick while it reclaims or a CPU with work is unwatched") {
  CHECK(kPacing.next({false, true, false, false, 0, kNeverMs, 0}, us(125'000)) == kTick);
  CHECK(kPacing.next({false, false, true, true, 0, kNeverMs, 0}, kShortCap) == kTick);
  // Single mode over the soft cap: at once.
  CHECK(kPacing.next({true, true, true, false, 0, kNeverMs, 0}, kTick) == us(0));
}

TEST_CASE("with CPU threads watching aging work, the supervisor looks when the first falls due") {
  const auto aging = [](std::uint32_t now, std::uint32_t due) {
    return kPacing.next({false, false, true, false, now, due, now}, kTick);
  };
  CHECK(aging(100, 105) == us(5000));
  CHECK(aging(100, 100) == kTick);       // due now: a tick, not a spin
  CHECK(aging(100, 1000) == kShortCap);  // far off: at most the short cap
  CHECK(aging(100, kNeverMs) == kShortCap);
}

TEST_CASE("an idle supervisor backs off to the short cap, then after a quiet second to 125 ms") {
  us sleep = kTick;
  std::uint32_t now = 0;
  // Within the quiet second: 3, 7, 8, 8 ... ms.
  sleep = kPacing.next(idle_at(now, 0), sleep);
  CHECK(sleep == us(3000));
  sleep = kPacing.next(idle_at(now, 0), sleep);
  CHECK(sleep == us(7000));
  sleep = kPacing.next(idle_at(now, 0), sleep);
  CHECK(sleep == kShortCap);
  // Past it: doubling up to kIdleCap; the looks of an idle engine's later seconds number about
  // eight (the reclaim-test counts the real thread's wake-ups: at most ten a second).
  now = kQuietMs;
  int looks_in_last_second = 0;
  std::int64_t elapsed_us = 0;
  while (elapsed_us < 5'000'000) {
    sleep = kPacing.next(idle_at(now, 0), sleep);
    elapsed_us += sleep.count();
    now = kQuietMs + static_cast<std::uint32_t>(elapsed_us / 1000);
    if (elapsed_us > 4'000'000) ++looks_in_last_second;
  }
  CHECK(sleep == supervisor_pacing::kIdleCap);
  CHECK(looks_in_last_second >= 8);
  CHECK(looks_in_last_second <= 9);
}
