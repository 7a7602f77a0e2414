// SPDX-License-Identifier: MIT
// urcu_dropin.cpp — librcufree-urcu: liburcu's call_rcu family on rcufree engines, one engine per
// liburcu flavor per process (include/rcufree/urcu.h says what each call means).
//
// The engines are built by rcufree_urcu_prepare, which <rcufree/urcu.h> and the preload libraries
// call from a load-time constructor, so that no call_rcu allocates or starts a thread. They are
// never destroyed: like liburcu's call_rcu threads they outlive main, and callbacks still queued
// at exit do not run.
//
// Callback threads. liburcu runs callbacks on threads registered as readers of the flavor (under
// QSBR online while they run callbacks, offline while they sleep). Here every run of callbacks
// (up to a page of one function: 506 with 4 KiB pages) is wrapped in reader_scope: register the
// thread, run, unregister. So a callback may take rcu_read_lock(); under QSBR the thread is
// online exactly while callbacks run; and a thread parked between runs (as the engine's threads
// are across fork()) is in no flavor's registry, so no fork child inherits a registration of a
// thread it does not have (under urcu-signal a stale one would make its grace periods die).
// Runs happen on the engine's reclaim threads only: the drop-in never asks an engine for the
// calls that free on the caller (reclaim_local, the head-less forms, a stopped engine's barrier).
#define RCUFREE_URCU_BUILDING  // the declarations of <rcufree/urcu.h>, for no flavor of its own
#include <dlfcn.h>
#include <errno.h>
#include <rcufree/urcu.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <rcufree/rcufree.hpp>
#include <string>

#include "callback_table.hpp"

namespace rcufree::dropin {
namespace {

struct flavor_state {
  const char* name;         // "qsbr"
  const char* flavor_name;  // liburcu's flavor table: "urcu_qsbr_flavor"
  // urcu-bp registers a thread by itself on its first rcu_read_lock and keeps it registered (a
  // thread-exit key unregisters it); registering around each run is for the other flavors.
  bool registers_itself;
  std::atomic<engine*> eng{nullptr};  // built once by prepare(), never destroyed
  const rcu_flavor_struct* table = nullptr;
  call_rcu_data* token = nullptr;  // what the call_rcu_data functions hand out
};

// The handle rcufree's call_rcu_data functions hand out: one per flavor, never freed. Opaque to
// programs (liburcu's <urcu/call-rcu.h> leaves struct call_rcu_data undefined).
}  // namespace
}  // namespace rcufree::dropin

struct call_rcu_data {
  int flavor;
};

namespace rcufree::dropin {
namespace {

call_rcu_data g_tokens[RCUFREE_URCU_FLAVORS] = {{0}, {1}, {2}, {3}, {4}};

flavor_state g_flavors[RCUFREE_URCU_FLAVORS] = {
    {"memb", "urcu_memb_flavor", false, {}, nullptr, &g_tokens[0]},
    {"mb", "urcu_mb_flavor", false, {}, nullptr, &g_tokens[1]},
    {"signal", "urcu_signal_flavor", false, {}, nullptr, &g_tokens[2]},
    {"qsbr", "urcu_qsbr_flavor", false, {}, nullptr, &g_tokens[3]},
    {"bp", "urcu_bp_flavor", true, {}, nullptr, &g_tokens[4]},
};

std::mutex g_build_mu;  // serializes building engines
constexpr std::chrono::milliseconds kDrainInterval{5};  // the drop-in engines' (see build())
callback_registry g_callbacks;

// Misuse of the drop-in: one sentence on stderr by write(2) (call_rcu may run in a signal
// handler), then abort.
[[noreturn]] void die(const char* call, const char* sentence) noexcept {
  char text[512];
  const int n = std::snprintf(text, sizeof text, "rcufree: %s: %s\n", call, sentence);
  if (n > 0) {
    const std::size_t len =
        static_cast<std::size_t>(n) < sizeof text ? static_cast<std::size_t>(n) : sizeof text - 1;
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, text, len);
  }
  std::abort();
}

flavor_state& state_of(int flavor, const char* call) noexcept {
  if (flavor < 0 || flavor >= RCUFREE_URCU_FLAVORS) {
    die(call, "unknown flavor number; use RCUFREE_URCU_MEMB .. RCUFREE_URCU_BP");
  }
  return g_flavors[flavor];
}

// RCUFREE_URCU_STATS=1 in the environment: at exit, each engine built says on stderr what it did
// ("rcufree-urcu: urcu-qsbr: {json}"), so that an operator (or a test) sees that a program's
// callbacks went through rcufree.
void say_stats_at_exit() {
  for (const flavor_state& s : g_flavors) {
    // acquire: pairs with the release store in build().
    const engine* e = s.eng.load(std::memory_order_acquire);
    if (e == nullptr) continue;
    try {
      std::fprintf(stderr, "rcufree-urcu: urcu-%s: %s\n", s.name, e->snapshot().to_json().c_str());
    } catch (const std::exception&) {  // no memory for the snapshot: say nothing
    }
  }
}

// Sleepable: builds the engine of `s` on `table` unless it exists.
engine* build(flavor_state& s, const rcu_flavor_struct* table, const char* call) noexcept {
  std::lock_guard<std::mutex> lock(g_build_mu);
  // relaxed: g_build_mu orders this against the store below made by an earlier builder.
  if (engine* e = s.eng.load(std::memory_order_relaxed)) return e;
  try {
    config cfg;
    cfg.flavor = table;
    // A callback's block waits at most 5 ms before its grace period starts (the engine's default
    // is 20): with the wake after each call (queue), a lone callback then runs sooner than
    // liburcu's call_rcu runs it (docs/switching-from-call_rcu.md has both measured).
    // RCUFREE_URCU_DRAIN_INTERVAL_MS=N (1 .. 1000) sets another (config::drain_interval).
    cfg.drain_interval = kDrainInterval;
    if (const char* ms = std::getenv("RCUFREE_URCU_DRAIN_INTERVAL_MS")) {
      const long v = std::strtol(ms, nullptr, 10);
      if (v >= 1 && v <= 1000) cfg.drain_interval = std::chrono::milliseconds(v);
    }
    auto* e = new engine(cfg);  // never destroyed (see the top of this file)
    s.table = table;
    static bool said_at_exit = false;  // under g_build_mu
    const char* env = std::getenv("RCUFREE_URCU_STATS");
    if (!said_at_exit && env != nullptr && std::strcmp(env, "1") == 0) {
      said_at_exit = std::atexit(say_stats_at_exit) == 0;
    }
    // release: the built engine and s.table before the pointer; pairs with the acquire loads
    // in engine_of().
    s.eng.store(e, std::memory_order_release);
    return e;
  } catch (const std::exception& e) {
    char sentence[300];
    std::snprintf(sentence, sizeof sentence, "cannot build the urcu-%s engine: %s", s.name,
                  e.what());
    die(call, sentence);
  }
}

// A call made before any constructor prepared the flavor (another library's constructor that
// runs first): find liburcu's flavor table by name and build the engine now. This one call
// allocates and starts a thread; every later call finds the engine built.
[[gnu::cold, gnu::noinline]] engine* build_late(flavor_state& s, const char* call) noexcept {
  const auto* table = static_cast<const rcu_flavor_struct*>(dlsym(RTLD_DEFAULT, s.flavor_name));
  if (table == nullptr) {
    char sentence[300];
    std::snprintf(sentence, sizeof sentence,
                  "called for urcu-%s before its engine was prepared, and %s is not loaded; "
                  "include <rcufree/urcu.h> after liburcu's flavor header, or preload "
                  "librcufree-preload-%s.so",
                  s.name, s.flavor_name, s.name);
    die(call, sentence);
  }
  return build(s, table, call);
}

engine& engine_of(flavor_state& s, const char* call) noexcept {
  // acquire: pairs with the release store in build().
  engine* e = s.eng.load(std::memory_order_acquire);
  if (e == nullptr) [[unlikely]]
    e = build_late(s, call);
  return *e;
}

// The calling thread as a reader of the flavor for the duration of one run (see the top of this
// file). Registration takes liburcu's registry mutex: a few hundred nanoseconds per run, shared
// by up to a page of callbacks.
class reader_scope {
 public:
  explicit reader_scope(const flavor_state& s) noexcept : s_(s) {
    if (!s_.registers_itself) s_.table->register_thread();
  }
  ~reader_scope() {
    if (!s_.registers_itself) s_.table->unregister_thread();
  }
  reader_scope(const reader_scope&) = delete;
  reader_scope& operator=(const reader_scope&) = delete;

 private:
  const flavor_state& s_;
};

// Sleepable calls under QSBR come from online threads: liburcu's own rcu_barrier puts the caller
// offline while it waits (an online thread would hold up the grace periods it waits for) and
// back online after. Other flavors: read_ongoing() means "inside a read-side critical section".
class offline_while_waiting {
 public:
  explicit offline_while_waiting(const flavor_state& s) noexcept
      : table_(s.table),
        was_online_(&s == &g_flavors[RCUFREE_URCU_QSBR] && table_->read_ongoing()) {
    if (was_online_) table_->thread_offline();
  }
  ~offline_while_waiting() {
    if (was_online_) table_->thread_online();
  }
  offline_while_waiting(const offline_while_waiting&) = delete;
  offline_while_waiting& operator=(const offline_while_waiting&) = delete;

 private:
  const rcu_flavor_struct* table_;
  bool was_online_;
};

// defer_rcu's record: fct(p) after a grace period, as a callback of its own.
struct deferred {
  rcu_head head;  // first: the callback gets the record's address
  void (*fct)(void*);
  void* p;
};

void run_deferred(rcu_head* head) {
  auto* d = reinterpret_cast<deferred*>(head);
  d->fct(d->p);
  std::free(d);
}

void queue(flavor_state& s, int flavor, rcu_head* head, callback_fn fn, const char* call) noexcept {
  engine& eng = engine_of(s, call);
  if (head == nullptr) die(call, "head is NULL; pass the rcu_head inside the object to reclaim");
  if (fn == nullptr) die(call, "func is NULL; pass the function to call after a grace period");
  const callback_entry* e = g_callbacks.find_or_add(
      [fn, flavor](const callback_entry& c) { return c.fn == fn && c.flavor == flavor; },
      callback_entry{fn, flavor});
  if (e == nullptr) {
    char sentence[200];
    std::snprintf(sentence, sizeof sentence,
                  "more than %zu distinct (callback function, flavor) pairs; the drop-in's "
                  "callback table is full",
                  kCallbackKinds);
    die(call, sentence);
  }
  kQueue[g_callbacks.index_of(e)](eng, head);
  // As liburcu's call_rcu wakes its worker: an idle CPU thread starts this callback's grace period
  // now (one futex wake, only when it sleeps idle) instead of after drain_interval, or after the
  // supervisor's idle look, up to 125 ms later; and a burst meets a reclaim thread already at work
  // refilling its CPU's page pool.
  eng.wake_reclaim_if_idle();
}

// The engine's barrier for a C caller: a misuse it reports by throwing ends the process here.
void barrier_of(flavor_state& s, const char* call) noexcept {
  engine& eng = engine_of(s, call);
  if (s.table->read_ongoing() && &s != &g_flavors[RCUFREE_URCU_QSBR]) {
    // liburcu's rcu_barrier says this once and returns without waiting; so does the drop-in.
    static std::atomic<bool> said{false};
    // relaxed: only that it is said once matters.
    if (!said.exchange(true, std::memory_order_relaxed)) {
      std::fprintf(stderr,
                   "rcufree: %s called from within an RCU read-side critical section; it "
                   "returns without waiting (as liburcu's rcu_barrier does)\n",
                   call);
    }
    return;
  }
  const offline_while_waiting offline(s);
  try {
    eng.barrier();
  } catch (const std::exception& e) {
    die(call, e.what());
  }
}

}  // namespace

void run(std::size_t index, void* const* objects, std::size_t n) noexcept {
  const callback_entry& e = g_callbacks.at(index);
  const reader_scope reader(g_flavors[e.flavor]);
  for (std::size_t i = 0; i < n; ++i) e.fn(static_cast<rcu_head*>(objects[i]));
}

}  // namespace rcufree::dropin

using rcufree::dropin::g_flavors;
using rcufree::dropin::state_of;

extern "C" {

void rcufree_urcu_prepare(int flavor, const struct rcu_flavor_struct* table) noexcept {
  rcufree::dropin::flavor_state& s = state_of(flavor, "rcufree_urcu_prepare");
  if (table == nullptr) rcufree::dropin::die("rcufree_urcu_prepare", "flavor table is NULL");
  // acquire: pairs with the release store in build().
  if (s.eng.load(std::memory_order_acquire) == nullptr)
    rcufree::dropin::build(s, table, "rcufree_urcu_prepare");
}

void rcufree_urcu_call_rcu(int flavor, struct rcu_head* head,
                           void (*func)(struct rcu_head*)) noexcept {
  rcufree::dropin::queue(state_of(flavor, "call_rcu"), flavor, head, func, "call_rcu");
}

void rcufree_urcu_barrier(int flavor) noexcept {
  rcufree::dropin::barrier_of(state_of(flavor, "rcu_barrier"), "rcu_barrier");
}

void rcufree_urcu_defer_rcu(int flavor, void (*fct)(void*), void* p) noexcept {
  rcufree::dropin::flavor_state& s = state_of(flavor, "defer_rcu");
  if (fct == nullptr) rcufree::dropin::die("defer_rcu", "fct is NULL");
  auto* d = static_cast<rcufree::dropin::deferred*>(std::malloc(sizeof(rcufree::dropin::deferred)));
  if (d == nullptr) {
    // No memory for the record: wait for a grace period here and call fct inline (liburcu's
    // defer_rcu waits for one too when its queue is full).
    rcufree::dropin::engine_of(s, "defer_rcu");
    const rcufree::dropin::offline_while_waiting offline(s);
    s.table->update_synchronize_rcu();
    fct(p);
    return;
  }
  d->fct = fct;
  d->p = p;
  rcufree::dropin::queue(s, flavor, &d->head, &rcufree::dropin::run_deferred, "defer_rcu");
}

void rcufree_urcu_stats_json(int flavor, char* buf, size_t len) noexcept {
  rcufree::dropin::flavor_state& s = state_of(flavor, "rcufree_urcu_stats_json");
  if (buf == nullptr || len == 0) return;
  buf[0] = '\0';
  // acquire: pairs with the release store in build().
  const rcufree::engine* e = s.eng.load(std::memory_order_acquire);
  if (e == nullptr) return;
  try {
    const std::string json = e->snapshot().to_json();
    const std::size_t n = json.size() < len - 1 ? json.size() : len - 1;
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  } catch (const std::exception&) {  // no memory for the snapshot: leave it empty
  }
}

struct call_rcu_data* rcufree_urcu_default_call_rcu_data(int flavor) noexcept {
  return state_of(flavor, "get_default_call_rcu_data").token;
}

// set_thread_call_rcu_data's value, per thread and flavor: handed back by
// get_thread_call_rcu_data, and changing nothing else.
static thread_local struct call_rcu_data* t_thread_data[RCUFREE_URCU_FLAVORS];

struct call_rcu_data* rcufree_urcu_thread_call_rcu_data(int flavor) noexcept {
  state_of(flavor, "get_thread_call_rcu_data");
  return t_thread_data[flavor];
}

void rcufree_urcu_set_thread_call_rcu_data(int flavor, struct call_rcu_data* crdp) noexcept {
  state_of(flavor, "set_thread_call_rcu_data");
  t_thread_data[flavor] = crdp;
}

// CPU numbers liburcu accepts: 0 .. the configured processors - 1.
static bool cpu_in_range(int cpu) noexcept {
  return cpu >= 0 && cpu < sysconf(_SC_NPROCESSORS_CONF);
}

struct call_rcu_data* rcufree_urcu_cpu_call_rcu_data(int flavor, int cpu) noexcept {
  rcufree::dropin::flavor_state& s = state_of(flavor, "get_cpu_call_rcu_data");
  return cpu_in_range(cpu) ? s.token : nullptr;
}

int rcufree_urcu_set_cpu_call_rcu_data(int flavor, int cpu, struct call_rcu_data*) noexcept {
  state_of(flavor, "set_cpu_call_rcu_data");
  if (cpu_in_range(cpu)) return 0;
  errno = EINVAL;
  return -EINVAL;
}

}  // extern "C"
