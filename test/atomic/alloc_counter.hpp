// SPDX-License-Identifier: MIT
// alloc_counter.hpp — counts the allocator calls one thread makes.
//
// In a normal build alloc_counter.cpp defines malloc, free, calloc, realloc, reallocarray,
// aligned_alloc, posix_memalign, memalign, valloc, pvalloc and every replaceable operator
// new/delete in the test executable (exported, so they interpose for the shared libraries too);
// each forwards to glibc's __libc_* entry points. In a sanitizer build the sanitizer owns those
// symbols, so the counter installs the sanitizer's malloc/free hooks instead (every allocation and
// free of any form passes through them, reported as "allocation"/"free"). ThreadSanitizer's hooks
// miss the aligned allocation functions, so TSan builds also define aligned_alloc, posix_memalign,
// memalign, valloc and pvalloc, count them and forward to TSan's own.
//
// A call is counted when the calling thread has armed the counter: the flag is a plain
// initial-exec TLS variable, so checking it allocates nothing. Calls by other threads while a
// window is open are summed separately (they prove the counter sees the engine's worker).
#pragma once

#include <cstddef>
#include <cstdint>

namespace alloc_counter {

enum fn : int {
  f_malloc,
  f_free,
  f_calloc,
  f_realloc,
  f_reallocarray,
  f_aligned_alloc,
  f_posix_memalign,
  f_memalign,
  f_valloc,
  f_pvalloc,
  f_new,
  f_new_array,
  f_delete,
  f_delete_array,
  kFunctions
};

const char* name(int f) noexcept;
// "symbol interposition" or "sanitizer malloc/free hooks".
const char* mechanism() noexcept;
// True where every entry point above is counted separately (normal builds); false where only
// "allocation" (f_malloc) and "free" (f_free) are (sanitizer hooks).
bool per_function() noexcept;

// Opens a counting window on the calling thread: resets the counters, then counts every allocator
// call this thread makes (signal handlers running on it included) until disarm().
void arm() noexcept;
void disarm() noexcept;
std::uint64_t count(int f) noexcept;
std::uint64_t total() noexcept;
// Allocator calls made by other threads while the window was open.
std::uint64_t others() noexcept;

// Watches frees of a set of malloc'd objects that start with kAliveMagic (atomic_support.hpp):
// the first free of each is reported to on_death with its index in the sorted address array, and
// its magic set to kDeadMagic. Up to kMaxWatched sets at once: added before the objects are
// queued, all cleared after barrier().
struct watched_set {
  const std::uintptr_t* sorted_addrs;
  std::size_t n;
  void (*on_death)(void* ctx, std::size_t index) noexcept;
  void* ctx;
};
inline constexpr int kMaxWatched = 8;
void watch(const watched_set* set) noexcept;  // aborts if all kMaxWatched places are taken
void unwatch_all() noexcept;

}  // namespace alloc_counter
