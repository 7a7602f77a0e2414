// SPDX-License-Identifier: MIT
// one_engine_lib.cpp — built twice, as libone_engine_a.so and libone_engine_b.so (ONE_ENGINE_NS
// names the namespace), each linked to librcufree.so.
#include "one_engine_lib.hpp"

namespace {
struct counted {
  explicit counted(std::atomic<int>* d) : deleted(d) {}
  ~counted() {
    // relaxed: the test reads the count after rcufree::barrier(), which orders every delete
    // before its return.
    deleted->fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<int>* deleted;
  rcufree::rcu_head head{};
};
}  // namespace

namespace ONE_ENGINE_NS {

rcufree::engine* engine_seen() {
  return &rcufree::default_engine();
}

void queue(int n, std::atomic<int>* deleted) {
  for (int i = 0; i < n; ++i) rcufree::delete_rcu(new counted(deleted), &counted::head);
}

bool in_scope() {
  return rcufree::in_atomic_scope();
}

void call_in_scope(void (*fn)(void*), void* arg) {
  rcufree::atomic_scope scope;
  fn(arg);
}

void mightsleep(void* ptr) {
  rcufree::kvfree_rcu_mightsleep(ptr);
}

}  // namespace ONE_ENGINE_NS
