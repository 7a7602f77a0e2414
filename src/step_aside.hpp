// SPDX-License-Identifier: MIT
// step_aside.hpp — how the supervisor gets off a CPU whose burst it serves (engine_threads::poll).
//
// A caller's futex wake often places the woken supervisor on the caller's own CPU (when the CPUs
// share no cache, the kernel prefers the waker's), where it would take the core from the very
// producer whose page pool it is about to refill. off(cpu) narrows the calling thread's affinity
// to its allowed CPUs but `cpu` (the kernel moves it before the call returns); restore() widens
// it back, which moves nothing: the next wake-up finds the thread's last CPU idle and keeps it
// there. Each is at most one system call. One thread's own state: not shared.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>

namespace rcufree::detail {

class step_aside {
 public:
  // The CPUs the calling thread may run on now are the ones it goes back to.
  step_aside() noexcept {
    CPU_ZERO(&allowed_);
    known_ = pthread_getaffinity_np(pthread_self(), sizeof allowed_, &allowed_) == 0;
  }

  // Off `cpu` if the calling thread runs there and may run elsewhere; otherwise nothing.
  void off(std::size_t cpu) noexcept {
    if (!known_ || cpu >= CPU_SETSIZE || sched_getcpu() != static_cast<int>(cpu)) return;
    cpu_set_t others = allowed_;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0) return;
    narrowed_ = pthread_setaffinity_np(pthread_self(), sizeof others, &others) == 0;
  }
  void restore() noexcept {
    if (narrowed_) pthread_setaffinity_np(pthread_self(), sizeof allowed_, &allowed_);
    narrowed_ = false;
  }

 private:
  cpu_set_t allowed_;
  bool known_ = false;
  bool narrowed_ = false;
};

}  // namespace rcufree::detail
