// SPDX-License-Identifier: MIT
// rcufree/stats_sampler.hpp — write an engine's statistics to a CSV file periodically.
//
// For plotting a flood's footprint or watching a service:
//
//   rcufree::stats_sampler rec(eng, "/tmp/rcufree.csv", std::chrono::milliseconds(10));
//   ... run the workload ...
//   // destructor writes a last row and closes the file
//
// Columns: t_us (since the sampler started), then stats::csv_header(). Runs one thread that
// takes a snapshot per period; never touches the engine's atomic path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <rcufree/engine.hpp>
#include <string>
#include <thread>

namespace rcufree {

class RCUFREE_API stats_sampler {
 public:
  // Sleepable context. Throws std::system_error if the file cannot be opened. The sampler keeps a
  // reference to `eng`: it must outlive the sampler and not be moved while the sampler lives.
  stats_sampler(const engine& eng, const std::string& path, std::chrono::microseconds period);
  ~stats_sampler();  // writes a final row, joins the thread, closes the file
  stats_sampler(const stats_sampler&) = delete;
  stats_sampler& operator=(const stats_sampler&) = delete;

 private:
  const engine& eng_;
  std::FILE* out_;
  std::chrono::microseconds period_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace rcufree
