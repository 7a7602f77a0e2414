/* SPDX-License-Identifier: MIT */
/* c_flavor_test.c — an engine of the C API on one liburcu flavor waits for that flavor's readers.
 *
 * Built once per flavor (RCUFREE_TEST_FLAVOR_QSBR, _BP, _MB, _MEMB) against real liburcu. A free()
 * defined in this program sees every object the engine frees (it is in the dynamic symbol table,
 * so librcufree.so's calls bind to it) and forwards to glibc. The checks:
 *   1. churn: a reader thread keeps reading a pointer the main thread keeps replacing and
 *      handing to rcufree_engine_kfree_rcu; the reader must never see a freed object, and one
 *      barrier must free all of them (with QSBR, only because the reader announces quiescent
 *      states: it never goes offline);
 *   2. hold: the reader stays inside one read-side critical section (QSBR: announces no quiescent
 *      state) holding two objects; both are unlinked and handed over, one with its head, one
 *      head-less; for 300 ms neither may be freed and a barrier started meanwhile may not
 *      return; once the reader leaves, the barrier returns and both have been freed, never
 *      while the reader was inside. */
#define _GNU_SOURCE
#include <rcufree/rcufree.h>

#if defined(RCUFREE_TEST_FLAVOR_QSBR)
#include <urcu/urcu-qsbr.h>
#define FLAVOR_NAME "qsbr"
#define FLAVOR (&urcu_qsbr_flavor)
#define READER_REGISTER() urcu_qsbr_register_thread()
#define READER_UNREGISTER() urcu_qsbr_unregister_thread()
#define READ_LOCK() urcu_qsbr_read_lock()
#define READ_UNLOCK() urcu_qsbr_read_unlock()
#define QUIESCENT() urcu_qsbr_quiescent_state()
#elif defined(RCUFREE_TEST_FLAVOR_BP)
#include <urcu/urcu-bp.h>
#define FLAVOR_NAME "bp"
#define FLAVOR (&urcu_bp_flavor)
#define READER_REGISTER() urcu_bp_register_thread()
#define READER_UNREGISTER() urcu_bp_unregister_thread()
#define READ_LOCK() urcu_bp_read_lock()
#define READ_UNLOCK() urcu_bp_read_unlock()
#define QUIESCENT() ((void)0)
#elif defined(RCUFREE_TEST_FLAVOR_MB)
#include <urcu/urcu-mb.h>
#define FLAVOR_NAME "mb"
#define FLAVOR (&urcu_mb_flavor)
#define READER_REGISTER() urcu_mb_register_thread()
#define READER_UNREGISTER() urcu_mb_unregister_thread()
#define READ_LOCK() urcu_mb_read_lock()
#define READ_UNLOCK() urcu_mb_read_unlock()
#define QUIESCENT() ((void)0)
#elif defined(RCUFREE_TEST_FLAVOR_MEMB)
#include <urcu/urcu-memb.h>
#define FLAVOR_NAME "memb"
#define FLAVOR (&urcu_memb_flavor)
#define READER_REGISTER() urcu_memb_register_thread()
#define READER_UNREGISTER() urcu_memb_unregister_thread()
#define READ_LOCK() urcu_memb_read_lock()
#define READ_UNLOCK() urcu_memb_read_unlock()
#define QUIESCENT() ((void)0)
#else
#error "define RCUFREE_TEST_FLAVOR_QSBR, _BP, _MB or _MEMB"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG 0x5243554654455354ull /* "RCUFTEST": a live tracked object */
#define CHURN 3000

struct tracked {
  uint64_t tag; /* TAG while alive; the free hook clears it */
  int id;       /* 1, 2: the held objects; 0: churn objects */
  struct rcu_head head;
};

static atomic_int tracked_freed;   /* tracked objects that reached free() */
static atomic_int held_freed[3];   /* per held id: 1 once freed */
static atomic_int early_frees;     /* held objects freed while the reader was inside */
static atomic_int reader_inside;   /* 1 while the reader's hold section runs */
static atomic_int reader_saw_dead; /* objects the reader found freed */
static int failures;

extern void __libc_free(void* ptr);

/* Every free() of the process comes here. Tracked objects are recognised by their tag, which is
 * read while the block is still allocated (glibc's own blocks are never smaller than 16 bytes). */
void free(void* ptr) {
  if (ptr != NULL) {
    struct tracked* t = ptr;
    if (t->tag == TAG) {
      t->tag = 0;
      /* seq_cst: pairs with the reader's seq_cst stores to reader_inside. The grace period orders
       * the reader's final store (before its unlock) before this free; a free that read 1 here
       * ran while the reader was still inside. */
      if (t->id != 0 && atomic_load(&reader_inside)) atomic_fetch_add(&early_frees, 1);
      if (t->id != 0) atomic_store(&held_freed[t->id], 1);
      atomic_fetch_add(&tracked_freed, 1); /* seq_cst: read by the main thread after barriers */
    }
  }
  __libc_free(ptr);
}

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "c_flavor_test (%s): FAILED: %s\n", FLAVOR_NAME, what);
    ++failures;
  }
}

static struct tracked* new_tracked(int id) {
  struct tracked* t = malloc(sizeof *t);
  if (t == NULL) abort();
  t->tag = TAG;
  t->id = id;
  return t;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The RCU-protected pointers. */
static struct tracked* slot_churn;
static struct tracked* slot_head;     /* held object 1: freed with its head */
static struct tracked* slot_headless; /* held object 2: freed head-less */

/* Reader control: phase 0 churn, 1 hold requested, 2 holding, 3 release, 4 stop. */
static atomic_int phase;

static void* reader(void* arg) {
  (void)arg;
  READER_REGISTER();
  for (;;) {
    int ph = atomic_load(&phase); /* seq_cst: a flag written by the main thread */
    if (ph == 4) break;
    if (ph == 1) {
      READ_LOCK();
      struct tracked* a = rcu_dereference(slot_head);
      struct tracked* b = rcu_dereference(slot_headless);
      atomic_store(&reader_inside, 1); /* seq_cst: pairs with the free hook's load */
      atomic_store(&phase, 2);
      while (atomic_load(&phase) == 2) sleep_ms(1); /* a long read-side critical section */
      if (a->tag != TAG || b->tag != TAG) atomic_fetch_add(&reader_saw_dead, 1);
      atomic_store(&reader_inside, 0); /* seq_cst: before the unlock, see the free hook */
      READ_UNLOCK();
      QUIESCENT();
      continue;
    }
    READ_LOCK();
    struct tracked* t = rcu_dereference(slot_churn);
    if (t != NULL && t->tag != TAG) atomic_fetch_add(&reader_saw_dead, 1);
    READ_UNLOCK();
    QUIESCENT(); /* QSBR: without this, no grace period could ever end */
  }
  READER_UNREGISTER();
  return NULL;
}

struct barrier_call {
  struct rcufree_engine* eng;
  struct tracked* headless;
  atomic_int done;
};

static void* headless_then_barrier(void* arg) {
  struct barrier_call* c = arg;
  /* May sleep; this thread is no reader of any flavor. */
  rcufree_engine_kvfree_rcu_mightsleep(c->eng, c->headless);
  rcufree_engine_barrier(c->eng);
  atomic_store(&c->done, 1); /* seq_cst: read by the main thread */
  return NULL;
}

int main(void) {
  struct rcufree_config cfg;
  rcufree_config_init(&cfg);
  cfg.flavor = FLAVOR;
  cfg.drain_interval_ms = 5; /* drain soon: an engine that ignored readers would free in time */
  struct rcufree_engine* eng = rcufree_engine_new(&cfg);
  if (eng == NULL) {
    fprintf(stderr, "rcufree_engine_new failed: %s\n", rcufree_last_error());
    return 1;
  }

  /* 1. churn */
  rcu_assign_pointer(slot_churn, new_tracked(0));
  pthread_t r;
  if (pthread_create(&r, NULL, reader, NULL) != 0) abort();
  for (int i = 0; i < CHURN; ++i) {
    struct tracked* old = rcu_xchg_pointer(&slot_churn, new_tracked(0));
    rcufree_engine_kfree_rcu(eng, old, &old->head);
    if (i % 500 == 0) sleep_ms(1);
  }
  rcufree_engine_barrier(eng);
  check(atomic_load(&tracked_freed) == CHURN, "one barrier frees every churned object");
  check(atomic_load(&reader_saw_dead) == 0, "the reader never saw a freed object (churn)");

  /* 2. hold */
  rcu_assign_pointer(slot_head, new_tracked(1));
  rcu_assign_pointer(slot_headless, new_tracked(2));
  atomic_store(&phase, 1);
  while (atomic_load(&phase) != 2) sleep_ms(1);
  struct tracked* held_a = rcu_xchg_pointer(&slot_head, NULL);
  struct tracked* held_b = rcu_xchg_pointer(&slot_headless, NULL);
  rcufree_engine_kfree_rcu(eng, held_a, &held_a->head);
  struct barrier_call bc = {eng, held_b, 0};
  pthread_t b;
  if (pthread_create(&b, NULL, headless_then_barrier, &bc) != 0) abort();
  for (int i = 0; i < 30; ++i) { /* 300 ms: sixty drain intervals */
    sleep_ms(10);
    if (atomic_load(&held_freed[1]) || atomic_load(&held_freed[2])) break;
  }
  check(!atomic_load(&held_freed[1]), "the object freed with its head waits for the reader");
  check(!atomic_load(&held_freed[2]), "the head-less object waits for the reader");
  check(!atomic_load(&bc.done), "a barrier waits for the reader");
  atomic_store(&phase, 3); /* leave */
  pthread_join(b, NULL);
  check(atomic_load(&held_freed[1]) && atomic_load(&held_freed[2]),
        "the barrier returned after both held objects were freed");
  check(atomic_load(&early_frees) == 0, "no held object was freed while the reader was inside");
  check(atomic_load(&reader_saw_dead) == 0, "the reader never saw a freed object (hold)");

  atomic_store(&phase, 4);
  pthread_join(r, NULL);
  struct tracked* last = rcu_xchg_pointer(&slot_churn, NULL);
  rcufree_engine_kfree_rcu(eng, last, &last->head);
  char json[1024];
  rcufree_engine_barrier(eng);
  rcufree_engine_stats_json(eng, json, sizeof json);
  char expect[64];
  snprintf(expect, sizeof expect, "\"queued\":%d,", CHURN + 3);
  check(strstr(json, expect) != NULL, "stats count every queued object");
  snprintf(expect, sizeof expect, "\"freed\":%d,", CHURN + 3);
  check(strstr(json, expect) != NULL, "stats count every freed object");
  rcufree_engine_destroy(eng);
  check(atomic_load(&tracked_freed) == CHURN + 3, "every tracked object was freed once");
  printf("c_flavor_test (%s): %s %s\n", FLAVOR_NAME, failures ? "FAILED" : "ok", json);
  return failures ? 1 : 0;
}
