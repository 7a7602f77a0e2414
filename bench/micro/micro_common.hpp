// SPDX-License-Identifier: MIT
// micro_common.hpp — helpers shared by the micro-benchmarks: pre-allocated object batches, so
// that the timed loop holds only the call under test (malloc runs while the timer is paused).
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>
#include <vector>

namespace bench {

struct micro_object {  // 64 bytes, the 16-byte link at offset 0 (as in the harness)
  void* link[2];
  char payload[48];
};

// Hands out pre-malloc()ed objects; refill() (timer paused by the caller) allocates the next batch
// after running `drain` (a barrier), so that every batch starts from the same state.
class batch {
 public:
  explicit batch(std::size_t n) : objs_(n), next_(n) {}
  ~batch() {
    for (std::size_t i = next_; i < objs_.size(); ++i) std::free(objs_[i]);
  }
  template <class Drain>
  micro_object* take(benchmark::State& state, Drain&& drain) {
    if (next_ == objs_.size()) {
      state.PauseTiming();
      drain();
      for (auto& o : objs_) o = static_cast<micro_object*>(std::malloc(sizeof(micro_object)));
      next_ = 0;
      state.ResumeTiming();
    }
    return objs_[next_++];
  }

 private:
  std::vector<micro_object*> objs_;
  std::size_t next_;
};

}  // namespace bench
