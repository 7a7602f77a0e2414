// SPDX-License-Identifier: MIT
// world.hpp — what one cell of the stop-point matrix runs in: an engine, objects that know
// whether they were freed (a ledger), and liburcu readers that hold them.
//
// Every object a cell queues was first published in a table that the readers read inside their
// read-side critical sections, then unlinked, then queued: a reader may hold it until its section
// ends, and a reader that finds it freed counts an early free. Objects live in an arena that is
// never given back (their operator delete does nothing), so a reader may look at a freed one.
// The ledger counts each object's frees: exactly once after the cell's final barrier, or not at
// all where a thread that never comes back held it and the engine said so.
#pragma once

#include <urcu/urcu-memb.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <rcufree/rcufree.hpp>
#include <string>
#include <thread>
#include <vector>

#include "stop_point.hpp"

namespace matrix {

// What an object's deleter does besides being freed (the deleter operations).
enum class on_free : std::uint8_t {
  nothing,
  sleep,           // 20 ms: a slow deleter
  requeue,         // queues two more objects on the same engine (two-argument and head-less)
  call_barrier,    // barrier() on its own engine: misuse, reported
  destroy_engine,  // destroys its own engine: misuse, reported
  outer_headless,  // a head-less free on nested().inner, whose help pass runs `inner_barrier`
  inner_barrier,   // barrier() on nested().outer, from one of nested().inner's deleters
};

struct object {
  enum state : std::uint32_t { unused, published, queueing, queued, freed };
  std::atomic<std::uint32_t> st{unused};
  std::atomic<std::uint32_t> frees{0};
  std::atomic<std::uint64_t> queued_seq{0};  // the world's sequence when its queueing returned
  on_free action = on_free::nothing;
  std::uint8_t kind = 0;
  ~object();  // records the free in the ledger, then does `action`
  static void operator delete(void*) noexcept {}  // arena memory: never given back
};
// Two types, so that alternating them changes the open block's kind (the slot flag's path).
template <int K>
struct object_of : object {
  rcu_head head{};
};
using object_a = object_of<0>;
using object_b = object_of<1>;

enum class queue_by : std::uint8_t { two_argument, head_less };

class world {
 public:
  // The engine under test: the default engine (process exit), or one of the world's own.
  explicit world(bool use_default_engine);
  ~world();
  static world& current();

  rcufree::engine& eng() { return *eng_; }
  // Two quiet engines (nothing freed unless asked) for the nested-deleter operation: `outer`'s
  // deleter frees head-less on `inner`, whose help pass runs a deleter that calls outer.barrier().
  struct nested_engines {
    rcufree::engine* outer;
    rcufree::engine* inner;
  };
  nested_engines nested();
  void destroy_engine();  // the world's own engine; later uses are bugs
  bool engine_destroyed() const { return destroyed_.load(); }
  int cpu() const { return cpu_; }  // drivers and same-CPU operations pin here

  // Publishes a fresh object, unlinks the one it replaces and queues that one on `e` (this
  // world's engine by default). Returns false once the arena is used up.
  bool replace_one(queue_by how, int kind = 0, on_free action = on_free::nothing,
                   rcufree::engine* e = nullptr);
  void replace_some(int n, queue_by how = queue_by::two_argument, bool alternate_kinds = false);
  // The engine's shrink(), counted before it starts: its refill back-off begins before
  // stats.shrinks counts it (once done), and a stopped shrink may never be done.
  void shrink() {
    shrinks_started_.fetch_add(1);
    eng_->shrink();
  }
  std::uint64_t shrinks_started() const { return shrinks_started_.load(); }
  // The engine's reserve_pages(), counted before it starts: a stopped one may hold a CPU's pool
  // lock, and that CPU's pool then keeps what it has. (Both counters: seq_cst by default; an
  // operation reads them after the stop handshake, which orders them after the driver's count.)
  void reserve_pages(std::size_t pages_per_cpu) {
    reserves_started_.fetch_add(1);
    eng_->reserve_pages(pages_per_cpu);
  }
  std::uint64_t reserves_started() const { return reserves_started_.load(); }
  // Where the cell's threads are stopped: set by the cell as it catches each, before the
  // operation runs (which reads it on the cell's thread).
  void note_stopped_at(rcufree::detail::stop_point p) { stopped_at_.push_back(p); }
  bool stopped_at(rcufree::detail::stop_point p) const {
    return std::find(stopped_at_.begin(), stopped_at_.end(), p) != stopped_at_.end();
  }
  // Objects whose queueing call has returned, so far (a barrier covers those).
  std::uint64_t queued_seq() const { return seq_.load(); }

  // Readers: started by the constructor, unregistered across a fork (liburcu's rule for a child
  // that uses RCU), stopped before the final check.
  void pause_readers();
  void resume_readers();
  void stop_readers();

  struct ledger {
    std::uint64_t queued = 0, freed = 0, unfreed = 0, double_frees = 0, early = 0,
                  freed_unqueued = 0, late_for_barrier = 0;
    std::string first_problem;
    bool exact() const {
      return double_frees == 0 && early == 0 && freed_unqueued == 0 && late_for_barrier == 0;
    }
  };
  // Every object whose queueing call returned: freed exactly once? (unfreed counts the rest.)
  ledger check() const;
  // barrier() exactness: every object queued before `seq` must be freed now.
  void check_barrier(std::uint64_t seq_before);

  // Called by ~object.
  void freed(object& o);
  void note_problem(const std::string& what);

 private:
  void reader_main(int index);

  rcufree::engine* eng_ = nullptr;
  std::unique_ptr<rcufree::engine> own_, outer_, inner_;
  std::atomic<bool> destroyed_{false};
  int cpu_ = 0, reader_cpu_ = 0;
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint64_t> shrinks_started_{0};
  std::atomic<std::uint64_t> reserves_started_{0};
  std::vector<rcufree::detail::stop_point> stopped_at_;
  std::atomic<std::uint64_t> next_[2] = {0, 0};  // next unused object of each kind
  std::atomic<std::uint64_t> early_{0}, late_{0};
  std::vector<std::thread> readers_;
  std::atomic<int> reader_mode_{0};  // 0 run, 1 pause (unregistered), 2 stop
  std::atomic<int> readers_paused_{0};
  std::atomic<bool> problem_said_{false};
  std::string first_problem_;
};

}  // namespace matrix
