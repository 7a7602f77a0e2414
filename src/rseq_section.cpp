// SPDX-License-Identifier: MIT
// rseq_section.cpp — whether the engine may use restartable sequences, and the membarrier that
// restarts them on another CPU: see rseq_section.hpp.
#include "rseq_section.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rcufree::detail {
namespace {

long membarrier(int cmd, unsigned flags, int cpu) noexcept {
  return syscall(__NR_membarrier, cmd, flags, cpu);
}

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

}  // namespace

bool rseq_usable() noexcept {
#if defined(__x86_64__)
  if (kThreadSanitizer) return false;  // it cannot see the kernel restart a sequence
  // Decided once per process (a fork child inherits the registration, checked on Linux 6.18).
  static const bool usable = [] {
    const char* off = std::getenv("RCUFREE_NO_RSEQ");
    if (off != nullptr && *off != '\0' && std::strcmp(off, "0") != 0) return false;
    if (rseq_cpu() < 0) return false;  // this thread has no rseq area: nor, then, do others
    return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) == 0;
  }();
  return usable;
#else
  return false;
#endif
}

void restart_sequences_on(std::size_t cpu) noexcept {
  // A CPU that is offline or does not exist runs nothing: the kernel returns 0.
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU,
                 static_cast<int>(cpu)) == 0) {
    return;
  }
  // Registered in rseq_usable() before any engine used the sequences: failing now would leave a
  // slot open to two writers, so it must not go unnoticed.
  std::fprintf(stderr,
               "rcufree: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) on CPU %zu failed (%s); "
               "without it a CPU slot cannot be taken safely from another CPU\n",
               cpu, std::strerror(errno));
  std::abort();
}

}  // namespace rcufree::detail
