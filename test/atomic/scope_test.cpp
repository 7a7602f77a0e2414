// SPDX-License-Identifier: MIT
// atomic_scope: nests, is per thread, is reported by in_atomic_scope(); inside it the sleeping
// calls (head-less forms, barrier, shrink, reclaim_local) are misuse, aborting by default with a
// message that names the call, throwing rcufree::misuse_error with the throw action. The
// two-argument forms are allowed in it. test/unit/misuse_test.cpp covers delete_rcu_mightsleep
// aborting in a scope and kvfree_rcu_mightsleep throwing in one; this file covers the rest.
#include <rcufree/rcufree.h>
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

#include "atomic_support.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace atomic_test;

#ifdef RCUFREE_TEST_TSAN
// The engines' fork handlers restart their workers in the child, which TSan refuses by default.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif

namespace {

// Forks; the child runs fn with its stderr captured and exits 0 if fn returns. The parent gets
// the signal that ended the child (0 if none) and everything it wrote to stderr. Under
// ThreadSanitizer a child's abort() comes back as an exit status (its runtime takes the signal
// and exits), which is reported here as SIGABRT when the child's last words were a misuse report.
template <class Fn>
std::pair<int, std::string> in_child(Fn fn) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(out[0]);
    dup2(out[1], STDERR_FILENO);
    fn();
    _exit(0);
  }
  close(out[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (kTsan && WIFEXITED(status) && WEXITSTATUS(status) != 0 && text.rfind("rcufree: ", 0) == 0) {
    return {SIGABRT, text};
  }
  INFO("child status " << status);
  return {WIFSIGNALED(status) ? WTERMSIG(status) : 0, text};
}

// Restores the misuse action on scope exit (sanitizer builds run every case in one process).
struct misuse_action_guard {
  explicit misuse_action_guard(rcufree::misuse_action a)
      : previous(rcufree::set_misuse_action(a)) {}
  ~misuse_action_guard() { rcufree::set_misuse_action(previous); }
  rcufree::misuse_action previous;
};

bool in_scope_at_every_depth(int depth) {
  if (depth == 0) return rcufree::in_atomic_scope();
  rcufree::atomic_scope scope;
  return rcufree::in_atomic_scope() && in_scope_at_every_depth(depth - 1) &&
         rcufree::in_atomic_scope();
}

}  // namespace

TEST_CASE("An atomic_scope nests to any depth and in_atomic_scope reports it at each one") {
  CHECK_FALSE(rcufree::in_atomic_scope());
  CHECK(in_scope_at_every_depth(1));
  CHECK(in_scope_at_every_depth(200));
  CHECK_FALSE(rcufree::in_atomic_scope());  // every level unwound
  {
    rcufree::atomic_scope outer;
    CHECK(in_scope_at_every_depth(3));
    CHECK(rcufree::in_atomic_scope());  // inner scopes ending leave the outer one in force
  }
  CHECK_FALSE(rcufree::in_atomic_scope());

  // What a scope costs: printed, not asserted.
  constexpr int kIterations = 10'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    rcufree::atomic_scope scope;
    asm volatile("" : : : "memory");  // keeps the loop and the TLS updates
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() -
                                                             start)
                        .count() /
                    kIterations;
  std::printf("[atomic] atomic_scope: %.2f ns per enter and leave (an initial-exec TLS increment "
              "and decrement)\n",
              ns);
  std::fflush(stdout);
}

TEST_CASE("An atomic_scope on one thread leaves every other thread sleepable") {
  std::atomic<int> step{0};
  bool scoped_thread_saw_scope = false, scoped_thread_saw_it_end = false;
  std::thread scoped([&] {
    rcufree::atomic_scope scope;
    // release: pairs with the main thread's acquire; the scope is open.
    step.store(1, std::memory_order_release);
    // acquire: pairs with the main thread's release store of 2.
    while (step.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    scoped_thread_saw_scope = rcufree::in_atomic_scope();
  });
  // acquire: pairs with the release store of 1; the other thread's scope is open now.
  while (step.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  CHECK_FALSE(rcufree::in_atomic_scope());
  // These would abort the whole process (the default action) if the other thread's scope leaked
  // into this one.
  void* p = std::malloc(48);
  rcufree::kvfree_rcu_mightsleep(p);
  rcufree::delete_rcu_mightsleep(new int(7));
  rcufree::barrier();
  rcufree::default_engine().shrink();
  std::thread fresh([&] { scoped_thread_saw_it_end = !rcufree::in_atomic_scope(); });
  fresh.join();
  // release: pairs with the scoped thread's acquire; it may check and leave its scope.
  step.store(2, std::memory_order_release);
  scoped.join();
  CHECK(scoped_thread_saw_scope);
  CHECK(scoped_thread_saw_it_end);  // a new thread starts outside any scope
}

TEST_CASE("Inside an atomic_scope kvfree_rcu_mightsleep aborts by default naming the call") {
  auto [sig, err] = in_child([] {
    rcufree::atomic_scope scope;
    rcufree::kvfree_rcu_mightsleep(std::malloc(16));
  });
  CHECK(sig == SIGABRT);
  CHECK_THAT(err, Catch::StartsWith("rcufree: "));
  CHECK_THAT(err,
             Catch::Contains("kvfree_rcu_mightsleep() called inside an rcufree::atomic_scope"));
}

TEST_CASE("Inside an atomic_scope the C API head-less free aborts naming the call") {
  auto [sig, err] = in_child([] {
    rcufree::atomic_scope scope;
    rcufree_kvfree_rcu_mightsleep(std::malloc(16));
  });
  CHECK(sig == SIGABRT);
  CHECK_THAT(err,
             Catch::Contains("kvfree_rcu_mightsleep() called inside an rcufree::atomic_scope"));
}

TEST_CASE("Inside an atomic_scope barrier aborts by default naming barrier and the scope") {
  auto [sig, err] = in_child([] {
    rcufree::atomic_scope outer;
    rcufree::atomic_scope nested;
    rcufree::barrier();
  });
  CHECK(sig == SIGABRT);
  CHECK_THAT(err, Catch::Contains("barrier()"));
  CHECK_THAT(err, Catch::Contains("rcufree::atomic_scope"));
}

TEST_CASE("Inside an atomic_scope shrink on an own engine aborts by default naming shrink") {
  rcufree::engine eng;
  auto [sig, err] = in_child([&eng] {
    rcufree::atomic_scope scope;
    eng.shrink();
  });
  CHECK(sig == SIGABRT);
  CHECK_THAT(err, Catch::Contains("shrink()"));
  CHECK_THAT(err, Catch::Contains("rcufree::atomic_scope"));
}

TEST_CASE("Inside an atomic_scope reclaim_local aborts by default naming reclaim_local") {
  rcufree::engine eng;
  auto [sig, err] = in_child([&eng] {
    rcufree::atomic_scope scope;
    eng.reclaim_local();
  });
  CHECK(sig == SIGABRT);
  CHECK_THAT(err, Catch::Contains("reclaim_local() called inside an rcufree::atomic_scope"));
}

TEST_CASE("With the throw action every sleeping call inside an atomic_scope throws and the scope "
          "unwinds") {
  misuse_action_guard guard(rcufree::misuse_action::throw_error);
  CHECK(rcufree::set_misuse_action(rcufree::misuse_action::throw_error) ==
        rcufree::misuse_action::throw_error);  // returns the action in force
  rcufree::engine eng;
  void* raw = std::malloc(40);
  int* boxed = new int(5);

  // Calls `call` two scopes deep; returns the misuse_error's text, or what went wrong.
  auto message_of = [](auto&& call) -> std::string {
    const unsigned depth = rcufree::detail::atomic_depth;
    try {
      rcufree::atomic_scope outer;
      rcufree::atomic_scope inner;
      call();
    } catch (const rcufree::misuse_error& e) {
      return rcufree::detail::atomic_depth == depth ? e.what() : "a scope outlived the exception";
    }
    return "no exception";
  };
  rcufree::atomic_scope kept;  // a scope opened before the calls stays open through them all
  CHECK_THAT(message_of([&] { eng.kvfree_rcu_mightsleep(raw); }),
             Catch::Contains("kvfree_rcu_mightsleep()"));
  CHECK_THAT(message_of([&] { eng.delete_rcu_mightsleep(boxed); }),
             Catch::Contains("delete_rcu_mightsleep()"));
  CHECK_THAT(message_of([&] { eng.barrier(); }), Catch::Contains("barrier()"));
  CHECK_THAT(message_of([&] { eng.shrink(); }), Catch::Contains("shrink()"));
  CHECK_THAT(message_of([&] { eng.reclaim_local(); }), Catch::Contains("reclaim_local()"));
  CHECK_THAT(message_of([&] { rcufree::barrier(); }), Catch::Contains("barrier()"));
  CHECK(rcufree::in_atomic_scope());  // `kept` is still open: each throw unwound only its own
  // The objects stayed the caller's.
  std::free(raw);
  delete boxed;
}

namespace {
std::atomic<int> g_handler_saw{-1};  // 1: in a scope inside the handler, 0: not
void on_signal_with_scope(int) {
  rcufree::atomic_scope in_handler;
  // relaxed: read after raise() returned on this same thread.
  g_handler_saw.store(rcufree::in_atomic_scope() ? 1 : 0, std::memory_order_relaxed);
}
}  // namespace

TEST_CASE("An atomic_scope opened in a signal handler leaves the interrupted thread's depth as it "
          "was") {
  struct sigaction sa {};
  sa.sa_handler = &on_signal_with_scope;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(SIGUSR2, &sa, nullptr) == 0);
  raise(SIGUSR2);  // delivered to this thread before raise returns
  CHECK(g_handler_saw.load(std::memory_order_relaxed) == 1);  // relaxed: same thread
  CHECK_FALSE(rcufree::in_atomic_scope());
  {
    rcufree::atomic_scope scope;
    g_handler_saw.store(-1, std::memory_order_relaxed);  // relaxed: same thread, see above
    raise(SIGUSR2);
    CHECK(g_handler_saw.load(std::memory_order_relaxed) == 1);  // relaxed: same thread
    CHECK(rcufree::in_atomic_scope());
  }
  CHECK_FALSE(rcufree::in_atomic_scope());
  signal(SIGUSR2, SIG_DFL);
}

TEST_CASE("The two-argument forms work inside nested atomic_scopes with the default abort action") {
  rcufree::config none;
  none.cached_pages_per_cpu = 0;  // every object takes the fallback list
  rcufree::engine paged, fallback(none);
  constexpr std::uint32_t kObjects = 4000;
  death_book book(kObjects);
  using node = tracked<31, 8>;
  std::vector<void*> raws;
  {
    rcufree::atomic_scope outer;
    rcufree::atomic_scope inner;
    for (std::uint32_t i = 0; i < kObjects; ++i) {
      rcufree::engine& eng = i % 2 == 0 ? paged : fallback;
      eng.delete_rcu(new node(&book, i), &node::head);
      eng.kfree_rcu(make_raw<0>(i), &raw_object<0>::head);
      rcufree::delete_rcu(static_cast<node*>(nullptr), &node::head);  // nullptr: a no-op
    }
    CHECK(rcufree::in_atomic_scope());
  }
  paged.barrier();
  fallback.barrier();
  CHECK(book.ids_dead(1) == kObjects);
  CHECK(book.bad() == 0);
  CHECK(fallback.snapshot().fallback_objects == kObjects);  // half the calls, both kinds
  CHECK(paged.snapshot().pending == 0);
}
