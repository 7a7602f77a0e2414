// SPDX-License-Identifier: MIT
// engine_threads.cpp — the supervisor and the per-CPU reclaim threads: see engine_threads.hpp.
// Just over 400 lines: the two kinds of thread share one class's private state (flags, futex
// words, the thread table); their decisions are pure functions elsewhere (cpu_pacing.hpp,
// supervisor_pacing.hpp, reclaim_policy.hpp), and their fork handling is in fork.cpp.
#include "engine_threads.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>

#include "coarse_clock.hpp"
#include "cpu_pacing.hpp"
#include "futex_word.hpp"
#include "supervisor_pacing.hpp"
#include "time_slice.hpp"

namespace rcufree::detail {
namespace {

thread_local const engine_threads* t_owner = nullptr;  // the engine whose thread this is

constexpr std::chrono::microseconds kDryTick{100};  // a CPU thread's passes while flooded
constexpr std::uint32_t kRetryStartMs = 1000;       // after a failed thread start

// An engine thread frees what the program allocated and allocates nothing itself (its pages come
// from the page arena). Some allocators give a thread that has only ever freed no cache of its
// own: jemalloc 5.3 then takes a bin lock for every free (the flood's reclaim CPU per object went
// from 34 to 104 ns when pages stopped coming from malloc). One allocation at the start makes the
// thread a full client. volatile: a malloc/free pair may otherwise be optimized away.
void join_allocator() noexcept {
  void* volatile p = std::malloc(64);
  std::free(p);
}

}  // namespace

engine_threads::engine_threads(const config& cfg, reclaimer& rec, coarse_clock& clock)
    : cfg_(cfg),
      rec_(rec),
      clock_(clock),
      slot_count_(rec.slot_count()),
      per_cpu_(cfg.reclaim_threads == reclaim_mode::per_cpu),
      tick_(std::chrono::duration_cast<std::chrono::microseconds>(cfg.worker_tick)),
      short_cap_(std::max(
          tick_, std::min<std::chrono::microseconds>(
                     std::chrono::duration_cast<std::chrono::microseconds>(cfg.drain_interval),
                     tick_ * 8))),
      cpu_(std::make_unique<cpu_thread[]>(slot_count_)),
      flush_scratch_(slot_count_) {}

engine_threads::~engine_threads() = default;

void engine_threads::start() {
  stop_ = stopped_ = false;
  supervisor_ = std::thread([this] { supervise(); });
}

void engine_threads::stop() {
  // (C1) release: pairs with (C2) in dormant(); a stopped engine is never woken.
  dormant_.store(false, std::memory_order_release);
  // A barrier's flush the supervisor is running stops waiting for a slot a stopped thread holds:
  // process exit and engine destruction must not wait for that thread (promise 10).
  rec_.yield_barriers(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_cv_.notify_one();
  rouse_supervisor();
  if (supervisor_.joinable()) supervisor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;  // a request made too late for the last pass is not waited for forever
  }
  done_cv_.notify_all();
}

bool engine_threads::on_engine_thread() const noexcept {
  return t_owner == this;
}

void engine_threads::on_memory_pressure() noexcept {
  pressure_events_.add();
  // release: pairs with the acquire exchange in take_pressure_event.
  pressure_pending_.store(true, std::memory_order_release);
  wake_supervisor();
}

bool engine_threads::take_pressure_event() noexcept {
  // acquire exchange: pairs with the release store in on_memory_pressure.
  return pressure_pending_.exchange(false, std::memory_order_acquire);
}

void engine_threads::wake_supervisor() noexcept {
  // relaxed: a hint that lets wakers skip redundant system calls; whoever set it notifies below,
  // and the supervisor clears it only after it woke, so no wake is lost.
  if (wake_pending_.exchange(true, std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  wake_cv_.notify_one();
  rouse_supervisor();
}

bool engine_threads::flush_and_wait() {
  std::unique_lock<std::mutex> lock(mu_);
  // (W1) release: orders this thread's earlier calls (and everything they happen-after) before
  // the supervisor's acquire load of the request (W2).
  const std::uint64_t target = flush_requested_.fetch_add(1, std::memory_order_release) + 1;
  wake_ = true;
  wake_cv_.notify_one();
  rouse_supervisor();
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

void engine_threads::supervise() {
  t_owner = this;
  RCUFREE_STOP_THREAD_KIND(supervisor);
  pthread_setname_np(pthread_self(), "rcufree-sup");  // for top -H, gdb; 15 characters at most
  join_allocator();                                   // it frees in barrier flushes and passes
  // The fair class with a short time slice, so that its looks preempt a flooding producer on
  // time; the CPU threads it starts inherit both from their first instruction (a thread that asks
  // only once it runs first waits behind the producers). A real-time or batch policy of the thread
  // that built the engine is not passed on (config::realtime_reclaim asks for SCHED_FIFO).
  (void)run_fair_with_slice(kShortestSliceNs);
  const supervisor_pacing pacing(tick_, short_cap_);
  auto sleep = tick_;
  std::uint32_t quiet_since = clock_.now();
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
    const std::uint32_t now = clock_.now();
    if (seen.found || seen.pending) quiet_since = now;
    sleep = pacing.next({seen.expedite && !per_cpu_, seen.found, seen.pending, cpu_unwatched_, now,
                         next_due_ms_, quiet_since},
                        sleep);
  }
}

bool engine_threads::wait_to_look(std::chrono::microseconds sleep) {
  std::unique_lock<std::mutex> lock(mu_);
  // relaxed loads of paused_: written before the fork handler takes mu_ and notifies.
  const auto woken = [this] { return wake_ || stop_ || paused_.load(std::memory_order_relaxed); };
  if (!woken() && sleep.count() > 0) {
    // Flags are set under mu_, then the word put back to 0 (rouse_supervisor): set to 1 under
    // mu_, it cannot miss one.
    sleeping_.store(1, std::memory_order_relaxed);
    lock.unlock();
    RCUFREE_STOP_AT(supervisor_going_to_sleep);
    // (I2) acquire: pairs with (I1); sleeps until a waker puts the word back to 0, or `sleep`.
    if (sleeping_.load(std::memory_order_acquire) == 1) futex_wait_for(sleeping_, 1, sleep);
    sleeping_.store(0, std::memory_order_relaxed);
    lock.lock();
  }
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

engine_threads::look engine_threads::look_at_slots(bool stopping) {
  clock_.tick();
  // (W2) acquire: pairs with (W1); a request seen here was made after the objects its caller
  // wants flushed were queued.
  const std::uint64_t flush_target = flush_requested_.load(std::memory_order_acquire);
  // relaxed: only this thread writes flush_completed_.
  const bool flush = stopping || flush_target != flush_completed_.load(std::memory_order_relaxed);
  // It looks at every slot anyway: it sums the exact pending count (O(CPUs)), which also samples
  // the peak between the reclaim passes' own samples.
  const std::uint64_t pending_now = rec_.pending_total();
  rec_.observe_peak(pending_now);
  look seen;
  seen.expedite = rec_.over_soft_cap(pending_now);
  if (seen.expedite) expedited_passes_.add();
  if (flush) {
    seen.found = rec_.flush_all(flush_scratch_, stopping ? kTeardownFlush : kBarrierFlush);
  } else {
    seen.found = poll(seen.expedite, seen.pending);
  }
  if (take_pressure_event()) rec_.shrink();
  // A flush that yielded to a fork is not complete: served again once the fork is over.
  if (flush && (stopping || !rec_.barriers_yield())) {
    RCUFREE_STOP_AT(flush_completing);
    std::lock_guard<std::mutex> lock(mu_);
    // (W3) release: the frees of this flush happen before a waiter sees completion; pairs with
    // (W4).
    flush_completed_.store(flush_target, std::memory_order_release);
    done_cv_.notify_all();
  }
  return seen;
}

bool engine_threads::poll(bool expedite, bool& pending) {
  reclaimer& rec = rec_;
  bool found = false;
  next_due_ms_ = kNeverMs;
  cpu_unwatched_ = false;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    // relaxed: a hint for the pacing below; a stale value costs a look a tick early or late.
    if (per_cpu_ &&
        (!cpu_[i].thread.joinable() || cpu_[i].idle.load(std::memory_order_relaxed) == 1))
      cpu_unwatched_ = true;
    if (rec.pending_of(i) == 0) {
      // A quiet slot: let its pool decay (or refill), unless someone is reclaiming it right now.
      std::unique_lock<std::mutex> lock(rec.lock_of(i), std::try_to_lock);
      if (lock.owns_lock()) rec.restock(i);
      continue;
    }
    pending = true;
    // A burst on CPU i: its thread shares the core with the producer and its pass may be waiting
    // for a grace period; this thread refills the pool meanwhile. It does that, and a thread
    // start, from another CPU: a caller's wake often places it on the producer's (step_aside.hpp).
    const bool running_low = rec.pool_running_low(i);
    if (running_low || (per_cpu_ && !cpu_[i].thread.joinable())) aside_.off(i);
    if (running_low) rec.top_up(i);
    if (per_cpu_ && ensure_thread(i)) {
      // (D2) seq_cst fence between the look at the slot (above) and the load of idle: pairs with
      // (D1) (Dekker): either the CPU thread saw this work before it slept, or this load sees it
      // idle and wakes it. (Were a wake missed, the next look, at most 8 ticks later while
      // anything is pending, would find it.)
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (cpu_[i].idle.load(std::memory_order_relaxed) == 1) wake_cpu_thread(i);
      continue;
    }
    // A caller reclaiming this slot (reclaim_local) may be stopped holding its lock: come back.
    const auto lock = rec.lock_slot(i, patience::kind::brief);
    if (!lock.owns_lock()) continue;
    const pass_result r = rec.pass(i, expedite ? kExpeditedPass : kPeriodicPass);
    found = found || r.found;
    next_due_ms_ = std::min(next_due_ms_, r.next_due_ms);
  }
  aside_.restore();
  return found;
}

// --- CPU threads ------------------------------------------------------------------------------

void engine_threads::become_realtime() noexcept {
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

bool engine_threads::ensure_thread(std::size_t i) {
  cpu_thread& t = cpu_[i];
  if (t.thread.joinable()) return true;
  const std::uint32_t now = clock_.now();
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
  t.started.store(true, std::memory_order_relaxed);  // relaxed: a hint for wake_if_idle
  started_.add();
  return true;
}

void engine_threads::wake_cpu_thread(std::size_t i) {
  cpu_thread& t = cpu_[i];
  {
    std::lock_guard<std::mutex> lock(t.mu);
    t.wake = true;
  }
  t.cv.notify_all();
  rouse(t);
}

void engine_threads::rouse(cpu_thread& t) noexcept {
  // (I1) release exchange: the flags set before it are seen by the thread that wakes; pairs with
  // (I2), its acquire loads of the word.
  if (t.idle.exchange(0, std::memory_order_release) == 1) t.idle.notify_one();
}

void engine_threads::wake_if_idle(std::size_t i) noexcept {
  if (i >= slot_count_) return;
  cpu_thread& t = cpu_[i];
  // relaxed pre-checks: a busy thread's line stays shared, and its caller makes no system call.
  if (t.idle.load(std::memory_order_relaxed) == 1) {
    // relaxed: read after (I2) by the woken thread, which the exchange in rouse() releases.
    t.woken_by_call.store(true, std::memory_order_relaxed);
    rouse(t);
  } else if (sleeping_.load(std::memory_order_relaxed) == 1 &&
             (!t.started.load(std::memory_order_relaxed) || rec_.pool_running_low(i))) {
    rouse_supervisor();
  }
}

void engine_threads::rouse_supervisor() noexcept {
  // (I1) release exchange, as rouse(): pairs with (I2) in wait_to_look.
  if (sleeping_.exchange(0, std::memory_order_release) == 1) futex_wake_one(sleeping_);
}

void engine_threads::stop_cpu_threads() {
  for (std::size_t i = 0; i < slot_count_; ++i) {
    cpu_thread& t = cpu_[i];
    if (!t.thread.joinable()) continue;
    {
      std::lock_guard<std::mutex> lock(t.mu);
      t.stop = true;
    }
    t.cv.notify_all();
    rouse(t);
    t.thread.join();
    t.started.store(false, std::memory_order_relaxed);  // relaxed: a hint for wake_if_idle
  }
}

void engine_threads::cpu_main(std::size_t i) {
  t_owner = this;
  RCUFREE_STOP_THREAD_KIND(cpu_thread);
  // Already on CPU i (bound_thread), or unbound where CPU i left the allowed set; with the
  // supervisor's short time slice, so that its wake-ups preempt a flooding producer.
  if (cfg_.realtime_reclaim) become_realtime();
  join_allocator();
  char name[16];
  std::snprintf(name, sizeof name, "rcufree-cpu%zu", i % 10000);
  pthread_setname_np(pthread_self(), name);

  const cpu_pacing pacing(tick_, kDryTick);
  std::optional<std::chrono::microseconds> sleep{std::chrono::microseconds(0)};  // none: idle
  std::uint32_t quiet_since = clock_.now();
  auto last_pass = std::chrono::steady_clock::now();
  while (wait_for_pass(i, sleep)) {
    RCUFREE_STOP_AT(cpu_thread_before_pass);
    clock_.tick();
    const bool expedite = rec_.over_soft_cap();
    if (expedite) expedited_passes_.add();
    // relaxed: set before the wake that ended this thread's idle wait (I1/I2).
    const bool woken_by_call = cpu_[i].woken_by_call.exchange(false, std::memory_order_relaxed);
    pass_result r;
    {
      const auto lock = rec_.lock_slot(i, patience::kind::brief);
      if (lock.owns_lock()) {
        r = rec_.pass(i, expedite ? kExpeditedPass : woken_by_call ? kWokenPass : kPeriodicPass);
      } else {
        // A caller reclaiming here (maybe stopped) or the supervisor restocking this quiet slot
        // holds the lock: come back soon only if there is work (else a restock's moment restarted
        // the quiet second), and keep a caller's wake for that pass.
        r.pending = rec_.pending_of(i) != 0;
        // relaxed: read back by this thread's own next exchange.
        if (woken_by_call) cpu_[i].woken_by_call.store(true, std::memory_order_relaxed);
      }
    }
    const std::uint32_t now = clock_.now();
    if (r.found || r.pending) quiet_since = now;
    const auto pass_end = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(pass_end - last_pass).count();
    last_pass = pass_end;
    const bool flooded = expedite || r.ran_dry || cpu_pacing::flood_rate(r.freed, ms);
    sleep = pacing.next({flooded, r.found, r.pending, now, r.next_due_ms, quiet_since},
                        sleep.value_or(tick_));
  }
}

bool engine_threads::wait_for_pass(std::size_t i,
                                   const std::optional<std::chrono::microseconds>& sleep) {
  cpu_thread& t = cpu_[i];
  std::unique_lock<std::mutex> lock(t.mu);
  // relaxed loads of paused_: written before the fork handler takes t.mu and notifies.
  const auto woken = [&] { return t.wake || t.stop || paused_.load(std::memory_order_relaxed); };
  if (!sleep && !woken()) {
    // (D1) the idle store, a seq_cst fence, then the look at the slot: pairs with (D2) in poll()
    // (Dekker): work queued before is seen here; the supervisor finds this thread idle when it
    // sees later work, and wakes it.
    t.idle.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (rec_.pending_of(i) == 0) {
      lock.unlock();
      RCUFREE_STOP_AT(cpu_thread_going_idle);
      // (I2) acquire: pairs with (I1) in rouse(); sleeps until a waker puts the word back to 0.
      while (t.idle.load(std::memory_order_acquire) == 1) t.idle.wait(1, std::memory_order_acquire);
      lock.lock();
    }
    t.idle.store(0, std::memory_order_relaxed);  // relaxed: a stale 1 costs one wake
  } else if (sleep && !woken() && sleep->count() > 0) {
    t.cv.wait_for(lock, *sleep, woken);
  }
  // fork() in progress (a thread told to stop does not park: the supervisor joins it).
  while (paused_.load(std::memory_order_relaxed) && !t.stop) {
    t.parked = true;
    t.cv.notify_all();
    t.cv.wait(lock);
  }
  t.parked = false;
  t.wake = false;
  return !t.stop;
}

}  // namespace rcufree::detail
