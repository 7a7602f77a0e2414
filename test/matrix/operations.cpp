// SPDX-License-Identifier: MIT
// operations.cpp — what each cell runs against its stopped thread (matrix.hpp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cpus.hpp"
#include "matrix.hpp"
#include "threads.hpp"

namespace matrix {
namespace {

using namespace std::chrono_literals;

// barrier(), checked for exactness: everything queued before it is freed when it returns.
void barrier_checked(world& w) {
  const std::uint64_t before = w.queued_seq();
  w.eng().barrier();
  w.check_barrier(before);
}

void op_barrier(world& w, op_context&) {
  w.replace_some(50);
  barrier_checked(w);
}

// A barrier() in flight when fork() comes: its flush gives way to the fork and must keep what it
// took, and the barrier must still be exact when it returns.
void op_barrier_fork(world& w, op_context& c) {
  w.replace_some(50);
  c.late.emplace_back([&w] { barrier_checked(w); });
  std::this_thread::sleep_for(30ms);
  fork_and_check_child(w, c);
}

void op_shrink(world& w, op_context&) {
  w.shrink();
}

// reserve_pages() while the stopped thread holds what it holds: it waits for no reclaim, and
// the stopped thread's CPU gets its pages (unless a shrink in the cell started the refill
// back-off, which reserve_pages() respects). Before it took only the pool lock, a slot whose
// reclaim lock was held (a pass waiting for its grace period, a stopped reclaim_local()) was
// skipped: its pool kept 5 pages (CI saw the unit test's burst then fall back). Where the stopped
// thread is another reserve_pages() (pool_lock_held/caller), it holds the pool lock of the first
// CPU slot, 0: that CPU is skipped (after a bounded wait, said on stderr), and every other
// allowed CPU must get its pages. Where it holds the page arena's lock, no page can be had: the
// first CPU's refill waits 2 s (said on stderr), the others do not wait again.
void op_reserve_pages(world& w, op_context& c) {
  constexpr std::size_t kPages = 16;  // within cached_pages_per_cpu (128)
  w.eng().reserve_pages(kPages);
  if (w.shrinks_started() != 0 || w.stopped_at(stop_point::page_arena_locked)) return;
  const rcufree::stats st = w.eng().snapshot();
  std::vector<int> must_fill;
  if (w.reserves_started() == 0) {
    must_fill.push_back(w.cpu());
  } else {
    for (int cpu : rcufree_test::allowed_cpus()) {
      if (cpu != 0) must_fill.push_back(cpu);
    }
  }
  for (int cpu : must_fill) {
    const std::uint64_t cached = st.pages_cached_per_cpu.at(static_cast<std::size_t>(cpu));
    if (cached < kPages) {
      c.failure = "reserve_pages(" + std::to_string(kPages) + ") left " + std::to_string(cached) +
                  " pages on CPU " + std::to_string(cpu) + " (the stopped thread's is " +
                  std::to_string(w.cpu()) + ")";
      return;
    }
  }
}

// reclaim_local() on the stopped thread's CPU, with deleters that take 20 ms each.
void op_reclaim_local_slow(world& w, op_context&) {
  rcufree_test::pin_to(w.cpu());
  for (int i = 0; i < 5; ++i) w.replace_one(queue_by::two_argument, 0, on_free::sleep);
  w.eng().reclaim_local();
}

// Another producer on the stopped thread's CPU: the two-argument form never waits.
void op_produce(world& w, op_context&) {
  rcufree_test::pin_to(w.cpu());
  w.replace_some(2000, queue_by::two_argument, /*alternate_kinds=*/true);
}

// A caller on the stopped thread's CPU asking for its work to be freed soon, again and again:
// never waits (a futex wake at most).
void op_wake_reclaim(world& w, op_context&) {
  rcufree_test::pin_to(w.cpu());
  for (int i = 0; i < 100; ++i) {
    w.replace_one(queue_by::two_argument);
    w.eng().wake_reclaim_if_idle();
  }
}

void op_destroy(world& w, op_context&) {
  w.destroy_engine();
}

void op_exit(world&, op_context&) {
  std::exit(0);  // the default engine's exit drain; the cell's report runs after it
}

// Deleters that queue more objects on their own engine (legal): two barriers free both rounds.
void op_deleter_requeues(world& w, op_context&) {
  for (int i = 0; i < 20; ++i) w.replace_one(queue_by::two_argument, 0, on_free::requeue);
  const std::uint64_t before = w.queued_seq();
  w.eng().barrier();
  w.eng().barrier();
  w.check_barrier(before);
}

// Misuse that must be reported, whichever thread runs the deleter.
void op_deleter_calls_barrier(world& w, op_context&) {
  w.replace_one(queue_by::two_argument, 0, on_free::call_barrier);
  w.eng().barrier();
}
void op_deleter_destroys_engine(world& w, op_context&) {
  w.replace_one(queue_by::two_argument, 0, on_free::destroy_engine);
  w.eng().barrier();
}

// outer's deleter, run by reclaim_local() on this thread, frees head-less on inner; inner's help
// pass then runs a deleter that calls outer.barrier(): it would wait for this very thread.
void op_nested_deleter_barrier(world& w, op_context&) {
  rcufree_test::pin_to(w.cpu());
  const world::nested_engines n = w.nested();
  // inner: a closed block on this CPU whose deleters call outer.barrier().
  for (int i = 0; i < 600; ++i)
    w.replace_one(queue_by::two_argument, 0, on_free::inner_barrier, n.inner);
  // outer: a closed block on this CPU, one of whose deleters frees head-less on inner.
  w.replace_one(queue_by::two_argument, 0, on_free::outer_headless, n.outer);
  for (int i = 0; i < 600; ++i) w.replace_one(queue_by::two_argument, 0, on_free::nothing, n.outer);
  n.outer->reclaim_local();
}

// fork() while the readers stay registered, the normal shape of a liburcu program, and a child
// that never uses rcufree: it exits after a moment, or execs. liburcu's rule allows both; the
// child must start no thread of rcufree's and must not crash.
void fork_child_without_rcufree(world& w, op_context& c, bool exec) {
  (void)w;
  const pid_t pid = fork();
  if (pid == 0) {
    forget_exit_report();
    if (exec) {
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(50ms);
    const auto threads = rcufree_test::threads_named("rcufree-", /*prefix=*/true);
    if (!threads.empty()) {
      std::fprintf(stderr, "matrix: the fork child runs %zu rcufree threads\n", threads.size());
      _exit(4);
    }
    std::exit(0);  // exit handlers run: the default engine's exit drain too
  }
  wait_for_child(pid, c);
}
void op_fork_child_exits(world& w, op_context& c) {
  fork_child_without_rcufree(w, c, /*exec=*/false);
}
void op_fork_child_execs(world& w, op_context& c) {
  fork_child_without_rcufree(w, c, /*exec=*/true);
}

}  // namespace

void wait_for_child(pid_t pid, op_context& c) {
  if (pid < 0) {
    c.failure = "fork() failed";
    return;
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  pid_t got = 0;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    c.failure = "the fork child hung (killed after 20 s)";
  } else if (WIFSIGNALED(status)) {
    c.failure = "the fork child died of signal " + std::to_string(WTERMSIG(status));
  } else if (WEXITSTATUS(status) != 0) {
    c.failure = "the fork child failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
  }
}

void fork_and_check_child(world& w, op_context& c) {
  w.pause_readers();  // liburcu's rule: no registration crosses a fork whose child uses RCU
  const pid_t pid = fork();
  if (pid == 0) {
    // The child: only this thread. It queues on the inherited engine, flushes, and checks that
    // every object queued before the fork or here was freed exactly once, except those a
    // parent thread was in the middle of (counted in fork_abandoned).
    forget_exit_report();
    w.replace_some(20);
    w.replace_some(5, queue_by::head_less);
    w.eng().barrier();
    const world::ledger l = w.check();
    const rcufree::stats st = w.eng().snapshot();
    std::fprintf(
        stderr, "matrix: fork child: %llu queued, %llu unfreed, %llu abandoned, %llu double\n",
        static_cast<unsigned long long>(l.queued), static_cast<unsigned long long>(l.unfreed),
        static_cast<unsigned long long>(st.fork_abandoned),
        static_cast<unsigned long long>(l.double_frees));
    const bool ok = l.exact() && l.unfreed <= st.fork_abandoned;
    std::exit(ok ? 0 : 3);  // exit handlers run: the child's default engine drains too
  }
  w.resume_readers();
  wait_for_child(pid, c);
}

const std::vector<operation>& operations() {
  // Never destroyed: a cell may exit the process while its threads still read the table.
  static const auto& all = *new std::vector<operation>{
      {"fork", fork_and_check_child, waits::not_for_user_threads, false, false, true, nullptr},
      {"fork_child_exits", op_fork_child_exits, waits::not_for_user_threads, false, false, true,
       nullptr},
      {"fork_child_execs", op_fork_child_execs, waits::not_for_user_threads, false, false, true,
       nullptr},
      {"barrier", op_barrier, waits::may, false, false, false, nullptr},
      {"barrier_fork", op_barrier_fork, waits::not_for_user_threads, false, false, true, nullptr},
      {"shrink", op_shrink, waits::never, false, false, false, nullptr},
      {"reserve_pages", op_reserve_pages, waits::never, false, false, false, nullptr},
      {"reclaim_local_slow", op_reclaim_local_slow, waits::may, false, false, false, nullptr},
      {"produce_same_cpu", op_produce, waits::never, false, false, false, nullptr},
      {"wake_reclaim", op_wake_reclaim, waits::never, false, false, false, nullptr},
      {"destroy", op_destroy, waits::not_for_user_threads, false, true, false, nullptr},
      {"exit", op_exit, waits::not_for_user_threads, true, false, false, nullptr},
      {"deleter_requeues", op_deleter_requeues, waits::may, false, false, false, nullptr},
      {"deleter_calls_barrier", op_deleter_calls_barrier, waits::may, false, false, false,
       "barrier() called from a deleter"},
      {"deleter_destroys_engine", op_deleter_destroys_engine, waits::may, false, true, false,
       "from a deleter"},
      {"nested_deleter_barrier", op_nested_deleter_barrier, waits::may, false, false, false,
       "barrier() called from a deleter"},
  };
  return all;
}

}  // namespace matrix
