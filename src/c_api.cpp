// SPDX-License-Identifier: MIT
// c_api.cpp — the C API: the default engine, and engines of one's own on any liburcu flavor.
//
// Nothing may leave these functions by exception (the callers are C). Misuse that the C++ API
// could report by throwing misuse_error is caught here and ends the process, as the header says.
// The configuration and rcufree_engine_new are in c_config.cpp.
#include <rcufree/rcufree.h>
#include <rcufree/version.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
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

// The C++ head-less calls name their caller's line; a C caller's is not known (the report names the
// C call instead), so the C API passes no site.
constexpr rcufree::call_site kNoSite{};

// Runs a sleepable engine call for a C caller: a report made inside speaks C (misuse.hpp), and
// every exception ends here.
template <class F>
auto guarded(const char* call, F&& f) noexcept -> decltype(f()) {
  const rcufree::detail::in_c_call naming(call);
  try {
    return f();
  } catch (const rcufree::misuse_error& e) {
    misuse_in_c(call, e.what());
  } catch (const std::exception& e) {
    unexpected_in_c(call, e.what());
  }
}

// A NULL or destroyed handle. Fatal whatever the misuse action: the two-argument calls may run in
// a signal handler, which no exception may leave. Cold and out of line, like bad_head below.
[[noreturn, gnu::cold, gnu::noinline]] void bad_handle(const char* call,
                                                       const rcufree_engine* eng) noexcept {
  char sentence[256];
  if (eng == nullptr) {
    std::snprintf(sentence, sizeof sentence,
                  "%s: eng is NULL; pass the engine rcufree_engine_new() returned", call);
  } else {
    std::snprintf(sentence, sizeof sentence,
                  "%s: engine %p was destroyed by rcufree_engine_destroy(); a destroyed engine's "
                  "handle may not be passed to any rcufree call again",
                  call, static_cast<const void*>(eng));
  }
  RCUFREE_MISUSE_FATAL(sentence);
}

// The live engine behind a handle: the load every call needs anyway, and two compares
// (c_engine.hpp).
rcufree::detail::engine_core& core_of(const rcufree_engine* eng, const char* call) noexcept {
  if (eng == nullptr) [[unlikely]]
    bad_handle(call, eng);
  // relaxed: no call races with destroy; c_engine.hpp says why that is enough.
  rcufree::detail::engine_core* core = eng->core.load(std::memory_order_relaxed);
  if (core == nullptr) [[unlikely]]
    bad_handle(call, eng);
  return *core;
}

rcufree::engine& engine_of(rcufree_engine* eng, const char* call) noexcept {
  core_of(eng, call);
  return *eng->eng;
}

// Destroyed handles, kept for good and reachable from here (c_engine.hpp).
std::mutex g_tombstones_mu;
rcufree_engine* g_tombstones = nullptr;

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

// The C API's rule for a head, the kernel's for kvfree_rcu(): it lies within the first 4096
// bytes of its object.
constexpr std::uintptr_t kHeadWithin = 4096;

// Out of line and cold, so that the two-argument calls keep no sentence buffer on their stack
// and save no registers: their fast path is a few loads and compares.
[[noreturn, gnu::cold, gnu::noinline]] void bad_head(const char* call, const void* obj,
                                                     const rcu_head* head) noexcept {
  const auto o = reinterpret_cast<std::uintptr_t>(obj);
  const auto h = reinterpret_cast<std::uintptr_t>(head);
  char sentence[400];
  if (head == nullptr) {
    std::snprintf(sentence, sizeof sentence,
                  "%s: head is NULL; pass &obj->member, the struct rcu_head inside obj, or call "
                  "%s_field(), which takes the member's name",
                  call, call);
  } else if (h < o) {
    std::snprintf(sentence, sizeof sentence,
                  "%s: head lies %ju bytes before obj; pass &obj->member, the struct rcu_head "
                  "inside obj, or call %s_field(), which takes the member's name",
                  call, static_cast<std::uintmax_t>(o - h), call);
  } else {
    std::snprintf(sentence, sizeof sentence,
                  "%s: head lies %ju bytes after obj's start; it must lie within the first %ju "
                  "bytes of obj (the kernel's kvfree_rcu rule), and one that far is most likely "
                  "another object's; pass &obj->member, or call %s_field(), which takes the "
                  "member's name",
                  call, static_cast<std::uintmax_t>(h - o),
                  static_cast<std::uintmax_t>(kHeadWithin), call);
  }
  RCUFREE_MISUSE_FATAL(sentence);
}

// The C API's two-argument forms, on any engine. Checked before anything is queued, whichever
// path the object would take: one compare covers the three ways to get the head wrong (NULL and
// a head before obj wrap around to a huge offset).
void queue_checked(rcufree::detail::engine_core& core, void* obj, rcu_head* head,
                   const rcufree::detail::reclaim_kind& kind, const char* call) noexcept {
  if (obj == nullptr) return;
  if (reinterpret_cast<std::uintptr_t>(head) - reinterpret_cast<std::uintptr_t>(obj) >= kHeadWithin)
      [[unlikely]]
    bad_head(call, obj, head);
  rcufree::detail::queue_with_head(core.slots, obj, head, kind);
}

void kfree_with_head(rcufree::detail::engine_core& core, void* obj, rcu_head* head,
                     const char* call) noexcept {
  queue_checked(core, obj, head, rcufree::detail::free_kind, call);
}

[[gnu::cold, gnu::noinline]] void kfree_before_default_core(void* obj, rcu_head* head) noexcept {
  kfree_with_head(rcufree::detail::default_core(), obj, head, "rcufree_kfree_rcu");
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

rcufree_engine::rcufree_engine(rcufree::config cfg)
    : core(nullptr), eng(std::in_place, std::move(cfg)) {
  // relaxed: the handle reaches other threads through the caller's own synchronization.
  core.store(&rcufree::engine_access::core(*eng), std::memory_order_relaxed);
}

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
  call_with_head(rcufree::detail::default_core(), obj, head, fn, "rcufree_call");
}

void rcufree_kvfree_rcu_mightsleep(void* ptr) noexcept {
  guarded("rcufree_kvfree_rcu_mightsleep",
          [&] { rcufree::default_engine().kvfree_rcu_mightsleep(ptr, kNoSite); });
}

void rcufree_barrier(void) noexcept {
  guarded("rcufree_barrier", [] { rcufree::default_engine().barrier(); });
}

void rcufree_stats_json(char* buf, size_t len) noexcept {
  stats_json(rcufree::default_engine(), buf, len);
}

// ---- engines of one's own ----

void rcufree_engine_destroy(struct rcufree_engine* eng) noexcept {
  if (eng == nullptr) return;
  core_of(eng, "rcufree_engine_destroy");  // a second destroy is reported
  // relaxed: c_engine.hpp. From here on every call with this handle is reported.
  eng->core.store(nullptr, std::memory_order_relaxed);
  eng->eng.reset();  // frees everything still queued, stops the threads
  const std::lock_guard<std::mutex> lock(g_tombstones_mu);
  eng->next_tombstone = g_tombstones;
  g_tombstones = eng;
}

void rcufree_engine_kfree_rcu(struct rcufree_engine* eng, void* obj,
                              struct rcu_head* head) noexcept {
  kfree_with_head(core_of(eng, "rcufree_engine_kfree_rcu"), obj, head, "rcufree_engine_kfree_rcu");
}

void rcufree_engine_call(struct rcufree_engine* eng, void* obj, struct rcu_head* head,
                         void (*fn)(void*)) noexcept {
  call_with_head(core_of(eng, "rcufree_engine_call"), obj, head, fn, "rcufree_engine_call");
}

void rcufree_engine_kvfree_rcu_mightsleep(struct rcufree_engine* eng, void* ptr) noexcept {
  rcufree::engine& e = engine_of(eng, "rcufree_engine_kvfree_rcu_mightsleep");
  guarded("rcufree_engine_kvfree_rcu_mightsleep", [&] { e.kvfree_rcu_mightsleep(ptr, kNoSite); });
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

const char* rcufree_version(void) noexcept {
  return RCUFREE_VERSION_STRING;  // the headers this library was built with: it is that version
}

}  // extern "C"
