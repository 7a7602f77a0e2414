// SPDX-License-Identifier: MIT
// Memory pressure and floods: shrink, refill back-off, the PSI watch, the pending soft cap.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>

#include "counted.hpp"
#include "engine_core.hpp"
#include "stop_point.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;

namespace {
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 3000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}
}  // namespace

TEST_CASE("a memory pressure event gives cached pages back and holds refills off") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.refill_backoff_after_shrink = 60s;
  rcufree::engine eng(cfg);
  REQUIRE(eng.snapshot().pages_cached > 0);
  rcufree::engine_access::core(eng).threads.on_memory_pressure();
  REQUIRE(eventually([&] { return eng.snapshot().shrinks == 1; }));
  CHECK(eng.snapshot().pages_cached == 0);
  CHECK(eng.snapshot().pressure_events == 1);
  // While backing off, atomic callers fall back instead of getting pages, and the worker, though
  // it passes every tick, does not refill.
  for (int i = 0; i < 2000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  std::this_thread::sleep_for(50ms);
  const auto st = eng.snapshot();
  CHECK(st.pages_cached == 0);
  CHECK(st.fallback_objects >= 2000 - 507);  // at most what a block opened before could take
  eng.barrier();
  CHECK(deaths.load() == 2000);
}

#ifdef RCUFREE_STOP_POINTS
TEST_CASE("a refill in flight when shrink() runs puts no page in the pools it emptied") {
  namespace stops = rcufree::detail::stop_points;
  rcufree::config cfg;
  cfg.refill_backoff_after_shrink = 60s;
  rcufree::engine eng(cfg);
  // reserve_pages() refills on the calling thread: stop it as it allocates its first page.
  const int stop = stops::arm(rcufree::detail::stop_point::refill_allocating,
                              rcufree::detail::stop_thread::caller);
  std::thread refiller([&] { eng.reserve_pages(16); });
  REQUIRE(stops::wait_stopped(stop, 10'000ms));
  eng.shrink();
  stops::release(stop);
  refiller.join();
  // Before: the shrink set its back-off after its drops and the refill looked only before its
  // loop, so it went on filling that pool to 16.
  CHECK(eng.snapshot().pages_cached == 0);
  CHECK(eng.snapshot().shrinks == 1);
}
#endif

TEST_CASE("after the back-off the worker refills the caches again") {
  rcufree::config cfg;
  cfg.refill_backoff_after_shrink = 30ms;
  rcufree::engine eng(cfg);
  eng.shrink();
  CHECK(eng.snapshot().pages_cached == 0);
  CHECK(eventually([&] { return eng.snapshot().pages_cached > 0; }));
}

TEST_CASE("the PSI watch arms a trigger where the kernel offers one and says so in stats") {
  rcufree::config cfg;
  cfg.watch_memory_pressure = true;
  rcufree::engine eng(cfg);
  const bool psi = access("/proc/pressure/memory", W_OK) == 0;
  INFO("/proc/pressure/memory writable: " << psi);
  if (psi) {
    CHECK(eng.snapshot().pressure_watch_armed == 1);
  } else {
    CHECK(eng.snapshot().pressure_watch_armed == 0);  // said once on stderr, carried on
  }
  rcufree::config off;
  rcufree::engine quiet(off);
  CHECK(quiet.snapshot().pressure_watch_armed == 0);
}

TEST_CASE("past the soft cap sleepable callers help and pending stays near the cap") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.pending_soft_cap_bytes = 64 * 1024;  // 1024 objects at 64 bytes each
  cfg.drain_interval = 1h;                 // no timed draining: only the cap can bound it
  cfg.worker_tick = 1h;
  rcufree::engine eng(cfg);
  std::uint64_t peak = 0;
  for (int i = 0; i < 200000; ++i) {
    eng.delete_rcu_mightsleep(new counted(&deaths));
    if (i % 500 == 0) peak = std::max(peak, eng.snapshot().pending);
  }
  std::printf("head-less flood, soft cap 1024 objects: peak pending %llu\n",
              static_cast<unsigned long long>(peak));
  // cap + one open and one closed block on each of two CPUs the thread may run on
  CHECK(peak <= 1024 + 4 * 507);
  CHECK(eng.snapshot().caller_reclaims > 0);
  eng.barrier();
  CHECK(deaths.load() == 200000);
}

TEST_CASE("an atomic flood past the soft cap makes the worker expedite and loses nothing") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.pending_soft_cap_bytes = 64 * 1024;
  rcufree::engine eng(cfg);
  std::uint64_t peak = 0;
  for (int i = 0; i < 300000; ++i) {
    eng.delete_rcu(new counted(&deaths), &counted::head);
    if (i % 1000 == 0) peak = std::max(peak, eng.snapshot().pending);
  }
  eng.barrier();
  const auto st = eng.snapshot();
  std::printf("atomic flood, soft cap 1024 objects: peak pending %llu, expedited passes %llu\n",
              static_cast<unsigned long long>(peak),
              static_cast<unsigned long long>(st.expedited_passes));
  CHECK(st.expedited_passes > 0);
  CHECK(deaths.load() == 300000);
}

TEST_CASE("the stats sampler writes a CSV with a header and one row per period") {
  const std::string path = "/tmp/rcufree_sampler_test_" + std::to_string(getpid()) + ".csv";
  rcufree::engine eng;
  {
    rcufree::stats_sampler sampler(eng, path, 2ms);
    std::atomic<std::uint64_t> deaths{0};
    for (int i = 0; i < 1000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
    // 150 periods: at least three rows even when a loaded machine (or a sanitizer) runs the
    // sampler's thread late and seldom (with 30 ms, one wake-up 28 ms late failed it).
    std::this_thread::sleep_for(300ms);
    eng.barrier();
  }
  std::FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  char line[4096];
  REQUIRE(std::fgets(line, sizeof line, f) != nullptr);
  const std::string header = line;
  CHECK(header.rfind("t_us,queued,freed,pending,", 0) == 0);
  const auto columns = std::count(header.begin(), header.end(), ',');
  int rows = 0;
  std::string last;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    last = line;
    CHECK(std::count(last.begin(), last.end(), ',') == columns);
    ++rows;
  }
  std::fclose(f);
  std::remove(path.c_str());
  CHECK(rows >= 3);
  CHECK(last.find(",1000,1000,0,") != std::string::npos);  // the final row: queued, freed, pending
}
