// SPDX-License-Identifier: MIT
// Custom deleters and bulk hooks: engine::retire, rcufree_call, config::free_bulk. Real liburcu
// readers check that nothing they can see was returned to its pool.
#include <pthread.h>
#include <rcufree/rcufree.h>
#include <sched.h>
#include <signal.h>
#include <urcu/urcu-memb.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <rcufree/rcufree.hpp>
#include <thread>
#include <vector>

#include "block.hpp"
#include "cpus.hpp"
#include "tsan_grace.hpp"

using namespace std::chrono_literals;

namespace {

// A fixed pool of objects: taken by the writer, returned by the deleter, poisoned on return.
struct pooled {
  static constexpr std::uint64_t kAlive = 0x600DF00D600DF00Dull;
  static constexpr std::uint64_t kPoison = 0xDEADBEEFDEADBEEFull;
  std::atomic<std::uint64_t> magic{kPoison};
  std::uint32_t id = 0;
  rcu_head head{};
};

class object_pool {
 public:
  explicit object_pool(std::uint32_t n) : objects_(n), taken_(n), returned_(n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      objects_[i].id = i;
      free_.push_back(&objects_[i]);
    }
  }
  pooled* take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return nullptr;
    pooled* p = free_.back();
    free_.pop_back();
    taken_[p->id].fetch_add(1, std::memory_order_relaxed);  // relaxed: counts, read after barrier()
    // relaxed: published to readers by rcu_xchg_pointer's release.
    p->magic.store(pooled::kAlive, std::memory_order_relaxed);
    return p;
  }
  void give_back(pooled* p) noexcept {
    // relaxed: a reader that could still see p would read this after the grace period: a bug.
    p->magic.store(pooled::kPoison, std::memory_order_relaxed);
    returned_[p->id].fetch_add(1, std::memory_order_relaxed);  // relaxed: read after barrier()
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(p);
  }
  // Every object taken was returned exactly as often.
  bool balanced() const {
    for (std::size_t i = 0; i < objects_.size(); ++i) {
      // relaxed: barrier() returned after every give_back, which orders them before this.
      if (taken_[i].load(std::memory_order_relaxed) != returned_[i].load(std::memory_order_relaxed))
        return false;
    }
    return true;
  }
  std::uint64_t returns() const {
    std::uint64_t n = 0;
    for (const auto& r : returned_) n += r.load(std::memory_order_relaxed);  // as balanced()
    return n;
  }

 private:
  std::vector<pooled> objects_;
  std::vector<std::atomic<std::uint32_t>> taken_, returned_;
  std::mutex mu_;
  std::vector<pooled*> free_;
};

object_pool* g_pool = nullptr;
struct to_pool {
  void operator()(pooled* p) const noexcept { g_pool->give_back(p); }
};

// Objects unlinked in advance, handed over from a signal handler that interrupts the writer.
std::vector<pooled*>* g_for_handler = nullptr;
std::atomic<std::size_t> g_handler_next{0}, g_handler_done{0};
rcufree::engine* g_handler_engine = nullptr;

void retire_from_handler(int) {
  // relaxed: one index per call; the vector was filled before the signals started.
  const std::size_t i = g_handler_next.fetch_add(1, std::memory_order_relaxed);
  if (i < g_for_handler->size()) {
    g_handler_engine->retire((*g_for_handler)[i], &pooled::head, to_pool{});
    // release: the retire happens before the test sees it counted; pairs with its acquire load.
    g_handler_done.fetch_add(1, std::memory_order_release);
  }
}

}  // namespace

TEST_CASE(
    "a pool-backed custom deleter, readers never see a returned object, every object goes "
    "back exactly once, also from a signal handler") {
  object_pool pool(40'000);
  g_pool = &pool;
  rcufree::config cfg;
  cfg.drain_interval = 2ms;
  rcufree::engine eng(cfg);
  constexpr int kSlots = 64;
  pooled* table[kSlots] = {};
  std::atomic<bool> stop{false};  // relaxed: a stop request; join() hands over the counts below
  std::atomic<std::uint64_t> poisoned_seen{0}, reads{0};  // relaxed: read after the joins
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      urcu_memb_register_thread();
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        urcu_memb_read_lock();
        for (int k = 0; k < kSlots; ++k) {
          pooled* p = rcu_dereference(table[k]);
          if (p != nullptr && p->magic.load(std::memory_order_relaxed) != pooled::kAlive) {
            poisoned_seen.fetch_add(1, std::memory_order_relaxed);
          }
          ++n;
        }
        rcufree_test::reader_section_ends();  // TSan builds: see tsan_grace.hpp
        urcu_memb_read_unlock();
      }
      reads.fetch_add(n, std::memory_order_relaxed);
      urcu_memb_unregister_thread();
    });
  }
  // Objects for the signal handler: taken from the pool, never published.
  std::vector<pooled*> for_handler;
  for (int i = 0; i < 5'000; ++i) for_handler.push_back(pool.take());
  g_for_handler = &for_handler;
  g_handler_engine = &eng;
  // relaxed: the handler is installed (sigaction) after these stores, in this same thread.
  g_handler_next.store(0, std::memory_order_relaxed);
  g_handler_done.store(0, std::memory_order_relaxed);
  struct sigaction sa {};
  sa.sa_handler = &retire_from_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  REQUIRE(sigaction(SIGUSR2, &sa, nullptr) == 0);
  // Every 200 us a signal interrupts the writer itself, often inside its own retire().
  const pthread_t writer = pthread_self();
  std::atomic<bool> signalling{true};  // relaxed: a stop request; join() ends the signaller
  std::thread signaller([&] {
    while (signalling.load(std::memory_order_relaxed)) {
      pthread_kill(writer, SIGUSR2);
      std::this_thread::sleep_for(200us);
    }
  });

  std::uint64_t replaced = 0;
  for (int i = 0; i < 300'000; ++i) {
    pooled* fresh = pool.take();
    if (fresh == nullptr) {  // all in flight: let a grace period pass
      std::this_thread::sleep_for(1ms);
      continue;
    }
    pooled* old = rcu_xchg_pointer(&table[i % kSlots], fresh);
    if (old != nullptr) eng.retire(old, &pooled::head, to_pool{});
    ++replaced;
  }
  // acquire: pairs with the handler's release count; its retire calls happened before.
  // Bounded: a retire that hung inside the handler fails the check below instead of the run.
  const auto handler_deadline = std::chrono::steady_clock::now() + 60s;
  while (g_handler_done.load(std::memory_order_acquire) < for_handler.size() &&
         std::chrono::steady_clock::now() < handler_deadline) {
    std::this_thread::sleep_for(1ms);
  }
  signalling.store(false, std::memory_order_relaxed);
  signaller.join();
  signal(SIGUSR2, SIG_IGN);
  CHECK(g_handler_done.load(std::memory_order_acquire) == for_handler.size());
  stop.store(true, std::memory_order_relaxed);
  for (auto& t : readers) t.join();
  for (auto& slot : table) {
    if (pooled* p = rcu_xchg_pointer(&slot, nullptr)) eng.retire(p, &pooled::head, to_pool{});
  }
  eng.barrier();
  INFO(replaced << " replaced, " << reads.load(std::memory_order_relaxed) << " reads");
  CHECK(poisoned_seen.load(std::memory_order_relaxed) == 0);
  CHECK(pool.balanced());
  CHECK(pool.returns() == replaced + for_handler.size());
  g_pool = nullptr;
}

namespace {
// Two bulk hooks that free alike but record their runs apart: each path must reach its own.
std::mutex g_runs_mu;
std::vector<std::size_t> g_runs[2];
template <int Hook>
struct bulk_free {
  void operator()(void* const* objects, std::size_t n) const noexcept {
    for (std::size_t i = 0; i < n; ++i) std::free(objects[i]);
    std::lock_guard<std::mutex> lock(g_runs_mu);
    g_runs[Hook].push_back(n);
  }
};
constexpr int kRetireHook = 0, kConfigHook = 1;
struct item {
  long payload[4];
  rcu_head head;
};
// The records of a page, one of them the kind marker.
constexpr std::size_t kPerPage = rcufree::detail::block::records_in(4096) - 1;
}  // namespace

TEST_CASE(
    "bulk hooks get whole pages, a bulk deleter for retire, config::free_bulk for kfree_rcu") {
  rcufree::config cfg;
  cfg.drain_interval = std::chrono::hours(1);  // blocks are freed at barrier()
  // No timed passes: each takes the slot flag to see the open block's age, and an append that
  // found the flag taken would go to the fallback list (a preempted pass under load).
  cfg.worker_tick = std::chrono::hours(1);
  cfg.free_bulk = [](void* const* objects, std::size_t n) { bulk_free<kConfigHook>{}(objects, n); };
  rcufree::engine eng(cfg);
  rcufree_test::pinned on(rcufree_test::allowed_cpus().at(0));
  eng.reserve_pages(32);
  constexpr std::size_t kObjects = 10 * kPerPage;
  for (auto& runs : g_runs) runs.clear();
  int hook = -1;
  SECTION("retire with a bulk deleter") {
    hook = kRetireHook;
    for (std::size_t i = 0; i < kObjects; ++i) {
      eng.retire(static_cast<item*>(std::malloc(sizeof(item))), &item::head,
                 bulk_free<kRetireHook>{});
    }
  }
  SECTION("kfree_rcu through config::free_bulk") {
    hook = kConfigHook;
    for (std::size_t i = 0; i < kObjects; ++i) {
      eng.kfree_rcu(static_cast<item*>(std::malloc(sizeof(item))), &item::head);
    }
  }
  const auto st = eng.snapshot();
  eng.barrier();
  REQUIRE(hook >= 0);
  CHECK(g_runs[1 - hook].empty());  // the other path's hook was never called
  std::size_t total = 0, whole_pages = 0;
  for (std::size_t n : g_runs[hook]) {
    total += n;
    if (n == kPerPage) ++whole_pages;
  }
  INFO(g_runs[hook].size() << " calls; " << st.slot_contended << " appends found the slot busy");
  CHECK(total == kObjects);
  CHECK(st.fallback_objects == 0);
  CHECK(whole_pages == 10);  // one call per page, each with the page's 506 objects
}

namespace {
std::atomic<int> g_c_calls{0};  // relaxed: read after the engine's barrier
extern "C" void c_release(void* obj) {
  g_c_calls.fetch_add(1, std::memory_order_relaxed);
  std::free(obj);
}
}  // namespace

TEST_CASE("rcufree_engine_call batches objects per C function and calls it for each") {
  rcufree_config cfg;
  rcufree_config_init(&cfg);
  cfg.drain_interval_ms = 1000 * 3600;
  cfg.worker_tick_us = 1000ULL * 1000 * 3600;  // no timed looks (see the test above)
  rcufree_engine* eng = rcufree_engine_new(&cfg);
  REQUIRE(eng != nullptr);
  g_c_calls.store(0, std::memory_order_relaxed);  // before the engine's first call
  rcufree_test::pinned on(rcufree_test::allowed_cpus().at(0));
  for (int i = 0; i < 2000; ++i) {  // within the 5 pages a quiet CPU keeps: no fallback
    auto* it = static_cast<item*>(std::malloc(sizeof(item)));
    rcufree_engine_call(eng, it, &it->head, &c_release);
  }
  char json[2048];
  rcufree_engine_stats_json(eng, json, sizeof json);
  rcufree_engine_barrier(eng);
  CHECK(g_c_calls.load(std::memory_order_relaxed) == 2000);
  const std::string s(json);
  CHECK(s.find("\"fallback_objects\":0,") != std::string::npos);
  rcufree_engine_destroy(eng);
}

// Sized deallocation: delete_rcu<T> reaches the global operator delete(void*, std::size_t) with
// sizeof(T), which jemalloc and tcmalloc serve on their fast sized paths. Replacing the global
// operator delete would clash with the sanitizers' own, so the plain builds check it.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
namespace {
struct sized_probe {
  char payload[232];
  rcu_head head{};
};
std::atomic<std::uint64_t> g_sized_deletes{0};
}  // namespace

void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t size) noexcept {
  // relaxed: read after barrier(), which orders the frees before it.
  if (size == sizeof(sized_probe)) g_sized_deletes.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}

TEST_CASE("delete_rcu frees with the sized operator delete") {
  rcufree::engine eng;
  const std::uint64_t before = g_sized_deletes.load(std::memory_order_relaxed);  // as below
  for (int i = 0; i < 1000; ++i) eng.delete_rcu(new sized_probe, &sized_probe::head);
  eng.barrier();
  CHECK(g_sized_deletes.load(std::memory_order_relaxed) - before == 1000);
}
#endif
