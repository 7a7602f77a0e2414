// SPDX-License-Identifier: MIT
// misuse.hpp — reporting misuse: "rcufree: sentence", then abort or throw.
//
// The sentence names the call the caller made, in the caller's spelling (rcufree_engine_barrier
// for a C caller), and says what to do instead. Where the report is made inside the library says
// nothing to the caller, so it is not printed.
#pragma once

namespace rcufree::detail {

// Formats the report without allocating (abort path) and either aborts or throws misuse_error,
// as set_misuse_action() chose. Never returns.
[[noreturn]] void report_misuse(const char* sentence);

// For misuse found on the atomic path, which may run in a signal handler where throwing is
// undefined: always writes the report with write(2) (async-signal-safe formatting) and aborts,
// whatever set_misuse_action() chose.
[[noreturn]] void report_misuse_fatal(const char* sentence) noexcept;

}  // namespace rcufree::detail

#define RCUFREE_MISUSE(sentence) ::rcufree::detail::report_misuse(sentence)
#define RCUFREE_MISUSE_FATAL(sentence) ::rcufree::detail::report_misuse_fatal(sentence)
