/* SPDX-License-Identifier: MIT */
/* bench_flavor.h — the liburcu flavor a drop-in bench program is built for (memb, or
 * BENCH_FLAVOR_MB, _SIGNAL, _QSBR, _BP: bench/dropin/CMakeLists.txt), and what a QSBR thread must
 * do that the other flavors need not: announce quiescent states (QUIESCENT) and go offline
 * around sleeps and rcu_barrier (OFFLINE, ONLINE). Elsewhere those are no-ops. */
#ifndef RCUFREE_BENCH_FLAVOR_H
#define RCUFREE_BENCH_FLAVOR_H

#if defined(BENCH_FLAVOR_QSBR)
#include <urcu-qsbr.h>
#elif defined(BENCH_FLAVOR_BP)
#include <urcu-bp.h>
#else
#if defined(BENCH_FLAVOR_MB)
#define RCU_MB
#elif defined(BENCH_FLAVOR_SIGNAL)
#define RCU_SIGNAL
#endif
#include <urcu.h> /* memb unless RCU_MB or RCU_SIGNAL says otherwise */
#endif

#if defined(BENCH_FLAVOR_QSBR)
#define QUIESCENT() rcu_quiescent_state()
#define OFFLINE() rcu_thread_offline()
#define ONLINE() rcu_thread_online()
#else
#define QUIESCENT() ((void)0)
#define OFFLINE() ((void)0)
#define ONLINE() ((void)0)
#endif

#endif
