// SPDX-License-Identifier: MIT
// mechanisms.hpp — every way the harness retires an object, behind one static interface:
//
//   explicit M(const run_options&)   set up (untimed; main thread)
//   void* make(size)                 allocate one object (timed)
//   thread_begin(tls&)               per producer thread, untimed (registration)
//   retire(tls&, void*)              the call under test (timed)
//   thread_end(tls&)                 per producer thread, timed (flush this thread's own work)
//   finish()                         main thread, timed: the final barrier
//   thread_teardown(tls&)            per producer thread, untimed (unregistration)
//   freed()                          objects freed since setup (checked against objects queued)
//   sample(pending, pages)           timeline mode, from the sampler thread
//   report(record&, gp_delta)        extra fields, including the grace periods to report
#pragma once

// First: liburcu maps call_rcu & co. to the memb flavor only if its flavor header comes before
// <urcu/call-rcu.h>, which rcufree's header includes.
#include <urcu/urcu-memb.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <rcufree/rcufree.hpp>  // includes <urcu/call-rcu.h>: after the flavor header above
#include <string>
#include <type_traits>

#include "ck_peer.h"
#include "common.hpp"
#include "rcufree/rcufree.h"  // the C API (rcufree_c), after the flavor header too

namespace bench {

struct rcu_object {  // the rcu_head at offset 0 of a malloc()ed object
  rcu_head head;
};

inline void put(record& r, const char* key, std::uint64_t v) {
  r.emplace_back(key, std::to_string(v));
}

struct malloc_objects {
  static void* make(std::size_t size) noexcept { return std::malloc(size); }
};

// The floor: no deferral at all.
struct floor_free : malloc_objects {
  struct tls {
    std::uint64_t freed = 0;
  };
  explicit floor_free(const run_options&) {}
  void thread_begin(tls&) {}
  void retire(tls& t, void* p) noexcept {
    std::free(p);
    ++t.freed;
  }
  void thread_end(tls& t) {
    freed_.fetch_add(t.freed, std::memory_order_relaxed);  // relaxed: read after join
  }
  void finish() {}
  void thread_teardown(tls&) {}
  std::uint64_t freed() const {
    return freed_.load(std::memory_order_relaxed);  // relaxed: read after join
  }
  bool sample(std::uint64_t&, std::uint64_t&) { return false; }
  void report(record& r, std::uint64_t gp) const { put(r, "gp", gp); }
  std::atomic<std::uint64_t> freed_{0};
};

// rcufree: the two-argument form with the default config (kfree); the head-less form with
// sleepable callers reclaiming (mightsleep, the opt-in); the two-argument form with each producer
// calling reclaim_local() every `every` calls (local: the explicit call from a sleepable point);
// delete_rcu with a destructor that counts (an independent check on the engine's own accounting).
// Every variant applies the child's config overrides (run_options::cfg: the --cfg-* flags and the
// mechanism spec's "@key=value" suffix); "rcufree_cfg" is the kfree variant under another name.
enum class rcufree_variant { kfree, mightsleep, local, counted_delete };

struct counted_object {
  rcu_head head;
  char payload[48];
  ~counted_object() { destroyed.add(1); }
  static inline sharded_counter destroyed;
};

inline rcufree::config make_engine_config(const engine_overrides& ov) {
  rcufree::config c;
  if (ov.cached >= 0) c.cached_pages_per_cpu = static_cast<std::size_t>(ov.cached);
  if (ov.tick_us >= 0) c.worker_tick = std::chrono::microseconds(ov.tick_us);
  if (ov.drain_ms >= 0) c.drain_interval = std::chrono::milliseconds(ov.drain_ms);
  if (ov.soft_cap_kib >= 0)
    c.pending_soft_cap_bytes = static_cast<std::size_t>(ov.soft_cap_kib) << 10;
  if (ov.assumed_bytes >= 0) c.assumed_object_bytes = static_cast<std::size_t>(ov.assumed_bytes);
  if (ov.sleepable >= 0) c.sleepable_callers_reclaim = ov.sleepable != 0;
  if (ov.page_size >= 0) c.page_size = static_cast<std::size_t>(ov.page_size);
  if (ov.psi >= 0) c.watch_memory_pressure = ov.psi != 0;
  if (ov.rt >= 0) c.realtime_reclaim = ov.rt != 0;
  if (ov.backoff_ms >= 0) c.refill_backoff_after_shrink = std::chrono::milliseconds(ov.backoff_ms);
  if (ov.reclaim >= 0) {
    c.reclaim_threads =
        ov.reclaim == 0 ? rcufree::reclaim_mode::per_cpu : rcufree::reclaim_mode::single;
  }
  return c;
}

// The engine's counters over the run (now - base) as record fields.
inline void put_engine_stats(record& r, const rcufree::stats& s, const rcufree::stats& base) {
  put(r, "engine_gp", s.grace_periods - base.grace_periods);
  put(r, "engine_freed", s.freed - base.freed);
  put(r, "engine_queued", s.queued - base.queued);
  put(r, "fallbacks", s.fallback_objects - base.fallback_objects);
  put(r, "page_allocs", s.page_allocs - base.page_allocs);
  put(r, "drains", s.drains - base.drains);
  put(r, "caller_reclaims", s.caller_reclaims - base.caller_reclaims);
  put(r, "expired_on_arrival", s.blocks_expired_on_arrival - base.blocks_expired_on_arrival);
  put(r, "slot_contended", s.slot_contended - base.slot_contended);
  put(r, "inline_frees", s.inline_frees - base.inline_frees);
  put(r, "gp_max_us", s.gp_max_us);
  put(r, "expedited_passes", s.expedited_passes - base.expedited_passes);
  // The engine's own high-water mark of pending objects (issue 9), exact where the harness's
  // sampler (every peak_sample_us) can miss a short peak. Since the engine was built.
  put(r, "engine_peak_pending", s.peak_pending);
  put(r, "reclaim_threads", s.reclaim_threads);
  std::uint64_t most = 0;
  for (auto n : s.pages_cached_per_cpu) most = std::max<std::uint64_t>(most, n);
  put(r, "pages_cached_max_cpu", most);
}

template <rcufree_variant V>
struct rcufree_mech {
  struct tls {
    std::size_t since_reclaim = 0;  // local: calls since this thread's last reclaim_local()
  };
  static rcufree::config make_config(const run_options& o) {
    rcufree::config c = make_engine_config(o.cfg);
    if (V == rcufree_variant::mightsleep && o.cfg.sleepable < 0) c.sleepable_callers_reclaim = true;
    return c;
  }
  explicit rcufree_mech(const run_options& o)
      : eng(make_config(o)),
        base(shrink_first(eng, o)),
        destroyed0(counted_object::destroyed.sum()),
        every(o.cfg.every >= 0 ? static_cast<std::size_t>(o.cfg.every) : o.local_every) {}
  // "shrink=1": the flood starts right after a shrink(), as after a memory-pressure event (the
  // refill back-off then decides whether page caches are refilled during the flood).
  static rcufree::stats shrink_first(rcufree::engine& e, const run_options& o) {
    if (o.cfg.shrink > 0) e.shrink();
    return e.snapshot();
  }

  void* make(std::size_t size) {
    if constexpr (V == rcufree_variant::counted_delete) {
      (void)size;
      return new counted_object;
    } else {
      return std::malloc(size);
    }
  }
  void thread_begin(tls&) {}
  void retire(tls& t, void* p) {
    if constexpr (V == rcufree_variant::mightsleep) {
      eng.kvfree_rcu_mightsleep(p);
    } else if constexpr (V == rcufree_variant::counted_delete) {
      eng.delete_rcu(static_cast<counted_object*>(p), &counted_object::head);
    } else {
      eng.kfree_rcu(static_cast<rcu_object*>(p), &rcu_object::head);
      if constexpr (V == rcufree_variant::local) {
        if (++t.since_reclaim == every) {
          t.since_reclaim = 0;
          eng.reclaim_local();
        }
      }
    }
  }
  // local: what this CPU handed over since the last reclaim is freed here too, as a thread that
  // finishes its burst would do; the open block is left for the final barrier.
  void thread_end(tls&) {
    if constexpr (V == rcufree_variant::local) {
      if (every != 0) eng.reclaim_local();
    }
  }
  void finish() { eng.barrier(); }
  void thread_teardown(tls&) {}
  std::uint64_t freed() const {
    if constexpr (V == rcufree_variant::counted_delete) {
      return counted_object::destroyed.sum() - destroyed0;
    } else {
      return eng.snapshot().freed - base.freed;
    }
  }
  bool sample(std::uint64_t& pending, std::uint64_t& pages) {
    const rcufree::stats s = eng.snapshot();
    pending = s.pending;
    pages = s.pages_in_use;
    return true;
  }
  void report(record& r, std::uint64_t gp) const {
    put(r, "gp", gp);
    put_engine_stats(r, eng.snapshot(), base);
  }

  rcufree::engine eng;
  rcufree::stats base;
  std::uint64_t destroyed0;
  std::size_t every;  // local: 0 never calls reclaim_local()
};

// The seeds' test exactly: the C API on the process-wide default engine (default config),
// rcufree_kfree_rcu(obj, &obj->head) and rcufree_barrier(). Engine config overrides cannot apply
// (the default engine is built at load time); placement keys (pcpu, wcpu) do.
struct rcufree_c_mech : malloc_objects {
  struct tls {};
  explicit rcufree_c_mech(const run_options& o) : base(rcufree::default_engine().snapshot()) {
    if (o.cfg.config_any() || o.cfg.every >= 0 || o.cfg.shrink >= 0) {
      std::fprintf(stderr,
                   "bench: rcufree_c runs the default engine; config overrides do not "
                   "apply\n");
      std::exit(2);
    }
  }
  void thread_begin(tls&) {}
  void retire(tls&, void* p) { rcufree_kfree_rcu(p, &static_cast<rcu_object*>(p)->head); }
  void thread_end(tls&) {}
  void finish() { rcufree_barrier(); }
  void thread_teardown(tls&) {}
  std::uint64_t freed() const { return rcufree::default_engine().snapshot().freed - base.freed; }
  bool sample(std::uint64_t& pending, std::uint64_t& pages) {
    const rcufree::stats s = rcufree::default_engine().snapshot();
    pending = s.pending;
    pages = s.pages_in_use;
    return true;
  }
  void report(record& r, std::uint64_t gp) const {
    put(r, "gp", gp);
    put_engine_stats(r, rcufree::default_engine().snapshot(), base);
  }
  rcufree::stats base;
};

// liburcu call_rcu: on the default call_rcu worker, or (PerCpu, an experiment) on one worker per
// CPU pinned there (create_all_cpu_call_rcu_data), so that frees run on the CPU that queued the
// objects. rcu_barrier at the end.
template <bool PerCpu>
struct call_rcu_mech : malloc_objects {
  struct tls {};
  static inline sharded_counter queued_, freed_;
  static void free_cb(rcu_head* h) {
    std::free(h);
    freed_.add(1);
  }
  explicit call_rcu_mech(const run_options& o) : reg(o.cfg.reg != 0) {
    if (reg) urcu_memb_register_thread();
    if (PerCpu && urcu_memb_create_all_cpu_call_rcu_data(0) != 0) {
      std::fprintf(stderr, "bench: create_all_cpu_call_rcu_data failed\n");
      std::exit(2);
    }
    // The first call_rcu allocates and starts the default worker: do it before timing.
    urcu_memb_call_rcu(static_cast<rcu_head*>(std::malloc(sizeof(rcu_head))), free_cb);
    urcu_memb_barrier();
    freed0_ = freed_.sum();
  }
  ~call_rcu_mech() {
    if (reg) urcu_memb_unregister_thread();
  }
  void thread_begin(tls&) {
    if (reg) urcu_memb_register_thread();
  }
  void retire(tls&, void* p) {
    queued_.add(1);
    urcu_memb_call_rcu(static_cast<rcu_head*>(p), free_cb);
  }
  void thread_end(tls&) {}
  void finish() { urcu_memb_barrier(); }
  void thread_teardown(tls&) {
    if (reg) urcu_memb_unregister_thread();
  }
  std::uint64_t freed() const { return freed_.sum() - freed0_; }
  bool sample(std::uint64_t& pending, std::uint64_t& pages) {
    const std::uint64_t f = freed_.sum() - freed0_;  // read first: pending is never negative
    const std::uint64_t q = queued_.sum();
    pending = q > f ? q - f : 0;
    pages = 0;
    return true;
  }
  void report(record& r, std::uint64_t gp) const {
    put(r, "gp", gp);
    put(r, "registered", reg ? 1 : 0);
  }
  bool reg;  // reg=0: no thread registers with liburcu
  std::uint64_t freed0_ = 0;
};

// liburcu defer_rcu: a per-thread ring; a full ring makes the caller synchronize and free.
struct defer_rcu_mech : malloc_objects {
  struct tls {};
  static inline sharded_counter freed_;
  static void free_fn(void* p) {
    std::free(p);
    freed_.add(1);
  }
  explicit defer_rcu_mech(const run_options&) : freed0_(freed_.sum()) {}
  void thread_begin(tls&) {
    urcu_memb_register_thread();
    urcu_memb_defer_register_thread();
  }
  void retire(tls&, void* p) { urcu_memb_defer_rcu(free_fn, p); }
  void thread_end(tls&) { urcu_memb_defer_barrier_thread(); }
  void finish() {}
  // Untimed: the last unregistration joins liburcu's defer thread, which sleeps up to 100 ms.
  void thread_teardown(tls&) {
    urcu_memb_defer_unregister_thread();
    urcu_memb_unregister_thread();
  }
  std::uint64_t freed() const { return freed_.sum() - freed0_; }
  bool sample(std::uint64_t&, std::uint64_t&) { return false; }
  void report(record& r, std::uint64_t gp) const { put(r, "gp", gp); }
  std::uint64_t freed0_;
};

// Concurrency Kit: ck_epoch_call, ck_epoch_poll every CK_PEER_POLL_EVERY calls, barrier at end.
struct ck_epoch_mech : malloc_objects {
  struct tls {
    ck_peer_thread* t = nullptr;
  };
  explicit ck_epoch_mech(const run_options&) { ck_peer_init(); }
  void thread_begin(tls& s) { s.t = ck_peer_register(); }
  void retire(tls& s, void* p) { ck_peer_retire(s.t, p); }
  void thread_end(tls& s) {
    freed_.fetch_add(ck_peer_finish(s.t), std::memory_order_relaxed);  // relaxed: read after join
    gps_.fetch_add(ck_peer_grace_periods(s.t), std::memory_order_relaxed);  // relaxed: likewise
  }
  void finish() {}
  void thread_teardown(tls& s) { ck_peer_unregister(s.t); }
  std::uint64_t freed() const {
    return freed_.load(std::memory_order_relaxed);  // relaxed: read after join
  }
  bool sample(std::uint64_t&, std::uint64_t&) { return false; }
  void report(record& r, std::uint64_t) const {
    put(r, "gp", gps_.load(std::memory_order_relaxed));  // relaxed: read after join
  }
  std::atomic<std::uint64_t> freed_{0};
  std::atomic<std::uint64_t> gps_{0};
};

// The simplest batch: 512 pointers per thread; when full, synchronize_rcu and free them inline.
struct array512_mech : malloc_objects {
  static constexpr unsigned kBatch = 512;
  struct tls {
    void* batch[kBatch];
    unsigned n = 0;
    std::uint64_t freed = 0;
  };
  explicit array512_mech(const run_options&) {}
  static void flush(tls& t) {
    urcu_memb_synchronize_rcu();
    for (unsigned i = 0; i < t.n; ++i) std::free(t.batch[i]);
    t.freed += t.n;
    t.n = 0;
  }
  void thread_begin(tls&) {}
  void retire(tls& t, void* p) {
    t.batch[t.n++] = p;
    if (t.n == kBatch) flush(t);
  }
  void thread_end(tls& t) {
    if (t.n != 0) flush(t);
    freed_.fetch_add(t.freed, std::memory_order_relaxed);  // relaxed: read after join
  }
  void finish() {}
  void thread_teardown(tls&) {}
  std::uint64_t freed() const {
    return freed_.load(std::memory_order_relaxed);  // relaxed: read after join
  }
  bool sample(std::uint64_t&, std::uint64_t&) { return false; }
  void report(record& r, std::uint64_t gp) const { put(r, "gp", gp); }
  std::atomic<std::uint64_t> freed_{0};
};

}  // namespace bench
