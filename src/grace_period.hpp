// grace_period.hpp — a polled grace-period sequence on top of liburcu's synchronize_rcu.
//
// liburcu 0.13 has no polled grace-period API (get_state/poll_state arrived in 0.14), so rcufree
// keeps its own sequence number, advanced only around the worker's synchronize_rcu calls:
//   seq even: no grace period in progress; seq odd: one is in progress.
// A cookie taken with snapshot() names the sequence value at which a full grace period has
// elapsed since the snapshot; expired(cookie) tells whether it has. Blocks carry cookies, so a
// block closed long enough ago is freed without waiting for another grace period.
#pragma once

#include <urcu/flavor.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <new>

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
  explicit grace_period(const rcu_flavor_struct* flavor) noexcept : flavor_(flavor) {}

  // Any context (two loads and a fence, no system call). Everything the caller wrote before (the
  // unlink of the object) is ordered before the read of seq.
  std::uint64_t snapshot() const noexcept {
    // (G1) seq_cst fence: orders the caller's unlink before the load of seq; pairs with (G2).
    // Without it the load could see an old even seq while the worker's grace period had already
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

  // Sleepable. Waits for one full grace period that starts after the call. Callers are serialized
  // (the worker, and head-less callers that reclaim for themselves), so seq has one writer at a
  // time.
  void synchronize() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    // relaxed: writers are serialized by mu_.
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);
    const auto start = std::chrono::steady_clock::now();
    // relaxed store + (G2) seq_cst fence: the start of the grace period is visible before
    // synchronize_rcu looks at readers; pairs with (G1).
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    flavor_->update_synchronize_rcu();
    RCUFREE_TSAN_GRACE_PERIOD_ENDED();  // TSan builds: see the top of this file
    // (G4) release: the grace period is over; pairs with (G3).
    seq_.store(s + 2, std::memory_order_release);
    record(start);
  }

  // Sleepable. Waits for a grace period without advancing the sequence: for a caller that frees
  // one object inline right after (the head-less form with no page to be had). Not serialized.
  void wait_for_readers() noexcept {
    const auto start = std::chrono::steady_clock::now();
    flavor_->update_synchronize_rcu();
    RCUFREE_TSAN_GRACE_PERIOD_ENDED();
    record(start);
  }

  // fork(): no grace period runs across it; the child gets a fresh, unlocked mutex.
  void lock_for_fork() noexcept { mu_.lock(); }
  void unlock_after_fork() noexcept { mu_.unlock(); }
  void reset_in_child() noexcept { new (&mu_) std::mutex(); }

  const rcu_flavor_struct* flavor() const noexcept { return flavor_; }
  // relaxed loads below: statistics.
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t last_us() const noexcept { return last_us_.load(std::memory_order_relaxed); }
  std::uint64_t max_us() const noexcept { return max_us_.load(std::memory_order_relaxed); }

 private:
  const rcu_flavor_struct* flavor_;
  std::mutex mu_;  // serializes synchronize()
  std::atomic<std::uint64_t> seq_{0};
  void record(std::chrono::steady_clock::time_point start) noexcept {
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                              start)
            .count());
    // relaxed: statistics only; last/max may interleave between concurrent waiters.
    count_.fetch_add(1, std::memory_order_relaxed);
    last_us_.store(us, std::memory_order_relaxed);
    if (us > max_us_.load(std::memory_order_relaxed)) max_us_.store(us, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> last_us_{0};
  std::atomic<std::uint64_t> max_us_{0};
};

}  // namespace rcufree::detail
