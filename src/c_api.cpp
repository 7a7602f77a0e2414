// SPDX-License-Identifier: MIT
// c_api.cpp — the C API: the default engine, and engines of one's own on any liburcu flavor.
//
// Nothing may leave these functions by exception (the callers are C). Misuse that the C++ API
// could report by throwing misuse_error is caught here and ends the process, as the header says.
// The configuration and rcufree_engine_new are in c_config.cpp.
#include <rcufree/rcufree.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <rcufree/rcufree.hpp>
#include <stdexcept>
#include <string>

#include "c_engine.hpp"
#include "engine_core.hpp"
#include "fixed_registry.hpp"
#include "misuse.hpp"

namespace {

// Misuse in a call that may sleep: with misuse_action::throw_error the engine throws, and the
// exception must not reach C. Say so and end the process, as the header promises.
[[noreturn]] void misuse_in_c(const char* call, const char* what) noexcept {
  std::fprintf(stderr,
               "%s\nrcufree: %s: the C API cannot throw rcufree::misuse_error to its caller; "
               "aborting\n",
               what, call);
  std::abort();
}
[[noreturn]] void unexpected_in_c(const char* call, const char* what) noexcept {
  std::fprintf(stderr, "rcufree: %s: unexpected error: %s; aborting\n", call, what);
  std::abort();
}

// Runs a sleepable engine call for a C caller: every exception ends here.
template <class F>
auto guarded(const char* call, F&& f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (const rcufree::misuse_error& e) {
    misuse_in_c(call, e.what());
  } catch (const std::exception& e) {
    unexpected_in_c(call, e.what());
  }
}

rcufree::engine& engine_of(rcufree_engine* eng, const char* call) noexcept {
  if (eng == nullptr) {
    // Fatal: kfree_rcu may run in a signal handler, where nothing may throw.
    char sentence[160];
    std::snprintf(sentence, sizeof sentence,
                  "%s() called with a NULL engine; pass the engine rcufree_engine_new() returned",
                  call);
    RCUFREE_MISUSE_FATAL(sentence);
  }
  return eng->eng;
}

// Reclaim kinds for the functions given to rcufree_call, one per function, in a fixed table: the
// atomic path registers one without allocating or waiting (fixed_registry.hpp).
constinit rcufree::detail::fixed_registry<rcufree::detail::reclaim_kind, 1024> g_call_kinds;

const rcufree::detail::reclaim_kind& call_kind_for(void (*fn)(void*), const char* call) noexcept {
  rcufree::detail::reclaim_kind kind{};
  kind.free_each = fn;
  const auto* k = g_call_kinds.find_or_add(
      [fn](const rcufree::detail::reclaim_kind& e) { return e.free_each == fn; }, kind);
  if (k == nullptr) {
    char sentence[200];
    std::snprintf(sentence, sizeof sentence,
                  "%s: more than %zu distinct functions were passed to rcufree_call; the table "
                  "of call kinds is full",
                  call, g_call_kinds.capacity);
    RCUFREE_MISUSE_FATAL(sentence);
  }
  return *k;
}

// Out of line and cold, so that the two-argument calls keep no sentence buffer on their stack
// and save no registers: their fast path is a few loads and compares.
[[noreturn, gnu::cold, gnu::noinline]] void head_before_object(const char* call) noexcept {
  char sentence[200];
  std::snprintf(sentence, sizeof sentence,
                "%s: the rcu_head lies before the object's start; pass a pointer to the struct "
                "rcu_head member inside the object being freed",
                call);
  RCUFREE_MISUSE_FATAL(sentence);
}

// The C API's two-argument forms, on any engine. Checked before anything is queued, whichever
// path the object would take: two compares.
void queue_checked(rcufree::detail::engine_core& core, void* obj, rcu_head* head,
                   const rcufree::detail::reclaim_kind& kind, const char* call) noexcept {
  if (obj == nullptr) return;
  if (reinterpret_cast<std::uintptr_t>(head) < reinterpret_cast<std::uintptr_t>(obj))
    head_before_object(call);
  rcufree::detail::queue_with_head(core, obj, head, kind);
}

void kfree_with_head(rcufree::detail::engine_core& core, void* obj, rcu_head* head,
                     const char* call) noexcept {
  queue_checked(core, obj, head, rcufree::detail::free_kind, call);
}

[[gnu::cold, gnu::noinline]] void kfree_before_default_core(void* obj, rcu_head* head) noexcept {
  kfree_with_head(rcufree::engine_access::core(rcufree::detail::the_default_engine()), obj, head,
                  "rcufree_kfree_rcu");
}

void call_with_head(rcufree::detail::engine_core& core, void* obj, rcu_head* head,
                    void (*fn)(void*), const char* call) noexcept {
  if (obj == nullptr) return;
  if (fn == nullptr) {
    char sentence[120];
    std::snprintf(sentence, sizeof sentence, "%s: fn is NULL; pass the function to call on obj",
                  call);
    RCUFREE_MISUSE_FATAL(sentence);
  }
  queue_checked(core, obj, head, call_kind_for(fn, call), call);
}

void stats_json(const rcufree::engine& eng, char* buf, std::size_t len) noexcept {
  if (buf == nullptr || len == 0) return;
  try {
    const std::string json = eng.snapshot().to_json();
    const std::size_t n = json.size() < len - 1 ? json.size() : len - 1;
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  } catch (const std::exception&) {  // no memory for the snapshot: say nothing rather than throw
    buf[0] = '\0';
  }
}

}  // namespace

extern "C" {

// ---- the default engine ----

void rcufree_kfree_rcu(void* obj, struct rcu_head* head) noexcept {
  // acquire: pairs with the release store in default_engine.cpp's build(). The first calls
  // before that (from other libraries' constructors) go out of line, as a tail call, so that
  // this path keeps no stack frame (the append sequence's operands still need one saved
  // register).
  rcufree::detail::engine_core* core =
      rcufree::detail::g_default_core.load(std::memory_order_acquire);
  if (core == nullptr) [[unlikely]]
    return kfree_before_default_core(obj, head);
  kfree_with_head(*core, obj, head, "rcufree_kfree_rcu");
}

void rcufree_call(void* obj, struct rcu_head* head, void (*fn)(void*)) noexcept {
  call_with_head(rcufree::detail::the_default_core(), obj, head, fn, "rcufree_call");
}

void rcufree_kvfree_rcu_mightsleep(void* ptr) noexcept {
  guarded("rcufree_kvfree_rcu_mightsleep", [&] { rcufree::kvfree_rcu_mightsleep(ptr); });
}

void rcufree_barrier(void) noexcept {
  guarded("rcufree_barrier", [] { rcufree::barrier(); });
}

void rcufree_stats_json(char* buf, size_t len) noexcept {
  stats_json(rcufree::detail::the_default_engine(), buf, len);
}

// ---- engines of one's own ----

void rcufree_engine_destroy(struct rcufree_engine* eng) noexcept {
  delete eng;
}

void rcufree_engine_kfree_rcu(struct rcufree_engine* eng, void* obj,
                              struct rcu_head* head) noexcept {
  kfree_with_head(rcufree::engine_access::core(engine_of(eng, "rcufree_engine_kfree_rcu")), obj,
                  head, "rcufree_engine_kfree_rcu");
}

void rcufree_engine_call(struct rcufree_engine* eng, void* obj, struct rcu_head* head,
                         void (*fn)(void*)) noexcept {
  call_with_head(rcufree::engine_access::core(engine_of(eng, "rcufree_engine_call")), obj, head, fn,
                 "rcufree_engine_call");
}

void rcufree_engine_kvfree_rcu_mightsleep(struct rcufree_engine* eng, void* ptr) noexcept {
  rcufree::engine& e = engine_of(eng, "rcufree_engine_kvfree_rcu_mightsleep");
  guarded("rcufree_engine_kvfree_rcu_mightsleep", [&] { e.kvfree_rcu_mightsleep(ptr); });
}

void rcufree_engine_barrier(struct rcufree_engine* eng) noexcept {
  rcufree::engine& e = engine_of(eng, "rcufree_engine_barrier");
  guarded("rcufree_engine_barrier", [&] { e.barrier(); });
}

size_t rcufree_engine_reclaim_local(struct rcufree_engine* eng) noexcept {
  rcufree::engine& e = engine_of(eng, "rcufree_engine_reclaim_local");
  return guarded("rcufree_engine_reclaim_local", [&] { return e.reclaim_local(); });
}

void rcufree_engine_shrink(struct rcufree_engine* eng) noexcept {
  rcufree::engine& e = engine_of(eng, "rcufree_engine_shrink");
  guarded("rcufree_engine_shrink", [&] { e.shrink(); });
}

void rcufree_engine_stats_json(const struct rcufree_engine* eng, char* buf, size_t len) noexcept {
  stats_json(engine_of(const_cast<rcufree_engine*>(eng), "rcufree_engine_stats_json"), buf, len);
}

}  // extern "C"
