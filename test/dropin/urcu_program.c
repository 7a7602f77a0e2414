/* SPDX-License-Identifier: MIT */
/* urcu_program.c — an ordinary liburcu program, in the style of liburcu's own tests, for
 * checking the drop-in on every flavor (test/dropin/CMakeLists.txt builds it per flavor, and once
 * more with the one extra line, WITH_RCUFREE_URCU_H).
 *
 * Reader threads look at RCU-protected slots inside read-side critical sections and check that
 * what they find is alive; writer threads replace slot contents and hand the old element to
 * call_rcu(), whose callback poisons it and frees it. It knows nothing of rcufree: run plain, it
 * uses liburcu's call_rcu; built with <rcufree/urcu.h> or run under
 * LD_PRELOAD=librcufree-preload-<flavor>.so, rcufree's. At the end every slot is emptied, one
 * rcu_barrier() waits for the callbacks, and it fails (exit 1) if a reader ever saw a poisoned
 * element or if the callbacks freed a different number of elements than were retired.
 *
 *   urcu_program [seconds] [readers] [writers]
 * Prints "retired N freed N stale 0" on stdout. */
#define _GNU_SOURCE
#if defined(PROGRAM_FLAVOR_MEMB)
#include <urcu.h>
#elif defined(PROGRAM_FLAVOR_MB)
#define RCU_MB
#include <urcu.h>
#elif defined(PROGRAM_FLAVOR_SIGNAL)
#define RCU_SIGNAL
#include <urcu.h>
#elif defined(PROGRAM_FLAVOR_QSBR)
#include <urcu-qsbr.h>
#elif defined(PROGRAM_FLAVOR_BP)
#include <urcu-bp.h>
#else
#error "define PROGRAM_FLAVOR_MEMB, _MB, _SIGNAL, _QSBR or _BP"
#endif
#ifdef WITH_RCUFREE_URCU_H
#include <rcufree/urcu.h> /* the one line that switches call_rcu to rcufree */
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <urcu/compiler.h>

#define SLOTS 1024
#define LIVE 0x4c495645u /* "LIVE" */
#define DEAD 0xdeaddeadu

struct elem {
  unsigned magic;
  unsigned long value;
  struct rcu_head head;
};

static struct elem *slots[SLOTS];
static atomic_int stop;
static atomic_ulong retired, freed, stale, reads;

static void free_elem(struct rcu_head *head) {
  struct elem *e = caa_container_of(head, struct elem, head);
  e->magic = DEAD; /* a reader that still sees it would notice */
  free(e);
  atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

static struct elem *new_elem(unsigned long value) {
  struct elem *e = malloc(sizeof *e);
  if (e == NULL) abort();
  e->magic = LIVE;
  e->value = value;
  return e;
}

static void retire(struct elem *old) {
  if (old == NULL) return;
  atomic_fetch_add_explicit(&retired, 1, memory_order_relaxed);
  call_rcu(&old->head, free_elem);
}

static void *reader(void *arg) {
  unsigned long i = (unsigned long)arg, n = 0;
  rcu_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    rcu_read_lock();
    struct elem *e = rcu_dereference(slots[i++ % SLOTS]);
    if (e != NULL && CMM_LOAD_SHARED(e->magic) != LIVE)
      atomic_fetch_add_explicit(&stale, 1, memory_order_relaxed);
    rcu_read_unlock();
#ifdef PROGRAM_FLAVOR_QSBR
    rcu_quiescent_state();
#endif
    ++n;
  }
  atomic_fetch_add_explicit(&reads, n, memory_order_relaxed);
  rcu_unregister_thread();
  return NULL;
}

static void *writer(void *arg) {
  unsigned long seed = (unsigned long)arg * 2654435761ul + 1, n = 0;
  rcu_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    seed = seed * 6364136223846793005ul + 1442695040888963407ul;
    struct elem *old = rcu_xchg_pointer(&slots[(seed >> 33) % SLOTS], new_elem(seed));
    retire(old); /* from outside any read-side section, as liburcu's tests do */
    if (++n % 100000 == 0) rcu_barrier();
#ifdef PROGRAM_FLAVOR_QSBR
    rcu_quiescent_state();
#endif
  }
  rcu_unregister_thread();
  return NULL;
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  const long n_readers = argc > 2 ? atol(argv[2]) : 2, n_writers = argc > 3 ? atol(argv[3]) : 2;
  pthread_t threads[64];
  long n = 0;
  if (n_readers + n_writers > 64) return 2;
  for (long i = 0; i < n_readers; ++i) pthread_create(&threads[n++], NULL, reader, (void *)i);
  for (long i = 0; i < n_writers; ++i) pthread_create(&threads[n++], NULL, writer, (void *)i);
  const struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&nap, NULL);
  atomic_store(&stop, 1);
  for (long i = 0; i < n; ++i) pthread_join(threads[i], NULL);

  rcu_register_thread();
  for (int i = 0; i < SLOTS; ++i) retire(rcu_xchg_pointer(&slots[i], NULL));
#ifdef PROGRAM_FLAVOR_QSBR
  rcu_thread_offline(); /* liburcu's QSBR rule: offline while waiting */
#endif
  rcu_barrier();
#ifdef PROGRAM_FLAVOR_QSBR
  rcu_thread_online();
#endif
  rcu_unregister_thread();
  printf("retired %lu freed %lu stale %lu reads %lu\n", atomic_load(&retired), atomic_load(&freed),
         atomic_load(&stale), atomic_load(&reads));
  return atomic_load(&stale) == 0 && atomic_load(&freed) == atomic_load(&retired) ? 0 : 1;
}
