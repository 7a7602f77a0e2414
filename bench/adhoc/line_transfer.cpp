// SPDX-License-Identifier: MIT
// line_transfer.cpp — what the page switch's accesses cost on this machine, one at a time
// (docs/PERFORMANCE.md, "The page switch, measured"): a cache line that the other CPU wrote last
// (the pool's ring and the new page after the reclaim thread's put, the closed list's top after its
// take_all, the grace-period sequence after a grace period, the coarse clock after a tick), read,
// written or exchanged; the same on a line this CPU owns; a seq_cst fence alone.
// Thread B (CPU 1) writes line k, then raises a flag; thread A (CPU 0) waits for the flag and times
// one access to line k between two fenced TSC reads. 64 lines in turn, 20,000 samples per row,
// p50 / p90 / p99 in ns with the timer (two fenced reads) listed. Built by hand:
//   g++ -O2 -std=c++20 -pthread bench/adhoc/line_transfer.cpp -o line_transfer && ./line_transfer
#include <pthread.h>
#include <sched.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

struct alignas(64) line {
  std::atomic<std::uint64_t> v{0};
};

constexpr int kLines = 64;
constexpr int kSamples = 20'000;
line lines[kLines];
line flag;  // B's turn count: B raised it after writing line (turn % kLines)
line done;  // A's turn count

void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

inline std::uint64_t fenced() {
  _mm_lfence();
  const std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

double ghz() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = __rdtsc();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(__rdtsc() - c0) / ns;
}

enum class op { read, write, exchange, fence, timer };

// One access to l, timed.
std::uint64_t timed(op o, line& l) {
  const std::uint64_t t0 = fenced();
  switch (o) {
    case op::read:
      (void)l.v.load(std::memory_order_relaxed);
      break;
    case op::write:
      l.v.store(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);  // waits for the store's ownership
      break;
    case op::exchange:
      (void)l.v.exchange(2, std::memory_order_acq_rel);
      break;
    case op::fence:
      std::atomic_thread_fence(std::memory_order_seq_cst);
      break;
    case op::timer:
      break;
  }
  return fenced() - t0;
}

// remote: B (the other CPU) wrote the line just before; else A wrote it itself just before.
std::vector<std::uint64_t> run(op o, bool remote) {
  std::vector<std::uint64_t> v;
  v.reserve(kSamples);
  flag.v.store(0);
  done.v.store(0);
  std::thread b([&] {
    pin(1);
    for (int k = 1; k <= kSamples; ++k) {
      // acquire: A finished turn k - 1 before B writes the next line.
      while (done.v.load(std::memory_order_acquire) != static_cast<std::uint64_t>(k - 1)) {
      }
      if (remote)
        lines[k % kLines].v.store(static_cast<std::uint64_t>(k), std::memory_order_relaxed);
      flag.v.store(static_cast<std::uint64_t>(k), std::memory_order_release);  // pairs with A
    }
  });
  pin(0);
  for (int k = 1; k <= kSamples; ++k) {
    // acquire: pairs with B's release; B's write to the line happened before.
    while (flag.v.load(std::memory_order_acquire) != static_cast<std::uint64_t>(k)) {
    }
    if (!remote) {
      lines[k % kLines].v.store(static_cast<std::uint64_t>(k), std::memory_order_relaxed);
      // The line is ours before the timer starts: the store and its ownership request complete.
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    v.push_back(timed(o, lines[k % kLines]));
    done.v.store(static_cast<std::uint64_t>(k), std::memory_order_release);  // pairs with B
  }
  b.join();
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

int main() {
  const double g = ghz();
  struct row {
    const char* name;
    op o;
    bool remote;
  } const rows[] = {{"timer alone (two fenced TSC reads)", op::timer, false},
                    {"seq_cst fence alone", op::fence, false},
                    {"read, line this CPU wrote", op::read, false},
                    {"read, line the other CPU wrote", op::read, true},
                    {"write + fence, line this CPU wrote", op::write, false},
                    {"write + fence, line the other CPU wrote", op::write, true},
                    {"exchange, line this CPU wrote", op::exchange, false},
                    {"exchange, line the other CPU wrote", op::exchange, true}};
  std::printf("TSC %.3f GHz; ns, timer included: p50 / p90 / p99 of %d samples\n", g, kSamples);
  for (const auto& r : rows) {
    const auto v = run(r.o, r.remote);
    auto q = [&](double f) {
      return static_cast<double>(v[static_cast<std::size_t>(f * (v.size() - 1))]) / g;
    };
    std::printf("%-42s %6.0f / %6.0f / %6.0f\n", r.name, q(0.5), q(0.9), q(0.99));
  }
  return 0;
}
