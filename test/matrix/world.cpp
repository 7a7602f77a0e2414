// SPDX-License-Identifier: MIT
// world.cpp — the cell's engine, objects, ledger and readers (world.hpp).
#include "world.hpp"

#include <cstdio>
#include <new>

#include "cpus.hpp"
#include "tsan_grace.hpp"

namespace matrix {
namespace {

constexpr std::size_t kObjects = 1 << 17;  // enough for the longest driver; never reused
constexpr std::size_t kTable = 64;         // published slots the readers look at
static_assert(sizeof(object_a) == sizeof(object_b));

alignas(object_a) unsigned char g_arena[kObjects][sizeof(object_a)];
std::atomic<object*> g_table[kTable];
world* g_world = nullptr;

object* at(std::size_t i) {
  return reinterpret_cast<object*>(g_arena[i]);  // constructed by replace_one
}

}  // namespace

object::~object() {
  world::current().freed(*this);
}

world& world::current() {
  return *g_world;
}

world::world(bool use_default_engine) {
  g_world = this;
  const std::vector<int> cpus = rcufree_test::allowed_cpus();
  cpu_ = cpus.at(0);
  reader_cpu_ = cpus.size() > 1 ? cpus[1] : cpus[0];
  if (use_default_engine) {
    eng_ = &rcufree::default_engine();
  } else {
    own_ = std::make_unique<rcufree::engine>();
    eng_ = own_.get();
  }
  // Every object is built here, before any other thread of the cell runs: a ledger scan never
  // meets one under construction. Even places hold object_a, odd ones object_b.
  for (std::size_t i = 0; i < kObjects; ++i) {
    object* o = i % 2 == 0 ? static_cast<object*>(new (g_arena[i]) object_a)
                           : static_cast<object*>(new (g_arena[i]) object_b);
    o->kind = static_cast<std::uint8_t>(i % 2);
  }
  // Fill the table first: every object queued later was published and may be held by a reader.
  for (std::size_t i = 0; i < kTable; ++i) {
    object* o = at(2 * next_[0]++);
    o->st.store(object::published);
    g_table[i].store(o, std::memory_order_release);
  }
  readers_.emplace_back([this] { reader_main(0); });
}

world::~world() {
  stop_readers();
}

world::nested_engines world::nested() {
  if (!outer_) {
    rcufree::config quiet;  // nothing is freed unless a caller asks
    quiet.drain_interval = std::chrono::hours(1);
    quiet.worker_tick = std::chrono::hours(1);
    outer_ = std::make_unique<rcufree::engine>(quiet);
    quiet.sleepable_callers_reclaim = true;  // head-less callers run passes on their CPU
    inner_ = std::make_unique<rcufree::engine>(quiet);
  }
  return {outer_.get(), inner_.get()};
}

void world::destroy_engine() {
  destroyed_.store(true);
  own_.reset();
}

bool world::replace_one(queue_by how, int kind, on_free action, rcufree::engine* e) {
  const std::uint64_t i = 2 * next_[kind].fetch_add(1) + static_cast<std::uint64_t>(kind);
  if (i >= kObjects) return false;
  object* fresh = at(i);
  fresh->st.store(object::published);
  // release: the object's fields before its address; pairs with the readers' acquire loads
  // (rcu_dereference).
  object* old = g_table[i % kTable].exchange(fresh, std::memory_order_acq_rel);
  old->action = action;
  old->st.store(object::queueing);
  rcufree::engine& eng = e != nullptr ? *e : *eng_;
  if (how == queue_by::head_less) {
    if (old->kind == 0)
      eng.delete_rcu_mightsleep(static_cast<object_a*>(old));
    else
      eng.delete_rcu_mightsleep(static_cast<object_b*>(old));
  } else if (old->kind == 0) {
    eng.delete_rcu(static_cast<object_a*>(old), &object_a::head);
  } else {
    eng.delete_rcu(static_cast<object_b*>(old), &object_b::head);
  }
  old->queued_seq.store(seq_.fetch_add(1) + 1);
  std::uint32_t expected = object::queueing;
  old->st.compare_exchange_strong(expected, object::queued);  // unless already freed
  return true;
}

void world::replace_some(int n, queue_by how, bool alternate_kinds) {
  for (int k = 0; k < n; ++k) {
    if (!replace_one(how, alternate_kinds ? k % 2 : 0)) return;
  }
}

void world::freed(object& o) {
  const std::uint32_t frees = o.frees.fetch_add(1) + 1;
  const std::uint32_t was = o.st.exchange(object::freed);
  if (frees > 1) note_problem("an object was freed twice");
  if (was == object::published) note_problem("an object was freed while still published");
  switch (o.action) {
    case on_free::nothing:
      break;
    case on_free::sleep:
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      break;
    case on_free::requeue:
      replace_one(queue_by::two_argument);
      replace_one(queue_by::head_less);
      break;
    case on_free::call_barrier:
      eng_->barrier();
      break;
    case on_free::destroy_engine:
      destroy_engine();
      break;
    case on_free::outer_headless:
      // A head-less call on the second engine: its help pass frees the second engine's ready
      // blocks here, one of which calls barrier() on this world's engine (inner_barrier).
      replace_one(queue_by::head_less, 0, on_free::nothing, nested().inner);
      break;
    case on_free::inner_barrier:
      nested().outer->barrier();
      break;
  }
}

void world::note_problem(const std::string& what) {
  if (problem_said_.exchange(true)) return;
  first_problem_ = what;
  std::fprintf(stderr, "matrix: %s\n", what.c_str());
}

void world::reader_main(int index) {
  (void)index;
  rcufree_test::pin_to(reader_cpu_);
  urcu_memb_register_thread();
  unsigned pick = 12345;
  for (;;) {
    const int mode = reader_mode_.load();
    if (mode == 2) break;
    if (mode == 1) {  // a fork: no registration may cross it (liburcu's rule)
      urcu_memb_unregister_thread();
      readers_paused_.fetch_add(1);
      while (reader_mode_.load() == 1) std::this_thread::sleep_for(std::chrono::microseconds(100));
      readers_paused_.fetch_sub(1);
      urcu_memb_register_thread();
      continue;
    }
    urcu_memb_read_lock();
    object* held[4];
    for (object*& h : held) {
      pick = pick * 1103515245u + 12345u;
      // acquire (rcu_dereference): pairs with replace_one's exchange.
      h = g_table[(pick >> 8) % kTable].load(std::memory_order_acquire);
    }
    for (int round = 0; round < 2; ++round) {  // look, hold a moment, look again
      for (object* h : held) {
        if (h->st.load() == object::freed) {
          early_.fetch_add(1);
          note_problem("a reader found an object it holds freed (freed before its grace period)");
        }
      }
      for (int spin = 0; spin < 200; ++spin) asm volatile("" ::: "memory");
    }
    rcufree_test::reader_section_ends();
    urcu_memb_read_unlock();
  }
  urcu_memb_unregister_thread();
}

void world::pause_readers() {
  reader_mode_.store(1);
  while (readers_paused_.load() != static_cast<int>(readers_.size()))
    std::this_thread::sleep_for(std::chrono::microseconds(100));
}

void world::resume_readers() {
  reader_mode_.store(0);
}

void world::stop_readers() {
  reader_mode_.store(2);
  for (std::thread& t : readers_) t.join();
  readers_.clear();
}

world::ledger world::check() const {
  ledger l;
  for (std::uint64_t i = 0; i < kObjects; ++i) {
    const object* o = at(i);
    const std::uint32_t frees = o->frees.load();
    if (o->queued_seq.load() == 0) {  // still published, or its queueing call never returned
      if (frees != 0 && o->st.load() != object::freed) ++l.freed_unqueued;
      continue;
    }
    ++l.queued;
    if (frees == 0) ++l.unfreed;
    if (frees >= 1) ++l.freed;
    if (frees > 1) ++l.double_frees;
  }
  l.early = early_.load();
  l.late_for_barrier = late_.load();
  l.first_problem = first_problem_;
  return l;
}

void world::check_barrier(std::uint64_t seq_before) {
  for (std::uint64_t i = 0; i < kObjects; ++i) {
    const object* o = at(i);
    const std::uint64_t q = o->queued_seq.load();
    if (q != 0 && q <= seq_before && o->frees.load() == 0) {
      late_.fetch_add(1);
      note_problem("barrier() returned before an object queued earlier was freed");
    }
  }
}

}  // namespace matrix
