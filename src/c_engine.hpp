// SPDX-License-Identifier: MIT
// c_engine.hpp — the C API's engine handle (struct rcufree_engine), shared by c_api.cpp (the
// calls) and c_config.cpp (rcufree_engine_new, which builds it from a struct rcufree_config).
#pragma once

#include <rcufree/rcufree.h>

#include <rcufree/engine.hpp>
#include <utility>

struct rcufree_engine {
  explicit rcufree_engine(rcufree::config cfg) : eng(std::move(cfg)) {}
  rcufree::engine eng;
};
