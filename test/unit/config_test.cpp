// SPDX-License-Identifier: MIT
// A bad config is rejected at construction with the field's name; nothing is started.
#include <rcufree/rcufree.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

namespace {
void check_rejected(rcufree::config cfg, const char* field) {
  try {
    rcufree::engine eng(std::move(cfg));
    FAIL("engine accepted a config with a bad " << field);
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains(std::string("rcufree::config::") + field));
  }
}
}  // namespace

TEST_CASE("a page size that is zero and not a power of two or too small is rejected by name") {
  rcufree::config cfg;
  cfg.page_size = 0;
  check_rejected(cfg, "page_size");
  cfg.page_size = 3000;
  check_rejected(cfg, "page_size");
  cfg.page_size = 128;
  check_rejected(cfg, "page_size");
}

TEST_CASE("a zero drain interval or a tick longer than it is rejected by name") {
  rcufree::config cfg;
  cfg.drain_interval = 0ms;
  check_rejected(cfg, "drain_interval");
  cfg = {};
  cfg.worker_tick = 0us;
  check_rejected(cfg, "worker_tick");
  cfg = {};
  cfg.drain_interval = 1ms;
  cfg.worker_tick = 2ms;
  check_rejected(cfg, "worker_tick");
}

TEST_CASE("a zero soft cap and absurd cache size or half-set page allocator is rejected by name") {
  rcufree::config cfg;
  cfg.pending_soft_cap_bytes = 0;
  check_rejected(cfg, "pending_soft_cap_bytes");
  cfg = {};
  cfg.cached_pages_per_cpu = 1u << 20;
  check_rejected(cfg, "cached_pages_per_cpu");
  cfg = {};
  cfg.allocate_page = [](std::size_t n) { return std::malloc(n); };
  check_rejected(cfg, "release_page");
}

TEST_CASE("the default config is valid and builds an engine") {
  REQUIRE_NOTHROW(rcufree::config{}.validate());
  rcufree::engine eng;
  CHECK(eng.settings().page_size == 4096);
  CHECK(eng.snapshot().pages_cached > 0);
}
