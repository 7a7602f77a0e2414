// SPDX-License-Identifier: MIT
// one_engine_lib.hpp — two shared libraries (one_engine_a, one_engine_b), built from the same
// source, each using rcufree the way an application's plug-in would. one_engine_test.cpp loads
// both and checks that the process has one default engine and one atomic-scope depth.
#pragma once

#include <atomic>
#include <rcufree/rcufree.hpp>

#define ONE_ENGINE_DECLARE(ns)                                                 \
  namespace ns {                                                               \
  /* The default engine as this library sees it. */                            \
  rcufree::engine* engine_seen();                                              \
  /* Queues n objects with delete_rcu; each destructor increments *deleted. */ \
  void queue(int n, std::atomic<int>* deleted);                                \
  /* rcufree::in_atomic_scope() as this library sees it. */                    \
  bool in_scope();                                                             \
  /* Calls fn(arg) inside an rcufree::atomic_scope opened by this library. */  \
  void call_in_scope(void (*fn)(void*), void* arg);                            \
  /* rcufree::kvfree_rcu_mightsleep from this library. */                      \
  void mightsleep(void* ptr);                                                  \
  }

ONE_ENGINE_DECLARE(one_engine_a)
ONE_ENGINE_DECLARE(one_engine_b)
