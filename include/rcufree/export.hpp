// SPDX-License-Identifier: MIT
/* rcufree/export.hpp — which declarations librcufree.so exports.
 *
 * The library is compiled with -fvisibility=hidden, so only declarations marked RCUFREE_API are
 * in its dynamic symbol table: the public API of the headers in include/rcufree/. Everything
 * under src/ stays private to the library, which keeps the ABI to what the headers promise and
 * lets the compiler bind internal calls directly.
 *
 * Preprocessor only, so that the C header (rcufree.h) can include it too. The marking is also
 * right for the static archive: linked into a program or a shared library, the API keeps default
 * visibility and the engine's internals stay hidden. Define RCUFREE_API before including any
 * rcufree header to override it. */
#ifndef RCUFREE_EXPORT_HPP
#define RCUFREE_EXPORT_HPP

#ifndef RCUFREE_API
#if defined(__GNUC__) || defined(__clang__)
#define RCUFREE_API __attribute__((visibility("default")))
#else
#define RCUFREE_API
#endif
#endif

#endif /* RCUFREE_EXPORT_HPP */
