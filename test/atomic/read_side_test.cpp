// SPDX-License-Identifier: MIT
// kfree_rcu/delete_rcu called inside an RCU read-side critical section (urcu-memb's
// rcu_read_lock) return at once, and what they queued is freed only after the section ends: the
// worker's grace period waits for the very reader that queued the objects.
#include <rcufree/rcufree.hpp>
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>

#include "atomic_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace atomic_test;

namespace {

std::atomic<bool> g_section_open{false};
std::atomic<std::uint64_t> g_freed_in_section{0};

// Records its death, and whether it died while the section that queued it was still open.
struct witness {
  witness(death_book* b, std::uint32_t i) : book(b), id(i) {}
  ~witness() {
    // acquire: pairs with the reader's release store of false, made before rcu_read_unlock.
    if (g_section_open.load(std::memory_order_acquire)) {
      g_freed_in_section.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after barrier
    }
    book->record(id);
  }
  death_book* book;
  std::uint32_t id;
  rcu_head head{};
};

}  // namespace

TEST_CASE("kfree_rcu and delete_rcu inside a read-side critical section free only after it "
          "ends") {
  rcufree::config fast;
  fast.worker_tick = std::chrono::microseconds(500);
  fast.drain_interval = std::chrono::milliseconds(1);
  rcufree::config fallback_only = fast;
  fallback_only.cached_pages_per_cpu = 0;
  rcufree::engine paged(fast), fallback(fallback_only);

  constexpr std::uint32_t kObjects = 20'000;  // 10,000 per engine, witnesses and plain objects
  death_book book(kObjects);
  std::vector<witness*> witnesses;
  std::vector<raw_object<0>*> raws;
  for (std::uint32_t i = 0; i < kObjects; ++i) witnesses.push_back(new witness(&book, i));
  for (std::uint32_t i = 0; i < kObjects; ++i) raws.push_back(make_raw<0>(i));

  // relaxed: reset before the reader exists.
  g_freed_in_section.store(0, std::memory_order_relaxed);
  std::atomic<int> step{0};
  double queue_us = 0;
  const auto p0 = paged.snapshot(), f0 = fallback.snapshot();
  std::thread reader([&] {
    urcu_memb_register_thread();
    urcu_memb_read_lock();
    // release: pairs with the destructors' acquire loads (they run after the section ends, or
    // count a violation).
    g_section_open.store(true, std::memory_order_release);
    const auto start = std::chrono::steady_clock::now();
    for (std::uint32_t i = 0; i < kObjects; ++i) {
      rcufree::engine& eng = i % 2 == 0 ? paged : fallback;
      eng.delete_rcu(witnesses[i], &witness::head);
      eng.kfree_rcu(raws[i], &raw_object<0>::head);
    }
    queue_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                   .count();
    // release: pairs with the main thread's acquire; everything is queued.
    step.store(1, std::memory_order_release);
    // acquire: pairs with the main thread's release store of 2.
    while (step.load(std::memory_order_acquire) != 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // release: pairs with the destructors' acquire loads; set before the section really ends, so
    // a free between this store and the unlock goes uncounted (never a false alarm).
    g_section_open.store(false, std::memory_order_release);
    urcu_memb_read_unlock();
    urcu_memb_unregister_thread();
  });
  // acquire: pairs with the reader's release store of 1.
  while (step.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  // Hold the section for 300 ms: some 600 worker ticks, each of which would free the batch if its
  // grace period did not wait for this reader.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto p1 = paged.snapshot(), f1 = fallback.snapshot();
  const std::uint64_t died_during = book.total();
  // release: pairs with the reader's acquire; it may end its section.
  step.store(2, std::memory_order_release);
  reader.join();
  paged.barrier();
  fallback.barrier();
  const auto p2 = paged.snapshot(), f2 = fallback.snapshot();

  std::printf("[atomic] inside a read-side critical section: %u calls in %.0f us; during the "
              "300 ms the section stayed open the workers took %llu batches and completed %llu "
              "grace periods, freeing %llu objects; all %llu freed after it ended\n",
              2 * kObjects, queue_us,
              static_cast<unsigned long long>((p1.drains - p0.drains) + (f1.drains - f0.drains)),
              static_cast<unsigned long long>((p1.grace_periods - p0.grace_periods) +
                                              (f1.grace_periods - f0.grace_periods)),
              static_cast<unsigned long long>((p1.freed - p0.freed) + (f1.freed - f0.freed)),
              static_cast<unsigned long long>((p2.freed - p0.freed) + (f2.freed - f0.freed)));
  std::fflush(stdout);
  CHECK(died_during == 0);
  // The workers did take the objects (and are stuck in a grace period waiting for the reader).
  CHECK((p1.drains - p0.drains) + (f1.drains - f0.drains) > 0);
  CHECK((p1.grace_periods - p0.grace_periods) + (f1.grace_periods - f0.grace_periods) == 0);
  CHECK(p1.freed == p0.freed);
  CHECK(f1.freed == f0.freed);
  CHECK(g_freed_in_section.load(std::memory_order_relaxed) == 0);  // relaxed: after barrier
  CHECK(book.ids_dead(1) == kObjects);
  CHECK(p2.pending == 0);
  CHECK(f2.pending == 0);
  CHECK(f2.fallback_objects >= kObjects);  // the fallback engine really used its list
}
