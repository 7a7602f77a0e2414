// SPDX-License-Identifier: MIT
// bound_start.cpp — how soon does a new CPU thread first run on a core where a producer spins?
// (src/bound_thread.hpp; docs/PERFORMANCE.md, "Starting a CPU thread"). 60 times per row a new
// thread is started for a busy CPU, and the time from the start until it runs there is printed
// (p10, median, p90, max, microseconds).
//   one busy CPU (a spinner on CPU 0; the creator free to run on the other):
//     moves         std::thread, which then binds itself with pthread_setaffinity_np (the engine
//                   before bound_thread);
//     slice+moves   the same, after asking for a 100 us time slice (src/time_slice.hpp);
//     bound         bound_thread: created with its affinity set, so it is woken on CPU 0;
//   both CPUs busy (spinners on CPUs 0 and 1; threads for each in turn):
//     bound         as above;
//     slice+bound   the creator holds a 100 us slice, which the new thread inherits (the engine's
//                   supervisor does).
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

void bind_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

enum class way { moves, slice_moves, bound };

double start_once(way w, int cpu) {
  const auto t0 = clock_type::now();
  double us = 0;
  auto body = [&] {
    if (w == way::slice_moves) (void)rcufree::detail::run_fair_with_slice(100'000);
    if (w != way::bound) bind_to(cpu);
    us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  };
  if (w == way::bound) {
    rcufree::detail::bound_thread t;
    t.start(cpu, body);
    t.join();
  } else {
    std::thread(body).join();
  }
  return us;
}

// Runs the row on a fresh creator thread (so that a slice it asks for ends with it).
void row(const char* name, way w, int busy_cpus, bool creator_slice) {
  std::vector<double> us;
  std::thread([&] {
    if (creator_slice) (void)rcufree::detail::run_fair_with_slice(100'000);
    for (int k = 0; k < 60; ++k) {
      us.push_back(start_once(w, k % busy_cpus));
      std::this_thread::sleep_for(std::chrono::milliseconds(7));  // not in phase with the tick
    }
  }).join();
  std::sort(us.begin(), us.end());
  std::printf("%-28s start -> running there, us: p10 %5.0f  p50 %5.0f  p90 %5.0f  max %5.0f\n",
              name, us[6], us[30], us[54], us.back());
}

}  // namespace

int main() {
  std::atomic<bool> stop{false};
  const auto spin = [&](int cpu) {
    return std::thread([&stop, cpu] {
      bind_to(cpu);
      while (!stop.load(std::memory_order_relaxed)) {  // relaxed: a stop flag, nothing published
      }
    });
  };
  std::thread spinner0 = spin(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  row("one busy CPU, moves", way::moves, 1, false);
  row("one busy CPU, slice+moves", way::slice_moves, 1, false);
  row("one busy CPU, bound", way::bound, 1, false);
  std::thread spinner1 = spin(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  row("both busy, bound", way::bound, 2, false);
  row("both busy, slice+bound", way::bound, 2, true);
  stop.store(true, std::memory_order_relaxed);
  spinner0.join();
  spinner1.join();
}
