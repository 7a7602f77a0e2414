// misuse.hpp — reporting misuse: "rcufree: file:function:line: sentence", then abort or throw.
#pragma once

namespace rcufree::detail {

// Formats the report without allocating (abort path) and either aborts or throws misuse_error,
// as set_misuse_action() chose. Never returns.
[[noreturn]] void report_misuse(const char* file, const char* function, int line,
                                const char* sentence);

}  // namespace rcufree::detail

#define RCUFREE_MISUSE(sentence) \
  ::rcufree::detail::report_misuse(__FILE__, __func__, __LINE__, (sentence))
