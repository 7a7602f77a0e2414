// SPDX-License-Identifier: MIT
// Promise 2, part one: the two-argument kfree_rcu/delete_rcu never allocate on the calling thread.
//
// Every allocator entry point of the process is counted for the measuring thread (see
// alloc_counter.hpp) while it makes a few hundred thousand two-argument calls on objects that
// were all allocated before the window opened. The window opens before the thread's very first
// engine call. The count must be zero through page boundaries, with an empty page cache (fallback
// list), with a failing page allocator, with a stalled worker and with a busy one, and through
// the default engine's free functions and the C API. Afterwards barrier() must have freed every
// object exactly once.
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

#include "alloc_counter.hpp"
#include "atomic_support.hpp"
#include "engine_core.hpp"
#include "mixed_workload.hpp"

#include <malloc.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace atomic_test;

namespace {

struct window_result {
  std::uint64_t counts[alloc_counter::kFunctions] = {};
  std::uint64_t total = 0;
  std::uint64_t others = 0;
  double ns_per_call = 0;

  std::string describe() const {
    std::string s;
    for (int f = 0; f < alloc_counter::kFunctions; ++f) {
      if (counts[f] != 0) {
        s += std::string(alloc_counter::name(f)) + " x" + std::to_string(counts[f]) + " ";
      }
    }
    return s.empty() ? "none" : s;
  }
};

// Runs the workload on a fresh thread whose counting window opens before its first engine call.
window_result measure(const mixed_workload& w, rcufree::engine* e, entry how) {
  window_result r;
  w.watch_frees();
  std::thread t([&] {
    alloc_counter::arm();
    const auto start = std::chrono::steady_clock::now();
    w.run(e, how);
    const auto stop = std::chrono::steady_clock::now();
    alloc_counter::disarm();
    for (int f = 0; f < alloc_counter::kFunctions; ++f) r.counts[f] = alloc_counter::count(f);
    r.total = alloc_counter::total();
    r.others = alloc_counter::others();
    r.ns_per_call = std::chrono::duration<double, std::nano>(stop - start).count() /
                    static_cast<double>(w.size());
  });
  t.join();  // r is complete: the thread's writes happen before join returns
  return r;
}

void print(const char* label, const mixed_workload& w, const window_result& r,
           const rcufree::stats& before, const rcufree::stats& after) {
  std::printf(
      "[atomic] %s: %zu calls (%zu kfree_rcu + %zu delete_rcu), %.1f ns/call; caller allocator "
      "calls: %llu (%s); other threads meanwhile: %llu; page path %llu, fallback %llu, pages "
      "in use %+lld, slot busy %llu  [%s]\n",
      label, w.size(), w.kfree_objects(), w.delete_objects(), r.ns_per_call,
      static_cast<unsigned long long>(r.total), r.describe().c_str(),
      static_cast<unsigned long long>(r.others),
      static_cast<unsigned long long>((after.queued - after.fallback_objects) -
                                      (before.queued - before.fallback_objects)),
      static_cast<unsigned long long>(after.fallback_objects - before.fallback_objects),
      static_cast<long long>(after.pages_in_use) - static_cast<long long>(before.pages_in_use),
      static_cast<unsigned long long>(after.slot_contended - before.slot_contended),
      alloc_counter::mechanism());
  std::fflush(stdout);
}

// volatile function pointers: the compiler can neither see through nor elide these calls.
void* (*volatile g_malloc)(std::size_t) = &malloc;
void (*volatile g_free)(void*) = &free;
void* (*volatile g_calloc)(std::size_t, std::size_t) = &calloc;
void* (*volatile g_realloc)(void*, std::size_t) = &realloc;
void* (*volatile g_aligned_alloc)(std::size_t, std::size_t) = &aligned_alloc;
int (*volatile g_posix_memalign)(void**, std::size_t, std::size_t) = &posix_memalign;
void* (*volatile g_memalign)(std::size_t, std::size_t) = &memalign;
void* (*volatile g_valloc)(std::size_t) = &valloc;

template <class T>
T* escape(T* p) {
  asm volatile("" : : "r"(p) : "memory");  // the pointer escapes: new/delete cannot be elided
  return p;
}

}  // namespace

TEST_CASE("The allocation counter sees every allocator entry point on the armed thread only") {
  // A thread started before the window that allocates while it is open: not the armed thread.
  std::atomic<int> phase{0};
  std::thread other([&] {
    // acquire: pairs with the release store of 1 below; the window is open.
    while (phase.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    g_free(g_malloc(16));
    // release: pairs with the acquire load below; the allocation is done.
    phase.store(2, std::memory_order_release);
  });
  alloc_counter::arm();
  // release: pairs with the acquire load in `other`.
  phase.store(1, std::memory_order_release);
  // acquire: pairs with the release store of 2 in `other`.
  while (phase.load(std::memory_order_acquire) != 2) std::this_thread::yield();
  g_free(g_malloc(24));
  g_free(g_calloc(3, 8));
  g_free(g_realloc(nullptr, 40));
  g_free(g_aligned_alloc(64, 64));
  void* pm = nullptr;
  const int rc = g_posix_memalign(&pm, 64, 64);
  g_free(pm);
  g_free(g_memalign(64, 64));
  g_free(g_valloc(64));
  delete escape(new int(1));
  delete[] escape(new int[3]);
  delete escape(new (std::nothrow) long(2));
  struct alignas(128) wide {
    char c[128];
  };
  delete escape(new wide);
  alloc_counter::disarm();
  other.join();
  REQUIRE(rc == 0);
  if (alloc_counter::per_function()) {
    CHECK(alloc_counter::count(alloc_counter::f_malloc) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_calloc) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_realloc) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_aligned_alloc) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_posix_memalign) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_memalign) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_valloc) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_free) == 7);
    CHECK(alloc_counter::count(alloc_counter::f_new) == 3);
    CHECK(alloc_counter::count(alloc_counter::f_new_array) == 1);
    CHECK(alloc_counter::count(alloc_counter::f_delete) == 3);
    CHECK(alloc_counter::count(alloc_counter::f_delete_array) == 1);
  } else {
    WARN("sanitizer build: the allocator is counted through the sanitizer's malloc/free hooks, "
         "which do not tell the entry points apart");
    CHECK(alloc_counter::count(alloc_counter::f_malloc) >= 11);
    CHECK(alloc_counter::count(alloc_counter::f_free) >= 11);
  }
  CHECK(alloc_counter::others() >= 2);
}

TEST_CASE("kfree_rcu and delete_rcu allocate nothing on the caller across thousands of page "
          "boundaries with the worker stalled") {
  // 20,000 cached 256-byte pages per CPU: the whole run fits in pages, so it exercises opening,
  // filling, closing and evicting blocks, not the fallback list.
  rcufree::engine eng(stalled_worker(small_pages({}, 20000)));
  REQUIRE(eng.reserve_pages(20000) == 20000 * rcufree::engine_access::core(eng).slots.size());
  mixed_workload w(300'000, 1);
  const auto before = eng.snapshot();
  const window_result r = measure(w, &eng, entry::member);
  const auto after = eng.snapshot();
  print("page path, stalled worker", w, r, before, after);
  INFO("allocator calls on the caller: " << r.describe());
  CHECK(r.total == 0);
  CHECK(after.pages_in_use - before.pages_in_use >= 10'000);  // crossed many page boundaries
  CHECK(after.freed == before.freed);                         // the worker really was stalled
  eng.barrier();
  mixed_workload::unwatch();
  CHECK(w.all_died_once());
  CHECK(w.deaths() == w.size());
}

TEST_CASE("kfree_rcu and delete_rcu allocate nothing on the caller when the page cache is empty "
          "and the worker stalled") {
  rcufree::config c;
  c.cached_pages_per_cpu = 0;
  rcufree::engine eng(stalled_worker(c));
  mixed_workload w(300'000, 2);
  const auto before = eng.snapshot();
  const window_result r = measure(w, &eng, entry::member);
  const auto after = eng.snapshot();
  print("empty cache, fallback list, stalled worker", w, r, before, after);
  INFO("allocator calls on the caller: " << r.describe());
  CHECK(r.total == 0);
  CHECK(after.fallback_objects - before.fallback_objects == w.size());
  eng.barrier();
  mixed_workload::unwatch();
  CHECK(w.all_died_once());
  CHECK(w.deaths() == w.size());
}

TEST_CASE("kfree_rcu and delete_rcu allocate nothing on the caller when every page allocation "
          "fails") {
  rcufree::config c = failing_page_allocator();
  c.worker_tick = std::chrono::microseconds(200);  // the worker keeps trying (and failing)
  c.drain_interval = std::chrono::milliseconds(2);
  rcufree::engine eng(c);
  mixed_workload w(300'000, 3);
  const auto before = eng.snapshot();
  const window_result r = measure(w, &eng, entry::member);
  const auto after = eng.snapshot();
  print("failing page allocator, running worker", w, r, before, after);
  INFO("allocator calls on the caller: " << r.describe());
  CHECK(r.total == 0);
  CHECK(after.fallback_objects - before.fallback_objects == w.size());
  CHECK(after.page_alloc_failures > 0);
  eng.barrier();
  mixed_workload::unwatch();
  CHECK(w.all_died_once());
  CHECK(w.deaths() == w.size());
}

TEST_CASE("kfree_rcu and delete_rcu allocate nothing on the caller while the worker refills and "
          "drains beside it") {
  // Default pages and cache; a worker that wakes every 100 us: it allocates pages and frees
  // objects on its own thread while the caller runs, which the counter must see as other threads'.
  rcufree::config c;
  c.worker_tick = std::chrono::microseconds(100);
  c.drain_interval = std::chrono::milliseconds(1);
  rcufree::engine eng(c);
  std::size_t rounds = 0;
  window_result r;
  mixed_workload* last = nullptr;
  std::vector<std::unique_ptr<mixed_workload>> keep;
  // Repeat until the worker demonstrably ran beside the caller (normally the first round).
  do {
    keep.push_back(std::make_unique<mixed_workload>(300'000, 4 + rounds));
    last = keep.back().get();
    const auto before = eng.snapshot();
    r = measure(*last, &eng, entry::member);
    const auto after = eng.snapshot();
    print("busy worker", *last, r, before, after);
    INFO("allocator calls on the caller: " << r.describe());
    CHECK(r.total == 0);
    eng.barrier();
    mixed_workload::unwatch();
    CHECK(last->all_died_once());
  } while (r.others == 0 && ++rounds < 5);
  CHECK(r.others > 0);  // the counter saw the worker's allocations and frees, not as the caller's
}

TEST_CASE("The free functions and the C API allocate nothing on the caller") {
  mixed_workload w(200'000, 10);
  const auto before = rcufree::default_engine().snapshot();
  window_result r = measure(w, nullptr, entry::free_function);
  auto after = rcufree::default_engine().snapshot();
  print("rcufree::kfree_rcu/delete_rcu on the default engine", w, r, before, after);
  INFO("allocator calls on the caller: " << r.describe());
  CHECK(r.total == 0);
  rcufree::barrier();
  mixed_workload::unwatch();
  CHECK(w.all_died_once());

  mixed_workload w2(200'000, 11);
  const auto before2 = rcufree::default_engine().snapshot();
  r = measure(w2, nullptr, entry::c_api);
  after = rcufree::default_engine().snapshot();
  print("rcufree_kfree_rcu (C API) on the default engine", w2, r, before2, after);
  INFO("allocator calls on the caller: " << r.describe());
  CHECK(r.total == 0);
  rcufree::barrier();
  mixed_workload::unwatch();
  CHECK(w2.all_died_once());
}
