// SPDX-License-Identifier: MIT
// rcutorture_test.cpp — readers check that everything they can reach is alive while updaters
// replace and retire objects through every entry point of rcufree, in the spirit of the
// kernel's rcutorture.
//
// The structure is an array of std::atomic<node*>. Readers, inside urcu-memb read-side critical
// sections, load a few random slots, mark each node held, check its magic, sometimes linger (so
// grace periods have to wait for them), then check the nodes again and let go. Updaters publish a
// fresh node in a random slot and retire the old one through a random entry point (engine or C
// API, with or without a head, plainly, in an atomic_scope or inside a read-side section). The
// free path (~node, or the free hook for std::free kinds) fails the run if a reader still holds
// the node or if the node's retire cookie has not expired; readers fail it if they see poison or
// a reused node. At the end every node is retired, both engines are flushed, and every node must
// have been freed exactly once. An age histogram says how many grace periods nodes lived.
//
// Duration: a few seconds per case by default; RCUFREE_TORTURE_SECONDS=N runs each case N s.
#include "torture_support.hpp"
#include "tsan_grace.hpp"

#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using torture::entry;
using torture::node;

namespace {

constexpr std::size_t kSlots = 64;
constexpr int kWalk = 8;  // nodes a reader holds per section

struct torture_run {
  rcufree::config cfg;
  double seconds = 4.0;
  int readers = 2;
  int updaters = 2;
  const char* name = "torture";
};

struct shared_state {
  std::atomic<node*> slots[kSlots] = {};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> next_gen{1};
  std::atomic<std::uint64_t> sections{0};
  std::atomic<std::uint64_t> checks{0};
  std::atomic<std::uint64_t> long_sections{0};
  std::atomic<std::uint64_t> retired{0};
  std::atomic<std::uint64_t> barriers{0};
};

void reader_loop(shared_state& sh, torture::tracker& tr, std::uint64_t seed) {
  urcu_memb_register_thread();
  torture::rng rnd(seed);
  node* held[kWalk];
  std::uint64_t gens[kWalk];
  std::uint64_t sections = 0, checks = 0, lingers = 0;
  // relaxed: a stop flag; nothing is published through it.
  while (!sh.stop.load(std::memory_order_relaxed)) {
    urcu_memb_read_lock();
    int n = 0;
    for (int k = 0; k < kWalk; ++k) {
      // acquire: pairs with the updater's exchange (release) that published the node, so its
      // magic and gen are initialized.
      node* p = sh.slots[rnd() % kSlots].load(std::memory_order_acquire);
      if (p == nullptr) continue;
      // relaxed: see tracker::on_reclaim; only the grace period may order this against the free.
      p->holders.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t magic = torture::read_once(p->magic);
      const std::uint64_t gen = torture::read_once(p->gen);
      if (magic != torture::kAlive) tr.reader_saw_dead(magic, gen, gen);
      held[n] = p;
      gens[n] = gen;
      ++n;
    }
    // Linger now and then, so that grace periods must wait for this section.
    const std::uint64_t r = rnd();
    if (r % 128 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(500 + r % 2000));
      ++lingers;
    } else {
      for (std::uint64_t spin = r % 64; spin > 0; --spin) asm volatile("" ::: "memory");
    }
    for (int k = 0; k < n; ++k) {
      const std::uint64_t magic = torture::read_once(held[k]->magic);
      const std::uint64_t gen = torture::read_once(held[k]->gen);
      if (magic != torture::kAlive || gen != gens[k]) tr.reader_saw_dead(magic, gen, gens[k]);
      // relaxed: as the fetch_add above.
      held[k]->holders.fetch_sub(1, std::memory_order_relaxed);
      ++checks;
    }
    rcufree_test::reader_section_ends();
    urcu_memb_read_unlock();
    ++sections;
  }
  urcu_memb_unregister_thread();
  // relaxed: totals, read after join.
  sh.sections.fetch_add(sections, std::memory_order_relaxed);
  sh.checks.fetch_add(checks, std::memory_order_relaxed);
  sh.long_sections.fetch_add(lingers, std::memory_order_relaxed);
}

void updater_loop(shared_state& sh, torture::tracker& tr, rcufree::engine& eng, std::uint64_t seed,
                  bool barriers) {
  urcu_memb_register_thread();  // some two-argument calls run inside a read-side section
  torture::rng rnd(seed);
  std::uint64_t ops = 0;
  auto next_barrier = std::chrono::steady_clock::now() + 50ms;
  // relaxed: a stop flag.
  while (!sh.stop.load(std::memory_order_relaxed)) {
    const auto how = static_cast<entry>(rnd() % torture::kEntries);
    // relaxed: generations only have to be unique.
    node* fresh = tr.make(how, eng, sh.next_gen.fetch_add(1, std::memory_order_relaxed));
    // acq_rel: release publishes fresh's fields to readers (pairs with their acquire load);
    // acquire pairs with the exchange that published the old node, whose fields we read.
    node* old = sh.slots[rnd() % kSlots].exchange(fresh, std::memory_order_acq_rel);
    if (old != nullptr) tr.retire(old, eng, static_cast<unsigned>(rnd()));
    ++ops;
    if (barriers && (ops & 255) == 0 && std::chrono::steady_clock::now() > next_barrier) {
      // Flushes racing with queueing: on the engine, on the default engine, and a shrink.
      if (ops & 256) eng.barrier(); else rcufree::barrier();
      if ((ops & 1023) == 0) eng.shrink();
      sh.barriers.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      next_barrier = std::chrono::steady_clock::now() + 50ms;
    }
  }
  urcu_memb_unregister_thread();
  sh.retired.fetch_add(ops, std::memory_order_relaxed);  // relaxed: total, read after join
}

void run(const torture_run& run_cfg) {
  auto tr = std::make_unique<torture::tracker>();
  auto sh = std::make_unique<shared_state>();
  rcufree::engine eng(run_cfg.cfg);
  const auto gp0 = eng.snapshot().grace_periods;
  const auto dgp0 = rcufree::default_engine().snapshot().grace_periods;
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < run_cfg.readers; ++i) {
      threads.emplace_back(reader_loop, std::ref(*sh), std::ref(*tr), 1000u + unsigned(i));
    }
    for (int i = 0; i < run_cfg.updaters; ++i) {
      threads.emplace_back(updater_loop, std::ref(*sh), std::ref(*tr), std::ref(eng),
                           2000u + unsigned(i), i == 0);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(run_cfg.seconds));
    sh->stop.store(true, std::memory_order_relaxed);  // relaxed: see the loops
    for (auto& t : threads) t.join();
  }
  // Readers are gone: retire what is still published, then flush both engines.
  for (auto& slot : sh->slots) {
    // relaxed: every other thread has been joined.
    if (node* n = slot.exchange(nullptr, std::memory_order_relaxed)) tr->retire(n, eng, 0);
  }
  eng.barrier();
  rcufree::barrier();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto st = eng.snapshot();

  // seq_cst loads of the totals below: every thread that added to them has been joined.
  std::printf("[%s] %.1f s: %llu objects retired by %d updaters, %llu reader sections "
              "(%llu lingering) by %d readers checked %llu nodes; %llu barriers racing; "
              "grace periods: engine %llu, default engine %llu; fallback %llu, pages allocated "
              "%llu, failed %llu\n%s",
              run_cfg.name, secs, (unsigned long long)tr->created_total(), run_cfg.updaters,
              (unsigned long long)sh->sections.load(), (unsigned long long)sh->long_sections.load(),
              run_cfg.readers, (unsigned long long)sh->checks.load(),
              (unsigned long long)sh->barriers.load(),
              (unsigned long long)(st.grace_periods - gp0),
              (unsigned long long)(rcufree::default_engine().snapshot().grace_periods - dgp0),
              (unsigned long long)st.fallback_objects, (unsigned long long)st.page_allocs,
              (unsigned long long)st.page_alloc_failures, tr->report().c_str());
  std::fflush(stdout);

  INFO(tr->report());
  INFO("first failure: " << tr->first_failure());
  CHECK(tr->early_frees() == 0);
  CHECK(tr->ungraced_frees() == 0);
  CHECK(tr->reader_failures() == 0);
  for (int i = 0; i < torture::kEntries; ++i) {
    const auto e = static_cast<entry>(i);
    INFO(torture::entry_name(e));
    CHECK(tr->created(e) > 0);
    CHECK(tr->reclaimed(e) == tr->created(e));  // every node freed, and exactly once
  }
  CHECK(st.queued == st.freed);
  CHECK(st.pending == 0);
  CHECK(sh->checks.load() > 0);  // seq_cst: readers joined
}

}  // namespace

TEST_CASE("the free hook sees torture nodes freed by std::free and by delete", "[hook]") {
  torture::tracker tr;
  rcufree::engine eng;
  node* a = tr.make(entry::kfree_rcu, eng, 1);
  node* b = tr.make(entry::delete_rcu, eng, 2);
  a->retire_cookie = 0;  // cookie 0 has always expired: a direct free is not a failure here
  b->retire_cookie = 0;
  std::free(a);
  delete b;
  CHECK(tr.reclaimed(entry::kfree_rcu) == 1);
  CHECK(tr.reclaimed(entry::delete_rcu) == 1);
  CHECK(tr.first_failure().empty());
}

TEST_CASE("readers never see a freed object while updaters retire through every entry point", "[torture]") {
  torture_run r;
  r.seconds = torture::torture_seconds(4.0);
  r.name = "torture, default config";
  run(r);
}

TEST_CASE("readers never see a freed object with tiny pages and a one-page cache and fast drains", "[torture]") {
  torture_run r;
  r.cfg.page_size = 256;  // 27 pointers per block: blocks close, recycle and run dry constantly
  r.cfg.cached_pages_per_cpu = 1;
  r.cfg.drain_interval = 1ms;
  r.cfg.worker_tick = 100us;
  r.cfg.pending_soft_cap_bytes = 64 << 10;  // expedited draining most of the time
  r.cfg.sleepable_callers_reclaim = true;   // head-less callers free their CPU's ready blocks
  r.seconds = torture::torture_seconds(4.0);
  r.name = "torture, 256-byte pages";
  run(r);
}
