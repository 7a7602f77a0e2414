// SPDX-License-Identifier: MIT
// one_engine_test.cpp — a program and two shared libraries, all linked to librcufree.so, share
// one default engine (one barrier() covers every caller), one atomic-scope depth per thread and
// one misuse setting. With rcufree linked statically into each library, each would have its own
// default engine and its own depth, and these checks would fail.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "one_engine_lib.hpp"

TEST_CASE("the program and two shared libraries see the same default engine", "[shared]") {
  rcufree::engine* mine = &rcufree::default_engine();
  CHECK(one_engine_a::engine_seen() == mine);
  CHECK(one_engine_b::engine_seen() == mine);
}

TEST_CASE("one barrier() in the program covers objects queued by both libraries", "[shared]") {
  std::atomic<int> by_a{0}, by_b{0};
  const auto before = rcufree::default_engine().snapshot();
  one_engine_a::queue(1000, &by_a);
  one_engine_b::queue(700, &by_b);
  rcufree::barrier();  // the program's call; the libraries never call barrier themselves
  // relaxed: barrier() returned, so every delete above has run (and happened before it).
  CHECK(by_a.load(std::memory_order_relaxed) == 1000);
  CHECK(by_b.load(std::memory_order_relaxed) == 700);
  const auto after = rcufree::default_engine().snapshot();
  CHECK(after.queued - before.queued == 1700);  // all counted by the program's engine
}

namespace {
struct scope_seen {
  bool program = false, a = false, b = false;
};
void look(void* arg) {
  auto* s = static_cast<scope_seen*>(arg);
  s->program = rcufree::in_atomic_scope();
  s->a = one_engine_a::in_scope();
  s->b = one_engine_b::in_scope();
}
}  // namespace

TEST_CASE("an atomic_scope opened in one library is seen by the program and the other",
          "[shared]") {
  scope_seen seen;
  one_engine_a::call_in_scope(&look, &seen);
  CHECK(seen.program);
  CHECK(seen.a);
  CHECK(seen.b);
  CHECK_FALSE(rcufree::in_atomic_scope());
  CHECK_FALSE(one_engine_b::in_scope());

  // And the engine acts on it: a sleeping call from library b inside library a's scope is misuse,
  // reported by throwing because the program chose so (one misuse setting for the process).
  const auto previous = rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
  void* ptr = std::malloc(32);
  struct call {
    void* ptr;
    bool threw = false;
  } c{ptr};
  one_engine_a::call_in_scope(
      [](void* arg) {
        auto* cc = static_cast<call*>(arg);
        try {
          one_engine_b::mightsleep(cc->ptr);
        } catch (const rcufree::misuse_error&) {
          cc->threw = true;
        }
      },
      &c);
  rcufree::set_misuse_action(previous);
  CHECK(c.threw);
  std::free(ptr);  // not queued: the misuse report leaves the object with the caller
}
