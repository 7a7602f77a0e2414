/* SPDX-License-Identifier: MIT */
/* rcufree/urcu.h — liburcu's call_rcu() through rcufree, by one include.
 *
 * Include it after the program's liburcu flavor header(s), and link librcufree-urcu
 * (-lrcufree-urcu, installed beside librcufree; CMake's rcufree::urcu under add_subdirectory):
 *
 *   #include <urcu.h>            // or <urcu-qsbr.h>, <urcu/urcu-bp.h>, ...: any flavor
 *   #include <rcufree/urcu.h>    // the one line
 *   ...
 *   call_rcu(&old->head, free_node);  // now rcufree: batched per function, run per CPU
 *   rcu_barrier();                    // waits for every callback queued before it
 *
 * For each flavor whose header was included before it, this header maps liburcu's names (the
 * short ones, call_rcu, through liburcu's own maps, and the urcu_<flavor>_ ones) onto the
 * process's rcufree engine of that flavor: one engine per flavor per process, built by a
 * load-time constructor that this header adds to the including file, so no call_rcu allocates or
 * starts a thread. For a binary that cannot be rebuilt, LD_PRELOAD=librcufree-preload-<flavor>.so
 * does the same (docs/switching-from-call_rcu.md).
 *
 * Mapped, per flavor (liburcu's meaning kept except where said):
 *   call_rcu(head, func)    func(head) after a grace period, on a reclaim thread registered as a
 *                           reader of the flavor while it runs callbacks (so func may take
 *                           rcu_read_lock; under QSBR that thread is online only then). No
 *                           allocation, lock or wait; at most one system call, a futex wake of a
 *                           sleeping reclaim thread (as liburcu's call_rcu wakes its worker): from
 *                           any thread, a read-side critical section or a signal handler.
 *                           Callbacks of one function are batched into pages and run on the CPU
 *                           that queued them.
 *   rcu_barrier()           waits for every callback queued before it (not for those that they
 *                           queue, as liburcu). Under QSBR an online caller goes offline while it
 *                           waits. Inside a read-side critical section it says so once on stderr
 *                           and returns, as liburcu's does. From a callback: reported, abort.
 *   defer_rcu(fct, p)       fct(p) after a grace period: allocates a 32-byte record (malloc) and
 *                           queues it like call_rcu; with no memory it waits for a grace period
 *                           and calls fct(p) itself. Not in a read-side critical section.
 *   rcu_defer_barrier(), rcu_defer_barrier_thread()   rcu_barrier().
 *   rcu_defer_register_thread()   returns 0 (nothing to register); rcu_defer_unregister_thread()
 *                           waits like rcu_barrier(), as liburcu's flushes the thread's queue.
 *   The call_rcu_data functions: rcufree's reclaim is per CPU already, so they choose nothing:
 *     create_call_rcu_data, get_default_call_rcu_data, get_call_rcu_data return one handle per
 *     flavor; get_cpu_call_rcu_data(cpu) returns it for a CPU number in range, else NULL;
 *     set_thread_call_rcu_data records a handle that get_thread_call_rcu_data returns (NULL until
 *     set); set_cpu_call_rcu_data returns 0 (-EINVAL, errno EINVAL, for a CPU out of range);
 *     create_all_cpu_call_rcu_data returns 0; call_rcu_data_free and free_all_cpu_call_rcu_data
 *     do nothing; get_call_rcu_thread returns 0 (rcufree's threads are not the program's).
 * Not mapped: call_rcu_before_fork/after_fork_parent/after_fork_child stay liburcu's (they also
 * serve liburcu's hash tables); rcufree's engines handle fork() by themselves, with or without
 * them. Calls made through the flavor table (rcu_flavor.update_call_rcu, as liburcu-cds makes
 * internally) stay liburcu's: the preload library redirects those too.
 *
 * Overheads: docs/switching-from-call_rcu.md has them measured against liburcu's call_rcu. */
#ifndef RCUFREE_URCU_H
#define RCUFREE_URCU_H

#if !defined(_URCU_MEMB_H) && !defined(_URCU_MB_H) && !defined(_URCU_SIGNAL_H) && \
    !defined(_URCU_QSBR_H) && !defined(_URCU_BP_H) && !defined(RCUFREE_URCU_BUILDING)
#error "rcufree/urcu.h: include it after liburcu's flavor header (<urcu.h>, <urcu-qsbr.h>, <urcu/urcu-bp.h>, ...)"
#endif

#include <rcufree/export.hpp>
#include <stddef.h>
#include <urcu/call-rcu.h>
#include <urcu/flavor.h>

#ifdef __cplusplus
#define RCUFREE_URCU_NOEXCEPT noexcept
extern "C" {
#else
#define RCUFREE_URCU_NOEXCEPT
#endif

/* Flavor numbers: the `flavor` argument of the functions below. */
enum {
  RCUFREE_URCU_MEMB = 0,
  RCUFREE_URCU_MB = 1,
  RCUFREE_URCU_SIGNAL = 2,
  RCUFREE_URCU_QSBR = 3,
  RCUFREE_URCU_BP = 4,
  RCUFREE_URCU_FLAVORS = 5
};

/* librcufree-urcu. The mapped names below call these; programs need not.
 * rcufree_urcu_prepare builds the flavor's engine on liburcu's flavor table unless it exists
 * (allocates, starts a thread; sleepable context). A call made before any prepare builds it on
 * that call, finding the table by name. */
RCUFREE_API void rcufree_urcu_prepare(int flavor,
                                      const struct rcu_flavor_struct *table) RCUFREE_URCU_NOEXCEPT;
RCUFREE_API void rcufree_urcu_call_rcu(int flavor, struct rcu_head *head,
                                       void (*func)(struct rcu_head *head)) RCUFREE_URCU_NOEXCEPT;
RCUFREE_API void rcufree_urcu_barrier(int flavor) RCUFREE_URCU_NOEXCEPT;
RCUFREE_API void rcufree_urcu_defer_rcu(int flavor, void (*fct)(void *p),
                                        void *p) RCUFREE_URCU_NOEXCEPT;
/* The flavor's engine statistics as one line of JSON (rcufree_stats_json's format); "" before
 * the engine is built. Allocates. */
RCUFREE_API void rcufree_urcu_stats_json(int flavor, char *buf, size_t len) RCUFREE_URCU_NOEXCEPT;
RCUFREE_API struct call_rcu_data *rcufree_urcu_default_call_rcu_data(int flavor)
    RCUFREE_URCU_NOEXCEPT;
RCUFREE_API struct call_rcu_data *rcufree_urcu_thread_call_rcu_data(int flavor)
    RCUFREE_URCU_NOEXCEPT;
RCUFREE_API void rcufree_urcu_set_thread_call_rcu_data(int flavor, struct call_rcu_data *crdp)
    RCUFREE_URCU_NOEXCEPT;
RCUFREE_API struct call_rcu_data *rcufree_urcu_cpu_call_rcu_data(int flavor, int cpu)
    RCUFREE_URCU_NOEXCEPT;
RCUFREE_API int rcufree_urcu_set_cpu_call_rcu_data(int flavor, int cpu,
                                                   struct call_rcu_data *crdp) RCUFREE_URCU_NOEXCEPT;

#ifdef __cplusplus
}
#endif

/* One flavor's functions, under rcufree_urcu_<F>_<name>, and the constructor that prepares its
 * engine when the including program or library is loaded. */
#define RCUFREE_URCU_DEFINE_FLAVOR(F, ID)                                                       \
  extern const struct rcu_flavor_struct urcu_##F##_flavor;                                      \
  static void rcufree_urcu_##F##_at_load(void) __attribute__((constructor, used));              \
  static void rcufree_urcu_##F##_at_load(void) { rcufree_urcu_prepare(ID, &urcu_##F##_flavor); } \
  static inline void rcufree_urcu_##F##_call_rcu(struct rcu_head *head,                         \
                                                 void (*func)(struct rcu_head *)) {             \
    rcufree_urcu_call_rcu(ID, head, func);                                                      \
  }                                                                                             \
  static inline void rcufree_urcu_##F##_barrier(void) { rcufree_urcu_barrier(ID); }             \
  static inline void rcufree_urcu_##F##_defer_rcu(void (*fct)(void *), void *p) {               \
    rcufree_urcu_defer_rcu(ID, fct, p);                                                         \
  }                                                                                             \
  static inline int rcufree_urcu_##F##_defer_register_thread(void) { return 0; }                \
  static inline void rcufree_urcu_##F##_defer_unregister_thread(void) {                         \
    rcufree_urcu_barrier(ID);                                                                   \
  }                                                                                             \
  static inline struct call_rcu_data *rcufree_urcu_##F##_create_call_rcu_data(                  \
      unsigned long flags, int cpu_affinity) {                                                  \
    (void)flags;                                                                                \
    (void)cpu_affinity;                                                                         \
    return rcufree_urcu_default_call_rcu_data(ID);                                              \
  }                                                                                             \
  static inline void rcufree_urcu_##F##_call_rcu_data_free(struct call_rcu_data *crdp) {        \
    (void)crdp;                                                                                 \
  }                                                                                             \
  static inline struct call_rcu_data *rcufree_urcu_##F##_get_default_call_rcu_data(void) {      \
    return rcufree_urcu_default_call_rcu_data(ID);                                              \
  }                                                                                             \
  static inline struct call_rcu_data *rcufree_urcu_##F##_get_cpu_call_rcu_data(int cpu) {       \
    return rcufree_urcu_cpu_call_rcu_data(ID, cpu);                                             \
  }                                                                                             \
  static inline struct call_rcu_data *rcufree_urcu_##F##_get_thread_call_rcu_data(void) {       \
    return rcufree_urcu_thread_call_rcu_data(ID);                                               \
  }                                                                                             \
  static inline struct call_rcu_data *rcufree_urcu_##F##_get_call_rcu_data(void) {              \
    struct call_rcu_data *mine = rcufree_urcu_thread_call_rcu_data(ID);                         \
    return mine ? mine : rcufree_urcu_default_call_rcu_data(ID);                                \
  }                                                                                             \
  static inline pthread_t rcufree_urcu_##F##_get_call_rcu_thread(struct call_rcu_data *crdp) {  \
    (void)crdp;                                                                                 \
    return (pthread_t)0;                                                                        \
  }                                                                                             \
  static inline void rcufree_urcu_##F##_set_thread_call_rcu_data(struct call_rcu_data *crdp) {  \
    rcufree_urcu_set_thread_call_rcu_data(ID, crdp);                                            \
  }                                                                                             \
  static inline int rcufree_urcu_##F##_set_cpu_call_rcu_data(int cpu,                           \
                                                             struct call_rcu_data *crdp) {      \
    return rcufree_urcu_set_cpu_call_rcu_data(ID, cpu, crdp);                                   \
  }                                                                                             \
  static inline int rcufree_urcu_##F##_create_all_cpu_call_rcu_data(unsigned long flags) {      \
    (void)flags;                                                                                \
    return 0;                                                                                   \
  }                                                                                             \
  static inline void rcufree_urcu_##F##_free_all_cpu_call_rcu_data(void) {}

/* RCUFREE_URCU_NO_REMAP: the functions above without the remapping below (the preload
 * libraries define liburcu's names themselves). */
#ifdef _URCU_MEMB_H
RCUFREE_URCU_DEFINE_FLAVOR(memb, RCUFREE_URCU_MEMB)
#ifndef RCUFREE_URCU_NO_REMAP
#define urcu_memb_call_rcu rcufree_urcu_memb_call_rcu
#define urcu_memb_barrier rcufree_urcu_memb_barrier
#define urcu_memb_defer_rcu rcufree_urcu_memb_defer_rcu
#define urcu_memb_defer_barrier rcufree_urcu_memb_barrier
#define urcu_memb_defer_barrier_thread rcufree_urcu_memb_barrier
#define urcu_memb_defer_register_thread rcufree_urcu_memb_defer_register_thread
#define urcu_memb_defer_unregister_thread rcufree_urcu_memb_defer_unregister_thread
#define urcu_memb_create_call_rcu_data rcufree_urcu_memb_create_call_rcu_data
#define urcu_memb_call_rcu_data_free rcufree_urcu_memb_call_rcu_data_free
#define urcu_memb_get_default_call_rcu_data rcufree_urcu_memb_get_default_call_rcu_data
#define urcu_memb_get_cpu_call_rcu_data rcufree_urcu_memb_get_cpu_call_rcu_data
#define urcu_memb_get_thread_call_rcu_data rcufree_urcu_memb_get_thread_call_rcu_data
#define urcu_memb_get_call_rcu_data rcufree_urcu_memb_get_call_rcu_data
#define urcu_memb_get_call_rcu_thread rcufree_urcu_memb_get_call_rcu_thread
#define urcu_memb_set_thread_call_rcu_data rcufree_urcu_memb_set_thread_call_rcu_data
#define urcu_memb_set_cpu_call_rcu_data rcufree_urcu_memb_set_cpu_call_rcu_data
#define urcu_memb_create_all_cpu_call_rcu_data rcufree_urcu_memb_create_all_cpu_call_rcu_data
#define urcu_memb_free_all_cpu_call_rcu_data rcufree_urcu_memb_free_all_cpu_call_rcu_data
#endif
#endif

#ifdef _URCU_MB_H
RCUFREE_URCU_DEFINE_FLAVOR(mb, RCUFREE_URCU_MB)
#ifndef RCUFREE_URCU_NO_REMAP
#define urcu_mb_call_rcu rcufree_urcu_mb_call_rcu
#define urcu_mb_barrier rcufree_urcu_mb_barrier
#define urcu_mb_defer_rcu rcufree_urcu_mb_defer_rcu
#define urcu_mb_defer_barrier rcufree_urcu_mb_barrier
#define urcu_mb_defer_barrier_thread rcufree_urcu_mb_barrier
#define urcu_mb_defer_register_thread rcufree_urcu_mb_defer_register_thread
#define urcu_mb_defer_unregister_thread rcufree_urcu_mb_defer_unregister_thread
#define urcu_mb_create_call_rcu_data rcufree_urcu_mb_create_call_rcu_data
#define urcu_mb_call_rcu_data_free rcufree_urcu_mb_call_rcu_data_free
#define urcu_mb_get_default_call_rcu_data rcufree_urcu_mb_get_default_call_rcu_data
#define urcu_mb_get_cpu_call_rcu_data rcufree_urcu_mb_get_cpu_call_rcu_data
#define urcu_mb_get_thread_call_rcu_data rcufree_urcu_mb_get_thread_call_rcu_data
#define urcu_mb_get_call_rcu_data rcufree_urcu_mb_get_call_rcu_data
#define urcu_mb_get_call_rcu_thread rcufree_urcu_mb_get_call_rcu_thread
#define urcu_mb_set_thread_call_rcu_data rcufree_urcu_mb_set_thread_call_rcu_data
#define urcu_mb_set_cpu_call_rcu_data rcufree_urcu_mb_set_cpu_call_rcu_data
#define urcu_mb_create_all_cpu_call_rcu_data rcufree_urcu_mb_create_all_cpu_call_rcu_data
#define urcu_mb_free_all_cpu_call_rcu_data rcufree_urcu_mb_free_all_cpu_call_rcu_data
#endif
#endif

#ifdef _URCU_SIGNAL_H
RCUFREE_URCU_DEFINE_FLAVOR(signal, RCUFREE_URCU_SIGNAL)
#ifndef RCUFREE_URCU_NO_REMAP
#define urcu_signal_call_rcu rcufree_urcu_signal_call_rcu
#define urcu_signal_barrier rcufree_urcu_signal_barrier
#define urcu_signal_defer_rcu rcufree_urcu_signal_defer_rcu
#define urcu_signal_defer_barrier rcufree_urcu_signal_barrier
#define urcu_signal_defer_barrier_thread rcufree_urcu_signal_barrier
#define urcu_signal_defer_register_thread rcufree_urcu_signal_defer_register_thread
#define urcu_signal_defer_unregister_thread rcufree_urcu_signal_defer_unregister_thread
#define urcu_signal_create_call_rcu_data rcufree_urcu_signal_create_call_rcu_data
#define urcu_signal_call_rcu_data_free rcufree_urcu_signal_call_rcu_data_free
#define urcu_signal_get_default_call_rcu_data rcufree_urcu_signal_get_default_call_rcu_data
#define urcu_signal_get_cpu_call_rcu_data rcufree_urcu_signal_get_cpu_call_rcu_data
#define urcu_signal_get_thread_call_rcu_data rcufree_urcu_signal_get_thread_call_rcu_data
#define urcu_signal_get_call_rcu_data rcufree_urcu_signal_get_call_rcu_data
#define urcu_signal_get_call_rcu_thread rcufree_urcu_signal_get_call_rcu_thread
#define urcu_signal_set_thread_call_rcu_data rcufree_urcu_signal_set_thread_call_rcu_data
#define urcu_signal_set_cpu_call_rcu_data rcufree_urcu_signal_set_cpu_call_rcu_data
#define urcu_signal_create_all_cpu_call_rcu_data rcufree_urcu_signal_create_all_cpu_call_rcu_data
#define urcu_signal_free_all_cpu_call_rcu_data rcufree_urcu_signal_free_all_cpu_call_rcu_data
#endif
#endif

#ifdef _URCU_QSBR_H
RCUFREE_URCU_DEFINE_FLAVOR(qsbr, RCUFREE_URCU_QSBR)
#ifndef RCUFREE_URCU_NO_REMAP
#define urcu_qsbr_call_rcu rcufree_urcu_qsbr_call_rcu
#define urcu_qsbr_barrier rcufree_urcu_qsbr_barrier
#define urcu_qsbr_defer_rcu rcufree_urcu_qsbr_defer_rcu
#define urcu_qsbr_defer_barrier rcufree_urcu_qsbr_barrier
#define urcu_qsbr_defer_barrier_thread rcufree_urcu_qsbr_barrier
#define urcu_qsbr_defer_register_thread rcufree_urcu_qsbr_defer_register_thread
#define urcu_qsbr_defer_unregister_thread rcufree_urcu_qsbr_defer_unregister_thread
#define urcu_qsbr_create_call_rcu_data rcufree_urcu_qsbr_create_call_rcu_data
#define urcu_qsbr_call_rcu_data_free rcufree_urcu_qsbr_call_rcu_data_free
#define urcu_qsbr_get_default_call_rcu_data rcufree_urcu_qsbr_get_default_call_rcu_data
#define urcu_qsbr_get_cpu_call_rcu_data rcufree_urcu_qsbr_get_cpu_call_rcu_data
#define urcu_qsbr_get_thread_call_rcu_data rcufree_urcu_qsbr_get_thread_call_rcu_data
#define urcu_qsbr_get_call_rcu_data rcufree_urcu_qsbr_get_call_rcu_data
#define urcu_qsbr_get_call_rcu_thread rcufree_urcu_qsbr_get_call_rcu_thread
#define urcu_qsbr_set_thread_call_rcu_data rcufree_urcu_qsbr_set_thread_call_rcu_data
#define urcu_qsbr_set_cpu_call_rcu_data rcufree_urcu_qsbr_set_cpu_call_rcu_data
#define urcu_qsbr_create_all_cpu_call_rcu_data rcufree_urcu_qsbr_create_all_cpu_call_rcu_data
#define urcu_qsbr_free_all_cpu_call_rcu_data rcufree_urcu_qsbr_free_all_cpu_call_rcu_data
#endif
#endif

#ifdef _URCU_BP_H
RCUFREE_URCU_DEFINE_FLAVOR(bp, RCUFREE_URCU_BP)
#ifndef RCUFREE_URCU_NO_REMAP
#define urcu_bp_call_rcu rcufree_urcu_bp_call_rcu
#define urcu_bp_barrier rcufree_urcu_bp_barrier
#define urcu_bp_defer_rcu rcufree_urcu_bp_defer_rcu
#define urcu_bp_defer_barrier rcufree_urcu_bp_barrier
#define urcu_bp_defer_barrier_thread rcufree_urcu_bp_barrier
#define urcu_bp_defer_register_thread rcufree_urcu_bp_defer_register_thread
#define urcu_bp_defer_unregister_thread rcufree_urcu_bp_defer_unregister_thread
#define urcu_bp_create_call_rcu_data rcufree_urcu_bp_create_call_rcu_data
#define urcu_bp_call_rcu_data_free rcufree_urcu_bp_call_rcu_data_free
#define urcu_bp_get_default_call_rcu_data rcufree_urcu_bp_get_default_call_rcu_data
#define urcu_bp_get_cpu_call_rcu_data rcufree_urcu_bp_get_cpu_call_rcu_data
#define urcu_bp_get_thread_call_rcu_data rcufree_urcu_bp_get_thread_call_rcu_data
#define urcu_bp_get_call_rcu_data rcufree_urcu_bp_get_call_rcu_data
#define urcu_bp_get_call_rcu_thread rcufree_urcu_bp_get_call_rcu_thread
#define urcu_bp_set_thread_call_rcu_data rcufree_urcu_bp_set_thread_call_rcu_data
#define urcu_bp_set_cpu_call_rcu_data rcufree_urcu_bp_set_cpu_call_rcu_data
#define urcu_bp_create_all_cpu_call_rcu_data rcufree_urcu_bp_create_all_cpu_call_rcu_data
#define urcu_bp_free_all_cpu_call_rcu_data rcufree_urcu_bp_free_all_cpu_call_rcu_data
#endif
#endif

#endif /* RCUFREE_URCU_H */
