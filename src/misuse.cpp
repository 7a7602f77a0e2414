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

}  // namespace detail

misuse_action set_misuse_action(misuse_action action) noexcept {
  // relaxed: a process-wide setting with no data attached to it.
  return detail::g_action.exchange(action, std::memory_order_relaxed);
}

}  // namespace rcufree
