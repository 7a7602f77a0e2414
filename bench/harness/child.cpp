// SPDX-License-Identifier: MIT
// child.cpp — the measured flood, run once per process so that memory peaks are independent.
//
// Each producer thread allocates objects (malloc, or new for the counting variant) and retires
// them at once, objects/threads times; the main thread then runs the mechanism's final barrier.
// Timed: from releasing the producers to the end of that barrier. In latency mode every retire is
// bracketed by two TSC reads; in timeline mode a sampler thread records pending objects, pages in
// use and RSS every sample_us.
#include "child.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "latency.hpp"
#include "mechanisms.hpp"

namespace bench {
namespace {

using clock_type = std::chrono::steady_clock;

struct thread_result {
  histogram hist;                     // retire latency, ticks (latency mode)
  histogram make_hist;                // malloc + the write, ticks (latency mode, --time-make)
  histogram timer_hist;               // two back-to-back tick reads: the timer's own cost
  std::uint64_t slow = 0;             // calls over 10 us
  std::uint64_t slow_unswitched = 0;  // ... with no context switch of this thread around them
};

constexpr std::size_t kTimerSamples = 200'000;

void calibrate_timer(histogram& h) {
  for (std::size_t i = 0; i < kTimerSamples; ++i) {
    const std::uint64_t t0 = ticks();
    const std::uint64_t t1 = ticks();
    h.record(t1 - t0);
  }
}

template <class M, bool Timed>
void produce(M& m, typename M::tls& st, std::size_t n, std::size_t size, std::uint64_t slow_ticks,
             bool fence, bool time_make, thread_result& r) {
  std::uint64_t csw_base = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t m0 = 0;
    if constexpr (Timed) {
      if (time_make) m0 = ticks();
    }
    void* p = m.make(size);
    *static_cast<volatile std::uint64_t*>(p) = i;  // the object is used before it is retired
    if constexpr (Timed) {
      // --time-make: malloc and the write, as the retire below (the store's miss, if malloc
      // returned a line another core freed, may still be in flight when the timer stops).
      if (time_make) r.make_hist.record(ticks() - m0);
      // --fence: let that store (and its cache miss, if malloc returned a line another core
      // freed) complete before the timer starts; otherwise the call's first locked instruction
      // waits for it and the miss is charged to the call.
      if (fence) std::atomic_thread_fence(std::memory_order_seq_cst);
      // Preemption baseline every 1024 calls: a slow call with no involuntary context switch
      // since then was not preempted by this kernel (a hypervisor's steal stays invisible: the
      // floor's count of such calls is that noise level).
      if ((i & 1023) == 0) csw_base = thread_preemptions();
      const std::uint64_t t0 = ticks();
      m.retire(st, p);
      const std::uint64_t d = ticks() - t0;
      r.hist.record(d);
      if (d > slow_ticks) {
        ++r.slow;
        const std::uint64_t c = thread_preemptions();
        if (c == csw_base) ++r.slow_unswitched;
        csw_base = c;
      }
    } else {
      m.retire(st, p);
    }
  }
}

struct sample_row {
  double t_ms;
  std::uint64_t pending, pages, rss_kib;
};

class statm_reader {
 public:
  statm_reader() : fd_(open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) {}
  ~statm_reader() {
    if (fd_ >= 0) close(fd_);
  }
  std::uint64_t rss_kib() const {
    char buf[128] = {};
    if (fd_ < 0 || pread(fd_, buf, sizeof buf - 1, 0) <= 0) return 0;
    unsigned long size = 0, resident = 0;
    if (std::sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
    return resident * 4;  // 4 KiB pages on x86-64
  }

 private:
  int fd_;
};

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

void write_timeline(const run_options& o, const std::vector<sample_row>& rows, double flood_ms,
                    double total_ms, bool rt) {
  FILE* f = std::fopen(o.csv.c_str(), "w");
  if (f == nullptr) {
    std::perror(o.csv.c_str());
    return;
  }
  std::fprintf(f,
               "# mech=%s threads=%u objects=%zu flood_end_ms=%.3f barrier_end_ms=%.3f "
               "sampler=%s\n",
               o.mech.c_str(), o.threads, o.objects, flood_ms, total_ms,
               rt ? "SCHED_FIFO" : "SCHED_OTHER");
  std::fprintf(f, "t_ms,pending,pages_in_use,rss_kib\n");
  for (const auto& s : rows)
    std::fprintf(f, "%.3f,%llu,%llu,%llu\n", s.t_ms, static_cast<unsigned long long>(s.pending),
                 static_cast<unsigned long long>(s.pages),
                 static_cast<unsigned long long>(s.rss_kib));
  std::fclose(f);
}

// Where the CPU time of the timed section went, per object: the producers (malloc, the call, their
// own flushes), the main thread (the final barrier) and every other thread (workers: liburcu's,
// rcufree's — grace periods, walks and the frees they run). From each thread's schedstat runtime.
// The sampler thread (if any) is left out.
void cpu_split(record& r, const std::vector<std::pair<int, std::uint64_t>>& before,
               const std::vector<std::pair<int, std::uint64_t>>& after,
               const std::vector<int>& producers, int sampler_tid, std::size_t objects) {
  double prod = 0, main_thread = 0, other = 0;
  for (const auto& [tid, ns] : after) {
    if (tid == sampler_tid) continue;
    std::uint64_t was = 0;
    for (const auto& [t0, ns0] : before)
      if (t0 == tid) was = ns0;
    const double d = static_cast<double>(ns - std::min(ns, was));
    bool is_producer = false;
    for (int p : producers) is_producer |= p == tid;
    if (is_producer) {
      prod += d;
    } else if (tid == this_tid()) {
      main_thread += d;
    } else {
      other += d;
    }
  }
  const double n = static_cast<double>(objects);
  r.emplace_back("cpu_producers_ns_op", std::to_string(prod / n));
  r.emplace_back("cpu_main_ns_op", std::to_string(main_thread / n));
  r.emplace_back("cpu_workers_ns_op", std::to_string(other / n));
  r.emplace_back("cpu_total_ns_op", std::to_string((prod + main_thread + other) / n));
}

// pcpu: producer t runs on CPU (pcpu + t) mod the number of CPUs this process may use (indexing
// the allowed set), so "pcpu=0" with two producers puts one on each CPU.
void pin_producer(const run_options& o, unsigned t) {
  const std::vector<unsigned> cpus = allowed_cpus();
  if (cpus.empty()) return;
  const unsigned cpu = cpus[(static_cast<std::size_t>(o.cfg.pcpu) + t) % cpus.size()];
  if (!pin_thread(0, cpu)) std::fprintf(stderr, "bench: cannot pin a producer to CPU %u\n", cpu);
}

template <class M>
int run(const run_options& o) {
  // The outer window (another harness's "start to end"): from before the mechanism is set up
  // (call_rcu's first call starts its worker) and the producers are created and registered, to
  // after they are unregistered and joined. The reported window starts at `go` and ends with the
  // final barrier; the flood window ends when the last producer is done, before the barrier.
  const auto t_enter = clock_type::now();
  const std::uint64_t rusage_enter = process_cpu_ns();
  M m(o);
  const bool timed = o.how == mode::latency;
  const auto slow_ticks = static_cast<std::uint64_t>(o.tsc_hz * 10e-6);
  std::vector<thread_result> res(o.threads);
  std::vector<int> producer_tids(o.threads, 0);  // written before `ready`, read after join
  std::atomic<unsigned> ready{0}, done{0};
  std::atomic<bool> go{false}, timing_over{false};
  std::vector<std::thread> producers;
  for (unsigned t = 0; t < o.threads; ++t) {
    const std::size_t n = o.objects / o.threads + (t == 0 ? o.objects % o.threads : 0);
    producers.emplace_back([&, t, n] {
      mark_producer_thread();
      producer_tids[t] = this_tid();
      if (o.cfg.pcpu >= 0) pin_producer(o, t);
      typename M::tls st;
      m.thread_begin(st);
      if (timed) calibrate_timer(res[t].timer_hist);
      // release: our setup is done before the main thread reads the RSS floor; pairs with the
      // acquire load below.
      ready.fetch_add(1, std::memory_order_release);
      ready.notify_all();
      go.wait(false, std::memory_order_acquire);  // pairs with the release store of go
      if (timed) {
        produce<M, true>(m, st, n, o.size, slow_ticks, o.fence, o.time_make, res[t]);
      } else {
        produce<M, false>(m, st, n, o.size, slow_ticks, false, false, res[t]);
      }
      m.thread_end(st);
      // release: this thread's flood and flush happen before the main thread's final barrier;
      // pairs with the acquire load of done.
      done.fetch_add(1, std::memory_order_release);
      done.notify_all();
      timing_over.wait(false, std::memory_order_acquire);  // pairs with its release store
      m.thread_teardown(st);
    });
  }
  // acquire: pairs with the producers' release increments; their setup is done before the floor
  // readings below.
  for (unsigned r; (r = ready.load(std::memory_order_acquire)) != o.threads;) ready.wait(r);

  // Timeline mode: every sample_us, at real-time priority if allowed, one row per sample.
  // Throughput mode: every peak_sample_us at normal priority, only the peaks (a few microseconds of
  // one thread's time per sample). Latency mode: no sampler.
  const bool timeline = o.how == mode::timeline;
  const unsigned period_us = timeline                    ? o.sample_us
                             : o.how == mode::throughput ? o.peak_sample_us
                                                         : 0;
  std::vector<sample_row> rows;
  std::atomic<bool> stop{false};
  std::thread sampler;
  bool sampler_rt = false;  // written by the sampler, read after join
  bool sampled = false;     // likewise: the mechanism reports a pending count
  std::uint64_t peak_pending = 0, peak_pages = 0;  // likewise
  std::atomic<int> sampler_tid{0};
  const std::uint64_t rss_start = rss_now_kib();
  const std::uint64_t gp0 = grace_periods_total();
  const std::uint64_t gpc0 = grace_periods_on_callers();
  // wcpu: every thread that is not ours (the engine's or liburcu's workers, the default engine's
  // worker) goes to that CPU before the flood starts. The sampler starts later and is left alone.
  unsigned helpers_pinned = 0;
  if (o.cfg.wcpu >= 0) {
    for (const auto& [tid, ns] : task_runtimes_ns()) {
      (void)ns;
      if (tid == this_tid() ||
          std::find(producer_tids.begin(), producer_tids.end(), tid) != producer_tids.end())
        continue;
      if (!pin_thread(tid, static_cast<unsigned>(o.cfg.wcpu))) {
        std::fprintf(stderr, "bench: cannot pin thread %d to CPU %lld\n", tid, o.cfg.wcpu);
        return 2;
      }
      ++helpers_pinned;
    }
  }
  const auto cpu0 = task_runtimes_ns();
  const std::uint64_t rusage0 = process_cpu_ns();
  const std::uint64_t gpw0 = grace_period_wall_ns(), gpc_cpu0 = grace_period_cpu_ns();
  const auto t0 = clock_type::now();
  if (period_us != 0) {
    if (timeline) rows.reserve(1'000'000);
    sampler = std::thread([&] {
      // relaxed: only an id, read for the CPU split after the flood (a sampler that has not
      // started by then has no CPU time to leave out).
      sampler_tid.store(this_tid(), std::memory_order_relaxed);
      // Real-time priority if allowed (root or CAP_SYS_NICE), so that samples keep their period
      // while producers and workers fill both cores; otherwise gaps show in the CSV.
      if (timeline) {
        sched_param sp{};
        sp.sched_priority = 1;
        sampler_rt = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
      }
      statm_reader statm;
      timespec next{};
      clock_gettime(CLOCK_MONOTONIC, &next);
      // relaxed: a stop request; the rows and peaks are handed over by join().
      while (!stop.load(std::memory_order_relaxed) &&
             (!timeline || rows.size() < rows.capacity())) {
        next.tv_nsec += static_cast<long>(period_us) * 1000;
        if (next.tv_nsec >= 1'000'000'000) {
          next.tv_nsec -= 1'000'000'000;
          ++next.tv_sec;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
        sample_row s{ms_since(t0), 0, 0, timeline ? statm.rss_kib() : 0};
        if (!m.sample(s.pending, s.pages)) break;
        sampled = true;
        peak_pending = std::max(peak_pending, s.pending);
        peak_pages = std::max(peak_pages, s.pages);
        if (timeline) rows.push_back(s);
      }
    });
  }
  go.store(true, std::memory_order_release);  // pairs with the producers' acquire wait
  go.notify_all();
  // acquire: pairs with the producers' release increments of done; their floods and flushes
  // happen before the final barrier.
  for (unsigned d; (d = done.load(std::memory_order_acquire)) != o.threads;) done.wait(d);
  const double flood_ms = ms_since(t0);
  m.finish();
  const double total_ms = ms_since(t0);
  const std::uint64_t rusage1 = process_cpu_ns();
  const std::uint64_t gpw1 = grace_period_wall_ns(), gpc_cpu1 = grace_period_cpu_ns();
  const auto cpu1 = task_runtimes_ns();  // producers still exist, parked before teardown
  timing_over.store(true, std::memory_order_release);  // pairs with the producers' acquire wait
  timing_over.notify_all();
  for (auto& th : producers) th.join();
  if (sampler.joinable()) {
    if (timeline)
      std::this_thread::sleep_for(std::chrono::microseconds(5 * o.sample_us));  // the end
    stop.store(true, std::memory_order_relaxed);  // relaxed: see the sampler loop
    sampler.join();
    if (timeline) write_timeline(o, rows, flood_ms, total_ms, sampler_rt);
  }
  const double outer_ms =
      std::chrono::duration<double, std::milli>(clock_type::now() - t_enter).count();
  const std::uint64_t rusage_exit = process_cpu_ns();
  const double setup_ms = std::chrono::duration<double, std::milli>(t0 - t_enter).count();

  const std::uint64_t freed = m.freed();
  const double per_thread_ops = static_cast<double>(o.objects) / o.threads;
  record r;
  r.emplace_back("mech", o.mech);
  put(r, "threads", o.threads);
  put(r, "objects", o.objects);
  put(r, "mode", static_cast<std::uint64_t>(o.how));
  r.emplace_back("ns_op", std::to_string(total_ms * 1e6 / per_thread_ops));
  r.emplace_back("wall_ms", std::to_string(total_ms));
  r.emplace_back("flood_ms", std::to_string(flood_ms));
  r.emplace_back("setup_ms", std::to_string(setup_ms));
  r.emplace_back("outer_ms", std::to_string(outer_ms));
  r.emplace_back("flood_ns_op", std::to_string(flood_ms * 1e6 / per_thread_ops));
  r.emplace_back("outer_ns_op", std::to_string(outer_ms * 1e6 / per_thread_ops));
  r.emplace_back("cpu_outer_ns_op", std::to_string(static_cast<double>(rusage_exit - rusage_enter) /
                                                   static_cast<double>(o.objects)));
  // Inside synchronize_rcu during the timed window, per object: wall time (summed over the
  // threads that waited) and those threads' CPU time.
  r.emplace_back("gp_wall_ns_op",
                 std::to_string(static_cast<double>(gpw1 - gpw0) / static_cast<double>(o.objects)));
  r.emplace_back("gp_cpu_ns_op", std::to_string(static_cast<double>(gpc_cpu1 - gpc_cpu0) /
                                                static_cast<double>(o.objects)));
  put(r, "freed", freed);
  put(r, "gp_callers", grace_periods_on_callers() - gpc0);
  put(r, "rss_start_kib", rss_start);
  put(r, "rss_peak_kib", rss_peak_kib());
  m.report(r, grace_periods_total() - gp0);
  if (sampled) {
    put(r, "peak_pending", peak_pending);
    put(r, "peak_pages", peak_pages);
  }
  // The CPU per object: getrusage(RUSAGE_SELF) user + sys over the timed section, every
  // thread included (the peak-pending sampler too: a few us per ms). cpu_total_ns_op below is the
  // same from schedstat without the sampler.
  r.emplace_back("cpu_rusage_ns_op", std::to_string(static_cast<double>(rusage1 - rusage0) /
                                                    static_cast<double>(o.objects)));
  put(r, "helpers_pinned", helpers_pinned);
  r.emplace_back("alloc", allocator_in_use());
  if (o.how != mode::timeline)
    cpu_split(r, cpu0, cpu1, producer_tids,
              sampler_tid.load(std::memory_order_relaxed),  // relaxed: see its store
              o.objects);
  if (timed) {
    histogram all, timer, made;
    std::uint64_t slow = 0, slow_unswitched = 0;
    for (const auto& tr : res) {
      all.merge(tr.hist);
      made.merge(tr.make_hist);
      timer.merge(tr.timer_hist);
      slow += tr.slow;
      slow_unswitched += tr.slow_unswitched;
    }
    const double ns_per_tick = 1e9 / o.tsc_hz;
    // Percentiles include the timer (two TSC reads): quantized to the TSC's 10 ns steps,
    // subtracting a quantized overhead would only move them by one step. The mean is net.
    auto ns = [&](std::uint64_t v) { return std::to_string(static_cast<double>(v) * ns_per_tick); };
    r.emplace_back("timer_p50_ns", ns(timer.quantile(0.5)));
    r.emplace_back("timer_mean_ns", std::to_string(timer.mean_below_linear() * ns_per_tick));
    r.emplace_back("p50_ns", ns(all.quantile(0.5)));
    r.emplace_back("p99_ns", ns(all.quantile(0.99)));
    r.emplace_back("p999_ns", ns(all.quantile(0.999)));
    r.emplace_back("max_ns", ns(all.max()));
    r.emplace_back("mean_ns", std::to_string((all.mean_below_linear() - timer.mean_below_linear()) *
                                             ns_per_tick));
    if (o.time_make) {
      r.emplace_back(
          "make_mean_ns",
          std::to_string((made.mean_below_linear() - timer.mean_below_linear()) * ns_per_tick));
      r.emplace_back("make_p99_ns", ns(made.quantile(0.99)));
    }
    const double per100k = 1e5 / static_cast<double>(o.objects);
    r.emplace_back("slow_per_100k", std::to_string(static_cast<double>(slow) * per100k));
    r.emplace_back("slow_unswitched_per_100k",
                   std::to_string(static_cast<double>(slow_unswitched) * per100k));
  }
  const bool ok = freed == o.objects;
  r.emplace_back("ok", ok ? "1" : "0");
  std::printf("RESULT %s\n", format_record(r).c_str());
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr, "bench: %s freed %llu of %zu objects\n", o.mech.c_str(),
                 static_cast<unsigned long long>(freed), o.objects);
    return 3;
  }
  return 0;
}

// Trickle mode: the drain interval's workload. One producer (the main thread) queues one object
// every trickle_us with delete_rcu; each object's destructor stamps when it ran, so the wait of
// every object (queued -> freed) is known. Before the trickle the engine sits idle for idle_ms with
// nothing queued. Reported: the objects' waits, and per second of trickle and of idling the
// engine's thread wakeups (schedstat timeslices of every thread but the main one), grace periods
// and worker CPU; peak pending objects and pages. "idle_cv" is a baseline without an engine.
struct trickle_object {
  rcu_head head;
  std::size_t id;
  ~trickle_object();
  static inline std::atomic<std::int64_t>* freed_at = nullptr;  // per id, steady_clock ns
  static inline std::atomic<std::uint64_t> freed{0};
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
      .count();
}

trickle_object::~trickle_object() {
  // relaxed: published by the release increment below.
  freed_at[id].store(now_ns(), std::memory_order_relaxed);
  // release: the stamp above happens before the main thread's acquire load of the count sees it.
  freed.fetch_add(1, std::memory_order_release);
}

// Sum of `v`'s values over threads other than `main_tid`, minus the same in `v0`.
std::uint64_t others_delta(const std::vector<std::pair<int, std::uint64_t>>& v0,
                           const std::vector<std::pair<int, std::uint64_t>>& v, int main_tid) {
  return growth_since(v0, v, [main_tid](int tid) { return tid == main_tid; });
}

void sleep_until(timespec& next, unsigned us) {
  next.tv_nsec += static_cast<long>(us) * 1000;
  while (next.tv_nsec >= 1'000'000'000) {
    next.tv_nsec -= 1'000'000'000;
    ++next.tv_sec;
  }
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
}

// "idle_cv": no engine, only a thread that waits on a condition variable for 8 ms at a time (the
// worker's idle period at the default config) — what such a wakeup costs on this machine by
// itself. Only the idle columns mean anything.
int run_idle_baseline(const run_options& o) {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread sleeper([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) cv.wait_for(lock, std::chrono::milliseconds(8));
  });
  const int me = this_tid();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto sl0 = task_timeslices();
  const auto cpu0 = task_runtimes_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_ms));
  const double idle_s = o.idle_ms / 1e3;
  const double wakeups = static_cast<double>(others_delta(sl0, task_timeslices(), me));
  const double cpu = static_cast<double>(others_delta(cpu0, task_runtimes_ns(), me));
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
  }
  cv.notify_all();
  sleeper.join();
  record r;
  r.emplace_back("mech", o.mech);
  r.emplace_back("idle_wakeups_s", std::to_string(wakeups / idle_s));
  r.emplace_back("idle_cpu_us_s", std::to_string(cpu / 1e3 / idle_s));
  r.emplace_back("ok", "1");
  std::printf("RESULT %s\n", format_record(r).c_str());
  std::fflush(stdout);
  return 0;
}

int run_trickle(const run_options& o) {
  const std::size_t n = o.trickle_objects;
  std::unique_ptr<std::atomic<std::int64_t>[]> stamps(new std::atomic<std::int64_t>[n]);
  for (std::size_t i = 0; i < n; ++i)
    stamps[i].store(0, std::memory_order_relaxed);  // relaxed: no thread yet
  trickle_object::freed_at = stamps.get();
  std::vector<std::int64_t> queued_at(n);
  mark_producer_thread();
  const int me = this_tid();
  rcufree::engine eng(make_engine_config(o.cfg));
  // "shrink=1": the trickle starts right after a shrink() (caches emptied, refills backed off).
  if (o.cfg.shrink > 0) eng.shrink();

  // Idle: nothing queued yet (the page caches were filled when the engine was built).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto idle_sl0 = task_timeslices();
  const auto idle_cpu0 = task_runtimes_ns();
  const std::uint64_t idle_gp0 = grace_periods_total();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_ms));
  const double idle_s = o.idle_ms / 1e3;
  const double idle_wakeups = static_cast<double>(others_delta(idle_sl0, task_timeslices(), me));
  const double idle_cpu = static_cast<double>(others_delta(idle_cpu0, task_runtimes_ns(), me));
  const std::uint64_t idle_gp = grace_periods_total() - idle_gp0;

  // The trickle.
  const auto sl0 = task_timeslices();
  const auto cpu0 = task_runtimes_ns();
  const std::uint64_t gp0 = grace_periods_total();
  const std::uint64_t freed0 =
      trickle_object::freed.load(std::memory_order_relaxed);  // no frees yet
  std::uint64_t peak_pending = 0, peak_pages = 0;
  const auto t0 = clock_type::now();
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (std::size_t i = 0; i < n; ++i) {
    sleep_until(next, o.trickle_us);
    auto* obj = new trickle_object{{}, i};
    queued_at[i] = now_ns();
    eng.delete_rcu(obj, &trickle_object::head);
    const rcufree::stats s = eng.snapshot();
    peak_pending = std::max(peak_pending, s.pending);
    peak_pages = std::max(peak_pages, s.pages_in_use);
  }
  const double trickle_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double wakeups = static_cast<double>(others_delta(sl0, task_timeslices(), me));
  const double cpu = static_cast<double>(others_delta(cpu0, task_runtimes_ns(), me));
  const std::uint64_t gps = grace_periods_total() - gp0;
  // Let the last objects be freed as they would be (no barrier: it would flush them early),
  // giving up after 10 s + 3 drain intervals.
  const auto give_up =
      clock_type::now() + std::chrono::seconds(10) + 3 * eng.settings().drain_interval;
  // acquire: pairs with the destructors' release increments; their stamps are visible after.
  while (trickle_object::freed.load(std::memory_order_acquire) - freed0 < n &&
         clock_type::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  eng.barrier();  // whatever is left (nothing, unless we gave up)
  std::vector<double> waits;
  for (std::size_t i = 0; i < n; ++i)
    // relaxed: ordered by the acquire load above, or by barrier() for stragglers.
    waits.push_back(static_cast<double>(stamps[i].load(std::memory_order_relaxed) - queued_at[i]) /
                    1e6);
  std::sort(waits.begin(), waits.end());
  auto q = [&](double f) {
    return waits[std::min(n - 1, static_cast<std::size_t>(f * static_cast<double>(n)))];
  };
  double mean = 0;
  for (double w : waits) mean += w / static_cast<double>(n);

  const std::uint64_t freed =
      trickle_object::freed.load(std::memory_order_acquire) - freed0;  // as above
  record r;
  r.emplace_back("mech", o.mech);
  put(r, "objects", n);
  put(r, "trickle_us", o.trickle_us);
  r.emplace_back("idle_wakeups_s", std::to_string(idle_wakeups / idle_s));
  r.emplace_back("idle_cpu_us_s", std::to_string(idle_cpu / 1e3 / idle_s));
  r.emplace_back("idle_gp_s", std::to_string(static_cast<double>(idle_gp) / idle_s));
  r.emplace_back("wakeups_s", std::to_string(wakeups / trickle_s));
  r.emplace_back("worker_cpu_us_s", std::to_string(cpu / 1e3 / trickle_s));
  r.emplace_back("gp_s", std::to_string(static_cast<double>(gps) / trickle_s));
  r.emplace_back("objects_per_gp",
                 std::to_string(gps ? static_cast<double>(n) / static_cast<double>(gps) : 0.0));
  r.emplace_back("wait_mean_ms", std::to_string(mean));
  r.emplace_back("wait_p50_ms", std::to_string(q(0.5)));
  r.emplace_back("wait_p99_ms", std::to_string(q(0.99)));
  r.emplace_back("wait_max_ms", std::to_string(waits.back()));
  put(r, "peak_pending", peak_pending);
  put(r, "peak_pages", peak_pages);
  put(r, "freed", freed);
  r.emplace_back("ok", freed == n ? "1" : "0");
  std::printf("RESULT %s\n", format_record(r).c_str());
  std::fflush(stdout);
  return freed == n ? 0 : 3;
}

// Idle mode: what an idle engine costs in wakeups (issue 9: "an idle engine's threads, all
// together, wake <= 10 times per second after 1 s with nothing queued, however many reclaim threads
// exist"). First a warm-up flood from one producer pinned to each CPU this process may use (so that
// a per-CPU engine has started every reclaim thread it would), then the final barrier; the
// producers exit. After settle_ms with nothing queued, the context switches of every thread but the
// main one are counted over idle_ms (/proc/self/task/*/status): each wakeup of a sleeping thread is
// one. "mech" wakes count the threads the mechanism started (those born after the snapshot taken
// before it was built; for rcufree_c, whose default engine exists before main, every thread but
// main); "all" wakes count every thread but main, the default engine's idle worker included.
template <class M>
int run_idle(const run_options& o, bool default_engine_mech) {
  const int me = this_tid();
  std::vector<int> before;
  if (!default_engine_mech)
    for (const auto& [tid, n] : task_ctxt_switches()) before.push_back(tid), (void)n;
  M m(o);
  const std::vector<unsigned> cpus = allowed_cpus();
  const std::size_t per_cpu =
      std::max<std::size_t>(1, o.objects / std::max<std::size_t>(1, cpus.size()));
  std::vector<std::thread> warm;
  for (unsigned c : cpus) {
    warm.emplace_back([&, c] {
      pin_thread(0, c);
      typename M::tls st;
      m.thread_begin(st);
      for (std::size_t i = 0; i < per_cpu; ++i) {
        void* p = m.make(o.size);
        *static_cast<volatile std::uint64_t*>(p) = i;
        m.retire(st, p);
      }
      m.thread_end(st);
      m.thread_teardown(st);
    });
  }
  for (auto& t : warm) t.join();
  m.finish();
  const std::size_t queued = per_cpu * cpus.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
  const auto cs0 = task_ctxt_switches();
  const auto sl0 = task_timeslices();
  const auto cpu0 = task_runtimes_ns();
  const std::uint64_t gp0 = grace_periods_total();
  std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_ms));
  const auto cs1 = task_ctxt_switches();
  const auto sl1 = task_timeslices();
  const auto cpu1 = task_runtimes_ns();
  const std::uint64_t gps = grace_periods_total() - gp0;
  auto is_mech = [&](int tid) {
    return tid != me && std::find(before.begin(), before.end(), tid) == before.end();
  };
  auto sum = [&](const std::vector<std::pair<int, std::uint64_t>>& a,
                 const std::vector<std::pair<int, std::uint64_t>>& b, bool mech_only) {
    return static_cast<double>(
        growth_since(a, b, [&](int tid) { return tid == me || (mech_only && !is_mech(tid)); }));
  };
  unsigned mech_threads = 0, all_threads = 0;
  for (const auto& [tid, x] : cs1) {
    (void)x;
    all_threads += tid != me;
    mech_threads += is_mech(tid);
  }
  const double secs = o.idle_ms / 1e3;
  const std::uint64_t freed = m.freed();
  record r;
  r.emplace_back("mech", o.mech);
  put(r, "objects", queued);
  put(r, "freed", freed);
  put(r, "cpus", cpus.size());
  put(r, "mech_threads", mech_threads);
  put(r, "all_threads", all_threads);
  r.emplace_back("idle_wakes_s", std::to_string(sum(cs0, cs1, true) / secs));
  r.emplace_back("idle_wakes_all_s", std::to_string(sum(cs0, cs1, false) / secs));
  r.emplace_back("idle_timeslices_s", std::to_string(sum(sl0, sl1, true) / secs));
  r.emplace_back("idle_cpu_us_s", std::to_string(sum(cpu0, cpu1, true) / 1e3 / secs));
  r.emplace_back("idle_gp_s", std::to_string(static_cast<double>(gps) / secs));
  r.emplace_back("alloc", allocator_in_use());
  const bool ok = freed == queued;
  r.emplace_back("ok", ok ? "1" : "0");
  std::printf("RESULT %s\n", format_record(r).c_str());
  std::fflush(stdout);
  return ok ? 0 : 3;
}

template <class M>
int run_mode(const run_options& o, bool default_engine_mech = false) {
  return o.how == mode::idle ? run_idle<M>(o, default_engine_mech) : run<M>(o);
}

const char* const kNames[] = {"floor",       "rcufree",        "rcufree_ms",      "rcufree_local",
                              "call_rcu",    "defer_rcu",      "ck_epoch",        "array512",
                              "rcufree_cfg", "rcufree_delete", "call_rcu_percpu", "rcufree_c",
                              nullptr};

}  // namespace

const char* const* mechanism_names() {
  return kNames;
}

int child_main(const run_options& opts) {
  resolve_synchronize_rcu();
  run_options o = opts;
  std::string n;  // the spec's name; its "@key=value" overrides go on top of the --cfg-* flags
  if (!parse_spec(opts.mech, n, o.cfg)) return 2;
  if (o.how == mode::trickle) {
    if (n == "idle_cv") return run_idle_baseline(o);
    if (n != "rcufree" && n != "rcufree_cfg") {
      std::fprintf(stderr, "bench: trickle mode runs rcufree (with overrides) only, not '%s'\n",
                   n.c_str());
      return 2;
    }
    return run_trickle(o);
  }
  if (o.threads == 0 || o.objects < o.threads || o.size < sizeof(object_header)) return 2;
  if (allocator_in_use() != o.alloc) {
    std::fprintf(stderr, "bench: asked for allocator %s, running with %s\n", o.alloc.c_str(),
                 allocator_in_use().c_str());
    return 2;
  }
  if (n == "floor") return run_mode<floor_free>(o);
  if (n == "rcufree" || n == "rcufree_cfg")
    return run_mode<rcufree_mech<rcufree_variant::kfree>>(o);
  if (n == "rcufree_c") return run_mode<rcufree_c_mech>(o, true);
  if (n == "rcufree_ms") return run_mode<rcufree_mech<rcufree_variant::mightsleep>>(o);
  if (n == "rcufree_local") return run_mode<rcufree_mech<rcufree_variant::local>>(o);
  if (n == "rcufree_delete") return run_mode<rcufree_mech<rcufree_variant::counted_delete>>(o);
  if (n == "call_rcu") return run_mode<call_rcu_mech<false>>(o);
  if (n == "call_rcu_percpu") return run_mode<call_rcu_mech<true>>(o);
  if (n == "defer_rcu") return run_mode<defer_rcu_mech>(o);
  if (n == "ck_epoch") return run_mode<ck_epoch_mech>(o);
  if (n == "array512") return run_mode<array512_mech>(o);
  std::fprintf(stderr, "bench: unknown mechanism '%s'\n", n.c_str());
  return 2;
}

}  // namespace bench
