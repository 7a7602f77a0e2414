// SPDX-License-Identifier: MIT
// A consumer of rcufree: the C++ API and the C header, readers through liburcu, stats at the end.
// Written to the C++17 standard, the lowest rcufree's headers support.
#include <rcufree/rcufree.h>
#include <rcufree/rcufree.hpp>
#include <urcu/urcu-memb.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef CONSUMER_MODE
#define CONSUMER_MODE "pkg-config"
#endif
// The standard the consumer asked for is the one it got: rcufree's interface does not raise it.
#ifdef CONSUMER_CXX_STANDARD
static_assert(__cplusplus == CONSUMER_CXX_STANDARD, "compiled as another C++ standard");
#endif

struct entry {
  long key;
  rcu_head head;
};

int main() {
  urcu_memb_register_thread();
  std::atomic<entry*> table{nullptr};
  for (long i = 0; i < 1000; ++i) {
    auto* fresh = static_cast<entry*>(std::malloc(sizeof(entry)));
    fresh->key = i;
    // acq_rel: release publishes fresh->key to readers; acquire pairs with the previous exchange.
    entry* old = table.exchange(fresh, std::memory_order_acq_rel);
    urcu_memb_read_lock();
    // acquire: pairs with the exchange above.
    const long seen = table.load(std::memory_order_acquire)->key;
    urcu_memb_read_unlock();
    if (seen != i) return 1;
    if (i % 2) rcufree::kfree_rcu(old, &entry::head);  // C++ API; nullptr the first time: no-op
    else rcufree_kfree_rcu(old, old ? &old->head : nullptr);  // C API
  }
  // seq_cst exchange: single-threaded here; unlinks the last entry before its free.
  rcufree::kvfree_rcu_mightsleep(table.exchange(nullptr));
  rcufree::barrier();
  urcu_memb_unregister_thread();
  char json[1024];
  rcufree_stats_json(json, sizeof json);
  const bool ok = std::strstr(json, "\"queued\":1000,") && std::strstr(json, "\"freed\":1000,");
  std::printf("consumer (%s, C++): %s %s\n", CONSUMER_MODE, ok ? "ok" : "FAILED", json);
  return ok ? 0 : 1;
}
