// SPDX-License-Identifier: MIT
// bound_thread.hpp — a thread that runs on one CPU from its first instruction (the CPU threads).
//
// Why not std::thread and then pthread_setaffinity_np from inside the thread: a running thread
// that moves itself onto a CPU where another thread spins waits there for that thread's time
// slice to end before it first runs: 0.82-0.87 ms at the median, up to 3.2 ms (bench/adhoc/
// bound_start.cpp: 60 starts each, a spinner on the target CPU; asking first for a short slice
// changes nothing). A new thread created with its affinity already set is woken on that CPU, and
// the wake-up preempts the spinner: 43-61 us at the median, 99 us at most. In a flood the spinner
// is the producer, and every millisecond the thread waits is ~30k objects more pending.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <exception>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

namespace rcufree::detail {

class bound_thread {
 public:
  bound_thread() = default;
  // Like std::thread: destroying a thread that still runs (not joined, not forgotten) is a bug
  // that would leave it using freed state.
  ~bound_thread() {
    if (running_) std::terminate();
  }
  bound_thread(const bound_thread&) = delete;
  bound_thread& operator=(const bound_thread&) = delete;

  // Starts fn on a new thread bound to `cpu`. Where that CPU cannot be had (it left the process's
  // allowed set, no cpu_set_t can name it, or the attribute cannot be set), the thread starts
  // unbound: still correct, its frees are only no longer local. Throws std::system_error when no
  // thread can be had; the caller must not have a running thread here (joinable() false).
  void start(int cpu, std::function<void()> fn) {
    auto owned = std::make_unique<std::function<void()>>(std::move(fn));
    int err = EINVAL;
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      if (pthread_attr_setaffinity_np(&attr, sizeof one, &one) == 0)
        err = pthread_create(&handle_, &attr, &run, owned.get());
      pthread_attr_destroy(&attr);
    }
    if (err == EINVAL) err = pthread_create(&handle_, nullptr, &run, owned.get());  // unbound
    if (err != 0) throw std::system_error(err, std::generic_category(), "pthread_create");
    owned.release();  // the thread owns it now
    running_ = true;
  }
  bool joinable() const noexcept { return running_; }
  void join() noexcept {
    if (!running_) return;
    pthread_join(handle_, nullptr);
    running_ = false;
  }
  // In a fork child: the parent's thread does not exist here; forget its handle.
  void forget() noexcept { running_ = false; }

 private:
  static void* run(void* arg) {
    const std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(arg));
    (*fn)();
    return nullptr;
  }

  pthread_t handle_{};
  bool running_ = false;
};

}  // namespace rcufree::detail
