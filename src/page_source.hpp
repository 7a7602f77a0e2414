// SPDX-License-Identifier: MIT
// page_source.hpp — where an engine's pages come from and go back to: config::allocate_page and
// release_page when set (a throwing allocator counts as a failed allocation), else
// aligned_alloc(page_size) and free. Counted for the statistics.
//
// Sleepable callers only (reclaimers refilling or trimming pools, head-less callers, teardown):
// the atomic path never allocates a page, it takes one from its CPU's pool (page_pool.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <rcufree/config.hpp>

#include "counter.hpp"

namespace rcufree::detail {

class page_source {
 public:
  explicit page_source(const config& cfg) noexcept : cfg_(cfg) {}

  // A page of cfg.page_size bytes, aligned to it; nullptr when none can be had.
  void* allocate() noexcept {
    void* page = nullptr;
    if (cfg_.allocate_page) {
      try {
        page = cfg_.allocate_page(cfg_.page_size);
      } catch (...) {
        page = nullptr;
      }
    } else {
      page = std::aligned_alloc(cfg_.page_size, cfg_.page_size);
    }
    (page != nullptr ? allocs_ : failures_).add();
    return page;
  }
  void release(void* page) noexcept {
    if (cfg_.release_page) {
      cfg_.release_page(page, cfg_.page_size);
    } else {
      std::free(page);
    }
  }

  std::uint64_t allocs() const noexcept { return allocs_.get(); }
  std::uint64_t failures() const noexcept { return failures_.get(); }

 private:
  const config& cfg_;
  stat_counter allocs_;
  stat_counter failures_;
};

}  // namespace rcufree::detail
