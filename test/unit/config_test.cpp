// SPDX-License-Identifier: MIT
// A bad config is rejected at construction with the field's name. Every row of
// src/config_fields.hpp is checked against kExpected: its names, its default in C and C++, and
// its bounds through both APIs.
#include <rcufree/rcufree.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <iterator>
#include <optional>
#include <rcufree/rcufree.hpp>
#include <string>
#include <utility>

#include "config_fields.hpp"

using namespace std::chrono_literals;

namespace {

// What each field must be, written apart from the table so that the table is checked against it.
// Numbers are in the field's unit, which C and C++ share (drain_interval in ms, worker_tick in us);
// a reclaim_mode is its value, a null pointer or empty callback 0. lo and hi: the least and
// greatest values accepted while every other field keeps its default; none: no bound.
struct expected_field {
  const char* cxx;
  const char* c;
  long long default_value;
  std::optional<long long> lo, hi;
};
constexpr long long kNone = 0;  // default of a pointer or callback: null, empty
const expected_field kExpected[] = {
    {"flavor", "flavor", kNone, {}, {}},
    {"page_size", "page_size", 4096, 256, 1 << 24},
    {"cached_pages_per_cpu", "cached_pages_per_cpu", 128, 0, 65535},
    {"drain_interval", "drain_interval_ms", 20, 1, 24 * 3600 * 1000},
    {"worker_tick", "worker_tick_us", 1000, 1, 20 * 1000},  // at most the drain interval
    {"reclaim_threads", "reclaim_threads", RCUFREE_RECLAIM_PER_CPU, RCUFREE_RECLAIM_PER_CPU,
     RCUFREE_RECLAIM_SINGLE},
    {"pending_soft_cap_bytes", "pending_soft_cap_bytes", 8 << 20, 1, {}},
    {"assumed_object_bytes", "assumed_object_bytes", 64, 1, {}},
    {"sleepable_callers_reclaim", "sleepable_callers_reclaim", 0, 0, 1},
    {"realtime_reclaim", "realtime_reclaim", 0, 0, 1},
    {"watch_memory_pressure", "watch_memory_pressure", 0, 0, 1},
    {"refill_backoff_after_shrink", "refill_backoff_after_shrink_ms", 5000, 0, 24 * 3600 * 1000},
    {"allocate_page", "allocate_page", kNone, {}, {}},  // set together: the cases below
    {"release_page", "release_page", kNone, {}, {}},
    {"free_bulk", "free_bulk", kNone, {}, {}},
};

// Whether a field of type T holds a number: kExpected's bounds apply to those only.
template <class T>
constexpr bool is_number =
    rcufree::detail::is_duration<T> || std::is_enum_v<T> || std::is_arithmetic_v<T>;

// A field's value as a number of kExpected.
template <class T>
long long number(const T& v) {
  if constexpr (rcufree::detail::is_duration<T>) {
    return v.count();
  } else if constexpr (std::is_enum_v<T> || std::is_arithmetic_v<T>) {
    return static_cast<long long>(v);
  } else {
    return static_cast<bool>(v) ? 1 : 0;  // a pointer, a callback: set or not
  }
}

// n as a value of the field's type T, if T has one for it.
template <class T>
std::optional<T> value(long long n) {
  if constexpr (rcufree::detail::is_duration<T>) {
    return T(n);
  } else if constexpr (std::is_enum_v<T>) {
    if (const auto u = value<std::underlying_type_t<T>>(n)) return T(*u);
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (n == 0 || n == 1) return n == 1;
    return std::nullopt;
  } else {
    if (std::in_range<T>(n)) return static_cast<T>(n);
    return std::nullopt;
  }
}

// The C API refuses cfg with EINVAL and a message naming config->field.
void check_c_rejects(const rcufree_config& cfg, const char* field) {
  errno = 0;
  rcufree_engine* eng = rcufree_engine_new(&cfg);
  CHECK(eng == nullptr);
  CHECK(errno == EINVAL);
  CHECK_THAT(rcufree_last_error(),
             Catch::StartsWith(std::string("rcufree_engine_new: config->") + field + ": "));
  rcufree_engine_destroy(eng);
}

// `edge` is accepted in both APIs (and converts from C to the same C++ value); edge + step is
// refused naming the field in each API's spelling, where the C++ type can hold it (C's int holds
// 2, which a bool field reads as true) and, for C, the C type too.
template <class Row>
void check_bound(const Row& row, long long edge, long long step) {
  using Cxx = std::remove_cvref_t<decltype(rcufree::config{}.*row.cxx)>;
  using C = std::remove_cvref_t<decltype(rcufree_config{}.*row.c)>;
  INFO("edge " << edge << ", outside it " << edge + step);
  rcufree::config cfg;
  cfg.*row.cxx = *value<Cxx>(edge);
  CHECK_NOTHROW(cfg.validate());
  const bool outside_cxx = value<Cxx>(edge + step).has_value();
  if (outside_cxx) {
    cfg.*row.cxx = *value<Cxx>(edge + step);
    CHECK_THROWS_WITH(cfg.validate(),
                      Catch::StartsWith(std::string("rcufree::config::") + row.name.cxx + ": "));
  }
  rcufree_config c;
  rcufree_config_init(&c);
  c.*row.c = *value<C>(edge);
  rcufree::config converted;
  CHECK_FALSE(rcufree::detail::from_c(c, converted).has_value());
  CHECK(number(converted.*row.cxx) == edge);
  if (const auto outside = value<C>(edge + step); outside && outside_cxx) {
    c.*row.c = *outside;
    check_c_rejects(c, row.name.c);
  }
}

void check_rejected(rcufree::config cfg, const char* field) {
  try {
    rcufree::engine eng(std::move(cfg));
    FAIL("engine accepted a config with a bad " << field);
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains(std::string("rcufree::config::") + field));
  }
}
}  // namespace

// The bounds of each field are the walk's (below); these go through the engine's constructor.
TEST_CASE("the engine's constructor rejects a bad config naming the field") {
  rcufree::config cfg;
  cfg.page_size = 0;
  check_rejected(cfg, "page_size");
  cfg.page_size = 3000;
  check_rejected(cfg, "page_size");
  cfg = {};
  cfg.drain_interval = 1ms;  // the tick's bound follows the drain interval
  cfg.worker_tick = 2ms;
  check_rejected(cfg, "worker_tick");
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

TEST_CASE("every field of the table has its names, its default and its bounds in C and C++") {
  std::size_t rows = 0;
  rcufree::detail::for_each_config_field([&](const auto& row) {
    ++rows;
    INFO("field " << row.name.cxx);
    const auto* expected =
        std::find_if(std::begin(kExpected), std::end(kExpected),
                     [&](const auto& e) { return e.cxx == std::string(row.name.cxx); });
    REQUIRE(expected != std::end(kExpected));  // a row without its expectations
    CHECK(row.name.c == std::string(expected->c));
    CHECK(number(rcufree::config{}.*row.cxx) == expected->default_value);
    rcufree_config c;
    rcufree_config_init(&c);
    CHECK(number(c.*row.c) == expected->default_value);
    if constexpr (is_number<std::remove_cvref_t<decltype(c.*row.c)>>) {
      if (expected->lo) check_bound(row, *expected->lo, -1);
      if (expected->hi) check_bound(row, *expected->hi, +1);
    } else {
      CHECK_FALSE((expected->lo || expected->hi));  // bounds only a number can have
    }
  });
  CHECK(rows == std::size(kExpected));  // and no expectations without their row
}
