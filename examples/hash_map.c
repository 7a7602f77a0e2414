/* SPDX-License-Identifier: MIT */
/* hash_map — an RCU hash table (liburcu's cds_lfht) whose removed nodes are freed by rcufree.
 *
 * The shape of a real liburcu client, in C: reader threads look keys up inside read-side critical
 * sections; writer threads insert, replace and delete under urcu_memb_read_lock (as cds_lfht
 * requires) and hand every node they unlink to rcufree_kfree_rcu() right there, inside the
 * read-side section, where call_rcu() would have to queue a callback and synchronize_rcu() would
 * deadlock. Once a second it prints a line of live statistics; at the end every node is removed,
 * one rcufree_barrier() waits for the frees, and the program fails if a reader ever found a node
 * that did not hold together (what a node freed too early would look like) or if anything
 * queued was not freed.
 *
 *   hash_map [--seconds N] [--readers N] [--writers N] [--keys N]
 *
 * Copy from here: node layout (cds_lfht_node and rcu_head inside the object), the writer's
 * unlink-then-rcufree_kfree_rcu, teardown (remove all, destroy the table, rcufree_barrier).
 * The table is liburcu-cds's; against an installed rcufree this file builds with
 *   cc hash_map.c $(pkg-config --cflags --libs rcufree liburcu-cds) -pthread -o hash_map
 * (README.md gives the same command; test/install checks that it works). */
#define _GNU_SOURCE
#include <pthread.h>
#include <rcufree/rcufree.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/rculfhash.h>
#include <urcu/urcu-memb.h> /* rcufree's default engine waits for urcu-memb readers */

#define LIVE 0x9e3779b97f4a7c15ull

struct node {
  uint64_t key, value, check; /* check == key ^ value ^ LIVE while the node is valid */
  struct cds_lfht_node lfht;  /* the table's link */
  struct rcu_head head;       /* rcufree's fallback link, used only when no page is at hand */
};

static struct cds_lfht* table;
static atomic_int stop;
static unsigned long n_keys = 10000;

/* Per-run counters, summed by the printer. relaxed everywhere: statistics, read once a second. */
static atomic_ulong lookups, hits, inserts, replaces, deletes, broken;

static uint64_t mix(uint64_t x) { /* a 64-bit finalizer: spreads keys over the buckets */
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb3fe1a85ec53ull;
  return x ^ (x >> 33);
}

static int match(struct cds_lfht_node* ht_node, const void* key) {
  const struct node* n = caa_container_of(ht_node, struct node, lfht);
  return n->key == *(const uint64_t*)key;
}

static uint64_t next_random(uint64_t* state) { /* xorshift64 */
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static struct node* new_node(uint64_t key, uint64_t value) {
  struct node* n = malloc(sizeof *n);
  if (n == NULL) {
    perror("malloc");
    exit(1);
  }
  n->key = key;
  n->value = value;
  n->check = key ^ value ^ LIVE;
  cds_lfht_node_init(&n->lfht);
  return n;
}

static void* reader(void* arg) {
  uint64_t rng = (uintptr_t)arg * 0x2545f4914f6cdd1dull + 1;
  unsigned long mine = 0, found = 0, bad = 0;
  urcu_memb_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int i = 0; i < 256; ++i) {
      const uint64_t key = next_random(&rng) % n_keys;
      struct cds_lfht_iter iter;
      urcu_memb_read_lock();
      cds_lfht_lookup(table, mix(key), match, &key, &iter);
      struct cds_lfht_node* ht_node = cds_lfht_iter_get_node(&iter);
      if (ht_node != NULL) {
        const struct node* n = caa_container_of(ht_node, struct node, lfht);
        ++found;
        if (n->key != key || n->check != (n->key ^ n->value ^ LIVE)) ++bad;
      }
      urcu_memb_read_unlock();
      ++mine;
    }
    atomic_fetch_add_explicit(&lookups, mine, memory_order_relaxed);
    atomic_fetch_add_explicit(&hits, found, memory_order_relaxed);
    atomic_fetch_add_explicit(&broken, bad, memory_order_relaxed);
    mine = found = bad = 0;
  }
  urcu_memb_unregister_thread();
  return NULL;
}

static void* writer(void* arg) {
  uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;
  urcu_memb_register_thread();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const uint64_t key = next_random(&rng) % n_keys;
    const uint64_t op = next_random(&rng) % 4;
    urcu_memb_read_lock(); /* cds_lfht's updates run inside a read-side critical section */
    if (op != 0) {         /* insert, or replace what is there */
      struct node* fresh = new_node(key, next_random(&rng));
      struct cds_lfht_node* old = cds_lfht_add_replace(table, mix(key), match, &key, &fresh->lfht);
      if (old != NULL) {
        struct node* o = caa_container_of(old, struct node, lfht);
        rcufree_kfree_rcu(o, &o->head); /* readers may still hold o: freed after a grace period */
        atomic_fetch_add_explicit(&replaces, 1, memory_order_relaxed);
      } else {
        atomic_fetch_add_explicit(&inserts, 1, memory_order_relaxed);
      }
    } else { /* delete */
      struct cds_lfht_iter iter;
      cds_lfht_lookup(table, mix(key), match, &key, &iter);
      struct cds_lfht_node* ht_node = cds_lfht_iter_get_node(&iter);
      if (ht_node != NULL && cds_lfht_del(table, ht_node) == 0) { /* 0: this thread removed it */
        struct node* o = caa_container_of(ht_node, struct node, lfht);
        rcufree_kfree_rcu(o, &o->head);
        atomic_fetch_add_explicit(&deletes, 1, memory_order_relaxed);
      }
    }
    urcu_memb_read_unlock();
  }
  urcu_memb_unregister_thread();
  return NULL;
}

/* The value of "key":N in the engine's JSON line (0 if absent). */
static unsigned long long json_u64(const char* json, const char* key) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char* at = strstr(json, pattern);
  return at != NULL ? strtoull(at + strlen(pattern), NULL, 10) : 0;
}

static unsigned long take(atomic_ulong* counter) {
  return atomic_exchange_explicit(counter, 0, memory_order_relaxed);
}

static int parse_int(const char* flag, const char* value) {
  char* end = NULL;
  long v = value != NULL ? strtol(value, &end, 10) : -1;
  if (value == NULL || *end != '\0' || v <= 0 || v > 1000000000) {
    fprintf(stderr, "hash_map: %s needs a positive number\n", flag);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char** argv) {
  int seconds = 5, readers = 2, writers = 1;
  for (int i = 1; i < argc; ++i) {
    const char* value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--seconds") == 0) {
      seconds = parse_int(argv[i], value);
    } else if (strcmp(argv[i], "--readers") == 0) {
      readers = parse_int(argv[i], value);
    } else if (strcmp(argv[i], "--writers") == 0) {
      writers = parse_int(argv[i], value);
    } else if (strcmp(argv[i], "--keys") == 0) {
      n_keys = (unsigned long)parse_int(argv[i], value);
    } else {
      fprintf(stderr, "usage: hash_map [--seconds N] [--readers N] [--writers N] [--keys N]\n");
      return 2;
    }
    ++i;
  }

  /* The table's own grace periods (bucket resizes) use the same flavor. */
  table = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                              &urcu_memb_flavor, NULL);
  if (table == NULL) {
    fprintf(stderr, "hash_map: cds_lfht_new failed\n");
    return 1;
  }
  pthread_t threads[readers + writers];
  for (int i = 0; i < readers + writers; ++i) {
    void* (*fn)(void*) = i < readers ? reader : writer;
    if (pthread_create(&threads[i], NULL, fn, (void*)(uintptr_t)(i + 1)) != 0) {
      perror("pthread_create");
      return 1;
    }
  }

  printf("hash_map: %d readers, %d writers, %lu keys, %d s (cds_lfht + rcufree_kfree_rcu)\n",
         readers, writers, n_keys, seconds);
  printf("%4s %11s %5s %10s %9s | %9s %9s %6s %9s %5s\n", "s", "lookups/s", "hit%", "updates/s",
         "deletes/s", "pending", "freed", "pages", "fallback", "GPs");
  char json[2048];
  unsigned long long freed_before = 0;
  for (int s = 1; s <= seconds; ++s) {
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
    const unsigned long l = take(&lookups), h = take(&hits);
    const unsigned long u = take(&inserts) + take(&replaces), d = take(&deletes);
    rcufree_stats_json(json, sizeof json);
    const unsigned long long freed = json_u64(json, "freed");
    printf("%4d %11lu %4.0f%% %10lu %9lu | %9llu %9llu %6llu %9llu %5llu\n", s, l,
           l ? 100.0 * (double)h / (double)l : 0.0, u, d, json_u64(json, "pending"),
           freed - freed_before, json_u64(json, "pages_in_use"), json_u64(json, "fallback_objects"),
           json_u64(json, "grace_periods"));
    freed_before = freed;
    fflush(stdout);
  }
  atomic_store_explicit(&stop, 1, memory_order_relaxed);
  for (int i = 0; i < readers + writers; ++i) pthread_join(threads[i], NULL);

  /* Teardown: remove every node (each freed after a grace period), destroy the empty table
   * (from a thread outside any read-side section), then wait for the frees. */
  urcu_memb_register_thread();
  struct cds_lfht_iter iter;
  struct node* n;
  unsigned long removed = 0;
  urcu_memb_read_lock();
  cds_lfht_for_each_entry(table, &iter, n, lfht) {
    if (cds_lfht_del(table, &n->lfht) == 0) {
      rcufree_kfree_rcu(n, &n->head);
      ++removed;
    }
  }
  urcu_memb_read_unlock();
  urcu_memb_unregister_thread();
  if (cds_lfht_destroy(table, NULL) != 0) {
    fprintf(stderr, "hash_map: cds_lfht_destroy failed: table not empty\n");
    return 1;
  }
  rcufree_barrier();

  rcufree_stats_json(json, sizeof json);
  const unsigned long long queued = json_u64(json, "queued"), freed = json_u64(json, "freed");
  const unsigned long bad = take(&broken);
  printf(
      "teardown: %lu nodes removed; rcufree queued %llu, freed %llu, %llu grace periods, "
      "%llu objects via the fallback list\n",
      removed, queued, freed, json_u64(json, "grace_periods"), json_u64(json, "fallback_objects"));
  if (bad != 0 || queued != freed) {
    printf("FAILED: %lu broken nodes seen by readers, %llu queued but not freed\n", bad,
           queued - freed);
    return 1;
  }
  printf("ok: readers never saw a broken node; every removed node was freed\n");
  return 0;
}
