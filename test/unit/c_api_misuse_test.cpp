// SPDX-License-Identifier: MIT
// c_api_misuse_test.cpp — misuse through the C API never throws into C: even when the program's
// C++ part chose misuse_action::throw_error, a C call that would throw aborts with the report.
#include <rcufree/rcufree.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <rcufree/rcufree.hpp>
#include <string>

#include "fork_child.hpp"

using rcufree_test::in_child;
using namespace std::chrono_literals;

TEST_CASE("C calls abort on misuse even when C++ chose to throw misuse_error", "[c_api]") {
  const auto child = in_child(
      [] {
        rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
        rcufree::atomic_scope scope;
        rcufree_kvfree_rcu_mightsleep(std::malloc(16));  // misuse: sleeping call in the scope
      },
      60s);
  const std::string& err = child.err;
  CHECK(child.aborted());
  CHECK(err.find("atomic_scope") != std::string::npos);  // the engine's report comes first
  CHECK(err.find("rcufree_kvfree_rcu_mightsleep: the C API cannot throw") != std::string::npos);

  const auto child2 = in_child(
      [] {
        rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
        rcufree_config cfg;
        rcufree_config_init(&cfg);
        rcufree_engine* eng = rcufree_engine_new(&cfg);
        rcufree::atomic_scope scope;
        rcufree_engine_barrier(eng);
      },
      60s);
  CHECK(child2.aborted());
  CHECK(child2.err.find("rcufree_engine_barrier: the C API cannot throw") != std::string::npos);
}
