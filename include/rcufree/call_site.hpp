// SPDX-License-Identifier: MIT
// rcufree/call_site.hpp — where a call into rcufree was made, so that a misuse report names the
// caller's line rather than a line inside the library.
//
// The C++ calls that can report misuse at run time (the head-less forms, and the free function
// barrier()) take a call_site as a defaulted last argument; callers never write it:
//
//   rcufree::kvfree_rcu_mightsleep(p);   // inside a read-side critical section, reports
//   // rcufree: src/cache.cpp:88: in void cache::evict(): kvfree_rcu_mightsleep() called inside
//   // an RCU read-side critical section; ...
//
// From std::source_location under C++20, from the compiler builtins it is made of under C++17
// (GCC, Clang); the same struct either way, so the library's ABI does not depend on the
// caller's standard. While the call runs, a thread-local pointer names the site (two stores per
// call, next to calls that may sleep); reports read it.
#pragma once

#include <rcufree/export.hpp>

#if __has_include(<source_location>)
#include <source_location>
#endif

namespace rcufree {

struct call_site {
  const char* file = nullptr;  // as the compiler was given it
  unsigned line = 0;
  const char* function = nullptr;

#if defined(__cpp_lib_source_location)
  static constexpr call_site current(
      std::source_location here = std::source_location::current()) noexcept {
    return {here.file_name(), static_cast<unsigned>(here.line()), here.function_name()};
  }
#else
  static constexpr call_site current(const char* file = __builtin_FILE(),
                                     unsigned line = __builtin_LINE(),
                                     const char* function = __builtin_FUNCTION()) noexcept {
    return {file, line, function};
  }
#endif
};

namespace detail {

// The site of the rcufree call the calling thread is in, or null. Plain __thread with the
// initial-exec model, like atomic_depth: no TLS wrapper call, no lazy allocation.
extern RCUFREE_API __thread const call_site* current_call_site
    __attribute__((tls_model("initial-exec")));

// Names `site` as the calling thread's current call site while it lives (nests).
class at_call_site {
 public:
  explicit at_call_site(const call_site& site) noexcept : previous_(current_call_site) {
    current_call_site = &site;
  }
  ~at_call_site() { current_call_site = previous_; }
  at_call_site(const at_call_site&) = delete;
  at_call_site& operator=(const at_call_site&) = delete;

 private:
  const call_site* previous_;
};

}  // namespace detail
}  // namespace rcufree
