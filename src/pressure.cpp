// SPDX-License-Identifier: MIT
// pressure.cpp — PSI memory-pressure triggers (Documentation/accounting/psi.rst in the kernel).
#include "pressure.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "engine_threads.hpp"

namespace rcufree::detail {
namespace {

// 150 ms of stall in a 1 s window; without CAP_SYS_RESOURCE the kernel only accepts windows that
// are multiples of 2 s, so the second form keeps the same ratio for unprivileged processes.
constexpr const char* kTriggers[] = {"some 150000 1000000", "some 300000 2000000"};

// The cgroup v2 memory.pressure file of this process's cgroup, if there is one.
std::string cgroup_pressure_path() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3) + "/memory.pressure";
  }
  return {};
}

int arm(const std::string& path) {
  for (const char* trigger : kTriggers) {
    const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    if (::write(fd, trigger, std::strlen(trigger) + 1) >= 0) return fd;
    ::close(fd);
  }
  return -1;
}

std::atomic<bool> g_said_unavailable{false};

}  // namespace

pressure_watch::pressure_watch(engine_threads& threads) : threads_(threads) {
  for (const std::string& path : {cgroup_pressure_path(), std::string("/proc/pressure/memory")}) {
    if (path.empty()) continue;
    trigger_fd_ = arm(path);
    if (trigger_fd_ >= 0) {
      source_ = path;
      break;
    }
  }
  if (trigger_fd_ < 0) {
    // relaxed: only "say it once" depends on it.
    if (!g_said_unavailable.exchange(true, std::memory_order_relaxed)) {
      std::fprintf(stderr,
                   "rcufree: memory pressure watch unavailable (no PSI trigger could be armed: "
                   "%s); carrying on without it\n",
                   std::strerror(errno));
    }
    return;
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  // release: source_ and the fds are set before anyone sees armed() true; pairs with armed().
  armed_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

pressure_watch::~pressure_watch() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    ssize_t ignored = ::write(stop_fd_, &one, sizeof one);
    (void)ignored;
    thread_.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (trigger_fd_ >= 0) ::close(trigger_fd_);
}

void pressure_watch::run() {
  pollfd fds[2] = {{trigger_fd_, POLLPRI, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & POLLERR) {
      std::fprintf(stderr, "rcufree: memory pressure trigger on %s went away\n", source_.c_str());
      return;
    }
    if (fds[0].revents & POLLPRI) threads_.on_memory_pressure();
  }
}

}  // namespace rcufree::detail
