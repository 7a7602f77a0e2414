/* SPDX-License-Identifier: MIT */
/* c_field_misuse.c — must not compile: the field forms of rcufree.h reject, at compile time, a
 * member that is not a struct rcu_head (-DBAD_TYPE) and one 4096 bytes or more into the object
 * (-DBAD_OFFSET). test/CMakeLists.txt compiles it both ways and checks the compiler's message. */
#include <rcufree/rcufree.h>

#include <stdlib.h>

struct node {
  long key;
  struct rcu_head rcu;
  char payload[5000];
  struct rcu_head far_rcu;
};

int main(void) {
  struct node *n = malloc(sizeof *n);
#if defined(BAD_TYPE)
  rcufree_kfree_rcu_field(n, key);
#elif defined(BAD_OFFSET)
  rcufree_kfree_rcu_field(n, far_rcu);
#else
  rcufree_kfree_rcu_field(n, rcu);
#endif
  return 0;
}
