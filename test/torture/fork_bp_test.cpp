// SPDX-License-Identifier: MIT
// fork_bp_test.cpp — fork children that follow liburcu's rule with liburcu-bp and use rcufree.
//
// liburcu-bp is the flavor whose readers may stay registered across a fork not followed by exec:
// urcu_bp_before_fork(), urcu_bp_after_fork_parent() and urcu_bp_after_fork_child() around it
// repair its registry in the child. A parent with bp readers idle and inside read-side critical
// sections forks children that queue on an engine of the bp flavor, call barrier() and exit:
// each child frees what it queued and what it inherited, and the parent loses nothing. (Its own
// file: liburcu-bp's header maps the short rcu_* names to its flavor.)
#include <sys/wait.h>
#include <unistd.h>
#include <urcu/urcu-bp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>
#include <vector>

#include "counted.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;

TEST_CASE(
    "fork children that follow liburcu-bp's fork rule queue, barrier() and exit while the "
    "parent's bp readers stay registered",
    "[fork]") {
#if defined(__SANITIZE_THREAD__)
  WARN("not run under ThreadSanitizer, which cannot follow threads started in a fork child");
  return;
#endif
  rcufree::config c;
  c.flavor = &urcu_bp_flavor;
  auto eng = std::make_unique<rcufree::engine>(c);
  std::atomic<bool> stop{false};  // seq_cst: the test's own steps
  std::atomic<int> ready{0};
  std::vector<std::thread> readers;
  readers.emplace_back([&] {  // registered (by its first section), then idle
    urcu_bp_read_lock();
    urcu_bp_read_unlock();
    ready.fetch_add(1);
    while (!stop.load()) std::this_thread::sleep_for(1ms);
  });
  readers.emplace_back([&] {  // inside and outside sections without pause
    ready.fetch_add(1);
    while (!stop.load()) {
      urcu_bp_read_lock();
      for (int i = 0; i < 1000; ++i) asm volatile("" ::: "memory");
      urcu_bp_read_unlock();
    }
  });
  while (ready.load() != 2) std::this_thread::yield();

  std::atomic<std::uint64_t> deaths{0};
  constexpr int kChildren = 100, kPerFork = 100, kInChild = 50;
  std::uint64_t queued = 0;
  int failed = 0;
  std::string last;
  for (int i = 0; i < kChildren; ++i) {
    for (int k = 0; k < kPerFork; ++k) eng->delete_rcu(new counted(&deaths), &counted::head);
    queued += kPerFork;
    urcu_bp_before_fork();
    const pid_t pid = fork();
    if (pid == 0) {
      urcu_bp_after_fork_child();
      std::atomic<std::uint64_t> own{0};
      for (int k = 0; k < kInChild; ++k) eng->delete_rcu(new counted(&own), &counted::head);
      eng->barrier();
      const auto st = eng->snapshot();
      // Everything queued here, and every inherited object but those a parent thread was in the
      // middle of (counted as abandoned), is freed.
      const bool ok =
          own.load() == kInChild && st.pending == 0 && deaths.load() + st.fork_abandoned == queued;
      std::exit(ok ? 0 : 3);  // exit handlers run: the default engine's drain too
    }
    urcu_bp_after_fork_parent();
    REQUIRE(pid > 0);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    pid_t got = 0;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (got == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++failed;
      last = "hung";
      break;  // one hang is the verdict: more would outlast ctest's timeout
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
      last = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                 : "exit " + std::to_string(WEXITSTATUS(status));
    }
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  eng->barrier();
  INFO(failed << " of " << kChildren << " children failed; the last: " << last);
  CHECK(failed == 0);
  CHECK(deaths.load() == queued);  // the parent loses nothing
  CHECK(eng->snapshot().fork_abandoned == 0);
}
