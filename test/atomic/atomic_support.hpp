// SPDX-License-Identifier: MIT
// atomic_support.hpp — what the atomic-context tests share: sanitizer detection, engine configs
// that stall or slow the worker, objects that record their own death, and a pool that hands out
// objects allocated before a measured window.
#pragma once

#include <rcufree/rcufree.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define RCUFREE_TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define RCUFREE_TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCUFREE_TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define RCUFREE_TEST_TSAN 1
#endif
#endif

namespace atomic_test {

#ifdef RCUFREE_TEST_TSAN
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif
#ifdef RCUFREE_TEST_ASAN
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

// A worker that sleeps for an hour between passes. The two-argument form never wakes it (that
// would be a system call); only barrier(), shrink() and the engine's destructor do.
inline rcufree::config stalled_worker(rcufree::config c = {}) {
  c.drain_interval = std::chrono::hours(1);
  c.worker_tick = std::chrono::hours(1);
  return c;
}

// Small pages (27 records in 256 bytes) so that a few hundred thousand calls cross thousands of
// page boundaries.
inline rcufree::config small_pages(rcufree::config c, std::size_t cached_pages) {
  c.page_size = 256;
  c.cached_pages_per_cpu = cached_pages;
  return c;
}

// A page allocator that always fails: every two-argument call then takes the fallback list.
inline rcufree::config failing_page_allocator(rcufree::config c = {}) {
  c.allocate_page = [](std::size_t) -> void* { return nullptr; };
  c.release_page = [](void* p, std::size_t) { std::free(p); };
  return c;
}

// One death counter per object id. Read after barrier(), which happens after every free.
class death_book {
 public:
  explicit death_book(std::size_t n) : counts_(new std::atomic<std::uint32_t>[n]()), n_(n) {}

  void record(std::uint32_t id) noexcept {
    // relaxed: read only after barrier(), whose completion happens after every free it waited for.
    if (id < n_) counts_[id].fetch_add(1, std::memory_order_relaxed);
  }
  void record_bad() noexcept {
    // relaxed: read after barrier(), as above.
    bad_.fetch_add(1, std::memory_order_relaxed);
  }
  std::size_t size() const noexcept { return n_; }
  // How many ids died exactly `times` times.
  std::size_t ids_dead(std::uint32_t times) const noexcept {
    std::size_t k = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      // relaxed: see record().
      if (counts_[i].load(std::memory_order_relaxed) == times) ++k;
    }
    return k;
  }
  std::size_t ids_dead_more_than_once() const noexcept {
    std::size_t k = 0;
    for (std::size_t i = 0; i < n_; ++i) {
      // relaxed: see record().
      if (counts_[i].load(std::memory_order_relaxed) > 1) ++k;
    }
    return k;
  }
  std::uint64_t total() const noexcept {
    std::uint64_t t = 0;
    // relaxed: see record().
    for (std::size_t i = 0; i < n_; ++i) t += counts_[i].load(std::memory_order_relaxed);
    return t;
  }
  std::uint64_t bad() const noexcept {
    // relaxed: see record_bad().
    return bad_.load(std::memory_order_relaxed);
  }

 private:
  std::unique_ptr<std::atomic<std::uint32_t>[]> counts_;
  std::size_t n_;
  std::atomic<std::uint64_t> bad_{0};
};

inline constexpr std::uint64_t kAliveMagic = 0xA11CEA11CEA11CE5ull;
inline constexpr std::uint64_t kDeadMagic = 0xDEADDEADDEADDEADull;

// A delete_rcu object: its destructor records its id in a death_book and checks that it was
// alive (a second destruction, or a destruction of garbage, is recorded as bad). Tag makes
// distinct types, hence distinct reclaim kinds and fallback-registry entries; Pad moves the head.
template <int Tag, int Pad = 0>
struct tracked {
  tracked(death_book* b, std::uint32_t i) : book(b), id(i) {}
  ~tracked() {
    if (magic != kAliveMagic) book->record_bad();
    magic = kDeadMagic;
    book->record(id);
  }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;

  std::uint64_t magic = kAliveMagic;
  death_book* book;
  std::uint32_t id;
  char pad[Pad + 4] = {};
  rcu_head head{};
};

// A kfree_rcu object (malloc'd, std::free'd). Its magic sits at offset 0, which glibc's free
// overwrites with its own list link, so a chunk reused for something else never looks alive.
template <int Pad = 0>
struct raw_object {
  std::uint64_t magic;
  std::uint32_t id;
  char pad[Pad + 4];
  rcu_head head;
};

template <int Pad = 0>
raw_object<Pad>* make_raw(std::uint32_t id) {
  auto* p = static_cast<raw_object<Pad>*>(std::malloc(sizeof(raw_object<Pad>)));
  if (p == nullptr) throw std::bad_alloc();
  p->magic = kAliveMagic;
  p->id = id;
  return p;
}

// Turns a hang into a failure: aborts the process with a message when `progress` has not moved
// for `limit` (a caller that waits for someone would otherwise hang the test until ctest's
// timeout).
class watchdog {
 public:
  watchdog(const std::atomic<std::uint64_t>& progress, std::chrono::seconds limit, const char* what)
      : thread_([&progress, limit, what, this] {
          // relaxed (all loads): progress is a heartbeat; stop_ only ends the watch.
          std::uint64_t last = progress.load(std::memory_order_relaxed);
          auto since = std::chrono::steady_clock::now();
          while (!stop_.load(std::memory_order_acquire)) {  // pairs with the release in ~watchdog
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            const std::uint64_t now = progress.load(std::memory_order_relaxed);  // heartbeat
            if (now != last) {
              last = now;
              since = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - since > limit) {
              std::fprintf(stderr, "watchdog: no progress for %lld s: %s\n",
                           static_cast<long long>(limit.count()), what);
              std::fflush(stderr);
              std::abort();
            }
          }
        }) {}
  ~watchdog() {
    stop_.store(true, std::memory_order_release);  // pairs with the acquire in the watch loop
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace atomic_test
