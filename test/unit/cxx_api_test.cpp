// SPDX-License-Identifier: MIT
// cxx_api_test.cpp — the C++ API's shape: which calls are noexcept, heads inherited from a base
// class, moving an engine, and misuse reports that name the caller's line.
#include <urcu/urcu-memb.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <optional>
#include <rcufree/rcufree.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "counted.hpp"
#include "fork_child.hpp"

using namespace std::chrono_literals;
using rcufree_test::counted;
using rcufree_test::in_child;

namespace {

struct plain_node {
  long key;
  rcu_head head;
};

// The head lives in a base class, as it does when a family of node types shares one.
struct rcu_base {
  virtual ~rcu_base() = default;
  rcu_head head{};
};
// The base with the head is the second base: its head is not at the object's start.
struct payload {
  char bytes[40]{};
};
struct widget : payload, rcu_base {
  explicit widget(std::atomic<std::uint64_t>* deaths) : sink(deaths) {}
  ~widget() override {
    sink->fetch_add(1, std::memory_order_relaxed);
  }  // relaxed: read after barrier
  std::atomic<std::uint64_t>* sink;
};

struct counting_deleter {
  static inline std::atomic<std::uint64_t> calls{0};
  void operator()(widget* w) const noexcept {
    calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after barrier
    delete w;
  }
};

}  // namespace

TEST_CASE("the atomic-safe calls and the moves are noexcept, the sleeping calls are not",
          "[cxx_api]") {
  rcufree::engine& eng = rcufree::default_engine();
  plain_node* p = nullptr;
  widget* w = nullptr;
  STATIC_REQUIRE(noexcept(eng.kfree_rcu(p, &plain_node::head)));
  STATIC_REQUIRE(noexcept(eng.delete_rcu(w, &widget::head)));
  STATIC_REQUIRE(noexcept(eng.retire(w, &widget::head, counting_deleter{})));
  STATIC_REQUIRE(noexcept(rcufree::kfree_rcu(p, &plain_node::head)));
  STATIC_REQUIRE(noexcept(rcufree::delete_rcu(w, &widget::head)));
  STATIC_REQUIRE(noexcept(rcufree::retire(w, &widget::head, counting_deleter{})));
  STATIC_REQUIRE(noexcept(rcufree::default_engine()));
  STATIC_REQUIRE(noexcept(rcufree::in_atomic_scope()));
  STATIC_REQUIRE(noexcept(eng.settings()));
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<rcufree::engine>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<rcufree::engine>);
  // These may report misuse by throwing misuse_error (misuse_action::throw_error), or allocate.
  STATIC_REQUIRE_FALSE(noexcept(eng.kvfree_rcu_mightsleep(nullptr)));
  STATIC_REQUIRE_FALSE(noexcept(eng.barrier()));
  STATIC_REQUIRE_FALSE(noexcept(eng.snapshot()));
}

TEST_CASE("a head inherited from a base class is accepted by every two-argument form",
          "[cxx_api]") {
  std::atomic<std::uint64_t> deaths{0};
  counting_deleter::calls = 0;
  for (std::size_t cached : {std::size_t{128}, std::size_t{0}}) {  // 0: every object takes the
    INFO("cached_pages_per_cpu = " << cached);                     // fallback list, by its head
    rcufree::config cfg;
    cfg.cached_pages_per_cpu = cached;
    rcufree::engine eng(cfg);
    for (int i = 0; i < 300; ++i) {
      eng.delete_rcu(new widget(&deaths), &widget::head);  // &widget::head: rcu_head rcu_base::*
      eng.retire(new widget(&deaths), &widget::head, counting_deleter{});
      eng.kfree_rcu(static_cast<rcu_base*>(std::malloc(sizeof(rcu_base))), &rcu_base::head);
    }
    eng.barrier();
    CHECK(eng.snapshot().freed == 900);
    if (cached == 0) CHECK(eng.snapshot().fallback_objects == 900);
  }
  CHECK(deaths.load() == 1200);  // ~widget ran for every delete_rcu and retire
  CHECK(counting_deleter::calls.load() == 600);
  // And through the default engine's free functions.
  const auto before = rcufree::default_engine().snapshot().freed;
  rcufree::delete_rcu(new widget(&deaths), &widget::head);
  rcufree::retire(new widget(&deaths), &widget::head, counting_deleter{});
  rcufree::barrier();
  CHECK(rcufree::default_engine().snapshot().freed - before == 2);
  CHECK(deaths.load() == 1202);
}

TEST_CASE("a moved engine keeps its queued objects and threads; the moved-from one is empty",
          "[cxx_api]") {
  std::atomic<std::uint64_t> deaths{0};
  std::optional<rcufree::engine> kept;
  {
    rcufree::engine first;
    for (int i = 0; i < 1000; ++i) first.delete_rcu(new counted(&deaths), &counted::head);
    kept.emplace(std::move(first));
  }  // the moved-from engine is destroyed here: it held nothing, so nothing was freed by it
  for (int i = 0; i < 1000; ++i) kept->delete_rcu(new counted(&deaths), &counted::head);
  kept->barrier();
  CHECK(deaths.load() == 2000);
  CHECK(kept->snapshot().freed == 2000);

  // Move assignment first destroys the engine it replaces, which frees what that one held.
  rcufree::engine other;
  for (int i = 0; i < 500; ++i) other.delete_rcu(new counted(&deaths), &counted::head);
  other = std::move(*kept);
  CHECK(deaths.load() == 2500);
  CHECK(other.snapshot().freed == 2000);  // the counters came along with the engine

  std::vector<rcufree::engine> engines;  // engines in a container that reallocates
  for (int i = 0; i < 3; ++i) {
    engines.emplace_back();
    engines.back().delete_rcu(new counted(&deaths), &counted::head);
  }
  for (auto& e : engines) e.barrier();
  CHECK(deaths.load() == 2503);
}

TEST_CASE("the default engine can be neither moved from nor assigned to", "[cxx_api]") {
  const auto moved_from =
      in_child([] { rcufree::engine stolen(std::move(rcufree::default_engine())); }, 60s);
  CHECK(moved_from.aborted());
  CHECK_THAT(moved_from.err, Catch::StartsWith("rcufree: ") &&
                                 Catch::Contains("the default engine cannot be moved from"));
  rcufree::engine mine;  // built here: no engine thread is started in the fork child
  const auto assigned = in_child([&] { rcufree::default_engine() = std::move(mine); }, 60s);
  CHECK(assigned.aborted());
  CHECK_THAT(assigned.err, Catch::StartsWith("rcufree: ") &&
                               Catch::Contains("the default engine cannot be assigned to"));
}

// Calls that report misuse when made inside a read-side critical section; their names are what
// the report's "in <function>" must show.
void headless_free() {
  rcufree::kvfree_rcu_mightsleep(std::malloc(8));
}
void headless_delete() {
  rcufree::delete_rcu_mightsleep(new int(1));
}
void engine_headless_free() {
  rcufree::default_engine().kvfree_rcu_mightsleep(std::malloc(8));
}
void default_barrier() {
  rcufree::barrier();
}

TEST_CASE("a misuse report names the C++ caller's file, line and function", "[cxx_api]") {
  struct sited {
    const char* call;
    void (*use)();
    const char* function;
  };
  for (const sited& s :
       {sited{"kvfree_rcu_mightsleep", headless_free, "headless_free"},
        sited{"delete_rcu_mightsleep", headless_delete, "headless_delete"},
        sited{"kvfree_rcu_mightsleep", engine_headless_free, "engine_headless_free"},
        sited{"barrier", default_barrier, "default_barrier"}}) {
    INFO(s.function);
    const auto child = in_child(
        [&] {
          urcu_memb_register_thread();
          urcu_memb_read_lock();
          s.use();
        },
        60s);
    CHECK(child.aborted());
    CHECK_THAT(child.err,
               Catch::StartsWith("rcufree: ") && Catch::Contains("cxx_api_test.cpp:") &&
                   Catch::Contains(s.function) &&
                   Catch::Contains(std::string(s.call) +
                                   "() called inside an RCU read-side critical section"));
  }
  // With the throw action the exception carries the same text, with the exact line; the site is
  // gone once the call has thrown.
  const auto previous = rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
  void* p = std::malloc(8);
  std::string what;
  int line = 0;
  {
    rcufree::atomic_scope scope;
    try {
      line = __LINE__, rcufree::kvfree_rcu_mightsleep(p);  // one line: the site's
    } catch (const rcufree::misuse_error& e) {
      what = e.what();
    }
  }
  CHECK_THAT(what, Catch::StartsWith("rcufree: ") &&
                       Catch::Contains("cxx_api_test.cpp:" + std::to_string(line) + ": in "));
  CHECK(rcufree::detail::current_call_site == nullptr);
  rcufree::set_misuse_action(previous);
  rcufree::kvfree_rcu_mightsleep(p);
  rcufree::barrier();
}
