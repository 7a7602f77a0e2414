// c_api.cpp — the C API on the default engine.
#include <rcufree/rcufree.h>
#include <rcufree/rcufree.hpp>

#include <cstring>

#include "engine_core.hpp"
#include "misuse.hpp"

#include <cstdint>

extern "C" {

void rcufree_kfree_rcu(void* obj, struct rcu_head* head) {
  if (obj == nullptr) return;
  // Checked before anything is queued, whichever path the object would take. Two compares.
  if (reinterpret_cast<std::uintptr_t>(head) < reinterpret_cast<std::uintptr_t>(obj)) {
    RCUFREE_MISUSE_FATAL("rcufree_kfree_rcu: the rcu_head lies before the object's start; pass a "
                   "pointer to the struct rcu_head member inside the object being freed");
  }
  rcufree::engine_access::queue_with_head(rcufree::default_engine(), obj, head);
}

void rcufree_kvfree_rcu_mightsleep(void* ptr) { rcufree::kvfree_rcu_mightsleep(ptr); }

void rcufree_barrier(void) { rcufree::barrier(); }

void rcufree_stats_json(char* buf, size_t len) {
  if (buf == nullptr || len == 0) return;
  const std::string json = rcufree::default_engine().snapshot().to_json();
  const std::size_t n = json.size() < len - 1 ? json.size() : len - 1;
  std::memcpy(buf, json.data(), n);
  buf[n] = '\0';
}

}  // extern "C"
