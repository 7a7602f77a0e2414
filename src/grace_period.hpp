// SPDX-License-Identifier: MIT
// grace_period.hpp — a polled grace-period sequence on top of liburcu's synchronize_rcu.
//
// liburcu 0.13 has no polled grace-period API (get_state/poll_state arrived in 0.14), so rcufree
// keeps its own sequence number, advanced only around its own synchronize_rcu calls:
//   seq even: no grace period in progress; seq odd: one is in progress.
// A cookie taken with snapshot() names the sequence value at which a full grace period has
// elapsed since the snapshot; expired(cookie) tells whether it has. Blocks carry cookies, so a
// block closed long enough ago is freed without waiting for another grace period.
#pragma once

#include <urcu/flavor.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>

#include "stop_point.hpp"

// liburcu-memb's flavor table, the default (urcu/urcu-memb.h names it rcu_flavor through a macro;
// declaring it here keeps liburcu's short-name macros out of the engine).
extern "C" const struct rcu_flavor_struct urcu_memb_flavor;

// ThreadSanitizer builds only (test/torture/tsan_grace.hpp explains the pairing). liburcu is not
// instrumented, so TSan cannot see that synchronize_rcu() waits for every reader that was inside
// a read-side critical section when it started. Test readers __tsan_release this token just
// before rcu_read_unlock(); synchronize() __tsan_acquires it right after synchronize_rcu()
// returns, which gives TSan the reader-section -> free edge the grace period really provides.
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
namespace rcufree::detail {
inline char tsan_grace_token;
}  // namespace rcufree::detail
#define RCUFREE_TSAN_GRACE_TOKEN (&::rcufree::detail::tsan_grace_token)
#define RCUFREE_TSAN_GRACE_PERIOD_ENDED() __tsan_acquire(RCUFREE_TSAN_GRACE_TOKEN)
#else
#define RCUFREE_TSAN_GRACE_PERIOD_ENDED() ((void)0)
#endif

namespace rcufree::detail {

class grace_period {
 public:
  // `leader_patience`: kLeaderPatience below; tests lengthen it to count shared grace periods.
  explicit grace_period(const rcu_flavor_struct* flavor,
                        std::chrono::milliseconds leader_patience = kLeaderPatience) noexcept
      : flavor_(flavor), leader_patience_(leader_patience) {}

  // Any context (two loads and a fence, no system call). Everything the caller wrote before (the
  // unlink of the object) is ordered before the read of seq.
  std::uint64_t snapshot() const noexcept {
    // (G1) seq_cst fence: orders the caller's unlink before the load of seq; pairs with (G2).
    // Without it the load could see an old even seq while a reclaimer's grace period had already
    // begun without waiting for the readers that still see the object.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // relaxed: ordered by (G1).
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);
    // Even s: the next full grace period ends at s + 2. Odd s: the one in progress may have
    // started before the unlink, so wait for the one after it, ending at s + 3.
    return (s + 3) & ~std::uint64_t{1};
  }

  bool expired(std::uint64_t cookie) const noexcept {
    // (G3) acquire: pairs with (G4); frees that follow happen after the grace period ended.
    return seq_.load(std::memory_order_acquire) >= cookie;
  }

  // How long a waiter shares a leader's grace period before it runs one of its own. A leader
  // may be a caller's thread (reclaim_local(), a head-less inline free) that a debugger stopped
  // for good; no reclaimer may wait for it forever (promise 10). liburcu lets concurrent
  // synchronize_rcu callers share one grace period, so a waiter's own costs it no longer wait.
  static constexpr std::chrono::milliseconds kLeaderPatience{50};

  // Sleepable. Returns once a full grace period has elapsed since `cookie` was taken (normally:
  // once expired(cookie)), running grace periods as needed. Concurrent callers share them (the
  // per-CPU reclaim threads, the supervisor, reclaiming callers, head-less inline frees): while
  // one caller -- the leader -- runs a grace period outside the mutex, the others wait on it, and
  // every waiter whose cookie it reaches returns when it ends. No one holds the mutex across
  // synchronize_rcu, so liburcu's own batching of concurrent callers is not defeated and a
  // stalled reader delays only the waiters that need it. A waiter whose leader is leader_patience_
  // late runs a grace period of its own, which starts after its cookie was taken and so covers
  // it; that one does not advance the sequence (the late leader's still stands).
  void wait_until(std::uint64_t cookie) noexcept {
    if (expired(cookie)) return;
    std::unique_lock<std::mutex> lock(mu_);
    const auto give_up = std::chrono::steady_clock::now() + leader_patience_;
    // relaxed: seq's writers hold mu_ (each store below is made under it).
    while (seq_.load(std::memory_order_relaxed) < cookie) {
      if (running_) {
        if (done_.wait_until(lock, give_up) == std::cv_status::no_timeout) continue;
        if (!running_ || seq_.load(std::memory_order_relaxed) >= cookie) continue;
        synchronize_unlocked(lock);  // the leader is late: a grace period of this waiter's own
        return;
      }
      running_ = true;
      const std::uint64_t s = seq_.load(std::memory_order_relaxed);
      // relaxed store + (G2) seq_cst fence: the start of the grace period is visible before
      // synchronize_rcu looks at readers; pairs with (G1).
      seq_.store(s + 1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      synchronize_unlocked(lock);
      // (G4) release: the grace period is over; pairs with (G3). Waiters woken below read seq
      // under mu_, which orders them after it too.
      seq_.store(s + 2, std::memory_order_release);
      running_ = false;
      done_.notify_all();
    }
  }

  // Sleepable. Waits for one full grace period that starts after the call (shared with
  // concurrent callers as above).
  void synchronize() noexcept { wait_until(snapshot()); }

  // fork(): keeps grace periods from starting until unlock_after_fork (parent) or reset_in_child
  // (child), after waiting up to `limit` for those in progress to end: a thread inside
  // synchronize_rcu at the fork may take liburcu's own grace-period lock with it, and the
  // child's grace periods would then never end. Bounded, because that thread may be a caller's
  // that is stopped (fork() must not hang on it) or, with liburcu-bp, one that waits for the
  // very lock urcu_bp_before_fork() holds (the caller passes 0 there).
  void lock_for_fork(std::chrono::milliseconds limit) noexcept {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait_for(lock, limit, [this] { return inside_ == 0; });
    lock.release();
  }
  void unlock_after_fork() noexcept { mu_.unlock(); }
  // fork child, single-threaded. True if a grace period was still in progress at the fork (see
  // lock_for_fork); it never ends here, so the sequence goes back to the last one that did.
  bool reset_in_child() noexcept {
    const bool was_inside = inside_ != 0;
    new (&mu_) std::mutex();
    new (&done_) std::condition_variable();
    running_ = false;
    inside_ = 0;
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);  // relaxed: single-threaded
    seq_.store(s & ~std::uint64_t{1}, std::memory_order_relaxed);
    return was_inside;
  }

  const rcu_flavor_struct* flavor() const noexcept { return flavor_; }
  // relaxed loads below: statistics.
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t last_us() const noexcept { return last_us_.load(std::memory_order_relaxed); }
  std::uint64_t max_us() const noexcept { return max_us_.load(std::memory_order_relaxed); }

 private:
  // One synchronize_rcu, counted in inside_ for fork handlers. Called and returns with `lock`
  // held; drops it meanwhile.
  void synchronize_unlocked(std::unique_lock<std::mutex>& lock) noexcept {
    ++inside_;
    lock.unlock();
    RCUFREE_STOP_AT(grace_period_started);
    const auto start = std::chrono::steady_clock::now();
    flavor_->update_synchronize_rcu();
    RCUFREE_TSAN_GRACE_PERIOD_ENDED();  // TSan builds: see the top of this file
    record(start);
    RCUFREE_STOP_AT(grace_period_ended);
    lock.lock();
    --inside_;
    done_.notify_all();  // a fork handler may wait for inside_ == 0
  }

  const rcu_flavor_struct* flavor_;
  const std::chrono::milliseconds leader_patience_;
  std::mutex mu_;                 // guards running_, inside_ and the writes of seq_
  std::condition_variable done_;  // a grace period ended
  bool running_ = false;          // a leader is running the grace period seq_ counts
  int inside_ = 0;                // threads between the stop points around synchronize_rcu
  std::atomic<std::uint64_t> seq_{0};
  void record(std::chrono::steady_clock::time_point start) noexcept {
    const auto us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
    // relaxed: statistics only; last/max may interleave between concurrent leaders.
    count_.fetch_add(1, std::memory_order_relaxed);
    last_us_.store(us, std::memory_order_relaxed);
    if (us > max_us_.load(std::memory_order_relaxed)) max_us_.store(us, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> last_us_{0};
  std::atomic<std::uint64_t> max_us_{0};
};

}  // namespace rcufree::detail
