// SPDX-License-Identifier: MIT
// main.cpp — rcufree_harness: the end-to-end flood in the style of the kernel's rcuscale kfree
// test, rcufree against every peer in one invocation.
//
//   rcufree_harness [--threads 1,2] [--objects 1000000] [--size 64] [--rounds 5]
//                   [--mechs floor,rcufree,...] [--alloc glibc,jemalloc,mimalloc,tcmalloc]
//                   [--no-latency] [--timeline] [--out DIR]
//                   [--smoke] [--fence] [--local-every N] [--peak-sample-us N]
//                   [--cfg-cached N] [--cfg-tick-us N] [--cfg-drain-ms N] [--cfg-soft-cap-kib N]
//   rcufree_harness --trickle [--mechs rcufree,rcufree@drain_ms=1,...] [--trickle-us 1000]
//                   [--trickle-objects 1000] [--idle-ms 1000] [--rounds N] [--out DIR]
//   rcufree_harness --idle [--mechs rcufree,rcufree_c,call_rcu] [--objects N] [--settle-ms 1000]
//                   [--idle-ms 5000] [--rounds N] [--out DIR]
//
// A mechanism is a name (floor rcufree rcufree_c rcufree_ms rcufree_local call_rcu defer_rcu
// ck_epoch array512; rcufree_delete and call_rcu_percpu on request; rcufree_cfg when a --cfg-* flag
// is given) optionally followed by overrides: "rcufree@cached=0+drain_ms=1". Config keys, for the
// rcufree ones built on their own engine: cached tick_us drain_ms soft_cap_kib assumed_bytes
// sleepable page_size psi backoff_ms reclaim=per_cpu|single (config fields; reclaim fails on an
// engine without config::reclaim_threads), every (rcufree_local's reclaim_local() period, default
// --local-every 4096) and shrink=1 (shrink() just before the flood, untimed). Placement keys, for
// any mechanism: pcpu=N pins producer t to CPU N+t, wcpu=N pins every other thread that exists when
// the flood starts (workers) to CPU N — same-core vs other-core reclaim.
//
// rcufree_c is the seeds' test exactly: the C API (rcufree_kfree_rcu, rcufree_barrier) on the
// process-wide default engine, default config.
//
// --alloc runs every child under LD_PRELOAD of each allocator in turn (Debian 12's libjemalloc2,
// libmimalloc2.0, libtcmalloc-minimal4; the child checks the library is mapped), interleaved within
// each round; a summary per allocator.
//
// --trickle runs the drain interval's workload instead of the flood: one object every trickle_us
// on one thread, after an idle phase (see run_trickle in child.cpp). Mechanism "idle_cv" there is
// a baseline: a bare 8 ms condition-variable wait loop, idle phase only.
//
// --idle measures an idle engine's wakeups (issue 9): a warm-up flood of --objects from one
// producer pinned to each CPU, the barrier, --settle-ms with nothing queued, then the context
// switches of every thread but main over --idle-ms (see run_idle in child.cpp).
//
// The parent runs every (round, allocator, threads, mechanism) in a fresh child process (fork +
// exec of itself with --child), interleaved: round 1 runs A B C ..., round 2 again A B C ..., so
// that the drift of this machine's unequal cores hits every mechanism alike. It prints medians with
// min-max over rounds and, per round, ratios (call_rcu / this, this / rcufree), then checks the
// targets of issues 4 and 9. Exit status: non-zero if any child failed or lost or double-freed an
// object (the smoke test relies on this).
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "child.hpp"
#include "latency.hpp"
#include "mechanisms.hpp"

namespace bench {
namespace {

struct parent_options {
  std::vector<unsigned> threads{1, 2};
  std::vector<std::string> mechs;
  unsigned rounds = 5;
  bool latency = true;
  bool timeline = false;
  bool smoke = false;
  bool trickle = false;
  bool idle = false;
  bool per_thread = false;  // --per-thread: --objects is per producer thread, not in total
  std::vector<std::string> allocs{"glibc"};
  std::string out;
};

double tsc_hz() {  // TSC ticks per second against CLOCK_MONOTONIC over 50 ms
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = ticks();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
  }
  const std::uint64_t c1 = ticks();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(c1 - c0) / s;
}

const char* mode_name(mode m) {
  switch (m) {
    case mode::throughput:
      return "tput";
    case mode::latency:
      return "lat";
    case mode::timeline:
      return "timeline";
    case mode::trickle:
      return "trickle";
    case mode::idle:
      return "idle";
  }
  return "?";
}

// Runs one child (under o.alloc's LD_PRELOAD); returns its exit status and its RESULT record.
int spawn(const run_options& o, record& out) {
  std::vector<std::string> a{"rcufree_harness",
                             "--child",
                             o.mech,
                             "--mode",
                             mode_name(o.how),
                             "--threads",
                             std::to_string(o.threads),
                             "--objects",
                             std::to_string(o.objects),
                             "--size",
                             std::to_string(o.size),
                             "--tsc-hz",
                             std::to_string(o.tsc_hz),
                             "--sample-us",
                             std::to_string(o.sample_us),
                             "--cfg-cached",
                             std::to_string(o.cfg.cached),
                             "--cfg-tick-us",
                             std::to_string(o.cfg.tick_us),
                             "--cfg-drain-ms",
                             std::to_string(o.cfg.drain_ms),
                             "--cfg-soft-cap-kib",
                             std::to_string(o.cfg.soft_cap_kib),
                             "--local-every",
                             std::to_string(o.local_every),
                             "--peak-sample-us",
                             std::to_string(o.peak_sample_us),
                             "--trickle-us",
                             std::to_string(o.trickle_us),
                             "--trickle-objects",
                             std::to_string(o.trickle_objects),
                             "--idle-ms",
                             std::to_string(o.idle_ms),
                             "--settle-ms",
                             std::to_string(o.settle_ms),
                             "--alloc",
                             o.alloc};
  if (!o.csv.empty()) a.insert(a.end(), {"--csv", o.csv});
  if (o.fence) a.emplace_back("--fence");
  if (o.time_make) a.emplace_back("--time-make");
  const char* lib = allocator_library(o.alloc);
  return spawn_self(a, lib != nullptr ? lib : "", out);
}

// results[threads][mech] = one record per round
using table = std::map<unsigned, std::map<std::string, std::vector<record>>>;

// Their median.
double paired_ratio(const std::vector<record>& a, const std::vector<record>& b, const char* key) {
  return median(paired_ratios(a, b, key));
}

// The per-round peak of pending objects: the larger of the harness's sampler (every
// peak_sample_us) and the engine's own high-water mark where the engine keeps one. Rounds with
// neither (a sampler that a loaded machine never let run, a mechanism without a count) are left
// out; the raw records keep them.
std::vector<double> peak_pending(const std::vector<record>& rs) {
  std::vector<double> v;
  for (const auto& r : rs)
    if (find_field(r, "peak_pending") != nullptr || find_field(r, "engine_peak_pending") != nullptr)
      v.push_back(std::max(num(r, "peak_pending"), num(r, "engine_peak_pending")));
  return v;
}

// Per-round share of `key` in percent of the objects.
std::vector<double> percent(const std::vector<record>& rs, const char* key) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(100.0 * num(r, key) / num(r, "objects"));
  return v;
}

struct report {
  std::string text;
  void line(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text += buf;
    text += '\n';
  }
};

// Median over rounds of (this mechanism's ns/op) / (the fastest peer's ns/op in the same round).
double vs_fastest_peer(table::mapped_type& row, const std::string& mech) {
  std::vector<double> v;
  const auto& ms = row[mech];
  for (std::size_t i = 0; i < ms.size(); ++i) {
    double best = 0;
    for (const char* peer : {"call_rcu", "defer_rcu", "ck_epoch", "array512"})
      if (i < row[peer].size() && (best == 0 || num(row[peer][i], "ns_op") < best))
        best = num(row[peer][i], "ns_op");
    if (best > 0) v.push_back(num(ms[i], "ns_op") / best);
  }
  return median(v);
}

// Best round against best round: min ns/op of `a` / min ns/op of `b`. Foreign load only ever adds
// time, so the fastest rounds are the least disturbed; a cross-check on the paired median.
double best_ratio(const std::vector<record>& a, const std::vector<record>& b) {
  if (a.empty() || b.empty()) return 0;
  const auto x = column(a, "ns_op"), y = column(b, "ns_op");
  return *std::min_element(x.begin(), x.end()) / *std::min_element(y.begin(), y.end());
}

// The rounds of the reference mechanism `name` ("floor", "call_rcu"): that mechanism if it ran,
// else the first spec of it with overrides that did ("floor@pcpu=0"); empty if none.
const std::vector<record>& ref(table::mapped_type& row, const std::string& name) {
  if (!row[name].empty()) return row[name];
  for (auto& [m, rs] : row)
    if (m.compare(0, name.size() + 1, name + "@") == 0 && !rs.empty()) return rs;
  return row[name];
}

// Peak RSS over the same round's floor child, MiB, per round.
std::vector<double> rss_over_floor(table::mapped_type& row, const std::string& mech) {
  std::vector<double> over;
  const auto& fl = ref(row, "floor");
  for (std::size_t i = 0; i < row[mech].size() && i < fl.size(); ++i)
    over.push_back((num(row[mech][i], "rss_peak_kib") - num(fl[i], "rss_peak_kib")) / 1024);
  return over;
}

std::string pct_or_dash(const std::vector<record>& rs, const char* key) {
  if (find_field(rs.front(), key) == nullptr) return "-";
  return spread(percent(rs, key));
}

std::string peak_or_dash(const std::vector<record>& rs) {
  const auto v = peak_pending(rs);
  return v.empty() ? "-" : spread(v, "%.0f");
}

// The flood targets of issue 9's "Done when", for every rcufree variant that uses the
// two-argument call without caller reclaim (rcufree, rcufree_c, rcufree_cfg and any of them with
// "@..." overrides, e.g. both reclaim modes), each figure as median (min-max) over rounds.
void issue9_targets(const parent_options& p, table& tput, table& lat, report& rep) {
  auto verdict = [](bool ok) { return ok ? "MET" : "NOT MET"; };
  auto two_arg = [](const std::string& m) {
    const std::string n = m.substr(0, m.find('@'));
    return n == "rcufree" || n == "rcufree_c" || n == "rcufree_cfg";
  };
  rep.line("\n### Targets of issue 9 (this run)\n");
  for (unsigned t : p.threads) {
    auto& row = tput[t];
    for (const auto& m : p.mechs) {
      if (!two_arg(m) || row[m].empty()) continue;
      const auto& rs = row[m];
      rep.line("- %u thr, %s:", t, m.c_str());
      if (const auto& cr = ref(row, "call_rcu"); !cr.empty()) {
        const auto w = paired_ratios(cr, rs, "ns_op");
        const auto c = paired_ratios(cr, rs, "cpu_rusage_ns_op");
        rep.line(
            "  - vs call_rcu, wall: %s faster (>= 4x): %s; CPU per object: call_rcu / this %s "
            "(>= 4x): %s",
            spread(w, "%.2fx").c_str(), verdict(median(w) >= 4), spread(c, "%.2fx").c_str(),
            verdict(median(c) >= 4));
      }
      if (find_field(rs.front(), "fallbacks") != nullptr) {
        const auto f = percent(rs, "fallbacks");
        rep.line("  - fallback share %s %% (<= 1 %%): %s", spread(f, "%.2f").c_str(),
                 verdict(median(f) <= 1));
      }
      if (find_field(rs.front(), "reclaim_threads") != nullptr)
        rep.line("  - per-CPU reclaim threads started: %s; page allocations %s",
                 spread(column(rs, "reclaim_threads"), "%.0f").c_str(),
                 spread(column(rs, "page_allocs"), "%.0f").c_str());
      const auto pk = peak_pending(rs);
      rep.line("  - peak pending %s over %zu of %zu rounds (<= 16,384): %s",
               spread(pk, "%.0f").c_str(), pk.size(), rs.size(), verdict(median(pk) <= 16384));
      if (!ref(row, "floor").empty()) {
        const auto o = rss_over_floor(row, m);
        rep.line("  - peak RSS over inline free() %s MiB (<= 4 at 2 threads): %s",
                 spread(o, "%.2f").c_str(), t == 2 ? verdict(median(o) <= 4) : "(1 thread: info)");
      }
      if (p.latency && !lat[t][m].empty()) {
        const auto p50 = column(lat[t][m], "p50_ns"), p999 = column(lat[t][m], "p999_ns");
        rep.line(
            "  - call latency, timer included: p50 %s ns (<= 15): %s; p99.9 %s ns (<= 100): %s",
            spread(p50, "%.0f").c_str(), verdict(median(p50) <= 15), spread(p999, "%.0f").c_str(),
            verdict(median(p999) <= 100));
      }
    }
  }
}

// Per round a[i] - b[i] of one field (rounds pair up by index).
std::vector<double> paired_diffs(const std::vector<record>& a, const std::vector<record>& b,
                                 const char* key) {
  return paired(a, b,
                [key](const record& x, const record& y) { return num(x, key) - num(y, key); });
}

// Issue 21's yardstick: every mechanism as cost over the floor (the same round's inline free(),
// wall and CPU per object) and as a ratio to the same round's ck_epoch, medians (min-max) over the
// rounds. call_rcu is one row among the others.
void yardstick(const parent_options& p, const run_options& base, table& tput, report& rep) {
  for (unsigned t : p.threads) {
    auto& row = tput[t];
    const auto& fl = ref(row, "floor");
    const auto& ck = ref(row, "ck_epoch");
    const std::size_t total = p.per_thread ? base.objects * t : base.objects;
    rep.line(
        "\n### %u thread%s: yardstick (N = %zu objects in total, %zu per thread; median (min-max) "
        "of %u interleaved rounds, fresh process each)\n",
        t, t > 1 ? "s" : "", total, total / t, p.rounds);
    rep.line(
        "| mechanism | wall ns/op | over floor, wall | CPU ns/object | over floor, CPU | / "
        "ck_epoch, wall | / ck_epoch, CPU | (over floor) / (ck_epoch over floor), CPU | peak RSS "
        "over floor MiB | fallback %% |");
    rep.line("|---|---|---|---|---|---|---|---|---|---|");
    for (const auto& m : p.mechs) {
      const auto& rs = row[m];
      if (rs.empty()) continue;
      const char* w = "ns_op";
      const char* c = "cpu_rusage_ns_op";
      auto or_dash = [](bool have, const std::vector<double>& v, const char* f) {
        return have ? spread(v, f) : std::string("-");
      };
      // CPU cost over the floor relative to ck_epoch's cost over the floor, per round.
      std::vector<double> rel;
      for (std::size_t i = 0; i < rs.size() && i < fl.size() && i < ck.size(); ++i) {
        const double ck_over = num(ck[i], c) - num(fl[i], c);
        if (ck_over > 0) rel.push_back((num(rs[i], c) - num(fl[i], c)) / ck_over);
      }
      const auto over = rss_over_floor(row, m);
      rep.line("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", m.c_str(),
               spread(column(rs, w)).c_str(),
               or_dash(!fl.empty(), paired_diffs(rs, fl, w), "%+.1f").c_str(),
               spread(column(rs, c)).c_str(),
               or_dash(!fl.empty(), paired_diffs(rs, fl, c), "%+.1f").c_str(),
               or_dash(!ck.empty(), paired_ratios(rs, ck, w), "%.2fx").c_str(),
               or_dash(!ck.empty(), paired_ratios(rs, ck, c), "%.2fx").c_str(),
               or_dash(!rel.empty(), rel, "%.2fx").c_str(),
               over.empty() ? "-" : spread(over, "%.2f").c_str(),
               pct_or_dash(rs, "fallbacks").c_str());
    }
    // The same rounds under the other windows another harness might time (two-harness question).
    rep.line(
        "\n%u thread%s, the same children timed three ways (wall ns/op; CPU ns/object for the "
        "outer window): flood = go to the last producer done (no barrier); ours = go to the end of "
        "the final barrier; outer = before set-up (mechanism, thread creation, registration) to "
        "after unregistration and join. GP = time inside synchronize_rcu per object (wall / CPU)\n",
        t, t > 1 ? "s" : "");
    rep.line(
        "| mechanism | flood | ours | outer | outer CPU | CPU: producers + main + others | GP "
        "wall / CPU |");
    rep.line("|---|---|---|---|---|---|---|");
    for (const auto& m : p.mechs) {
      const auto& rs = row[m];
      if (rs.empty()) continue;
      rep.line("| %s | %s | %s | %s | %s | %.1f + %.1f + %.1f | %.2f / %.2f |", m.c_str(),
               spread(column(rs, "flood_ns_op")).c_str(), spread(column(rs, "ns_op")).c_str(),
               spread(column(rs, "outer_ns_op")).c_str(),
               spread(column(rs, "cpu_outer_ns_op")).c_str(),
               median(column(rs, "cpu_producers_ns_op")), median(column(rs, "cpu_main_ns_op")),
               median(column(rs, "cpu_workers_ns_op")), median(column(rs, "gp_wall_ns_op")),
               median(column(rs, "gp_cpu_ns_op")));
    }
  }
}

void summarize(const parent_options& p, const run_options& base, table& tput, table& lat,
               report& rep) {
  yardstick(p, base, tput, rep);
  rep.line(
      "objects=%zu size=%zu rounds=%u tsc=%.3f GHz; ns/op = wall x threads / objects "
      "(per-thread time per op); ratio = peer / rcufree, median of per-round ratios",
      base.objects, base.size, p.rounds, base.tsc_hz / 1e9);
  for (unsigned t : p.threads) {
    auto& row = tput[t];
    rep.line("\n### %u thread%s: throughput (median of %u interleaved rounds)\n", t,
             t > 1 ? "s" : "", p.rounds);
    rep.line(
        "| mechanism | ns/op (min-max) | call_rcu / this: wall | vs rcufree | CPU ns/object, "
        "getrusage (min-max) | call_rcu / this: CPU | CPU ns/op: callers + workers | GPs | GPs on "
        "caller | peak RSS over floor MiB (min-max) | peak pending (min-max) | fallback %% "
        "(min-max) | freed on caller %% |");
    rep.line("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const auto& m : p.mechs) {
      const auto& rs = row[m];
      if (rs.empty()) continue;
      const auto over = rss_over_floor(row, m);
      const bool have_rcufree = !row["rcufree"].empty();
      const auto& cr = ref(row, "call_rcu");
      const bool have_call_rcu = !cr.empty();
      rep.line(
          "| %s | %s | %s | %s | %s | %s | %.1f + %.1f | %.0f | %.0f | %s | %s | %s | %s |",
          m.c_str(), spread(column(rs, "ns_op")).c_str(),
          have_call_rcu ? spread(paired_ratios(cr, rs, "ns_op"), "%.2fx").c_str() : "-",
          have_rcufree ? spread(paired_ratios(rs, row["rcufree"], "ns_op"), "%.2fx").c_str() : "-",
          spread(column(rs, "cpu_rusage_ns_op")).c_str(),
          have_call_rcu ? spread(paired_ratios(cr, rs, "cpu_rusage_ns_op"), "%.2fx").c_str() : "-",
          median(column(rs, "cpu_producers_ns_op")), median(column(rs, "cpu_workers_ns_op")),
          median(column(rs, "gp")), median(column(rs, "gp_callers")),
          over.empty() ? "-" : spread(over, "%.2f").c_str(), peak_or_dash(rs).c_str(),
          pct_or_dash(rs, "fallbacks").c_str(), pct_or_dash(rs, "caller_reclaims").c_str());
    }
    if (!p.latency) continue;
    rep.line("\n### %u thread%s: retire-call latency in ns (median over rounds)\n", t,
             t > 1 ? "s" : "");
    rep.line(
        "| mechanism | mean net of timer (calls < 0.8 us) | p50 (min-max) | p99 | p99.9 (min-max) "
        "| "
        "max | >10us per 100k | >10us not preempted per 100k | timer alone: p50 / mean | "
        "malloc + write: mean net / p99 (--time-make) | wall ns/op with the timers |");
    rep.line("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const auto& m : p.mechs) {
      const auto& rs = lat[t][m];
      if (rs.empty()) continue;
      char made[64] = "-";
      if (find_field(rs.front(), "make_mean_ns") != nullptr)
        std::snprintf(made, sizeof made, "%.1f / %.0f", median(column(rs, "make_mean_ns")),
                      median(column(rs, "make_p99_ns")));
      rep.line("| %s | %.1f | %s | %.0f | %s | %.0f | %.2f | %.2f | %.0f / %.1f | %s | %s |",
               m.c_str(), median(column(rs, "mean_ns")),
               spread(column(rs, "p50_ns"), "%.0f").c_str(), median(column(rs, "p99_ns")),
               spread(column(rs, "p999_ns"), "%.0f").c_str(), median(column(rs, "max_ns")),
               median(column(rs, "slow_per_100k")), median(column(rs, "slow_unswitched_per_100k")),
               median(column(rs, "timer_p50_ns")), median(column(rs, "timer_mean_ns")), made,
               spread(column(rs, "ns_op")).c_str());
    }
  }
  rep.line("\n### Targets of issue 4 (this run)\n");
  auto verdict = [](bool ok) { return ok ? "MET" : "NOT MET"; };
  for (unsigned t : p.threads) {
    auto& row = tput[t];
    if (!row["rcufree"].empty() && !row["call_rcu"].empty()) {
      const double r = paired_ratio(row["call_rcu"], row["rcufree"], "ns_op");
      rep.line(
          "- %u thr: default rcufree vs call_rcu: %.2fx faster (target >= 4x): %s "
          "[best round vs best round: %.2fx; CPU per object: %.2fx]",
          t, r, verdict(r >= 4), best_ratio(row["call_rcu"], row["rcufree"]),
          paired_ratio(row["call_rcu"], row["rcufree"], "cpu_total_ns_op"));
    }
    const bool have_peer = !row["call_rcu"].empty() || !row["defer_rcu"].empty() ||
                           !row["ck_epoch"].empty() || !row["array512"].empty();
    for (const char* opt : {"rcufree_ms", "rcufree_local"}) {
      if (row[opt].empty() || !have_peer) continue;
      const double r = vs_fastest_peer(row, opt);
      double best_peer = 0;
      const char* best_name = "";
      for (const char* peer : {"call_rcu", "defer_rcu", "ck_epoch", "array512"}) {
        if (row[peer].empty()) continue;
        const auto v = column(row[peer], "ns_op");
        const double b = *std::min_element(v.begin(), v.end());
        if (best_peer == 0 || b < best_peer) best_peer = b, best_name = peer;
      }
      const auto mine = column(row[opt], "ns_op");
      double cpu_peer = 0;  // the lowest median CPU per object among the peers
      for (const char* peer : {"call_rcu", "defer_rcu", "ck_epoch", "array512"}) {
        if (row[peer].empty()) continue;
        const double c = median(column(row[peer], "cpu_total_ns_op"));
        if (cpu_peer == 0 || c < cpu_peer) cpu_peer = c;
      }
      rep.line(
          "- %u thr: %s / fastest peer: %.2fx (target <= 1.0x): %s [best round vs the best "
          "peer round (%s): %.2fx; CPU per object vs the leanest peer: %.2fx]",
          t, opt, r, verdict(r <= 1.0), best_name,
          best_peer > 0 ? *std::min_element(mine.begin(), mine.end()) / best_peer : 0.0,
          cpu_peer > 0 ? median(column(row[opt], "cpu_total_ns_op")) / cpu_peer : 0.0);
    }
    if (p.latency && !lat[t]["rcufree"].empty()) {
      const auto& rs = lat[t]["rcufree"];
      const double p50 = median(column(rs, "p50_ns")), p999 = median(column(rs, "p999_ns"));
      const double slow = median(column(rs, "slow_unswitched_per_100k"));
      const double floor_slow = median(column(lat[t]["floor"], "slow_unswitched_per_100k"));
      rep.line(
          "- %u thr: rcufree call (timer included) p50 %.0f ns (<= 15): %s; p99.9 %.0f ns (<= "
          "100): %s; "
          ">10us not preempted %.2f per 100k vs floor %.2f: %s",
          t, p50, verdict(p50 <= 15), p999, verdict(p999 <= 100), slow, floor_slow,
          verdict(slow <= floor_slow));
    }
    if (t == 2 && !row["floor"].empty()) {
      for (const char* m : {"rcufree", "rcufree_ms", "rcufree_local"}) {
        if (row[m].empty()) continue;
        const double o = median(rss_over_floor(row, m));
        rep.line("- 2 thr: %s peak RSS over floor %.2f MiB (target <= 4): %s", m, o,
                 verdict(o <= 4));
      }
    }
  }
  issue9_targets(p, tput, lat, rep);
}

void summarize_trickle(const parent_options& p, const run_options& base, table& tr, report& rep) {
  rep.line(
      "trickle: one object every %u us, %zu objects, after %u ms idle; median of %u rounds. "
      "wait = queued -> freed (the object's destructor ran); wakeups = times the engine's threads "
      "were scheduled in\n",
      base.trickle_us, base.trickle_objects, base.idle_ms, p.rounds);
  rep.line(
      "| mechanism | wait p50 ms | wait p99 ms | wait max ms | GPs/s | objects per GP | wakeups/s "
      "| worker CPU us/s | peak pending | peak pages | idle: wakeups/s | idle: CPU us/s |");
  rep.line("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const auto& m : p.mechs) {
    const auto& rs = tr[1][m];
    if (rs.empty()) continue;
    rep.line("| %s | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f |",
             m.c_str(), median(column(rs, "wait_p50_ms")), median(column(rs, "wait_p99_ms")),
             median(column(rs, "wait_max_ms")), median(column(rs, "gp_s")),
             median(column(rs, "objects_per_gp")), median(column(rs, "wakeups_s")),
             median(column(rs, "worker_cpu_us_s")), median(column(rs, "peak_pending")),
             median(column(rs, "peak_pages")), median(column(rs, "idle_wakeups_s")),
             median(column(rs, "idle_cpu_us_s")));
  }
}

void summarize_idle(const parent_options& p, const run_options& base, table& idle, report& rep) {
  rep.line(
      "idle: warm-up flood of %zu objects from one producer pinned to each allowed CPU, barrier, "
      "%u ms settle, then context switches of the threads over %u ms; median (min-max) of %u "
      "rounds. Mechanism threads: those it started (rcufree_c: every thread but main, the default "
      "engine's); all: every thread but main (the default engine's idle worker included)\n",
      base.objects, base.settle_ms, base.idle_ms, p.rounds);
  rep.line(
      "| mechanism | mechanism threads | wakes/s, mechanism threads (target <= 10) | wakes/s, all "
      "threads | timeslices/s (schedstat) | CPU us/s | GPs/s |");
  rep.line("|---|---|---|---|---|---|---|");
  for (const auto& m : p.mechs) {
    const auto& rs = idle[1][m];
    if (rs.empty()) continue;
    rep.line("| %s | %s | %s | %s | %s | %s | %s |", m.c_str(),
             spread(column(rs, "mech_threads"), "%.0f").c_str(),
             spread(column(rs, "idle_wakes_s")).c_str(),
             spread(column(rs, "idle_wakes_all_s")).c_str(),
             spread(column(rs, "idle_timeslices_s")).c_str(),
             spread(column(rs, "idle_cpu_us_s")).c_str(), spread(column(rs, "idle_gp_s")).c_str());
  }
}

int parent_main(parent_options& p, run_options base) {
  base.tsc_hz = tsc_hz();
  for (const auto& a : p.allocs) {
    if (allocator_library(a) == nullptr) {
      std::fprintf(stderr,
                   "allocator %s: unknown or not installed (glibc jemalloc mimalloc tcmalloc; "
                   "Debian: libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4)\n",
                   a.c_str());
      return 2;
    }
  }
  if (p.mechs.empty()) {
    for (const char* const* n = mechanism_names(); *n; ++n) {
      const std::string m = *n;
      if (m == "rcufree_delete" && !p.smoke) continue;
      if (m == "call_rcu_percpu") continue;  // an experiment: ask for it with --mechs
      if (m == "rcufree_cfg" && !base.cfg.any()) continue;
      if (p.trickle && m != "rcufree" && m != "rcufree_cfg") continue;
      if (p.idle && m != "rcufree" && m != "rcufree_c" && m != "call_rcu") continue;
      p.mechs.push_back(m);
    }
    // The smoke test covers both reclaim modes (per_cpu is the default).
    if (p.smoke) p.mechs.push_back("rcufree@reclaim=single");
  }
  if (!p.out.empty()) mkdir(p.out.c_str(), 0755);
  FILE* raw = p.out.empty() ? nullptr : std::fopen((p.out + "/raw.txt").c_str(), "w");
  int failures = 0;
  auto run_one = [&](run_options o, table& into) {
    record r;
    const int st = spawn(o, r);
    if (st != 0 || find_field(r, "ok") == nullptr || *find_field(r, "ok") != "1") {
      std::fprintf(stderr, "FAILED: %s threads=%u mode=%s alloc=%s exit=%d\n", o.mech.c_str(),
                   o.threads, mode_name(o.how), o.alloc.c_str(), st);
      ++failures;
      return;
    }
    if (raw) std::fprintf(raw, "%s %s\n", mode_name(o.how), format_record(r).c_str());
    into[o.threads][o.mech].push_back(std::move(r));
  };
  if (p.trickle) {
    table tr;
    for (unsigned round = 1; round <= p.rounds; ++round) {
      std::fprintf(stderr, "trickle round %u/%u\n", round, p.rounds);
      for (const auto& m : p.mechs) {
        run_options o = base;
        o.mech = m;
        o.threads = 1;
        o.how = mode::trickle;
        run_one(o, tr);
      }
    }
    if (raw) std::fclose(raw);
    report rep;
    summarize_trickle(p, base, tr, rep);
    publish_report(rep.text, p.out, "trickle.md");
    if (failures) std::fprintf(stderr, "%d run(s) FAILED\n", failures);
    return failures ? 1 : 0;
  }
  if (p.idle) {
    table idle;
    for (unsigned round = 1; round <= p.rounds; ++round) {
      std::fprintf(stderr, "idle round %u/%u\n", round, p.rounds);
      for (const auto& m : p.mechs) {
        run_options o = base;
        o.mech = m;
        o.how = mode::idle;
        run_one(o, idle);
      }
    }
    if (raw) std::fclose(raw);
    report rep;
    summarize_idle(p, base, idle, rep);
    publish_report(rep.text, p.out, "idle.md");
    if (failures) std::fprintf(stderr, "%d run(s) FAILED\n", failures);
    return failures ? 1 : 0;
  }
  // Interleaved: in each round every allocator, thread count and mechanism runs once, so that the
  // machine's drift hits them all alike. Ratios pair children of the same round and allocator.
  std::map<std::string, table> tput_by, lat_by;
  for (unsigned round = 1; round <= p.rounds; ++round) {
    for (const auto& alloc : p.allocs) {
      for (unsigned t : p.threads) {
        std::fprintf(stderr, "round %u/%u, %s, %u thread(s)\n", round, p.rounds, alloc.c_str(), t);
        for (const auto& m : p.mechs) {
          run_options o = base;
          o.mech = m;
          o.threads = t;
          o.alloc = alloc;
          if (p.per_thread) o.objects = base.objects * t;
          run_one(o, tput_by[alloc]);
        }
        if (!p.latency) continue;
        for (const auto& m : p.mechs) {
          run_options o = base;
          o.mech = m;
          o.threads = t;
          o.alloc = alloc;
          if (p.per_thread) o.objects = base.objects * t;
          o.how = mode::latency;
          run_one(o, lat_by[alloc]);
        }
      }
    }
  }
  if (p.smoke) {  // a short trickle too: every object must be freed without a barrier
    run_options o = base;
    o.mech = "rcufree";
    o.how = mode::trickle;
    o.trickle_objects = 20;
    o.trickle_us = 500;
    o.idle_ms = 20;
    table ignore;
    run_one(o, ignore);
  }
  if (p.timeline) {
    for (unsigned t : p.threads) {
      for (const char* m : {"rcufree", "rcufree_local", "call_rcu"}) {
        run_options o = base;
        o.mech = m;
        o.threads = t;
        o.how = mode::timeline;
        o.csv = (p.out.empty() ? std::string(".") : p.out) + "/timeline_" + m + "_" +
                std::to_string(t) + "t.csv";
        table ignore;
        run_one(o, ignore);
      }
    }
  }
  if (raw) std::fclose(raw);
  report rep;
  for (const auto& alloc : p.allocs) {
    if (p.allocs.size() > 1 || alloc != "glibc")
      rep.line("\n## Allocator: %s%s\n", alloc.c_str(), alloc == "glibc" ? "" : " (LD_PRELOAD)");
    summarize(p, base, tput_by[alloc], lat_by[alloc], rep);
  }
  publish_report(rep.text, p.out, "summary.md");
  if (failures) std::fprintf(stderr, "%d run(s) FAILED\n", failures);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  parent_options p;
  run_options o;
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
    auto next_num = [&] { return std::strtoull(next().c_str(), nullptr, 10); };
    auto next_int = [&] { return std::strtoll(next().c_str(), nullptr, 10); };  // -1: unset
    if (a == "--child")
      child = true, o.mech = next();
    else if (a == "--mode") {
      const std::string m = next();
      o.how = m == "lat"        ? mode::latency
              : m == "timeline" ? mode::timeline
              : m == "trickle"  ? mode::trickle
              : m == "idle"     ? mode::idle
                                : mode::throughput;
    } else if (a == "--threads") {
      p.threads.clear();
      for (const auto& t : split(next())) p.threads.push_back(static_cast<unsigned>(std::stoul(t)));
      if (!p.threads.empty()) o.threads = p.threads.front();
    } else if (a == "--objects")
      o.objects = next_num();
    else if (a == "--size")
      o.size = next_num();
    else if (a == "--rounds")
      p.rounds = static_cast<unsigned>(next_num());
    else if (a == "--mechs")
      p.mechs = split(next());
    else if (a == "--no-latency")
      p.latency = false;
    else if (a == "--fence")
      o.fence = true;
    else if (a == "--time-make")
      o.time_make = true;
    else if (a == "--per-thread")
      p.per_thread = true;
    else if (a == "--timeline")
      p.timeline = true;
    else if (a == "--out")
      p.out = next();
    else if (a == "--csv")
      o.csv = next();
    else if (a == "--tsc-hz")
      o.tsc_hz = std::strtod(next().c_str(), nullptr);
    else if (a == "--sample-us")
      o.sample_us = static_cast<unsigned>(next_num());
    else if (a == "--cfg-cached")
      o.cfg.cached = next_int();
    else if (a == "--cfg-tick-us")
      o.cfg.tick_us = next_int();
    else if (a == "--cfg-drain-ms")
      o.cfg.drain_ms = next_int();
    else if (a == "--cfg-soft-cap-kib")
      o.cfg.soft_cap_kib = next_int();
    else if (a == "--local-every")
      o.local_every = next_num();
    else if (a == "--peak-sample-us")
      o.peak_sample_us = static_cast<unsigned>(next_num());
    else if (a == "--trickle")
      p.trickle = true;
    else if (a == "--trickle-us")
      o.trickle_us = static_cast<unsigned>(next_num());
    else if (a == "--trickle-objects")
      o.trickle_objects = next_num();
    else if (a == "--idle-ms")
      o.idle_ms = static_cast<unsigned>(next_num());
    else if (a == "--settle-ms")
      o.settle_ms = static_cast<unsigned>(next_num());
    else if (a == "--idle")
      p.idle = true;
    else if (a == "--alloc") {  // parent: a list to interleave; child: the one it runs under
      p.allocs = split(next());
      if (!p.allocs.empty()) o.alloc = p.allocs.front();
    } else if (a == "--smoke") {
      p.smoke = true;
      p.rounds = 1;
      o.objects = 20'000;
    } else {
      std::fprintf(stderr, "unknown option %s (see the header of bench/harness/main.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  if (child) return child_main(o);
  return parent_main(p, o);
}
