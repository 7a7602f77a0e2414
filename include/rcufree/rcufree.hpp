// SPDX-License-Identifier: MIT
// rcufree/rcufree.hpp — the whole C++ API: kfree_rcu() for user space.
//
// Readers of an RCU-protected structure use liburcu (rcu_read_lock/rcu_read_unlock of the
// engine's flavor, urcu-memb by default) and never block. Updaters unlink an object and hand it to
// rcufree, which frees it after a grace period, batched per CPU into page-sized pointer arrays.
//
//   #include <rcufree/rcufree.hpp>
//   struct entry { long key, value; rcu_head head; };
//
//   entry* old = rcu_xchg_pointer(&table[i], fresh);  // unlink
//   rcufree::kfree_rcu(old, &entry::head);            // any context, even a signal handler
//   ...
//   rcufree::barrier();                                // all earlier frees have run
//
// The free functions below act on default_engine(); an application that wants its own sizing or
// flavor constructs an rcufree::engine. Context rules are those of the engine members of the same
// names (engine.hpp).
#pragma once

#include <rcufree/version.h>

#include <rcufree/atomic_scope.hpp>
#include <rcufree/call_site.hpp>
#include <rcufree/config.hpp>
#include <rcufree/engine.hpp>
#include <rcufree/stats.hpp>
#include <rcufree/stats_sampler.hpp>

namespace rcufree {

// Atomic-safe (see engine::kfree_rcu).
template <class T, class Owner>
void kfree_rcu(T* obj, rcu_head Owner::*head) noexcept {
  default_engine().kfree_rcu(obj, head);
}
// Atomic-safe (see engine::delete_rcu).
template <class T, class Owner>
void delete_rcu(T* obj, rcu_head Owner::*head) noexcept {
  default_engine().delete_rcu(obj, head);
}
// Atomic-safe (see engine::retire).
template <class T, class Owner, class Deleter>
void retire(T* obj, rcu_head Owner::*head, Deleter d = Deleter{}) noexcept {
  default_engine().retire(obj, head, d);
}
// May sleep (see engine::kvfree_rcu_mightsleep). `site`: leave it out (call_site.hpp).
inline void kvfree_rcu_mightsleep(void* ptr, call_site site = call_site::current()) {
  default_engine().kvfree_rcu_mightsleep(ptr, site);
}
// May sleep (see engine::delete_rcu_mightsleep).
template <class T>
void delete_rcu_mightsleep(T* obj, call_site site = call_site::current()) {
  default_engine().delete_rcu_mightsleep(obj, site);
}
// Blocks (see engine::barrier); a misuse report names the caller's line.
inline void barrier(call_site site = call_site::current()) {
  const detail::at_call_site here(site);
  default_engine().barrier();
}

}  // namespace rcufree
