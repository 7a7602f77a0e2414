// SPDX-License-Identifier: MIT
// rcufree/config.hpp — how an engine is sized and paced.
//
// Every field has a default that suits a general-purpose process; docs/TUNING.md says what each
// one trades (memory against grace periods against latency) with measured numbers.
//
//   rcufree::config cfg;
//   cfg.drain_interval = std::chrono::milliseconds(5);   // reclaim sooner, more grace periods
//   rcufree::engine eng(cfg);
//
// engine's constructor validates a config and throws std::invalid_argument naming the first bad
// field; nothing is allocated or started when it does.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <rcufree/export.hpp>

struct rcu_flavor_struct;  // liburcu's flavor table (<urcu/flavor.h>)

namespace rcufree {

// Which threads free: see config::reclaim_threads.
enum class reclaim_mode {
  per_cpu,  // a reclaim thread per CPU that has work, bound to that CPU (the default)
  single,   // one thread frees for every CPU
};

struct RCUFREE_API config {
  // The liburcu flavor whose grace periods objects wait for. nullptr: urcu-memb
  // (&urcu_memb_flavor). Readers must use the same flavor's rcu_read_lock/rcu_read_unlock.
  const rcu_flavor_struct* flavor = nullptr;

  // Bytes in one pointer block ("page"): a power of two from 256 to 16 MiB. One 4096-byte page
  // holds (4096 - 40) / 8 = 507 pointers (a 40-byte header, then the pointers).
  std::size_t page_size = 4096;

  // The most empty pages one CPU may keep ready for the two-argument form (the hard per-CPU bound
  // of promise 7). How many it actually keeps follows its demand: a quiet CPU keeps
  // min(5, this) like the kernel; a CPU whose pages ran out between two reclaim passes keeps
  // twice what it used, up to this bound; unused pages are halved away each quiet second. The
  // bound covers one scheduler time slice of a flood (about 0.75-3 ms at 20-40 M objects/s is
  // 30-120 pages: see docs/TUNING.md). At most 65535; 0 is allowed: every object then takes the
  // fallback list (slower reclaim, same guarantees).
  std::size_t cached_pages_per_cpu = 128;

  // Longest time a partly filled block, or a CPU's fallback list, waits before its reclaim thread
  // takes it and starts its grace period. Also how long the reclaim threads wait before they try
  // again after a page allocation failed. From 1 ms to 24 hours. Full blocks never wait for this,
  // nor does a fallback list once it holds a page's worth of objects (the flood rule).
  std::chrono::milliseconds drain_interval{20};

  // How often the reclaim threads look for work while they find some (atomic callers cannot wake
  // them: that would be a system call); a CPU thread whose page pool ran dry, or that frees at a
  // flood's rate (8,000 objects per ms or more), looks every 100 us (or every tick, if shorter).
  // Must be > 0 and <= drain_interval. With nothing pending the supervisor backs off, doubling its
  // sleep up to min(drain_interval, 8 x worker_tick), and after a quiet second up to 125 ms: an
  // idle engine wakes about 8 times a second, and a flood that starts after a quiet second goes
  // unnoticed for up to 125 ms (its objects take the fallback list meanwhile). docs/design.md,
  // "Threads and pacing".
  std::chrono::microseconds worker_tick{1000};

  // Who frees. per_cpu: each CPU's objects are freed by a thread bound to that CPU, started the
  // first time that CPU has work, so frees hit the caches of the core that queued them (with
  // glibc's malloc a free on another core costs several times a same-core free) and, in a flood,
  // the reclaim thread shares the producer's core. single: one thread frees for every CPU (fewer
  // threads; slower when producers are busy). docs/PERFORMANCE.md has both measured.
  reclaim_mode reclaim_threads = reclaim_mode::per_cpu;

  // Past this much pending memory the reclaim threads drain without waiting for blocks to age,
  // and sleepable callers help them. Must be > 0. rcufree cannot see object sizes, so pending
  // memory is estimated as pending objects x assumed_object_bytes.
  std::size_t pending_soft_cap_bytes = std::size_t{8} << 20;
  std::size_t assumed_object_bytes = 64;

  // Opt-in (default off): the head-less forms, which are known to run in a sleepable context, free
  // their own CPU's blocks whose grace period has already ended, before queueing. Frees then run on
  // the thread that allocated the objects, which glibc's malloc serves much faster. The
  // two-argument forms never free on the caller, whatever this says.
  bool sleepable_callers_reclaim = false;

  // Opt-in (default off): each per-CPU reclaim thread asks for real-time priority (SCHED_FIFO,
  // priority 1). A fair-class reclaim thread that shares its core with a producer that never
  // sleeps sometimes runs past its time slice and then waits a whole scheduler tick while the
  // producer fills memory; a real-time one never waits behind it. In the million-object flood on
  // a 2-core machine it cut peak pending objects 4-6x and RSS over free() to 2.0-2.3 MiB, at the
  // same CPU per object (docs/PERFORMANCE.md). It needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at
  // least 1; where refused, the engine says so once on stderr and the threads stay in the normal
  // class (stats.reclaim_threads_realtime counts those that got it). A real-time thread keeps its
  // CPU until it sleeps: each pass frees what that CPU queued, then the thread sleeps 100 us or
  // more; other threads of that CPU wait meanwhile.
  bool realtime_reclaim = false;

  // Memory pressure. watch_memory_pressure starts a thread that listens to Linux PSI (the cgroup
  // v2 memory.pressure trigger of this process's cgroup, else /proc/pressure/memory) and, when
  // tasks stall on memory for 15% of a window (150 ms in 1 s; 300 ms in 2 s for processes
  // without CAP_SYS_RESOURCE), does what shrink() does. Where PSI is not
  // available it says so once on stderr and carries on without it. Off by default.
  bool watch_memory_pressure = false;
  // After a shrink (by shrink() or a pressure event) no thread refills page pools for
  // this long, so that it does not fight reclaim (the kernel waits 5 s). Atomic callers use the
  // fallback list meanwhile. From 0 to 24 hours.
  std::chrono::milliseconds refill_backoff_after_shrink{5000};

  // Page allocator for pointer blocks, called only from sleepable contexts (the reclaim threads,
  // the head-less forms, reserve_pages). Empty: the engine's own page arena (2 MiB chunks mapped
  // apart from the program's heap) for pages up to 64 KiB, aligned_alloc(page_size, page_size)
  // for larger ones. May return nullptr: rcufree then uses the fallback list (two-argument form)
  // or waits for a grace period (head-less form).
  std::function<void*(std::size_t)> allocate_page;
  // Gives back a page that allocate_page returned. Empty: the arena's or std::free. Both or neither
  // must be set.
  std::function<void(void*, std::size_t)> release_page;

  // How this engine frees what kfree_rcu and kvfree_rcu_mightsleep hand it (the kernel's
  // kfree_bulk): called with whole runs of objects, up to a page's worth (506 in 4 KiB) at once,
  // or one at a time for objects that took the fallback list or were freed inline. Empty:
  // std::free each. Set it when those objects come from a pool or an allocator of your own; it
  // runs on the reclaim threads (or a reclaim_local() caller) and must not throw.
  std::function<void(void* const* objects, std::size_t n)> free_bulk;

  // Throws std::invalid_argument naming the first field that is out of range.
  void validate() const;
};

}  // namespace rcufree
