/* SPDX-License-Identifier: MIT */
/* The C API: free after a grace period on the default engine and on an engine of one's own, the
 * field forms (the member's name instead of a pointer to it), stats as JSON, the version. */
#include <rcufree/rcufree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
  long key;
  struct rcu_head head;
};

/* The head at neither end of the object, as it usually is. */
struct wide {
  char before[40];
  struct rcu_head rcu;
  char after[24];
};

static int failures;
static int wide_frees;
static int evaluations;

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "c_api_test: FAILED: %s\n", what);
    ++failures;
  }
}

static void wide_free(void* obj) {
  ++wide_frees;
  free(obj);
}

/* Counts how often a field form evaluates its object argument. */
static struct wide* counted(struct wide* w) {
  ++evaluations;
  return w;
}

static int json_counts(const char* json, const char* queued, const char* freed) {
  return strstr(json, queued) != NULL && strstr(json, freed) != NULL;
}

int main(void) {
  char json[1024];
  for (int i = 0; i < 1000; ++i) {
    struct entry* e = malloc(sizeof *e);
    e->key = i;
    if (i % 2)
      rcufree_kfree_rcu(e, &e->head);
    else
      rcufree_kfree_rcu_field(e, head);
  }
  rcufree_kfree_rcu(NULL, NULL);
  rcufree_kfree_rcu_field((struct entry*)NULL, head); /* NULL: no-op, like the pointer form */
  rcufree_kvfree_rcu_mightsleep(malloc(24));
  rcufree_call_field(counted(malloc(sizeof(struct wide))), rcu, wide_free);
  check(evaluations == 1, "rcufree_call_field evaluates obj once");
  rcufree_barrier();
  rcufree_stats_json(json, sizeof json);
  printf("%s\n", json);
  check(json_counts(json, "\"queued\":1002,", "\"freed\":1002,"),
        "the default engine queued and freed 1002 objects");
  check(wide_frees == 1, "rcufree_call_field ran its function once");

  struct rcufree_config cfg;
  rcufree_config_init(&cfg);
  struct rcufree_engine* eng = rcufree_engine_new(&cfg);
  check(eng != NULL, "rcufree_engine_new with the defaults");
  if (eng == NULL) return 1;
  for (int i = 0; i < 100; ++i) {
    rcufree_engine_kfree_rcu_field(eng, counted(malloc(sizeof(struct wide))), rcu);
    rcufree_engine_call_field(eng, counted(malloc(sizeof(struct wide))), rcu, wide_free);
  }
  check(evaluations == 201, "the engine field forms evaluate obj once");
  rcufree_engine_kfree_rcu_field(eng, (struct wide*)NULL, rcu);
  rcufree_engine_barrier(eng);
  rcufree_engine_stats_json(eng, json, sizeof json);
  check(json_counts(json, "\"queued\":200,", "\"freed\":200,"),
        "the engine queued and freed 200 objects");
  check(wide_frees == 101, "rcufree_engine_call_field ran its function per object");
  rcufree_engine_destroy(eng);

  /* The headers' version and the library's are one number (both from project(VERSION)). */
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", RCUFREE_VERSION_MAJOR, RCUFREE_VERSION_MINOR,
           RCUFREE_VERSION_PATCH);
  check(strcmp(version, RCUFREE_VERSION_STRING) == 0,
        "RCUFREE_VERSION_STRING is MAJOR.MINOR.PATCH");
  check(strcmp(rcufree_version(), RCUFREE_VERSION_STRING) == 0,
        "rcufree_version() is the headers' RCUFREE_VERSION_STRING");

  printf("c_api_test: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
