/* SPDX-License-Identifier: MIT */
/* preload.c — librcufree-preload-<flavor>.so: liburcu's call_rcu family for an existing binary.
 *
 *   LD_PRELOAD=librcufree-preload-qsbr.so ./program      (a program linked with liburcu-qsbr)
 *
 * Built once per flavor (RCUFREE_PRELOAD_<FLAVOR> set by src/dropin/CMakeLists.txt). It defines
 * liburcu 0.13's exported names of that flavor (urcu_qsbr_call_rcu, urcu_qsbr_barrier, ...: the
 * list is preload.map) with the meaning <rcufree/urcu.h> gives them, and nothing else: preloaded,
 * these definitions come first in symbol lookup, so the program's calls, other libraries' calls
 * and the flavor table's function pointers (liburcu fills urcu_qsbr_flavor.update_call_rcu
 * through a relocation against the name, which the preload wins) all reach rcufree. The fork
 * hooks (call_rcu_before_fork, ...) are not replaced: liburcu's still serve its hash tables, and
 * rcufree's engines handle fork() by themselves. The constructor of <rcufree/urcu.h> builds the
 * flavor's engine when the preload library loads. */
#define RCUFREE_URCU_NO_REMAP
#if defined(RCUFREE_PRELOAD_MEMB)
#include <urcu/urcu-memb.h>
#define F memb
#elif defined(RCUFREE_PRELOAD_MB)
#include <urcu/urcu-mb.h>
#define F mb
#elif defined(RCUFREE_PRELOAD_SIGNAL)
#include <urcu/urcu-signal.h>
#define F signal
#elif defined(RCUFREE_PRELOAD_QSBR)
#include <urcu/urcu-qsbr.h>
#define F qsbr
#elif defined(RCUFREE_PRELOAD_BP)
#include <urcu/urcu-bp.h>
#define F bp
#else
#error "preload.c: define RCUFREE_PRELOAD_MEMB, _MB, _SIGNAL, _QSBR or _BP"
#endif
#include <rcufree/urcu.h>

#define PASTE3(a, b, c) a##b##c
#define LIBURCU(f, name) PASTE3(urcu_, f, name)   /* urcu_qsbr_call_rcu */
#define RCUFREE(f, name) PASTE3(rcufree_urcu_, f, name) /* rcufree_urcu_qsbr_call_rcu */

void LIBURCU(F, _call_rcu)(struct rcu_head *head, void (*func)(struct rcu_head *head)) {
  RCUFREE(F, _call_rcu)(head, func);
}
void LIBURCU(F, _barrier)(void) { RCUFREE(F, _barrier)(); }
void LIBURCU(F, _defer_rcu)(void (*fct)(void *p), void *p) { RCUFREE(F, _defer_rcu)(fct, p); }
void LIBURCU(F, _defer_barrier)(void) { RCUFREE(F, _barrier)(); }
void LIBURCU(F, _defer_barrier_thread)(void) { RCUFREE(F, _barrier)(); }
int LIBURCU(F, _defer_register_thread)(void) { return RCUFREE(F, _defer_register_thread)(); }
void LIBURCU(F, _defer_unregister_thread)(void) { RCUFREE(F, _defer_unregister_thread)(); }
struct call_rcu_data *LIBURCU(F, _create_call_rcu_data)(unsigned long flags, int cpu_affinity) {
  return RCUFREE(F, _create_call_rcu_data)(flags, cpu_affinity);
}
void LIBURCU(F, _call_rcu_data_free)(struct call_rcu_data *crdp) {
  RCUFREE(F, _call_rcu_data_free)(crdp);
}
struct call_rcu_data *LIBURCU(F, _get_default_call_rcu_data)(void) {
  return RCUFREE(F, _get_default_call_rcu_data)();
}
struct call_rcu_data *LIBURCU(F, _get_cpu_call_rcu_data)(int cpu) {
  return RCUFREE(F, _get_cpu_call_rcu_data)(cpu);
}
struct call_rcu_data *LIBURCU(F, _get_thread_call_rcu_data)(void) {
  return RCUFREE(F, _get_thread_call_rcu_data)();
}
struct call_rcu_data *LIBURCU(F, _get_call_rcu_data)(void) {
  return RCUFREE(F, _get_call_rcu_data)();
}
pthread_t LIBURCU(F, _get_call_rcu_thread)(struct call_rcu_data *crdp) {
  return RCUFREE(F, _get_call_rcu_thread)(crdp);
}
void LIBURCU(F, _set_thread_call_rcu_data)(struct call_rcu_data *crdp) {
  RCUFREE(F, _set_thread_call_rcu_data)(crdp);
}
int LIBURCU(F, _set_cpu_call_rcu_data)(int cpu, struct call_rcu_data *crdp) {
  return RCUFREE(F, _set_cpu_call_rcu_data)(cpu, crdp);
}
int LIBURCU(F, _create_all_cpu_call_rcu_data)(unsigned long flags) {
  return RCUFREE(F, _create_all_cpu_call_rcu_data)(flags);
}
void LIBURCU(F, _free_all_cpu_call_rcu_data)(void) { RCUFREE(F, _free_all_cpu_call_rcu_data)(); }
