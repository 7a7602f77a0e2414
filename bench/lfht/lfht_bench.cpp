// SPDX-License-Identifier: MIT
// lfht_bench.cpp — rcufree_lfht: a write-heavy real client. liburcu's lock-free hash table
// (cds_lfht, urcu-memb flavor) with writer threads replacing (or deleting and re-adding) nodes and
// reader threads looking keys up; every node a writer unlinks is freed after a grace period by the
// mechanism under test:
//
//   rcufree     engine.kfree_rcu(node, &node::head) on the harness's own engine (config overrides
//   as
//               in rcufree_harness: "rcufree@reclaim=single", "rcufree@cached=32", ...)
//   rcufree_c   rcufree_kfree_rcu(node, &node->head): the C API on the default engine
//   call_rcu    liburcu's urcu_memb_call_rcu(&node->head, free_node)
//
//   rcufree_lfht [--mechs rcufree,rcufree_c,call_rcu] [--writers 1,2] [--readers 1]
//                [--seconds 2] [--keys 65536] [--op replace|deladd] [--rounds 5]
//                [--alloc glibc,jemalloc,...] [--out DIR]
//
// --op replace: each write is cds_lfht_add_replace of a random key (the table stays full, every
// write unlinks one node). --op deladd: each write looks a random key up and deletes it if present,
// else adds it (the table holds about half the keys; half the writes unlink a node).
//
// Each (round, allocator, writers, mechanism) runs in a fresh process (fork + exec with --child),
// interleaved across rounds. Timed: a fixed window of --seconds from releasing the threads; then
// the mechanism's barrier (untimed for the rates, reported) and a check that every unlinked node
// was freed exactly once. Reported per run: writes/s, reads/s, the fallback share (rcufree:
// stats.fallback_objects / stats.queued), peak pending (a sampler every ms; rcufree's own
// high-water mark where the engine keeps one), peak RSS (VmHWM), CPU split (writers, readers, other
// threads = the reclaim workers) per write; the parent prints medians with min-max over rounds and
// per-round ratios against call_rcu.
#include <urcu/urcu-memb.h>  // first: maps liburcu's names to the memb flavor
//
#include <sys/stat.h>
#include <time.h>
#include <urcu/rculfhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../harness/common.hpp"
#include "../harness/mechanisms.hpp"
#include "rcufree/rcufree.h"

namespace lfht {
namespace {

using bench::record;

struct node {
  cds_lfht_node ht;
  std::uint64_t key;
  std::uint64_t value;
  rcu_head head;
};

enum class op_kind { replace, deladd };

struct options {
  std::string mech = "rcufree";
  unsigned writers = 1;
  unsigned readers = 1;
  double seconds = 2;
  std::uint64_t keys = 65536;
  op_kind op = op_kind::replace;
  std::string alloc = "glibc";
};

std::uint64_t hash_key(std::uint64_t k) {  // a 64-bit finalizer: spreads sequential keys
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

int match_key(cds_lfht_node* n, const void* key) {
  return caa_container_of(n, node, ht)->key == *static_cast<const std::uint64_t*>(key);
}

struct rng {  // xorshift64*: per thread, no shared state
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
};

bench::sharded_counter g_retired, g_freed_cb;

void free_node_cb(rcu_head* h) {
  std::free(caa_container_of(h, node, head));
  g_freed_cb.add(1);
}

// The three ways an unlinked node is handed over, and how each counts what it freed.
class reclaimer {
 public:
  explicit reclaimer(const options& o) {
    bench::engine_overrides ov;
    if (!bench::parse_spec(o.mech, name_, ov)) std::exit(2);
    if (ov.every >= 0 || ov.shrink >= 0 || ov.pcpu >= 0 || ov.wcpu >= 0) {
      std::fprintf(stderr, "lfht: '%s': every, shrink, pcpu and wcpu are flood-harness keys\n",
                   o.mech.c_str());
      std::exit(2);
    }
    if (name_ == "rcufree") {
      eng_ = std::make_unique<rcufree::engine>(bench::make_engine_config(ov));
    } else if (name_ == "call_rcu") {
      // The first call_rcu allocates and starts liburcu's worker: before timing.
      urcu_memb_call_rcu(&static_cast<node*>(std::calloc(1, sizeof(node)))->head, free_node_cb);
      urcu_memb_barrier();
    } else if (name_ != "rcufree_c") {
      std::fprintf(stderr, "lfht: unknown mechanism '%s' (rcufree rcufree_c call_rcu)\n",
                   o.mech.c_str());
      std::exit(2);
    }
    if (name_ == "rcufree_c" && ov.any()) {
      std::fprintf(stderr, "lfht: rcufree_c runs the default engine; no overrides\n");
      std::exit(2);
    }
    base_ = engine().snapshot();
    freed_cb0_ = g_freed_cb.sum();
  }
  bool is_rcufree() const { return name_ != "call_rcu"; }
  rcufree::engine& engine() const { return eng_ ? *eng_ : rcufree::default_engine(); }

  void retire(node* n) {
    g_retired.add(1);
    if (name_ == "rcufree")
      eng_->kfree_rcu(n, &node::head);
    else if (name_ == "rcufree_c")
      rcufree_kfree_rcu(n, &n->head);
    else
      urcu_memb_call_rcu(&n->head, free_node_cb);
  }
  void barrier() {
    if (name_ == "call_rcu")
      urcu_memb_barrier();
    else
      engine().barrier();
  }
  std::uint64_t freed() const {
    return is_rcufree() ? engine().snapshot().freed - base_.freed : g_freed_cb.sum() - freed_cb0_;
  }
  std::uint64_t pending() const {
    if (is_rcufree()) return engine().snapshot().pending;
    const std::uint64_t f = g_freed_cb.sum() - freed_cb0_;  // first: never negative
    const std::uint64_t q = g_retired.sum();
    return q > f ? q - f : 0;
  }
  void report(record& r) const {
    if (is_rcufree()) bench::put_engine_stats(r, engine().snapshot(), base_);
  }

 private:
  std::string name_;
  std::unique_ptr<rcufree::engine> eng_;
  rcufree::stats base_;
  std::uint64_t freed_cb0_ = 0;
};

struct alignas(64) thread_count {
  std::uint64_t ops = 0;
  std::uint64_t unlinked = 0;
  std::uint64_t cpu_ns = 0;  // this thread's CPU time over the window
};

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

int child_main(const options& o) {
  bench::resolve_synchronize_rcu();
  if (bench::allocator_in_use() != o.alloc) {
    std::fprintf(stderr, "lfht: asked for allocator %s, running with %s\n", o.alloc.c_str(),
                 bench::allocator_in_use().c_str());
    return 2;
  }
  urcu_memb_register_thread();
  reclaimer rec(o);
  std::uint64_t buckets = 1;
  while (buckets < o.keys) buckets <<= 1;
  // Fixed size (no automatic resize): the table's own resize work stays out of the measurement.
  cds_lfht* ht = cds_lfht_new_flavor(buckets, buckets, buckets, 0, &urcu_memb_flavor, nullptr);
  if (ht == nullptr) return 2;
  // Prefill: every key (replace) or every other key (deladd), untimed.
  urcu_memb_read_lock();
  for (std::uint64_t k = 0; k < o.keys; k += o.op == op_kind::replace ? 1 : 2) {
    auto* n = static_cast<node*>(std::malloc(sizeof(node)));
    cds_lfht_node_init(&n->ht);
    n->key = k;
    n->value = 0;
    cds_lfht_add(ht, hash_key(k), &n->ht);
  }
  urcu_memb_read_unlock();
  rec.barrier();

  std::atomic<bool> go{false}, stop{false};
  std::atomic<unsigned> ready{0};
  std::vector<thread_count> counts(o.writers + o.readers);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < o.writers + o.readers; ++i) {
    threads.emplace_back([&, i] {
      const bool writer = i < o.writers;
      urcu_memb_register_thread();
      bench::mark_producer_thread();
      thread_count& c = counts[i];
      rng r{0x9e3779b97f4a7c15ULL * (i + 1)};
      ready.fetch_add(1, std::memory_order_release);  // pairs with the main thread's acquire
      go.wait(false, std::memory_order_acquire);      // pairs with the release store of go
      const std::uint64_t cpu_start = thread_cpu_ns();
      std::uint64_t ops = 0, unlinked = 0, sink = 0;
      // relaxed: a stop request; the counts are handed over by join().
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t k = r.next() % o.keys;
        const std::uint64_t h = hash_key(k);
        if (!writer) {
          cds_lfht_iter it;
          urcu_memb_read_lock();
          cds_lfht_lookup(ht, h, match_key, &k, &it);
          if (cds_lfht_node* n = cds_lfht_iter_get_node(&it))
            sink += caa_container_of(n, node, ht)->value;
          urcu_memb_read_unlock();
          ++ops;
          continue;
        }
        node* gone = nullptr;
        if (o.op == op_kind::replace) {
          auto* n = static_cast<node*>(std::malloc(sizeof(node)));
          cds_lfht_node_init(&n->ht);
          n->key = k;
          n->value = ops;
          urcu_memb_read_lock();
          cds_lfht_node* old = cds_lfht_add_replace(ht, h, match_key, &k, &n->ht);
          urcu_memb_read_unlock();
          if (old != nullptr) gone = caa_container_of(old, node, ht);
        } else {
          cds_lfht_iter it;
          urcu_memb_read_lock();
          cds_lfht_lookup(ht, h, match_key, &k, &it);
          if (cds_lfht_node* old = cds_lfht_iter_get_node(&it)) {
            if (cds_lfht_del(ht, old) == 0) gone = caa_container_of(old, node, ht);
          } else {
            auto* n = static_cast<node*>(std::malloc(sizeof(node)));
            cds_lfht_node_init(&n->ht);
            n->key = k;
            n->value = ops;
            if (cds_lfht_add_unique(ht, h, match_key, &k, &n->ht) != &n->ht)
              std::free(n);  // another writer added it first: never published
          }
          urcu_memb_read_unlock();
        }
        if (gone != nullptr) {
          rec.retire(gone);
          ++unlinked;
        }
        ++ops;
      }
      c.cpu_ns = thread_cpu_ns() - cpu_start;
      c.ops = ops;
      c.unlinked = unlinked;
      if (sink == 1) std::fputc(' ', stderr);  // keeps the readers' loads
      urcu_memb_unregister_thread();
    });
  }
  // acquire: pairs with the threads' release increments (their registration is done).
  for (unsigned n; (n = ready.load(std::memory_order_acquire)) != threads.size();)
    std::this_thread::yield();

  std::atomic<bool> sampler_stop{false};
  std::uint64_t peak = 0;  // written by the sampler, read after join
  const auto cpu0 = bench::task_runtimes_ns();
  const std::uint64_t rusage0 = bench::process_cpu_ns();
  const std::uint64_t gp0 = bench::grace_periods_total();
  std::atomic<int> sampler_tid{0};
  std::thread sampler([&] {
    sampler_tid.store(bench::this_tid(), std::memory_order_relaxed);  // relaxed: an id
    // relaxed: a stop request; `peak` is handed over by join().
    while (!sampler_stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      peak = std::max(peak, rec.pending());
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);  // pairs with the threads' acquire wait
  go.notify_all();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t rusage1 = bench::process_cpu_ns();
  const auto cpu1 = bench::task_runtimes_ns();
  sampler_stop.store(true, std::memory_order_relaxed);  // relaxed: see the sampler
  sampler.join();
  const std::uint64_t gps = bench::grace_periods_total() - gp0;
  const auto b0 = std::chrono::steady_clock::now();
  rec.barrier();
  const double barrier_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b0).count();

  // CPU per write: writers and readers from their own thread clocks; every other thread but the
  // main one and the sampler (the reclaim workers, liburcu's or rcufree's, and the default engine's
  // worker) from schedstat. The writers and readers have exited by the second reading.
  std::uint64_t writes = 0, reads = 0, unlinked = 0;
  double cpu_writers = 0, cpu_readers = 0, cpu_other = 0;
  for (unsigned i = 0; i < counts.size(); ++i) {
    (i < o.writers ? writes : reads) += counts[i].ops;
    (i < o.writers ? cpu_writers : cpu_readers) += static_cast<double>(counts[i].cpu_ns);
    unlinked += counts[i].unlinked;
  }
  const int me = bench::this_tid();
  const int st = sampler_tid.load(std::memory_order_relaxed);  // relaxed: joined
  cpu_other = static_cast<double>(
      bench::growth_since(cpu0, cpu1, [&](int tid) { return tid == me || tid == st; }));
  const std::uint64_t freed = rec.freed();
  const double w = static_cast<double>(std::max<std::uint64_t>(writes, 1));
  record r;
  r.emplace_back("mech", o.mech);
  bench::put(r, "writers", o.writers);
  bench::put(r, "readers", o.readers);
  r.emplace_back("alloc", bench::allocator_in_use());
  r.emplace_back("seconds", std::to_string(secs));
  bench::put(r, "writes", writes);
  bench::put(r, "reads", reads);
  bench::put(r, "objects", unlinked);  // objects handed to the mechanism in the window
  r.emplace_back("writes_s", std::to_string(static_cast<double>(writes) / secs));
  r.emplace_back("reads_s", std::to_string(static_cast<double>(reads) / secs));
  r.emplace_back("cpu_rusage_ns_write", std::to_string(static_cast<double>(rusage1 - rusage0) / w));
  r.emplace_back("cpu_writers_ns_write", std::to_string(cpu_writers / w));
  r.emplace_back("cpu_readers_ns_write", std::to_string(cpu_readers / w));
  r.emplace_back("cpu_other_ns_write", std::to_string(cpu_other / w));
  bench::put(r, "gp", gps);
  bench::put(r, "peak_pending", peak);
  bench::put(r, "rss_peak_kib", bench::rss_peak_kib());
  r.emplace_back("barrier_ms", std::to_string(barrier_ms));
  bench::put(r, "freed", freed);
  rec.report(r);
  const bool ok = freed == unlinked;
  r.emplace_back("ok", ok ? "1" : "0");
  std::printf("RESULT %s\n", bench::format_record(r).c_str());
  std::fflush(stdout);
  if (!ok)
    std::fprintf(stderr, "lfht: %s freed %llu of %llu unlinked nodes\n", o.mech.c_str(),
                 static_cast<unsigned long long>(freed), static_cast<unsigned long long>(unlinked));
  urcu_memb_unregister_thread();
  return ok ? 0 : 3;
}

struct parent_options {
  std::vector<std::string> mechs{"rcufree", "rcufree_c", "call_rcu"};
  std::vector<unsigned> writers{1, 2};
  std::vector<std::string> allocs{"glibc"};
  unsigned rounds = 5;
  std::string out;
};

using bench::column;
using bench::num;
using bench::paired;
using bench::split;
using bench::spread;

// Per round, the share of objects that took the fallback list (rounds without the field skipped).
std::vector<double> fallback_shares(const std::vector<record>& rs) {
  std::vector<double> fb;
  for (const auto& r : rs)
    if (bench::find_field(r, "fallbacks") != nullptr)
      fb.push_back(100.0 * num(r, "fallbacks") / std::max(1.0, num(r, "engine_queued")));
  return fb;
}

int parent_main(const parent_options& p, const options& base) {
  for (const auto& a : p.allocs) {
    if (bench::allocator_library(a) == nullptr) {
      std::fprintf(stderr, "allocator %s: unknown or not installed\n", a.c_str());
      return 2;
    }
  }
  if (!p.out.empty()) mkdir(p.out.c_str(), 0755);
  FILE* raw = p.out.empty() ? nullptr : std::fopen((p.out + "/lfht_raw.txt").c_str(), "w");
  // results[alloc][writers][mech] = one record per round
  std::map<std::string, std::map<unsigned, std::map<std::string, std::vector<record>>>> res;
  int failures = 0;
  for (unsigned round = 1; round <= p.rounds; ++round) {
    for (const auto& alloc : p.allocs) {
      for (unsigned w : p.writers) {
        std::fprintf(stderr, "lfht round %u/%u, %s, %u writer(s)\n", round, p.rounds, alloc.c_str(),
                     w);
        for (const auto& m : p.mechs) {
          const std::vector<std::string> args{"rcufree_lfht",
                                              "--child",
                                              m,
                                              "--writers",
                                              std::to_string(w),
                                              "--readers",
                                              std::to_string(base.readers),
                                              "--seconds",
                                              std::to_string(base.seconds),
                                              "--keys",
                                              std::to_string(base.keys),
                                              "--op",
                                              base.op == op_kind::replace ? "replace" : "deladd",
                                              "--alloc",
                                              alloc};
          record r;
          const char* lib = bench::allocator_library(alloc);
          const int st = bench::spawn_self(args, lib != nullptr ? lib : "", r);
          const std::string* ok = bench::find_field(r, "ok");
          if (st != 0 || ok == nullptr || *ok != "1") {
            std::fprintf(stderr, "FAILED: %s writers=%u alloc=%s exit=%d\n", m.c_str(), w,
                         alloc.c_str(), st);
            ++failures;
            continue;
          }
          if (raw) std::fprintf(raw, "%s\n", bench::format_record(r).c_str());
          res[alloc][w][m].push_back(std::move(r));
        }
      }
    }
  }
  if (raw) std::fclose(raw);
  std::string text;
  auto line = [&](const std::string& l) { text += l + "\n"; };
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "cds_lfht, %llu keys, op %s, %u reader(s), %.1f s per run, %u interleaved rounds; "
                "median (min-max) over rounds; ratios pair runs of the same round",
                static_cast<unsigned long long>(base.keys),
                base.op == op_kind::replace ? "replace" : "deladd", base.readers, base.seconds,
                p.rounds);
  line(buf);
  for (const auto& alloc : p.allocs) {
    for (unsigned w : p.writers) {
      auto& row = res[alloc][w];
      std::snprintf(buf, sizeof buf, "\n### %s, %u writer%s\n", alloc.c_str(), w, w > 1 ? "s" : "");
      line(buf);
      line(
          "| mechanism | writes/s M | this / call_rcu: writes/s | reads/s M | fallback % | peak "
          "pending | peak RSS MiB | RSS - call_rcu MiB | CPU ns/write: writers + readers + "
          "other threads | CPU ns/write (getrusage, all) | GPs | barrier ms | per-CPU reclaim "
          "threads |");
      line("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
      const auto& cr = row["call_rcu"];
      for (const auto& m : p.mechs) {
        const auto& rs = row[m];
        if (rs.empty()) continue;
        std::vector<double> ws, rd, pk, rss;
        for (const auto& r : rs) {
          ws.push_back(num(r, "writes_s") / 1e6);
          rd.push_back(num(r, "reads_s") / 1e6);
          pk.push_back(std::max(num(r, "peak_pending"), num(r, "engine_peak_pending")));
          rss.push_back(num(r, "rss_peak_kib") / 1024);
        }
        const std::vector<double> fb = fallback_shares(rs);
        const auto ratio = bench::paired_ratios(rs, cr, "writes_s");
        const auto drss = paired(rs, cr, [](const record& a, const record& b) {
          return (num(a, "rss_peak_kib") - num(b, "rss_peak_kib")) / 1024;
        });
        std::snprintf(buf, sizeof buf,
                      "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f + %.0f + %.0f | %s | %.0f | "
                      "%.1f | %s |",
                      m.c_str(), spread(ws, "%.3f").c_str(), spread(ratio, "%.2fx").c_str(),
                      spread(rd, "%.2f").c_str(), fb.empty() ? "-" : spread(fb, "%.2f").c_str(),
                      spread(pk, "%.0f").c_str(), spread(rss, "%.1f").c_str(),
                      spread(drss, "%.2f").c_str(),
                      bench::median(column(rs, "cpu_writers_ns_write")),
                      bench::median(column(rs, "cpu_readers_ns_write")),
                      bench::median(column(rs, "cpu_other_ns_write")),
                      spread(column(rs, "cpu_rusage_ns_write"), "%.0f").c_str(),
                      bench::median(column(rs, "gp")), bench::median(column(rs, "barrier_ms")),
                      bench::find_field(rs.front(), "reclaim_threads") == nullptr
                          ? "-"
                          : spread(column(rs, "reclaim_threads"), "%.0f").c_str());
        line(buf);
      }
      for (const auto& m : p.mechs) {
        const auto& rs = row[m];
        if (rs.empty() || m.rfind("rcufree", 0) != 0 || cr.empty()) continue;
        const double ratio = bench::median(bench::paired_ratios(rs, cr, "writes_s"));
        const std::vector<double> fb = fallback_shares(rs);
        std::snprintf(buf, sizeof buf,
                      "- %s: writes/s %.2fx call_rcu's (target >= 1.0x): %s; fallback %.2f %% "
                      "(target <= 5 %%): %s",
                      m.c_str(), ratio, ratio >= 1.0 ? "MET" : "NOT MET", bench::median(fb),
                      bench::median(fb) <= 5 ? "MET" : "NOT MET");
        line(buf);
      }
    }
  }
  bench::publish_report(text, p.out, "lfht.md");
  if (failures) std::fprintf(stderr, "%d run(s) FAILED\n", failures);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace lfht

int main(int argc, char** argv) {
  using namespace lfht;
  parent_options p;
  options o;
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--child") {
      child = true;
      o.mech = next();
    } else if (a == "--mechs") {
      p.mechs = split(next());
    } else if (a == "--writers") {
      p.writers.clear();
      for (const auto& w : split(next())) p.writers.push_back(static_cast<unsigned>(std::stoul(w)));
      if (!p.writers.empty()) o.writers = p.writers.front();
    } else if (a == "--readers") {
      o.readers = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--seconds") {
      o.seconds = std::stod(next());
    } else if (a == "--keys") {
      o.keys = std::stoull(next());
    } else if (a == "--op") {
      const std::string v = next();
      if (v != "replace" && v != "deladd") {
        std::fprintf(stderr, "--op replace|deladd\n");
        return 2;
      }
      o.op = v == "replace" ? op_kind::replace : op_kind::deladd;
    } else if (a == "--rounds") {
      p.rounds = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--alloc") {
      p.allocs = split(next());
      if (!p.allocs.empty()) o.alloc = p.allocs.front();
    } else if (a == "--out") {
      p.out = next();
    } else {
      std::fprintf(stderr, "unknown option %s (see the header of bench/lfht/lfht_bench.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  if (o.keys == 0 || o.writers == 0 || o.seconds <= 0) return 2;
  if (child) return child_main(o);
  return parent_main(p, o);
}
