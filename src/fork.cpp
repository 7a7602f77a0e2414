// fork.cpp — engines across fork(): nothing lost in the parent, a working engine in the child.
//
// Like liburcu's call_rcu_before_fork()/after_fork_parent()/after_fork_child(), but registered
// with pthread_atfork() so that applications need not call anything:
//   prepare: every engine's worker parks between passes (it holds no slot and runs no grace
//            period), and its mutexes are held so that no thread is inside them at the fork;
//   parent:  unlock and resume;
//   child:   only the forking thread exists. Mutexes and condition variables are rebuilt fresh,
//            busy flags that other (now absent) threads held are cleared, and a new worker is
//            started; objects queued before the fork are freed by the child's copy of the engine
//            (the parent frees its own), as liburcu's child inherits pending call_rcu callbacks.
// Limit: an object another thread was pushing at the very instant of fork() may not be reached
// by the child (its link never completes there); the child's copy of it is then not freed.
#include "engine_core.hpp"
#include "pressure.hpp"

#include <pthread.h>

#include <mutex>
#include <new>

namespace rcufree::detail {
namespace {

std::mutex g_registry_mu;
engine_core* g_registry = nullptr;
std::once_flag g_atfork_once;

void prepare_all() {
  g_registry_mu.lock();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->prepare_fork();
}
void parent_all() {
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->parent_after_fork();
  g_registry_mu.unlock();
}
void child_all() {
  new (&g_registry_mu) std::mutex();
  for (engine_core* e = g_registry; e != nullptr; e = e->fork_next) e->child_after_fork();
}

}  // namespace

void register_engine(engine_core* e) {
  std::call_once(g_atfork_once, [] { pthread_atfork(prepare_all, parent_all, child_all); });
  std::lock_guard<std::mutex> lock(g_registry_mu);
  e->fork_next = g_registry;
  if (g_registry != nullptr) g_registry->fork_prev = e;
  g_registry = e;
}

void unregister_engine(engine_core* e) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (e->fork_prev != nullptr) e->fork_prev->fork_next = e->fork_next;
  if (e->fork_next != nullptr) e->fork_next->fork_prev = e->fork_prev;
  if (g_registry == e) g_registry = e->fork_next;
}

void engine_core::prepare_fork() {
  std::unique_lock<std::mutex> lock(mu_);
  if (worker_.joinable()) {
    paused_ = true;
    wake_cv_.notify_one();
    done_cv_.wait(lock, [this] { return parked_; });
  }
  lock.release();  // mu_ stays held across fork()
  gp.lock_for_fork();
}

void engine_core::parent_after_fork() {
  gp.unlock_after_fork();
  paused_ = false;
  mu_.unlock();
  wake_cv_.notify_one();
}

void engine_core::child_after_fork() {
  gp.reset_in_child();
  new (&mu_) std::mutex();
  new (&inline_mu_) std::mutex();
  new (&wake_cv_) std::condition_variable();
  new (&done_cv_) std::condition_variable();
  paused_ = parked_ = false;
  for (std::size_t i = 0; i < slot_count; ++i) {
    // relaxed: single-threaded here; the new worker is started (a synchronizing operation) after.
    slots[i].busy.store(false, std::memory_order_relaxed);
  }
  caller_reclaimers.store(0, std::memory_order_relaxed);
  const bool had_worker = worker_.joinable();
  new (&worker_) std::thread();  // the parent's worker does not exist here; forget its handle
  if (had_worker) start_worker();
  if (pressure_) {
    (void)pressure_.release();  // its thread does not exist here: leak the handle, start anew
    pressure_ = std::make_unique<pressure_watch>(*this);
  }
}

}  // namespace rcufree::detail
