/* SPDX-License-Identifier: MIT */
/* rcufree/rcufree.h — the C API of rcufree: free memory after an RCU grace period, from C.
 *
 * For liburcu's C users: embed liburcu's struct rcu_head in an object, unlink the object from an
 * RCU-protected structure, then hand it over:
 *
 *   struct entry { long key; struct rcu_head head; };
 *   rcufree_kfree_rcu(old, &old->head);     // free(old) after a grace period; any context
 *
 * The rcufree_* calls act on the process-wide default engine, whose readers use liburcu's
 * urcu-memb flavor (rcu_read_lock/rcu_read_unlock from <urcu/urcu-memb.h> or <urcu.h>). Programs
 * whose readers use another flavor (QSBR, bp, mb, signal) make an engine of their own:
 *
 *   #include <urcu/urcu-qsbr.h>
 *   struct rcufree_config cfg;
 *   rcufree_config_init(&cfg);              // defaults; sets cfg.size
 *   cfg.flavor = &urcu_qsbr_flavor;         // wait for QSBR readers' quiescent states
 *   struct rcufree_engine *eng = rcufree_engine_new(&cfg);
 *   if (eng == NULL) { fprintf(stderr, "%s\n", rcufree_last_error()); exit(1); }
 *   rcufree_engine_kfree_rcu(eng, old, &old->head);
 *   ...
 *   rcufree_engine_destroy(eng);            // frees everything still queued
 *
 * Errors. No function here throws, whatever rcufree::set_misuse_action() says: an exception cannot
 * cross into C. Misuse the engine detects (a sleeping call inside a read-side critical section or
 * an atomic scope, barrier() from a deleter the engine runs, a head outside its object, a NULL
 * engine) prints "rcufree: file:function:line: sentence" to stderr and aborts the process. When a
 * C++ part of the program chose misuse_action::throw_error, a C call that would have thrown the
 * rcufree::misuse_error prints that error's text, says the C API cannot throw, and aborts. A bad
 * config is not misuse: rcufree_engine_new returns NULL and says why.
 *
 * Link with the shared library (pkg-config --libs rcufree, or CMake's rcufree::rcufree), so that
 * every library of a process shares one default engine. */
#ifndef RCUFREE_RCUFREE_H
#define RCUFREE_RCUFREE_H

#include <rcufree/export.hpp>
#include <stddef.h>
#include <urcu/call-rcu.h> /* struct rcu_head */

struct rcu_flavor_struct; /* liburcu's flavor table, <urcu/flavor.h>: &urcu_qsbr_flavor, ... */

#ifdef __cplusplus
#define RCUFREE_NOEXCEPT noexcept
extern "C" {
#else
#define RCUFREE_NOEXCEPT
#endif

/* ---- The default engine (urcu-memb readers) ---- */

/* free(obj) after a grace period. head must point inside obj. Atomic-safe: never allocates,
 * blocks or makes a system call; callable from signal handlers and read-side critical sections.
 * obj == NULL: no-op. */
RCUFREE_API void rcufree_kfree_rcu(void *obj, struct rcu_head *head) RCUFREE_NOEXCEPT;

/* free(ptr) after a grace period, for objects without a head. May sleep (may allocate, may wait
 * for a grace period); inside a read-side critical section it reports misuse and aborts.
 * ptr == NULL: no-op. */
RCUFREE_API void rcufree_kvfree_rcu_mightsleep(void *ptr) RCUFREE_NOEXCEPT;

/* Blocks until every earlier free has run. Sleepable context only. */
RCUFREE_API void rcufree_barrier(void) RCUFREE_NOEXCEPT;

/* Writes the default engine's statistics as one line of JSON, NUL-terminated and truncated to
 * len bytes ("" if memory for the snapshot cannot be had). Allocates; not for atomic contexts.
 * buf == NULL or len == 0: writes nothing. */
RCUFREE_API void rcufree_stats_json(char *buf, size_t len) RCUFREE_NOEXCEPT;

/* fn(obj) after a grace period, for objects that are not free()d: a pool, an arena, a destructor
 * of one's own. Objects given the same fn are batched into pages like rcufree_kfree_rcu's.
 * Atomic-safe, like rcufree_kfree_rcu (a new fn is registered without allocating or waiting; at
 * most 1024 distinct functions per process, more is reported as misuse). fn runs on a reclaim
 * thread and must not wait for the engine. obj == NULL: no-op. */
RCUFREE_API void rcufree_call(void *obj, struct rcu_head *head,
                              void (*fn)(void *obj)) RCUFREE_NOEXCEPT;

/* ---- Engines of one's own, on any liburcu flavor ---- */

/* How an engine is sized and paced; docs/TUNING.md says what each field trades. Always start
 * from rcufree_config_init(), then change fields.
 *
 * The struct may gain fields at its end in later versions. `size` tells the library how much of
 * it the caller's header knew: fields that lie past `size` take their defaults, so a program built
 * against an older rcufree.h keeps working with a newer library. A program built against a newer
 * header than the library it runs with is accepted only if every field the library does not know
 * still holds zero; otherwise rcufree_engine_new() fails naming `size`. */
struct rcufree_config {
  size_t size; /* sizeof(struct rcufree_config) of the caller's header: rcufree_config_init sets it */
  /* The flavor whose grace periods objects wait for, and that readers use. NULL: urcu-memb. */
  const struct rcu_flavor_struct *flavor;
  size_t page_size;                /* bytes in one pointer block: a power of two, 256 .. 16 MiB */
  size_t cached_pages_per_cpu;     /* empty pages each CPU keeps ready; 0: fallback lists only */
  unsigned long drain_interval_ms; /* longest wait of a partly filled block; > 0, <= 24 hours */
  unsigned long worker_tick_us;    /* worker's poll period while work is pending; <= drain */
  size_t pending_soft_cap_bytes;   /* past this (pending objects x assumed size), drain at once */
  size_t assumed_object_bytes;     /* the object size that estimate assumes */
  int sleepable_callers_reclaim;   /* nonzero: head-less callers free their CPU's ready blocks */
  int watch_memory_pressure;       /* nonzero: give pages back when Linux PSI reports pressure */
  int reclaim_threads;             /* who frees: RCUFREE_RECLAIM_PER_CPU or _SINGLE */
  unsigned long refill_backoff_after_shrink_ms; /* no cache refill this long after a shrink */
  /* Page allocator for pointer blocks, called only from sleepable contexts, with page_arg. Both
   * NULL (the default: aligned_alloc and free) or both set. allocate_page may return NULL. */
  void *(*allocate_page)(void *page_arg, size_t page_size);
  void (*release_page)(void *page_arg, void *page, size_t page_size);
  void *page_arg;
  /* How this engine frees what rcufree_engine_kfree_rcu and _kvfree_rcu_mightsleep hand it (the
   * kernel's kfree_bulk), with free_arg: whole runs of objects at once, up to a page's worth
   * (506 in 4 KiB), or one at a time for objects that took the fallback list or were freed
   * inline. NULL (the default): free() each. Runs on the engine's reclaim threads. */
  void (*free_bulk)(void *free_arg, void *const *objects, size_t n);
  void *free_arg;
  /* Nonzero: each per-CPU reclaim thread asks for SCHED_FIFO priority 1 (needs CAP_SYS_NICE or an
   * RLIMIT_RTPRIO >= 1; refused: said once on stderr, the threads stay in the normal class). */
  int realtime_reclaim;
};

/* struct rcufree_config's reclaim_threads. */
enum {
  RCUFREE_RECLAIM_PER_CPU = 0, /* a reclaim thread per CPU that has work, bound to it (default) */
  RCUFREE_RECLAIM_SINGLE = 1   /* one thread frees for every CPU */
};

/* An engine: its own worker, page caches and grace periods. Opaque. */
struct rcufree_engine;

/* Fills *cfg with the defaults and sets cfg->size to the size of the struct the caller compiled
 * with. A macro over rcufree_config_init_size(); the function of the same name (for callers that
 * cannot use the macro, such as bindings from other languages) fills the first layout of the
 * struct, the one of rcufree 0.1. */
RCUFREE_API void rcufree_config_init(struct rcufree_config *cfg) RCUFREE_NOEXCEPT;
/* Fills the fields that lie entirely within the first `size` bytes of *cfg with their defaults
 * and sets cfg->size = size (when size >= sizeof(size_t)). */
RCUFREE_API void rcufree_config_init_size(struct rcufree_config *cfg, size_t size) RCUFREE_NOEXCEPT;
#define rcufree_config_init(cfg) rcufree_config_init_size((cfg), sizeof *(cfg))

/* Builds an engine: allocates its per-CPU state and starts its worker. Sleepable context only.
 * Returns NULL on failure, with errno set (EINVAL: a bad config; ENOMEM or EAGAIN: no memory or
 * no thread) and a message that names the call and, for a bad config, the field, e.g.
 *   "rcufree_engine_new: config->page_size: must be a power of two, got 100".
 * The message is written to stderr and kept for rcufree_last_error(). */
RCUFREE_API struct rcufree_engine *rcufree_engine_new(const struct rcufree_config *cfg)
    RCUFREE_NOEXCEPT;

/* Frees everything still queued (waiting for the grace periods this needs), stops the worker,
 * gives back every page, then frees the engine. Sleepable context only; no call on the engine may
 * race with it. eng == NULL: no-op. */
RCUFREE_API void rcufree_engine_destroy(struct rcufree_engine *eng) RCUFREE_NOEXCEPT;

/* The calls below take the engine first and mean what the default-engine calls above mean.
 * eng == NULL is misuse (reported, abort). */

/* free(obj) after a grace period of eng's flavor. Atomic-safe. obj == NULL: no-op. */
RCUFREE_API void rcufree_engine_kfree_rcu(struct rcufree_engine *eng, void *obj,
                                          struct rcu_head *head) RCUFREE_NOEXCEPT;

/* rcufree_call on eng. */
RCUFREE_API void rcufree_engine_call(struct rcufree_engine *eng, void *obj, struct rcu_head *head,
                                     void (*fn)(void *obj)) RCUFREE_NOEXCEPT;

/* free(ptr) after a grace period of eng's flavor; may sleep. Not inside a read-side critical
 * section of eng's flavor. With QSBR, a registered thread is inside one while it is online: call
 * this from an offline or unregistered thread. ptr == NULL: no-op. */
RCUFREE_API void rcufree_engine_kvfree_rcu_mightsleep(struct rcufree_engine *eng,
                                                      void *ptr) RCUFREE_NOEXCEPT;

/* Blocks until every object queued on eng before this call has been freed. Sleepable context
 * only, with the same QSBR rule as above. */
RCUFREE_API void rcufree_engine_barrier(struct rcufree_engine *eng) RCUFREE_NOEXCEPT;

/* Frees on the calling thread what this CPU has handed over to eng, waiting for a grace period
 * first if any of it needs one; returns how many objects it freed. For allocation-heavy sleepable
 * threads (glibc serves objects freed by their allocating thread faster). May sleep. */
RCUFREE_API size_t rcufree_engine_reclaim_local(struct rcufree_engine *eng) RCUFREE_NOEXCEPT;

/* Gives eng's cached empty pages back now. Sleepable context only. */
RCUFREE_API void rcufree_engine_shrink(struct rcufree_engine *eng) RCUFREE_NOEXCEPT;

/* rcufree_stats_json for eng. */
RCUFREE_API void rcufree_engine_stats_json(const struct rcufree_engine *eng, char *buf,
                                           size_t len) RCUFREE_NOEXCEPT;

/* The calling thread's last rcufree_engine_new() failure message ("" if none). The text stays
 * valid until that thread's next rcufree_engine_new(). */
RCUFREE_API const char *rcufree_last_error(void) RCUFREE_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* RCUFREE_RCUFREE_H */
