// SPDX-License-Identifier: MIT
// slot_protocol_test.cpp — while a thread holds a CPU slot, nobody appends to it: not an atomic
// caller's restartable sequence on the slot's CPU (percpu.hpp, pairs M1-M3), not another holder.
//
// One producer per allowed CPU, pinned, floods delete_rcu (same kind: the sequences' fast path,
// and a page change under the own-CPU flag every 507 calls). A taker thread moves between the CPUs
// and takes slots both ways: its own CPU's (the own-CPU flag, or the exchange flag without rseq)
// and another CPU's (the exchange flag, then membarrier, then the wait for the own-CPU holder).
// While it holds a slot it reads the fill word and the open block again and again: any change is
// an append that got past the flags. Every object is freed exactly once at the end.
//
// The case runs with either protocol: RCUFREE_NO_RSEQ=1 (a ctest entry, test/torture/
// CMakeLists.txt) and ThreadSanitizer builds use the exchange flag only. It fails when the
// membarrier is left out (checked by making restart_sequences_on() return at once: 1,207 and
// 1,520 appends while held in two runs of about 25,000 holds each).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <rcufree/rcufree.hpp>
#include <thread>
#include <vector>

#include "counted.hpp"
#include "cpus.hpp"
#include "engine_core.hpp"
#include "patience.hpp"

namespace {

using rcufree_test::counted;

}  // namespace

TEST_CASE(
    "a thread that holds a CPU slot from its own CPU or from another one sees no append to it",
    "[torture][slot]") {
  const std::vector<int> cpus = rcufree_test::allowed_cpus();
  REQUIRE(!cpus.empty());
  rcufree::config cfg;
  cfg.cached_pages_per_cpu = 512;  // pages at hand: the appends stay on the sequences' path
  rcufree::engine eng(cfg);
  eng.reserve_pages(64);
  auto& core = rcufree::engine_access::core(eng);
  std::atomic<std::uint64_t> deaths{0}, queued{0};
  std::atomic<bool> stop{false};  // seq_cst: the test's own step between threads

  std::vector<std::thread> producers;
  for (const int cpu : cpus) {
    producers.emplace_back([&, cpu] {
      rcufree_test::pin_to(cpu);
      std::uint64_t n = 0;
      while (!stop.load()) {
        for (int k = 0; k < 256; ++k) eng.delete_rcu(new counted(&deaths), &counted::head);
        n += 256;
      }
      queued.fetch_add(n);  // seq_cst: read after the joins
    });
  }

  std::uint64_t holds_here = 0, holds_elsewhere = 0, violations = 0;
  // Two seconds at least, and on until the holds below were made (a loaded sanitizer run moves
  // between CPUs slowly), for 60 s at most.
  const auto start = std::chrono::steady_clock::now();
  const auto enough = [&] {
    const auto ran = std::chrono::steady_clock::now() - start;
    if (ran >= std::chrono::seconds(60)) return true;
    return ran >= std::chrono::seconds(2) && holds_here + holds_elsewhere >= 1000 &&
           (cpus.size() < 2 || holds_elsewhere >= 100);
  };
  for (std::uint64_t round = 0; !enough(); ++round) {
    const int on = cpus[round % cpus.size()];
    rcufree_test::pin_to(on);
    // Every other round the slot of the CPU it runs on, else the next CPU's.
    const int target = (round / cpus.size()) % 2 == 0 ? on : cpus[(round + 1) % cpus.size()];
    rcufree::detail::cpu_slot& s = core.slots[static_cast<std::size_t>(target)];
    rcufree::detail::patience wait(rcufree::detail::patience::kind::brief,
                                   static_cast<std::size_t>(target), "the slot's flag");
    const rcufree::detail::cpu_slot::entry e = s.enter(wait);
    if (!e) continue;  // a producer preempted while it held the own-CPU flag: another round
    (e.flag == rcufree::detail::cpu_slot::entry::here ? holds_here : holds_elsewhere) += 1;
    // relaxed: the holder's own view; an append would store it (a plain store in the sequence).
    const std::uint64_t fill = s.head.fill.load(std::memory_order_relaxed);
    const rcufree::detail::block* open = s.head.open;
    for (int look = 0; look < 200; ++look) {
      if (s.head.fill.load(std::memory_order_relaxed) != fill || s.head.open != open) {
        ++violations;
        break;
      }
    }
    s.leave(e);
  }
  stop.store(true);
  for (auto& t : producers) t.join();
  eng.barrier();

  std::printf(
      "[slot] %llu holds from the slot's CPU, %llu from another CPU, %llu appends while "
      "held; %llu objects, rseq protocol: %s\n",
      static_cast<unsigned long long>(holds_here), static_cast<unsigned long long>(holds_elsewhere),
      static_cast<unsigned long long>(violations), static_cast<unsigned long long>(queued.load()),
      core.slots[0].rseq ? "yes" : "no");
  CHECK(violations == 0);
  CHECK(holds_here + holds_elsewhere >= 1000);
  if (cpus.size() > 1) CHECK(holds_elsewhere >= 100);
  CHECK(deaths.load() == queued.load());  // relaxed increments, ordered by barrier()
}

TEST_CASE("two-argument calls append in a restartable sequence where the platform has one",
          "[torture][slot]") {
  // x86-64, glibc's rseq area registered for this thread, not ThreadSanitizer (which cannot see
  // the kernel restart a sequence), not turned off with RCUFREE_NO_RSEQ.
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
  const char* off = std::getenv("RCUFREE_NO_RSEQ");
  const bool expected = rcufree::detail::rseq_cpu() >= 0 &&
                        (off == nullptr || *off == '\0' || std::strcmp(off, "0") == 0);
#else
  const bool expected = false;
#endif
  rcufree::engine eng;
  CHECK(eng.snapshot().rseq_appends == (expected ? 1u : 0u));
}
