// SPDX-License-Identifier: MIT
// page_source.hpp — where an engine's pages come from and go back to: config::allocate_page and
// release_page when set (a throwing allocator counts as a failed allocation); else the engine's
// page arena (page_arena.hpp: 2 MiB chunks of its own, apart from the objects' heap) for pages of
// up to 64 KiB; else aligned_alloc(page_size) and free. Counted for the statistics; a page the
// arena could not hand out because a thread stopped inside its lock counts as a failure.
//
// Sleepable callers only (reclaimers refilling or trimming pools, head-less callers, teardown):
// the atomic path never allocates a page, it takes one from its CPU's pool (page_pool.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <rcufree/config.hpp>

#include "counter.hpp"
#include "page_arena.hpp"

namespace rcufree::detail {

class page_source {
 public:
  explicit page_source(const config& cfg)
      : cfg_(cfg),
        arena_(!cfg.allocate_page && cfg.page_size <= page_arena::kMaxPageBytes
                   ? std::make_unique<page_arena>(cfg.page_size)
                   : nullptr) {}

  // A page of cfg.page_size bytes, aligned to it; nullptr when none can be had. The arena's lock
  // is waited for as `k` allows (for CPU `cpu`'s pool, in what patience says on stderr); on a
  // failure `k` becomes none, so that the caller's later steps do not wait again.
  void* allocate(patience::kind& k, std::size_t cpu) noexcept {
    void* page = nullptr;
    if (cfg_.allocate_page) {
      try {
        page = cfg_.allocate_page(cfg_.page_size);
      } catch (...) {
        page = nullptr;
      }
    } else if (arena_) {
      patience wait(k, cpu, "the page arena's lock");
      page = arena_->allocate(wait);
    } else {
      page = std::aligned_alloc(cfg_.page_size, cfg_.page_size);
    }
    (page != nullptr ? allocs_ : failures_).add();
    if (page == nullptr) k = patience::kind::none;
    return page;
  }
  void release(void* page) noexcept {
    if (cfg_.release_page) {
      cfg_.release_page(page, cfg_.page_size);
    } else if (arena_) {
      arena_->release(page);
    } else {
      std::free(page);
    }
  }
  // Sleepable: gives the arena's chunks with no page in use back to the system (shrink()).
  void trim() noexcept {
    if (arena_) arena_->trim();
  }
  page_arena* arena() noexcept { return arena_.get(); }  // null with a hook or large pages

  std::uint64_t allocs() const noexcept { return allocs_.get(); }
  std::uint64_t failures() const noexcept { return failures_.get(); }

 private:
  const config& cfg_;
  const std::unique_ptr<page_arena> arena_;
  stat_counter allocs_;
  stat_counter failures_;
};

}  // namespace rcufree::detail
