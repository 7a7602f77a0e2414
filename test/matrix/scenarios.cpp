// SPDX-License-Identifier: MIT
// scenarios.cpp — for every stop point, the kinds of thread that reach it and how to bring one
// there (matrix.hpp).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "cpus.hpp"
#include "matrix.hpp"

namespace matrix {
namespace {

using namespace std::chrono_literals;

void pause_briefly() {
  std::this_thread::sleep_for(1ms);
}

// Appends that take the slot flag: every call changes the open block's kind.
void produce_alternating(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(16, queue_by::two_argument, /*alternate_kinds=*/true);
    pause_briefly();
  }
}

// More than a page's worth at a time: page changes, closed blocks.
void produce_pages(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(600);
    pause_briefly();
  }
}

// A page's worth after every shrink(): the open block fills and no page is pooled, so the
// two-argument calls take the fallback list, and head-less ones allocate a page themselves.
void produce_without_pages(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.shrink();
    w.replace_some(600);
    pause_briefly();
  }
}
void headless_without_pages(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.shrink();
    w.replace_some(600, queue_by::head_less);
    pause_briefly();
  }
}

// A page's worth after every shrink(), then a caller's wake: the CPU's pool is empty while the
// slot has work, so the supervisor tops it up.
void produce_and_wake_without_pages(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.shrink();
    w.replace_some(600);
    w.eng().wake_reclaim_if_idle();
    pause_briefly();
  }
}

// A little at a time: the CPU thread's periodic passes (and the supervisor's looks) do the rest.
void produce_slowly(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(40);
    std::this_thread::sleep_for(2ms);
  }
}

// A little, once: after a quiet second the CPU thread goes idle (no timed wake-up at all).
void produce_then_rest(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  w.replace_some(40);
  while (go) std::this_thread::sleep_for(2ms);
}

// barrier() again and again: the supervisor's flush.
void barrier_loop(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(600);
    w.eng().barrier();
  }
}

// reclaim_local() again and again on a CPU with closed blocks and fallback objects.
void reclaim_local_loop(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(600);
    w.eng().reclaim_local();
  }
}

// The second of two stalled pushers: reclaim_local() first takes the list up to the first
// pusher's missing link (and keeps that chain), then this pusher stops too.
void reclaim_local_then_push_without_pages(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  w.eng().reclaim_local();
  produce_without_pages(w, go);
}

// reserve_pages() after each page's worth: its first pool step takes the first CPU's pool lock
// (the stopped thread's CPU, unless CPU 0 is not allowed here), holding no reclaim lock, while
// that CPU's thread has blocks to recycle.
void reserve_loop(world& w, const std::atomic<bool>& go) {
  rcufree_test::pin_to(w.cpu());
  while (go) {
    w.replace_some(600);
    w.reserve_pages(16);
    pause_briefly();
  }
}

void shrink_loop(world& w, const std::atomic<bool>& go) {
  while (go) {
    w.shrink();
    pause_briefly();
  }
}

// The forking thread, caught inside rcufree's fork handlers. Its children leave at once (no
// registration crosses the fork: they do not use RCU).
void fork_loop(world& w, const std::atomic<bool>& go) {
  (void)w;
  while (go) {
    const pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, nullptr, 0);
    std::this_thread::sleep_for(5ms);
  }
}

// The default engine's exit drain, caught after the engine's threads stopped: the process exits
// from this thread while the operation runs on the main thread.
void exit_from_driver(world& w, const std::atomic<bool>& go) {
  (void)go;
  w.replace_some(600);
  std::exit(0);
}

}  // namespace

const std::vector<scenario>& scenarios() {
  using sp = stop_point;
  using st = stop_thread;
  using hb = held_by;
  // Never destroyed: a cell may exit the process while its threads still read the table.
  static const auto& all = *new std::vector<scenario>{
      // the atomic path and head-less callers
      {"slot_flag_held/caller", sp::slot_flag_held, st::caller, hb::user_thread,
       produce_alternating},
      {"record_stored/caller", sp::record_stored, st::caller, hb::user_thread, produce_alternating},
      {"page_taken/caller", sp::page_taken, st::caller, hb::user_thread, produce_pages},
      {"block_closed/caller", sp::block_closed, st::caller, hb::user_thread, produce_pages},
      {"closed_push_published/caller", sp::closed_push_published, st::caller, hb::user_thread,
       produce_pages},
      {"fallback_push_published/caller", sp::fallback_push_published, st::caller, hb::user_thread,
       produce_without_pages},
      // The same with 100 older pushes below it: a fork child reaches none of them.
      {"fallback_push_published/caller+100_below", sp::fallback_push_published, st::caller,
       hb::user_thread, produce_without_pages, false, 100},
      {"headless_page_allocated/caller", sp::headless_page_allocated, st::caller, hb::user_thread,
       headless_without_pages},
      // a CPU thread's periodic pass
      {"cpu_thread_before_pass/cpu_thread", sp::cpu_thread_before_pass, st::cpu_thread,
       hb::engine_thread, produce_slowly},
      {"cpu_thread_going_idle/cpu_thread", sp::cpu_thread_going_idle, st::cpu_thread,
       hb::engine_thread, produce_then_rest},
      {"pass_holds_slot_flag/cpu_thread", sp::pass_holds_slot_flag, st::cpu_thread,
       hb::engine_thread, produce_slowly},
      {"block_closed/cpu_thread", sp::block_closed, st::cpu_thread, hb::engine_thread,
       produce_slowly},
      {"closed_push_published/cpu_thread", sp::closed_push_published, st::cpu_thread,
       hb::engine_thread, produce_slowly},
      {"pass_took_work/cpu_thread", sp::pass_took_work, st::cpu_thread, hb::engine_thread,
       produce_slowly},
      {"grace_period_started/cpu_thread", sp::grace_period_started, st::cpu_thread,
       hb::engine_thread, produce_slowly},
      {"grace_period_ended/cpu_thread", sp::grace_period_ended, st::cpu_thread, hb::engine_thread,
       produce_slowly},
      {"pass_freeing/cpu_thread", sp::pass_freeing, st::cpu_thread, hb::engine_thread,
       produce_slowly},
      {"page_recycled/cpu_thread", sp::page_recycled, st::cpu_thread, hb::engine_thread,
       produce_slowly},
      {"refill_allocating/cpu_thread", sp::refill_allocating, st::cpu_thread, hb::engine_thread,
       produce_pages},
      {"pool_lock_held/cpu_thread", sp::pool_lock_held, st::cpu_thread, hb::engine_thread,
       produce_pages},
      // the supervisor: its looks, thread starts, barrier flushes
      {"supervisor_looking/supervisor", sp::supervisor_looking, st::supervisor, hb::engine_thread,
       produce_slowly},
      {"pool_topping_up/supervisor", sp::pool_topping_up, st::supervisor, hb::engine_thread,
       produce_and_wake_without_pages},
      {"pool_lock_held/supervisor", sp::pool_lock_held, st::supervisor, hb::engine_thread,
       produce_and_wake_without_pages},
      {"supervisor_going_to_sleep/supervisor", sp::supervisor_going_to_sleep, st::supervisor,
       hb::engine_thread, produce_slowly},
      {"cpu_thread_starting/supervisor", sp::cpu_thread_starting, st::supervisor, hb::engine_thread,
       produce_slowly},
      {"pass_holds_slot_flag/supervisor", sp::pass_holds_slot_flag, st::supervisor,
       hb::engine_thread, barrier_loop, true},
      {"block_closed/supervisor", sp::block_closed, st::supervisor, hb::engine_thread, barrier_loop,
       true},
      {"closed_push_published/supervisor", sp::closed_push_published, st::supervisor,
       hb::engine_thread, barrier_loop, true},
      {"pass_took_work/supervisor", sp::pass_took_work, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      {"flush_took_all/supervisor", sp::flush_took_all, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      {"grace_period_started/supervisor", sp::grace_period_started, st::supervisor,
       hb::engine_thread, barrier_loop, true},
      {"grace_period_ended/supervisor", sp::grace_period_ended, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      {"flush_before_free/supervisor", sp::flush_before_free, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      {"pass_freeing/supervisor", sp::pass_freeing, st::supervisor, hb::engine_thread, barrier_loop,
       true},
      {"page_recycled/supervisor", sp::page_recycled, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      {"flush_completing/supervisor", sp::flush_completing, st::supervisor, hb::engine_thread,
       barrier_loop, true},
      // a caller reclaiming for itself, and shrinking
      {"pass_took_work/caller", sp::pass_took_work, st::caller, hb::user_thread,
       reclaim_local_loop},
      {"grace_period_started/caller", sp::grace_period_started, st::caller, hb::user_thread,
       reclaim_local_loop},
      {"grace_period_ended/caller", sp::grace_period_ended, st::caller, hb::user_thread,
       reclaim_local_loop},
      {"pass_freeing/caller", sp::pass_freeing, st::caller, hb::user_thread, reclaim_local_loop},
      {"pages_dropping/caller", sp::pages_dropping, st::caller, hb::user_thread, shrink_loop},
      {"pool_lock_held/caller", sp::pool_lock_held, st::caller, hb::user_thread, reserve_loop},
      // the page arena: a head-less caller allocating its own page, a CPU thread refilling its
      // pool, a shrink giving pages back
      {"page_arena_locked/caller", sp::page_arena_locked, st::caller, hb::user_thread,
       headless_without_pages},
      {"page_arena_locked/cpu_thread", sp::page_arena_locked, st::cpu_thread, hb::engine_thread,
       produce_pages},
      {"page_release_published/caller", sp::page_release_published, st::caller, hb::user_thread,
       produce_without_pages},
      // lifetime
      {"fork_engines_parked/caller", sp::fork_engines_parked, st::caller, hb::fork_handler,
       fork_loop},
      {"fork_prepared/caller", sp::fork_prepared, st::caller, hb::fork_handler, fork_loop},
      {"fork_parent_resuming/caller", sp::fork_parent_resuming, st::caller, hb::fork_handler,
       fork_loop},
      {"threads_stopping/supervisor", sp::threads_stopping, st::supervisor, hb::exiting,
       exit_from_driver},
      {"exit_drain_stopped/caller", sp::exit_drain_stopped, st::caller, hb::exiting,
       exit_from_driver},
  };
  return all;
}

const std::vector<scenario_pair>& pairs() {
  static const auto& all = *new std::vector<scenario_pair>{
      {"flush_vs_reclaim_local", "flush_took_all/supervisor", "pass_freeing/caller",
       "a barrier's flush holds work it took while a caller reclaims the same slot"},
      {"two_stalled_pushers", "fallback_push_published/caller",
       "fallback_push_published/caller+reclaim_local",
       "two pushers stopped mid-push, the first one's chain already taken by reclaim_local()"},
      {"holder_and_pusher", "slot_flag_held/caller", "fallback_push_published/caller",
       "one caller holds its CPU's slot flag, another on the same CPU stops mid-push"},
      {"reclaimer_and_pusher", "pass_freeing/cpu_thread", "fallback_push_published/caller",
       "a CPU thread frees while a caller on its CPU stops mid-push"},
  };
  return all;
}

// The second stop of a pair may need its own driver (named "<scenario>+<variant>").
const scenario* find_scenario(const std::string& name) {
  static const scenario second_pusher = {
      "fallback_push_published/caller+reclaim_local", stop_point::fallback_push_published,
      stop_thread::caller, held_by::user_thread, reclaim_local_then_push_without_pages};
  if (name == second_pusher.name) return &second_pusher;
  for (const scenario& s : scenarios()) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

}  // namespace matrix
