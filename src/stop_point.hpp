// SPDX-License-Identifier: MIT
// stop_point.hpp — named places where a test can stop a thread between two steps on shared
// state, as preemption, a debugger, SIGSTOP or a fork would.
//
// Test builds only (RCUFREE_STOP_POINTS, which scripts/test.sh turns on): a test arms a point for
// one kind of thread; the first such thread of this process to get there blocks until the test
// releases it. The stop-point matrix (test/matrix/, docs/TESTING.md) stops a thread at every point
// in turn and runs every operation against it. In other builds every RCUFREE_STOP_AT compiles to
// nothing: the atomic path's instructions do not change.
//
// Adding a point: a line in RCUFREE_STOP_POINT_LIST below (its name, the kind of thread that gets
// there, the two steps it sits between), RCUFREE_STOP_AT(name) at that place, and a way to drive
// a thread there in test/matrix/scenarios.cpp. Every new wait or shared step gets one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rcufree::detail {

// X(name, who gets there, between what and what)
#define RCUFREE_STOP_POINT_LIST(X)                                                                 \
  /* the atomic path (and head-less callers under a slot flag) */                                  \
  X(slot_flag_held, "a caller", "taking its CPU slot's flag and appending under it")               \
  X(record_stored, "a caller", "storing a record in the open block and committing its fill word")  \
  X(page_taken, "a caller", "taking a page from the pool and installing it as the open block")     \
  X(block_closed, "a caller or reclaimer",                                                         \
    "emptying the slot's open block and pushing it on the closed list")                            \
  X(closed_push_published, "a caller or reclaimer",                                                \
    "a closed block's push exchange and its link store")                                           \
  X(fallback_push_published, "a caller", "a fallback push's exchange and its link store")          \
  X(headless_page_allocated, "a head-less caller",                                                 \
    "allocating a page itself and installing it under the slot flag")                              \
  /* a reclaimer: CPU thread, supervisor, reclaim_local(), a head-less call helping */             \
  X(pass_holds_slot_flag, "a reclaimer", "taking the slot flag and closing the open block")        \
  X(pass_took_work, "a reclaimer", "taking a slot's lists and waiting for their grace period")     \
  X(grace_period_started, "a grace-period leader", "marking the sequence odd and synchronize_rcu") \
  X(grace_period_ended, "a grace-period leader",                                                   \
    "synchronize_rcu returning and the sequence marking it over")                                  \
  X(pass_freeing, "a reclaimer", "its grace period and the first deleter it runs")                 \
  X(page_recycled, "a reclaimer", "freeing a block's objects and putting its page in the pool")    \
  X(refill_allocating, "a reclaimer", "allocating a pool page (between two pool-lock holds)")      \
  X(pool_topping_up, "the supervisor", "refilling a CPU's pool without holding its reclaim lock")  \
  X(pages_dropping, "a shrink or teardown", "holding a slot and giving its pages back")            \
  X(pool_lock_held, "any thread with a pool step",                                                 \
    "taking a CPU's pool lock and its step on the pool")                                           \
  X(page_arena_locked, "any thread allocating a page",                                             \
    "taking the page arena's lock and its step on the chunks")                                     \
  X(page_release_published, "any thread giving a page back",                                       \
    "a returned page's push exchange and its link store")                                          \
  X(flush_took_all, "a barrier's flush", "taking every slot's work and its one grace period")      \
  X(flush_before_free, "a barrier's flush", "its grace period and its frees")                      \
  /* the engine's threads */                                                                       \
  X(supervisor_looking, "the supervisor", "waking up and looking at the slots")                    \
  X(supervisor_going_to_sleep, "the supervisor", "saying it sleeps and sleeping on its word")      \
  X(cpu_thread_starting, "the supervisor", "deciding to start a CPU thread and starting it")       \
  X(cpu_thread_before_pass, "a CPU thread", "waking up and taking its reclaim lock")               \
  X(cpu_thread_going_idle, "a CPU thread",                                                         \
    "finding nothing pending and sleeping on its idle word")                                       \
  X(flush_completing, "the supervisor", "a barrier's frees and telling its caller")                \
  X(threads_stopping, "the supervisor", "being told to stop and stopping the CPU threads")         \
  /* lifetime */                                                                                   \
  X(exit_drain_stopped, "the exiting thread", "the engine's threads stopping and the final drain") \
  X(fork_engines_parked, "the forking thread",                                                     \
    "every engine's threads parked and grace periods held for fork()")                             \
  X(fork_prepared, "the forking thread", "the last prepare step and fork() itself")                \
  X(fork_parent_resuming, "the forking thread",                                                    \
    "fork() returning in the parent and the engines resuming")

enum class stop_point : std::uint8_t {
#define RCUFREE_STOP_POINT_ENUM(name, who, between) name,
  RCUFREE_STOP_POINT_LIST(RCUFREE_STOP_POINT_ENUM)
#undef RCUFREE_STOP_POINT_ENUM
      count
};

// Which threads a stop applies to.
enum class stop_thread : std::uint8_t {
  caller,      // any thread that is not one of an engine's own
  supervisor,  // an engine's supervisor
  cpu_thread,  // an engine's per-CPU reclaim thread
};

#ifdef RCUFREE_STOP_POINTS

namespace stop_points {

const char* name(stop_point p) noexcept;
const char* who(stop_point p) noexcept;
const char* between(stop_point p) noexcept;

// The engine's threads say what they are, once, when they start.
void set_thread_kind(stop_thread k) noexcept;
// A test may tag its own threads, to stop one of them and not another of the same kind.
void set_thread_tag(int tag) noexcept;

// At most this many stops are armed at once (a pair of stopped threads, with room to spare).
constexpr int kMaxStops = 4;

// Arms a stop: the first thread of kind `k` (and tagged `tag`, unless 0) of this process (not of
// a fork child) to reach `p`, after `skip` such arrivals went by, blocks there until release().
// Returns the stop's number. Sleepable; not thread-safe against other arm() calls.
int arm(stop_point p, stop_thread k, int tag = 0, int skip = 0) noexcept;
// Waits (sleeping) until the armed stop has caught its thread, at most `limit`.
bool wait_stopped(int stop, std::chrono::milliseconds limit) noexcept;
// Lets the stopped thread go (or disarms a stop that caught no one). Any thread.
void release(int stop) noexcept;
// Releases every stop and forgets them.
void release_all() noexcept;

// Teardown patience (patience.hpp), normally 2 s: a test may shorten it.
std::chrono::milliseconds teardown_patience() noexcept;
void set_teardown_patience(std::chrono::milliseconds ms) noexcept;

void reached(stop_point p) noexcept;        // RCUFREE_STOP_AT's slow path
extern constinit std::atomic<int> g_armed;  // stops armed and not yet released

}  // namespace stop_points

#define RCUFREE_STOP_AT(point)                                                            \
  do {                                                                                    \
    /* relaxed: a test's arm() happens before the run it arms (it waits for the stop). */ \
    if (::rcufree::detail::stop_points::g_armed.load(std::memory_order_relaxed) != 0)     \
      ::rcufree::detail::stop_points::reached(::rcufree::detail::stop_point::point);      \
  } while (false)
#define RCUFREE_STOP_THREAD_KIND(kind) \
  ::rcufree::detail::stop_points::set_thread_kind(::rcufree::detail::stop_thread::kind)

#else

#define RCUFREE_STOP_AT(point) ((void)0)
#define RCUFREE_STOP_THREAD_KIND(kind) ((void)0)

#endif

}  // namespace rcufree::detail
