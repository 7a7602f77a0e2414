// SPDX-License-Identifier: MIT
// reclaim_loop — an RCU-protected table under constant replacement, reclaimed by rcufree.
//
// Readers look entries up inside read-side critical sections and check each one is intact;
// updaters replace entries and hand the old ones to rcufree (both the two-argument form and the
// head-less form). Once a second it prints a line of live statistics; at the end a summary. An
// entry found freed by a reader (its poison visible) makes the program fail.
//
//   reclaim_loop [--seconds N] [--readers N] [--updaters N] [--slots N] [--json] [--csv FILE]
//
// --json prints each line as the engine's one-line JSON; --csv FILE also samples every 10 ms
// into FILE (the columns of rcufree::stats_sampler) for plotting.
#include <rcufree/rcufree.hpp>
#include <urcu/urcu-memb.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct entry {
  static constexpr std::uint64_t kLive = 0x11FE11FE11FE11FEull;
  static constexpr std::uint64_t kPoison = 0xDEADBEEFDEADBEEFull;
  entry(std::uint64_t k, std::uint64_t v) : key(k), value(v), check(k ^ v ^ kLive) {}
  ~entry() { check = kPoison; }  // what a reader would see if it were freed too early
  bool intact() const { return check == (key ^ value ^ kLive); }
  std::uint64_t key, value, check;
  rcu_head head;
};

struct options {
  int seconds = 10, readers = 1, updaters = 1;
  std::size_t slots = 4096;
  bool json = false;
  std::string csv;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* flag) -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "reclaim_loop: %s needs a value\n", flag);
        std::exit(2);
      }
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (!std::strcmp(argv[i], "--seconds")) o.seconds = static_cast<int>(next("--seconds"));
    else if (!std::strcmp(argv[i], "--readers")) o.readers = static_cast<int>(next("--readers"));
    else if (!std::strcmp(argv[i], "--updaters")) o.updaters = static_cast<int>(next("--updaters"));
    else if (!std::strcmp(argv[i], "--slots")) o.slots = static_cast<std::size_t>(next("--slots"));
    else if (!std::strcmp(argv[i], "--json")) o.json = true;
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) o.csv = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: reclaim_loop [--seconds N] [--readers N] [--updaters N] [--slots N] "
                   "[--json] [--csv FILE]\n");
      std::exit(2);
    }
  }
  if (o.seconds < 1 || o.readers < 0 || o.updaters < 1 || o.slots < 1) {
    std::fprintf(stderr, "reclaim_loop: seconds >= 1, readers >= 0, updaters >= 1, slots >= 1\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  rcufree::engine& eng = rcufree::default_engine();
  std::vector<std::atomic<entry*>> table(opt.slots);
  for (std::size_t i = 0; i < opt.slots; ++i) table[i].store(new entry(i, 0));

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> updates{0}, lookups{0}, broken{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < opt.readers; ++r) {
    threads.emplace_back([&, r] {
      urcu_memb_register_thread();
      std::minstd_rand rng(static_cast<unsigned>(r) + 1);
      std::uint64_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        urcu_memb_read_lock();
        for (int k = 0; k < 64; ++k) {
          // acquire: pairs with the updater's release exchange; the entry's fields are visible.
          const entry* e = table[rng() % opt.slots].load(std::memory_order_acquire);
          if (!e->intact()) broken.fetch_add(1, std::memory_order_relaxed);
        }
        urcu_memb_read_unlock();
        local += 64;
      }
      lookups.fetch_add(local, std::memory_order_relaxed);  // relaxed: summed at the end
      urcu_memb_unregister_thread();
    });
  }
  for (int u = 0; u < opt.updaters; ++u) {
    threads.emplace_back([&, u] {
      std::minstd_rand rng(static_cast<unsigned>(u) + 1000);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::size_t i = rng() % opt.slots;
        // release: publishes the new entry to readers; acquire: the old one is ours to retire.
        entry* old = table[i].exchange(new entry(i, ++n), std::memory_order_acq_rel);
        if (n % 16 == 0) {
          eng.delete_rcu_mightsleep(old);  // the head-less form, for variety
        } else {
          eng.delete_rcu(old, &entry::head);  // atomic-safe
        }
        if (n % 1024 == 0) updates.fetch_add(1024, std::memory_order_relaxed);  // relaxed: stats
      }
    });
  }

  std::printf("reclaim_loop: %d s, %d readers, %d updaters, %zu slots\n", opt.seconds,
              opt.readers, opt.updaters, opt.slots);
  std::unique_ptr<rcufree::stats_sampler> sampler;
  if (!opt.csv.empty()) {
    sampler = std::make_unique<rcufree::stats_sampler>(eng, opt.csv, std::chrono::milliseconds(10));
  }
  std::uint64_t last_updates = 0;
  for (int s = 1; s <= opt.seconds; ++s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto st = eng.snapshot();
    const std::uint64_t u = updates.load(std::memory_order_relaxed);
    if (opt.json) {
      std::printf("%s\n", st.to_json().c_str());
    } else {
      std::printf(
          "t=%2ds  %9.0f replaces/s  pending %7llu  pages in use %4llu  cached %3llu  "
          "fallbacks %9llu  grace periods %7llu  gp max %5llu us\n",
          s, double(u - last_updates), (unsigned long long)st.pending,
          (unsigned long long)st.pages_in_use, (unsigned long long)st.pages_cached,
          (unsigned long long)st.fallback_objects, (unsigned long long)st.grace_periods,
          (unsigned long long)st.gp_max_us);
    }
    std::fflush(stdout);
    last_updates = u;
  }
  stop = true;
  for (auto& t : threads) t.join();
  sampler.reset();
  for (auto& slot : table) eng.delete_rcu(slot.exchange(nullptr), &entry::head);
  eng.barrier();
  const auto st = eng.snapshot();
  std::printf(
      "summary: %llu replaces, %llu lookups, %llu broken entries seen; queued %llu, freed %llu, "
      "pending %llu; %.1f%% via pages, %llu grace periods (%.0f objects each)\n",
      (unsigned long long)updates.load(), (unsigned long long)lookups.load(),
      (unsigned long long)broken.load(), (unsigned long long)st.queued,
      (unsigned long long)st.freed, (unsigned long long)st.pending,
      st.queued ? 100.0 * double(st.queued - st.fallback_objects) / double(st.queued) : 0.0,
      (unsigned long long)st.grace_periods,
      st.grace_periods ? double(st.freed) / double(st.grace_periods) : 0.0);
  if (broken.load() != 0 || st.pending != 0) {
    std::fprintf(stderr, "reclaim_loop: FAILED (%s)\n",
                 broken.load() ? "a reader saw a freed entry" : "objects still pending");
    return 1;
  }
  return 0;
}
