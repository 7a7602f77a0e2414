// SPDX-License-Identifier: MIT
// default_engine.cpp — the process-wide engine, built at load time, drained at exit.
#include <cstdlib>
#include <new>

#include "engine_core.hpp"

namespace rcufree {
namespace {

alignas(engine) unsigned char g_storage[sizeof(engine)];

void drain_at_exit() {
  detail::default_core().shutdown();
}

engine* build() {
  engine* e = new (g_storage) engine();  // never destroyed: late callers stay safe
  std::atexit(drain_at_exit);
  // release: the engine, built, before its address; pairs with the acquire in default_core().
  detail::g_default_core.store(&engine_access::core(*e), std::memory_order_release);
  return e;
}

// Built when the library is loaded, before main, so that no first call comes from an atomic
// context (building allocates and starts a thread).
[[maybe_unused]] const bool g_built_at_load = (default_engine(), true);

}  // namespace

constinit std::atomic<detail::engine_core*> detail::g_default_core{nullptr};

engine& default_engine() noexcept {
  static engine* const instance = build();  // thread-safe one-time initialization
  return *instance;
}

}  // namespace rcufree
