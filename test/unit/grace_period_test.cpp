// SPDX-License-Identifier: MIT
// Polled grace periods: cookies, and when a closed block's cookie is taken.
#include <catch2/catch.hpp>
#include <rcufree/rcufree.hpp>

#include "counted.hpp"
#include "engine_core.hpp"

using rcufree_test::counted;

TEST_CASE("a cookie expires after exactly one full grace period from idle") {
  rcufree::detail::grace_period gp(&urcu_memb_flavor);
  const auto cookie = gp.snapshot();
  CHECK_FALSE(gp.expired(cookie));
  gp.synchronize();
  CHECK(gp.expired(cookie));
  const auto later = gp.snapshot();
  CHECK(later > cookie);
  CHECK_FALSE(gp.expired(later));
  CHECK(gp.count() == 1);
}

TEST_CASE("a closed block's cookie is taken when the reclaimer takes it, not when it closed") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);  // the worker sleeps until barrier() wakes it
  cfg.worker_tick = std::chrono::hours(1);
  rcufree::engine eng(cfg);
  auto& core = rcufree::engine_access::core(eng);
  const std::size_t per_block = rcufree::detail::block::records_in(cfg.page_size);
  // Fill one block and start the next: the full block is closed and pushed, with no cookie.
  // All on one CPU: pin so that every call hits the same slot.
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  for (std::size_t i = 0; i < per_block + 1; ++i) {
    eng.delete_rcu(new counted(&deaths), &counted::head);
  }
  // A grace period elapses for some other reason (the worker is asleep, so this thread may drive
  // the sequence). Once that would have let the block go with no grace period of its own; now
  // its cookie is the barrier's take's, so it waits for one that starts after the take.
  core.gp.synchronize();
  const auto before = eng.snapshot();
  eng.barrier();
  const auto after = eng.snapshot();
  CHECK(deaths.load() == per_block + 1);
  CHECK(after.blocks_expired_on_arrival == before.blocks_expired_on_arrival);
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);
}
