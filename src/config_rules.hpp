// SPDX-License-Identifier: MIT
// config_rules.hpp — the rules a config field's value can be held to (config_fields.hpp gives
// each field one), and how values are shown in the messages they make.
//
// A rule is called as rule(value, whole config) and returns why the value breaks it, in words
// that read the same in C and C++ (the caller names the field), or "" when it does not.
#pragma once

#include <chrono>
#include <ratio>
#include <rcufree/config.hpp>
#include <string>
#include <type_traits>

namespace rcufree::detail {

template <class T>
inline constexpr bool is_duration = false;
template <class Rep, class Period>
inline constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

template <class Period>
inline constexpr const char* unit_of = nullptr;
template <>
inline constexpr const char* unit_of<std::micro> = " us";
template <>
inline constexpr const char* unit_of<std::milli> = " ms";
template <>
inline constexpr const char* unit_of<std::chrono::hours::period> = " h";

// A value as a message shows it: "20 ms", "4096", a reclaim_mode as its number.
template <class T>
std::string show(const T& v) {
  if constexpr (is_duration<T>) {
    static_assert(unit_of<typename T::period> != nullptr, "a unit name for this duration");
    return std::to_string(v.count()) + unit_of<typename T::period>;
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<std::underlying_type_t<T>>(v));
  } else {
    return std::to_string(v);
  }
}

// Every value is fine.
struct any_value {
  std::string operator()(const auto&, const config&) const { return {}; }
};

// A bound that is another field's value: worker_tick is at most drain_interval.
template <class T>
struct other_field {
  T config::*member;
  const char* said;  // how a message names it, in words both languages read: "the drain interval"
};
template <class T>
T bound_value(const T& bound, const config&) {
  return bound;
}
template <class T>
T bound_value(const other_field<T>& bound, const config& all) {
  return all.*bound.member;
}
template <class T>
std::string show_bound(const T& bound, const config&) {
  return show(bound);
}
template <class T>
std::string show_bound(const other_field<T>& bound, const config& all) {
  return show(all.*bound.member) + " (" + bound.said + ")";
}

// lo <= value <= hi, compared in the field's own type.
template <class Lo, class Hi>
struct in_range {
  Lo lo;
  Hi hi;
  template <class V>
  std::string operator()(const V& v, const config& all) const {
    if (v >= V(lo) && v <= V(bound_value(hi, all))) return {};
    return "must be from " + show(lo) + " to " + show_bound(hi, all) + ", got " + show(v);
  }
};

// lo <= value.
template <class Lo>
struct at_least {
  Lo lo;
  template <class V>
  std::string operator()(const V& v, const config&) const {
    return v >= V(lo) ? std::string() : "must be at least " + show(lo) + ", got " + show(v);
  }
};

// A power of two within [lo, hi].
template <class T>
struct power_of_two_in {
  T lo, hi;
  std::string operator()(const T& v, const config& all) const {
    if (v == 0 || (v & (v - 1)) != 0) return "must be a power of two, got " + show(v);
    return in_range<T, T>{lo, hi}(v, all);
  }
};

// A callback that must be set whenever `other` is (names the one missing).
template <class T>
struct set_with {
  T config::*other;
  const char* why;
  template <class V>
  std::string operator()(const V& v, const config& all) const {
    return !v && all.*other ? why : "";
  }
};

}  // namespace rcufree::detail
