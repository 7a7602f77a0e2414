// SPDX-License-Identifier: MIT
// cpus.hpp — which CPUs a test may use, and pinning the calling thread to one.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <vector>

namespace rcufree_test {

// CPUs the calling thread may run on.
inline std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// Binds the calling thread to `cpu`; false if the kernel refuses.
inline bool pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
}

// Binds the calling thread to `cpu` while in scope, then gives back its previous CPUs.
class pinned {
 public:
  explicit pinned(int cpu) {
    CPU_ZERO(&saved_);
    pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_);
    ok_ = pin_to(cpu);
  }
  ~pinned() { pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_); }
  pinned(const pinned&) = delete;
  pinned& operator=(const pinned&) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t saved_;
  bool ok_ = false;
};

}  // namespace rcufree_test
