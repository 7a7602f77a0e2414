// SPDX-License-Identifier: MIT
// wait_free_stack.hpp — an intrusive stack with a wait-free push and a take-everything pop.
//
// Used for the lists that atomic callers hand to the reclaimers: closed blocks and fallback
// objects. push() is one exchange and two stores, whatever other threads do (a thread preempted
// between them delays no other pusher). The price is paid by the consumer: a node taken while its
// pusher is between the exchange and the link store still shows link_pending, and the consumer
// (always a sleepable thread) waits for the link, or leaves the rest of the chain for later. That
// is how a signal handler may push while the thread it interrupted is itself in the middle of a
// push.
#pragma once

#include <atomic>
#include <cstdint>

namespace rcufree::detail {

// Link must provide:
//   static void store(Node*, Node* value, std::memory_order);
//   static Node* load(Node*, std::memory_order);
template <class Node, class Link>
class wait_free_stack {
 public:
  static Node* link_pending() noexcept { return reinterpret_cast<Node*>(std::uintptr_t{1}); }

  // Wait-free; never allocates, no system call.
  void push(Node* n) noexcept { link(n, publish(n)); }

  // The two steps of push, apart so that tests can stop a pusher between them (as a preempted,
  // stopped or forked-away thread would be).
  Node* publish(Node* n) noexcept {
    // relaxed: made visible by the release exchange (S1) below.
    Link::store(n, link_pending(), std::memory_order_relaxed);
    // (S1) release: publishes n and everything written before the push (the object's unlink, a
    // block's records); pairs with (S3). Being an RMW, it also continues the release sequence of
    // the previous top's pusher, so (S3) synchronizes with every pusher down the chain.
    return top_.exchange(n, std::memory_order_release);
  }
  static void link(Node* n, Node* prev) noexcept {
    // (S2) release: completes the link; pairs with (S4).
    Link::store(n, prev, std::memory_order_release);
  }

  // Takes the whole stack (newest first). Wait-free. Any thread.
  Node* take_all() noexcept {
    // relaxed pre-check: skips the write (and the cache-line transfer) when empty.
    if (top_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    // (S3) acquire: pairs with (S1).
    return top_.exchange(nullptr, std::memory_order_acquire);
  }

  // Next node of a taken chain, or link_pending() while its pusher has not stored the link (it
  // is between its two steps). Never waits: the consumer decides how long to (reclaimer.cpp).
  // A node whose link is pending must not be reused: its pusher will still write the link.
  static Node* try_next(Node* n) noexcept {
    // (S4) acquire: pairs with (S2).
    return Link::load(n, std::memory_order_acquire);
  }
  // In a fork child, single-threaded, on a taken chain: ends it at its first link that was never
  // stored (its pusher is not in this process; the node there is whole, only its link is
  // missing). Returns the chain's last node, or nullptr for an empty chain.
  static Node* cut_at_missing_link(Node* chain) noexcept {
    Node* last = nullptr;
    for (Node* n = chain; n != nullptr;) {
      last = n;
      Node* next = try_next(n);
      if (next == link_pending()) {
        Link::store(n, nullptr, std::memory_order_relaxed);  // relaxed: no other thread exists
        break;
      }
      n = next;
    }
    return last;
  }
  // In a fork child, single-threaded, after take_all(): makes a fully linked chain the stack's
  // content again.
  void restore_in_child(Node* chain) noexcept {
    top_.store(chain, std::memory_order_relaxed);  // relaxed: no other thread exists here
  }

  bool empty() const noexcept {
    // relaxed: a hint for the worker's polling; a stale answer only delays it by a tick.
    return top_.load(std::memory_order_relaxed) == nullptr;
  }

 private:
  std::atomic<Node*> top_{nullptr};
};

}  // namespace rcufree::detail
