// wait_free_stack.hpp — an intrusive stack with a wait-free push and a take-everything pop.
//
// Used for the lists that atomic callers hand to the worker: closed blocks and fallback objects.
// push() is one exchange and two stores, whatever other threads do (a thread preempted between
// them delays no other pusher). The price is paid by the consumer: a node taken while its pusher is
// between the exchange and the link store still shows link_pending, and the consumer (always a
// sleepable thread) waits for the link. That is how a signal handler may push while the thread it
// interrupted is itself in the middle of a push.
#pragma once

#include <atomic>
#include <cstdint>
#include <sched.h>

namespace rcufree::detail {

// Link must provide:
//   static void store(Node*, Node* value, std::memory_order);
//   static Node* load(Node*, std::memory_order);
template <class Node, class Link>
class wait_free_stack {
 public:
  static Node* link_pending() noexcept { return reinterpret_cast<Node*>(std::uintptr_t{1}); }

  // Wait-free; never allocates, no system call.
  void push(Node* n) noexcept {
    // relaxed: made visible by the release exchange (S1) below.
    Link::store(n, link_pending(), std::memory_order_relaxed);
    // (S1) release: publishes n and everything written before the push (the object's unlink, a
    // block's records); pairs with (S3). Being an RMW, it also continues the release sequence of
    // the previous top's pusher, so (S3) synchronizes with every pusher down the chain.
    Node* prev = top_.exchange(n, std::memory_order_release);
    // (S2) release: completes the link; pairs with (S4).
    Link::store(n, prev, std::memory_order_release);
  }

  // Takes the whole stack (newest first). Wait-free. Any thread.
  Node* take_all() noexcept {
    // relaxed pre-check: skips the write (and the cache-line transfer) when empty.
    if (top_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    // (S3) acquire: pairs with (S1). release: a consumer's earlier writes (a reclaiming caller's
    // registration) are visible to whoever next reads top_ with acquire, even a relaxed reader
    // followed by an acquire fence (the worker's flush, (R3) in worker.cpp).
    return top_.exchange(nullptr, std::memory_order_acq_rel);
  }

  // Next node of a taken chain. May wait for a pusher that has not stored its link yet: only for
  // sleepable consumers.
  static Node* next(Node* n) noexcept {
    for (unsigned spins = 0;; ++spins) {
      // (S4) acquire: pairs with (S2).
      Node* nx = Link::load(n, std::memory_order_acquire);
      if (nx != link_pending()) return nx;
      if (spins > 64) sched_yield();
    }
  }

  bool empty() const noexcept {
    // relaxed: a hint for the worker's polling; a stale answer only delays it by a tick.
    return top_.load(std::memory_order_relaxed) == nullptr;
  }

 private:
  std::atomic<Node*> top_{nullptr};
};

}  // namespace rcufree::detail
