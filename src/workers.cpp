// SPDX-License-Identifier: MIT
// workers.cpp — the supervisor and the per-CPU reclaim threads: see workers.hpp.
#include "workers.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "coarse_clock.hpp"
#include "cpu_pacing.hpp"
#include "engine_core.hpp"
#include "supervisor_pacing.hpp"
#include "time_slice.hpp"

namespace rcufree::detail {
namespace {

thread_local const workers* t_owner = nullptr;  // the workers object this thread belongs to

constexpr std::chrono::microseconds kDryTick{100};  // a CPU thread's passes while flooded
constexpr std::uint32_t kRetryStartMs = 1000;       // after a failed thread start

}  // namespace

workers::workers(engine_core& core)
    : core_(core),
      per_cpu_(core.cfg.reclaim_threads == reclaim_mode::per_cpu),
      tick_(std::chrono::duration_cast<std::chrono::microseconds>(core.cfg.worker_tick)),
      short_cap_(std::max(
          tick_, std::min<std::chrono::microseconds>(
                     std::chrono::duration_cast<std::chrono::microseconds>(core.cfg.drain_interval),
                     tick_ * 8))),
      cpu_(std::make_unique<cpu_thread[]>(core.slot_count)),
      flush_scratch_(core.slot_count) {}

workers::~workers() = default;

void workers::start() {
  stop_ = stopped_ = false;
  supervisor_ = std::thread([this] { supervise(); });
}

void workers::stop() {
  // (C1) release: pairs with (C2) in dormant(); a stopped engine is never woken.
  dormant_.store(false, std::memory_order_release);
  // A barrier's flush the supervisor is running stops waiting for a slot a stopped thread holds:
  // process exit and engine destruction must not wait for that thread (promise 10).
  core_.rec.yield_barriers(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_cv_.notify_one();
  if (supervisor_.joinable()) supervisor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;  // a request made too late for the last pass is not waited for forever
  }
  done_cv_.notify_all();
}

bool workers::on_engine_thread() const noexcept {
  return t_owner == this;
}

void workers::wake_supervisor() noexcept {
  // relaxed: a hint that lets wakers skip redundant system calls; whoever set it notifies below,
  // and the supervisor clears it only after it woke, so no wake is lost.
  if (wake_pending_.exchange(true, std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  wake_cv_.notify_one();
}

bool workers::flush_and_wait() {
  std::unique_lock<std::mutex> lock(mu_);
  // (W1) release: orders this thread's earlier calls (and everything they happen-after) before
  // the supervisor's acquire load of the request (W2).
  const std::uint64_t target = flush_requested_.fetch_add(1, std::memory_order_release) + 1;
  wake_ = true;
  wake_cv_.notify_one();
  // (W4) acquire: pairs with the supervisor's release store of flush_completed_ (W3); the frees
  // happened before.
  const auto served_or_stopped = [&] {
    return flush_completed_.load(std::memory_order_acquire) >= target || stopped_;
  };
  if (!done_cv_.wait_for(lock, std::chrono::seconds(1), served_or_stopped)) {
    std::fprintf(stderr,
                 "rcufree: barrier() has waited 1 s for the engine's flush (a grace period that "
                 "has not ended, a slow deleter, or a thread inside rcufree that does not run "
                 "holds it up); it keeps waiting, as it must to be exact\n");
    done_cv_.wait(lock, served_or_stopped);
  }
  // acquire: as (W4).
  return flush_completed_.load(std::memory_order_acquire) >= target;
}

// --- the supervisor ---------------------------------------------------------------------------

void workers::supervise() {
  t_owner = this;
  RCUFREE_STOP_THREAD_KIND(supervisor);
  pthread_setname_np(pthread_self(), "rcufree-sup");  // for top -H, gdb; 15 characters at most
  // The fair class with a short time slice, so that its looks preempt a flooding producer on
  // time; the CPU threads it starts inherit both from their first instruction (a thread that asks
  // only once it runs first waits behind the producers). A real-time or batch policy of the thread
  // that built the engine is not passed on (config::realtime_reclaim asks for SCHED_FIFO).
  (void)run_fair_with_slice(kShortestSliceNs);
  const supervisor_pacing pacing(tick_, short_cap_);
  auto sleep = tick_;
  std::uint32_t quiet_since = core_.now_ms();
  for (;;) {
    const bool stopping = wait_to_look(sleep);
    RCUFREE_STOP_AT(supervisor_looking);
    if (stopping) {
      RCUFREE_STOP_AT(threads_stopping);
      stop_cpu_threads();  // from here on the supervisor reclaims every slot
    }
    const look seen = look_at_slots(stopping);
    if (stopping) {
      if (!seen.found) return;  // the final flushes found nothing more
      sleep = std::chrono::microseconds(0);
      continue;
    }
    const std::uint32_t now = core_.now_ms();
    if (seen.found || seen.pending) quiet_since = now;
    sleep = pacing.next({seen.expedite && !per_cpu_, seen.found, seen.pending, cpu_unwatched_, now,
                         next_due_ms_, quiet_since},
                        sleep);
  }
}

bool workers::wait_to_look(std::chrono::microseconds sleep) {
  std::unique_lock<std::mutex> lock(mu_);
  // relaxed loads of paused_: written before the fork handler takes mu_ and notifies.
  const auto woken = [this] { return wake_ || stop_ || paused_.load(std::memory_order_relaxed); };
  if (!woken()) wake_cv_.wait_for(lock, sleep, woken);
  while (paused_.load(std::memory_order_relaxed)) {  // fork() in progress: park between looks
    parked_ = true;
    done_cv_.notify_all();
    wake_cv_.wait(lock);
  }
  parked_ = false;
  wake_ = false;
  wake_pending_.store(false, std::memory_order_relaxed);  // relaxed: see wake_supervisor
  return stop_;
}

workers::look workers::look_at_slots(bool stopping) {
  core_.tick_clock();
  // (W2) acquire: pairs with (W1); a request seen here was made after the objects its caller
  // wants flushed were queued.
  const std::uint64_t flush_target = flush_requested_.load(std::memory_order_acquire);
  // relaxed: only this thread writes flush_completed_.
  const bool flush = stopping || flush_target != flush_completed_.load(std::memory_order_relaxed);
  // It looks at every slot anyway: it sums the exact pending count (O(CPUs)), which also samples
  // the peak between the reclaim passes' own samples.
  const std::uint64_t pending_now = core_.pending_objects();
  core_.rec.observe_peak(pending_now);
  look seen;
  seen.expedite = core_.over_soft_cap(pending_now);
  if (seen.expedite) core_.expedited_passes.add();
  if (flush) {
    seen.found = core_.rec.flush_all(flush_scratch_, stopping ? kTeardownFlush : kBarrierFlush);
  } else {
    seen.found = poll(seen.expedite, seen.pending);
  }
  if (core_.take_pressure_event()) core_.shrink();
  // A flush that yielded to a fork is not complete: served again once the fork is over.
  if (flush && (stopping || !core_.rec.barriers_yield())) {
    RCUFREE_STOP_AT(flush_completing);
    std::lock_guard<std::mutex> lock(mu_);
    // (W3) release: the frees of this flush happen before a waiter sees completion; pairs with
    // (W4).
    flush_completed_.store(flush_target, std::memory_order_release);
    done_cv_.notify_all();
  }
  return seen;
}

bool workers::poll(bool expedite, bool& pending) {
  reclaimer& rec = core_.rec;
  bool found = false;
  next_due_ms_ = kNeverMs;
  cpu_unwatched_ = false;
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    // relaxed: a hint for the pacing below; a stale value costs a look a tick early or late.
    if (per_cpu_ && (!cpu_[i].thread.joinable() || cpu_[i].idle.load(std::memory_order_relaxed)))
      cpu_unwatched_ = true;
    if (rec.pending_of(i) == 0) {
      // A quiet slot: let its pool decay (or refill), unless someone is reclaiming it right now.
      std::unique_lock<std::mutex> lock(rec.lock_of(i), std::try_to_lock);
      if (lock.owns_lock()) rec.restock(i);
      continue;
    }
    pending = true;
    if (per_cpu_ && ensure_thread(i)) {
      // (D2) seq_cst fence between the look at the slot (above) and the load of idle: pairs with
      // (D1) (Dekker): either the CPU thread saw this work before it slept, or this load sees it
      // idle and wakes it. (Were a wake missed, the next look, at most 8 ticks later while
      // anything is pending, would find it.)
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (cpu_[i].idle.load(std::memory_order_relaxed)) wake_cpu_thread(i);
      continue;
    }
    // A caller reclaiming this slot (reclaim_local) may be stopped holding its lock: come back.
    const auto lock = rec.lock_slot(i, patience::kind::brief);
    if (!lock.owns_lock()) continue;
    const pass_result r = rec.pass(i, expedite ? kExpeditedPass : kPeriodicPass);
    found = found || r.found;
    next_due_ms_ = std::min(next_due_ms_, r.next_due_ms);
  }
  return found;
}

// --- CPU threads ------------------------------------------------------------------------------

void workers::become_realtime() noexcept {
  sched_param p{};
  p.sched_priority = 1;
  const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
  if (err == 0) {
    realtime_.add();
    return;
  }
  // relaxed: only which thread says it matters, once.
  if (said_realtime_refused_.exchange(true, std::memory_order_relaxed)) return;
  std::fprintf(stderr,
               "rcufree: config.realtime_reclaim: SCHED_FIFO for the reclaim threads was refused "
               "(%s; it needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least 1); they run in the "
               "normal scheduling class\n",
               std::strerror(err));
}

bool workers::ensure_thread(std::size_t i) {
  cpu_thread& t = cpu_[i];
  if (t.thread.joinable()) return true;
  const std::uint32_t now = core_.now_ms();
  if (t.failed && !reached(now, t.failed_ms + kRetryStartMs)) return false;
  RCUFREE_STOP_AT(cpu_thread_starting);
  try {
    t.thread.start(static_cast<int>(i), [this, i] { cpu_main(i); });
  } catch (...) {  // no thread to be had (resource limits): the supervisor reclaims this slot
    t.failed = true;
    t.failed_ms = now;
    return false;
  }
  t.failed = false;
  started_.add();
  return true;
}

void workers::wake_cpu_thread(std::size_t i) {
  cpu_thread& t = cpu_[i];
  {
    std::lock_guard<std::mutex> lock(t.mu);
    t.wake = true;
  }
  t.cv.notify_all();
}

void workers::stop_cpu_threads() {
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    cpu_thread& t = cpu_[i];
    if (!t.thread.joinable()) continue;
    {
      std::lock_guard<std::mutex> lock(t.mu);
      t.stop = true;
    }
    t.cv.notify_all();
    t.thread.join();
  }
}

void workers::cpu_main(std::size_t i) {
  t_owner = this;
  RCUFREE_STOP_THREAD_KIND(cpu_thread);
  // Already on CPU i (bound_thread), or unbound where CPU i left the allowed set; with the
  // supervisor's short time slice, so that its wake-ups preempt a flooding producer.
  if (core_.cfg.realtime_reclaim) become_realtime();
  char name[16];
  std::snprintf(name, sizeof name, "rcufree-cpu%zu", i % 10000);
  pthread_setname_np(pthread_self(), name);

  cpu_thread& t = cpu_[i];
  reclaimer& rec = core_.rec;
  const cpu_pacing pacing(tick_, kDryTick);
  std::chrono::microseconds sleep{0};
  bool idle = false;
  std::uint32_t quiet_since = core_.now_ms();
  auto last_pass = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(t.mu);
      // relaxed loads of paused_: written before the fork handler takes t.mu and notifies.
      const auto woken = [&] {
        return t.wake || t.stop || paused_.load(std::memory_order_relaxed);
      };
      if (idle && !woken()) {
        // (D1) the idle store, a seq_cst fence, then the look at the slot: pairs with (D2) in
        // poll() (Dekker): work queued before is seen here; the supervisor finds this thread
        // idle when it sees later work, and wakes it.
        t.idle.store(true, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (rec.pending_of(i) == 0) t.cv.wait(lock, woken);
        t.idle.store(false, std::memory_order_relaxed);  // relaxed: a stale true costs one wake
      } else if (!woken() && sleep.count() > 0) {
        t.cv.wait_for(lock, sleep, woken);
      }
      // fork() in progress (a thread told to stop does not park: the supervisor joins it).
      while (paused_.load(std::memory_order_relaxed) && !t.stop) {
        t.parked = true;
        t.cv.notify_all();
        t.cv.wait(lock);
      }
      t.parked = false;
      t.wake = false;
      if (t.stop) return;
    }
    RCUFREE_STOP_AT(cpu_thread_before_pass);
    core_.tick_clock();
    const bool expedite = core_.over_soft_cap();
    if (expedite) core_.expedited_passes.add();
    pass_result r;
    {
      const auto lock = rec.lock_slot(i, patience::kind::brief);
      if (lock.owns_lock()) {
        r = rec.pass(i, expedite ? kExpeditedPass : kPeriodicPass);
      } else {
        r.pending = true;  // a caller reclaiming here holds the lock (maybe stopped): come back
      }
    }
    idle = false;
    const std::uint32_t now = core_.now_ms();
    if (r.found || r.pending) quiet_since = now;
    const auto pass_end = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(pass_end - last_pass).count();
    last_pass = pass_end;
    const cpu_pacing::seen seen{expedite || r.ran_dry || cpu_pacing::flood_rate(r.freed, ms),
                                r.found,
                                r.pending,
                                now,
                                r.next_due_ms,
                                quiet_since};
    if (const auto next = pacing.next(seen, sleep)) {
      sleep = *next;
    } else {
      idle = true;
    }
  }
}

// --- fork ---------------------------------------------------------------------------------------

void workers::prepare_fork(std::chrono::milliseconds limit) {
  paused_.store(true, std::memory_order_relaxed);  // relaxed: published by the locks below
  // A barrier's flush the supervisor is running gives up for now (it is served again after the
  // fork): fork() must not wait for a thread stopped holding a slot (promise 9).
  core_.rec.yield_barriers(true);
  // Each thread parks when its pass ends. A pass may outlast `limit`: a slow deleter, or with
  // liburcu-bp a grace period that waits for the lock urcu_bp_before_fork() took on this very
  // thread. fork() then goes on without it (the child trusts nothing it held).
  const auto deadline = std::chrono::steady_clock::now() + limit;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (supervisor_.joinable()) {
      wake_cv_.notify_one();
      done_cv_.wait_until(lock, deadline, [this] { return parked_; });
    }
  }
  // The supervisor is parked (or busy in a pass): it starts or joins no thread meanwhile.
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    cpu_thread& t = cpu_[i];
    if (!t.thread.joinable()) continue;
    std::unique_lock<std::mutex> lock(t.mu);
    t.cv.notify_all();
    t.cv.wait_until(lock, deadline, [&] { return t.parked; });
  }
}

void workers::parent_after_fork() {
  paused_.store(false, std::memory_order_relaxed);  // relaxed: published by the locks below
  core_.rec.yield_barriers(false);
  { std::lock_guard<std::mutex> lock(mu_); }
  wake_cv_.notify_one();
  // `parked`, read under each thread's own lock (the supervisor, now resumed, may start threads
  // meanwhile: the thread handles are not read here).
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    cpu_thread& t = cpu_[i];
    bool parked;
    {
      std::lock_guard<std::mutex> lock(t.mu);
      parked = t.parked;
    }
    if (parked) t.cv.notify_all();
  }
}

void workers::child_after_fork() {
  // Only the forking thread exists here. Every lock and condition variable anew; thread handles
  // of the parent's threads forgotten. No thread starts now: a child that exits or execs without
  // using the engine must not have one (it would reuse a vanished parent thread's stack and
  // thread-local storage, which liburcu's registry may still link), nor run a grace period.
  new (&mu_) std::mutex();
  new (&wake_cv_) std::condition_variable();
  new (&done_cv_) std::condition_variable();
  parked_ = wake_ = false;
  paused_.store(false, std::memory_order_relaxed);        // relaxed: single-threaded here
  wake_pending_.store(false, std::memory_order_relaxed);  // relaxed: single-threaded here
  core_.rec.yield_barriers(false);
  for (std::size_t i = 0; i < core_.slot_count; ++i) {
    cpu_thread& t = cpu_[i];
    new (&t.mu) std::mutex();
    new (&t.cv) std::condition_variable();
    t.thread.forget();
    t.wake = t.stop = t.parked = t.failed = false;
    t.idle.store(false, std::memory_order_relaxed);  // relaxed: single-threaded here
  }
  const bool had_supervisor = supervisor_.joinable();
  new (&supervisor_) std::thread();
  // (C1) release: pairs with (C2) in dormant().
  dormant_.store(had_supervisor && !stopped_, std::memory_order_release);
}

void workers::wake_after_fork() {
  if (!dormant()) return;
  start();
  // (C1) release: pairs with (C2); a caller that sees the engine awake sees its supervisor.
  dormant_.store(false, std::memory_order_release);
}

}  // namespace rcufree::detail
