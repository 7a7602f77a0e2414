// SPDX-License-Identifier: MIT
// Any liburcu flavor works: here urcu-mb instead of the default urcu-memb.
#include <rcufree/rcufree.hpp>
#include <urcu/urcu-mb.h>

#include <catch2/catch.hpp>

#include <thread>

#include "counted.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;

TEST_CASE("an engine on the urcu-mb flavor waits for urcu-mb readers") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.flavor = &urcu_mb_flavor;
  rcufree::engine eng(cfg);
  std::atomic<int> phase{0};
  std::thread reader([&] {
    urcu_mb_register_thread();
    urcu_mb_read_lock();
    phase = 1;
    while (phase.load() != 2) std::this_thread::sleep_for(1ms);
    urcu_mb_read_unlock();
    urcu_mb_unregister_thread();
  });
  while (phase.load() != 1) std::this_thread::sleep_for(1ms);
  eng.delete_rcu(new counted(&deaths), &counted::head);
  std::thread flusher([&] { eng.barrier(); });
  std::this_thread::sleep_for(100ms);
  CHECK(deaths.load() == 0);
  phase = 2;
  reader.join();
  flusher.join();
  CHECK(deaths.load() == 1);
}
