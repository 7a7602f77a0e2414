// SPDX-License-Identifier: MIT
// callback_table.hpp — liburcu callbacks as rcufree reclaim kinds: one kind per (function,
// flavor), so that an engine batches the objects of each callback function into pages, like
// rcufree_call, and runs each run of them inside one reader registration (reader_scope).
//
// Why not rcufree_call: liburcu's callback gets the rcu_head, and the threads that run it must be
// registered readers of the program's flavor (liburcu's call_rcu threads are); a C call kind runs
// the function with nothing around it. Why not keep the function in the head (head->func, as
// liburcu does): the engine links an object through both words of its head when no page is at
// hand (src/fallback_list.hpp). So the function lives in a fixed table, and each table position
// has a kind of its own, compiled in (run_entry<I> below): engine::retire<T, Deleter> takes a
// stateless deleter type, and a deleter callable with (objects, n) gets whole runs at once.
//
// Context: find_or_add and queue are atomic-safe (a bounded scan, one fetch_add to claim a new
// position; no allocation, lock or system call). run() is called by the engine's threads only.
#pragma once

#include <urcu/call-rcu.h>

#include <array>
#include <cstddef>
#include <rcufree/engine.hpp>
#include <utility>

#include "fixed_registry.hpp"

namespace rcufree::dropin {

using callback_fn = void (*)(rcu_head*);

// What one table position stands for.
struct callback_entry {
  callback_fn fn = nullptr;
  int flavor = -1;  // rcufree_urcu_flavor
};

// Distinct (function, flavor) pairs per process. Each position costs a few dozen bytes of code
// (its kind); liburcu programs pass a handful of callback functions.
inline constexpr std::size_t kCallbackKinds = 256;

// The object the engine sees: the rcu_head itself (head offset 0), so that the fallback list,
// which links an object through its head, needs nothing else.
struct head_object {
  rcu_head head;
};

// Runs objects[0..n) of table position `index`: each is an rcu_head given to call_rcu, handed
// back to its function inside one reader registration of the entry's flavor (urcu_dropin.cpp).
void run(std::size_t index, void* const* objects, std::size_t n) noexcept;

template <std::size_t I>
struct run_entry {
  void operator()(void* const* objects, std::size_t n) const noexcept { run(I, objects, n); }
};

using queue_fn = void (*)(engine&, rcu_head*);

template <std::size_t I>
void queue_entry(engine& eng, rcu_head* head) {
  eng.retire(reinterpret_cast<head_object*>(head), &head_object::head, run_entry<I>{});
}

template <std::size_t... I>
constexpr std::array<queue_fn, sizeof...(I)> make_queue_table(std::index_sequence<I...>) {
  return {&queue_entry<I>...};
}
// kQueue[i] queues a head as table position i's kind.
inline constexpr auto kQueue = make_queue_table(std::make_index_sequence<kCallbackKinds>{});

using callback_registry = detail::fixed_registry<callback_entry, kCallbackKinds>;

}  // namespace rcufree::dropin
