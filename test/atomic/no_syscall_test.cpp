// SPDX-License-Identifier: MIT
// Promise 2, part two: the two-argument kfree_rcu/delete_rcu make no system call.
//
// A dedicated thread confines itself with a seccomp filter (prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_FILTER) after PR_SET_NO_NEW_PRIVS) that lets through exactly two system calls:
// rt_sigreturn (to return from signal handlers) and exit (to end the thread). Every other system
// call traps: SECCOMP_RET_TRAP raises SIGSYS, whose handler records the call's number and address
// and lets the thread go on. A filter without SECCOMP_FILTER_FLAG_TSYNC applies to this thread only
// and can never be removed, so the thread ends with a raw syscall(SYS_exit): the kernel clears its
// tid and pthread_join in the main thread returns as usual. That exit skips glibc's and the
// sanitizers' per-thread cleanup, so the thread runs on a stack of its own (confined_stack) that
// glibc never hands to a later thread.
//
// Inside the window the thread first proves the trap works (one getppid() must be recorded), then
// that sched_getcpu() does not trap (glibc reads the CPU from its rseq area), then makes a few
// hundred thousand two-argument calls: through page boundaries, with an empty cache (fallback
// list), through the default engine's free functions and the C API; all the while a timer signal
// every 100 us runs a handler that makes more calls on the same thread. No trap may be recorded
// after the probe. The worker is stalled on purpose: nothing the engine needs may require waking
// it.
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

#include "alloc_counter.hpp"
#include "atomic_support.hpp"
#include "mixed_workload.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#ifdef RCUFREE_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__x86_64__)
#include <x86intrin.h>
#define RCUFREE_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define RCUFREE_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

extern "C" {
// glibc 2.35+: size of the rseq area glibc registered for each thread (0: none registered).
extern const unsigned int __rseq_size __attribute__((weak));
}

using namespace atomic_test;

namespace {

// --- what the SIGSYS handler records -----------------------------------------------------------
struct trap_event {
  int nr;
  void* addr;    // the system call instruction
  void* caller;  // x86_64: the word at the stack top, the return address when the call sits in
                 // a leaf wrapper such as glibc's getppid(); a hint, not a backtrace
};
constexpr int kMaxEvents = 32;
trap_event g_events[kMaxEvents];
std::atomic<int> g_traps{0};
// Past this many traps the SIGSYS handler ends the confined thread at once: a trapped system call
// returns ENOSYS, and code that retries it (a futex under a contended lock) would spin forever.
constexpr int kTrapLimit = 4096;
std::atomic<bool> g_ended_by_trap_limit{false};

void on_sigsys(int, siginfo_t* info, void* context) {
  // relaxed: only the confined thread (and its handlers) writes; read after pthread_join.
  const int n = g_traps.fetch_add(1, std::memory_order_relaxed);
  void* caller = nullptr;
#if defined(__x86_64__)
  const auto* uc = static_cast<const ucontext_t*>(context);
  caller = *reinterpret_cast<void* const*>(uc->uc_mcontext.gregs[REG_RSP]);
#else
  (void)context;
#endif
  if (n < kMaxEvents) g_events[n] = {info->si_syscall, info->si_call_addr, caller};
  if (n + 1 >= kTrapLimit) {
    // release: pairs with the acquire after the join; the events above are visible.
    g_ended_by_trap_limit.store(true, std::memory_order_release);
    syscall(SYS_exit, 0);  // allowed by the filter
  }
}

int traps() noexcept {
  // relaxed: see on_sigsys.
  return g_traps.load(std::memory_order_relaxed);
}

// --- the timer signal's handler: more two-argument calls on the confined thread ---------------
struct handler_work {
  const mixed_workload* objects;
  rcufree::engine* eng;
  std::atomic<std::size_t> next;
};
std::atomic<handler_work*> g_handler_work{nullptr};
std::atomic<std::uint64_t> g_timer_runs{0};

void on_timer(int) {
  const int saved_errno = errno;
  // relaxed: statistic read after pthread_join.
  g_timer_runs.fetch_add(1, std::memory_order_relaxed);
  // acquire: pairs with the release store that published the work before the timer started.
  if (handler_work* w = g_handler_work.load(std::memory_order_acquire)) {
    for (int k = 0; k < 4; ++k) {
      // relaxed: claims an index; the objects were published with w.
      const std::size_t i = w->next.fetch_add(1, std::memory_order_relaxed);
      if (i >= w->objects->size()) break;
      w->objects->call_at(w->eng, entry::member, i);
    }
  }
  errno = saved_errno;
}

std::uint64_t cycles() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#elif defined(__aarch64__)
  std::uint64_t v;
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
  return v * 50;  // ~a 50 MHz counter scaled to GHz-ish units; only a timeout uses it
#endif
}

// --- the confined thread -------------------------------------------------------------------------
struct phase {
  const char* name;
  rcufree::engine* eng;  // nullptr: default engine
  entry how;
  const mixed_workload* objects;
  int traps_after = -1;
};

struct confined_job {
  phase* phases;
  int n_phases;
  std::uint64_t min_timer_runs;
  std::atomic<pid_t> tid{0};
  std::atomic<bool> go{false};
  // Results, written by the confined thread before it exits; read after pthread_join.
  int filter_rc = 0, filter_errno = 0;
  int traps_after_probe = -1;
  int traps_after_getcpu = -1;
  int cpu = -1;
  int traps_at_end = -1;
  std::uint64_t timer_runs_in_window = 0;
};

// The confined thread's stack, mapped here rather than taken from glibc's cache of thread stacks.
// A thread that ends with a raw exit leaves its thread-specific values (AddressSanitizer keeps
// its current thread in one) and its stack's shadow as they were; glibc caches a stack it
// allocated and gives it, values included, to the next thread created with the same size, and
// ASan aborts that thread at its start ("CHECK failed: ... AsanTSDGet()"), seen in CI. glibc
// never caches a stack the caller supplied, and this one is unmapped after the join.
class confined_stack {
 public:
  static constexpr std::size_t kBytes = std::size_t{8} << 20;
  confined_stack() {
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                   -1, 0);
    if (p == MAP_FAILED) {
      throw std::runtime_error("confined_stack: mmap of the thread stack failed");
    }
    base_ = p;
  }
  ~confined_stack() {
#ifdef RCUFREE_TEST_ASAN
    // The thread never ran ASan's exit, which clears its stack's redzones in the shadow: clear
    // them here, or a later mapping at this address would start poisoned.
    ASAN_UNPOISON_MEMORY_REGION(base_, kBytes);
#endif
    munmap(base_, kBytes);
  }
  confined_stack(const confined_stack&) = delete;
  confined_stack& operator=(const confined_stack&) = delete;
  // Thread attributes that run a thread on this stack; the caller destroys them.
  void attach(pthread_attr_t& attr) const {
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, base_, kBytes) != 0) {
      throw std::runtime_error("confined_stack: pthread_attr_setstack failed");
    }
  }

 private:
  void* base_ = nullptr;
};

[[noreturn]] void exit_thread() {
  syscall(SYS_exit, 0);  // allowed by the filter; the only way out of it
  __builtin_unreachable();
}

void* confined_main(void* arg) {
  auto* job = static_cast<confined_job*>(arg);
  // release: publishes nothing but the tid itself; pairs with the main thread's acquire.
  job->tid.store(gettid(), std::memory_order_release);
  // acquire: pairs with the release store of go; the timer is armed.
  while (!job->go.load(std::memory_order_acquire)) sched_yield();

  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RCUFREE_TEST_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    job->filter_rc = -1;
    job->filter_errno = errno;
    return nullptr;  // not confined: end normally
  }
  // ---------------- the window: from here on every system call but two traps ----------------
  syscall(SYS_getppid);  // the probe: must be recorded, or the filter is not really there
  job->traps_after_probe = traps();
  job->cpu = sched_getcpu();
  job->traps_after_getcpu = traps();
  // relaxed: statistic, compared with the total afterwards.
  const std::uint64_t runs_before = g_timer_runs.load(std::memory_order_relaxed);
  for (int p = 0; p < job->n_phases; ++p) {
    phase& ph = job->phases[p];
    ph.objects->run(ph.eng, ph.how);
    ph.traps_after = traps();
  }
  // Keep the thread in the window until the timer handler has run often enough (no system
  // call: a busy loop on the cycle counter, with a generous timeout).
  const std::uint64_t deadline = cycles() + 20'000'000'000ull;
  // relaxed: statistic; its own handler increments it.
  while (g_timer_runs.load(std::memory_order_relaxed) - runs_before < job->min_timer_runs &&
         cycles() < deadline) {
  }
  // relaxed: statistic, as above.
  job->timer_runs_in_window = g_timer_runs.load(std::memory_order_relaxed) - runs_before;
  job->traps_at_end = traps();
  exit_thread();
}

std::string symbolize(void* addr) {
  Dl_info where{};
  char text[160];
  if (dladdr(addr, &where) != 0 && where.dli_sname != nullptr) {
    int status = 0;
    char* readable = abi::__cxa_demangle(where.dli_sname, nullptr, nullptr, &status);
    std::snprintf(text, sizeof text, "%s+%#lx", status == 0 ? readable : where.dli_sname,
                  static_cast<unsigned long>(static_cast<char*>(addr) -
                                             static_cast<char*>(where.dli_saddr)));
    std::free(readable);
  } else {
    std::snprintf(text, sizeof text, "%p", addr);
  }
  return text;
}

// The distinct trapped calls among the first kMaxEvents, each with how often it was seen there.
std::string describe_traps(int from, int to) {
  std::string s;
  for (int i = from; i < to && i < kMaxEvents; ++i) {
    bool seen = false;
    for (int j = from; j < i; ++j) {
      seen = seen || (g_events[j].nr == g_events[i].nr && g_events[j].addr == g_events[i].addr &&
                      g_events[j].caller == g_events[i].caller);
    }
    if (seen) continue;
    int times = 0;
    for (int j = i; j < to && j < kMaxEvents; ++j) {
      times += g_events[j].nr == g_events[i].nr && g_events[j].addr == g_events[i].addr &&
               g_events[j].caller == g_events[i].caller;
    }
    s += "syscall " + std::to_string(g_events[i].nr) + " at " + symbolize(g_events[i].addr) +
         " (return address on the stack: " + symbolize(g_events[i].caller) + ") x" +
         std::to_string(times) + "; ";
  }
  if (to - from > kMaxEvents) s += "(only the first " + std::to_string(kMaxEvents) + " recorded)";
  return s;
}

}  // namespace

TEST_CASE("kfree_rcu and delete_rcu make no system call in a seccomp-confined thread") {
#if !defined(RCUFREE_TEST_AUDIT_ARCH)
  WARN("skipped: the seccomp filter here knows only x86_64 and aarch64");
  return;
#else
  if (kTsan) {
    // Not a weakness of the engine: ThreadSanitizer's runtime makes its own system calls on the
    // instrumented thread (mmap for its metadata, its deferred-signal machinery), and its thread
    // registry cannot follow a thread that leaves through a raw exit.
    WARN("skipped under ThreadSanitizer: its runtime makes system calls on the instrumented "
         "thread; the normal and ASan builds run this test");
    return;
  }
  // The engines and every object are built before the window.
  rcufree::engine paged(stalled_worker(small_pages({}, 20000)));
  rcufree::config empty;
  empty.cached_pages_per_cpu = 0;
  rcufree::engine fallback(stalled_worker(empty));
  mixed_workload o_paged(200'000, 21), o_fallback(100'000, 22), o_free_fn(50'000, 23),
      o_c_api(50'000, 24), o_handler(40'000, 25);
  phase phases[] = {
      {"page path (27 records per page), stalled worker", &paged, entry::member, &o_paged},
      {"empty cache (fallback list), stalled worker", &fallback, entry::member, &o_fallback},
      {"rcufree::kfree_rcu/delete_rcu (default engine)", nullptr, entry::free_function,
       &o_free_fn},
      {"rcufree_kfree_rcu (C API)", nullptr, entry::c_api, &o_c_api},
  };
  for (const mixed_workload* w : {&o_paged, &o_fallback, &o_free_fn, &o_c_api, &o_handler}) {
    w->watch_frees();  // count each kfree object's free (the interposed free, outside the window)
  }
  handler_work hw{&o_handler, &paged, {0}};
  const auto paged_before = paged.snapshot();

  struct sigaction sys {};
  sys.sa_sigaction = &on_sigsys;
  sys.sa_flags = SA_SIGINFO;
  // Block everything while recording a trap: a timer handler nested in it whose engine call
  // trapped again would meet a blocked SIGSYS, which the kernel turns into a kill.
  sigfillset(&sys.sa_mask);
  REQUIRE(sigaction(SIGSYS, &sys, nullptr) == 0);
  struct sigaction tim {};
  tim.sa_handler = &on_timer;
  tim.sa_flags = SA_RESTART;
  sigemptyset(&tim.sa_mask);
  REQUIRE(sigaction(SIGRTMIN + 5, &tim, nullptr) == 0);
  // relaxed: reset before the confined thread exists.
  g_traps.store(0, std::memory_order_relaxed);
  // release: publishes hw to the timer handler; pairs with its acquire load.
  g_handler_work.store(&hw, std::memory_order_release);

  confined_job job;
  job.phases = phases;
  job.n_phases = static_cast<int>(sizeof phases / sizeof phases[0]);
  job.min_timer_runs = 300;
  confined_stack stack;  // outlives the join below
  pthread_attr_t on_stack;
  stack.attach(on_stack);
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &on_stack, &confined_main, &job) == 0);
  pthread_attr_destroy(&on_stack);
  pid_t tid;
  // acquire: pairs with the release store of tid in confined_main.
  while ((tid = job.tid.load(std::memory_order_acquire)) == 0) sched_yield();
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGRTMIN + 5;
  sev._sigev_un._tid = tid;  // the confined thread only
  timer_t timer;
  REQUIRE(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
  itimerspec every_100us{};
  every_100us.it_interval.tv_nsec = 100'000;
  every_100us.it_value.tv_nsec = 100'000;
  REQUIRE(timer_settime(timer, 0, &every_100us, nullptr) == 0);
  // release: the timer is armed; pairs with the acquire load in confined_main.
  job.go.store(true, std::memory_order_release);
  // Returns once the kernel cleared the tid. A thread still running after a minute is stuck in a
  // two-argument call that waits for something: report it and end the process (the thread cannot
  // be stopped, and the engines it may hold cannot be destroyed).
  timespec limit{};
  clock_gettime(CLOCK_REALTIME, &limit);
  limit.tv_sec += 60;
  if (pthread_timedjoin_np(thread, nullptr, &limit) != 0) {
    std::fprintf(stderr, "FAILED: the seccomp-confined thread did not finish within 60 s: a "
                 "two-argument call waited; %d trap(s): %s\n", traps(),
                 describe_traps(0, traps()).c_str());
    std::_Exit(1);
  }
  timer_delete(timer);
  g_handler_work.store(nullptr, std::memory_order_relaxed);  // relaxed: the thread is gone
  // A thread started now must start cleanly: glibc may not hand it the confined thread's stack
  // with that thread's leftovers (see confined_stack; under ASan this aborted before).
  pthread_t after;
  REQUIRE(pthread_create(&after, nullptr, [](void*) -> void* { return nullptr; }, nullptr) == 0);
  REQUIRE(pthread_join(after, nullptr) == 0);
  const auto paged_after = paged.snapshot();

  // acquire: pairs with the release store in on_sigsys.
  const bool ended_early = g_ended_by_trap_limit.load(std::memory_order_acquire);
  INFO("seccomp filter: rc " << job.filter_rc << " errno " << job.filter_errno);
  REQUIRE(job.filter_rc == 0);
  const int probe = job.traps_after_probe;
  const int total_traps = traps();
  std::printf("[atomic] seccomp window: probe getppid trapped %d time(s) (syscall %d); "
              "sched_getcpu() = %d with rseq %s, %d trap(s)\n",
              probe, probe > 0 ? g_events[0].nr : -1, job.cpu,
              &__rseq_size != nullptr && __rseq_size != 0 ? "registered" : "not registered",
              job.traps_after_getcpu - probe);
  int prev = job.traps_after_getcpu;
  for (const phase& ph : phases) {
    if (ph.traps_after < 0) {  // the trap limit ended the thread before this phase finished
      std::printf("[atomic] seccomp window: %-50s %7zu calls, %d+ trap(s), thread ended\n",
                  ph.name, ph.objects->size(), traps() - prev);
      break;
    }
    std::printf("[atomic] seccomp window: %-50s %7zu calls, %d trap(s)\n", ph.name,
                ph.objects->size(), ph.traps_after - prev);
    prev = ph.traps_after;
  }
  if (ended_early) {
    // The thread died inside the engine, perhaps holding a CPU slot: the engines cannot be
    // flushed or destroyed any more.
    std::fprintf(stderr, "FAILED: the seccomp-confined thread made %d trapped system calls and "
                 "was ended: %s\n", traps(), describe_traps(1, traps()).c_str());
    std::fflush(nullptr);
    std::_Exit(1);
  }
  // relaxed: the handlers ran on the joined thread.
  const std::size_t handler_calls = std::min(hw.next.load(std::memory_order_relaxed),
                                             o_handler.size());
  std::printf("[atomic] seccomp window: timer handler ran %llu times and made %zu calls; slot "
              "found busy %llu times; %d trap(s) after the probe in all\n",
              static_cast<unsigned long long>(job.timer_runs_in_window), handler_calls,
              static_cast<unsigned long long>(paged_after.slot_contended -
                                              paged_before.slot_contended),
              total_traps - probe);
  std::fflush(stdout);

  CHECK(probe == 1);  // the filter traps: a zero below is not vacuous
  CHECK(g_events[0].nr == SYS_getppid);
  INFO("system calls trapped in the window: " << describe_traps(probe, total_traps));
  CHECK(job.cpu >= 0);
  CHECK(job.traps_after_getcpu == probe);  // sched_getcpu made no system call
  CHECK(job.traps_at_end == probe);        // nor did any two-argument call or timer handler
  CHECK(total_traps == probe);
  CHECK(job.timer_runs_in_window >= job.min_timer_runs);
  CHECK(handler_calls > 0);

  if (total_traps != probe) {
    // A trapped system call did not run (it returned ENOSYS): a skipped futex wake can leave an
    // engine's worker asleep for good, so flushing or destroying the engines could hang.
    std::printf("[atomic] system calls were trapped in the window; ending the process without "
                "flushing the engines\n");
    std::cout.flush();
    std::fflush(nullptr);
    std::_Exit(1);
  }
  // Everything queued in the window is freed exactly once.
  o_handler.run(&paged, entry::member, handler_calls, o_handler.size());
  paged.barrier();
  fallback.barrier();
  rcufree::barrier();
  mixed_workload::unwatch();
  for (const mixed_workload* w : {&o_paged, &o_fallback, &o_free_fn, &o_c_api, &o_handler}) {
    CHECK(w->all_died_once());
  }
#endif
}
