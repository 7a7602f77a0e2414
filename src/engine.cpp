// SPDX-License-Identifier: MIT
// engine.cpp — building and tearing down an engine; barrier, shrink, snapshot.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "engine_core.hpp"
#include "misuse.hpp"
#include "pressure.hpp"

namespace rcufree {
namespace detail {
namespace {

std::size_t possible_cpus() {
  const long n = sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? static_cast<std::size_t>(n) : 1;
}

}  // namespace

engine_core::engine_core(config c)
    : cfg((c.validate(), std::move(c))),
      debug(debug_checks_enabled() ? std::make_unique<debug_registry>() : nullptr),
      gp(cfg.flavor != nullptr ? cfg.flavor : &urcu_memb_flavor),
      slots(possible_cpus(), cfg, rseq_usable(), debug.get()),
      pages(cfg),
      rec(reclaim_inputs{cfg, slots, gp, clock, pages, debug.get()}),
      threads(cfg, rec, clock),
      inline_scratch_(slots.size()) {
  // Every CPU starts with a full pool: the first calls need no thread.
  for (std::size_t i = 0; i < slots.size(); ++i) {
    std::lock_guard<std::mutex> lock(rec.lock_of(i));
    rec.restock(i);
  }
  {
    const auto no_fork = hold_off_fork();  // a fork sees the engine with its threads, or neither
    threads.start();
    register_engine(this, no_fork);
  }
  if (cfg.watch_memory_pressure) pressure_ = std::make_unique<pressure_watch>(threads);
}

engine_core::~engine_core() {
  if (threads.on_engine_thread() || reclaimer::running_deleters_of(&rec)) {
    // Its threads would be joined by one of themselves, or its teardown would wait for the
    // reclaim lock this very thread holds.
    RCUFREE_MISUSE_FATAL(
        "rcufree::engine destroyed from a deleter this engine is running (on its reclaim thread, "
        "in reclaim_local() or in a head-less call's own reclaim); it would wait for itself. "
        "Destroy it from another thread once its deleters have returned.");
  }
  unregister_engine(this);
  pressure_.reset();
  shutdown();
}

void engine_core::shutdown() {
  // A fork child that never used this engine runs no grace period and frees nothing: what it
  // inherited is its parent's to free, and a grace period here could walk liburcu
  // registrations of parent threads that do not exist in the child.
  const bool unused_child = threads.dormant() && handed_over_total() == handed_over_at_fork_;
  {
    // The default engine stays registered for fork handlers: none may run while its threads
    // stop (they would wait for threads that are being joined).
    const auto no_fork = hold_off_fork();
    threads.stop();  // the supervisor's last passes free everything queued before this point
  }
  RCUFREE_STOP_AT(exit_drain_stopped);
  std::lock_guard<std::mutex> lock(inline_mu_);
  // release: pairs with the acquire in the head-less path; from now on it frees inline.
  shut_down_.store(true, std::memory_order_release);
  if (unused_child) {
    rec.drop_all_pages(patience::kind::brief);
    return;
  }
  run_everything_here(kTeardownFlush);
}

void engine_core::flush_inline() {
  std::lock_guard<std::mutex> lock(inline_mu_);
  run_everything_here(kBarrierFlush);
}

void engine_core::run_everything_here(const reclaim_policy& p) {
  // Anything that raced in after the threads' last pass is freed here, on this thread.
  clock.tick();
  while (rec.pending_total() != 0 && rec.flush_all(inline_scratch_, p)) {
  }
  // Pages are given back only as a courtesy (exactness needs none): a teardown waits its 2 s,
  // anyone else only a moment.
  rec.drop_all_pages(p.wait == patience::kind::teardown ? patience::kind::teardown
                                                        : patience::kind::brief);
}

bool engine_core::pressure_watch_armed() const noexcept {
  return pressure_ != nullptr && pressure_->armed();
}

std::uint64_t engine_core::handed_over_total() const noexcept {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) n += slots[i].handed_over();
  return n;
}

bool debug_checks_enabled() noexcept {
#ifdef RCUFREE_DEBUG
  return true;
#else
  return false;
#endif
}

}  // namespace detail

engine::engine(config cfg) : core_(std::make_unique<detail::engine_core>(std::move(cfg))) {}

engine::~engine() = default;

const config& engine::settings() const noexcept {
  return core_->cfg;
}

void engine::wake_reclaim_if_idle() noexcept {
  core_->threads.wake_if_idle(core_->slots.this_cpu());
}

void engine::barrier() {
  detail::require_sleepable(*core_, "barrier", detail::sleepable_use::waits_for_engine);
  core_->wake_after_fork();
  // False: the threads have stopped (the default engine during or after its exit drain): flush
  // here instead.
  if (!core_->threads.flush_and_wait()) core_->flush_inline();
}

void engine::shrink() {
  detail::require_sleepable(*core_, "shrink", detail::sleepable_use::waits_for_engine);
  core_->wake_after_fork();
  core_->rec.shrink();  // on this thread: it waits for no engine thread, only briefly for a slot
}

std::size_t engine::reserve_pages(std::size_t pages_per_cpu) {
  detail::engine_core& c = *core_;
  detail::require_sleepable(c, "reserve_pages", detail::sleepable_use::waits_for_engine);
  c.wake_after_fork();
  std::size_t cached = 0;
  for (std::size_t i = 0; i < c.slots.size(); ++i) {
    // No reclaim lock: a pass holds it through a grace period, and a caller stopped in
    // reclaim_local() for good. The pool has a lock of its own (reclaimer::set_resting), which
    // only a thread stopped inside one of its few-step holds keeps: then this CPU is skipped
    // after one bounded wait (patience::kind::request), and stderr says so.
    c.rec.set_resting(i, pages_per_cpu);
    cached += c.slots[i].pool.size();
  }
  return cached;
}

stats engine::snapshot() const {
  const detail::engine_core& c = *core_;
  stats st;
  // Freed first, so that pending never goes negative.
  st.inline_frees = c.rec.inline_frees.get();
  st.freed = st.inline_frees;
  for (std::size_t i = 0; i < c.slots.size(); ++i) st.freed += c.rec.freed_from(i);
  st.queued = st.inline_frees;
  st.pages_in_use_per_cpu.resize(c.slots.size());
  st.pages_cached_per_cpu.resize(c.slots.size());
  for (std::size_t i = 0; i < c.slots.size(); ++i) {
    const detail::cpu_slot& s = c.slots[i];
    st.queued += s.handed_over();
    st.fallback_objects += s.fallback_queued.get();
    st.slot_contended += s.contended.get();
    st.pages_cached_per_cpu[i] = s.pool.size();
    st.pages_cached += st.pages_cached_per_cpu[i];
    const auto opened = s.blocks_opened.get();
    const auto retired = c.rec.blocks_retired(i);
    st.pages_in_use_per_cpu[i] = opened > retired ? opened - retired : 0;
    st.pages_in_use += st.pages_in_use_per_cpu[i];
  }
  st.fork_abandoned = c.rec.abandoned();
  const std::uint64_t gone = st.freed + st.fork_abandoned;
  st.pending = st.queued > gone ? st.queued - gone : 0;
  st.peak_pending = std::max(c.rec.peak_pending(), st.pending);
  st.page_allocs = c.pages.allocs();
  st.page_alloc_failures = c.pages.failures();
  st.grace_periods = c.gp.count();
  st.drains = c.rec.drains.get();
  st.caller_reclaims = c.rec.caller_reclaims.get();
  st.blocks_expired_on_arrival = c.rec.expired_on_arrival.get();
  st.refill_attempts = c.rec.refill_attempts.get();
  st.shrinks = c.rec.shrinks.get();
  st.pressure_events = c.threads.pressure_events();
  st.expedited_passes = c.threads.expedited_passes();
  st.pressure_watch_armed = c.pressure_watch_armed() ? 1 : 0;
  st.reclaim_threads = c.threads.cpu_threads_started();
  st.reclaim_threads_realtime = c.threads.cpu_threads_realtime();
  // relaxed: statistic.
  st.oldest_pending_ms = c.rec.oldest_pending_ms.load(std::memory_order_relaxed);
  st.gp_last_us = c.gp.last_us();
  st.gp_max_us = c.gp.max_us();
  st.rseq_appends = c.slots.rseq() ? 1 : 0;
  return st;
}

}  // namespace rcufree
