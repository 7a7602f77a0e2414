// SPDX-License-Identifier: MIT
// A CPU's page pool: how its target follows demand (case by case, no threads), and the
// supervisor's top-up of a pool that runs low while the slot's own reclaimer is busy (a burst).
#include "page_pool.hpp"

#include <sched.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <rcufree/rcufree.hpp>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "cpus.hpp"
#include "engine_core.hpp"
#include "step_aside.hpp"

using namespace std::chrono_literals;
using rcufree::detail::page_pool;
using rcufree_test::counted;

namespace {

constexpr std::uint32_t kDecayMs = 1000;
constexpr std::uint32_t kRecordsPerPage = 507;

// Pages for a pool that never frees them: distinct addresses are all it needs.
struct fake_pages {
  std::vector<char> bytes = std::vector<char>(4096);
  std::size_t next = 0;
  void* get() { return &bytes.at(next++); }
};

void fill(page_pool& pool, fake_pages& pages) {
  while (pool.put(pages.get())) {
  }
}

}  // namespace

TEST_CASE("a quiet pool rests at five pages and put() stops at its target") {
  page_pool pool(128);
  fake_pages pages;
  fill(pool, pages);
  CHECK(pool.target() == 5);
  CHECK(pool.size() == 5);
  CHECK_FALSE(pool.retarget(0, kDecayMs, kRecordsPerPage));
  CHECK(pool.target() == 5);
}

TEST_CASE("a pool that gave half its target or more since the last look doubles it") {
  page_pool pool(128);
  fake_pages pages;
  fill(pool, pages);
  REQUIRE(pool.take() != nullptr);
  REQUIRE(pool.take() != nullptr);
  CHECK_FALSE(pool.retarget(1, kDecayMs, kRecordsPerPage));  // 2 of 5: below half, kept
  CHECK(pool.target() == 5);
  REQUIRE(pool.take() != nullptr);
  REQUIRE(pool.take() != nullptr);
  REQUIRE(pool.take() != nullptr);
  CHECK_FALSE(pool.retarget(2, kDecayMs, kRecordsPerPage));  // 3 of 5: a burst starting
  CHECK(pool.target() == 10);
}

TEST_CASE("a pool that ran dry grows to twice its demand, within its bound") {
  page_pool pool(128);
  fake_pages pages;
  fill(pool, pages);
  while (pool.take() != nullptr) {
  }
  // 5 pages taken, then 20 pages' worth of objects found none (each miss is one object; the
  // loop above ended on the first).
  bool all_missed = true;
  for (std::uint32_t k = 1; k < 20 * kRecordsPerPage; ++k) all_missed &= pool.take() == nullptr;
  CHECK(all_missed);
  CHECK(pool.retarget(1, kDecayMs, kRecordsPerPage));
  CHECK(pool.target() == 2 * (5 + 20));
  for (std::uint32_t k = 0; k < 200 * kRecordsPerPage; ++k) (void)pool.take();
  CHECK(pool.retarget(2, kDecayMs, kRecordsPerPage));
  CHECK(pool.target() == 128);
}

TEST_CASE("an unused pool halves its target once per decay period, not below resting") {
  page_pool pool(128);
  for (std::uint32_t k = 0; k < 100 * kRecordsPerPage; ++k) (void)pool.take();  // all missed
  CHECK(pool.retarget(0, kDecayMs, kRecordsPerPage));  // demand seen at time 0
  CHECK(pool.target() == 128);
  pool.retarget(kDecayMs - 1, kDecayMs, kRecordsPerPage);
  CHECK(pool.target() == 128);
  pool.retarget(kDecayMs, kDecayMs, kRecordsPerPage);
  CHECK(pool.target() == 64);
  pool.retarget(kDecayMs + 1, kDecayMs, kRecordsPerPage);  // within the next period: kept
  CHECK(pool.target() == 64);
  for (std::uint32_t t = 2; t < 12; ++t) pool.retarget(t * kDecayMs, kDecayMs, kRecordsPerPage);
  CHECK(pool.target() == 5);
}

TEST_CASE("a pool with bound 0 never caches a page and never asks for one") {
  page_pool pool(0);
  fake_pages pages;
  CHECK_FALSE(pool.put(pages.get()));
  CHECK(pool.target() == 0);
  CHECK(pool.take() == nullptr);
  pool.retarget(1, kDecayMs, kRecordsPerPage);
  CHECK(pool.target() == 0);
}

TEST_CASE("step_aside moves the calling thread off a CPU and gives its CPUs back") {
  const std::vector<int> cpus = rcufree_test::allowed_cpus();
  if (cpus.size() < 2) {
    WARN("one CPU allowed: nowhere to step aside to");
    return;
  }
  int before = -1, during = -1;
  std::vector<int> after;
  std::thread([&] {
    rcufree::detail::step_aside aside;
    before = sched_getcpu();
    aside.off(static_cast<std::size_t>(before));
    during = sched_getcpu();
    aside.restore();
    after = rcufree_test::allowed_cpus();
  }).join();
  CHECK(during != before);
  CHECK(after == cpus);
}

TEST_CASE("a pool that runs low while its reclaimer is busy is refilled by the supervisor") {
  const std::vector<int> cpus = rcufree_test::allowed_cpus();
  rcufree_test::pinned on(cpus.at(0));
  REQUIRE(on.ok());
  // The supervisor looks only when woken (it would otherwise top the pool up on its own looks,
  // and a slow producer, as under ThreadSanitizer, never saw it run low).
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);
  cfg.worker_tick = std::chrono::hours(1);
  rcufree::engine eng(cfg);
  auto& core = rcufree::engine_access::core(eng);
  const std::size_t cpu = core.slots.this_cpu();
  std::atomic<std::uint64_t> deaths{0};
  std::uint64_t queued = 0;
  {
    // The slot's reclaimer is busy (as one waiting for a grace period): no pass can restock.
    const std::lock_guard<std::mutex> busy(core.rec.lock_of(cpu));
    while (!core.rec.pool_running_low(cpu) && queued < 100000) {
      eng.delete_rcu(new counted(&deaths), &counted::head);
      ++queued;
    }
    REQUIRE(core.rec.pool_running_low(cpu));
    const auto by = std::chrono::steady_clock::now() + 10s;
    while (core.slots[cpu].pool.size() <= 5 && std::chrono::steady_clock::now() < by) {
      eng.wake_reclaim_if_idle();  // again: a supervisor in the middle of a look is not woken
      std::this_thread::sleep_for(1ms);
    }
    // The top-up doubles the target (half the pool went) and fills the pool to it.
    CHECK(core.slots[cpu].pool.size() > 5);
  }
  eng.barrier();
  CHECK(deaths.load() == queued);
}
