// SPDX-License-Identifier: MIT
// stop_point.cpp — the test-build registry of armed stops (stop_point.hpp).
#include "stop_point.hpp"

#ifdef RCUFREE_STOP_POINTS

#include <unistd.h>

#include <thread>

namespace rcufree::detail::stop_points {
namespace {

struct point_text {
  const char* name;
  const char* who;
  const char* between;
};
constexpr point_text kText[] = {
#define RCUFREE_STOP_POINT_TEXT(n, w, b) {#n, w, b},
    RCUFREE_STOP_POINT_LIST(RCUFREE_STOP_POINT_TEXT)
#undef RCUFREE_STOP_POINT_TEXT
};
static_assert(sizeof kText / sizeof kText[0] == static_cast<std::size_t>(stop_point::count));

// A stop's word: its generation (bumped by every arm) above its state, so that a thread released
// from one arming never mistakes a later arming of the same stop for its own.
enum state : unsigned { idle = 0, armed = 1, stopped = 2 };
constexpr unsigned kStateBits = 2;
constexpr unsigned kStateMask = (1u << kStateBits) - 1;

struct stop {
  std::atomic<unsigned> word{idle};
  // Written by arm() before its release store of `word`; read after an acquire load of it.
  stop_point point = stop_point::count;
  stop_thread kind = stop_thread::caller;
  int tag = 0;
  pid_t pid = 0;
  std::atomic<int> skip{0};  // arrivals still to let by
};
stop g_stops[kMaxStops];
thread_local stop_thread t_kind = stop_thread::caller;
thread_local int t_tag = 0;
std::atomic<long> g_teardown_ms{2000};

}  // namespace

constinit std::atomic<int> g_armed{0};

const char* name(stop_point p) noexcept {
  return kText[static_cast<int>(p)].name;
}
const char* who(stop_point p) noexcept {
  return kText[static_cast<int>(p)].who;
}
const char* between(stop_point p) noexcept {
  return kText[static_cast<int>(p)].between;
}

void set_thread_kind(stop_thread k) noexcept {
  t_kind = k;
}

void set_thread_tag(int tag) noexcept {
  t_tag = tag;
}

int arm(stop_point p, stop_thread k, int tag, int skip) noexcept {
  for (int i = 0; i < kMaxStops; ++i) {
    stop& s = g_stops[i];
    // relaxed: arm() and release_all() run on the test's own thread.
    const unsigned w = s.word.load(std::memory_order_relaxed);
    if ((w & kStateMask) != idle) continue;
    s.point = p;
    s.kind = k;
    s.tag = tag;
    s.pid = getpid();
    s.skip.store(skip, std::memory_order_relaxed);  // relaxed: published by the store below
    // release: the fields above before the stop is seen armed; pairs with reached()'s acquire.
    s.word.store(((w >> kStateBits) + 1) << kStateBits | armed, std::memory_order_release);
    g_armed.fetch_add(1, std::memory_order_relaxed);  // relaxed: see RCUFREE_STOP_AT
    return i;
  }
  return -1;
}

void reached(stop_point p) noexcept {
  for (stop& s : g_stops) {
    // acquire: pairs with arm()'s release store; the fields below are its.
    unsigned w = s.word.load(std::memory_order_acquire);
    if ((w & kStateMask) != armed || s.point != p || s.kind != t_kind) continue;
    if (s.tag != 0 && s.tag != t_tag) continue;
    if (s.pid != getpid()) continue;  // armed by the parent of this fork child: not ours
    // relaxed: a count of arrivals; which of two racing threads is let by does not matter.
    if (s.skip.load(std::memory_order_relaxed) > 0 &&
        s.skip.fetch_sub(1, std::memory_order_relaxed) > 0)
      continue;
    const unsigned caught = (w & ~kStateMask) | stopped;
    // acq_rel: one thread wins the stop; pairs with release()'s exchange.
    if (!s.word.compare_exchange_strong(w, caught, std::memory_order_acq_rel)) continue;
    // acquire: pairs with release()'s exchange: what the test did meanwhile happens before.
    while (s.word.load(std::memory_order_acquire) == caught) s.word.wait(caught);
    return;
  }
}

bool wait_stopped(int i, std::chrono::milliseconds limit) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // acquire: the stopped thread's steps before its stop happen before the test goes on.
  while ((g_stops[i].word.load(std::memory_order_acquire) & kStateMask) != stopped) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

void release(int i) noexcept {
  stop& s = g_stops[i];
  unsigned w = s.word.load(std::memory_order_relaxed);
  if ((w & kStateMask) == idle) return;
  // acq_rel: what the test did while the thread was stopped happens before it goes on.
  w = s.word.exchange(w & ~kStateMask, std::memory_order_acq_rel);
  if ((w & kStateMask) != idle) g_armed.fetch_sub(1, std::memory_order_relaxed);
  s.word.notify_all();
}

void release_all() noexcept {
  for (int i = 0; i < kMaxStops; ++i) release(i);
}

std::chrono::milliseconds teardown_patience() noexcept {
  return std::chrono::milliseconds(g_teardown_ms.load(std::memory_order_relaxed));  // a setting
}
void set_teardown_patience(std::chrono::milliseconds ms) noexcept {
  g_teardown_ms.store(static_cast<long>(ms.count()), std::memory_order_relaxed);  // a setting
}

}  // namespace rcufree::detail::stop_points

#endif
