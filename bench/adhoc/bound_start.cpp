// bound_start.cpp — how soon does a new CPU thread first run on a core where a producer spins?
// (src/bound_thread.hpp; docs/PERFORMANCE.md, "Starting a CPU thread"). A spinner holds CPU 0, as
// a flooding producer holds its CPU. 60 times, a new thread is started for CPU 0 in one of three
// ways, and the time from the start until the thread runs on CPU 0 is printed (p10, median, p90,
// max, microseconds):
//   moves        std::thread, which then binds itself with pthread_setaffinity_np (the engine
//                before bound_thread);
//   slice+moves  the same, after asking for a 100 us time slice (src/time_slice.hpp);
//   bound        bound_thread: created with its affinity set, so it is woken on CPU 0.
// Built by hand:
//   g++ -O2 -std=c++20 -pthread -Isrc bench/adhoc/bound_start.cpp -o bound_start && ./bound_start
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "bound_thread.hpp"
#include "time_slice.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

void bind_to_cpu0() {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

enum class way { moves, slice_moves, bound };

double start_once(way w) {
  const auto t0 = clock_type::now();
  double us = 0;
  auto body = [&] {
    if (w == way::slice_moves) (void)rcufree::detail::request_time_slice(100'000);
    if (w != way::bound) bind_to_cpu0();
    us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  };
  if (w == way::bound) {
    rcufree::detail::bound_thread t;
    t.start(0, body);
    t.join();
  } else {
    std::thread(body).join();
  }
  return us;
}

}  // namespace

int main() {
  std::atomic<bool> stop{false};
  std::thread spinner([&] {
    bind_to_cpu0();
    while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag, nothing published
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const struct {
    way w;
    const char* name;
  } ways[] = {{way::moves, "moves"}, {way::slice_moves, "slice+moves"}, {way::bound, "bound"}};
  for (const auto& [w, name] : ways) {
    std::vector<double> us;
    for (int k = 0; k < 60; ++k) {
      us.push_back(start_once(w));
      std::this_thread::sleep_for(std::chrono::milliseconds(7));  // not in phase with the tick
    }
    std::sort(us.begin(), us.end());
    std::printf("%-12s start -> running on CPU 0, us: p10 %.0f  p50 %.0f  p90 %.0f  max %.0f\n",
                name, us[6], us[30], us[54], us.back());
  }
  stop.store(true, std::memory_order_relaxed);
  spinner.join();
}
