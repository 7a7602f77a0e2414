// SPDX-License-Identifier: MIT
// Promise 2, part three: the two-argument form never waits for anyone, and a thread preempted
// (or stopped) inside the engine holds no one up.
//
// 1. Deterministic: every CPU slot's flag is taken and never given back, as if a thread on
//    every CPU had been preempted inside the engine forever. Calls on every CPU still return (they
//    take the fallback list), and the worker still reclaims them.
// 2. A real thread stopped at arbitrary instructions: a thread pinned to one CPU calls the engine
//    in a loop; a signal stops it (its handler spins until released) wherever it happens to be —
//    between taking its slot's flag and releasing it, between a fallback push's exchange and
//    its link store, while closing a block. Meanwhile another thread moves onto that CPU and makes
//    100 calls, which must all return. A watchdog turns a hang into a failure.
// 3. Oversubscription: 32 threads on 2 cores call the two-argument form while the worker is slowed
//    (its page allocator sleeps 2 ms a page, it wakes every 10 ms). Every call is timed with the
//    cycle counter; the same threads also time an empty function in interleaved rounds, which
//    shows what preemption and interrupts alone cost. The test prints p50, p99, p99.9, max and
//    calls over 10 us per 100,000 for both, with involuntary context switches per 100,000 calls
//    (getrusage RUSAGE_THREAD). It asserts only that every thread finished and nothing was lost:
//    timing goes into docs/atomic-context.md, not into assertions.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <rcufree/rcufree.hpp>
#include <thread>
#include <vector>

#include "atomic_support.hpp"
#include "cpus.hpp"
#include "engine_core.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

using namespace atomic_test;

namespace {

using deletable = tracked<11, 0>;
using freeable = raw_object<0>;

// --- 1. slots held forever ------------------------------------------------------------------

// Takes every slot's flag (waiting for the worker if it holds one right now).
std::vector<rcufree::detail::cpu_slot::entry> hold_every_slot(rcufree::detail::engine_core& core) {
  std::vector<rcufree::detail::cpu_slot::entry> held(core.slots.size());
  for (std::size_t i = 0; i < core.slots.size(); ++i) {
    while (!(held[i] = core.slots[i].try_enter())) std::this_thread::yield();
  }
  return held;
}
void release_every_slot(rcufree::detail::engine_core& core,
                        const std::vector<rcufree::detail::cpu_slot::entry>& held) {
  for (std::size_t i = 0; i < core.slots.size(); ++i) core.slots[i].leave(held[i]);
}

}  // namespace

TEST_CASE("CPU slots held forever by stalled threads hold up neither callers nor the worker") {
  rcufree::config c;
  c.worker_tick = std::chrono::milliseconds(1);
  c.drain_interval = std::chrono::milliseconds(5);
  rcufree::engine eng(c);
  auto& core = rcufree::engine_access::core(eng);
  constexpr std::uint32_t kObjects = 20'000;
  death_book book(kObjects);
  std::vector<deletable*> objects;
  for (std::uint32_t i = 0; i < kObjects; ++i) objects.push_back(new deletable(&book, i));

  const auto held =
      hold_every_slot(core);  // as if a thread on every CPU were preempted inside, for good
  const auto before = eng.snapshot();
  // Callers on both CPUs (two threads; the scheduler spreads them) all return.
  std::atomic<std::uint64_t> heartbeat{0};
  {
    watchdog dog(heartbeat, std::chrono::seconds(20), "a caller waited for a held CPU slot");
    std::thread callers[2];
    for (int t = 0; t < 2; ++t) {
      callers[t] = std::thread([&, t] {
        for (std::uint32_t i = static_cast<std::uint32_t>(t); i < kObjects; i += 2) {
          eng.delete_rcu(objects[i], &deletable::head);
          heartbeat.fetch_add(1, std::memory_order_relaxed);  // relaxed: heartbeat for the dog
        }
      });
    }
    for (auto& t : callers) t.join();
  }
  const auto after_calls = eng.snapshot();
  // The worker reclaims them although it can never take a slot: fallback lists need no flag.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (book.total() < kObjects && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::uint64_t freed_while_held = book.total();
  release_every_slot(core, held);
  eng.barrier();

  std::printf(
      "[atomic] slots held forever: %u calls returned, %llu found their slot busy, %llu "
      "went to the fallback list, %llu freed by the worker before the slots were "
      "released\n",
      kObjects, static_cast<unsigned long long>(after_calls.slot_contended - before.slot_contended),
      static_cast<unsigned long long>(after_calls.fallback_objects - before.fallback_objects),
      static_cast<unsigned long long>(freed_while_held));
  std::fflush(stdout);
  CHECK(after_calls.slot_contended - before.slot_contended == kObjects);
  CHECK(after_calls.fallback_objects - before.fallback_objects == kObjects);
  CHECK(freed_while_held == kObjects);
  CHECK(book.ids_dead(1) == kObjects);
  CHECK(book.bad() == 0);
}

// --- 2. a thread stopped anywhere inside the engine -----------------------------------------
namespace {

std::atomic<bool> g_frozen{false};
std::atomic<bool> g_resume{false};
std::atomic<bool> g_in_engine{false};  // set by the looping thread around each call
std::atomic<bool> g_frozen_in_engine{false};

void on_freeze(int) {
  const int saved_errno = errno;
  // relaxed: written by this very thread around its calls; signal fences order it.
  g_frozen_in_engine.store(g_in_engine.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // release: pairs with the controller's acquire load; publishes g_frozen_in_engine.
  g_frozen.store(true, std::memory_order_release);
  // acquire: pairs with the controller's release store of g_resume.
  while (!g_resume.load(std::memory_order_acquire)) sched_yield();
  g_resume.store(false, std::memory_order_relaxed);  // relaxed: the controller waits for frozen
  // release: pairs with the controller's acquire wait; this thread leaves the handler.
  g_frozen.store(false, std::memory_order_release);
  errno = saved_errno;
}

using rcufree_test::allowed_cpus;
using rcufree_test::pin_to;

}  // namespace

TEST_CASE("A thread stopped anywhere inside the engine holds up no other caller on its CPU") {
  if (kTsan) {
    WARN(
        "skipped under ThreadSanitizer: it defers asynchronous signals to its next interception "
        "point, so a signal cannot stop a thread at an arbitrary instruction of the engine");
    return;
  }
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) {
    WARN("skipped: needs two CPUs (one for the stopped thread, one to control it)");
    return;
  }
  const int victim_cpu = cpus[0], control_cpu = cpus[1];

  // Small pages and a small cache: the stopped thread is often between closing a block and
  // opening the next, or on the fallback list.
  rcufree::config c = small_pages({}, 16);
  c.worker_tick = std::chrono::microseconds(500);
  c.drain_interval = std::chrono::milliseconds(2);
  rcufree::engine eng(c);
  auto& core = rcufree::engine_access::core(eng);

  constexpr std::uint32_t kVictimObjects = kAsan ? 300'000 : 1'500'000, kBurst = 100,
                          kMaxRounds = 2000;
  death_book book(kVictimObjects + kMaxRounds * kBurst);
  std::vector<deletable*> victim_objects(kVictimObjects), burst_objects(kMaxRounds * kBurst);
  for (std::uint32_t i = 0; i < kVictimObjects; ++i) victim_objects[i] = new deletable(&book, i);
  for (std::uint32_t i = 0; i < kMaxRounds * kBurst; ++i) {
    burst_objects[i] = new deletable(&book, kVictimObjects + i);
  }

  struct sigaction sa {};
  sa.sa_handler = &on_freeze;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  REQUIRE(sigaction(SIGUSR1, &sa, nullptr) == 0);

  cpu_set_t original_affinity;
  REQUIRE(sched_getaffinity(0, sizeof original_affinity, &original_affinity) == 0);
  // relaxed: reset before the victim exists.
  g_resume.store(false, std::memory_order_relaxed);
  g_frozen.store(false, std::memory_order_relaxed);  // relaxed: as above

  std::atomic<std::uint32_t> victim_done{0};  // objects the victim has queued
  std::atomic<int> victim_pinned{0};          // 0: not yet, 1: pinned, 2: could not pin
  std::thread victim([&] {
    // release: pairs with the controller's acquire load; the victim runs on victim_cpu.
    victim_pinned.store(pin_to(victim_cpu) ? 1 : 2, std::memory_order_release);
    for (std::uint32_t i = 0; i < kVictimObjects; ++i) {
      // relaxed + signal fences: read only by this thread's own signal handler.
      g_in_engine.store(true, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with the read in on_freeze
      eng.delete_rcu(victim_objects[i], &deletable::head);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // pairs with the read in on_freeze
      g_in_engine.store(false, std::memory_order_relaxed);  // relaxed: as above
      // relaxed: progress statistic for the controller.
      victim_done.store(i + 1, std::memory_order_relaxed);
    }
  });
  int pinned;
  // acquire: pairs with the victim's release store.
  while ((pinned = victim_pinned.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
  CHECK(pinned == 1);
  CHECK(pin_to(control_cpu));

  std::atomic<std::uint64_t> heartbeat{0};
  std::uint32_t rounds = 0, inside = 0, holding_slot = 0, bursts_on_victim_cpu = 0;
  std::uint64_t contended = 0;
  {
    watchdog dog(heartbeat, std::chrono::seconds(20),
                 "a caller waited for a thread stopped inside the engine");
    // relaxed: a progress statistic written by the victim.
    while (rounds < kMaxRounds && victim_done.load(std::memory_order_relaxed) < kVictimObjects) {
      pthread_kill(victim.native_handle(), SIGUSR1);
      bool frozen = false;
      // acquire: pairs with the handler's release store; g_frozen_in_engine is visible.
      // (relaxed victim_done: a progress statistic)
      while (!(frozen = g_frozen.load(std::memory_order_acquire)) &&
             victim_done.load(std::memory_order_relaxed) < kVictimObjects) {
      }
      if (!frozen) break;  // the victim finished before the signal landed
      // relaxed: published by the handler's release store of g_frozen, acquired above.
      const bool was_inside = g_frozen_in_engine.load(std::memory_order_relaxed);
      // relaxed: a snapshot for the statistics; the victim is stopped, so it is stable.
      const bool held = core.slots[static_cast<std::size_t>(victim_cpu) % core.slots.size()].held();
      // Move onto the victim's CPU and make a burst of calls there.
      pin_to(victim_cpu);
      const bool on_victim_cpu = sched_getcpu() == victim_cpu;
      const auto before = eng.snapshot();
      for (std::uint32_t k = 0; k < kBurst; ++k) {
        eng.delete_rcu(burst_objects[rounds * kBurst + k], &deletable::head);
        heartbeat.fetch_add(1, std::memory_order_relaxed);  // relaxed: heartbeat for the dog
      }
      contended += eng.snapshot().slot_contended - before.slot_contended;
      pin_to(control_cpu);
      // release: pairs with the handler's acquire; the victim may go on.
      g_resume.store(true, std::memory_order_release);
      // acquire: pairs with the handler's release store of false.
      while (g_frozen.load(std::memory_order_acquire)) {
      }
      ++rounds;
      inside += was_inside ? 1 : 0;
      holding_slot += held ? 1 : 0;
      bursts_on_victim_cpu += on_victim_cpu ? 1 : 0;
    }
  }
  // release: a signal still in flight when the victim finished finds its release waiting.
  g_resume.store(true, std::memory_order_release);
  victim.join();
  signal(SIGUSR1, SIG_DFL);
  sched_setaffinity(0, sizeof original_affinity, &original_affinity);
  // Objects no burst used, and whatever the victim did not reach, are queued here.
  for (std::uint32_t i = rounds * kBurst; i < kMaxRounds * kBurst; ++i) {
    eng.delete_rcu(burst_objects[i], &deletable::head);
  }
  eng.barrier();

  std::printf(
      "[atomic] stopped thread: stopped %u times, %u of them inside an engine call and %u "
      "while holding its CPU's slot; %u bursts of %u calls ran on that CPU meanwhile (%u "
      "there), %llu of their calls found the slot busy and took the fallback list\n",
      rounds, inside, holding_slot, rounds, kBurst, bursts_on_victim_cpu,
      static_cast<unsigned long long>(contended));
  std::fflush(stdout);
  CHECK(rounds > 100);
  CHECK(inside > 0);
  CHECK(book.ids_dead(1) == book.size());
  CHECK(book.bad() == 0);
}

// --- 3. oversubscription ------------------------------------------------------------------------
namespace {

#if defined(__x86_64__)
inline std::uint64_t ticks_begin() noexcept {
  _mm_lfence();  // earlier instructions are done before the counter is read
  const std::uint64_t t = __rdtsc();
  _mm_lfence();  // the timed call does not start before the counter is read
  return t;
}
inline std::uint64_t ticks_end() noexcept {
  unsigned aux;
  const std::uint64_t t = __rdtscp(&aux);  // waits for the timed call to finish
  _mm_lfence();
  return t;
}
#else
inline std::uint64_t ticks_begin() noexcept {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}
inline std::uint64_t ticks_end() noexcept {
  return ticks_begin();
}
#endif

double ns_per_tick() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = ticks_begin();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::uint64_t c1 = ticks_end();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
}

__attribute__((noinline)) void empty_call(void* obj) {
  asm volatile("" : : "r"(obj) : "memory");  // as opaque to the optimizer as an engine call
}

long involuntary_switches() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

struct distribution {
  std::vector<std::uint32_t> ticks;  // one per call
  long switches = 0;

  void print(const char* label, double ns_per) {
    std::sort(ticks.begin(), ticks.end());
    auto pct = [&](double q) {
      const auto i = static_cast<std::size_t>(q * static_cast<double>(ticks.size() - 1));
      return static_cast<double>(ticks[i]) * ns_per;
    };
    const auto over = static_cast<double>(
        ticks.end() -
        std::upper_bound(ticks.begin(), ticks.end(), static_cast<std::uint32_t>(10'000 / ns_per)));
    const double per100k = 100'000.0 / static_cast<double>(ticks.size());
    double in_calls_ms = 0;  // time spent inside the timed region, all calls together
    for (std::uint32_t t : ticks) in_calls_ms += static_cast<double>(t) * ns_per / 1e6;
    std::printf("[atomic]   %-22s %8zu %6.0f %6.0f %7.0f %10.0f %10.1f %9.1f %9.0f %12.1f\n", label,
                ticks.size(), pct(0.5), pct(0.99), pct(0.999),
                static_cast<double>(ticks.back()) * ns_per, over * per100k,
                static_cast<double>(switches) * per100k, in_calls_ms, over / in_calls_ms);
  }
};

}  // namespace

TEST_CASE(
    "Thirty-two threads on two cores all finish and lose nothing while the worker is "
    "slowed") {
  constexpr int kThreads = 32, kRounds = 2;
  // per thread and round; a tenth under the sanitizers, which slow every call 10-50x
  constexpr std::uint32_t kCallsPerRound = kTsan || kAsan ? 1'250 : 12'500;
  rcufree::config c;
  c.cached_pages_per_cpu = 8;
  c.worker_tick = std::chrono::milliseconds(10);
  c.drain_interval = std::chrono::milliseconds(100);
  c.allocate_page = [](std::size_t size) -> void* {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow page allocator
    return std::aligned_alloc(size, size);
  };
  c.release_page = [](void* p, std::size_t) { std::free(p); };
  rcufree::engine eng(c);
  const double ns_per = ns_per_tick();

  const std::uint32_t deletes_total = kThreads * kRounds * kCallsPerRound / 2;
  death_book book(deletes_total);
  distribution empty_fn, engine_calls;
  std::uint64_t completed = 0;
  const auto before = eng.snapshot();

  for (int round = 0; round < 2 * kRounds; ++round) {
    const bool use_engine = round % 2 == 1;
    std::vector<std::vector<std::uint32_t>> lat(kThreads);
    std::vector<long> switches(kThreads, 0);
    std::vector<std::uint32_t> done(kThreads, 0);
    std::atomic<int> ready{0};
    std::atomic<bool> start{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Objects first, outside the timed calls: in engine rounds even indexes go to
        // delete_rcu and odd ones to kfree_rcu; baseline rounds free plain objects afterwards.
        std::vector<void*> objs(kCallsPerRound);
        const std::uint32_t base =
            static_cast<std::uint32_t>(((round / 2) * kThreads + t) * (kCallsPerRound / 2));
        for (std::uint32_t i = 0; i < kCallsPerRound; ++i) {
          objs[i] = use_engine && i % 2 == 0
                        ? static_cast<void*>(new deletable(&book, base + i / 2))
                        : static_cast<void*>(make_raw<0>(i));
        }
        lat[t].resize(kCallsPerRound);
        // release: pairs with the controller's acquire wait; this thread is ready.
        ready.fetch_add(1, std::memory_order_release);
        // acquire: pairs with the controller's release store of start.
        while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
        const long sw0 = involuntary_switches();
        for (std::uint32_t i = 0; i < kCallsPerRound; ++i) {
          void* o = objs[i];
          const std::uint64_t t0 = ticks_begin();
          if (!use_engine) {
            empty_call(o);
          } else if (i % 2 == 0) {
            eng.delete_rcu(static_cast<deletable*>(o), &deletable::head);
          } else {
            eng.kfree_rcu(static_cast<freeable*>(o), &freeable::head);
          }
          const std::uint64_t t1 = ticks_end();
          lat[t][i] = static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, UINT32_MAX));
          ++done[t];
        }
        switches[t] = involuntary_switches() - sw0;
        if (!use_engine) {  // the baseline round did not hand its objects over
          for (void* o : objs) std::free(o);
        }
      });
    }
    // acquire: pairs with each thread's increment; all objects are allocated.
    while (ready.load(std::memory_order_acquire) < kThreads) std::this_thread::yield();
    // release: pairs with the threads' acquire loads of start.
    start.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    distribution& d = use_engine ? engine_calls : empty_fn;
    for (int t = 0; t < kThreads; ++t) {
      d.ticks.insert(d.ticks.end(), lat[t].begin(), lat[t].end());
      d.switches += switches[t];
      if (use_engine) completed += done[t];
      CHECK(done[t] == kCallsPerRound);  // every thread finished its calls
    }
  }
  const auto after_calls = eng.snapshot();
  eng.barrier();
  const auto after = eng.snapshot();

  std::printf(
      "[atomic] oversubscription: %d threads on %u CPUs, %d interleaved rounds of %u calls "
      "per thread each way; slow worker (2 ms per page, 10 ms tick); ns from the cycle "
      "counter (%.3f ns/tick)\n",
      kThreads, std::thread::hardware_concurrency(), kRounds, kCallsPerRound, ns_per);
  std::printf("[atomic]   %-22s %8s %6s %6s %7s %10s %10s %9s %9s %12s\n", "call (ns)", "calls",
              "p50", "p99", "p99.9", "max", ">10us/100k", "invsw/100k", "in-call ms",
              ">10us/in-ms");
  empty_fn.print("empty function", ns_per);
  engine_calls.print("kfree_rcu/delete_rcu", ns_per);
  std::printf(
      "[atomic]   engine: page path %llu, fallback %llu, slot found busy %llu (a "
      "preempted holder: a waiting design would have waited there), grace periods %llu\n",
      static_cast<unsigned long long>((after_calls.queued - after_calls.fallback_objects) -
                                      (before.queued - before.fallback_objects)),
      static_cast<unsigned long long>(after_calls.fallback_objects - before.fallback_objects),
      static_cast<unsigned long long>(after_calls.slot_contended - before.slot_contended),
      static_cast<unsigned long long>(after_calls.grace_periods - before.grace_periods));
  std::fflush(stdout);

  CHECK(completed == std::uint64_t{kThreads} * kRounds * kCallsPerRound);
  CHECK(book.ids_dead(1) == deletes_total);  // nothing lost, nothing freed twice
  CHECK(book.bad() == 0);
  CHECK(after.queued - before.queued == completed);
  CHECK(after.pending == 0);
}
