// SPDX-License-Identifier: MIT
// misuse.hpp — reporting misuse: "rcufree: file:function:line: sentence", then abort or throw.
#pragma once

namespace rcufree::detail {

// Formats the report without allocating (abort path) and either aborts or throws misuse_error,
// as set_misuse_action() chose. Never returns.
[[noreturn]] void report_misuse(const char* file, const char* function, int line,
                                const char* sentence);

// For misuse found on the atomic path, which may run in a signal handler where throwing is
// undefined: always writes the report with write(2) (async-signal-safe formatting) and aborts,
// whatever set_misuse_action() chose.
[[noreturn]] void report_misuse_fatal(const char* file, const char* function, int line,
                                      const char* sentence) noexcept;

}  // namespace rcufree::detail

#define RCUFREE_MISUSE(sentence) \
  ::rcufree::detail::report_misuse(__FILE__, __func__, __LINE__, (sentence))
#define RCUFREE_MISUSE_FATAL(sentence) \
  ::rcufree::detail::report_misuse_fatal(__FILE__, __func__, __LINE__, (sentence))
