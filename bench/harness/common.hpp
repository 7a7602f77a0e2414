// SPDX-License-Identifier: MIT
// common.hpp — what the harness's parent and child share: run options, the object layout,
// sharded event counters, the grace-period counter and memory readings.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

enum class mode { throughput, latency, timeline, trickle, idle };

// rcufree config overrides for one child (-1: keep the default). Set by the legacy --cfg-* flags
// (which define the "rcufree_cfg" variant) and by a mechanism spec's "@key=value+key=value" suffix,
// e.g. "rcufree@cached=0+drain_ms=1" (see parse_spec).
struct engine_overrides {
  long long cached = -1;         // cached_pages_per_cpu
  long long tick_us = -1;        // worker_tick
  long long drain_ms = -1;       // drain_interval
  long long soft_cap_kib = -1;   // pending_soft_cap_bytes / 1024
  long long assumed_bytes = -1;  // assumed_object_bytes
  long long sleepable = -1;      // sleepable_callers_reclaim (0 or 1)
  long long page_size = -1;      // page_size
  long long psi = -1;            // watch_memory_pressure (0 or 1)
  long long backoff_ms = -1;     // refill_backoff_after_shrink
  long long every = -1;          // rcufree_local: reclaim_local() every this many calls per thread
  long long shrink = -1;         // 1: the harness calls shrink() in the untimed setup
  // config::reclaim_threads: 0 = reclaim_mode::per_cpu, 1 = reclaim_mode::single (spelled
  // "reclaim=per_cpu" / "reclaim=single" in a spec). An engine without that field rejects it.
  long long reclaim = -1;
  long long rt = -1;  // realtime_reclaim (0 or 1)
  // Placement, for any mechanism (not config fields): pcpu pins producer thread t to CPU
  // (pcpu + t) mod the CPU count; wcpu pins every other thread that exists when the flood starts
  // (the engine's or liburcu's workers; not the main thread, the producers or the sampler) to CPU
  // wcpu. "rcufree@reclaim=single+pcpu=0+wcpu=0" is same-core reclaim, "...+wcpu=1" other-core.
  long long pcpu = -1;
  long long wcpu = -1;
  // call_rcu, defer_rcu: reg=0 leaves the producers and the main thread unregistered with liburcu
  // (call_rcu works from any thread; a program that also reads under RCU registers them).
  long long reg = -1;
  // Any engine config field set (placement keys and `every`/`shrink` are not config fields).
  bool config_any() const {
    return cached >= 0 || tick_us >= 0 || drain_ms >= 0 || soft_cap_kib >= 0 ||
           assumed_bytes >= 0 || sleepable >= 0 || page_size >= 0 || psi >= 0 || backoff_ms >= 0 ||
           reclaim >= 0 || rt >= 0;
  }
  bool any() const { return config_any() || every >= 0 || shrink >= 0 || pcpu >= 0 || wcpu >= 0; }
};

// "name@k=v+k=v" -> name, with the keys applied on top of `into`. Returns false (and says why on
// stderr) for an unknown key or a malformed value.
bool parse_spec(const std::string& spec, std::string& name, engine_overrides& into);

// One child run: one mechanism, one thread count, one mode.
struct run_options {
  std::string mech;
  unsigned threads = 1;
  std::size_t objects = 1'000'000;  // in total, split evenly across threads (the parent
                                    // multiplies by the thread count under --per-thread)
  std::size_t size = 64;            // bytes per object; the 16-byte head sits at offset 0
  mode how = mode::throughput;
  double tsc_hz = 0;         // ticks per second, calibrated by the parent
  std::string csv;           // timeline mode: where to write the samples
  unsigned sample_us = 100;  // timeline sampling period
  bool fence = false;        // latency mode: fence between using the object and timing the call
  bool time_make = false;    // latency mode: time malloc + the write too (make_mean_ns)
  engine_overrides cfg;      // from the --cfg-* flags: the "rcufree_cfg" variant's overrides
  std::size_t local_every = 4096;  // rcufree_local: reclaim_local() every this many calls
  // Throughput mode: a sampler thread reads the mechanism's pending count this often to report
  // its peak (0: no sampler). Timeline mode samples every sample_us instead.
  unsigned peak_sample_us = 1000;
  // Trickle mode: one object every trickle_us; before it, idle_ms with nothing queued.
  unsigned trickle_us = 1000;
  std::size_t trickle_objects = 1000;
  unsigned idle_ms = 1000;
  // Idle mode: after the warm-up flood and its barrier, wait settle_ms, then count wakeups over
  // idle_ms.
  unsigned settle_ms = 1000;
  // The allocator the parent preloaded (glibc: none); the child checks that it is mapped.
  std::string alloc = "glibc";
};

// Objects are malloc(size) blocks whose first 16 bytes hold the reclaim link (liburcu's
// rcu_head, or ck_epoch_entry_t): every list-based mechanism walks the object's first line.
struct object_header {
  void* link[2];
};

// Per-thread event counters without shared hot cache lines: each thread claims its own line and
// is that line's only writer.
class sharded_counter {
 public:
  static constexpr std::size_t kShards = 64;
  void add(std::uint64_t n) noexcept;
  std::uint64_t sum() const noexcept;

 private:
  struct alignas(64) shard {
    std::atomic<std::uint64_t> v{0};
  };
  shard shards_[kShards];
};

// This thread's shard index (claimed on first use; aborts past kShards threads).
unsigned shard_index() noexcept;

// Grace periods: every urcu_memb_synchronize_rcu() in the process (the harness interposes the
// symbol: liburcu's call_rcu/defer_rcu workers, rcufree's flavor table and the array baseline all
// reach it through the PLT), and those run on a producer thread (caller stalls).
std::uint64_t grace_periods_total() noexcept;
std::uint64_t grace_periods_on_callers() noexcept;
void mark_producer_thread() noexcept;
// Summed over those calls: the time spent inside them and the CPU time of the waiting threads.
std::uint64_t grace_period_wall_ns() noexcept;
std::uint64_t grace_period_cpu_ns() noexcept;
void resolve_synchronize_rcu();  // call once in main before any thread starts

// Memory: resident set now (from /proc/self/statm) and the high-water mark (VmHWM), in KiB.
std::uint64_t rss_now_kib();
std::uint64_t rss_peak_kib();
// Involuntary context switches of the calling thread so far (it was preempted). Voluntary ones
// (the thread blocked, e.g. waiting for a grace period) are the mechanism's own doing.
std::uint64_t thread_preemptions() noexcept;

// CPU time each thread of this process has run so far, in ns (/proc/self/task/*/schedstat),
// as (tid, ns) pairs; and the calling thread's id.
std::vector<std::pair<int, std::uint64_t>> task_runtimes_ns();
// Per-thread counters (as the task_* readers give them) summed over threads: how much each grew
// from `before` to `after` (a thread new since counts from 0), leaving out threads skip(tid) names.
template <class Skip>
std::uint64_t growth_since(const std::vector<std::pair<int, std::uint64_t>>& before,
                           const std::vector<std::pair<int, std::uint64_t>>& after, Skip skip) {
  std::uint64_t d = 0;
  for (const auto& [tid, x] : after) {
    if (skip(tid)) continue;
    std::uint64_t was = 0;
    for (const auto& [t0, x0] : before)
      if (t0 == tid) was = x0;
    d += x - std::min(x, was);
  }
  return d;
}
// Times each thread was scheduled in so far (schedstat's third field): a thread that sleeps and
// wakes up adds one per wakeup.
std::vector<std::pair<int, std::uint64_t>> task_timeslices();
int this_tid() noexcept;
// Context switches (voluntary + nonvoluntary, /proc/self/task/*/status) of every thread so far: a
// sleeping thread adds one each time it runs and goes back to sleep, so the sum over an idle window
// counts the wakeups of the process's threads.
std::vector<std::pair<int, std::uint64_t>> task_ctxt_switches();
// User + system CPU time of the whole process so far (getrusage RUSAGE_SELF), in ns.
std::uint64_t process_cpu_ns() noexcept;
// Pins the calling thread (tid 0) or thread `tid` to one CPU; false if the kernel refused.
bool pin_thread(int tid, unsigned cpu) noexcept;
// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<unsigned> allowed_cpus();

// "key=value key=value" lines between parent and child.
using record = std::vector<std::pair<std::string, std::string>>;
std::string format_record(const record& r);
record parse_record(const std::string& line);
const std::string* find_field(const record& r, const std::string& key);

// Allocators the parent can preload: glibc (none), jemalloc, mimalloc, tcmalloc (Debian 12's
// libjemalloc2, libmimalloc2.0, libtcmalloc-minimal4). The library path, "" for glibc, or nullptr
// if the name is unknown or the library is not installed.
const char* allocator_library(const std::string& name);
// Which of those allocators is mapped into this process ("glibc" if none).
std::string allocator_in_use();

// Runs `argv` (argv[0] is ignored: /proc/self/exe is executed) as a child with LD_PRELOAD set to
// `preload` (unset if empty), collects its "RESULT ..." line into `out` and returns its exit status
// (128 + signal if it was killed, -1 if it could not be started).
int spawn_self(const std::vector<std::string>& args, const std::string& preload, record& out);

// Medians and spread over rounds.
double median(std::vector<double> v);
double min_of(const std::vector<double>& v);
double max_of(const std::vector<double>& v);

// Reports over rounds of records: a field as a number (0 if absent), one field of every round,
// "median (min-max)" with printf format `f` for each number, and per-round f(a[i], b[i]) or
// a[i]/b[i] of one field (rounds pair up by index; ratios skip rounds where b's field is not
// positive).
std::vector<std::string> split(const std::string& comma_list);
double num(const record& r, const char* key);
std::vector<double> column(const std::vector<record>& rs, const char* key);
std::string spread(const std::vector<double>& v, const char* f = "%.1f");
template <class F>
std::vector<double> paired(const std::vector<record>& a, const std::vector<record>& b, F f) {
  std::vector<double> v;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) v.push_back(f(a[i], b[i]));
  return v;
}
std::vector<double> paired_ratios(const std::vector<record>& a, const std::vector<record>& b,
                                  const char* key);
// Writes `text` to stdout, and to dir/name when dir is not empty.
void publish_report(const std::string& text, const std::string& dir, const char* name);

}  // namespace bench
