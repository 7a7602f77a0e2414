// SPDX-License-Identifier: MIT
// config.cpp — validating a config before anything is built.
#include <rcufree/config.hpp>
#include <stdexcept>
#include <string>

#include "block.hpp"

namespace rcufree {
namespace {
[[noreturn]] void reject(const char* field, const std::string& why) {
  throw std::invalid_argument(std::string("rcufree::config::") + field + ": " + why);
}
}  // namespace

void config::validate() const {
  if (page_size == 0 || (page_size & (page_size - 1)) != 0) {
    reject("page_size", "must be a power of two, got " + std::to_string(page_size));
  }
  if (page_size < 256) {
    reject("page_size", "must be at least 256 bytes (a 40-byte block header plus pointers), got " +
                            std::to_string(page_size));
  }
  if (page_size > (std::size_t{1} << 24)) {
    reject("page_size", "must be at most 16 MiB, got " + std::to_string(page_size));
  }
  if (cached_pages_per_cpu > 65535) {
    reject("cached_pages_per_cpu",
           "must be at most 65535, got " + std::to_string(cached_pages_per_cpu));
  }
  if (drain_interval.count() <= 0) {
    reject("drain_interval",
           "must be positive, got " + std::to_string(drain_interval.count()) + " ms");
  }
  if (drain_interval > std::chrono::hours(24)) {
    reject("drain_interval", "must be at most 24 hours");
  }
  if (worker_tick.count() <= 0 || worker_tick > drain_interval) {
    reject("worker_tick", "must be positive and at most drain_interval, got " +
                              std::to_string(worker_tick.count()) + " us");
  }
  if (reclaim_threads != reclaim_mode::per_cpu && reclaim_threads != reclaim_mode::single) {
    reject("reclaim_threads", "must be reclaim_mode::per_cpu or reclaim_mode::single, got " +
                                  std::to_string(static_cast<int>(reclaim_threads)));
  }
  if (pending_soft_cap_bytes == 0) reject("pending_soft_cap_bytes", "must be positive");
  if (assumed_object_bytes == 0) reject("assumed_object_bytes", "must be positive");
  if (static_cast<bool>(allocate_page) != static_cast<bool>(release_page)) {
    reject(allocate_page ? "release_page" : "allocate_page",
           "allocate_page and release_page must be set together (pages from a custom allocator "
           "must go back to it)");
  }
}

}  // namespace rcufree
