// SPDX-License-Identifier: MIT
// latency.hpp — the harness's cheap clock (the TSC) and a fixed-size latency histogram.
//
// Each producer thread owns one histogram, allocated and touched before the flood starts so that
// recording never allocates and does not move the RSS figures. Values are TSC ticks; the parent
// converts them to nanoseconds with the TSC frequency it calibrated once against CLOCK_MONOTONIC.
#pragma once

#include <x86intrin.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

// Not serializing on purpose: lfence/rdtscp would double the timer's own cost. Its overhead (two
// back-to-back reads) is measured per thread and subtracted; see docs/PERFORMANCE.md.
inline std::uint64_t ticks() noexcept {
  return __rdtsc();
}

// Log-linear: exact below 2048 ticks, then 128 sub-buckets per power of two (< 0.8 % error).
class histogram {
 public:
  static constexpr unsigned kLinearBits = 11;
  static constexpr unsigned kSubBits = 7;
  static constexpr std::uint64_t kLinear = std::uint64_t{1} << kLinearBits;
  static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = kLinear + (64 - kLinearBits) * kSub;

  histogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++n_;
    if (v > max_) max_ = v;
  }

  void merge(const histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    if (o.max_ > max_) max_ = o.max_;
  }

  // Smallest bucket bound b such that at least q of the samples are <= b (q in [0, 1]).
  std::uint64_t quantile(double q) const noexcept {
    if (n_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(q * static_cast<double>(n_) + 0.5);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want && seen > 0) return upper(i) < max_ ? upper(i) : max_;
    }
    return max_;
  }

  // Samples strictly above v.
  std::uint64_t count_above(std::uint64_t v) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = index(v) + 1; i < kBuckets; ++i) n += counts_[i];
    return n;
  }

  std::uint64_t count() const noexcept { return n_; }
  // Mean of the samples below kLinear ticks (exact buckets): unlike percentiles it is not
  // quantized by the TSC's 10 ns steps (see docs/PERFORMANCE.md), and unlike the plain mean it
  // is not dominated by the rare preempted calls.
  double mean_below_linear() const noexcept {
    double sum = 0, n = 0;
    for (std::uint64_t i = 0; i < kLinear; ++i) {
      sum += static_cast<double>(counts_[i]) * static_cast<double>(i);
      n += static_cast<double>(counts_[i]);
    }
    return n > 0 ? sum / n : 0;
  }
  std::uint64_t max() const noexcept { return max_; }

  static std::size_t index(std::uint64_t v) noexcept {
    if (v < kLinear) return static_cast<std::size_t>(v);
    const unsigned e = 63u - static_cast<unsigned>(__builtin_clzll(v));  // e >= kLinearBits
    return static_cast<std::size_t>(kLinear + (e - kLinearBits) * kSub +
                                    ((v >> (e - kSubBits)) & (kSub - 1)));
  }
  // Largest value that maps to bucket i.
  static std::uint64_t upper(std::size_t i) noexcept {
    if (i < kLinear) return i;
    const std::size_t j = i - kLinear;
    const unsigned e = static_cast<unsigned>(j / kSub) + kLinearBits;
    const std::uint64_t sub = j % kSub;
    const std::uint64_t lo = (std::uint64_t{1} << e) | (sub << (e - kSubBits));
    return lo + (std::uint64_t{1} << (e - kSubBits)) - 1;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t n_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench
