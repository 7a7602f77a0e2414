/* rcufree/rcufree.h — the C API of rcufree, on the process-wide default engine.
 *
 * For liburcu's C users: embed liburcu's struct rcu_head in an object, unlink the object from an
 * RCU-protected structure, then hand it over:
 *
 *   struct entry { long key; struct rcu_head head; };
 *   rcufree_kfree_rcu(old, &old->head);     // free(old) after a grace period; any context
 *
 * Readers use liburcu's urcu-memb flavor (rcu_read_lock/rcu_read_unlock from <urcu.h>). */
#ifndef RCUFREE_RCUFREE_H
#define RCUFREE_RCUFREE_H

#include <stddef.h>
#include <urcu/call-rcu.h> /* struct rcu_head */

#ifdef __cplusplus
extern "C" {
#endif

/* free(obj) after a grace period. head must point inside obj. Atomic-safe: never allocates,
 * blocks or makes a system call; callable from signal handlers and read-side critical sections.
 * obj == NULL: no-op. */
void rcufree_kfree_rcu(void *obj, struct rcu_head *head);

/* free(ptr) after a grace period, for objects without a head. May sleep (may allocate, may wait
 * for a grace period); inside a read-side critical section it reports misuse and aborts. */
void rcufree_kvfree_rcu_mightsleep(void *ptr);

/* Blocks until every earlier free has run. Sleepable context only. */
void rcufree_barrier(void);

/* Writes the default engine's statistics as one line of JSON, NUL-terminated and truncated to
 * len bytes. Allocates; not for atomic contexts. */
void rcufree_stats_json(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RCUFREE_RCUFREE_H */
