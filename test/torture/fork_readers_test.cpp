// SPDX-License-Identifier: MIT
// fork_readers_test.cpp — fork children of a liburcu program whose readers stay registered.
//
// liburcu's rule for a fork not followed by exec: every registration released before it, except
// with liburcu-bp, whose after-fork hooks repair its registry (fork_bp_test.cpp). A parent with
// registered readers -- the normal shape of a liburcu program -- may still fork children that
// exit or exec at once. rcufree must not make those crash or hang: in a fork child it starts no
// thread and runs no grace period until the child itself calls a sleepable function on it.
// Before that rule, every child here died of SIGSEGV: the restarted supervisor's thread reused a
// vanished reader's stack and thread-local storage, then walked liburcu's registry through it.
#include <sys/wait.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "fork_child.hpp"
#include "threads.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;
using rcufree_test::in_child;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;  // cannot follow a fork child's threads ("dup thread")
#else
constexpr bool kTsan = false;
#endif

// Two registered urcu-memb readers for the test's lifetime: one that only stays registered, one
// that enters and leaves read-side critical sections without pause (a fork often catches it
// inside one).
class registered_readers {
 public:
  registered_readers() {
    threads_.emplace_back([this] {
      urcu_memb_register_thread();
      ready_.fetch_add(1);
      while (!stop_.load()) std::this_thread::sleep_for(1ms);
      urcu_memb_unregister_thread();
    });
    threads_.emplace_back([this] {
      urcu_memb_register_thread();
      ready_.fetch_add(1);
      while (!stop_.load()) {
        urcu_memb_read_lock();
        for (int i = 0; i < 1000; ++i) asm volatile("" ::: "memory");
        urcu_memb_read_unlock();
      }
      urcu_memb_unregister_thread();
    });
    while (ready_.load() != 2) std::this_thread::yield();
  }
  ~registered_readers() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};  // seq_cst: the test's own steps
  std::atomic<int> ready_{0};
  std::vector<std::thread> threads_;
};

struct node {
  long payload[6];
  rcu_head head;
};

}  // namespace

TEST_CASE(
    "fork children that exit or exec while the parent's liburcu readers stay registered neither "
    "crash nor hang, and start no rcufree thread",
    "[fork]") {
  if (kTsan) {
    WARN("not run under ThreadSanitizer, which cannot follow threads started in a fork child");
    return;
  }
  std::atomic<std::uint64_t> deaths{0};
  auto eng = std::make_unique<rcufree::engine>();
  const registered_readers readers;
  constexpr int kChildren = 120;
  std::uint64_t queued = 0;
  int failed = 0;
  std::string last_err;
  for (int i = 0; i < kChildren; ++i) {
    // Work in flight at every fork, on this engine and on the default one: an engine that ran a
    // grace period in the child would walk the readers' records there.
    for (int k = 0; k < 200; ++k) eng->delete_rcu(new counted(&deaths), &counted::head);
    queued += 200;
    for (int k = 0; k < 50; ++k) {
      rcufree::kfree_rcu(static_cast<node*>(std::malloc(sizeof(node))), &node::head);
    }
    const bool exec = i % 2 == 1;
    const auto child = in_child(
        [exec] {
          if (exec) {
            execl("/bin/true", "true", static_cast<char*>(nullptr));
            return 127;
          }
          std::this_thread::sleep_for(2ms);  // long enough for a thread to have started
          return rcufree_test::threads_named("rcufree-", /*prefix=*/true).empty() ? 0 : 4;
        },
        10s);
    if (child.timed_out || child.signal != 0 || child.exit_code != 0) {
      ++failed;
      last_err = "exit " + std::to_string(child.exit_code) + ", signal " +
                 std::to_string(child.signal) + (child.timed_out ? ", hung" : "") + ": " +
                 child.err;
      if (child.timed_out) break;  // one hang is the verdict: more would outlast ctest's timeout
    }
  }
  eng->barrier();
  INFO(failed << " of " << kChildren << " children failed; the last: " << last_err);
  CHECK(failed == 0);
  CHECK(deaths.load() == queued);  // the parent loses nothing
  CHECK(eng->snapshot().fork_abandoned == 0);
}

TEST_CASE(
    "a fork child frees what it inherited without a grace period when the forking thread was "
    "outside any read-side critical section",
    "[fork]") {
  if (kTsan) {
    WARN("not run under ThreadSanitizer, which cannot follow threads started in a fork child");
    return;
  }
  rcufree::config c;
  c.drain_interval = std::chrono::hours(1);  // nothing is freed unless asked
  c.worker_tick = std::chrono::hours(1);
  c.cached_pages_per_cpu = 1;  // blocks and, once the page is used, the fallback list
  auto eng = std::make_unique<rcufree::engine>(c);
  std::atomic<std::uint64_t> deaths{0};
  constexpr int kInherited = 1200;
  for (int k = 0; k < kInherited; ++k) eng->delete_rcu(new counted(&deaths), &counted::head);
  REQUIRE(eng->snapshot().fallback_objects > 0);  // both paths are inherited
  const auto child = in_child(
      [&] {
        const std::uint64_t before = eng->snapshot().grace_periods;
        eng->barrier();
        const auto st = eng->snapshot();
        std::fprintf(stderr, "child: %llu freed, %llu grace periods run\n",
                     static_cast<unsigned long long>(deaths.load()),
                     static_cast<unsigned long long>(st.grace_periods - before));
        if (deaths.load() != kInherited) return 2;
        return st.grace_periods == before ? 0 : 3;  // no grace period was needed
      },
      20s);
  INFO("child stderr: " << child.err);
  CHECK_FALSE(child.timed_out);
  CHECK(child.exit_code == 0);
  eng->barrier();  // the parent frees its own copies, after a grace period
  CHECK(deaths.load() == kInherited);
}
