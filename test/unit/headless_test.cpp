// SPDX-License-Identifier: MIT
// The head-less forms: pages when they can, a grace period and an inline free when they cannot.
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

#include <sched.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include "counted.hpp"

using rcufree_test::counted;

TEST_CASE("head-less frees go through blocks and are freed after barrier") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::engine eng;
  for (int i = 0; i < 3000; ++i) {
    eng.kvfree_rcu_mightsleep(std::malloc(48));
    eng.delete_rcu_mightsleep(new counted(&deaths));
  }
  eng.barrier();
  const auto st = eng.snapshot();
  CHECK(deaths.load() == 3000);
  CHECK(st.freed == 6000);
  CHECK(st.inline_frees == 0);
  CHECK(st.fallback_objects == 0);
}

TEST_CASE("head-less frees with an empty cache allocate a page on the caller") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 0;
  rcufree::engine eng(cfg);
  for (int i = 0; i < 1200; ++i) eng.delete_rcu_mightsleep(new counted(&deaths));
  const auto st = eng.snapshot();
  CHECK(st.page_allocs >= 3);  // 1200 objects need at least three 507-pointer pages
  CHECK(st.inline_frees == 0);
  eng.barrier();
  CHECK(deaths.load() == 1200);
}

TEST_CASE("head-less frees with no page to be had wait for a grace period and free inline") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 0;
  cfg.allocate_page = [](std::size_t) -> void* { return nullptr; };
  cfg.release_page = [](void* p, std::size_t) { std::free(p); };
  rcufree::engine eng(cfg);
  for (int i = 0; i < 50; ++i) eng.delete_rcu_mightsleep(new counted(&deaths));
  CHECK(deaths.load() == 50);  // already freed: no barrier needed
  const auto st = eng.snapshot();
  CHECK(st.inline_frees == 50);
  CHECK(st.pending == 0);
}

TEST_CASE("with sleepable_callers_reclaim the head-less caller frees its own CPU's closed blocks") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.sleepable_callers_reclaim = true;
  cfg.drain_interval = std::chrono::hours(1);  // the worker only runs when a caller wakes it
  cfg.worker_tick = std::chrono::hours(1);
  rcufree::engine eng(cfg);
  for (int i = 0; i < 5000; ++i) eng.delete_rcu_mightsleep(new counted(&deaths));
  const auto st = eng.snapshot();
  CHECK(st.caller_reclaims >= 3 * 507);  // whole blocks, freed on this thread
  CHECK(deaths.load() >= st.caller_reclaims);  // the rest: worker passes woken by page refills
  CHECK(st.grace_periods >= 1);          // the caller waited for them itself
  eng.barrier();
  CHECK(deaths.load() == 5000);
}

TEST_CASE("barrier stays exact while sleepable callers reclaim for themselves") {
  rcufree::config cfg;
  cfg.sleepable_callers_reclaim = true;
  rcufree::engine eng(cfg);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::atomic<std::uint64_t> mine{0};
      for (int r = 1; r <= 20; ++r) {
        for (int i = 0; i < 900; ++i) eng.delete_rcu_mightsleep(new counted(&mine));
        eng.barrier();
        if (mine.load() != static_cast<std::uint64_t>(r) * 900) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("reclaim_local frees this CPU's blocks and fallback objects on the calling thread") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);  // the worker stays asleep unless woken
  cfg.worker_tick = std::chrono::hours(1);
  cfg.cached_pages_per_cpu = 1;  // 507 objects by page, then the fallback list
  rcufree::engine eng(cfg);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  for (int i = 0; i < 3000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  CHECK(deaths.load() == 0);
  const std::size_t freed = eng.reclaim_local();
  CHECK(freed == deaths.load());
  CHECK(freed >= 3000 - 507);  // everything but what is still in the open block
  CHECK(eng.snapshot().caller_reclaims == freed);
  CHECK(eng.reclaim_local() == 0);  // nothing handed over since
  eng.barrier();
  CHECK(deaths.load() == 3000);
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);
}

TEST_CASE("reclaim_local inside an atomic_scope is misuse and throws when asked") {
  rcufree::engine eng;
  const auto previous = rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
  {
    rcufree::atomic_scope scope;
    CHECK_THROWS_AS(eng.reclaim_local(), rcufree::misuse_error);
  }
  rcufree::set_misuse_action(previous);
}
