// SPDX-License-Identifier: MIT
// misuse.cpp — misuse reports and the per-thread atomic-scope depth.
#include "misuse.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <rcufree/atomic_scope.hpp>
#include <string>

namespace rcufree {
namespace detail {

__thread unsigned atomic_depth __attribute__((tls_model("initial-exec"))) = 0;

namespace {
std::atomic<misuse_action> g_action{misuse_action::abort};

// Writes "rcufree: <sentence>\n" to stderr with one write(2): no allocation, no stdio lock, safe in
// a signal handler.
void write_report(const char* sentence) noexcept {
  char text[768];
  std::size_t n = 0;
  for (const char* part : {"rcufree: ", sentence}) {
    while (*part != '\0' && n < sizeof text - 1) text[n++] = *part++;
  }
  text[n++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, text, n);
  (void)ignored;
}
}  // namespace

void report_misuse(const char* sentence) {
  // relaxed: a setting; whichever value a racing set_misuse_action left is acceptable.
  if (g_action.load(std::memory_order_relaxed) == misuse_action::throw_error) {
    throw misuse_error(std::string("rcufree: ") + sentence);
  }
  write_report(sentence);
  std::abort();
}

void report_misuse_fatal(const char* sentence) noexcept {
  write_report(sentence);
  std::abort();
}

}  // namespace detail

misuse_action set_misuse_action(misuse_action action) noexcept {
  // relaxed: a process-wide setting with no data attached to it.
  return detail::g_action.exchange(action, std::memory_order_relaxed);
}

}  // namespace rcufree
