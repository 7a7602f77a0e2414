// engine.cpp — building and tearing down an engine; barrier, shrink, snapshot.
#include "engine_core.hpp"
#include "misuse.hpp"
#include "pressure.hpp"

#include <rcufree/atomic_scope.hpp>

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>

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
      gp(cfg.flavor != nullptr ? cfg.flavor : &urcu_memb_flavor),
      slot_count(possible_cpus()),
      slots(nullptr),
      epoch_(std::chrono::steady_clock::now()) {
  void* raw = ::operator new(sizeof(cpu_slot) * slot_count, std::align_val_t{alignof(cpu_slot)});
  slots = static_cast<cpu_slot*>(raw);
  for (std::size_t i = 0; i < slot_count; ++i) new (&slots[i]) cpu_slot(cfg.cached_pages_per_cpu);
#ifdef RCUFREE_DEBUG
  debug = std::make_unique<debug_registry>();
#endif
  fallback_chains_.reserve(slot_count);
  open_seen_.assign(slot_count, 0);
  fallback_since_.assign(slot_count, kNever);
  fallback_taken_.assign(slot_count, 0);
  refill_caches();  // every CPU starts with a full cache: the first calls need no worker
  start_worker();
  if (cfg.watch_memory_pressure) pressure_ = std::make_unique<pressure_watch>(*this);
  register_engine(this);
}

engine_core::~engine_core() {
  // relaxed: debug detection only.
  magic.store(0, std::memory_order_relaxed);
  unregister_engine(this);
  pressure_.reset();
  shutdown();
  for (std::size_t i = 0; i < slot_count; ++i) slots[i].~cpu_slot();
  ::operator delete(slots, std::align_val_t{alignof(cpu_slot)});
}

void engine_core::shutdown() {
  stop_worker();  // the worker's last passes free everything queued before this point
  std::lock_guard<std::mutex> lock(inline_mu_);
  // release: pairs with the acquire in the head-less path; from now on it frees inline.
  shut_down.store(true, std::memory_order_release);
  // Anything that raced in after the worker's last pass is freed here, on this thread.
  while (pending_objects() != 0 && worker_pass(true, false)) {
  }
  drop_caches();
}

void engine_core::flush_inline() {
  std::lock_guard<std::mutex> lock(inline_mu_);
  worker_pass(true, false);
  drop_caches();
}

void engine_core::start_worker() {
  stop_ = false;
  worker_ = std::thread([this] { worker_main(); });
  worker_id_ = worker_.get_id();
}

void engine_core::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_cv_.notify_one();
  if (worker_.joinable()) worker_.join();
  worker_id_ = {};
}

void engine_core::on_memory_pressure() {
  pressure_events.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  // release: pairs with the worker's acquire exchange.
  pressure_pending.store(true, std::memory_order_release);
  wake_worker();
}

bool engine_core::pressure_watch_armed() const noexcept {
  return pressure_ != nullptr && pressure_->armed();
}

void engine_core::wake_worker() {
  // relaxed: see wake_pending; skipping is safe because whoever set it notifies below.
  if (wake_pending.exchange(true, std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  wake_cv_.notify_one();
}

void engine_core::request_and_wait(std::atomic<std::uint64_t>& requested,
                                   std::atomic<std::uint64_t>& completed) {
  std::unique_lock<std::mutex> lock(mu_);
  // release: orders this thread's earlier calls (and everything they happen-after) before the
  // worker's acquire load of the request.
  const std::uint64_t target = requested.fetch_add(1, std::memory_order_release) + 1;
  wake_ = true;
  wake_cv_.notify_one();
  // acquire: pairs with the worker's release store of completed; the frees happened before.
  done_cv_.wait(lock, [&] { return completed.load(std::memory_order_acquire) >= target; });
}

void* engine_core::allocate_page() noexcept {
  void* page = nullptr;
  if (cfg.allocate_page) {
    try {
      page = cfg.allocate_page(cfg.page_size);
    } catch (...) {
      page = nullptr;  // a throwing allocator counts as a failed allocation
    }
  } else {
    page = std::aligned_alloc(cfg.page_size, cfg.page_size);
  }
  // relaxed: statistics.
  if (page != nullptr) {
    page_allocs.fetch_add(1, std::memory_order_relaxed);
  } else {
    page_alloc_failures.fetch_add(1, std::memory_order_relaxed);
  }
  return page;
}

void engine_core::release_page(void* page) noexcept {
  if (cfg.release_page) {
    cfg.release_page(page, cfg.page_size);
  } else {
    std::free(page);
  }
}

std::uint64_t engine_core::pending_objects() const noexcept {
  // Read freed first: every free follows its queueing, so queued read later is >= it.
  // relaxed: statistics.
  const std::uint64_t out = freed.load(std::memory_order_relaxed);
  std::uint64_t in = inline_frees.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < slot_count; ++i) {
    in += slots[i].queued.load(std::memory_order_relaxed) +
          slots[i].fallback_queued.load(std::memory_order_relaxed);
  }
  return in > out ? in - out : 0;
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

const config& engine::settings() const noexcept { return core_->cfg; }

namespace {
void require_sleepable(const detail::engine_core& core, const char* call) {
  const char* why = nullptr;
  if (in_atomic_scope()) {
    why = "inside an rcufree::atomic_scope; it waits for the worker and a grace period. Call it "
          "outside the scope.";
  } else if (core.gp.flavor()->read_ongoing()) {
    why = "inside an RCU read-side critical section; waiting for a grace period there would "
          "deadlock. Call it after rcu_read_unlock().";
  } else if (core.on_worker_thread()) {
    why = "from a deleter running on the engine's own worker; the worker cannot wait for itself.";
  }
  if (why == nullptr) return;
  char sentence[384];
  std::snprintf(sentence, sizeof sentence, "%s() called %s", call, why);
  RCUFREE_MISUSE(sentence);
}
}  // namespace

void engine::barrier() {
  require_sleepable(*core_, "barrier");
  // acquire: pairs with the release in shutdown(); no worker is left to ask.
  if (core_->shut_down.load(std::memory_order_acquire)) return core_->flush_inline();
  core_->request_and_wait(core_->flush_requested, core_->flush_completed);
}

void engine::shrink() {
  require_sleepable(*core_, "shrink");
  // acquire: pairs with the release in shutdown(); no worker is left to ask.
  if (core_->shut_down.load(std::memory_order_acquire)) return core_->flush_inline();
  core_->request_and_wait(core_->shrink_requested, core_->shrink_completed);
}

stats engine::snapshot() const {
  const detail::engine_core& c = *core_;
  stats st;
  // relaxed loads throughout: statistics. freed first, so that pending never goes negative.
  st.freed = c.freed.load(std::memory_order_relaxed);
  st.inline_frees = c.inline_frees.load(std::memory_order_relaxed);
  st.queued = st.inline_frees;
  st.pages_in_use_per_cpu.resize(c.slot_count);
  for (std::size_t i = 0; i < c.slot_count; ++i) {
    const detail::cpu_slot& s = c.slots[i];
    st.queued += s.queued.load(std::memory_order_relaxed) +
                 s.fallback_queued.load(std::memory_order_relaxed);
    st.fallback_objects += s.fallback_queued.load(std::memory_order_relaxed);
    st.slot_contended += s.contended.load(std::memory_order_relaxed);
    st.pages_cached += s.cache.size() + s.spare_count.load(std::memory_order_relaxed);
    const auto opened = s.blocks_opened.load(std::memory_order_relaxed);
    const auto retired = s.blocks_retired.load(std::memory_order_relaxed);
    st.pages_in_use_per_cpu[i] = opened > retired ? opened - retired : 0;
    st.pages_in_use += st.pages_in_use_per_cpu[i];
  }
  st.pending = st.queued > st.freed ? st.queued - st.freed : 0;
  st.page_allocs = c.page_allocs.load(std::memory_order_relaxed);
  st.page_alloc_failures = c.page_alloc_failures.load(std::memory_order_relaxed);
  st.grace_periods = c.gp.count();
  st.drains = c.drains.load(std::memory_order_relaxed);
  st.caller_reclaims = c.caller_reclaims.load(std::memory_order_relaxed);
  st.blocks_expired_on_arrival = c.expired_on_arrival.load(std::memory_order_relaxed);
  st.refill_attempts = c.refill_attempts.load(std::memory_order_relaxed);
  st.shrinks = c.shrinks.load(std::memory_order_relaxed);
  st.pressure_events = c.pressure_events.load(std::memory_order_relaxed);
  st.expedited_passes = c.expedited_passes.load(std::memory_order_relaxed);
  st.pressure_watch_armed = c.pressure_watch_armed() ? 1 : 0;
  st.oldest_pending_ms = c.oldest_pending_ms.load(std::memory_order_relaxed);
  st.gp_last_us = c.gp.last_us();
  st.gp_max_us = c.gp.max_us();
  return st;
}

}  // namespace rcufree
