// SPDX-License-Identifier: MIT
// matrix.hpp — the stop-point matrix: every named stop point (src/stop_point.hpp) times every
// operation, each cell in a process of its own.
//
// A cell: build a world (world.hpp: an engine, readers holding published objects); arm one stop
// point for one kind of thread (or two, for the pairs two threads can hold at once); let a
// driver bring such a thread there, where it blocks; run one operation against it; release it;
// then check that every object was freed exactly once and never early, that every barrier() was
// exact, and that nothing waited where it must not (operation.waits) or forever (a deadline).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "stop_point.hpp"
#include "world.hpp"

namespace matrix {

using rcufree::detail::stop_point;
using rcufree::detail::stop_thread;

// How a scenario's stopped thread relates to the operations.
enum class held_by : std::uint8_t {
  user_thread,    // a thread of the program: it may never come back (gone), so operations that
                  // must not wait for it are judged while it is stopped, and teardown leaves it
  engine_thread,  // one of the engine's threads: operations may wait for it to go on
  fork_handler,   // the forking thread inside rcufree's fork handlers: as an engine thread
  exiting,        // the thread running the default engine's exit drain (the process exits)
};

// One stopped thread: where, which kind of thread, and how to bring it there.
struct scenario {
  const char* name;
  stop_point point;
  stop_thread kind;
  held_by holder;
  // Runs on a thread of its own until `go` turns false (or the thread itself is caught and later
  // released): queues, calls barrier(), reclaim_local(), fork() ... whatever makes a thread of
  // `kind` reach `point`.
  void (*drive)(world& w, const std::atomic<bool>& go);
  // The driver itself waits for the stopped thread (a barrier() served by a stopped supervisor):
  // it is a user of the engine until release, so the engine may not be destroyed meanwhile.
  bool driver_waits_for_it = false;
  // Arrivals at the point to let by before the stop catches one (older work already there).
  int skip = 0;
};
const std::vector<scenario>& scenarios();

// Two stops at once: the first is brought to its point, then the second.
struct scenario_pair {
  const char* name;
  const char* first;  // scenario names
  const char* second;
  const char* why;
};
const std::vector<scenario_pair>& pairs();
// A scenario by name, including the variants only pairs use; null if there is none.
const scenario* find_scenario(const std::string& name);

// What an operation may do while a thread is stopped.
enum class waits : std::uint8_t {
  never,                 // completes while the thread is stopped, whoever it is
  not_for_user_threads,  // completes while a user thread is stopped; may wait for the engine's
  may,                   // may wait for the stopped thread (barrier() must, to be exact)
};

struct op_context {
  std::vector<std::thread> late;  // threads the operation leaves running, joined after release
  std::string failure;            // set by the operation on a failed check
};

struct operation {
  const char* name;
  void (*run)(world& w, op_context& c);
  waits rule;
  bool default_engine;       // runs on the default engine (process exit)
  bool private_engine_only;  // needs an engine it may destroy
  bool forks;  // not under ThreadSanitizer, which cannot follow a fork child's threads
  const char* expect_abort;  // non-null: the cell must end with abort() and this on stderr
};
const std::vector<operation>& operations();

// Runs one cell in this process; returns its exit code (0: passed). Prints "matrix: ..." lines;
// a failure ends the process at once.
int run_cell(const std::vector<const scenario*>& stops, const operation& op);

// A fork child's exit is not the cell's: it must not give the cell's verdict.
void forget_exit_report();

// Shared by operations: fork, then a child that queues, barrier()s and exits; waits for it.
void fork_and_check_child(world& w, op_context& c);
// Waits (20 s at most) for a fork child to exit 0; says in `c` how it did not.
void wait_for_child(pid_t pid, op_context& c);

}  // namespace matrix
