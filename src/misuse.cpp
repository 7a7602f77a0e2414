// SPDX-License-Identifier: MIT
// misuse.cpp — misuse reports, who they speak to, and the per-thread atomic-scope depth.
#include "misuse.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <rcufree/atomic_scope.hpp>
#include <rcufree/call_site.hpp>
#include <string>

namespace rcufree {
namespace detail {

__thread unsigned atomic_depth __attribute__((tls_model("initial-exec"))) = 0;
__thread const call_site* current_call_site __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {
std::atomic<misuse_action> g_action{misuse_action::abort};

// The C call the calling thread is in (in_c_call), or null. Read and written by this thread only.
__thread const char* t_c_call __attribute__((tls_model("initial-exec"))) = nullptr;

// "rcufree: [file:line: in function: ]sentence", without allocating: the text for both actions.
// Async-signal-safe (no stdio): the atomic path reports from signal handlers too.
struct report_text {
  char text[1024];
  std::size_t n = 0;

  // with_site: false for the atomic path's reports, whose calls set no site (a site set then
  // would be that of a call the reporting signal handler interrupted).
  report_text(const char* sentence, bool with_site) noexcept {
    put("rcufree: ");
    const call_site* site = with_site ? current_call_site : nullptr;
    if (site != nullptr && site->file != nullptr) {
      put(site->file);
      put(":");
      put_number(site->line);
      put(": in ");
      put(site->function != nullptr ? site->function : "?");
      put(": ");
    }
    put(sentence);
    text[n] = '\0';
  }
  void put(const char* s) noexcept {
    while (*s != '\0' && n < sizeof text - 2) text[n++] = *s++;  // room for '\n' and '\0'
  }
  void put_number(unsigned v) noexcept {
    char digits[12];
    std::size_t d = sizeof digits;
    digits[--d] = '\0';
    do {
      digits[--d] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0 && d > 0);
    put(digits + d);
  }
  [[noreturn]] void write_and_abort() noexcept {
    text[n++] = '\n';
    ssize_t ignored = ::write(STDERR_FILENO, text, n);
    (void)ignored;
    std::abort();
  }
};

}  // namespace

void report_misuse(const char* sentence) {
  report_text report(sentence, /*with_site=*/true);
  // relaxed: a setting; whichever value a racing set_misuse_action left is acceptable.
  if (g_action.load(std::memory_order_relaxed) == misuse_action::throw_error) {
    throw misuse_error(report.text);
  }
  report.write_and_abort();
}

void report_misuse_fatal(const char* sentence) noexcept {
  report_text(sentence, /*with_site=*/false).write_and_abort();
}

in_c_call::in_c_call(const char* name) noexcept : previous_(t_c_call) {
  t_c_call = name;
}
in_c_call::~in_c_call() {
  t_c_call = previous_;
}

const char* spelled_for_caller(const char* call) noexcept {
  return t_c_call != nullptr ? t_c_call : call;
}

const char* two_argument_advice() noexcept {
  return t_c_call != nullptr
             ? " Use rcufree_kfree_rcu(obj, &obj->head) or rcufree_kfree_rcu_field(obj, head), "
               "which never sleep, or call it outside."
             : " Use the two-argument kfree_rcu(obj, &T::head)/delete_rcu(obj, &T::head), which "
               "never sleeps, or call it outside.";
}

}  // namespace detail

misuse_action set_misuse_action(misuse_action action) noexcept {
  // relaxed: a process-wide setting with no data attached to it.
  return detail::g_action.exchange(action, std::memory_order_relaxed);
}

}  // namespace rcufree
