// SPDX-License-Identifier: MIT
// The engine end to end on real liburcu grace periods: batching, fallback, barrier, destruction.
#include <rcufree/rcufree.hpp>
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "engine_core.hpp"
#include "tsan_grace.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;

TEST_CASE("objects handed to delete_rcu are destroyed after barrier and exactly once") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::engine eng;
  constexpr int kObjects = 5000;  // spans several 507-pointer blocks
  for (int i = 0; i < kObjects; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  eng.barrier();
  CHECK(deaths.load() == kObjects);
  const auto st = eng.snapshot();
  CHECK(st.queued == kObjects);
  CHECK(st.freed == kObjects);
  CHECK(st.pending == 0);
  CHECK(st.grace_periods >= 1);
}

TEST_CASE("kfree_rcu frees malloc'd objects and nullptr is a no-op everywhere") {
  rcufree::engine eng;
  for (int i = 0; i < 1000; ++i) {
    auto* p = static_cast<rcufree_test::plain*>(std::malloc(sizeof(rcufree_test::plain)));
    eng.kfree_rcu(p, &rcufree_test::plain::head);
  }
  eng.kfree_rcu(static_cast<rcufree_test::plain*>(nullptr), &rcufree_test::plain::head);
  eng.delete_rcu(static_cast<counted*>(nullptr), &counted::head);
  eng.kvfree_rcu_mightsleep(nullptr);
  eng.delete_rcu_mightsleep(static_cast<counted*>(nullptr));
  eng.barrier();
  CHECK(eng.snapshot().queued == 1000);
  CHECK(eng.snapshot().freed == 1000);
}

TEST_CASE("no object is freed while a reader that saw it is inside its critical section") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::engine eng;
  auto* obj = new counted(&deaths);
  std::atomic<counted*> shared{obj};
  std::atomic<int> phase{0};
  std::thread reader([&] {
    urcu_memb_register_thread();
    urcu_memb_read_lock();
    counted* seen = shared.load();
    phase = 1;
    while (phase.load() != 2) std::this_thread::sleep_for(1ms);
    CHECK(seen->magic == counted::kAlive);  // still alive: our section is still open
    rcufree_test::reader_section_ends();    // TSan builds: the grace period's edge (tsan_grace.hpp)
    urcu_memb_read_unlock();
    urcu_memb_unregister_thread();
  });
  while (phase.load() != 1) std::this_thread::sleep_for(1ms);
  shared.store(nullptr);  // unlink
  eng.delete_rcu(obj, &counted::head);
  std::thread flusher([&] { eng.barrier(); });  // must wait for the reader
  std::this_thread::sleep_for(100ms);
  CHECK(deaths.load() == 0);
  phase = 2;
  reader.join();
  flusher.join();
  CHECK(deaths.load() == 1);
}

TEST_CASE("with no page cached and the two-argument form takes the fallback list and frees it all") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 0;
  rcufree::engine eng(cfg);
  for (int i = 0; i < 2000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  auto st = eng.snapshot();
  CHECK(st.fallback_objects == 2000);
  CHECK(st.pages_in_use == 0);
  eng.barrier();
  CHECK(deaths.load() == 2000);
  CHECK(eng.snapshot().pending == 0);
}

TEST_CASE("when page allocation always fails and objects fall back and are still all freed") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.allocate_page = [](std::size_t) -> void* { return nullptr; };
  cfg.release_page = [](void* p, std::size_t) { std::free(p); };
  rcufree::engine eng(cfg);
  for (int i = 0; i < 3000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  eng.barrier();
  const auto st = eng.snapshot();
  CHECK(deaths.load() == 3000);
  CHECK(st.fallback_objects == 3000);
  CHECK(st.page_allocs == 0);
  CHECK(st.page_alloc_failures >= 1);
}

TEST_CASE("a partly filled block is drained by the worker within the drain interval") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::config cfg;
  cfg.drain_interval = 20ms;
  rcufree::engine eng(cfg);
  eng.delete_rcu(new counted(&deaths), &counted::head);
  const auto start = std::chrono::steady_clock::now();
  while (deaths.load() == 0 && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(deaths.load() == 1);  // no barrier: the worker's own timer did it
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("destroying an engine frees everything it still holds") {
  std::atomic<std::uint64_t> deaths{0};
  {
    rcufree::config cfg;
    cfg.drain_interval = std::chrono::hours(1);
    cfg.worker_tick = std::chrono::hours(1);
    rcufree::engine eng(cfg);
    for (int i = 0; i < 10000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
    CHECK(deaths.load() == 0);  // the worker sleeps for an hour: nothing freed yet
  }
  CHECK(deaths.load() == 10000);
}

TEST_CASE("barrier is exact: each thread sees all of its own earlier frees done") {
  rcufree::engine eng;
  constexpr int kThreads = 4, kRounds = 20, kPerRound = 700;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::atomic<std::uint64_t> mine{0};
      for (int r = 1; r <= kRounds; ++r) {
        for (int i = 0; i < kPerRound; ++i) eng.delete_rcu(new counted(&mine), &counted::head);
        eng.barrier();
        if (mine.load() != static_cast<std::uint64_t>(r) * kPerRound) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
}

namespace {
template <int N>
struct kind_n {
  explicit kind_n(std::atomic<std::uint64_t>* d) : deaths(d) {}
  ~kind_n() { deaths->fetch_add(N, std::memory_order_relaxed); }
  std::atomic<std::uint64_t>* deaths;
  char pad[N * 8];
  rcu_head head;
};
}  // namespace

TEST_CASE("more reclaim kinds than open blocks per CPU are all freed with the right deleter") {
  std::atomic<std::uint64_t> sum{0};
  rcufree::engine eng;
  std::uint64_t expected = 0;
  for (int i = 0; i < 3000; ++i) {
    switch (i % 6) {
      case 0: eng.delete_rcu(new kind_n<1>(&sum), &kind_n<1>::head); expected += 1; break;
      case 1: eng.delete_rcu(new kind_n<2>(&sum), &kind_n<2>::head); expected += 2; break;
      case 2: eng.delete_rcu(new kind_n<3>(&sum), &kind_n<3>::head); expected += 3; break;
      case 3: eng.delete_rcu(new kind_n<4>(&sum), &kind_n<4>::head); expected += 4; break;
      case 4: eng.delete_rcu(new kind_n<5>(&sum), &kind_n<5>::head); expected += 5; break;
      default: eng.delete_rcu(new kind_n<6>(&sum), &kind_n<6>::head); expected += 6; break;
    }
  }
  eng.barrier();
  CHECK(sum.load() == expected);
}

TEST_CASE("shrink gives every cached page back") {
  rcufree::engine eng;
  REQUIRE(eng.snapshot().pages_cached > 0);
  eng.shrink();
  const auto st = eng.snapshot();
  CHECK(st.pages_cached == 0);
  CHECK(st.shrinks == 1);
}

TEST_CASE("stats carry every contract key in one line of JSON") {
  rcufree::engine eng;
  const std::string json = eng.snapshot().to_json();
  for (const char* key : {"queued", "freed", "pending", "pages_in_use", "pages_cached",
                          "page_allocs", "page_alloc_failures", "fallback_objects",
                          "grace_periods", "drains"}) {
    CHECK_THAT(json, Catch::Contains(std::string("\"") + key + "\":"));
  }
  CHECK(json.find('\n') == std::string::npos);
  CHECK(json.front() == '{');
  CHECK(json.back() == '}');
}

TEST_CASE("the default engine and the free functions work") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::delete_rcu(new counted(&deaths), &counted::head);
  rcufree::delete_rcu_mightsleep(new counted(&deaths));
  rcufree::barrier();
  CHECK(deaths.load() == 2);
}

TEST_CASE("after fork the child can use the engine and the parent loses nothing") {
  std::atomic<std::uint64_t> deaths{0};
  rcufree::engine eng;
  std::atomic<bool> stop{false};
  std::thread busy([&] {  // keeps queueing while we fork
    while (!stop.load()) eng.delete_rcu(new counted(&deaths), &counted::head);
  });
  for (int i = 0; i < 1000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' allocators (GCC 12) are not fork-safe: a child forked while another thread
  // allocates can deadlock inside malloc. Fork with the queueing thread stopped there.
  stop = true;
  busy.join();
#endif
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: only this thread exists. Queue, barrier, and check everything queued here was freed.
    std::atomic<std::uint64_t> child_deaths{0};
    for (int i = 0; i < 5000; ++i) eng.delete_rcu(new counted(&child_deaths), &counted::head);
    for (int i = 0; i < 100; ++i) eng.delete_rcu_mightsleep(new counted(&child_deaths));
    eng.barrier();
    _exit(child_deaths.load() == 5100 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  stop = true;
  if (busy.joinable()) busy.join();
  eng.barrier();
  const auto st = eng.snapshot();
  CHECK(st.pending == 0);
  CHECK(deaths.load() == st.queued);
}

TEST_CASE("an engine keeps under 2 KiB per possible CPU besides its pages") {
  // docs/design.md ("Scaling to 256 CPUs") quotes this figure for the default configuration.
  const std::size_t bytes =
      rcufree::detail::engine_core::bytes_per_cpu(rcufree::config{}.cached_pages_per_cpu);
  std::printf(
      "[engine] %zu bytes per possible CPU besides pages (slot %zu, reclaimer %zu, threads %zu)\n",
      bytes, sizeof(rcufree::detail::cpu_slot), rcufree::detail::reclaimer::bytes_per_slot(),
      rcufree::detail::engine_threads::bytes_per_cpu());
  CHECK(bytes <= 2048);
}
