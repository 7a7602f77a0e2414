// SPDX-License-Identifier: MIT
// peer_micro.cpp — the peers' enqueue calls under the same batching as micro_bench.cpp, for a
// call-for-call comparison: liburcu call_rcu and defer_rcu, Concurrency Kit ck_epoch_call (with a
// poll every 512 calls, as in the harness) and the 512-pointer array with inline
// synchronize_rcu + free (its grace period and frees are part of its cost per call).
#include <urcu/urcu-memb.h>  // first: maps call_rcu & co. to the memb flavor

#include <cstdlib>

#include "../harness/ck_peer.h"
#include "micro_common.hpp"

namespace {

using bench::batch;

void free_head(rcu_head* h) {
  std::free(h);
}
void free_ptr(void* p) {
  std::free(p);
}

// rcu_barrier() takes ~10-20 ms here (the default worker sleeps between batches), so this one
// drains every 100,000 calls, over a fixed 2,000,000 calls.
void BM_call_rcu(benchmark::State& state) {
  urcu_memb_register_thread();
  batch objs(100'000);
  for (auto _ : state) {
    auto* o = objs.take(state, [] { urcu_memb_barrier(); });
    urcu_memb_call_rcu(reinterpret_cast<rcu_head*>(o), free_head);
  }
  urcu_memb_barrier();
  urcu_memb_unregister_thread();
}
BENCHMARK(BM_call_rcu)->Iterations(2'000'000);

// Includes the caller's own synchronize_rcu + frees every 4,096 calls, amortized. Google
// Benchmark calls this several times on one thread, and liburcu 0.13 cannot register a thread's
// defer queue twice (an assertion on its stale last_head): register once per thread, and
// unregister when the thread exits (before liburcu's destructor checks that none is left).
struct defer_registration {
  bool ok;
  defer_registration() {
    urcu_memb_register_thread();
    ok = urcu_memb_defer_register_thread() == 0;
  }
  ~defer_registration() {
    if (ok) urcu_memb_defer_unregister_thread();
    urcu_memb_unregister_thread();
  }
};

void BM_defer_rcu(benchmark::State& state) {
  static thread_local const defer_registration registration;
  if (!registration.ok) {
    state.SkipWithError("rcu_defer_register_thread failed");
    return;
  }
  batch objs(2000);
  for (auto _ : state) urcu_memb_defer_rcu(free_ptr, objs.take(state, [] {}));
  urcu_memb_defer_barrier_thread();
}
BENCHMARK(BM_defer_rcu);

// Includes ck_epoch_poll every 512 calls and the frees it runs, amortized.
void BM_ck_epoch_call(benchmark::State& state) {
  static const bool initialized = (ck_peer_init(), true);
  static thread_local ck_peer_thread* const t = (void(initialized), ck_peer_register());
  batch objs(2000);
  for (auto _ : state) ck_peer_retire(t, objs.take(state, [] {}));
  ck_peer_finish(t);
}
BENCHMARK(BM_ck_epoch_call);

// Includes synchronize_rcu + 512 frees every 512 calls, amortized.
void BM_array512(benchmark::State& state) {
  void* arr[512];
  unsigned n = 0;
  batch objs(2000);
  for (auto _ : state) {
    arr[n++] = objs.take(state, [] {});
    if (n == 512) {
      urcu_memb_synchronize_rcu();
      for (unsigned i = 0; i < n; ++i) std::free(arr[i]);
      n = 0;
    }
  }
  urcu_memb_synchronize_rcu();
  for (unsigned i = 0; i < n; ++i) std::free(arr[i]);
}
BENCHMARK(BM_array512);

}  // namespace
