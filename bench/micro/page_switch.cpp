// SPDX-License-Identifier: MIT
// page_switch.cpp — the two-argument call that switches pages, measured alone (issue 21, item 2).
//
// One thread pinned to one CPU queues objects with the two-argument call on an engine. After
// barrier() the CPU has no open block, so the calls of a run fall into classes by their index:
//   open     i = 0:            no block to close; takes a page from the pool and writes its header
//   append   i % 506 != 0:     the restartable-sequence append (the common case)
//   switch   i = 506, 1012...: the block is full (a kind marker + 506 objects): close it (fill
//                              word, closed-list push; the reclaimer stamps the cookie), take
//                              the next page from the pool, write its header (the slot's last
//                              take time, no clock read)
// With --cached 0 the pool is always empty and every call is a fallback (the object's own head
// pushed on the CPU's list): the other candidate for the worst case.
//
//   rcufree_page_switch [--api c|cpp] [--runs N] [--blocks N] [--cached N] [--cold] [--cpu N]
//                       [--callgrind]
//
// Default (cycles): every call is bracketed by two TSC reads, each between two lfences so that
// the whole call is inside (the timer is included; "timer alone" is two back-to-back reads; the
// harness's latency mode uses bare reads, which let a call's last stores and fence overlap the
// second read). Per class: p50 / p90 / p99 / max and
// the mean net of the timer, in ns and TSC ticks. --evict-mib M writes and reads an M MiB buffer
// before the open and switch calls and before one append per block, untimed: M = 4 (twice this
// machine's 2 MiB L2 per core) leaves the call's lines in the L3 at best, as in a flood where
// malloc churns the L2; --cold (M = 96, three times the 32 MiB L3) sends every line and TLB entry
// the call needs to memory. Without either the pool is warm: the pages come back from this CPU's
// reclaim thread, which runs on the same CPU, and the loop touches nothing else.
//
// --callgrind: run under `valgrind --tool=callgrind --collect-atstart=no` (the script
// bench/micro/page_switch_callgrind.sh does): each call of one run is collected alone and dumped
// with its class and index in the dump's description, so that the script can report the
// instructions (and, with --cache-sim=yes, the simulated misses) of every call. Under valgrind the
// engine cannot use rseq and takes its slot flag with an exchange instead (stats.rseq_appends = 0).
#include <pthread.h>
#include <sched.h>
#include <valgrind/callgrind.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <rcufree/rcufree.hpp>
#include <string>
#include <vector>

#include "rcufree/rcufree.h"

namespace {

struct object {
  rcu_head head;
  char payload[48];
};

constexpr std::size_t kPerBlock = 506;  // a kind marker and 506 objects in a 4 KiB block

struct options {
  bool c_api = true;
  unsigned runs = 200;
  unsigned blocks = 2;  // full blocks per run: `blocks` switches after the open
  long cached = -1;
  unsigned evict_mib = 0;  // 0: warm; else write this many MiB before the measured calls
  int cpu = 0;
  bool callgrind = false;
};

const char* class_of(std::size_t i) {
  return i == 0 ? "open" : i % kPerBlock == 0 ? "switch" : "append";
}

// A TSC read that waits for every earlier instruction (lfence before, and after so that later
// ones do not start first): the call between two of them is timed whole, at the price of a
// dearer timer (the "timer alone" line measures the pair).
inline std::uint64_t fenced_ticks() noexcept {
  _mm_lfence();
  const std::uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

double tsc_ghz() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = __rdtsc();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
  }
  const std::uint64_t c1 = __rdtsc();
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(c1 - c0) / ns;
}

// Evicts every cache level: writes, then reads, a buffer larger than the L3.
void evict(std::vector<char>& buf) {
  for (std::size_t i = 0; i < buf.size(); i += 64) buf[i] = static_cast<char>(buf[i] + 1);
  volatile char sink = 0;
  for (std::size_t i = 0; i < buf.size(); i += 64) sink = static_cast<char>(sink + buf[i]);
}

// Mean of the samples below 2048 ticks (0.8 us): a preempted call would dominate a plain mean.
double mean_below(const std::vector<std::uint64_t>& v) {
  double sum = 0, n = 0;
  for (auto x : v)
    if (x < 2048) sum += static_cast<double>(x), n += 1;
  return n > 0 ? sum / n : 0;
}

struct samples {
  std::vector<std::uint64_t> v;
  std::string report(double ghz, double timer_mean) const {
    if (v.empty()) return "-";
    std::vector<std::uint64_t> s = v;
    std::sort(s.begin(), s.end());
    auto q = [&](double f) {
      return s[std::min(s.size() - 1, static_cast<std::size_t>(f * static_cast<double>(s.size())))];
    };
    const double mean = mean_below(s);
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "n=%zu p50 %.0f ns (%llu ticks), p90 %.0f, p99 %.0f, max %.0f; mean net of the "
                  "timer %.1f ns (calls < 0.8 us)",
                  s.size(), static_cast<double>(q(0.5)) / ghz,
                  static_cast<unsigned long long>(q(0.5)), static_cast<double>(q(0.9)) / ghz,
                  static_cast<double>(q(0.99)) / ghz, static_cast<double>(s.back()) / ghz,
                  (mean - timer_mean) / ghz);
    return buf;
  }
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--api")
      o.c_api = std::strcmp(next(), "c") == 0;
    else if (a == "--runs")
      o.runs = static_cast<unsigned>(std::strtoul(next(), nullptr, 10));
    else if (a == "--blocks")
      o.blocks = static_cast<unsigned>(std::strtoul(next(), nullptr, 10));
    else if (a == "--cached")
      o.cached = std::strtol(next(), nullptr, 10);
    else if (a == "--cold")
      o.evict_mib = 96;
    else if (a == "--evict-mib")
      o.evict_mib = static_cast<unsigned>(std::strtoul(next(), nullptr, 10));
    else if (a == "--cpu")
      o.cpu = static_cast<int>(std::strtol(next(), nullptr, 10));
    else if (a == "--callgrind")
      o.callgrind = true;
    else {
      std::fprintf(stderr, "unknown option %s (see the header of bench/micro/page_switch.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  if (o.cached >= 0 && o.c_api) {
    std::fprintf(stderr, "--cached needs --api cpp (the default engine has the default config)\n");
    return 2;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(o.cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    std::fprintf(stderr, "cannot pin to CPU %d; running unpinned\n", o.cpu);

  std::unique_ptr<rcufree::engine> own;
  if (!o.c_api) {
    rcufree::config c;
    if (o.cached >= 0) c.cached_pages_per_cpu = static_cast<std::size_t>(o.cached);
    own = std::make_unique<rcufree::engine>(c);
  }
  rcufree::engine& eng = o.c_api ? rcufree::default_engine() : *own;
  auto call = [&](object* p) {
    if (o.c_api)
      rcufree_kfree_rcu(p, &p->head);
    else
      eng.kfree_rcu(p, &object::head);
  };

  const std::size_t n = o.blocks * kPerBlock + 1;
  std::vector<object*> objs(n);
  std::vector<char> big(std::size_t{o.evict_mib} << 20);
  const bool cold = o.evict_mib != 0;
  samples timer, by_class[3];  // open, append, switch
  auto index_of = [](const char* c) { return c[0] == 'o' ? 0 : c[0] == 'a' ? 1 : 2; };
  for (int k = 0; k < 100'000; ++k) {
    const std::uint64_t t0 = fenced_ticks();
    const std::uint64_t t1 = fenced_ticks();
    timer.v.push_back(t1 - t0);
  }
  const double timer_mean = mean_below(timer.v);

  if (std::getenv("PAGE_SWITCH_CHECK") != nullptr) {  // where the engine switches pages
    for (auto& p : objs) p = static_cast<object*>(std::malloc(sizeof(object)));
    eng.barrier();
    for (std::size_t i = 0; i < n; ++i) {
      const auto before = eng.snapshot();
      call(objs[i]);
      const auto after = eng.snapshot();
      if (after.pages_in_use != before.pages_in_use || after.pages_cached != before.pages_cached)
        std::printf("call %zu: pages in use %llu -> %llu, cached %llu -> %llu\n", i,
                    static_cast<unsigned long long>(before.pages_in_use),
                    static_cast<unsigned long long>(after.pages_in_use),
                    static_cast<unsigned long long>(before.pages_cached),
                    static_cast<unsigned long long>(after.pages_cached));
    }
  }
  const unsigned runs = o.callgrind ? 3 : o.runs;
  for (unsigned r = 0; r < runs; ++r) {
    for (auto& p : objs) p = static_cast<object*>(std::malloc(sizeof(object)));
    eng.barrier();  // closes this CPU's open block; the run's first call opens a page
    // Under callgrind the last run is the measured one: the earlier ones warm the engine up.
    const bool dump = o.callgrind && r + 1 == runs;
    if (dump) {  // what the collection brackets cost by themselves, subtracted by the script
      CALLGRIND_TOGGLE_COLLECT;
      CALLGRIND_TOGGLE_COLLECT;
      CALLGRIND_DUMP_STATS_AT("call -1 empty");
    }
    for (std::size_t i = 0; i < n; ++i) {
      const char* c = class_of(i);
      if (cold && (c[0] != 'a' || i % kPerBlock == kPerBlock / 2)) evict(big);
      if (dump) {
        CALLGRIND_TOGGLE_COLLECT;
        call(objs[i]);
        CALLGRIND_TOGGLE_COLLECT;
        char label[64];
        std::snprintf(label, sizeof label, "call %zu %s%s", i, c,
                      cold && (c[0] != 'a' || i % kPerBlock == kPerBlock / 2) ? " cold" : "");
        CALLGRIND_DUMP_STATS_AT(label);
        continue;
      }
      const std::uint64_t t0 = fenced_ticks();
      call(objs[i]);
      const std::uint64_t d = fenced_ticks() - t0;
      if (!cold || c[0] != 'a' || i % kPerBlock == kPerBlock / 2)
        by_class[index_of(c)].v.push_back(d);
      if (std::getenv("PAGE_SWITCH_TRACE") != nullptr && d > 100)
        std::printf("slow call: run %u index %zu %llu ticks\n", r, i,
                    static_cast<unsigned long long>(d));
    }
  }
  eng.barrier();
  const rcufree::stats s = eng.snapshot();
  if (o.callgrind) {
    std::printf("callgrind: %u runs, the last one dumped per call; rseq_appends=%llu\n", runs,
                static_cast<unsigned long long>(s.rseq_appends));
    return 0;
  }
  const double ghz = tsc_ghz();
  std::printf(
      "page_switch: api=%s cached=%ld evict=%u MiB cpu=%d runs=%u, %zu calls per run; TSC %.3f "
      "GHz; "
      "rseq_appends=%llu fallback_objects=%llu slot_contended=%llu\n",
      o.c_api ? "c" : "cpp", o.cached, o.evict_mib, o.cpu, runs, n, ghz,
      static_cast<unsigned long long>(s.rseq_appends),
      static_cast<unsigned long long>(s.fallback_objects),
      static_cast<unsigned long long>(s.slot_contended));
  std::printf("timer alone: %s\n", timer.report(ghz, 0).c_str());
  const char* names[3] = {"open", "append", "switch"};
  for (int c = 0; c < 3; ++c)
    std::printf("%-6s%s: %s\n", names[c],
                !cold    ? ""
                : c != 1 ? " (after eviction)"
                         : " (1/block, after eviction)",
                by_class[c].report(ghz, timer_mean).c_str());
  return 0;
}
