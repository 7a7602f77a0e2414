/* SPDX-License-Identifier: MIT */
/* A C consumer of rcufree's C API: both forms of rcufree_kfree_rcu, the head-less form, barrier,
 * stats, and the library's version against the headers'. */
#include <rcufree/rcufree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
  long key;
  struct rcu_head head;
};

int main(void) {
  char json[1024];
  for (int i = 0; i < 500; ++i) {
    struct entry *e = malloc(sizeof *e);
    e->key = i;
    if (i % 2)
      rcufree_kfree_rcu(e, &e->head);
    else
      rcufree_kfree_rcu_field(e, head);
  }
  rcufree_kvfree_rcu_mightsleep(malloc(40));
  rcufree_barrier();
  rcufree_stats_json(json, sizeof json);
  int ok = strstr(json, "\"queued\":501,") != NULL && strstr(json, "\"freed\":501,") != NULL &&
           strcmp(rcufree_version(), RCUFREE_VERSION_STRING) == 0;
  printf("consumer (C, rcufree %s, headers %s): %s %s\n", rcufree_version(), RCUFREE_VERSION_STRING,
         ok ? "ok" : "FAILED", json);
  return ok ? 0 : 1;
}
