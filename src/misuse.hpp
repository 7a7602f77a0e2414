// SPDX-License-Identifier: MIT
// misuse.hpp — reporting misuse: "rcufree: sentence", then abort or throw.
//
// The report speaks to the caller: it names the call as the caller spelled it (rcufree_barrier()
// for a C caller, barrier() for C++), gives advice in the caller's language, and, for a C++ call
// that carried its call_site (call_site.hpp), starts with the caller's file, line and function.
// Where inside the library the misuse was found says nothing to the caller and is not printed.
#pragma once

namespace rcufree::detail {

// Formats the report and either aborts or throws misuse_error, as set_misuse_action() chose.
// Never returns.
[[noreturn]] void report_misuse(const char* sentence);

// For misuse found on the atomic path, which may run in a signal handler where throwing is
// undefined: always writes the report with write(2) (async-signal-safe formatting) and aborts,
// whatever set_misuse_action() chose.
[[noreturn]] void report_misuse_fatal(const char* sentence) noexcept;

// A C API call that may report misuse from inside the engine names itself for the report while
// it runs (the two-argument calls name themselves in their own sentences and set nothing, so
// that they stay a few instructions).
class in_c_call {
 public:
  explicit in_c_call(const char* name) noexcept;
  ~in_c_call();
  in_c_call(const in_c_call&) = delete;
  in_c_call& operator=(const in_c_call&) = delete;

 private:
  const char* previous_;
};

// `call`, the engine's name for what was called ("barrier"), as the caller spelled it: the C
// call's name inside an in_c_call, else `call` itself.
const char* spelled_for_caller(const char* call) noexcept;

// What a caller that may not sleep should call instead of a head-less form, in its language;
// one sentence, starting with a space.
const char* two_argument_advice() noexcept;

}  // namespace rcufree::detail

#define RCUFREE_MISUSE(sentence) ::rcufree::detail::report_misuse(sentence)
#define RCUFREE_MISUSE_FATAL(sentence) ::rcufree::detail::report_misuse_fatal(sentence)
