// SPDX-License-Identifier: MIT
// fork_test.cpp — fork() while other threads are queueing.
//
// The parent must lose nothing. The child inherits the engines' memory but none of their worker
// threads, possibly a CPU slot whose flag a parent thread held at the instant of fork, and
// liburcu's reader registry with threads that do not exist in it. The contract wants the child to
// be able to use the engines, as liburcu's call_rcu workers are recreated in a child
// (call_rcu_after_fork_child). The child reports its progress through a pipe one stage at a time,
// so a hang names the stage it hung in; it is killed after a timeout.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "torture_support.hpp"

using namespace std::chrono_literals;
using torture::entry;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer kills a child that starts a thread after a multi-threaded fork, because its
// runtime cannot promise that no other thread held one of its internal locks at the fork. The
// engine's fork handler restarts each engine's worker in the child, which is the behaviour under
// test, so this binary opts out (TSan takes its own locks around fork, which makes the child safe
// enough for a test). TSAN_OPTIONS from the environment still override this default.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif

namespace {

void queue_all_kinds(torture::tracker& tr, rcufree::engine& eng, int count, unsigned seed) {
  for (int i = 0; i < count; ++i) {
    for (int e = 0; e < torture::kEntries; ++e) {
      tr.retire(tr.make(static_cast<entry>(e), eng, seed + unsigned(i)), eng, unsigned(i) % 2);
    }
  }
}

// How the child ended; `err` holds the letters it wrote to the stage pipe, one per stage reached.
using child_result = torture::child_outcome;

// Forks while two threads queue on `eng` and the default engine; runs child_body in the child
// (which writes a letter to `fd` per stage and _exits), waits up to `timeout` for it.
template <class Body>
child_result fork_while_queueing(torture::tracker& tr, rcufree::engine& eng, Body child_body,
                                 std::chrono::seconds timeout) {
  std::atomic<bool> stop{false}, hold{false};
  std::atomic<int> held{0};
  std::vector<std::thread> queuers;
  for (unsigned t = 0; t < 2; ++t) {
    queuers.emplace_back([&, t] {
      // relaxed: a stop flag.
      for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        queue_all_kinds(tr, eng, 4, t * 1'000'000 + i);
        // acquire/release: a handshake with the forking thread (below); no data rides on it.
        if (hold.load(std::memory_order_acquire)) {
          held.fetch_add(1, std::memory_order_acq_rel);
          while (hold.load(std::memory_order_acquire)) std::this_thread::yield();
        }
      }
    });
  }
  std::this_thread::sleep_for(50ms);  // let them get going: fork lands mid-stream
  int fds[2];
  REQUIRE(pipe(fds) == 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers' allocators (GCC 12) take no lock around fork(): a child forked while another
  // thread is inside malloc can deadlock in its first malloc. So under the sanitizers the queuers
  // pause between two batches (their blocks are still open, their objects still pending) and fork
  // happens then; plain builds fork truly mid-call (glibc's malloc is fork-safe).
  hold.store(true, std::memory_order_release);
  // acquire: pairs with the queuers' acq_rel increment: both are parked between batches.
  while (held.load(std::memory_order_acquire) < 2) std::this_thread::yield();
#endif
  const pid_t pid = fork();
  hold.store(false, std::memory_order_release);  // the parent carries on (no-op in plain builds)
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_body(fds[1]);
    _exit(0);  // never run the parent's exit handlers (the default engine's drain) in the child
  }
  close(fds[1]);
  const child_result r = torture::collect(pid, fds[0], timeout);
  std::this_thread::sleep_for(50ms);            // the parent keeps queueing after the fork
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  for (auto& t : queuers) t.join();
  return r;
}

void stage(int fd, char c) {
  if (write(fd, &c, 1) != 1) _exit(9);
}

}  // namespace

TEST_CASE("fork while other threads queue loses nothing in the parent", "[fork]") {
  torture::tracker tr;
  rcufree::engine eng;
  for (int round = 0; round < 3; ++round) {
    const child_result r = fork_while_queueing(
        tr, eng, [](int fd) { stage(fd, 'a'); }, 10s);
    CHECK(r.err == "a");
  }
  eng.barrier();
  rcufree::barrier();
  INFO(tr.report() << tr.first_failure());
  CHECK(tr.created_total() > 0);
  CHECK(tr.reclaimed_total() == tr.created_total());
  CHECK(tr.early_frees() == 0);
  CHECK(tr.ungraced_frees() == 0);
}

namespace {

// Nodes of `tr` the child can account for. Under ThreadSanitizer the runtime ignores its
// interceptors in the child of a multi-threaded fork, so the free hook never sees std::free
// there: only the delete kinds (counted by ~node) are checked in that build.
std::uint64_t countable(const torture::tracker& tr, bool freed, bool default_engine_too) {
#if defined(__SANITIZE_THREAD__)
  constexpr bool kFreeHookWorks = false;
#else
  constexpr bool kFreeHookWorks = true;
#endif
  std::uint64_t n = 0;
  for (int i = 0; i < torture::kEntries; ++i) {
    const auto e = static_cast<entry>(i);
    if (torture::uses_default_engine(e) && !default_engine_too) continue;
    if (!torture::uses_delete(e) && !kFreeHookWorks) continue;
    n += freed ? tr.reclaimed(e) : tr.created(e);
  }
  return n;
}

// Writes why the child gives up to the pipe, then exits with `code`.
[[noreturn]] void child_fails(int fd, int code, const char* what, const torture::tracker& tr,
                              bool default_engine_too) {
  char why[200];
  const int len = std::snprintf(why, sizeof why, " [%s: freed %llu of %llu]", what,
                                (unsigned long long)countable(tr, true, default_engine_too),
                                (unsigned long long)countable(tr, false, default_engine_too));
  if (write(fd, why, static_cast<std::size_t>(len)) < 0) _exit(8);
  _exit(code);
}

}  // namespace

// Stages: a = child started; b = queued on the inherited engine and the default engine;
// c = the inherited engine's barrier returned with everything freed; d = likewise the default
// engine's; e = a new engine built in the child freed its objects too.
TEST_CASE("after fork the child can queue on the engines and its frees run", "[fork]") {
  torture::tracker tr;
  rcufree::engine eng;
  const child_result r = fork_while_queueing(
      tr, eng,
      [&eng](int fd) {
        stage(fd, 'a');
        torture::tracker mine;  // counts the child's own nodes only
        queue_all_kinds(mine, eng, 50, 1);
        stage(fd, 'b');
        eng.barrier();
        if (countable(mine, true, false) != countable(mine, false, false)) {
          child_fails(fd, 3, "inherited engine", mine, false);
        }
        stage(fd, 'c');
        rcufree::barrier();
        if (countable(mine, true, true) != countable(mine, false, true)) {
          child_fails(fd, 4, "default engine", mine, true);
        }
        stage(fd, 'd');
#if defined(__SANITIZE_THREAD__)
        // A second new thread in this child trips TSan's own registry ("dup thread with used id":
        // the parent's vanished threads are still registered), so TSan builds stop here.
        _exit(0);
#endif
        {
          rcufree::engine fresh;
          torture::tracker again;
          queue_all_kinds(again, fresh, 50, 2);
          fresh.barrier();
          rcufree::barrier();
          if (countable(again, true, true) != countable(again, false, true)) {
            child_fails(fd, 5, "engine built in the child", again, true);
          }
        }
        stage(fd, 'e');
      },
      15s);
  std::printf("[fork child] stages reached: '%s' of 'abcde'%s, status %s %d\n", r.err.c_str(),
              r.timed_out ? " (hung: killed after 15 s)" : "", r.signal != 0 ? "signal" : "exit",
              r.signal != 0 ? r.signal : r.exit_code);
  std::fflush(stdout);
  CHECK_FALSE(r.timed_out);
#if defined(__SANITIZE_THREAD__)
  CHECK(r.err == "abcd");
#else
  CHECK(r.err == "abcde");
#endif
  CHECK((r.signal == 0 && r.exit_code == 0));
  // Whatever the child did, the parent lost nothing.
  eng.barrier();
  rcufree::barrier();
  CHECK(tr.reclaimed_total() == tr.created_total());
}
