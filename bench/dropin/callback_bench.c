/* SPDX-License-Identifier: MIT */
/* callback_bench.c — what one call_rcu costs in time: lone-callback latency and one burst.
 * A plain liburcu program (memb flavor, or BENCH_FLAVOR_MB, _SIGNAL, _QSBR, _BP): run as built
 * it measures liburcu's call_rcu; under LD_PRELOAD=librcufree-preload-<flavor>.so, rcufree's
 * drop-in (bench/dropin/run.sh runs both, interleaved, a fresh process per run).
 *
 *   callback_bench lone GAP_MS COUNT   one registered thread calls call_rcu COUNT times, GAP_MS
 *                                      apart; each callback records call -> callback latency.
 *                                      Prints "lone gap_ms G n N p50_us X p99_us Y max_us Z".
 *   callback_bench burst COUNT         after a quiet second (an idle process, as at a teardown),
 *                                      COUNT call_rcu back to back from one thread. Prints
 *                                      "burst n N call_ns_per_op X barrier_ms Y"; the fallback
 *                                      share comes from RCUFREE_URCU_STATS=1 (run.sh). */
#define _GNU_SOURCE
#include "bench_flavor.h" /* first: the flavor's names before any other liburcu header */
//
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu/compiler.h>

#include "bench_run.h"

struct timed {
  struct rcu_head head;
  uint64_t queued_ns;
  uint64_t* latency_ns; /* where the callback writes call -> callback */
};

static atomic_ulong ran;

static void record_latency(struct rcu_head* head) {
  struct timed* t = caa_container_of(head, struct timed, head);
  *t->latency_ns = now_ns() - t->queued_ns;
  /* release: the latency stored above before the count; pairs with main's load after its
   * barrier, which then reads every latency. */
  atomic_fetch_add_explicit(&ran, 1, memory_order_release);
}

static void count_only(struct rcu_head* head) {
  (void)head;
  atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed); /* read after rcu_barrier */
}

static int by_value(const void* a, const void* b) {
  const uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* Waits for every callback offline (QSBR) and unregistered-safe: liburcu's rule for waiting. */
static void barrier(void) {
  OFFLINE();
  rcu_barrier();
  ONLINE();
}

static void sleep_until(uint64_t t_ns) {
  OFFLINE(); /* a sleeping QSBR thread must not hold up grace periods */
  sleep_until_ns(t_ns);
  ONLINE();
}

static int lone(long gap_ms, long count) {
  struct timed* calls = calloc((size_t)count, sizeof *calls);
  uint64_t* lat = calloc((size_t)count, sizeof *lat);
  if (calls == NULL || lat == NULL) return 2;
  /* One call first, not measured: liburcu starts its worker thread on the first call_rcu. */
  static struct rcu_head warm;
  call_rcu(&warm, count_only);
  barrier();
  atomic_store(&ran, 0);
  uint64_t next = now_ns() + 100000000u;
  for (long i = 0; i < count; ++i) {
    sleep_until(next);
    calls[i].latency_ns = &lat[i];
    calls[i].queued_ns = now_ns();
    call_rcu(&calls[i].head, record_latency);
    next += (uint64_t)gap_ms * 1000000u;
  }
  barrier();
  if (atomic_load(&ran) != (unsigned long)count) return 3;
  qsort(lat, (size_t)count, sizeof *lat, by_value);
  const long p99 = (count * 99 + 99) / 100 - 1; /* nearest rank */
  printf("lone gap_ms %ld n %ld p50_us %.0f p99_us %.0f max_us %.0f\n", gap_ms, count,
         (double)lat[(count + 1) / 2 - 1] / 1e3, (double)lat[p99] / 1e3,
         (double)lat[count - 1] / 1e3);
  free(calls);
  free(lat);
  return 0;
}

static int burst(long count) {
  struct rcu_head* heads = calloc((size_t)count, sizeof *heads);
  if (heads == NULL) return 2;
  sleep_until(now_ns() + 1000000000u); /* a quiet second: the process is idle before the burst */
  const uint64_t t0 = now_ns();
  for (long i = 0; i < count; ++i) call_rcu(&heads[i], count_only);
  const uint64_t t1 = now_ns();
  barrier();
  const uint64_t t2 = now_ns();
  if (atomic_load(&ran) != (unsigned long)count) return 3;
  printf("burst n %ld call_ns_per_op %.1f barrier_ms %.1f\n", count,
         (double)(t1 - t0) / (double)count, (double)(t2 - t1) / 1e6);
  free(heads);
  return 0;
}

int main(int argc, char** argv) {
  int rc = 2;
  rcu_register_thread();
  if (argc == 4 && strcmp(argv[1], "lone") == 0) {
    rc = lone(atol(argv[2]), atol(argv[3]));
  } else if (argc == 3 && strcmp(argv[1], "burst") == 0) {
    rc = burst(atol(argv[2]));
  } else {
    fprintf(stderr, "usage: callback_bench lone GAP_MS COUNT | burst COUNT\n");
  }
  rcu_unregister_thread();
  return rc;
}
