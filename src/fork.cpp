// SPDX-License-Identifier: MIT
// fork.cpp — engines across fork(): nothing lost in the parent, a working engine in the child.
//
// Like liburcu's call_rcu_before_fork()/after_fork_parent()/after_fork_child(), but registered
// with pthread_atfork() so that applications need not call anything:
//   prepare: every engine's supervisor and CPU threads park between passes (they hold no slot,
//            no reclaim lock and run no grace period), and no grace period is in progress or
//            may start (grace_period::lock_for_fork) while fork() runs;
//   parent:  unlock and resume;
//   child:   only the forking thread exists. Locks and condition variables are rebuilt fresh,
//            slot flags that other (now absent) threads held are cleared, and a new supervisor is
//            started (CPU threads again on demand); objects queued before the fork are freed by
//            the child's copy of the engine (the parent frees its own), as liburcu's child
//            inherits pending call_rcu callbacks.
// Limit: an object another thread was pushing at the very instant of fork() may not be reached
// by the child (its link never completes there); the child's copy of it is then not freed.
#include <pthread.h>

#include <mutex>
#include <new>

#include "engine_core.hpp"
#include "pressure.hpp"

namespace rcufree::detail {
namespace {

std::mutex g_registry_mu;
engine_core* g_registry = nullptr;
std::once_flag g_atfork_once;

// In two phases across all engines: every engine's threads park first, and only then is any
// engine's grace period held, so that a deleter on one engine's thread that needs another
// engine's grace period (a head-less inline free) finishes before its own engine is parked.
void prepare_all() {
  g_registry_mu.lock();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->park_for_fork();
  RCUFREE_STOP_AT(fork_engines_parked);
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->hold_grace_for_fork();
  RCUFREE_STOP_AT(fork_prepared);
}
void parent_all() {
  RCUFREE_STOP_AT(fork_parent_resuming);
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->parent_after_fork();
  g_registry_mu.unlock();
}
void child_all() {
  new (&g_registry_mu) std::mutex();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->child_after_fork();
}

}  // namespace

std::unique_lock<std::mutex> hold_off_fork() {
  std::call_once(g_atfork_once, [] { pthread_atfork(prepare_all, parent_all, child_all); });
  return std::unique_lock<std::mutex>(g_registry_mu);
}

void register_engine(engine_core* e, const std::unique_lock<std::mutex>& held) {
  (void)held;  // the registry's mutex, from hold_off_fork()
  e->fork_next = g_registry;
  if (g_registry != nullptr) g_registry->fork_prev = e;
  g_registry = e;
}

void unregister_engine(engine_core* e) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (e->fork_prev != nullptr) e->fork_prev->fork_next = e->fork_next;
  if (e->fork_next != nullptr) e->fork_next->fork_prev = e->fork_prev;
  if (g_registry == e) g_registry = e->fork_next;
}

void engine_core::park_for_fork() {
  threads.prepare_fork();  // every thread parked between passes: none holds a slot or a lock
}

void engine_core::hold_grace_for_fork() {
  gp.lock_for_fork();  // no grace period in progress, none starts until after the fork
}

void engine_core::parent_after_fork() {
  gp.unlock_after_fork();
  threads.parent_after_fork();
}

void engine_core::child_after_fork() {
  gp.reset_in_child();
  rec.adopt_in_child();  // before any thread starts: clears slot flags, cuts unfinished lists
  new (&inline_mu_) std::mutex();
  threads.child_after_fork();
  if (pressure_) {
    (void)pressure_.release();  // its thread does not exist here: leak the handle, start anew
    pressure_ = std::make_unique<pressure_watch>(*this);
  }
}

}  // namespace rcufree::detail
