// SPDX-License-Identifier: MIT
// semantics_test.cpp — liburcu's call_rcu semantics through <rcufree/urcu.h>, on one flavor
// (test/dropin/CMakeLists.txt builds it once per flavor: SEM_FLAVOR_MEMB, _MB, _SIGNAL, _QSBR,
// _BP). Each case is written from liburcu's documented behaviour (doc/rcu-api.md, call-rcu.h) and
// runs on real grace periods of the flavor.
//
// QSBR note: a registered QSBR thread is inside a read-side critical section whenever it is
// online, so the test thread registers only around the sections that need it and waits offline.
#if defined(SEM_FLAVOR_MEMB)
#include <urcu.h>
#define FLAVOR_ID RCUFREE_URCU_MEMB
#elif defined(SEM_FLAVOR_MB)
#define RCU_MB
#include <urcu.h>
#define FLAVOR_ID RCUFREE_URCU_MB
#elif defined(SEM_FLAVOR_SIGNAL)
#define RCU_SIGNAL
#include <urcu.h>
#define FLAVOR_ID RCUFREE_URCU_SIGNAL
#elif defined(SEM_FLAVOR_QSBR)
#include <urcu-qsbr.h>
#define FLAVOR_ID RCUFREE_URCU_QSBR
#elif defined(SEM_FLAVOR_BP)
#include <urcu-bp.h>
#define FLAVOR_ID RCUFREE_URCU_BP
#else
#error "define SEM_FLAVOR_MEMB, _MB, _SIGNAL, _QSBR or _BP"
#endif
#include <rcufree/urcu.h>
//
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cpus.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Polls `done` every millisecond for up to `limit`; true once it holds.
template <class Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit = 10s) {
  const auto end = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The calling thread as a registered reader while in scope (bp registers by itself).
struct registered {
  registered() { rcu_register_thread(); }
  ~registered() { rcu_unregister_thread(); }
};

// A count of callbacks run, one head each.
struct counted {
  rcu_head head;
  std::atomic<int>* runs;
};
void count_run(rcu_head* head) {
  auto* c = reinterpret_cast<counted*>(head);
  c->runs->fetch_add(1, std::memory_order_relaxed);
  delete c;
}

std::uint64_t engine_counter(const char* key) {
  char json[2048];
  rcufree_urcu_stats_json(FLAVOR_ID, json, sizeof json);
  const std::string text(json), k = std::string("\"") + key + "\":";
  const auto at = text.find(k);
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + k.size()));
}

// --- a callback may take rcu_read_lock(): its thread is a registered reader -------------------

std::atomic<int> g_reader_stage{0};  // 1: inside its read-side section; 2: left it
void reading_callback(rcu_head* head) {
  rcu_read_lock();
  g_reader_stage.store(1);
  std::this_thread::sleep_for(300ms);  // a long read-side section, that grace periods wait for
  g_reader_stage.store(2);
  rcu_read_unlock();
  delete reinterpret_cast<counted*>(head);
}

TEST_CASE(
    "a callback's rcu_read_lock section holds up synchronize_rcu: callback threads are readers") {
  g_reader_stage = 0;
  call_rcu(&(new counted{})->head, reading_callback);
  REQUIRE(wait_for([] { return g_reader_stage.load() >= 1; }));
  // The callback is inside its section: a grace period that starts now must wait for it (under
  // QSBR, for the callback thread's next quiescent state, after its run of callbacks).
  synchronize_rcu();
  CHECK(g_reader_stage.load() == 2);
  rcu_barrier();
}

TEST_CASE("callback threads hold up no grace period between runs of callbacks") {
  std::atomic<int> runs{0};
  for (int i = 0; i < 100; ++i) call_rcu(&(new counted{{}, &runs})->head, count_run);
  rcu_barrier();
  REQUIRE(runs.load() == 100);
  // A thread left online (QSBR) or registered inside a section would stall these for ever.
  const auto start = clock_type::now();
  for (int i = 0; i < 20; ++i) synchronize_rcu();
  CHECK(clock_type::now() - start < 5s);
}

// --- a callback may call call_rcu() again ----------------------------------------------------

struct chained {
  rcu_head head;
  int left;
  std::atomic<int>* runs;
};
void chain_step(rcu_head* head) {
  auto* c = reinterpret_cast<chained*>(head);
  c->runs->fetch_add(1);
  if (c->left > 0) call_rcu(&(new chained{{}, c->left - 1, c->runs})->head, chain_step);
  delete c;
}

TEST_CASE("a callback may call call_rcu again: a chain of 50 runs to its end") {
  std::atomic<int> runs{0};
  call_rcu(&(new chained{{}, 49, &runs})->head, chain_step);
  REQUIRE(wait_for([&] { return runs.load() == 50; }, 30s));
  rcu_barrier();
  CHECK(runs.load() == 50);
}

// --- rcu_barrier() waits for every callback queued before it ----------------------------------

TEST_CASE("rcu_barrier waits for every callback queued before it, from any thread") {
  std::atomic<int> runs{0};
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) call_rcu(&(new counted{{}, &runs})->head, count_run);
    });
  }
  for (auto& t : threads) t.join();
  rcu_barrier();
  CHECK(runs.load() == 2 * kPerThread);
}

struct parent {
  rcu_head head;
  std::atomic<int>* parents;
  std::atomic<int>* children;
};
void child_run(rcu_head* head) {
  count_run(head);
}
void parent_run(rcu_head* head) {
  auto* p = reinterpret_cast<parent*>(head);
  call_rcu(&(new counted{{}, p->children})->head, child_run);
  p->parents->fetch_add(1);
  delete p;
}

TEST_CASE("callbacks queued by callbacks: a later rcu_barrier waits for them (liburcu's rule)") {
  std::atomic<int> parents{0}, children{0};
  for (int i = 0; i < 1000; ++i) call_rcu(&(new parent{{}, &parents, &children})->head, parent_run);
  rcu_barrier();  // every parent has run (its child was queued before the next barrier)
  CHECK(parents.load() == 1000);
  rcu_barrier();
  CHECK(children.load() == 1000);
}

// --- call_rcu from a read-side critical section, and from a signal handler ---------------------

std::atomic<bool> g_section_open{false};
std::atomic<int> g_ran_inside{0};
void after_section(rcu_head* head) {
  if (g_section_open.load()) g_ran_inside.fetch_add(1);  // would be a grace period violated
  delete reinterpret_cast<counted*>(head);
}

TEST_CASE("call_rcu from inside a read-side critical section; the callback waits for its end") {
  g_ran_inside = 0;
  {
    registered reader;
    rcu_read_lock();
    g_section_open = true;
    for (int i = 0; i < 100; ++i) call_rcu(&(new counted{})->head, after_section);
    std::this_thread::sleep_for(100ms);  // long enough for an unwaited callback to run
    g_section_open = false;
    rcu_read_unlock();
  }
  rcu_barrier();
  CHECK(g_ran_inside.load() == 0);
}

constexpr int kSignals = 200;
counted g_signal_heads[kSignals];
std::atomic<int> g_signal_next{0}, g_signal_runs{0};
void signal_run(rcu_head*) {
  g_signal_runs.fetch_add(1);
}
void on_sigusr2(int) {
  const int i = g_signal_next.fetch_add(1);
  if (i < kSignals) call_rcu(&g_signal_heads[i].head, signal_run);
}

TEST_CASE("call_rcu from a signal handler") {
  struct sigaction sa {};
  sa.sa_handler = on_sigusr2;
  sigemptyset(&sa.sa_mask);
  REQUIRE(sigaction(SIGUSR2, &sa, nullptr) == 0);
  for (int i = 0; i < kSignals; ++i) REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);
  signal(SIGUSR2, SIG_DFL);
  REQUIRE(g_signal_next.load() == kSignals);
  rcu_barrier();
  CHECK(g_signal_runs.load() == kSignals);
}

// --- fork(), with and without liburcu's call_rcu fork hooks -----------------------------------

std::atomic<int> g_fork_runs{0};
void fork_run(rcu_head* head) {
  g_fork_runs.fetch_add(1);
  delete reinterpret_cast<counted*>(head);
}

// Queues callbacks, forks with callbacks in flight; the child queues more and waits for all of
// them. Returns the child's exit status.
int fork_with_callbacks(bool hooks) {
  g_fork_runs = 0;
  for (int i = 0; i < 5000; ++i) call_rcu(&(new counted{})->head, fork_run);
  if (hooks) call_rcu_before_fork();
  const pid_t pid = fork();
  if (pid == 0) {
    if (hooks) call_rcu_after_fork_child();
    for (int i = 0; i < 100; ++i) call_rcu(&(new counted{})->head, fork_run);
    rcu_barrier();
    // The child's copies of the parent's callbacks run here too (liburcu hands them to its new
    // default thread); a few the fork caught half-queued may be left to the parent.
    _exit(g_fork_runs.load() >= 100 && g_fork_runs.load() <= 5100 ? 0 : 3);
  }
  if (hooks) call_rcu_after_fork_parent();
  int status = 0;
  waitpid(pid, &status, 0);
  rcu_barrier();
  return status;
}

TEST_CASE("fork without the call_rcu fork hooks: parent and child keep working") {
  const int status = fork_with_callbacks(false);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(g_fork_runs.load() == 5000);
}

TEST_CASE("fork with call_rcu_before_fork/after_fork_parent/after_fork_child") {
  const int status = fork_with_callbacks(true);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(g_fork_runs.load() == 5000);
}

// --- a callback that sleeps delays only its CPU's batch ---------------------------------------

std::atomic<bool> g_release{false}, g_sleeping{false};
std::atomic<int> g_other_runs{0};
void sleeping_callback(rcu_head* head) {
#ifdef SEM_FLAVOR_QSBR
  rcu_thread_offline();  // liburcu's QSBR rule for a thread that blocks
#endif
  g_sleeping = true;
  while (!g_release.load()) std::this_thread::sleep_for(1ms);
  g_sleeping = false;
#ifdef SEM_FLAVOR_QSBR
  rcu_thread_online();
#endif
  delete reinterpret_cast<counted*>(head);
}
void other_callback(rcu_head* head) {
  g_other_runs.fetch_add(1);
  delete reinterpret_cast<counted*>(head);
}

TEST_CASE("a callback that sleeps delays only the callbacks of its own CPU") {
  const auto cpus = rcufree_test::allowed_cpus();
  if (cpus.size() < 2) {
    WARN("skipped: needs two CPUs (one whose callback sleeps, one that must not wait for it)");
    return;
  }
  g_release = false;
  g_other_runs = 0;
  {
    rcufree_test::pinned on(cpus[0]);
    REQUIRE(on.ok());
    call_rcu(&(new counted{})->head, sleeping_callback);
  }
  REQUIRE(wait_for([] { return g_sleeping.load(); }));
  {
    rcufree_test::pinned on(cpus[1]);
    REQUIRE(on.ok());
    for (int i = 0; i < 10; ++i) call_rcu(&(new counted{})->head, other_callback);
  }
  const bool others_ran = wait_for([] { return g_other_runs.load() == 10; }, 5s);
  const bool still_sleeping = g_sleeping.load();
  g_release = true;
  rcu_barrier();
  CHECK(others_ran);
  CHECK(still_sleeping);
}

// --- defer_rcu, the call_rcu_data functions, and the statistics -------------------------------

std::atomic<int> g_deferred{0};
void deferred_run(void* p) {
  g_deferred.fetch_add(1);
  std::free(p);
}

TEST_CASE("defer_rcu runs fct(p) after a grace period; rcu_defer_barrier waits for it") {
  g_deferred = 0;
  REQUIRE(rcu_defer_register_thread() == 0);
  for (int i = 0; i < 1000; ++i) defer_rcu(deferred_run, std::malloc(16));
  rcu_defer_barrier();
  CHECK(g_deferred.load() == 1000);
  defer_rcu(deferred_run, std::malloc(16));
  rcu_defer_unregister_thread();  // waits, as liburcu's flushes the thread's queue
  CHECK(g_deferred.load() == 1001);
}

TEST_CASE("the call_rcu_data functions are accepted with rcufree's meaning") {
  call_rcu_data* d = create_call_rcu_data(0, -1);
  REQUIRE(d != nullptr);
  CHECK(get_default_call_rcu_data() == d);
  CHECK(get_cpu_call_rcu_data(0) == d);
  CHECK(get_cpu_call_rcu_data(-1) == nullptr);
  CHECK(get_thread_call_rcu_data() == nullptr);
  set_thread_call_rcu_data(d);
  CHECK(get_thread_call_rcu_data() == d);
  CHECK(get_call_rcu_data() == d);
  set_thread_call_rcu_data(nullptr);
  CHECK(set_cpu_call_rcu_data(0, d) == 0);
  errno = 0;
  CHECK(set_cpu_call_rcu_data(-1, d) == -EINVAL);
  CHECK(errno == EINVAL);
  CHECK(create_all_cpu_call_rcu_data(0) == 0);
  CHECK(get_call_rcu_thread(d) == pthread_t{});
  free_all_cpu_call_rcu_data();
  call_rcu_data_free(d);
  std::atomic<int> runs{0};  // still working afterwards
  call_rcu(&(new counted{{}, &runs})->head, count_run);
  rcu_barrier();
  CHECK(runs.load() == 1);
}

TEST_CASE("call_rcu goes through the flavor's rcufree engine (its statistics count it)") {
  const std::uint64_t before = engine_counter("queued");
  std::atomic<int> runs{0};
  for (int i = 0; i < 300; ++i) call_rcu(&(new counted{{}, &runs})->head, count_run);
  rcu_barrier();
  CHECK(runs.load() == 300);
  CHECK(engine_counter("queued") - before == 300);
}

}  // namespace
