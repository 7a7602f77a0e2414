// SPDX-License-Identifier: MIT
// config_fields.hpp — the config's fields, listed once: each field's C++ and C names, where it
// lives in rcufree::config and in struct rcufree_config, and the rule its value must keep.
// config.cpp's validation and c_config.cpp's defaults and conversion walk this list; so does
// test/unit/config_test.cpp.
//
// Invariant: one row per member of rcufree::config, each naming its twin in struct
// rcufree_config, whose last member is some row's (new C members can only go at its end: it is
// ABI). Both halves are checked at compile time below.
//
// The defaults are not here: they are the member initializers of rcufree::config (config.hpp),
// beside each field's doc comment, where a user reads them; the C defaults are converted from
// them. Adding a field therefore takes: its member in config.hpp (default and doc comment), its
// member at the end of struct rcufree_config in rcufree.h (doc comment), its row here, and its
// row in config_test.cpp's kExpected.
#pragma once

#include <rcufree/rcufree.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <rcufree/config.hpp>
#include <string>
#include <tuple>

#include "config_rules.hpp"

namespace rcufree::detail {

struct field_name {
  const char* cxx;  // the member of rcufree::config: "drain_interval"
  const char* c;    // the member of struct rcufree_config: "drain_interval_ms"
};

// One row: a field in both structs, and its rule.
template <class Cxx, class C, class Rule>
struct config_field {
  field_name name;
  Cxx config::*cxx;
  C rcufree_config::*c;
  // A callback's argument, passed back as its first parameter (page_arg, free_arg); else null.
  void* rcufree_config::*arg;
  // A caller's struct holds this field (and its argument) when its size is at least this.
  std::size_t c_end;
  Rule rule;  // rule(value, whole config): why the value is wrong, or "" when it is not
};

// ---- The table ----

#define RCUFREE_C_END(c) (offsetof(rcufree_config, c) + sizeof(rcufree_config::c))
// A field: its C++ name, its C name, its rule (last: a rule may hold commas).
#define RCUFREE_FIELD(cxx, c, ...)                                                       \
  config_field {                                                                         \
    {#cxx, #c}, &config::cxx, &rcufree_config::c, nullptr, RCUFREE_C_END(c), __VA_ARGS__ \
  }
// A callback: the same, and the C member holding its argument.
#define RCUFREE_CALLBACK(cxx, c, arg, ...)                              \
  config_field {                                                        \
    {#cxx, #c}, &config::cxx, &rcufree_config::c, &rcufree_config::arg, \
        std::max(RCUFREE_C_END(c), RCUFREE_C_END(arg)), __VA_ARGS__     \
  }

using namespace std::chrono_literals;

inline constexpr const char* kPagesGoBack =
    "allocate_page and release_page must be set together (pages from a custom allocator must go "
    "back to it)";

// In the order the fields are checked (config.hpp's order): the first that breaks its rule is
// the one a message names.
inline constexpr std::tuple kConfigFields{
    RCUFREE_FIELD(flavor, flavor, any_value{}),
    RCUFREE_FIELD(page_size, page_size, power_of_two_in<std::size_t>{256, std::size_t{1} << 24}),
    RCUFREE_FIELD(cached_pages_per_cpu, cached_pages_per_cpu, in_range{0, 65535}),
    RCUFREE_FIELD(drain_interval, drain_interval_ms, in_range{1ms, 24h}),
    RCUFREE_FIELD(worker_tick, worker_tick_us,
                  in_range{1us, other_field{&config::drain_interval, "the drain interval"}}),
    RCUFREE_FIELD(reclaim_threads, reclaim_threads,
                  in_range{reclaim_mode::per_cpu, reclaim_mode::single}),
    RCUFREE_FIELD(pending_soft_cap_bytes, pending_soft_cap_bytes, at_least{1}),
    RCUFREE_FIELD(assumed_object_bytes, assumed_object_bytes, at_least{1}),
    RCUFREE_FIELD(sleepable_callers_reclaim, sleepable_callers_reclaim, any_value{}),
    RCUFREE_FIELD(realtime_reclaim, realtime_reclaim, any_value{}),
    RCUFREE_FIELD(watch_memory_pressure, watch_memory_pressure, any_value{}),
    RCUFREE_FIELD(refill_backoff_after_shrink, refill_backoff_after_shrink_ms, in_range{0ms, 24h}),
    RCUFREE_CALLBACK(allocate_page, allocate_page, page_arg,
                     set_with{&config::release_page, kPagesGoBack}),
    RCUFREE_CALLBACK(release_page, release_page, page_arg,
                     set_with{&config::allocate_page, kPagesGoBack}),
    RCUFREE_CALLBACK(free_bulk, free_bulk, free_arg, any_value{}),
};

#undef RCUFREE_CALLBACK
#undef RCUFREE_FIELD
#undef RCUFREE_C_END

// f(row) for each row, in order.
template <class F>
constexpr void for_each_config_field(F&& f) {
  std::apply([&](const auto&... row) { (f(row), ...); }, kConfigFields);
}

// ---- The invariant, checked ----

// How many members the aggregate T has: the most initializers T{...} accepts.
struct any_initializer {
  template <class T>
  operator T() const;  // never called: only asked about
};
template <class T, class... Init>
constexpr std::size_t member_count() {
  if constexpr (requires { T{Init{}..., any_initializer{}}; }) {
    return member_count<T, Init..., any_initializer>();
  } else {
    return sizeof...(Init);
  }
}
static_assert(member_count<config>() == std::tuple_size_v<decltype(kConfigFields)>,
              "every member of rcufree::config needs its row in kConfigFields");

// New C fields go at the struct's end (it is ABI), so the last one must be some row's.
constexpr bool rows_reach_the_end_of_rcufree_config() {
  std::size_t end = 0;
  for_each_config_field([&](const auto& row) { end = std::max(end, row.c_end); });
  const std::size_t align = alignof(rcufree_config);
  return (end + align - 1) / align * align == sizeof(rcufree_config);
}
static_assert(rows_reach_the_end_of_rcufree_config(),
              "a member added at the end of struct rcufree_config needs its row in kConfigFields");

static_assert(static_cast<int>(reclaim_mode::per_cpu) == RCUFREE_RECLAIM_PER_CPU &&
                  static_cast<int>(reclaim_mode::single) == RCUFREE_RECLAIM_SINGLE,
              "reclaim_threads converts between C and C++ by value");

// ---- Over the table ----

// A field whose value breaks its rule, and why (the message names the field in either spelling).
struct config_problem {
  field_name field;
  std::string why;  // "must be from 1 ms to 24 h, got 0 ms"
};

// The first field, in table order, that breaks its rule (config.cpp).
std::optional<config_problem> first_problem(const config& cfg);

// The fields within in.size converted into out, which keeps its values for the rest; then
// validated (c_config.cpp). A field out of range for its C++ type is a problem too.
std::optional<config_problem> from_c(const rcufree_config& in, config& out);

}  // namespace rcufree::detail
