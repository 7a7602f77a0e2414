// SPDX-License-Identifier: MIT
// micro_bench.cpp — Google Benchmark micro-benchmarks of rcufree's calls: the two-argument fast
// path (C++, and the C API on the default engine and on an engine of one's own), the call that
// crosses a page boundary, the fallback list alone, the head-less form, reclaim_local() after N
// calls, and the busy flag's exchange alone.
//
// The per-CPU page cache's take/return is not reachable through the public API: a take is part of
// the page-boundary call below (it is what that call does beyond the fast path), and pages return
// to the cache on the worker, off the callers' path.
#include <rcufree/rcufree.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <rcufree/rcufree.hpp>
#include <vector>

#include "micro_common.hpp"

namespace {

using bench::batch;
using bench::micro_object;

struct rcu_object {
  rcu_head head;
  char payload[48];
};
static_assert(sizeof(rcu_object) == sizeof(micro_object));

rcu_object* as_rcu(micro_object* o) {
  return reinterpret_cast<rcu_object*>(o);
}

void add_engine_counters(benchmark::State& state, const rcufree::stats& before,
                         const rcufree::stats& after) {
  const double calls = static_cast<double>(after.queued - before.queued);
  if (calls > 0) {
    state.counters["fallback_pct"] =
        100.0 * static_cast<double>(after.fallback_objects - before.fallback_objects) / calls;
  }
}

// Steady state of the fast path: batches of 2,000 calls (about four pages, so one page boundary
// per ~500 calls, as in a flood), each batch starting after a barrier has recycled the pages.
void BM_kfree_rcu_fast_path(benchmark::State& state) {
  rcufree::engine eng;
  batch objs(2000);
  const auto before = eng.snapshot();
  for (auto _ : state) {
    eng.kfree_rcu(as_rcu(objs.take(state, [&] { eng.barrier(); })), &rcu_object::head);
  }
  eng.barrier();
  add_engine_counters(state, before, eng.snapshot());
}
BENCHMARK(BM_kfree_rcu_fast_path);

// The same through the C API: rcufree_kfree_rcu on the default engine (the call checks the head
// and reaches the engine with one load), and rcufree_engine_kfree_rcu on an engine of one's own
// (it also checks the handle).
void BM_c_kfree_rcu_fast_path(benchmark::State& state) {
  batch objs(2000);
  const auto before = rcufree::default_engine().snapshot();
  for (auto _ : state) {
    rcu_object* o = as_rcu(objs.take(state, [] { rcufree_barrier(); }));
    rcufree_kfree_rcu(o, &o->head);
  }
  rcufree_barrier();
  add_engine_counters(state, before, rcufree::default_engine().snapshot());
}
BENCHMARK(BM_c_kfree_rcu_fast_path);

void BM_c_engine_kfree_rcu_fast_path(benchmark::State& state) {
  rcufree_config cfg;
  rcufree_config_init(&cfg);
  rcufree_engine* eng = rcufree_engine_new(&cfg);
  if (eng == nullptr) {
    state.SkipWithError(rcufree_last_error());
    return;
  }
  batch objs(2000);
  for (auto _ : state) {
    rcu_object* o = as_rcu(objs.take(state, [&] { rcufree_engine_barrier(eng); }));
    rcufree_engine_kfree_rcu(eng, o, &o->head);
  }
  rcufree_engine_destroy(eng);
}
BENCHMARK(BM_c_engine_kfree_rcu_fast_path);

// The call that finds its block full: closes it (grace-period snapshot, push to the closed list)
// and opens a page from the cache. Timed alone with steady_clock (manual time); compare with
// BM_manual_clock_overhead, which times nothing with the same clock.
void BM_kfree_rcu_page_boundary(benchmark::State& state) {
  rcufree::engine eng;
  constexpr std::size_t kPerPage = (4096 - 40) / sizeof(void*);  // 507 records in a 4 KiB block
  std::vector<micro_object*> objs(kPerPage + 1);
  std::size_t crossed_with_page = 0, n = 0;
  for (auto _ : state) {
    eng.barrier();  // closes the open block: the next call opens a fresh page
    for (auto& o : objs) o = static_cast<micro_object*>(std::malloc(sizeof(micro_object)));
    const auto before = eng.snapshot();
    for (std::size_t i = 0; i < kPerPage; ++i) eng.kfree_rcu(as_rcu(objs[i]), &rcu_object::head);
    const auto t0 = std::chrono::steady_clock::now();
    eng.kfree_rcu(as_rcu(objs[kPerPage]), &rcu_object::head);
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    const auto after = eng.snapshot();
    ++n;
    if (after.fallback_objects == before.fallback_objects) ++crossed_with_page;
  }
  eng.barrier();
  state.counters["took_page_pct"] =
      n ? 100.0 * static_cast<double>(crossed_with_page) / static_cast<double>(n) : 0;
}
BENCHMARK(BM_kfree_rcu_page_boundary)->UseManualTime()->Iterations(5000);

void BM_manual_clock_overhead(benchmark::State& state) {
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::ClobberMemory();
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
}
BENCHMARK(BM_manual_clock_overhead)->UseManualTime()->Iterations(5000);

// No page cache at all (cached_pages_per_cpu = 0): every call pushes on the fallback list.
void BM_kfree_rcu_fallback_only(benchmark::State& state) {
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 0;
  rcufree::engine eng(cfg);
  batch objs(4096);
  const auto before = eng.snapshot();
  for (auto _ : state) {
    eng.kfree_rcu(as_rcu(objs.take(state, [&] { eng.barrier(); })), &rcu_object::head);
  }
  eng.barrier();
  add_engine_counters(state, before, eng.snapshot());
}
BENCHMARK(BM_kfree_rcu_fallback_only);

// The head-less form, default config and with sleepable callers reclaiming (arg 1).
void BM_kvfree_rcu_mightsleep(benchmark::State& state) {
  rcufree::config cfg;
  cfg.sleepable_callers_reclaim = state.range(0) != 0;
  rcufree::engine eng(cfg);
  batch objs(2000);
  const auto before = eng.snapshot();
  for (auto _ : state) eng.kvfree_rcu_mightsleep(objs.take(state, [&] { eng.barrier(); }));
  eng.barrier();
  add_engine_counters(state, before, eng.snapshot());
}
BENCHMARK(BM_kvfree_rcu_mightsleep)->Arg(0)->Arg(1);

// What the two-argument call's busy flag costs by itself on this CPU: an uncontended try-enter
// (relaxed peek + acquire exchange) and release store, as cpu_slot does, with nothing between.
// The peer baselines (ck_epoch, the inline array) have no atomic read-modify-write per call.
void BM_busy_flag_enter_leave(benchmark::State& state) {
  std::atomic<bool> busy{false};
  for (auto _ : state) {
    // relaxed peek, then acquire exchange: pairs with the release store below (previous turn).
    const bool entered =
        !busy.load(std::memory_order_relaxed) && !busy.exchange(true, std::memory_order_acquire);
    benchmark::DoNotOptimize(entered);
    busy.store(false, std::memory_order_release);  // release: pairs with the exchange above
  }
}
BENCHMARK(BM_busy_flag_enter_leave);

// One reclaim_local() call after N two-argument calls on this thread: the grace period it waits
// for and the N frees, on the caller (steady_clock around the call alone; compare with
// BM_manual_clock_overhead). Each iteration starts after a barrier, so the first 5 x 507 objects
// sit in the cached pages' blocks and the rest on the fallback list; the open block stays queued.
void BM_reclaim_local(benchmark::State& state) {
  rcufree::engine eng;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<rcu_object*> objs(n);
  std::uint64_t freed = 0;
  double seconds = 0;
  for (auto _ : state) {
    eng.barrier();
    for (auto& o : objs) o = static_cast<rcu_object*>(std::malloc(sizeof(rcu_object)));
    for (auto* o : objs) eng.kfree_rcu(o, &rcu_object::head);
    const auto t0 = std::chrono::steady_clock::now();
    freed += eng.reclaim_local();
    const auto t1 = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(t1 - t0).count();
    seconds += s;
    state.SetIterationTime(s);
  }
  eng.barrier();
  state.counters["freed_per_call"] =
      static_cast<double>(freed) / static_cast<double>(state.iterations());
  state.counters["ns_per_freed"] = freed ? seconds * 1e9 / static_cast<double>(freed) : 0;
}
BENCHMARK(BM_reclaim_local)->Arg(1024)->Arg(4096)->Arg(16384)->UseManualTime()->Iterations(300);

}  // namespace

BENCHMARK_MAIN();
