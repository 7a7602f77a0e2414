/* SPDX-License-Identifier: MIT */
/* lfq_bench.c — a lock-free queue workload: liburcu's RCU queue (cds_lfq; memb flavor, or
 * BENCH_FLAVOR_MB, _SIGNAL, _QSBR, _BP) with enqueuers that allocate nodes and dequeuers that hand
 * every dequeued node to call_rcu. A plain liburcu program: as built it measures liburcu's
 * call_rcu, under LD_PRELOAD=librcufree-preload-<flavor>.so rcufree's drop-in
 * (bench/dropin/run.sh). Under QSBR every thread announces a quiescent state after each node and
 * goes offline while it sleeps, as a QSBR program must.
 *
 *   lfq_bench SECONDS THREADS [RATE]
 * THREADS enqueuer/dequeuer pairs. Without RATE each pair runs flat out (throughput); with RATE
 * each enqueuer offers RATE nodes per second, paced every millisecond (fixed rate: memory is
 * compared at equal work). Prints "lfq ops N ops_per_s X enqueued_per_s E peak_rss_kib Y
 * barrier_ms Z left L peak_queued Q peak_waiting W cpu_ns_per_node C", where ops counts nodes
 * dequeued while the run lasted (the pipeline's throughput: flat out, the enqueuer outruns the
 * dequeuer and the queue grows), E the enqueuers' rate, L the nodes still queued when the run
 * stopped (main then dequeues them too), peak RSS is VmHWM at the end, Q and W the most nodes seen
 * in the queue and handed to call_rcu but not yet freed (main looks every millisecond: what the
 * peak RSS is made of), and C the process's CPU time, every thread's, from the start to the end of
 * the final rcu_barrier, per node. */
#define _GNU_SOURCE
#include "bench_flavor.h" /* first: liburcu's cds headers need the flavor's names */
//
#include <urcu/cds.h>
//
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_run.h"

struct node {
  struct cds_lfq_node_rcu q;
  uint64_t payload[6]; /* a 96-byte object with the queue link and head */
  struct rcu_head head;
};

static struct cds_lfq_queue_rcu queue;
/* Orderings: `stop` is a request, read relaxed (a late look costs one more node); the threads
 * add their counts before they exit and main reads them after pthread_join, which orders both;
 * callbacks count `freed` relaxed and main reads it after rcu_barrier, which returns only once
 * every callback has run. */
static atomic_int stop;
static atomic_ulong enqueued, dequeued, freed;
/* Each thread's running count, published by a relaxed store after every node (its own line) and
 * read relaxed by main's looks: an estimate taken while the counts move, never used for a check. */
struct live_count {
  _Alignas(64) atomic_ulong n;
};
static struct live_count enqueued_live[16], dequeued_live[16];
static long rate; /* nodes per second per enqueuer; 0: flat out */

static void free_node(struct rcu_head* head) {
  free(caa_container_of(head, struct node, head));
  atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed); /* read after rcu_barrier */
}

static void enqueue_one(unsigned long i) {
  struct node* n = malloc(sizeof *n);
  if (n == NULL) abort();
  n->payload[0] = i;
  cds_lfq_node_init_rcu(&n->q);
  rcu_read_lock(); /* cds_lfq's rule: enqueue and dequeue inside a read-side section */
  cds_lfq_enqueue_rcu(&queue, &n->q);
  rcu_read_unlock();
}

static void* enqueuer(void* arg) {
  atomic_ulong* live = &enqueued_live[(intptr_t)arg].n;
  unsigned long n = 0;
  rcu_register_thread();
  uint64_t next = now_ns();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    if (rate == 0) {
      enqueue_one(n++);
      atomic_store_explicit(live, n, memory_order_relaxed);
      QUIESCENT();
      continue;
    }
    next += 1000000u; /* one millisecond's share of the rate */
    for (long k = 0; k < rate / 1000; ++k) enqueue_one(n++);
    atomic_store_explicit(live, n, memory_order_relaxed);
    const struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
    OFFLINE();
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    ONLINE();
  }
  atomic_fetch_add(&enqueued, n);
  rcu_unregister_thread();
  return NULL;
}

/* Dequeues until the queue is empty (or, with `live`, until the run stops), each node to
 * call_rcu; `live` (if any) gets base + the count after every node. */
static unsigned long drain(atomic_ulong* live, unsigned long base) {
  unsigned long n = 0;
  for (;;) {
    if (live != NULL && atomic_load_explicit(&stop, memory_order_relaxed)) return n;
    rcu_read_lock();
    struct cds_lfq_node_rcu* q = cds_lfq_dequeue_rcu(&queue);
    rcu_read_unlock();
    if (q == NULL) return n;
    call_rcu(&caa_container_of(q, struct node, q)->head, free_node);
    QUIESCENT();
    ++n;
    if (live != NULL) atomic_store_explicit(live, base + n, memory_order_relaxed);
  }
}

static void* dequeuer(void* arg) {
  atomic_ulong* live = &dequeued_live[(intptr_t)arg].n;
  unsigned long n = 0;
  rcu_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const unsigned long got = drain(live, n);
    n += got;
    if (got == 0 && rate != 0) {
      const struct timespec nap = {0, 200000}; /* fixed rate: the queue is often empty */
      OFFLINE();
      nanosleep(&nap, NULL);
      ONLINE();
    }
  }
  atomic_fetch_add(&dequeued, n);
  rcu_unregister_thread();
  return NULL;
}

int main(int argc, char** argv) {
  struct run_args args;
  if (parse_run_args(argc, argv, "lfq_bench", "enqueuer/dequeuer pairs", "nodes", &args) != 0)
    return 2;
  const double seconds = args.seconds;
  const int pairs = args.threads;
  rate = args.rate;
  cds_lfq_init_rcu(&queue, call_rcu);
  const uint64_t cpu0 = process_cpu_ns();
  pthread_t threads[32];
  for (int i = 0; i < pairs; ++i) {
    pthread_create(&threads[2 * i], NULL, enqueuer, (void*)(intptr_t)i);
    pthread_create(&threads[2 * i + 1], NULL, dequeuer, (void*)(intptr_t)i);
  }
  long peak_queued = 0, peak_waiting = 0;
  const uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
  for (uint64_t t = now_ns() + 1000000u; t < end; t += 1000000u) {
    sleep_until_ns(t);
    long enq = 0, deq = 0;
    for (int i = 0; i < pairs; ++i) {
      enq += (long)atomic_load_explicit(&enqueued_live[i].n, memory_order_relaxed);
      deq += (long)atomic_load_explicit(&dequeued_live[i].n, memory_order_relaxed);
    }
    const long done_freeing = (long)atomic_load_explicit(&freed, memory_order_relaxed);
    if (enq - deq > peak_queued) peak_queued = enq - deq;
    if (deq - done_freeing > peak_waiting) peak_waiting = deq - done_freeing;
  }
  sleep_until_ns(end);
  atomic_store(&stop, 1);
  for (int i = 0; i < 2 * pairs; ++i) pthread_join(threads[i], NULL);
  rcu_register_thread();
  const unsigned long rest = drain(NULL, 0);
  const uint64_t t0 = now_ns();
  OFFLINE(); /* liburcu's rule for rcu_barrier under QSBR */
  rcu_barrier();
  ONLINE();
  const uint64_t t1 = now_ns();
  const uint64_t cpu1 = process_cpu_ns();
  rcu_unregister_thread();
  const unsigned long done = atomic_load(&dequeued);
  if (done + rest != atomic_load(&enqueued) || atomic_load(&freed) != done + rest) {
    fprintf(stderr, "lfq: enqueued %lu, dequeued %lu, freed %lu\n", atomic_load(&enqueued),
            done + rest, atomic_load(&freed));
    return 1;
  }
  if (cds_lfq_destroy_rcu(&queue) != 0) return 1;
  printf(
      "lfq ops %lu ops_per_s %.0f enqueued_per_s %.0f peak_rss_kib %ld barrier_ms %.1f left %lu "
      "peak_queued %ld peak_waiting %ld cpu_ns_per_node %.1f\n",
      done, (double)done / seconds, (double)(done + rest) / seconds, vm_hwm_kib(),
      (double)(t1 - t0) / 1e6, rest, peak_queued, peak_waiting,
      (double)(cpu1 - cpu0) / (double)(done + rest));
  return 0;
}
