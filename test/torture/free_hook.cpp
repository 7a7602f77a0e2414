// SPDX-License-Identifier: MIT
// free_hook.cpp — sees every free() of the test process, so that torture nodes handed to
// kfree_rcu/kvfree_rcu_mightsleep (freed with std::free, no destructor) are poisoned and counted
// at the moment rcufree frees them, exactly like the delete kinds are in ~node.
//
// Plain builds interpose free() itself: the executable's definition wins over glibc's for every
// caller (librcufree.a is linked into the executable), and forwards to glibc's __libc_free.
// Torture nodes are then kept in a quarantine for a while before they really go back.
// Sanitizer builds cannot interpose (the sanitizer runtime already owns free), so they register
// the same check with the sanitizer allocator's free hook, which runs before the memory is
// released or quarantined.
#include "torture_support.hpp"

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));
extern "C" std::size_t __sanitizer_get_allocated_size(const volatile void* p);

namespace {

void on_malloc(const volatile void*, std::size_t) {}

void on_free(const volatile void* p) {
  // Blocks smaller than a node cannot be one, and reading 8 bytes of them would overflow.
  if (p != nullptr && __sanitizer_get_allocated_size(p) >= sizeof(torture::node)) {
    torture::inspect_free(const_cast<void*>(p));
  }
}

[[maybe_unused]] const int g_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);

}  // namespace

#else

#include <pthread.h>

#include <mutex>

extern "C" void __libc_free(void* p) noexcept;

namespace {

// Freed torture nodes are held back for a while before glibc gets them, like ASan's quarantine:
// a reader that reaches a node freed too early then finds the poison (and its holder count goes
// to memory nobody else uses) instead of corrupting the heap or reading a new allocation.
constexpr std::size_t kQuarantine = std::size_t{1} << 15;
std::mutex g_quarantine_mu;
void* g_quarantine[kQuarantine];
std::size_t g_quarantine_next = 0;

void* quarantine(void* p) noexcept {
  std::lock_guard<std::mutex> lock(g_quarantine_mu);
  void* oldest = g_quarantine[g_quarantine_next];
  g_quarantine[g_quarantine_next] = p;
  g_quarantine_next = (g_quarantine_next + 1) % kQuarantine;
  return oldest;
}

// fork() while another thread is inside quarantine() must not leave the child's copy locked.
[[maybe_unused]] const int g_atfork = pthread_atfork([] { g_quarantine_mu.lock(); },
                                                     [] { g_quarantine_mu.unlock(); },
                                                     [] { g_quarantine_mu.unlock(); });

}  // namespace

// Every chunk glibc hands out has at least 24 usable bytes, so reading the first 8 is safe.
extern "C" void free(void* p) noexcept {
  if (p != nullptr && torture::inspect_free(p)) p = quarantine(p);
  __libc_free(p);
}

#endif
