// SPDX-License-Identifier: MIT
// Per-CPU reclaim, page pools, shared grace periods, mixed kinds, idle cost (issue: per-CPU
// reclaim). Real liburcu grace periods throughout.
#include <pthread.h>
#include <sched.h>
#include <urcu/urcu-memb.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <rcufree/rcufree.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "cpu_pacing.hpp"
#include "cpus.hpp"
#include "engine_core.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;

namespace {

using rcufree_test::allowed_cpus;
using rcufree_test::pin_to;
using rcufree_test::pinned;

// Waits (without barrier(), whose flush runs on the supervisor) until every object is freed.
bool wait_all_freed(rcufree::engine& eng, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (eng.snapshot().pending == 0) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

// Records which CPU and which thread ran its destructor.
struct where_freed {
  static constexpr int kMaxCpus = 64;
  std::atomic<std::uint64_t> on_cpu[kMaxCpus]{};
  std::mutex mu;
  std::set<std::thread::id> threads;
  void record() {
    const int cpu = sched_getcpu();
    // relaxed: counts, read after barrier(), whose flush orders every free before its return.
    if (cpu >= 0 && cpu < kMaxCpus) on_cpu[cpu].fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
  }
};

struct located {
  explicit located(where_freed* w) : book(w) {}
  ~located() { book->record(); }
  where_freed* book;
  rcu_head head{};
};

}  // namespace

TEST_CASE("per-CPU reclaim frees each CPU's objects on a thread bound to that CPU") {
  const auto cpus = allowed_cpus();
  if (cpus.size() < 2) {
    WARN("fewer than two CPUs allowed: not tested");
    return;
  }
  rcufree::config cfg;
  cfg.drain_interval = 5ms;
  rcufree::engine eng(cfg);
  where_freed book;
  constexpr int kPerCpu = 20'000;
  for (int k = 0; k < 2; ++k) {
    bool bound = false;  // written by the producer, read after join
    std::thread producer([&] {
      if (!(bound = pin_to(cpus[k]))) return;
      for (int i = 0; i < kPerCpu; ++i) eng.delete_rcu(new located(&book), &located::head);
    });
    producer.join();
    REQUIRE(bound);
  }
  REQUIRE(wait_all_freed(eng, 20s));
  eng.barrier();  // orders the reclaim threads' records before the reads below
  const auto st = eng.snapshot();
  CHECK(st.reclaim_threads == 2);
  for (int k = 0; k < 2; ++k) {
    INFO("CPU " << cpus[k]);
    CHECK(book.on_cpu[cpus[k]].load() == kPerCpu);  // every free on the CPU that queued it
  }
  CHECK(book.threads.size() == 2);
}

TEST_CASE("single-worker mode frees every CPU's objects on one thread") {
  const auto cpus = allowed_cpus();
  rcufree::config cfg;
  cfg.drain_interval = 5ms;
  cfg.reclaim_threads = rcufree::reclaim_mode::single;
  rcufree::engine eng(cfg);
  where_freed book;
  for (std::size_t k = 0; k < std::min<std::size_t>(cpus.size(), 2); ++k) {
    bool bound = false;  // written by the producer, read after join
    std::thread producer([&] {
      if (!(bound = pin_to(cpus[k]))) return;
      for (int i = 0; i < 5'000; ++i) eng.delete_rcu(new located(&book), &located::head);
    });
    producer.join();
    REQUIRE(bound);
  }
  REQUIRE(wait_all_freed(eng, 20s));
  eng.barrier();  // orders the reclaim threads' records before the reads below
  CHECK(eng.snapshot().reclaim_threads == 0);
  CHECK(book.threads.size() == 1);
}

TEST_CASE("each CPU's page pool stays within cached_pages_per_cpu on every path") {
  const auto cpus = allowed_cpus();
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 4;
  cfg.drain_interval = 2ms;
  cfg.worker_tick = 200us;
  rcufree::engine eng(cfg);
  std::atomic<bool> done{false};        // relaxed: a stop request; join() hands over the rest
  std::atomic<std::uint64_t> worst{0};  // relaxed: a maximum, read after the joins
  const auto check_now = [&] {
    const auto st = eng.snapshot();
    std::uint64_t w = 0;
    for (auto n : st.pages_cached_per_cpu) w = std::max(w, n);
    // A maximum kept by two threads (sampler and producer): a plain store could lower it.
    for (auto seen = worst.load(std::memory_order_relaxed);
         w > seen && !worst.compare_exchange_weak(seen, w, std::memory_order_relaxed);) {
    }
  };
  std::thread sampler([&] {
    while (!done.load(std::memory_order_relaxed)) {
      check_now();
      std::this_thread::sleep_for(100us);
    }
  });
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments (counted.hpp); read after barrier()
  bool bound = false;                    // written by the producer, read after join
  std::thread producer([&] {
    if (!(bound = pin_to(cpus[0]))) return;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 20'000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
      for (int i = 0; i < 2'000; ++i) eng.delete_rcu_mightsleep(new counted(&deaths));
      eng.reclaim_local();  // its emptied pages go to this CPU's pool, within the bound
      check_now();
    }
  });
  producer.join();
  REQUIRE(bound);
  eng.barrier();
  check_now();
  CHECK(eng.reserve_pages(1000) <= 4 * rcufree::engine_access::core(eng).slots.size());
  check_now();
  eng.shrink();
  check_now();
  done.store(true, std::memory_order_relaxed);
  sampler.join();
  INFO("most pages one CPU had cached: " << worst.load(std::memory_order_relaxed));
  CHECK(worst.load(std::memory_order_relaxed) <= 4);
  CHECK(deaths.load() == 20 * 22'000);
}

namespace {
template <int N>
struct kind_n {
  explicit kind_n(std::atomic<std::uint64_t>* d) : deaths(d) {}
  ~kind_n() { deaths->fetch_add(1, std::memory_order_relaxed); }  // relaxed: read after barrier()
  std::atomic<std::uint64_t>* deaths;
  rcu_head head{};
};
template <int... N>
void queue_interleaved(rcufree::engine& eng, std::atomic<std::uint64_t>* deaths,
                       std::integer_sequence<int, N...>) {
  (eng.delete_rcu(new kind_n<N>(deaths), &kind_n<N>::head), ...);
}
}  // namespace

TEST_CASE("eight interleaved delete_rcu types share one open block per CPU") {
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);  // nothing is freed before barrier()
  cfg.worker_tick = std::chrono::hours(1);
  rcufree::engine eng(cfg);
  pinned on_one_cpu(allowed_cpus()[0]);  // every object into one CPU's open block
  REQUIRE(on_one_cpu.ok());
  eng.reserve_pages(128);
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments; read after barrier()
  constexpr int kRounds = 2'000;
  for (int r = 0; r < kRounds; ++r)
    queue_interleaved(eng, &deaths, std::make_integer_sequence<int, 8>{});
  const auto st = eng.snapshot();
  // A kind change costs one marker record: at most two records per object, 507 per page.
  const std::uint64_t per_page = rcufree::detail::block::records_in(cfg.page_size);
  const std::uint64_t pages_bound = (2 * 8 * kRounds + per_page - 1) / per_page;
  INFO("pages used " << st.pages_in_use << " for " << 8 * kRounds << " objects of 8 kinds");
  CHECK(st.fallback_objects == 0);
  CHECK(st.pages_in_use <= pages_bound);
  eng.barrier();
  CHECK(deaths.load() == 8 * kRounds);
}

namespace {
// Wake-ups of this process's threads whose names start with `prefix` (rcufree-* by default:
// every engine thread): their voluntary context switches, from /proc. (Preemptions are not
// wake-ups: on a loaded machine the supervisor's 100 us slice makes many of its looks one.)
std::uint64_t rcufree_thread_switches(const std::string& prefix = "rcufree-") {
  std::uint64_t total = 0;
  for (const pid_t tid : rcufree_test::threads_named(prefix, true)) {
    std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) {
        total += std::stoull(line.substr(line.find(':') + 1));
      }
    }
  }
  return total;
}
}  // namespace

TEST_CASE("an idle engine's threads together wake at most ten times a second") {
  // The process-wide engine after a flood on every CPU, so that each CPU has a reclaim thread.
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments (counted.hpp); only a sink here
  for (int cpu : allowed_cpus()) {
    bool bound = false;  // written by the producer, read after join
    std::thread producer([&] {
      if (!(bound = pin_to(cpu))) return;
      for (int i = 0; i < 100'000; ++i) rcufree::delete_rcu(new counted(&deaths), &counted::head);
    });
    producer.join();
    REQUIRE(bound);
  }
  // Let the supervisor see the work and start CPU threads (a barrier right away would free it
  // all on the supervisor, which is quick enough under a sanitizer to never start one).
  std::this_thread::sleep_for(100ms);
  rcufree::barrier();
  // Idle: every CPU thread asleep with no timed wake-up, every pool decayed to its resting 5
  // pages (one halving per quiet second after the flood). Waited for, not assumed after a fixed
  // time: a slow (sanitizer) run takes longer to get there.
  auto& core = rcufree::engine_access::core(rcufree::default_engine());
  const auto idle = [&] {
    const rcufree::stats st = rcufree::default_engine().snapshot();
    for (int cpu : allowed_cpus()) {
      const auto i = static_cast<std::size_t>(cpu);
      if (!core.threads.sleeps_idle(i) || st.pages_cached_per_cpu.at(i) > 5) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!idle() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE(idle());
  std::this_thread::sleep_for(500ms);  // the supervisor's sleep reaches its 125 ms cap
  const std::uint64_t before = rcufree_thread_switches();
  std::this_thread::sleep_for(3s);
  const std::uint64_t wakes = rcufree_thread_switches() - before;
  std::printf(
      "idle rcufree threads: %llu wake-ups in 3 s, %llu reclaim threads\n",
      static_cast<unsigned long long>(wakes),
      static_cast<unsigned long long>(rcufree::default_engine().snapshot().reclaim_threads));
  CHECK(rcufree::default_engine().snapshot().reclaim_threads >= 1);
  CHECK(wakes <= 30);
}

TEST_CASE("a CPU thread with objects aging in its slot looks at it again every tick") {
  // A producer that left a CPU may come back at any moment, and 2-3 ms of its flood empty the
  // pool: so a CPU thread whose slot holds aging objects sleeps at most a tick, not up to the
  // supervisor's short cap (8 ticks). With a 100 ms tick and objects that never fall due, it
  // wakes about 10 times a second; with the 800 ms cap it woke 1-2 times.
  rcufree::config cfg;
  cfg.worker_tick = 100ms;
  cfg.drain_interval = std::chrono::hours(1);
  rcufree::engine eng(cfg);
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments (counted.hpp), read after barrier
  const int cpu = allowed_cpus().at(0);
  {
    pinned on(cpu);
    REQUIRE(on.ok());
    for (int i = 0; i < 600; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);  // a
    // closed block, and an open one that ages for an hour
  }
  const std::string name = "rcufree-cpu" + std::to_string(cpu);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (eng.snapshot().reclaim_threads == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(eng.snapshot().reclaim_threads >= 1);
  std::this_thread::sleep_for(300ms);  // its first passes: the closed block freed
  const std::uint64_t before = rcufree_thread_switches(name);
  std::this_thread::sleep_for(2s);
  const std::uint64_t wakes = rcufree_thread_switches(name) - before;
  std::printf("CPU thread with aging objects: %llu wake-ups in 2 s (tick 100 ms)\n",
              static_cast<unsigned long long>(wakes));
  CHECK(wakes >= 10);
  CHECK(deaths.load() < 600);  // the open block still ages: the thread had something to look at
  eng.barrier();
  CHECK(deaths.load() == 600);
}

TEST_CASE("a CPU thread's pacing after each kind of pass") {
  using rcufree::detail::cpu_pacing;
  using us = std::chrono::microseconds;
  const cpu_pacing pacing(us(1000), us(100));
  const std::uint32_t never = ~std::uint32_t{0};
  // Flooded (the flood rate, a dry pool, or over the soft cap): every 100 us.
  CHECK(cpu_pacing::flood_rate(8000, 1.0));
  CHECK(cpu_pacing::flood_rate(4000, 0.2));
  CHECK_FALSE(cpu_pacing::flood_rate(2200, 1.0));  // the cds_lfht client's rate per CPU
  CHECK_FALSE(cpu_pacing::flood_rate(5, 0.0));
  CHECK(pacing.next({true, true, true, 50, never, 50}, us(1000)) == us(100));
  // Busy below the flood rate: every tick.
  CHECK(pacing.next({false, true, true, 50, never, 50}, us(100)) == us(1000));
  // Only aging objects: when the first falls due, within [100 us, 1 tick].
  CHECK(pacing.next({false, false, true, 50, never, 50}, us(100)) == us(1000));
  CHECK(pacing.next({false, false, true, 50, 60, 50}, us(100)) == us(1000));
  CHECK(pacing.next({false, false, true, 50, 50, 50}, us(100)) == us(100));
  // Quiet within a second of work: backing off from 100 us to a tick.
  CHECK(pacing.next({false, false, false, 100, never, 50}, us(0)) == us(100));
  CHECK(pacing.next({false, false, false, 100, never, 50}, us(400)) == us(800));
  CHECK(pacing.next({false, false, false, 100, never, 50}, us(800)) == us(1000));
  // Quiet for a second: idle, no timed wake-up.
  CHECK_FALSE(pacing.next({false, false, false, 1050, never, 50}, us(1000)).has_value());
}

namespace {
// The scheduling policy of the thread named `name` that is not in `before`, or -1 if there is
// none (or more than one).
int policy_of_new_thread(const std::string& name, const std::vector<pid_t>& before) {
  const auto tids = rcufree_test::new_threads_named(name, before);
  return tids.size() == 1 ? sched_getscheduler(tids.front()) : -1;
}
}  // namespace

TEST_CASE("config.realtime_reclaim runs the CPU threads in SCHED_FIFO where the process may") {
  bool permitted = false;  // written by the probe thread, read after join
  std::thread([&] {
    sched_param p{};
    p.sched_priority = 1;
    permitted = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) == 0;
  }).join();
  rcufree::config cfg;
  cfg.realtime_reclaim = true;
  const auto others = rcufree_test::all_threads();  // other engines' threads among them
  rcufree::engine eng(cfg);
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments (counted.hpp), read after barrier
  const int cpu = allowed_cpus().at(0);
  {
    pinned on(cpu);
    REQUIRE(on.ok());
    for (int i = 0; i < 2000; ++i) eng.delete_rcu(new counted(&deaths), &counted::head);
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (eng.snapshot().reclaim_threads == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(eng.snapshot().reclaim_threads >= 1);
  // Counted when created; it sets its policy, then names itself: wait for the name.
  const std::string name = "rcufree-cpu" + std::to_string(cpu);
  while (rcufree_test::new_threads_named(name, others).size() != 1 &&
         std::chrono::steady_clock::now() < deadline + 10s) {
    std::this_thread::sleep_for(1ms);
  }
  const int policy = policy_of_new_thread(name, others);
  const auto st = eng.snapshot();
  std::printf(
      "realtime_reclaim: SCHED_FIFO %s here; the CPU thread's policy %d, %llu of %llu "
      "threads real-time\n",
      permitted ? "permitted" : "refused", policy,
      static_cast<unsigned long long>(st.reclaim_threads_realtime),
      static_cast<unsigned long long>(st.reclaim_threads));
  CHECK(policy == (permitted ? SCHED_FIFO : SCHED_OTHER));
  CHECK(st.reclaim_threads_realtime == (permitted ? st.reclaim_threads : 0));
  eng.barrier();
  CHECK(deaths.load() == 2000);
}

TEST_CASE("a caller's wake starts an idle CPU thread's pass, which takes the open block at once") {
  pinned on(allowed_cpus().at(0));
  REQUIRE(on.ok());
  rcufree::config c;
  c.drain_interval = std::chrono::hours(1);  // an open block would otherwise wait an hour
  rcufree::engine eng(c);
  auto& core = rcufree::engine_access::core(eng);
  const std::size_t cpu = core.slots.this_cpu();
  std::atomic<std::uint64_t> deaths{0};
  eng.delete_rcu(new counted(&deaths), &counted::head);
  const auto idle_by = std::chrono::steady_clock::now() + 10s;
  // The supervisor starts this CPU's thread on seeing the work; after a quiet second it sleeps
  // idle.
  while (eng.snapshot().reclaim_threads == 0 && std::chrono::steady_clock::now() < idle_by) {
    std::this_thread::sleep_for(1ms);
  }
  eng.barrier();
  while (!core.threads.sleeps_idle(cpu) && std::chrono::steady_clock::now() < idle_by) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(core.threads.sleeps_idle(cpu));
  // Without a wake: the supervisor's look wakes it, but its open block ages for an hour.
  eng.delete_rcu(new counted(&deaths), &counted::head);
  std::this_thread::sleep_for(300ms);
  CHECK(deaths.load() == 1);
  eng.barrier();
  REQUIRE(deaths.load() == 2);
  while (!core.threads.sleeps_idle(cpu) && std::chrono::steady_clock::now() < idle_by + 10s) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(core.threads.sleeps_idle(cpu));
  // With a wake: the pass it starts closes the open block now.
  eng.delete_rcu(new counted(&deaths), &counted::head);
  eng.wake_reclaim_if_idle();
  const auto freed_by = std::chrono::steady_clock::now() + 10s;
  while (deaths.load() != 3 && std::chrono::steady_clock::now() < freed_by) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(deaths.load() == 3);  // an hour early: only the woken pass could have freed it
}
