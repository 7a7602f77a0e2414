// SPDX-License-Identifier: MIT
// tsan_grace.hpp — tells ThreadSanitizer that a reader's section ends before a grace period does.
//
// liburcu is not instrumented, so TSan cannot see that synchronize_rcu() waits for every reader
// that was inside a read-side critical section when it started. Without help it reports the
// worker's poisoning (or free) of a node as racing with a reader's earlier reads of it, although
// the grace period orders them. rcufree's grace_period::synchronize() performs __tsan_acquire on
// a process-wide token right after synchronize_rcu() returns (src/grace_period.hpp, TSan builds
// only); every test reader that reads objects the engine may free performs the matching
// __tsan_release just before rcu_read_unlock() (torture and unit tests alike).
//
// This is sound for the engine: a reader's release lands before its unlock, and synchronize_rcu
// returns only after every section that overlapped its start has unlocked, so the acquire sees
// every release it must. It over-approximates (sections that started after the grace period
// began are acquired too), which can hide a race, never invent one. An engine that frees an
// object before its grace period still shows up: the free then precedes the reader's release,
// so TSan reports the race, and the torture's own poison and holder checks fail as well.
#pragma once

#include "grace_period.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace rcufree_test {

// Call right before rcu_read_unlock() (of the engine's flavor) in reader threads.
inline void reader_section_ends() noexcept {
#if defined(__SANITIZE_THREAD__) && defined(RCUFREE_TSAN_GRACE_TOKEN)
  __tsan_release(RCUFREE_TSAN_GRACE_TOKEN);
#endif
}

}  // namespace rcufree_test
