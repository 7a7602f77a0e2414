// SPDX-License-Identifier: MIT
// wake_latency.cpp — does a thread that sleeps briefly get its core back from a busy producer?
// (docs/PERFORMANCE.md, "What holds pending up"). A spinner and a sleeper share CPU 0, as a
// flooding producer and its CPU's reclaim thread do. The sleeper sleeps `sleep_us`, then works
// for `work` microseconds (or, with a trailing %, that share of the time since its last work
// ended: a reclaimer keeping up with a producer), 3,000 times; printed: how late each wake-up
// ran (median, p90, p99, max). With `slice_us` > 0 it first asks for that time slice
// (src/time_slice.hpp: sched_setattr, Linux 6.12+), as the engine's CPU threads do.
// Built by hand:
//   g++ -O2 -std=c++20 -pthread -Isrc bench/adhoc/wake_latency.cpp -o wake_latency
//   for s in 0 100; do for w in 0 20 50 40%; do ./wake_latency $s $w; done; done
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "time_slice.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

void pin_to_cpu0() {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

void busy_until(clock_type::time_point end) {
  while (clock_type::now() < end) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: wake_latency slice_us work_us|work_percent%% [sleep_us]\n");
    return 2;
  }
  const long slice_us = std::atol(argv[1]);
  const bool proportional = std::strchr(argv[2], '%') != nullptr;
  const long work = std::atol(argv[2]);
  const long sleep_us = argc > 3 ? std::atol(argv[3]) : 100;

  std::atomic<bool> stop{false};
  std::thread spinner([&] {
    pin_to_cpu0();
    // relaxed: a stop request, nothing else is handed over.
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  pin_to_cpu0();
  if (slice_us > 0 &&
      !rcufree::detail::run_fair_with_slice(static_cast<std::uint64_t>(slice_us) * 1000))
    std::perror("sched_setattr");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  constexpr int kWakes = 3000;
  std::vector<double> late_us;
  late_us.reserve(kWakes);
  clock_type::time_point last_work_end{};
  for (int i = 0; i < kWakes; ++i) {
    const auto due = clock_type::now() + std::chrono::microseconds(sleep_us);
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    const auto woke = clock_type::now();
    late_us.push_back(std::chrono::duration<double, std::micro>(woke - due).count());
    if (proportional) {
      if (last_work_end != clock_type::time_point{})
        busy_until(woke + (woke - last_work_end) * work / 100);
    } else {
      busy_until(woke + std::chrono::microseconds(work));
    }
    last_work_end = clock_type::now();
  }
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the spinner
  spinner.join();

  std::sort(late_us.begin(), late_us.end());
  std::printf(
      "slice %ld us, work %s%s, sleep %ld us: late p50 %.0f us, p90 %.0f, p99 %.0f, max %.0f\n",
      slice_us, argv[2], proportional ? " of the time since the last work" : " us", sleep_us,
      late_us[kWakes / 2], late_us[kWakes * 9 / 10], late_us[kWakes * 99 / 100], late_us.back());
  return 0;
}
