// SPDX-License-Identifier: MIT
// time_slice.hpp — the engine threads' scheduling: the fair class with a short time slice (the
// supervisor asks, its CPU threads inherit; also bench/adhoc/wake_latency.cpp, which measures what
// the slice buys).
//
// Linux 6.12+ (EEVDF): a fair-class thread may ask for a shorter time slice, which gives it an
// earlier virtual deadline, so that when its timer fires it preempts a busy thread sharing its
// core instead of waiting for that thread's slice (0.75-3 ms) to end. No privilege is needed;
// older kernels ignore or refuse it, and the thread then simply runs at the usual slice.
#pragma once

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace rcufree::detail {

inline constexpr std::uint64_t kShortestSliceNs = 100'000;  // the shortest the kernel accepts

// The kernel's struct sched_attr, first version (glibc 2.36 has no wrapper for it).
struct sched_attr_v0 {
  std::uint32_t size, policy;
  std::uint64_t flags;
  std::int32_t nice;
  std::uint32_t priority;
  std::uint64_t runtime;  // SCHED_OTHER / SCHED_BATCH: the time slice (Linux 6.12+)
  std::uint64_t deadline, period;
};

// Thread `tid`'s scheduling attributes (0: the calling thread); false if the kernel refused.
inline bool read_sched_attr(pid_t tid, sched_attr_v0& attr) noexcept {
  return syscall(SYS_sched_getattr, tid, &attr, sizeof attr, 0u) == 0;
}

// Puts the calling thread in the fair class (SCHED_OTHER: a real-time or batch policy it inherited
// from the thread that built the engine is dropped, its nice value kept) with a time slice of
// `ns`. Threads it creates afterwards inherit both (clone copies the scheduling attributes). True
// if the kernel reports that slice afterwards: kernels before 6.12 accept the call and ignore the
// slice.
inline bool run_fair_with_slice(std::uint64_t ns) noexcept {
  sched_attr_v0 attr{};
  if (!read_sched_attr(0, attr)) return false;
  attr.size = sizeof attr;  // SCHED_ATTR_SIZE_VER0
  attr.policy = SCHED_OTHER;
  attr.priority = 0;
  attr.flags &= 0x01;  // SCHED_FLAG_RESET_ON_FORK stays as it was; util-clamp flags need VER1
  attr.runtime = ns;
  attr.deadline = attr.period = 0;
  if (syscall(SYS_sched_setattr, 0, &attr, 0u) != 0) return false;
  return read_sched_attr(0, attr) && attr.runtime == ns;
}

}  // namespace rcufree::detail
