// SPDX-License-Identifier: MIT
// How an engine's threads start: a CPU thread on its CPU from its first instruction, or unbound
// where that CPU is not allowed (src/bound_thread.hpp); the supervisor and the CPU threads with a
// short time slice and the nice value of the thread that built the engine (src/time_slice.hpp).
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bound_thread.hpp"
#include "counted.hpp"
#include "cpus.hpp"
#include "threads.hpp"
#include "time_slice.hpp"

using namespace std::chrono_literals;

namespace {

struct first_look {
  int cpu = -1;
  cpu_set_t mask{};
};

first_look start_and_look(int cpu) {
  first_look seen;  // written by the thread, read after join()
  rcufree::detail::bound_thread t;
  t.start(cpu, [&] {
    seen.cpu = sched_getcpu();
    pthread_getaffinity_np(pthread_self(), sizeof seen.mask, &seen.mask);
  });
  REQUIRE(t.joinable());
  t.join();
  CHECK_FALSE(t.joinable());
  return seen;
}

}  // namespace

TEST_CASE("a bound thread runs only on its CPU from its first instruction") {
  for (const int cpu : rcufree_test::allowed_cpus()) {
    INFO("CPU " << cpu);
    const first_look seen = start_and_look(cpu);
    CHECK(seen.cpu == cpu);
    CHECK(CPU_COUNT(&seen.mask) == 1);
    CHECK(CPU_ISSET(cpu, &seen.mask));
  }
}

TEST_CASE("a thread for a CPU outside the allowed set still starts, unbound") {
  const std::vector<int> allowed = rcufree_test::allowed_cpus();
  REQUIRE(!allowed.empty());
  int outside = CPU_SETSIZE - 1;  // no machine here has 1,024 CPUs; if it is allowed, look lower
  while (outside > 0 && std::find(allowed.begin(), allowed.end(), outside) != allowed.end())
    --outside;
  const first_look seen = start_and_look(outside);
  CHECK(seen.cpu >= 0);
  CHECK(static_cast<std::size_t>(CPU_COUNT(&seen.mask)) == allowed.size());  // the process's set
  CHECK_FALSE(CPU_ISSET(outside, &seen.mask));
}

namespace {

struct sched_look {
  std::uint32_t policy = ~0u;
  std::int32_t nice = 0;
  std::uint64_t slice_ns = 0;
};

sched_look look_at(pid_t tid) {
  rcufree::detail::sched_attr_v0 attr{};
  sched_look seen;
  if (!rcufree::detail::read_sched_attr(tid, attr)) return seen;
  seen.policy = attr.policy;
  seen.nice = attr.nice;
  seen.slice_ns = attr.runtime;
  return seen;
}

}  // namespace

TEST_CASE("engine threads run fair-class with a short time slice at their creator's nice value") {
  // Built on a SCHED_BATCH thread at its nice value + 5 (raising it needs no privilege): the
  // supervisor and the CPU threads keep that nice value (an earlier version set nice 0, which
  // root may do silently) and run SCHED_OTHER (an earlier version passed the builder's batch or
  // real-time policy on to them).
  bool slice_supported = false;  // written by the probe thread, read after join
  std::thread([&] { slice_supported = rcufree::detail::run_fair_with_slice(200'000); }).join();
  std::atomic<std::uint64_t> deaths{0};  // relaxed increments (counted.hpp), read after barrier
  // Written by the builder thread, read after join (a failed REQUIRE there would terminate).
  bool niced = false, batch = false, pinned_ok = false;
  int nice = 0;
  std::size_t threads_started = 0;
  std::vector<pid_t> sup, cpu_thread;
  std::vector<sched_look> seen;
  const int cpu = rcufree_test::allowed_cpus().at(0);
  std::thread([&] {
    const auto others = rcufree_test::all_threads();
    const auto me = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int was = getpriority(PRIO_PROCESS, me);
    nice = std::min(was + 5, 19);
    niced = errno == 0 && setpriority(PRIO_PROCESS, me, nice) == 0;
    sched_param none{};
    batch = sched_setscheduler(0, SCHED_BATCH, &none) == 0;
    rcufree::engine eng;
    {
      rcufree_test::pinned on(cpu);
      pinned_ok = on.ok();
      for (int i = 0; i < 2000; ++i)
        eng.delete_rcu(new rcufree_test::counted(&deaths), &rcufree_test::counted::head);
    }
    const std::string cpu_name = "rcufree-cpu" + std::to_string(cpu);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (rcufree_test::new_threads_named(cpu_name, others).empty() &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);  // started, and named (its first steps)
    threads_started = eng.snapshot().reclaim_threads;
    sup = rcufree_test::new_threads_named("rcufree-sup", others);
    cpu_thread = rcufree_test::new_threads_named(cpu_name, others);
    for (const auto& tids : {sup, cpu_thread})
      for (const pid_t tid : tids) seen.push_back(look_at(tid));
    eng.barrier();
  }).join();
  REQUIRE(niced);
  REQUIRE(batch);
  REQUIRE(pinned_ok);
  REQUIRE(threads_started >= 1);
  REQUIRE(sup.size() == 1);
  REQUIRE(cpu_thread.size() == 1);
  REQUIRE(seen.size() == 2);
  for (const sched_look& t : seen) {
    INFO("policy " << t.policy << ", nice " << t.nice << ", slice " << t.slice_ns << " ns; slices "
                   << (slice_supported ? "" : "not ") << "supported here");
    CHECK(t.policy == SCHED_OTHER);
    CHECK(t.nice == nice);
    if (slice_supported) CHECK(t.slice_ns == rcufree::detail::kShortestSliceNs);
  }
  CHECK(deaths.load() == 2000);
}
