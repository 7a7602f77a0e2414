// SPDX-License-Identifier: MIT
// The page switch's block header (issue 21): a new block's opened_ms is the slot's last take time
// (cpu_slot::taken_ms), not a read of the engine's clock, and a stamp so old that its 32-bit age
// wrapped still lets the block drain.
#include <sched.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <rcufree/rcufree.hpp>

#include "counted.hpp"
#include "cpus.hpp"
#include "engine_core.hpp"

using rcufree_test::counted;

namespace {

// Runs one periodic pass on slot i, as a CPU thread would.
void periodic_pass(rcufree::detail::engine_core& core, std::size_t i) {
  std::lock_guard<std::mutex> lock(core.rec.lock_of(i));
  core.rec.pass(i, rcufree::detail::kPeriodicPass);
}

}  // namespace

TEST_CASE("a new block is stamped with its slot's last take time, and drains however old it is") {
  rcufree_test::pinned on(rcufree_test::allowed_cpus().at(0));
  REQUIRE(on.ok());
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);  // a periodic pass leaves a young block open
  rcufree::engine eng(cfg);
  auto& core = rcufree::engine_access::core(eng);
  const std::size_t cpu = core.slots.this_cpu();
  rcufree::detail::cpu_slot& slot = core.slots[cpu];
  std::atomic<std::uint64_t> deaths{0};
  eng.barrier();  // no open block: the next call opens one

  // Takes run under the reclaim lock only: holding it, the stamp cannot move under the test.
  std::uint32_t stamp = 0;
  {
    std::lock_guard<std::mutex> lock(core.rec.lock_of(cpu));
    stamp = core.clock.now() - 5;  // not what the clock says
    slot.taken_ms.store(stamp, std::memory_order_relaxed);
    eng.delete_rcu(new counted(&deaths), &counted::head);
    REQUIRE(slot.head.open != nullptr);
    CHECK(slot.head.open->opened_ms == stamp);
  }
  periodic_pass(core, cpu);  // five milliseconds old: left open for an hour
  CHECK(deaths.load() == 0);
  eng.barrier();
  REQUIRE(deaths.load() == 1);

  // A slot quiet for 30 days: its stamp's age wraps in 32 bits and looks ahead of now.
  {
    std::lock_guard<std::mutex> lock(core.rec.lock_of(cpu));
    constexpr std::uint32_t kThirtyDaysMs = 30u * 24 * 3600 * 1000;
    slot.taken_ms.store(core.clock.now() - kThirtyDaysMs, std::memory_order_relaxed);
    eng.delete_rcu(new counted(&deaths), &counted::head);
  }
  periodic_pass(core, cpu);  // older than any drain interval: taken, its grace period, freed
  CHECK(deaths.load() == 2);
  CHECK(slot.head.open == nullptr);
}
