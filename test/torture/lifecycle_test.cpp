// SPDX-License-Identifier: MIT
// lifecycle_test.cpp — nothing is lost across thread exit, several engines, engine destruction,
// process exit of the default engine, and CPU migration (CONTRACT promise 6).
#include <sched.h>
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "cpus.hpp"
#include "torture_support.hpp"
#include "tsan_grace.hpp"

using namespace std::chrono_literals;
using torture::entry;

namespace {
using rcufree_test::allowed_cpus;
using rcufree_test::pin_to;

// Queues `count` nodes per entry point through `eng` (the C API ones on the default engine).
void queue_all_kinds(torture::tracker& tr, rcufree::engine& eng, int count, unsigned seed) {
  for (int i = 0; i < count; ++i) {
    for (int e = 0; e < torture::kEntries; ++e) {
      tr.retire(tr.make(static_cast<entry>(e), eng, seed + unsigned(i)), eng, unsigned(i) % 2);
    }
  }
}

void check_all_freed(const torture::tracker& tr) {
  INFO(tr.report() << tr.first_failure());
  CHECK(tr.reclaimed_total() == tr.created_total());
  CHECK(tr.early_frees() == 0);
  CHECK(tr.ungraced_frees() == 0);
}

}  // namespace

TEST_CASE("threads that queue and exit at once lose nothing", "[lifecycle]") {
  torture::tracker tr;
  rcufree::engine eng;
  constexpr int kWaves = 50, kPerWave = 4;
  for (int w = 0; w < kWaves; ++w) {
    std::vector<std::thread> wave;
    for (int t = 0; t < kPerWave; ++t) {
      // Each thread queues a handful through every entry point and is gone: whatever it left in
      // its CPU's open blocks must be drained by someone else.
      wave.emplace_back(queue_all_kinds, std::ref(tr), std::ref(eng), 5, unsigned(w * 10 + t));
    }
    for (auto& t : wave) t.join();
  }
  eng.barrier();
  rcufree::barrier();
  CHECK(tr.created_total() == kWaves * kPerWave * 5 * torture::kEntries);
  check_all_freed(tr);
}

TEST_CASE("several engines at once each free their own objects", "[lifecycle]") {
  torture::tracker tr;
  std::vector<std::unique_ptr<rcufree::engine>> engines;
  rcufree::config no_cache;
  no_cache.cached_pages_per_cpu = 0;  // every two-argument object takes the fallback list
  rcufree::config small;
  small.page_size = 256;
  small.drain_interval = 2ms;
  small.worker_tick = 500us;
  engines.push_back(std::make_unique<rcufree::engine>());
  engines.push_back(std::make_unique<rcufree::engine>(no_cache));
  engines.push_back(std::make_unique<rcufree::engine>(small));
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 300; ++round) {
        queue_all_kinds(tr, *engines[(t + unsigned(round)) % engines.size()], 2,
                        t * 1000 + unsigned(round));
      }
    });
  }
  for (auto& t : threads) t.join();
  std::uint64_t queued = 0;
  for (auto& e : engines) {
    e->barrier();
    const auto st = e->snapshot();
    CHECK(st.queued == st.freed);
    CHECK(st.queued > 0);
    queued += st.queued;
  }
  rcufree::barrier();
  // No cache: every two-argument object rode its own head (head-less calls allocate for
  // themselves).
  CHECK(engines[1]->snapshot().fallback_objects > 0);
  CHECK(engines[1]->snapshot().pages_cached == 0);
  while (!engines.empty()) engines.pop_back();  // destroyed in reverse order of creation
  check_all_freed(tr);
  CHECK(queued + tr.created(entry::c_kfree_rcu) + tr.created(entry::c_kvfree_rcu_mightsleep) ==
        tr.created_total());
}

TEST_CASE("an engine destroyed with a large backlog frees all of it in its destructor",
          "[lifecycle]") {
  torture::tracker tr;
  std::uint64_t pending = 0;
  double destroy_ms = 0;
  {
    rcufree::config lazy;
    lazy.drain_interval = std::chrono::hours(1);  // the worker never drains on its own
    lazy.worker_tick = std::chrono::hours(1);
    lazy.pending_soft_cap_bytes = std::size_t{1} << 40;  // nor because of the backlog
    lazy.cached_pages_per_cpu = 256;  // room for all of it: no caller runs dry and wakes the worker
    auto eng = std::make_unique<rcufree::engine>(lazy);
    eng->reserve_pages(256);  // filled now: a quiet CPU keeps only 5 otherwise
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25'000; ++i) {
          const entry how = i % 4 == 3 ? entry::delete_rcu_mightsleep
                                       : (i % 2 ? entry::delete_rcu : entry::kfree_rcu);
          tr.retire(tr.make(how, *eng, t * 100'000 + unsigned(i)), *eng, unsigned(i));
        }
      });
    }
    for (auto& t : threads) t.join();
    pending = eng->snapshot().pending;
    const auto start = std::chrono::steady_clock::now();
    eng.reset();
    destroy_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  std::printf("[backlog] %llu objects pending at destruction, destructor took %.1f ms\n",
              (unsigned long long)pending, destroy_ms);
  CHECK(pending > 40'000);  // most of the 50,000 were still waiting
  check_all_freed(tr);
}

TEST_CASE("destroying an engine waits for the readers of its backlog", "[lifecycle]") {
  torture::tracker tr;
  auto eng = std::make_unique<rcufree::engine>();
  torture::node* n = tr.make(entry::delete_rcu, *eng, 1);
  std::atomic<torture::node*> slot{n};
  std::atomic<int> phase{0};
  std::atomic<bool> alive_at_end{false};
  std::thread reader([&] {
    urcu_memb_register_thread();
    urcu_memb_read_lock();
    torture::node* seen = slot.load(std::memory_order_acquire);  // pairs with the initial store
    seen->holders.fetch_add(1, std::memory_order_relaxed);       // relaxed: see on_reclaim
    phase.store(1, std::memory_order_release);  // pairs with the main thread's acquire loop
    while (phase.load(std::memory_order_acquire) != 2) std::this_thread::sleep_for(1ms);
    // relaxed: read after join.
    alive_at_end.store(torture::read_once(seen->magic) == torture::kAlive,
                       std::memory_order_relaxed);
    seen->holders.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see on_reclaim
    rcufree_test::reader_section_ends();
    urcu_memb_read_unlock();
    urcu_memb_unregister_thread();
  });
  // acquire: pairs with the reader's release store of 1: it holds the node now.
  while (phase.load(std::memory_order_acquire) != 1) std::this_thread::sleep_for(1ms);
  slot.store(nullptr, std::memory_order_release);  // unlink; nobody new can reach it
  tr.retire(n, *eng, 0);
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    eng.reset();
    destroyed.store(true, std::memory_order_release);  // pairs with the acquire below
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(destroyed.load(std::memory_order_acquire));  // still waiting for the reader
  CHECK(tr.reclaimed_total() == 0);
  phase.store(2, std::memory_order_release);  // pairs with the reader's acquire loop: let go
  reader.join();
  destroyer.join();
  CHECK(alive_at_end.load());  // seq_cst: the reader was joined
  check_all_freed(tr);
}

TEST_CASE("the default engine frees everything still queued when the process exits",
          "[lifecycle]") {
  const auto out = torture::run_child({TORTURE_CHILD, "exit-default", "2000"});
  INFO(out.err);
  REQUIRE_FALSE(out.timed_out);
  CHECK(out.exit_code == 0);
  unsigned long long created = 0, reclaimed = 0, early = 1, ungraced = 1, readers = 1;
  const auto at = out.err.find("report ");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(out.err.c_str() + at,
                      "report created=%llu reclaimed=%llu early=%llu ungraced=%llu readers=%llu",
                      &created, &reclaimed, &early, &ungraced, &readers) == 5);
  CHECK(created == 2000 * torture::kEntries);
  CHECK(reclaimed == created);
  CHECK(early == 0);
  CHECK(ungraced == 0);
}

TEST_CASE("queueing while the thread migrates between CPUs 0 and 1 loses nothing", "[lifecycle]") {
  const auto cpus = allowed_cpus();
  if (cpus.size() < 2) {
    WARN("fewer than two CPUs allowed: migration not tested");
    return;
  }
  torture::tracker tr;
  rcufree::engine eng;
  std::thread mover([&] {
    for (int i = 0; i < 400; ++i) {
      if (!pin_to(cpus[unsigned(i) % 2])) break;
      queue_all_kinds(tr, eng, 8, unsigned(i));  // each batch lands in a different CPU's slot
    }
  });
  std::thread stayer([&] {  // shares CPU 0 with the mover half the time
    if (pin_to(cpus[0])) queue_all_kinds(tr, eng, 1500, 777);
  });
  mover.join();
  stayer.join();
  const auto& core = rcufree::engine_access::core(eng);
  std::uint64_t busy_slots = 0;
  for (std::size_t i = 0; i < core.slots.size(); ++i) {
    if (core.slots[i].queued() > 0) ++busy_slots;
  }
  CHECK(busy_slots >= 2);
  eng.barrier();
  rcufree::barrier();
  check_all_freed(tr);
}

TEST_CASE("a partly filled block on a CPU nobody runs on any more is drained on time",
          "[lifecycle]") {
  const auto cpus = allowed_cpus();
  if (cpus.size() < 2) {
    WARN("fewer than two CPUs allowed: not tested");
    return;
  }
  torture::tracker tr;
  rcufree::config cfg;
  cfg.drain_interval = 20ms;
  rcufree::engine eng(cfg);
  std::thread t([&] {
    if (!pin_to(cpus[1])) return;
    for (int i = 0; i < 10; ++i) tr.retire(tr.make(entry::delete_rcu, eng, unsigned(i)), eng, 0);
    pin_to(cpus[0]);  // and never comes back: CPU 1's open block has no one to close it
  });
  t.join();
  const auto start = std::chrono::steady_clock::now();
  while (tr.reclaimed_total() < 10 && std::chrono::steady_clock::now() - start < 3s) {
    std::this_thread::sleep_for(1ms);
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[stranded block] freed without barrier after %.1f ms (drain interval 20 ms)\n", ms);
  CHECK(tr.reclaimed_total() == 10);  // no barrier: the worker's own timer drained it
  CHECK(ms < 1000);
  check_all_freed(tr);
}
