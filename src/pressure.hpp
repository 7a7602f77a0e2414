// SPDX-License-Identifier: MIT
// pressure.hpp — listening to Linux PSI memory pressure on the engine's behalf.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace rcufree::detail {

class engine_threads;

// A thread blocked in poll() on a PSI trigger (15% of a window stalled on memory: 150 ms in 1 s,
// or 300 ms in 2 s where the process lacks CAP_SYS_RESOURCE) and on an eventfd used to stop it.
// Each trigger calls engine_threads::on_memory_pressure(). If no trigger can be armed, prints one
// line and exits.
class pressure_watch {
 public:
  explicit pressure_watch(engine_threads& threads);
  ~pressure_watch();  // stops and joins the thread
  pressure_watch(const pressure_watch&) = delete;
  pressure_watch& operator=(const pressure_watch&) = delete;

  // acquire: pairs with the release store in the constructor (source_ and the fds are set).
  bool armed() const noexcept { return armed_.load(std::memory_order_acquire); }

 private:
  void run();
  engine_threads& threads_;
  int trigger_fd_ = -1;
  int stop_fd_ = -1;
  std::string source_;
  std::atomic<bool> armed_{false};
  std::thread thread_;
};

}  // namespace rcufree::detail
