// SPDX-License-Identifier: MIT
// engine_threads.hpp — the engine's threads: a supervisor, and a reclaim thread per CPU that has
// work.
//
// Atomic callers cannot wake anyone (a wake is a system call), so the threads poll:
//   supervisor       watches every slot. In per-CPU mode it starts a CPU's reclaim thread the
//                    first time that CPU has work (lazily, from this sleepable thread, never
//                    from the atomic path) and wakes it when it sleeps idle; it reclaims itself
//                    the slots whose thread could not be started, and every slot in single mode.
//                    It runs barrier()'s flush (one grace period for all slots) and the shrinks
//                    memory pressure asks for.
//   CPU thread i     bound to CPU i: reclaims slot i only, so frees hit the core whose caches
//                    hold the objects, and in a flood it shares the producer's core (the
//                    kernel's implicit flow control). Paces itself by its slot's demand.
// Pacing: each thread decides its next look from what its last one saw, by a pure policy
// (cpu_pacing.hpp for the CPU threads, supervisor_pacing.hpp for the supervisor).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bound_thread.hpp"
#include "reclaimer.hpp"
#include "step_aside.hpp"

namespace rcufree::detail {

class engine_threads {
 public:
  // The threads of the engine whose configuration, reclaimer and clock these are (they outlive
  // it).
  engine_threads(const config& cfg, reclaimer& rec, coarse_clock& clock);
  ~engine_threads();  // stop() first

  void start();  // the supervisor (CPU threads come later, on demand)
  // Stops every CPU thread, lets the supervisor run final flushing passes, joins it. Sleepable.
  void stop();

  // Sleepable callers: ask the supervisor for a flush (barrier) and wait for it, as long as it
  // takes (barrier must be exact), saying so on stderr after a second. False: the threads
  // stopped before doing it (the caller does it itself).
  bool flush_and_wait();
  // Any sleepable thread: the supervisor should look now (a head-less caller that had to
  // allocate). Skips the system call when a wake is already on its way.
  void wake_supervisor() noexcept;
  // A caller's request to free its CPU's work soon (engine::wake_reclaim_if_idle): if CPU thread i
  // sleeps idle, wakes it (one futex wake, no lock: fine in a signal handler that may make a
  // system call) and its next pass takes the open block at once. If the supervisor sleeps and
  // either no CPU thread watches CPU i yet (none started, or single mode) or CPU i's page pool
  // runs low (a burst), wakes the supervisor instead (one futex wake): its look starts the CPU
  // thread or reclaims the slot itself, and tops the pool up from whichever CPU it runs on.
  // Nothing otherwise: a busy thread already looks every tick.
  void wake_if_idle(std::size_t i) noexcept;
  // Whether CPU thread i sleeps idle now (a snapshot, for tests).
  bool sleeps_idle(std::size_t i) const noexcept {
    // relaxed: a snapshot.
    return i < slot_count_ && cpu_[i].idle.load(std::memory_order_relaxed) == 1;
  }
  // Memory pressure (pressure.cpp's thread, or a test): the supervisor shrinks on its next look.
  void on_memory_pressure() noexcept;
  std::uint64_t pressure_events() const noexcept { return pressure_events_.get(); }
  std::uint64_t expedited_passes() const noexcept { return expedited_passes_.get(); }
  // True on the supervisor or any CPU thread of this engine.
  bool on_engine_thread() const noexcept;
  // What the threads keep per CPU, in bytes, whether or not its thread was started
  // (engine_core::bytes_per_cpu).
  static constexpr std::size_t bytes_per_cpu() noexcept;
  std::size_t cpu_threads_started() const noexcept { return started_.get(); }
  std::size_t cpu_threads_realtime() const noexcept { return realtime_.get(); }

  // fork(): park every thread between passes (prepare; a thread still in its pass after `limit`
  // is left to go on, and the child does not trust what it held), resume (parent). In the child
  // no thread starts: the engine is dormant until the child uses it (wake_after_fork).
  void prepare_fork(std::chrono::milliseconds limit);
  void parent_after_fork();
  void child_after_fork();
  // A fork child's engine that has not started its threads yet.
  bool dormant() const noexcept {
    // (C2) acquire: pairs with (C1), the release stores of dormant_ in engine_threads.cpp (the
    // child handler, wake_after_fork, stop); an engine seen awake has its supervisor started.
    return dormant_.load(std::memory_order_acquire);
  }
  // Starts the supervisor of a dormant engine. The caller holds hold_off_fork() and has checked
  // that the engine is not shut down.
  void wake_after_fork();

 private:
  struct alignas(128) cpu_thread {
    bound_thread thread;  // joinable while it runs; started and joined by the supervisor only
    std::mutex mu;        // guards the flags below
    std::condition_variable cv;  // the thread sleeps here; fork handlers wait here for `parked`
    bool wake = false;
    bool stop = false;
    bool parked = false;
    // 1 while the thread sleeps idle, with no timeout: a futex word, so that a caller may wake it
    // without a lock (wake_if_idle); the supervisor, stop() and fork handlers wake it too
    // (rouse). 0 otherwise.
    std::atomic<std::uint32_t> idle{0};
    // Set by wake_if_idle(): the pass that follows takes the open block at once (kWokenPass).
    std::atomic<bool> woken_by_call{false};
    // The thread has been started (set by the supervisor after the start): wake_if_idle's way
    // to tell a CPU no thread watches yet, without reading `thread` (the supervisor's).
    std::atomic<bool> started{false};
    // Supervisor-private:
    std::uint32_t failed_ms = 0;
    bool failed = false;
  };

  // What one of the supervisor's looks saw.
  struct look {
    bool found = false;     // freed something
    bool pending = false;   // objects left in some slot
    bool expedite = false;  // pending memory was over the soft cap
  };
  void supervise();
  bool wait_to_look(std::chrono::microseconds sleep);  // true: the engine is stopping
  look look_at_slots(bool stopping);  // a barrier's flush, or a pass over every slot
  void cpu_main(std::size_t i);
  // A CPU thread between passes: sleeps `sleep` (none: idle, until woken), parks across a fork.
  // False: the thread is told to stop.
  bool wait_for_pass(std::size_t i, const std::optional<std::chrono::microseconds>& sleep);
  bool poll(bool expedite, bool& pending);  // one supervisor look at every slot
  void become_realtime() noexcept;          // a CPU thread, config::realtime_reclaim
  bool ensure_thread(std::size_t i);
  bool take_pressure_event() noexcept;
  void wake_cpu_thread(std::size_t i);
  // Ends an idle wait of `t` (the futex word back to 0 and a wake), for wakers that also set one
  // of t's flags under t.mu and notify t.cv.
  static void rouse(cpu_thread& t) noexcept;
  void rouse_supervisor() noexcept;
  void stop_cpu_threads();

  const config& cfg_;
  reclaimer& rec_;
  coarse_clock& clock_;
  const std::size_t slot_count_;
  const bool per_cpu_;
  // Pacing from the config: the tick, and the longest sleep while anything is pending
  // (min(drain_interval, 8 ticks), at least a tick).
  const std::chrono::microseconds tick_, short_cap_;
  std::unique_ptr<cpu_thread[]> cpu_;
  flush_scratch flush_scratch_;  // supervisor-private
  step_aside aside_;  // supervisor-private: the builder's CPUs, which the supervisor inherits
  std::uint32_t next_due_ms_ = kNeverMs;  // supervisor: earliest aging item it left
  // supervisor, per-CPU mode: at its last look some CPU had no thread watching it (none
  // started, or idle); a producer moving there is seen by the supervisor only.
  bool cpu_unwatched_ = false;
  stat_counter started_;
  stat_counter realtime_;          // CPU threads that got SCHED_FIFO (config::realtime_reclaim)
  stat_counter expedited_passes_;  // looks and passes over the soft cap
  stat_counter pressure_events_;
  std::atomic<bool> pressure_pending_{false};  // on_memory_pressure: shrink at the next look
  std::atomic<bool> said_realtime_refused_{false};

  std::mutex mu_;                    // the supervisor's flags
  std::condition_variable wake_cv_;  // the supervisor parks here across a fork
  // 1 while the supervisor sleeps between looks (a futex word: futex_word.hpp); every waker puts
  // it back to 0 and wakes it (rouse_supervisor), a caller without a lock too.
  std::atomic<std::uint32_t> sleeping_{0};
  std::condition_variable done_cv_;  // barrier callers and fork handlers wait here
  bool wake_ = false;
  bool stop_ = false;
  bool stopped_ = false;  // the supervisor has returned: no request will be served
  bool parked_ = false;
  std::atomic<bool> paused_{false};   // fork in progress: every thread parks
  std::atomic<bool> dormant_{false};  // fork child: no thread started yet
  std::atomic<bool> wake_pending_{false};
  std::atomic<std::uint64_t> flush_requested_{0}, flush_completed_{0};
  std::thread supervisor_;
};

constexpr std::size_t engine_threads::bytes_per_cpu() noexcept {
  return sizeof(cpu_thread);
}

}  // namespace rcufree::detail
