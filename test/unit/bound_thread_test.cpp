// bound_thread: a CPU thread runs on its CPU from its first instruction, or unbound where that
// CPU is not allowed (src/bound_thread.hpp).
#include "bound_thread.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <vector>

#include "cpus.hpp"

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
