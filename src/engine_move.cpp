// SPDX-License-Identifier: MIT
// engine_move.cpp — moving an engine: the core (threads, pages, queued objects) changes hands.
//
// Nothing inside the library refers to an engine by its address: the threads, the fork registry
// and the C API's handles all hold the engine_core. The default engine is the exception the
// library itself makes: the C API and the free functions reach it through g_default_core and its
// fixed storage, so it may not be emptied or replaced.
#include <utility>

#include "engine_core.hpp"
#include "misuse.hpp"

namespace rcufree {
namespace {

bool is_default(const detail::engine_core* core) noexcept {
  // acquire: pairs with the release store in default_engine.cpp's build().
  return core != nullptr && core == detail::g_default_core.load(std::memory_order_acquire);
}

}  // namespace

engine::engine(engine&& other) noexcept {
  if (is_default(other.core_.get())) {
    RCUFREE_MISUSE_FATAL(
        "the default engine cannot be moved from: the C API, the free functions and every "
        "library of the process use it; build an rcufree::engine of your own instead");
  }
  core_ = std::move(other.core_);
}

engine& engine::operator=(engine&& other) noexcept {
  if (is_default(core_.get())) {
    RCUFREE_MISUSE_FATAL(
        "the default engine cannot be assigned to: the C API, the free functions and every "
        "library of the process use it; build an rcufree::engine of your own instead");
  }
  if (is_default(other.core_.get())) {
    RCUFREE_MISUSE_FATAL(
        "the default engine cannot be moved from: the C API, the free functions and every "
        "library of the process use it; build an rcufree::engine of your own instead");
  }
  if (this != &other) core_ = std::move(other.core_);  // destroys the engine this one was
  return *this;
}

}  // namespace rcufree
