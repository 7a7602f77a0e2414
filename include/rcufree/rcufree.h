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
 * cross into C. Misuse is reported on stderr as "rcufree: <call>: <sentence>", naming the C call,
 * and aborts the process. Detected, in every build:
 *   - a head that is NULL, lies before obj, or lies 4096 bytes or more past obj's start (the
 *     kernel's kvfree_rcu rule: the head must be in the object's first 4096 bytes), each with its
 *     own sentence; rcufree_call with a NULL fn. A head that is another object's but lies within
 *     4096 bytes of obj cannot be told from obj's own: the _field forms below, which take the
 *     member's name, cannot get it wrong;
 *   - eng NULL, and any call with a destroyed engine's handle, rcufree_engine_destroy included
 *     (the handle outlives its engine as a 32-byte tombstone, so this is caught for as long as the
 *     process lives; it costs the two-argument call one compare);
 *   - a call that may sleep (the head-less form, barrier, reclaim_local, shrink) inside a
 *     read-side critical section or a C++ rcufree::atomic_scope, and barrier, reclaim_local or
 *     shrink from a function the engine runs for rcufree_call (it would wait for itself);
 *   - more than 1024 distinct rcufree_call functions.
 * Only in a library built with RCUFREE_DEBUG: an object queued twice before its grace period
 * ended. Not detected: a call racing with rcufree_engine_destroy of the same engine, an obj that
 * did not come from malloc (rcufree_kfree_rcu frees it with free()).
 * When a C++ part of the program chose misuse_action::throw_error, a C call that would have thrown
 * the rcufree::misuse_error prints that error's text, says the C API cannot throw, and aborts. A
 * bad config is not misuse: rcufree_engine_new returns NULL and says why.
 *
 * Link with the shared library (pkg-config --libs rcufree, or CMake's rcufree::rcufree), so that
 * every library of a process shares one default engine. */
#ifndef RCUFREE_RCUFREE_H
#define RCUFREE_RCUFREE_H

#include <rcufree/export.hpp>
#include <rcufree/version.h> /* RCUFREE_VERSION_*, rcufree_version() */
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

/* free(obj) after a grace period. head is &obj->member, the struct rcu_head inside obj, within its
 * first 4096 bytes (rcufree_kfree_rcu_field below takes the member's name). Atomic-safe: never allocates,
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
   * NULL (the default: the engine's page arena, 2 MiB chunks mapped apart from the heap, for
   * pages up to 64 KiB; aligned_alloc and free above) or both set. allocate_page may return
   * NULL. */
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

/* An engine: its own reclaim threads, page caches and grace periods. Opaque. */
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

/* Builds an engine: allocates its per-CPU state and starts its supervisor thread. Sleepable context only.
 * Returns NULL on failure, with errno set (EINVAL: a bad config; ENOMEM or EAGAIN: no memory or
 * no thread) and a message that names the call and, for a bad config, the field, e.g.
 *   "rcufree_engine_new: config->page_size: must be a power of two, got 100".
 * The message is written to stderr and kept for rcufree_last_error(). */
RCUFREE_API struct rcufree_engine *rcufree_engine_new(const struct rcufree_config *cfg)
    RCUFREE_NOEXCEPT;

/* Frees everything still queued (waiting for the grace periods this needs), stops its threads,
 * gives back every page, then frees the engine. Sleepable context only; no call on the engine may
 * race with it. eng == NULL: no-op. The handle stays behind as a tombstone (32 bytes, for the rest
 * of the process): any later call with it, a second destroy included, aborts naming the call. */
RCUFREE_API void rcufree_engine_destroy(struct rcufree_engine *eng) RCUFREE_NOEXCEPT;

/* The calls below take the engine first and mean what the default-engine calls above mean.
 * eng NULL or destroyed is misuse (reported, abort). */

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

/* ---- The field forms: the object and its rcu_head member's name ----
 *
 * As the kernel's kfree_rcu(ptr, rhf): the head is always obj's own, so it cannot be another
 * object's, NULL or out of range.
 *
 *   struct entry { long key; struct rcu_head rcu; };
 *   rcufree_kfree_rcu_field(old, rcu);               // rcufree_kfree_rcu(old, &old->rcu)
 *   rcufree_engine_kfree_rcu_field(eng, old, rcu);   // rcufree_engine_kfree_rcu(eng, old, &old->rcu)
 *   rcufree_call_field(old, rcu, entry_free);        // rcufree_call(old, &old->rcu, entry_free)
 *   rcufree_engine_call_field(eng, old, rcu, entry_free);
 *
 * Statements (do { ... } while (0)), not expressions; obj is evaluated once, and NULL is a no-op.
 * Checked when compiled (C11 and C++): the member is a struct rcu_head within the first 4096 bytes
 * of obj's type. In C before C11 the compiler's incompatible-pointer warning flags a member of
 * another type, and the call checks the offset when it runs.
 * They use __typeof__, which GCC and Clang have in every mode (liburcu's headers need it too). */
#define RCUFREE_HEAD_TOO_FAR_ \
  "rcufree: the rcu_head member must lie within the first 4096 bytes of the object"
#if defined(__cplusplus)
#define RCUFREE_CHECK_MEMBER_(obj, member) \
  static_assert(offsetof(__typeof__(*(obj)), member) < 4096, RCUFREE_HEAD_TOO_FAR_);
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define RCUFREE_CHECK_MEMBER_(obj, member)                                         \
  _Static_assert(_Generic(&(obj)->member, struct rcu_head *: 1, default: 0),       \
                 "rcufree: member " #member " must be a struct rcu_head");         \
  _Static_assert(offsetof(__typeof__(*(obj)), member) < 4096, RCUFREE_HEAD_TOO_FAR_);
#else
#define RCUFREE_CHECK_MEMBER_(obj, member)
#endif
/* Declares rcufree_obj_ (obj, evaluated once) and rcufree_head_ (its member, NULL for NULL). */
#define RCUFREE_OBJ_AND_HEAD_(obj, member)                                         \
  __typeof__(obj) rcufree_obj_ = (obj);                                            \
  RCUFREE_CHECK_MEMBER_(rcufree_obj_, member)                                      \
  struct rcu_head *rcufree_head_ = rcufree_obj_ != NULL ? &rcufree_obj_->member : NULL

#define rcufree_kfree_rcu_field(obj, member)                                       \
  do {                                                                             \
    RCUFREE_OBJ_AND_HEAD_(obj, member);                                            \
    rcufree_kfree_rcu(rcufree_obj_, rcufree_head_);                                \
  } while (0)
#define rcufree_call_field(obj, member, fn)                                        \
  do {                                                                             \
    RCUFREE_OBJ_AND_HEAD_(obj, member);                                            \
    rcufree_call(rcufree_obj_, rcufree_head_, (fn));                               \
  } while (0)
#define rcufree_engine_kfree_rcu_field(eng, obj, member)                           \
  do {                                                                             \
    RCUFREE_OBJ_AND_HEAD_(obj, member);                                            \
    rcufree_engine_kfree_rcu((eng), rcufree_obj_, rcufree_head_);                  \
  } while (0)
#define rcufree_engine_call_field(eng, obj, member, fn)                            \
  do {                                                                             \
    RCUFREE_OBJ_AND_HEAD_(obj, member);                                            \
    rcufree_engine_call((eng), rcufree_obj_, rcufree_head_, (fn));                 \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif /* RCUFREE_RCUFREE_H */
