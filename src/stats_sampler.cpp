// SPDX-License-Identifier: MIT
// stats_sampler.cpp — periodic CSV rows of an engine's statistics.
#include <cerrno>
#include <rcufree/stats_sampler.hpp>
#include <system_error>

namespace rcufree {
namespace {

void write_row(std::FILE* out, const engine& eng, std::chrono::steady_clock::time_point start) {
  const auto t = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  std::fprintf(out, "%lld,%s\n", static_cast<long long>(t.count()),
               eng.snapshot().to_csv_row().c_str());
}

}  // namespace

stats_sampler::stats_sampler(const engine& eng, const std::string& path,
                             std::chrono::microseconds period)
    : eng_(eng),
      out_(std::fopen(path.c_str(), "w")),
      period_(period),
      start_(std::chrono::steady_clock::now()) {
  if (out_ == nullptr) {
    throw std::system_error(errno, std::generic_category(), "rcufree::stats_sampler: " + path);
  }
  std::fprintf(out_, "t_us,%s\n", stats::csv_header().c_str());
  thread_ = std::thread([this] {
    // relaxed: a stop request; the join orders everything else.
    while (!stop_.load(std::memory_order_relaxed)) {
      write_row(out_, eng_, start_);
      std::this_thread::sleep_for(period_);
    }
  });
}

stats_sampler::~stats_sampler() {
  stop_.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  thread_.join();
  write_row(out_, eng_, start_);
  std::fclose(out_);
}

}  // namespace rcufree
