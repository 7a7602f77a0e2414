/* SPDX-License-Identifier: MIT */
/* lfht_bench.c — a hash-table workload: liburcu's lock-free hash table (cds_lfht; memb flavor, or
 * BENCH_FLAVOR_MB, _SIGNAL, _QSBR, _BP) with writers that replace random keys, handing every node
 * they unlink to call_rcu, and readers that look keys up. The workload of bench/lfht (65,536 keys,
 * a fixed-size table, replace), written as a plain liburcu program in C so that it builds for every
 * flavor: as built it measures liburcu's call_rcu, under LD_PRELOAD=librcufree-preload-<flavor>.so
 * rcufree's drop-in (bench/dropin/run.sh). Under QSBR every thread announces a quiescent state
 * after each operation and goes offline while it sleeps.
 *
 *   lfht_bench SECONDS WRITERS [RATE]
 * One reader besides the WRITERS. Without RATE every thread runs flat out (throughput); with RATE
 * each writer makes RATE writes per second, paced every millisecond (fixed rate: memory is compared
 * at equal work). Prints "lfht writes N writes_s X reads_s Y run_rss_kib R peak_rss_kib Z
 * barrier_ms W" (R: VmHWM when the threads are done, Z: at the end, after the table was emptied
 * through call_rcu, 65,536 calls in a burst, and the barrier); exits 1 unless every node unlinked,
 * and at the end every node still in the table, was freed once. */
#define _GNU_SOURCE
#include "bench_flavor.h" /* first: liburcu's cds headers need the flavor's names */
//
#include <urcu/rculfhash.h>
//
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_run.h"

enum { kKeys = 65536 }; /* a power of two: the table's fixed bucket count */

struct node {
  struct cds_lfht_node ht;
  uint64_t key, value;
  struct rcu_head head;
};

static struct cds_lfht* table;
/* Orderings: `stop` is a request, read relaxed (a late look costs one more operation); the
 * workers add their counts before they exit and main reads them after pthread_join, which orders
 * both; callbacks count `freed` relaxed and main reads it after rcu_barrier, which returns only
 * once every callback has run. */
static atomic_int stop;
static atomic_ulong allocated, writes, reads, freed;
static long rate; /* writes per second per writer; 0: flat out (run_args.rate) */

static uint64_t hash_key(uint64_t k) { /* a 64-bit finalizer: spreads sequential keys */
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  return k ^ (k >> 33);
}

static uint64_t next_random(uint64_t* s) { /* xorshift64*, per thread */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static int match_key(struct cds_lfht_node* n, const void* key) {
  return caa_container_of(n, struct node, ht)->key == *(const uint64_t*)key;
}

static void free_node(struct rcu_head* head) {
  free(caa_container_of(head, struct node, head));
  atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed); /* read after rcu_barrier */
}

static struct node* new_node(uint64_t key, uint64_t value) {
  struct node* n = malloc(sizeof *n);
  if (n == NULL) abort();
  cds_lfht_node_init(&n->ht);
  n->key = key;
  n->value = value;
  return n;
}

static void write_one(uint64_t* seed, unsigned long i) {
  const uint64_t k = next_random(seed) % kKeys;
  struct node* n = new_node(k, i);
  rcu_read_lock(); /* cds_lfht's rule: updates inside a read-side section */
  struct cds_lfht_node* old = cds_lfht_add_replace(table, hash_key(k), match_key, &k, &n->ht);
  rcu_read_unlock();
  if (old != NULL) call_rcu(&caa_container_of(old, struct node, ht)->head, free_node);
}

static void* writer(void* arg) {
  uint64_t seed = 0x9e3779b97f4a7c15ULL * (uintptr_t)arg;
  unsigned long n = 0;
  rcu_register_thread();
  uint64_t next = now_ns();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    if (rate == 0) {
      write_one(&seed, n++);
      QUIESCENT();
      continue;
    }
    next += 1000000u; /* one millisecond's share of the rate */
    for (long k = 0; k < rate / 1000; ++k) {
      write_one(&seed, n++);
      QUIESCENT();
    }
    const struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
    OFFLINE();
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    ONLINE();
  }
  atomic_fetch_add(&writes, n);
  atomic_fetch_add(&allocated, n);
  rcu_unregister_thread();
  return NULL;
}

static void* reader(void* arg) {
  uint64_t seed = 0x9e3779b97f4a7c15ULL * (uintptr_t)arg, sink = 0;
  unsigned long n = 0;
  rcu_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const uint64_t k = next_random(&seed) % kKeys;
    struct cds_lfht_iter it;
    rcu_read_lock();
    cds_lfht_lookup(table, hash_key(k), match_key, &k, &it);
    struct cds_lfht_node* found = cds_lfht_iter_get_node(&it);
    if (found != NULL) sink += caa_container_of(found, struct node, ht)->value;
    rcu_read_unlock();
    QUIESCENT();
    ++n;
  }
  if (sink == 1) fputc(' ', stderr); /* keeps the loads */
  atomic_fetch_add(&reads, n);
  rcu_unregister_thread();
  return NULL;
}

int main(int argc, char** argv) {
  struct run_args args;
  if (parse_run_args(argc, argv, "lfht_bench", "writers", "writes", &args) != 0) return 2;
  const int writers = args.threads;
  rate = args.rate;
  rcu_register_thread();
  /* Fixed size (no automatic resize): the table's own resize work stays out of the measurement. */
  table = cds_lfht_new_flavor(kKeys, kKeys, kKeys, 0, &rcu_flavor, NULL);
  if (table == NULL) return 2;
  rcu_read_lock();
  for (uint64_t k = 0; k < kKeys; ++k) cds_lfht_add(table, hash_key(k), &new_node(k, 0)->ht);
  rcu_read_unlock();
  atomic_store(&allocated, kKeys);
  OFFLINE(); /* the main thread sleeps until the end: it must not hold up QSBR grace periods */

  pthread_t threads[17];
  for (int i = 0; i < writers; ++i)
    pthread_create(&threads[i], NULL, writer, (void*)(uintptr_t)(i + 1));
  pthread_create(&threads[writers], NULL, reader, (void*)(uintptr_t)(writers + 1));
  const uint64_t start = now_ns();
  sleep_until_ns(start + (uint64_t)(args.seconds * 1e9));
  atomic_store(&stop, 1);
  for (int i = 0; i <= writers; ++i) pthread_join(threads[i], NULL);
  const double elapsed = (double)(now_ns() - start) / 1e9;
  const long run_rss_kib = vm_hwm_kib(); /* before the teardown's burst of call_rcu below */
  ONLINE();

  /* Empty the table through call_rcu too, then wait for every callback. */
  struct cds_lfht_iter it;
  struct cds_lfht_node* n;
  rcu_read_lock();
  cds_lfht_for_each(table, &it, n) {
    if (cds_lfht_del(table, n) == 0)
      call_rcu(&caa_container_of(n, struct node, ht)->head, free_node);
  }
  rcu_read_unlock();
  const uint64_t t0 = now_ns();
  OFFLINE(); /* liburcu's rule for rcu_barrier under QSBR */
  rcu_barrier();
  ONLINE();
  const uint64_t t1 = now_ns();
  const int destroyed = cds_lfht_destroy(table, NULL);
  rcu_unregister_thread();
  if (destroyed != 0 || atomic_load(&freed) != atomic_load(&allocated)) {
    fprintf(stderr, "lfht: allocated %lu nodes, freed %lu\n", atomic_load(&allocated),
            atomic_load(&freed));
    return 1;
  }
  const unsigned long w = atomic_load(&writes);
  printf(
      "lfht writes %lu writes_s %.0f reads_s %.0f run_rss_kib %ld peak_rss_kib %ld barrier_ms "
      "%.1f\n",
      w, (double)w / elapsed, (double)atomic_load(&reads) / elapsed, run_rss_kib, vm_hwm_kib(),
      (double)(t1 - t0) / 1e6);
  return 0;
}
