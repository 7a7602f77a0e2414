// SPDX-License-Identifier: MIT
// alloc_counter.cpp — the allocator interposer (normal builds) or sanitizer hooks (ASan/TSan).
// See alloc_counter.hpp.
#include "alloc_counter.hpp"

#include "atomic_support.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

namespace alloc_counter {
namespace {

// Plain TLS in the executable: local-exec, so reading it is one %fs-relative load that cannot
// allocate (a lazily allocated TLS block would recurse into malloc).
__thread bool t_armed = false;

std::atomic<std::uint64_t> g_counts[kFunctions];
std::atomic<std::uint64_t> g_others{0};
std::atomic<bool> g_window_open{false};
std::atomic<const watched_set*> g_watched[kMaxWatched];

const char* const kNames[kFunctions] = {
    "malloc",         "free",     "calloc",  "realloc", "reallocarray",
    "aligned_alloc",  "posix_memalign", "memalign", "valloc", "pvalloc",
    "operator new",   "operator new[]", "operator delete", "operator delete[]"};

#ifdef RCUFREE_TEST_TSAN
#define RCUFREE_TEST_NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define RCUFREE_TEST_NO_TSAN
#endif

RCUFREE_TEST_NO_TSAN inline void note(int f) noexcept {
  if (t_armed) {
    // relaxed: only the armed thread (and signal handlers on it) increments; read after disarm()
    // on the same thread.
    g_counts[f].fetch_add(1, std::memory_order_relaxed);
  } else if (g_window_open.load(std::memory_order_relaxed)) {  // relaxed: a statistic
    // relaxed: statistic read after the window closes; exactness across threads is not needed.
    g_others.fetch_add(1, std::memory_order_relaxed);
  }
}

RCUFREE_TEST_NO_TSAN bool observe_in(const watched_set* w, std::uintptr_t a) noexcept {
  std::size_t lo = 0, hi = w->n;
  while (lo < hi) {  // first element >= a
    const std::size_t mid = lo + (hi - lo) / 2;
    if (w->sorted_addrs[mid] < a) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == w->n || w->sorted_addrs[lo] != a) return false;
  auto* magic = reinterpret_cast<std::uint64_t*>(a);
  if (*magic != atomic_test::kAliveMagic) return true;  // a reused chunk, or a double free
                                                        // (glibc or the sanitizer reports it)
  *magic = atomic_test::kDeadMagic;
  w->on_death(w->ctx, lo);
  return true;
}

RCUFREE_TEST_NO_TSAN void observe_free(const volatile void* vp) noexcept {
  if (vp == nullptr) return;
  const auto a = reinterpret_cast<std::uintptr_t>(const_cast<const void*>(vp));
  for (auto& slot : g_watched) {
    // acquire: pairs with the release in watch(); the address array is complete once seen.
    const watched_set* w = slot.load(std::memory_order_acquire);
    if (w != nullptr && w->n != 0 && observe_in(w, a)) return;
  }
}

}  // namespace

const char* name(int f) noexcept {
  if (!per_function()) return f == f_malloc ? "allocation" : f == f_free ? "free" : "?";
  return f >= 0 && f < kFunctions ? kNames[f] : "?";
}

void arm() noexcept {
  // relaxed: the counters are only read by this thread after disarm().
  for (auto& c : g_counts) c.store(0, std::memory_order_relaxed);
  g_others.store(0, std::memory_order_relaxed);  // relaxed: as above
  g_window_open.store(true, std::memory_order_relaxed);  // relaxed: a hint for note()
  // Compiler-only fences around the flag: they pair with this thread's own signal handlers and
  // keep the measured calls from being moved across the window's edges.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_armed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // see above
}

void disarm() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);  // compiler-only: see arm()
  t_armed = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // compiler-only: see arm()
  g_window_open.store(false, std::memory_order_relaxed);  // relaxed: see note()
}

std::uint64_t count(int f) noexcept {
  return g_counts[f].load(std::memory_order_relaxed);  // relaxed: see note()
}

std::uint64_t total() noexcept {
  std::uint64_t t = 0;
  for (int f = 0; f < kFunctions; ++f) t += count(f);
  return t;
}

std::uint64_t others() noexcept {
  return g_others.load(std::memory_order_relaxed);  // relaxed: see note()
}

void watch(const watched_set* set) noexcept {
  for (auto& slot : g_watched) {
    const watched_set* expected = nullptr;
    // release: publishes *set; pairs with the acquire in observe_free().
    if (slot.compare_exchange_strong(expected, set, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  std::abort();  // a test watches more than kMaxWatched sets at once
}

void unwatch_all() noexcept {
  // relaxed: called after barrier(); no free of a watched object can still be running.
  for (auto& slot : g_watched) slot.store(nullptr, std::memory_order_relaxed);
}

#if defined(RCUFREE_TEST_ASAN) || defined(RCUFREE_TEST_TSAN)

const char* mechanism() noexcept { return "sanitizer malloc/free hooks"; }
bool per_function() noexcept { return false; }

}  // namespace alloc_counter

extern "C" int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, std::size_t),
    void (*free_hook)(const volatile void*));

namespace {
RCUFREE_TEST_NO_TSAN void on_sanitizer_malloc(const volatile void*, std::size_t) {
  alloc_counter::note(alloc_counter::f_malloc);
}
RCUFREE_TEST_NO_TSAN void on_sanitizer_free(const volatile void* p) {
  alloc_counter::note(alloc_counter::f_free);
  alloc_counter::observe_free(p);
}
[[maybe_unused]] const int g_hooks_installed =
    __sanitizer_install_malloc_and_free_hooks(&on_sanitizer_malloc, &on_sanitizer_free);
}  // namespace

// ThreadSanitizer's hooks (GCC 12's libtsan) do not see the aligned allocation functions, the
// very ones the engine's default page allocator uses. A TSan build therefore defines those in the
// executable too, counts them, and forwards to the next definition (TSan's interceptor).
#if defined(RCUFREE_TEST_TSAN)
namespace {
template <class Fn>
Fn next_definition(Fn& cache, const char* symbol) noexcept {
  if (cache == nullptr) cache = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, symbol));
  return cache;
}
void* (*g_next_aligned_alloc)(std::size_t, std::size_t) = nullptr;
int (*g_next_posix_memalign)(void**, std::size_t, std::size_t) = nullptr;
void* (*g_next_memalign)(std::size_t, std::size_t) = nullptr;
void* (*g_next_valloc)(std::size_t) = nullptr;
void* (*g_next_pvalloc)(std::size_t) = nullptr;
}  // namespace

extern "C" {
void* aligned_alloc(std::size_t align, std::size_t n) noexcept {
  alloc_counter::note(alloc_counter::f_malloc);
  return next_definition(g_next_aligned_alloc, "aligned_alloc")(align, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
  alloc_counter::note(alloc_counter::f_malloc);
  return next_definition(g_next_posix_memalign, "posix_memalign")(out, align, n);
}
void* memalign(std::size_t align, std::size_t n) noexcept {
  alloc_counter::note(alloc_counter::f_malloc);
  return next_definition(g_next_memalign, "memalign")(align, n);
}
void* valloc(std::size_t n) noexcept {
  alloc_counter::note(alloc_counter::f_malloc);
  return next_definition(g_next_valloc, "valloc")(n);
}
void* pvalloc(std::size_t n) noexcept {
  alloc_counter::note(alloc_counter::f_malloc);
  return next_definition(g_next_pvalloc, "pvalloc")(n);
}
}  // extern "C"
#endif

#else  // symbol interposition

const char* mechanism() noexcept { return "symbol interposition"; }
bool per_function() noexcept { return true; }

}  // namespace alloc_counter

// glibc's own entry points: the real allocator behind the interposed names.
extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void __libc_free(void*) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void* __libc_memalign(std::size_t, std::size_t) noexcept;
void* __libc_valloc(std::size_t) noexcept;
void* __libc_pvalloc(std::size_t) noexcept;
}

using alloc_counter::note;

extern "C" {

void* malloc(std::size_t n) noexcept {
  note(alloc_counter::f_malloc);
  return __libc_malloc(n);
}

void free(void* p) noexcept {
  note(alloc_counter::f_free);
  alloc_counter::observe_free(p);
  __libc_free(p);
}

void* calloc(std::size_t n, std::size_t size) noexcept {
  note(alloc_counter::f_calloc);
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t n) noexcept {
  note(alloc_counter::f_realloc);
  return __libc_realloc(p, n);
}

void* reallocarray(void* p, std::size_t n, std::size_t size) noexcept {
  note(alloc_counter::f_reallocarray);
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_realloc(p, bytes);
}

void* aligned_alloc(std::size_t align, std::size_t n) noexcept {
  note(alloc_counter::f_aligned_alloc);
  return __libc_memalign(align, n);
}

int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
  note(alloc_counter::f_posix_memalign);
  if (align % sizeof(void*) != 0 || (align & (align - 1)) != 0 || align == 0) return EINVAL;
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* memalign(std::size_t align, std::size_t n) noexcept {
  note(alloc_counter::f_memalign);
  return __libc_memalign(align, n);
}

void* valloc(std::size_t n) noexcept {
  note(alloc_counter::f_valloc);
  return __libc_valloc(n);
}

void* pvalloc(std::size_t n) noexcept {
  note(alloc_counter::f_pvalloc);
  return __libc_pvalloc(n);
}

}  // extern "C"

namespace {

// The throwing operator new: retries through the new-handler, throws std::bad_alloc without one.
void* new_or_throw(std::size_t n, std::size_t align) {
  if (n == 0) n = 1;
  for (;;) {
    void* p = align != 0 ? __libc_memalign(align, n) : __libc_malloc(n);
    if (p != nullptr) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void* new_or_null(std::size_t n, std::size_t align) noexcept {
  try {
    return new_or_throw(n, align);
  } catch (...) {
    return nullptr;
  }
}

inline void delete_impl(void* p, int f) noexcept {
  note(f);
  alloc_counter::observe_free(p);
  __libc_free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  note(alloc_counter::f_new);
  return new_or_throw(n, 0);
}
void* operator new[](std::size_t n) {
  note(alloc_counter::f_new_array);
  return new_or_throw(n, 0);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  note(alloc_counter::f_new);
  return new_or_null(n, 0);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  note(alloc_counter::f_new_array);
  return new_or_null(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
  note(alloc_counter::f_new);
  return new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  note(alloc_counter::f_new_array);
  return new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  note(alloc_counter::f_new);
  return new_or_null(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  note(alloc_counter::f_new_array);
  return new_or_null(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { delete_impl(p, alloc_counter::f_delete); }
void operator delete[](void* p) noexcept { delete_impl(p, alloc_counter::f_delete_array); }
void operator delete(void* p, std::size_t) noexcept { delete_impl(p, alloc_counter::f_delete); }
void operator delete[](void* p, std::size_t) noexcept {
  delete_impl(p, alloc_counter::f_delete_array);
}
void operator delete(void* p, std::align_val_t) noexcept {
  delete_impl(p, alloc_counter::f_delete);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  delete_impl(p, alloc_counter::f_delete_array);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  delete_impl(p, alloc_counter::f_delete);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  delete_impl(p, alloc_counter::f_delete_array);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  delete_impl(p, alloc_counter::f_delete);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  delete_impl(p, alloc_counter::f_delete_array);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  delete_impl(p, alloc_counter::f_delete);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  delete_impl(p, alloc_counter::f_delete_array);
}

#endif
