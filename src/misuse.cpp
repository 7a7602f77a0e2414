// SPDX-License-Identifier: MIT
// misuse.cpp — misuse reports and the per-thread atomic-scope depth.
#include "misuse.hpp"

#include <rcufree/atomic_scope.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rcufree {
namespace detail {

__thread unsigned atomic_depth __attribute__((tls_model("initial-exec"))) = 0;

namespace {
std::atomic<misuse_action> g_action{misuse_action::abort};

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}
}  // namespace

void report_misuse(const char* file, const char* function, int line, const char* sentence) {
  char text[768];
  std::snprintf(text, sizeof text, "rcufree: %s:%s:%d: %s", base_name(file), function, line,
                sentence);
  // relaxed: a setting; whichever value a racing set_misuse_action left is acceptable.
  if (g_action.load(std::memory_order_relaxed) == misuse_action::throw_error) {
    throw misuse_error(text);
  }
  const std::size_t len = std::strlen(text);
  text[len < sizeof text - 1 ? len : sizeof text - 2] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, text, len < sizeof text - 1 ? len + 1 : sizeof text - 1);
  (void)ignored;
  std::abort();
}

void report_misuse_fatal(const char* file, const char* function, int line,
                         const char* sentence) noexcept {
  char text[768];
  std::size_t n = 0;
  auto put = [&](const char* str) {
    while (*str != '\0' && n < sizeof text - 2) text[n++] = *str++;
  };
  char digits[12];
  std::size_t d = sizeof digits;
  digits[--d] = '\0';
  for (unsigned v = line > 0 ? static_cast<unsigned>(line) : 0;;) {
    digits[--d] = static_cast<char>('0' + v % 10);
    v /= 10;
    if (v == 0 || d == 0) break;
  }
  put("rcufree: ");
  put(base_name(file));
  put(":");
  put(function);
  put(":");
  put(digits + d);
  put(": ");
  put(sentence);
  text[n++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, text, n);
  (void)ignored;
  std::abort();
}

}  // namespace detail

misuse_action set_misuse_action(misuse_action action) noexcept {
  // relaxed: a process-wide setting with no data attached to it.
  return detail::g_action.exchange(action, std::memory_order_relaxed);
}

}  // namespace rcufree
