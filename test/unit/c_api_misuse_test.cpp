// SPDX-License-Identifier: MIT
// c_api_misuse_test.cpp — misuse through the C API never throws into C: even when the program's
// C++ part chose misuse_action::throw_error, a C call that would throw aborts with the report.
#include <rcufree/rcufree.h>
#include <urcu/urcu-memb.h>

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

// A C caller reads C: the call's C name and C advice, never the C++ API's.
TEST_CASE("misuse in a C call is reported with the C call's name and C advice", "[c_api]") {
  const auto child = in_child(
      [] {
        urcu_memb_register_thread();
        urcu_memb_read_lock();
        rcufree_kvfree_rcu_mightsleep(std::malloc(16));
      },
      60s);
  CHECK(child.aborted());
  CHECK_THAT(child.err, Catch::StartsWith("rcufree: rcufree_kvfree_rcu_mightsleep() called inside "
                                          "an RCU read-side critical section") &&
                            Catch::Contains("Use rcufree_kfree_rcu(obj, &obj->head)") &&
                            !Catch::Contains("&T::head"));

  const auto child2 = in_child(
      [] {
        urcu_memb_register_thread();
        urcu_memb_read_lock();
        rcufree_barrier();
      },
      60s);
  CHECK(child2.aborted());
  CHECK_THAT(child2.err, Catch::StartsWith("rcufree: rcufree_barrier() called inside"));
}

namespace {

rcufree_engine* new_engine() {
  rcufree_config cfg;
  rcufree_config_init(&cfg);
  rcufree_engine* eng = rcufree_engine_new(&cfg);
  REQUIRE(eng != nullptr);
  return eng;
}

struct c_node {
  long key;
  rcu_head head;
};

// Destroys an engine here, then runs `use(eng)` in a child, which must abort naming `call`.
// Engines are built and destroyed in this process, never in the fork child: a thread started
// in the child of a process that ran many threads trips ThreadSanitizer's thread bookkeeping.
template <class Use>
void check_reported_after_destroy(const char* call, Use use) {
  INFO(call);
  rcufree_engine* eng = new_engine();
  rcufree_engine_destroy(eng);
  const auto child = in_child([&] { use(eng); }, 60s);
  CHECK(child.aborted());
  CHECK_THAT(child.err, Catch::StartsWith(std::string("rcufree: ") + call + ": ") &&
                            Catch::Contains("destroyed"));
}

}  // namespace

// The handle outlives its engine as a tombstone: the check is no RCUFREE_DEBUG feature.
TEST_CASE("every C call on a destroyed engine aborts naming the call", "[c_api]") {
  check_reported_after_destroy("rcufree_engine_destroy",
                               [](rcufree_engine* eng) { rcufree_engine_destroy(eng); });
  check_reported_after_destroy("rcufree_engine_kfree_rcu", [](rcufree_engine* eng) {
    auto* n = static_cast<c_node*>(std::malloc(sizeof(c_node)));
    rcufree_engine_kfree_rcu(eng, n, &n->head);
  });
  check_reported_after_destroy("rcufree_engine_call", [](rcufree_engine* eng) {
    auto* n = static_cast<c_node*>(std::malloc(sizeof(c_node)));
    rcufree_engine_call(eng, n, &n->head, std::free);
  });
  check_reported_after_destroy("rcufree_engine_kvfree_rcu_mightsleep", [](rcufree_engine* eng) {
    rcufree_engine_kvfree_rcu_mightsleep(eng, std::malloc(16));
  });
  check_reported_after_destroy("rcufree_engine_barrier",
                               [](rcufree_engine* eng) { rcufree_engine_barrier(eng); });
  check_reported_after_destroy("rcufree_engine_reclaim_local",
                               [](rcufree_engine* eng) { rcufree_engine_reclaim_local(eng); });
  check_reported_after_destroy("rcufree_engine_shrink",
                               [](rcufree_engine* eng) { rcufree_engine_shrink(eng); });
  check_reported_after_destroy("rcufree_engine_stats_json", [](rcufree_engine* eng) {
    char json[256];
    rcufree_engine_stats_json(eng, json, sizeof json);
  });
}

TEST_CASE("engines built after one was destroyed work, and a destroyed one stays reported",
          "[c_api]") {
  rcufree_engine* gone = new_engine();
  rcufree_engine_destroy(gone);
  for (int i = 0; i < 3; ++i) {  // the allocator may hand out the freed engine's memory
    rcufree_engine* eng = new_engine();
    auto* n = static_cast<c_node*>(std::malloc(sizeof(c_node)));
    rcufree_engine_kfree_rcu(eng, n, &n->head);
    rcufree_engine_barrier(eng);
    char json[1024];
    rcufree_engine_stats_json(eng, json, sizeof json);
    CHECK_THAT(json, Catch::Contains("\"freed\":1,"));
    rcufree_engine_destroy(eng);
  }
  const auto child = in_child([&] { rcufree_engine_barrier(gone); }, 60s);
  CHECK(child.aborted());
  CHECK_THAT(child.err, Catch::StartsWith("rcufree: rcufree_engine_barrier: ") &&
                            Catch::Contains("destroyed"));
}

// The C API's head rule is the kernel's kvfree_rcu rule: the head lies within the first 4096
// bytes of the object. Each way of breaking it has its own sentence naming the call.
TEST_CASE("a C head that is NULL, before the object or 4096 bytes past its start is reported",
          "[c_api]") {
  struct bad_head {
    const char* what;
    std::ptrdiff_t offset;  // of the head from the object's start; 0 with null: a NULL head
    bool null;
    const char* sentence;
  };
  for (const bad_head& b :
       {bad_head{"NULL", 0, true, "rcufree_kfree_rcu: head is NULL"},
        bad_head{"before", -16, false, "rcufree_kfree_rcu: head lies 16 bytes before obj"},
        bad_head{"4096 after", 4096, false,
                 "rcufree_kfree_rcu: head lies 4096 bytes after obj's start"}}) {
    INFO(b.what);
    const auto child = in_child(
        [&] {
          auto* buffer = static_cast<char*>(std::malloc(8192));
          char* obj = buffer + 64;
          auto* head = b.null ? nullptr : reinterpret_cast<rcu_head*>(obj + b.offset);
          rcufree_kfree_rcu(obj, head);
        },
        60s);
    CHECK(child.aborted());
    CHECK_THAT(child.err, Catch::StartsWith(std::string("rcufree: ") + b.sentence));
  }
  // The engine's own form and rcufree_call name themselves (the engine is built here: see
  // check_reported_after_destroy).
  rcufree_engine* eng = new_engine();
  const auto child = in_child(
      [&] {
        auto* n = static_cast<c_node*>(std::malloc(sizeof(c_node)));
        rcufree_engine_call(eng, n, nullptr, std::free);
      },
      60s);
  CHECK(child.aborted());
  CHECK_THAT(child.err, Catch::StartsWith("rcufree: rcufree_engine_call: head is NULL"));
  rcufree_engine_destroy(eng);
}

TEST_CASE("a C head anywhere in the first 4096 bytes of a large object is accepted", "[c_api]") {
  rcufree_engine* eng = new_engine();
  for (std::size_t offset : {std::size_t{0}, std::size_t{8}, std::size_t{4088}}) {
    auto* obj = static_cast<char*>(std::malloc(8192));
    rcufree_engine_kfree_rcu(eng, obj, reinterpret_cast<rcu_head*>(obj + offset));
  }
  rcufree_engine_barrier(eng);
  char json[1024];
  rcufree_engine_stats_json(eng, json, sizeof json);
  CHECK_THAT(json, Catch::Contains("\"queued\":3,") && Catch::Contains("\"freed\":3,"));
  rcufree_engine_destroy(eng);
}
