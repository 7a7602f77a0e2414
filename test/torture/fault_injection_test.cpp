// SPDX-License-Identifier: MIT
// fault_injection_test.cpp — page allocation that fails (always, at random, in bursts), a worker
// stalled for seconds, and floods while both happen.
//
// What must hold (CONTRACT promises 2, 6 and 7): the two-argument calls never wait. Each call
// runs inside an atomic_scope between two getrusage(RUSAGE_THREAD) readings: a call that slept
// (futex, condition variable, sleep) adds a voluntary context switch, whereas preemption only
// adds involuntary ones, so the sum of voluntary switches inside calls must be zero whatever the
// machine's load. Wall time per call is printed too (max and 99.9th percentile) and must stay far
// below the injected stalls; pages stay bounded (none at all when allocation
// always fails: the objects' own heads carry them); and once the fault clears, barrier() frees
// everything exactly once and the engine gets its caches back.
#include "fault_allocator.hpp"
#include "torture_support.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using torture::entry;
using torture::fault_allocator;

namespace {

struct flood_result {
  std::uint64_t calls = 0;
  std::uint64_t max_ns = 0;
  std::uint64_t p999_ns = 0;  // upper bound of the log2 bucket holding the 99.9th percentile
  std::uint64_t sleeps = 0;   // voluntary context switches inside calls (a call that blocked)
};

std::uint64_t voluntary_switches() {
  rusage r{};
  getrusage(RUSAGE_THREAD, &r);
  return static_cast<std::uint64_t>(r.ru_nvcsw);
}

// ThreadSanitizer's runtime may itself sleep on its internal mutexes inside an atomic operation.
#if defined(__SANITIZE_THREAD__)
constexpr bool kCountSleeps = false;
#else
constexpr bool kCountSleeps = true;
#endif
// A call that waited for the worker would take about as long as the injected stall; preemption
// on a loaded two-CPU machine can still cost tens of milliseconds.
constexpr std::uint64_t kMaxCallNs = 700'000'000;

// `threads` threads alternate kfree_rcu and delete_rcu of fresh nodes for `d` (or `cap` calls
// each), timing every call inside an atomic_scope.
flood_result flood(rcufree::engine& eng, torture::tracker& tr, int threads,
                   std::chrono::duration<double> d, std::uint64_t cap) {
  std::atomic<std::uint64_t> buckets[64] = {};
  std::atomic<std::uint64_t> calls{0}, max_ns{0}, sleeps{0};
  const auto deadline = std::chrono::steady_clock::now() + d;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t local[64] = {}, n = 0, worst = 0, slept = 0;
      while (n < cap && (n & 63 || std::chrono::steady_clock::now() < deadline)) {
        const entry how = (n + static_cast<std::uint64_t>(t)) % 2 ? entry::delete_rcu : entry::kfree_rcu;
        torture::node* p = tr.make(how, eng, n + 1);
        tr.stamp(p);
        std::chrono::steady_clock::time_point t0, t1;
        {
          rcufree::atomic_scope no_sleep;
          const std::uint64_t v0 = voluntary_switches();
          t0 = std::chrono::steady_clock::now();
          if (how == entry::kfree_rcu) eng.kfree_rcu(p, &torture::node::head);
          else eng.delete_rcu(p, &torture::node::head);
          t1 = std::chrono::steady_clock::now();
          slept += voluntary_switches() - v0;
        }
        const auto ns = static_cast<std::uint64_t>((t1 - t0).count());
        worst = std::max(worst, ns);
        ++local[63 - __builtin_clzll(ns | 1)];
        ++n;
      }
      // relaxed: totals, read after join.
      for (int b = 0; b < 64; ++b) buckets[b].fetch_add(local[b], std::memory_order_relaxed);
      calls.fetch_add(n, std::memory_order_relaxed);
      sleeps.fetch_add(slept, std::memory_order_relaxed);
      std::uint64_t seen = max_ns.load(std::memory_order_relaxed);
      while (worst > seen && !max_ns.compare_exchange_weak(seen, worst, std::memory_order_relaxed)) {
      }
    });
  }
  for (auto& t : pool) t.join();
  flood_result r;
  // seq_cst loads: the writers were joined above, which orders their adds before these.
  r.calls = calls.load();
  r.max_ns = max_ns.load();
  r.sleeps = sleeps.load();
  std::uint64_t below = 0;
  for (int b = 0; b < 64; ++b) {
    below += buckets[b].load();
    if (below * 1000 >= r.calls * 999) {
      r.p999_ns = (std::uint64_t{2} << b) - 1;
      break;
    }
  }
  return r;
}

// Samples the engine and the allocator every half millisecond while alive.
struct sampler {
  sampler(rcufree::engine& e, fault_allocator& a) : eng(e), alloc(a), thread([this] { run(); }) {}
  ~sampler() { stop_and_join(); }
  void stop_and_join() {
    stop.store(true, std::memory_order_relaxed);  // relaxed: a stop flag
    if (thread.joinable()) thread.join();
  }
  void run() {
    while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag
      const auto st = eng.snapshot();
      peak_in_use = std::max(peak_in_use, st.pages_in_use);
      peak_cached = std::max(peak_cached, st.pages_cached);
      peak_pending = std::max(peak_pending, st.pending);
      peak_outstanding = std::max(peak_outstanding, alloc.outstanding());
      std::this_thread::sleep_for(500us);
    }
  }
  rcufree::engine& eng;
  fault_allocator& alloc;
  std::atomic<bool> stop{false};
  std::uint64_t peak_in_use = 0, peak_cached = 0, peak_pending = 0;
  std::int64_t peak_outstanding = 0;
  std::thread thread;
};

std::size_t slots_of(rcufree::engine& eng) { return rcufree::engine_access::core(eng).slots.size(); }

void print(const char* name, const flood_result& f, const sampler& s, const rcufree::stats& st,
           const fault_allocator& a) {
  std::printf("[%s] %llu atomic calls: max %.1f us, p99.9 < %.1f us, %llu slept; peak pages in "
              "use %llu, cached %llu, allocator outstanding %lld; fallback %llu of %llu queued; "
              "allocations %llu failed %llu stalled %llu\n",
              name, (unsigned long long)f.calls, double(f.max_ns) / 1e3, double(f.p999_ns) / 1e3,
              (unsigned long long)f.sleeps,
              (unsigned long long)s.peak_in_use, (unsigned long long)s.peak_cached,
              (long long)s.peak_outstanding, (unsigned long long)st.fallback_objects,
              (unsigned long long)st.queued, (unsigned long long)a.calls(),
              (unsigned long long)a.failures(), (unsigned long long)a.stalls());
  std::fflush(stdout);
}

void check_never_waited(const flood_result& f) {
  CHECK(f.max_ns < kMaxCallNs);
  if (kCountSleeps) CHECK(f.sleeps == 0);
}

// The fault is gone: barrier frees everything exactly once; caches come back.
void check_recovery(rcufree::engine& eng, torture::tracker& tr, fault_allocator& alloc) {
  alloc.set_mode(fault_allocator::mode::ok);
  eng.barrier();
  INFO(tr.report() << tr.first_failure());
  CHECK(tr.reclaimed_total() == tr.created_total());
  CHECK(tr.early_frees() == 0);
  CHECK(tr.ungraced_frees() == 0);
  const auto st = eng.snapshot();
  CHECK(st.pending == 0);
  CHECK(st.queued == st.freed);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (eng.snapshot().pages_cached == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(eng.snapshot().pages_cached > 0);  // the worker refilled once allocation worked again
}

constexpr auto kFlood = 600ms;
constexpr std::uint64_t kCap = 150'000;  // calls per thread at most

}  // namespace

TEST_CASE("when page allocation always fails no page is ever used and atomic callers do not wait", "[fault]") {
  fault_allocator alloc;
  alloc.set_mode(fault_allocator::mode::always_fail);  // from the start: the first fill fails too
  torture::tracker tr;
  {
    rcufree::engine eng(alloc.wire({}));
    sampler s(eng, alloc);
    const flood_result f = flood(eng, tr, 2, kFlood, kCap);
    // Head-less calls cannot use a fallback list: they wait for a grace period and free inline.
    for (int i = 0; i < 100; ++i) tr.retire(tr.make(entry::kvfree_rcu_mightsleep, eng, 1), eng, 0);
    s.stop_and_join();
    const auto st = eng.snapshot();
    print("allocation always fails", f, s, st, alloc);
    CHECK(alloc.peak() == 0);
    CHECK(s.peak_in_use == 0);
    CHECK(st.page_allocs == 0);
    CHECK(st.fallback_objects == f.calls);  // every two-argument object rode on its own head
    CHECK(st.inline_frees == 100);
    check_never_waited(f);
    check_recovery(eng, tr, alloc);
  }
  CHECK(alloc.outstanding() == 0);  // the destructor gave every page back
}

TEST_CASE("when page allocation fails at random or in bursts pages stay bounded and all is freed", "[fault]") {
  const auto m = GENERATE(fault_allocator::mode::random_fail, fault_allocator::mode::bursts);
  const char* name = m == fault_allocator::mode::random_fail ? "allocation fails at random"
                                                              : "allocation fails in bursts";
  fault_allocator alloc;
  torture::tracker tr;
  {
    rcufree::config cfg;
    cfg.drain_interval = 5ms;  // refill retries come every drain interval after a failure
    cfg.worker_tick = 500us;
    rcufree::engine eng(alloc.wire(cfg));
    alloc.set_mode(m);
    alloc.reset_peak();
    sampler s(eng, alloc);
    const flood_result f = flood(eng, tr, 2, kFlood, kCap);
    for (int i = 0; i < 200; ++i) {
      tr.retire(tr.make(i % 2 ? entry::kvfree_rcu_mightsleep : entry::delete_rcu_mightsleep, eng,
                        1), eng, 0);
    }
    s.stop_and_join();
    const auto st = eng.snapshot();
    print(name, f, s, st, alloc);
    const std::size_t cpus = slots_of(eng);
    CHECK(s.peak_cached <= cpus * cfg.cached_pages_per_cpu);
    // Pages come only from refills of per-CPU caches: cached + filled since the last drain.
    CHECK(static_cast<std::uint64_t>(alloc.peak()) <= cpus * (2 * cfg.cached_pages_per_cpu + 4) + 2);
    CHECK(st.page_alloc_failures > 0);
    check_never_waited(f);
    check_recovery(eng, tr, alloc);
  }
  CHECK(alloc.outstanding() == 0);
}

TEST_CASE("a worker stalled for seconds in its page allocator does not hold up atomic callers", "[fault]") {
  fault_allocator alloc;
  torture::tracker tr;
  // One thread refills every CPU's pool (single mode), so that its stall stops every refill;
  // with per-CPU reclaim threads the other CPUs' threads would go on refilling their own pools.
  rcufree::config cfg;
  cfg.reclaim_threads = rcufree::reclaim_mode::single;
  rcufree::engine eng(alloc.wire(cfg));  // caches filled in the constructor, before the stall
  const std::int64_t filled = alloc.outstanding();
  alloc.stall_next(1500ms);  // the worker's next refill sleeps 1.5 s
  alloc.reset_peak();
  sampler s(eng, alloc);
  const auto start = std::chrono::steady_clock::now();
  const flood_result f = flood(eng, tr, 2, 1s, kCap);  // empties the caches: the refill stalls
  const auto flood_time = std::chrono::steady_clock::now() - start;
  s.stop_and_join();
  const auto st = eng.snapshot();
  print("worker stalled 1.5 s", f, s, st, alloc);
  CHECK(alloc.stalls() == 1);
  check_never_waited(f);
  CHECK(flood_time < 1500ms);     // the flood never waited for the stall
  // While the worker slept no page could be added: at most what was filled plus the one it got.
  CHECK(alloc.peak() <= filled + 1);
  check_recovery(eng, tr, alloc);
}

TEST_CASE("a flood while allocation fails in bursts and the worker stalls loses nothing", "[fault]") {
  fault_allocator alloc;
  torture::tracker tr;
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 2;
  cfg.drain_interval = 2ms;
  cfg.worker_tick = 200us;
  cfg.pending_soft_cap_bytes = 256 << 10;  // the flood is over the cap: expedited draining
  rcufree::engine eng(alloc.wire(cfg));
  alloc.set_mode(fault_allocator::mode::bursts);
  sampler s(eng, alloc);
  flood_result worst;
  for (int round = 0; round < 3; ++round) {
    alloc.stall_next(400ms);
    const flood_result f = flood(eng, tr, 2, 300ms, kCap);
    worst.calls += f.calls;
    worst.max_ns = std::max(worst.max_ns, f.max_ns);
    worst.p999_ns = std::max(worst.p999_ns, f.p999_ns);
    worst.sleeps += f.sleeps;
  }
  s.stop_and_join();
  const auto st = eng.snapshot();
  print("bursts of failures + stalls", worst, s, st, alloc);
  CHECK(alloc.stalls() >= 1);
  check_never_waited(worst);
  CHECK(s.peak_cached <= slots_of(eng) * cfg.cached_pages_per_cpu);
  check_recovery(eng, tr, alloc);
}

namespace {
struct slow_to_die {
  slow_to_die(std::atomic<bool>* s, std::atomic<int>* d) : started(s), deaths(d) {}
  ~slow_to_die() {
    started->store(true, std::memory_order_relaxed);  // relaxed: a flag the test polls
    std::this_thread::sleep_for(1s);  // runs on the worker: reclaim stalls for a second
    deaths->fetch_add(1, std::memory_order_relaxed);  // relaxed: read after barrier
  }
  std::atomic<bool>* started;
  std::atomic<int>* deaths;
  rcu_head head{};
};
}  // namespace

TEST_CASE("a deleter that sleeps stalls reclaim but not atomic callers", "[fault]") {
  torture::tracker tr;
  fault_allocator alloc;
  rcufree::engine eng(alloc.wire({}));
  std::atomic<bool> started{false};
  std::atomic<int> deaths{0};
  eng.delete_rcu(new slow_to_die(&started, &deaths), &slow_to_die::head);
  // relaxed: polling a flag; the worker runs the deleter once the block has aged (20 ms).
  while (!started.load(std::memory_order_relaxed)) std::this_thread::sleep_for(1ms);
  sampler s(eng, alloc);
  const flood_result f = flood(eng, tr, 2, 800ms, kCap);
  s.stop_and_join();
  print("deleter sleeps 1 s", f, s, eng.snapshot(), alloc);
  check_never_waited(f);
  CHECK(s.peak_cached <= slots_of(eng) * eng.settings().cached_pages_per_cpu);
  check_recovery(eng, tr, alloc);
  CHECK(deaths.load() == 1);  // seq_cst: after barrier(), which ordered the deleter before
}
