// SPDX-License-Identifier: MIT
// The kernel's kfree_rcu flood test translated: 1,000,000 malloc + kfree_rcu in a tight loop on
// one thread, then the same split over every CPU, then barrier(). Asserts every object was freed
// exactly once and that cached pages stayed within CPUs x cached_pages_per_cpu; prints what the
// kernel's developers looked at: peak pages in use, page path vs fallback, grace periods, time.
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kOps = 1'000'000;

struct object64 {  // 64 bytes, like the kernel test's kmalloc(sizeof(*p))
  std::uint32_t id;
  char payload[44];
  rcu_head head;
};
static_assert(sizeof(object64) == 64);

// Each object's id indexes a counter its deleter bumps: all ones means exactly once.
std::unique_ptr<std::atomic<std::uint8_t>[]> g_freed;
struct tracked {
  explicit tracked(std::uint32_t i) : id(i) {}
  ~tracked() { g_freed[id].fetch_add(1, std::memory_order_relaxed); }  // relaxed: read after barrier
  std::uint32_t id;
  char payload[44];
  rcu_head head;
};

struct peak_sampler {  // samples the engine every 200 us while a flood runs
  explicit peak_sampler(rcufree::engine& e) : eng(e), thread([this] { run(); }) {}
  ~peak_sampler() { finish(); }
  void finish() {  // joins the sampling thread: the peaks are stable afterwards
    stop = true;
    if (thread.joinable()) thread.join();
  }
  void run() {
    while (!stop.load()) {
      const auto st = eng.snapshot();
      peak_in_use = std::max(peak_in_use, st.pages_in_use);
      peak_cached = std::max(peak_cached, st.pages_cached);
      peak_pending = std::max(peak_pending, st.pending);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  rcufree::engine& eng;
  std::atomic<bool> stop{false};
  std::uint64_t peak_in_use = 0, peak_cached = 0, peak_pending = 0;
  std::thread thread;
};

void report(const char* name, const rcufree::stats& st, const peak_sampler& peaks, double seconds) {
  const double page_path = st.queued ? 100.0 * double(st.queued - st.fallback_objects) / double(st.queued) : 0;
  std::printf(
      "%s: %zu ops in %.3f s (%.1f ns/op incl. barrier); peak pages in use %llu, peak cached %llu, "
      "peak pending %llu; page path %.2f%%, fallback %llu; grace periods %llu; page allocs %llu\n",
      name, kOps, seconds, seconds * 1e9 / double(kOps), (unsigned long long)peaks.peak_in_use,
      (unsigned long long)peaks.peak_cached, (unsigned long long)peaks.peak_pending, page_path,
      (unsigned long long)st.fallback_objects, (unsigned long long)st.grace_periods,
      (unsigned long long)st.page_allocs);
}

}  // namespace

TEST_CASE("a million malloc plus kfree_rcu on one thread are all freed and caches stay bounded") {
  rcufree::engine eng;
  const auto cpus = static_cast<std::uint64_t>(sysconf(_SC_NPROCESSORS_CONF));
  const auto start = std::chrono::steady_clock::now();
  rcufree::stats st;
  {
    peak_sampler peaks(eng);
    for (std::size_t i = 0; i < kOps; ++i) {
      auto* p = static_cast<object64*>(std::malloc(sizeof(object64)));
      p->id = static_cast<std::uint32_t>(i);
      eng.kfree_rcu(p, &object64::head);
    }
    eng.barrier();
    peaks.finish();
    st = eng.snapshot();
    report("1 thread", st, peaks, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    CHECK(peaks.peak_cached <= cpus * eng.settings().cached_pages_per_cpu);
  }
  CHECK(st.queued == kOps);
  CHECK(st.freed == kOps);
  CHECK(st.pending == 0);
}

TEST_CASE("a million delete_rcu split over every CPU free each object exactly once") {
  g_freed = std::make_unique<std::atomic<std::uint8_t>[]>(kOps);
  rcufree::engine eng;
  const auto cpus = static_cast<std::uint64_t>(sysconf(_SC_NPROCESSORS_CONF));
  const unsigned threads = std::max(2u, std::thread::hardware_concurrency());
  const auto start = std::chrono::steady_clock::now();
  rcufree::stats st;
  {
    peak_sampler peaks(eng);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (std::size_t i = t; i < kOps; i += threads) {
          eng.delete_rcu(new tracked(static_cast<std::uint32_t>(i)), &tracked::head);
        }
      });
    }
    for (auto& w : workers) w.join();
    eng.barrier();
    peaks.finish();
    st = eng.snapshot();
    report("all CPUs", st, peaks, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    CHECK(peaks.peak_cached <= cpus * eng.settings().cached_pages_per_cpu);
  }
  std::size_t not_once = 0;
  for (std::size_t i = 0; i < kOps; ++i) not_once += g_freed[i].load() != 1;
  CHECK(not_once == 0);
  CHECK(st.freed == kOps);
}
