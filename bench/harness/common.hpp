// common.hpp — what the harness's parent and child share: run options, the object layout,
// sharded event counters, the grace-period counter and memory readings.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

enum class mode { throughput, latency, timeline };

// One child run: one mechanism, one thread count, one mode.
struct run_options {
  std::string mech;
  unsigned threads = 1;
  std::size_t objects = 1'000'000;  // in total, split evenly across threads
  std::size_t size = 64;            // bytes per object; the 16-byte head sits at offset 0
  mode how = mode::throughput;
  double tsc_hz = 0;         // ticks per second, calibrated by the parent
  std::string csv;           // timeline mode: where to write the samples
  unsigned sample_us = 100;  // timeline sampling period
  bool fence = false;        // latency mode: fence between using the object and timing the call
  // Overrides for the "rcufree_cfg" variant (0: keep the default).
  std::size_t cfg_cached_pages = 0;
  unsigned cfg_tick_us = 0;
  unsigned cfg_drain_ms = 0;
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
int this_tid() noexcept;

// "key=value key=value" lines between parent and child.
using record = std::vector<std::pair<std::string, std::string>>;
std::string format_record(const record& r);
record parse_record(const std::string& line);
const std::string* find_field(const record& r, const std::string& key);

}  // namespace bench
