// SPDX-License-Identifier: MIT
// Polled grace periods: cookies, one grace period shared by its waiters, and when a closed
// block's cookie is taken.
#include <urcu/urcu-memb.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <rcufree/rcufree.hpp>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "engine_core.hpp"

using rcufree_test::counted;
using namespace std::chrono_literals;

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

TEST_CASE("one grace period serves every waiter that arrives while it runs") {
  // A patience no run reaches: every follower waits for the leader (with the engine's 50 ms, a
  // loaded ThreadSanitizer run once let a follower give up and run a third grace period).
  rcufree::detail::grace_period gp(&urcu_memb_flavor, std::chrono::hours(1));
  std::atomic<int> phase{0};  // seq_cst: the test's own steps between the reader and this thread
  std::thread reader([&] {
    urcu_memb_register_thread();
    urcu_memb_read_lock();
    phase.store(1);
    while (phase.load() != 2) std::this_thread::sleep_for(1ms);
    urcu_memb_read_unlock();
    urcu_memb_unregister_thread();
  });
  while (phase.load() != 1) std::this_thread::yield();
  const std::uint64_t before = gp.count();
  const std::uint64_t idle_cookie = gp.snapshot();  // seq even
  std::thread leader([&] { gp.synchronize(); });    // blocked by the reader
  // The leader has started its grace period once seq is odd: a cookie then reaches one further.
  while (gp.snapshot() == idle_cookie) std::this_thread::sleep_for(1ms);
  std::atomic<int> waiting{0};  // seq_cst: counted after each follower took its cookie
  std::vector<std::thread> followers;
  for (int i = 0; i < 4; ++i) {
    followers.emplace_back([&] {  // synchronize(), in its two steps
      const std::uint64_t cookie = gp.snapshot();
      waiting.fetch_add(1);
      gp.wait_until(cookie);
    });
  }
  while (waiting.load() != 4) std::this_thread::sleep_for(1ms);
  phase.store(2);
  leader.join();
  for (auto& f : followers) f.join();
  reader.join();
  // The leader's grace period, then one more that all four followers share (their cookies were
  // taken while the first was running, so it does not cover them).
  CHECK(gp.count() - before == 2);
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
