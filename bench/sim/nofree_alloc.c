/* SPDX-License-Identifier: MIT */
/* nofree_alloc.c — an LD_PRELOAD allocator whose free() does nothing (rcufree_harness --alloc
 * nofree). It isolates what a flood costs without any free: every mechanism's frees, inline or
 * after a grace period, on the caller or on another thread, become a call that returns at once.
 *
 * malloc bumps a pointer in a per-thread 1 MiB chunk of one arena reserved at load time; a 16-byte
 * header before each block holds its size (realloc, malloc_usable_size). The first
 * RCUFREE_NOFREE_MIB MiB (default 256) are faulted in before main() runs, so that page faults do
 * not land in the timed flood; past that, memory faults in as it is first used. Memory is never
 * reused: RSS figures under it mean nothing. Bench-only; not for programs that run long. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_BYTES ((size_t)16 << 30) /* reserved, not committed */
#define CHUNK_BYTES ((size_t)1 << 20)
#define HEADER 16

static _Atomic(uintptr_t) arena_next; /* 0: not mapped yet */
static uintptr_t arena_end;
static __thread uintptr_t chunk_cur __attribute__((tls_model("initial-exec")));
static __thread uintptr_t chunk_end __attribute__((tls_model("initial-exec")));

static void arena_init(void) {
  static atomic_flag mapping = ATOMIC_FLAG_INIT;
  while (atomic_flag_test_and_set_explicit(&mapping, memory_order_acquire)) {
  }
  if (atomic_load_explicit(&arena_next, memory_order_relaxed) == 0) {
    void* base = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) abort();
    size_t pre = (size_t)256 << 20;
    const char* env = getenv("RCUFREE_NOFREE_MIB"); /* glibc's getenv does not allocate */
    if (env != NULL) pre = (size_t)strtoull(env, NULL, 10) << 20;
    if (pre > ARENA_BYTES) pre = ARENA_BYTES;
#ifdef MADV_POPULATE_WRITE
    if (pre != 0) madvise(base, pre, MADV_POPULATE_WRITE);
#endif
    arena_end = (uintptr_t)base + ARENA_BYTES;
    /* release: arena_end before the arena is seen as mapped; pairs with the acquire below. */
    atomic_store_explicit(&arena_next, (uintptr_t)base, memory_order_release);
  }
  atomic_flag_clear_explicit(&mapping, memory_order_release);
}

/* A block of `size` bytes aligned to `align` (a power of two >= 16), header included. */
static void* bump(size_t size, size_t align) {
  if (size > ARENA_BYTES / 4) return NULL;
  for (;;) {
    uintptr_t p = (chunk_cur + HEADER + align - 1) & ~(uintptr_t)(align - 1);
    if (chunk_cur != 0 && p + size <= chunk_end) {
      chunk_cur = p + size;
      ((size_t*)p)[-1] = size;
      return (void*)p;
    }
    /* acquire: pairs with the release store in arena_init. */
    if (atomic_load_explicit(&arena_next, memory_order_acquire) == 0) arena_init();
    const size_t want = size + HEADER + align > CHUNK_BYTES ? size + HEADER + align : CHUNK_BYTES;
    /* relaxed: only the range has to be unique. */
    const uintptr_t c = atomic_fetch_add_explicit(&arena_next, want, memory_order_relaxed);
    if (c + want > arena_end) return NULL;
    chunk_cur = c;
    chunk_end = c + want;
  }
}

void* malloc(size_t size) {
  void* p = bump(size ? size : 1, 16);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void free(void* p) {
  (void)p;
}

/* The arena is fresh anonymous memory that is never reused: it is zero already. */
void* calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return malloc(n * size);
}

size_t malloc_usable_size(void* p) {
  return p ? ((size_t*)p)[-1] : 0;
}

void* realloc(void* old, size_t size) {
  void* p = malloc(size);
  if (p != NULL && old != NULL) {
    const size_t had = malloc_usable_size(old);
    memcpy(p, old, had < size ? had : size);
  }
  return p;
}

void* aligned_alloc(size_t align, size_t size) {
  if (align < 16) align = 16;
  if ((align & (align - 1)) != 0) {
    errno = EINVAL;
    return NULL;
  }
  void* p = bump(size ? size : 1, align);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void* memalign(size_t align, size_t size) {
  return aligned_alloc(align, size);
}

int posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = aligned_alloc(align, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(size_t size) {
  return aligned_alloc(4096, size);
}

void* pvalloc(size_t size) {
  return aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
}
