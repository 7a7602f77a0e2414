/* SPDX-License-Identifier: MIT */
/* The C API: free after a grace period on the default engine, stats as JSON. */
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
  for (int i = 0; i < 1000; ++i) {
    struct entry *e = malloc(sizeof *e);
    e->key = i;
    rcufree_kfree_rcu(e, &e->head);
  }
  rcufree_kfree_rcu(NULL, NULL);
  rcufree_kvfree_rcu_mightsleep(malloc(24));
  rcufree_barrier();
  rcufree_stats_json(json, sizeof json);
  printf("%s\n", json);
  if (strstr(json, "\"queued\":1001") == NULL || strstr(json, "\"freed\":1001") == NULL) {
    fprintf(stderr, "expected 1001 queued and freed\n");
    return 1;
  }
  return 0;
}
