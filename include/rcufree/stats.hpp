// SPDX-License-Identifier: MIT
// rcufree/stats.hpp — what an engine has done, for operators and tests.
//
// A snapshot sums per-CPU counters that other threads keep updating, so it is consistent enough
// for monitoring (each counter is exact and monotonic on its own; pending = queued - freed may
// lag by the few objects in flight while it is taken). Taking one never blocks the engine.
#pragma once

#include <rcufree/export.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rcufree {

struct RCUFREE_API stats {
  std::uint64_t queued = 0;               // objects handed to the engine (all entry points)
  std::uint64_t freed = 0;                // objects whose free has run
  std::uint64_t pending = 0;              // queued - freed - fork_abandoned
  std::uint64_t pages_in_use = 0;         // pointer blocks holding objects (open, closed, waiting)
  std::uint64_t pages_cached = 0;         // empty pages ready in per-CPU caches
  std::uint64_t page_allocs = 0;          // successful page allocations
  std::uint64_t page_alloc_failures = 0;  // no page had: no memory, or the page arena's lock
                                          // held by a thread that did not let go in time
  std::uint64_t fallback_objects = 0;     // objects linked through their rcu_head (no page free)
  std::uint64_t grace_periods = 0;        // grace periods the engine waited for
  std::uint64_t drains = 0;               // reclaim passes that took work

  // Operator extras (not part of the contract's fixed key list, appended in to_json).
  std::uint64_t inline_frees = 0;     // head-less objects freed inline after a grace period
  std::uint64_t caller_reclaims = 0;  // objects freed by sleepable callers for themselves
  std::uint64_t blocks_expired_on_arrival = 0;  // blocks freed with no new grace period: a fork
                                                // child's inheritance, past its grace period
  std::uint64_t slot_contended = 0;        // two-argument calls that found their CPU's slot busy
  std::uint64_t refill_attempts = 0;       // page allocations tried by the reclaim threads
  std::uint64_t shrinks = 0;               // shrink() calls and pressure events acted on, once done
  std::uint64_t pressure_events = 0;       // PSI memory-pressure triggers received
  std::uint64_t pressure_watch_armed = 0;  // 1 while a PSI trigger is armed (watch_memory_pressure)
  std::uint64_t expedited_passes = 0;      // passes and looks made while pending > soft cap
  std::uint64_t oldest_pending_ms = 0;     // age of the oldest block or list still waiting
  std::uint64_t gp_last_us = 0;            // duration of the last grace period
  std::uint64_t gp_max_us = 0;             // longest grace period seen
  std::uint64_t peak_pending = 0;          // most objects pending at once (sampled by reclaim
                                           // passes and the supervisor; a floor)
  std::uint64_t reclaim_threads = 0;       // per-CPU reclaim threads started so far
  std::uint64_t reclaim_threads_realtime = 0;  // of those, how many got SCHED_FIFO
                                               // (config.realtime_reclaim)
  std::uint64_t fork_abandoned = 0;            // in a fork child: objects other parent threads were
                                               // half-way through queueing or freeing at the fork,
                                               // not freed here (the parent frees its copies)
  std::uint64_t rseq_appends = 0;  // 1 when two-argument calls append inside a restartable
                                   // sequence (x86-64 Linux with rseq; 0: a flag taken with an
                                   // atomic exchange, as under valgrind, ThreadSanitizer or
                                   // RCUFREE_NO_RSEQ=1)
  std::vector<std::uint64_t> pages_in_use_per_cpu;
  std::vector<std::uint64_t> pages_cached_per_cpu;  // each CPU's pool (<= cached_pages_per_cpu)

  // One line of JSON: {"queued":N,...}, the keys above in this order.
  std::string to_json() const;
  // The same counters as CSV (pages_in_use_per_cpu left out): a header line and a row, each
  // without a trailing newline. stats_sampler (stats_sampler.hpp) writes them periodically.
  static std::string csv_header();
  std::string to_csv_row() const;
};

}  // namespace rcufree
