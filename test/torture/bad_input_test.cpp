// SPDX-License-Identifier: MIT
// bad_input_test.cpp — nullptr everywhere, absurd configs, and misuse the engine can see
// (CONTRACT promise 8). test/unit/config_test.cpp already checks each field's bounds through the
// C and C++ APIs, page sizes 0 and 3000, a tick longer than a short drain interval and an
// allocate_page without release_page; this file covers the rest and checks that a rejected config
// starts nothing.
#include <dirent.h>
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <limits>

#include "child_process.hpp"
#include "torture_support.hpp"

using namespace std::chrono_literals;

namespace {

struct plain {
  long payload[4];
  rcu_head head;
};

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
  }
  return n;
}

// The config is rejected with std::invalid_argument naming `field`; the page allocator is never
// called and no thread is started.
void check_rejected(rcufree::config cfg, const char* field) {
  std::atomic<int> allocations{0};
  cfg.allocate_page = [&](std::size_t) -> void* {
    allocations.fetch_add(1, std::memory_order_relaxed);  // relaxed: read on this thread
    return nullptr;
  };
  cfg.release_page = [](void*, std::size_t) {};
  const std::size_t threads_before = thread_count();
  try {
    rcufree::engine eng(std::move(cfg));
    FAIL("engine accepted a config with a bad " << field);
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(std::string("rcufree::config::") + field + ":"));
  }
  CHECK(allocations.load() == 0);  // seq_cst: same thread as the only possible caller
  CHECK(thread_count() == threads_before);
}

}  // namespace

TEST_CASE("nullptr is a no-op through every entry point of the C and C++ APIs", "[bad_input]") {
  rcufree::engine eng;
  const auto before = rcufree::default_engine().snapshot().queued;
  plain* none = nullptr;
  rcufree::kfree_rcu(none, &plain::head);
  rcufree::delete_rcu(none, &plain::head);
  rcufree::kvfree_rcu_mightsleep(nullptr);
  rcufree::delete_rcu_mightsleep(none);
  rcufree_kfree_rcu(nullptr, nullptr);
  rcufree_kvfree_rcu_mightsleep(nullptr);
  {
    rcufree::atomic_scope scope;  // the two-argument forms with nullptr, in an atomic context
    eng.kfree_rcu(none, &plain::head);
    eng.delete_rcu(none, &plain::head);
    rcufree_kfree_rcu(nullptr, nullptr);
  }
  urcu_memb_register_thread();
  urcu_memb_read_lock();  // and inside a read-side critical section
  eng.kfree_rcu(none, &plain::head);
  rcufree::delete_rcu(none, &plain::head);
  urcu_memb_read_unlock();
  urcu_memb_unregister_thread();
  rcufree_stats_json(nullptr, 64);  // nowhere to write: nothing written
  char buf[8] = "xxxxxxx";
  rcufree_stats_json(buf, 0);  // zero length: buf untouched
  CHECK(std::strcmp(buf, "xxxxxxx") == 0);
  rcufree_stats_json(buf, 1);  // room for the terminator only
  CHECK(buf[0] == '\0');
  rcufree_stats_json(buf, sizeof buf);  // truncated, still terminated
  CHECK(std::strlen(buf) == sizeof buf - 1);
  eng.barrier();
  rcufree_barrier();
  CHECK(eng.snapshot().queued == 0);
  CHECK(rcufree::default_engine().snapshot().queued == before);
}

TEST_CASE("page sizes smaller than a block header or absurdly large are rejected naming page_size",
          "[bad_input]") {
  for (std::size_t bad :
       {std::size_t{1}, std::size_t{2}, std::size_t{32}, std::size_t{64}, std::size_t{4097},
        std::size_t{1} << 25, std::size_t{1} << 63, std::numeric_limits<std::size_t>::max()}) {
    INFO("page_size = " << bad);
    rcufree::config cfg;
    cfg.page_size = bad;
    check_rejected(cfg, "page_size");
  }
}

TEST_CASE("negative or huge intervals and zero object sizes are rejected naming the field",
          "[bad_input]") {
  rcufree::config cfg;
  cfg.drain_interval = -5ms;
  check_rejected(cfg, "drain_interval");
  cfg = {};
  cfg.drain_interval = std::chrono::hours(25);
  check_rejected(cfg, "drain_interval");
  cfg = {};
  cfg.worker_tick = -1us;
  check_rejected(cfg, "worker_tick");
  cfg = {};
  cfg.assumed_object_bytes = 0;
  check_rejected(cfg, "assumed_object_bytes");
  cfg = {};
  cfg.page_size = 0;  // the first bad field is named even when several are bad
  cfg.drain_interval = 0ms;
  check_rejected(cfg, "page_size");
}

TEST_CASE("a release_page without allocate_page is rejected naming allocate_page", "[bad_input]") {
  rcufree::config cfg;
  cfg.release_page = [](void* p, std::size_t) { std::free(p); };
  try {
    rcufree::engine eng(cfg);
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("rcufree::config::allocate_page:"));
  }
}

TEST_CASE("the smallest valid page size and an empty cache work end to end", "[bad_input]") {
  torture::tracker tr;
  rcufree::config cfg;
  cfg.page_size = 256;
  cfg.cached_pages_per_cpu = 0;
  cfg.drain_interval = 1ms;
  cfg.worker_tick = 1ms;
  rcufree::engine eng(cfg);
  for (int i = 0; i < 3000; ++i) {
    tr.retire(tr.make(static_cast<torture::entry>(i % torture::kEntries), eng, unsigned(i)), eng,
              unsigned(i));
  }
  eng.barrier();
  rcufree::barrier();
  CHECK(tr.reclaimed_total() == tr.created_total());
  CHECK(tr.early_frees() + tr.ungraced_frees() == 0);
}

// Checked by the C API before anything is queued, whichever path the object would take.
TEST_CASE("rcufree_kfree_rcu with a head before the object aborts with a clear message",
          "[bad_input]") {
  const auto out = torture::run_child({TORTURE_CHILD, "head-before-object"});
  INFO(out.err);
  CHECK(out.aborted());
  CHECK_THAT(out.err,
             Catch::StartsWith("rcufree: rcufree_kfree_rcu: head lies 64 bytes before obj"));
}

// Debug builds keep a registry of queued objects; the child's second kfree_rcu of one object must
// abort with rcufree's sentence, before glibc (or ASan) could see a double free.
TEST_CASE("an object queued twice is reported by debug builds before it is freed twice",
          "[bad_input]") {
  if (!RCUFREE_TEST_DEBUG) return;
  const auto out = torture::run_child({TORTURE_CHILD, "double-queue"});
  INFO(out.err);
  CHECK(out.aborted());
  CHECK_THAT(out.err, Catch::Contains("rcufree: ") && Catch::Contains("queued for freeing twice"));
}

// The debug check reads the destroyed engine's core, so it works while that memory is not reused;
// under a sanitizer the read itself is reported as a heap-use-after-free, which is just as clear.
TEST_CASE("an engine used after its destructor ran is reported by debug builds or the sanitizer",
          "[bad_input]") {
  if (!RCUFREE_TEST_DEBUG) return;
  const auto out = torture::run_child({TORTURE_CHILD, "use-after-destroy"});
  INFO(out.err);
  CHECK(out.aborted());
  CHECK_THAT(out.err, (Catch::Contains("rcufree: ") && Catch::Contains("destroyed")) ||
                          Catch::Contains("heap-use-after-free"));
}
