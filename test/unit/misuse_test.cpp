// SPDX-License-Identifier: MIT
// Misuse is reported with a sentence naming the call, never a deadlock.
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <rcufree/rcufree.hpp>
#include <string>

#include "counted.hpp"
#include "engine_core.hpp"
#include "fork_child.hpp"

namespace {

using rcufree_test::in_child;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("kvfree_rcu_mightsleep inside a read-side critical section aborts with a clear message") {
  const auto child = in_child(
      [] {
        urcu_memb_register_thread();
        urcu_memb_read_lock();
        rcufree::kvfree_rcu_mightsleep(std::malloc(16));
      },
      60s);
  const std::string& err = child.err;
  CHECK(child.aborted());
  CHECK_THAT(err, Catch::Contains("kvfree_rcu_mightsleep() called inside an RCU read-side "
                                  "critical section"));
  // The caller's line, not the library's (mightsleep.cpp:require_sleepable:56 it once said).
  CHECK_THAT(err, Catch::StartsWith("rcufree: ") && Catch::Contains("misuse_test.cpp:") &&
                      !Catch::Contains("mightsleep.cpp"));
}

TEST_CASE("delete_rcu_mightsleep inside an atomic_scope aborts naming the call and the scope") {
  const auto child = in_child(
      [] {
        rcufree::atomic_scope scope;
        rcufree::delete_rcu_mightsleep(new int(3));
      },
      60s);
  const std::string& err = child.err;
  CHECK(child.aborted());
  CHECK_THAT(err,
             Catch::Contains("delete_rcu_mightsleep() called inside an rcufree::atomic_scope"));
}

TEST_CASE("barrier inside a read-side critical section is reported and not deadlocked") {
  const auto child = in_child(
      [] {
        urcu_memb_register_thread();
        urcu_memb_read_lock();
        rcufree::barrier();
      },
      60s);
  const std::string& err = child.err;
  CHECK(child.aborted());
  CHECK_THAT(err, Catch::Contains("inside an RCU read-side critical section"));
}

TEST_CASE(
    "with the throw action and misuse throws misuse_error and the object stays the caller's") {
  const auto previous = rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
  void* p = std::malloc(32);
  {
    rcufree::atomic_scope scope;
    CHECK(rcufree::in_atomic_scope());
    {
      rcufree::atomic_scope nested;
      CHECK(rcufree::in_atomic_scope());
    }
    CHECK(rcufree::in_atomic_scope());
    CHECK_THROWS_AS(rcufree::kvfree_rcu_mightsleep(p), rcufree::misuse_error);
  }
  CHECK_FALSE(rcufree::in_atomic_scope());
  rcufree::set_misuse_action(previous);
  rcufree::kvfree_rcu_mightsleep(p);  // outside the scope the same call is fine
  rcufree::barrier();
}

TEST_CASE("debug builds report an object queued twice before its grace period ended") {
  if (!rcufree::detail::debug_checks_enabled()) {
    WARN("library built without RCUFREE_DEBUG: double-queue detection is off");
    return;
  }
  // The two-argument form may run in a signal handler: its misuse always aborts.
  const auto child = in_child(
      [] {
        rcufree::set_misuse_action(rcufree::misuse_action::throw_error);  // ignored on that path
        std::atomic<std::uint64_t> deaths{0};
        rcufree::engine eng;
        auto* obj = new rcufree_test::counted(&deaths);
        eng.delete_rcu(obj, &rcufree_test::counted::head);
        eng.delete_rcu(obj, &rcufree_test::counted::head);
      },
      60s);
  const std::string& err = child.err;
  CHECK(child.aborted());
  CHECK_THAT(err, Catch::Contains("queued for freeing twice before its grace period ended"));

  // The head-less form follows the misuse action: it throws, and the object is freed once.
  std::atomic<std::uint64_t> deaths{0};
  rcufree::engine eng;
  const auto previous = rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
  auto* obj = new rcufree_test::counted(&deaths);
  eng.delete_rcu_mightsleep(obj);
  CHECK_THROWS_WITH(eng.delete_rcu_mightsleep(obj), Catch::Contains("queued for freeing twice"));
  rcufree::set_misuse_action(previous);
  eng.barrier();
  CHECK(deaths.load() == 1);
  // Once freed, the same address may be queued again (malloc reuses it).
  auto* again = new rcufree_test::counted(&deaths);
  eng.delete_rcu(again, &rcufree_test::counted::head);
  eng.barrier();
  CHECK(deaths.load() == 2);
}
