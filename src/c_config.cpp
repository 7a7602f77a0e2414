// SPDX-License-Identifier: MIT
// c_config.cpp — the C API's configuration: struct rcufree_config's defaults and layouts, its
// conversion to rcufree::config (both walk config_fields.hpp's table), and rcufree_engine_new,
// which turns a config into an engine or into NULL, errno and a message naming the C field.
#include <rcufree/rcufree.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>
#include <rcufree/config.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include "c_engine.hpp"
#include "config_fields.hpp"

namespace {

// rcufree_last_error()'s text. A plain array: no constructor, destructor or allocation per thread.
thread_local char g_last_error[512];

// The first layout of struct rcufree_config (rcufree 0.1): what the exported function
// rcufree_config_init fills for callers that cannot see the struct's size. It never changes.
constexpr std::size_t kFirstLayoutSize = offsetof(rcufree_config, page_arg) + sizeof(void*);
// The smallest size accepted: the fields every version has had.
constexpr std::size_t kMinimumSize =
    offsetof(rcufree_config, drain_interval_ms) + sizeof(unsigned long);

// Durations arrive as unsigned long; anything this large is out of every field's range and would
// overflow std::chrono's signed 64-bit count after a unit conversion.
constexpr unsigned long kMaxDuration = 1ul << 40;

template <class T>
constexpr bool is_callback = std::is_function_v<std::remove_pointer_t<T>>;

// One field's value from C to C++: "" or why the C value has no C++ one. A callback gets its
// argument back as its first parameter.
template <class C, class Cxx>
std::string to_cxx(const C& v, void* arg, Cxx& out) {
  if constexpr (rcufree::detail::is_duration<Cxx>) {
    if (v > kMaxDuration) {
      return "must be at most " + rcufree::detail::show(Cxx(kMaxDuration)) + ", got " +
             std::to_string(v) + rcufree::detail::unit_of<typename Cxx::period>;
    }
    out = Cxx(static_cast<typename Cxx::rep>(v));
  } else if constexpr (is_callback<C>) {
    if (v != nullptr) out = [v, arg](auto... params) { return v(arg, params...); };
  } else {
    out = static_cast<Cxx>(v);  // bool from int, reclaim_mode from int (same values), or a copy
  }
  return {};
}

// One field's value from C++ to C, for the defaults. A callback has no C form: its C default is
// NULL, as its C++ default is empty.
template <class Cxx, class C>
void to_c(const Cxx& v, C& out) {
  if constexpr (rcufree::detail::is_duration<Cxx>) {
    out = static_cast<C>(v.count());
  } else if constexpr (is_callback<C>) {
    out = nullptr;
  } else {
    out = static_cast<C>(v);
  }
}

// Why the caller's struct cannot be read at the size it gives, or "".
std::string size_problem(const rcufree_config& cfg) {
  char text[256];
  if (cfg.size < kMinimumSize) {
    std::snprintf(text, sizeof text,
                  "config->size: %zu is smaller than the smallest layout (%zu bytes); fill the "
                  "config with rcufree_config_init() before setting fields",
                  cfg.size, kMinimumSize);
    return text;
  }
  // Built against a newer header: fine while every field this library does not know is zero.
  const auto* bytes = reinterpret_cast<const unsigned char*>(&cfg);
  for (std::size_t i = sizeof(rcufree_config); i < cfg.size; ++i) {
    if (bytes[i] != 0) {
      std::snprintf(text, sizeof text,
                    "config->size: %zu bytes, and fields past the %zu this library knows are "
                    "set; the program was built against a newer rcufree.h than this library",
                    cfg.size, sizeof(rcufree_config));
      return text;
    }
  }
  return {};
}

// Records and prints a rcufree_engine_new failure; returns NULL for the caller to return.
rcufree_engine* fail(int error, const char* text) {
  std::snprintf(g_last_error, sizeof g_last_error, "rcufree_engine_new: %s", text);
  std::fprintf(stderr, "rcufree: %s\n", g_last_error);
  errno = error;
  return nullptr;
}

}  // namespace

namespace rcufree::detail {

std::optional<config_problem> from_c(const rcufree_config& in, config& out) {
  std::optional<config_problem> found;
  for_each_config_field([&](const auto& row) {
    if (found || in.size < row.c_end) return;  // past the caller's struct: keeps out's value
    std::string why = to_cxx(in.*row.c, row.arg ? in.*row.arg : nullptr, out.*row.cxx);
    if (!why.empty()) found = config_problem{row.name, std::move(why)};
  });
  return found ? found : first_problem(out);
}

}  // namespace rcufree::detail

extern "C" {

void rcufree_config_init_size(struct rcufree_config* cfg, size_t size) noexcept {
  if (cfg == nullptr || size < sizeof(std::size_t)) return;
  rcufree_config full;
  std::memset(static_cast<void*>(&full), 0, sizeof full);  // padding too: see the copy below
  const rcufree::config defaults;                          // the C++ defaults are the C defaults
  rcufree::detail::for_each_config_field(
      [&](const auto& row) { to_c(defaults.*row.cxx, full.*row.c); });
  full.size = size;
  // Only the bytes the caller has; a caller built against a newer header gets zeros past ours,
  // which is what rcufree_engine_new accepts for fields it does not know.
  const std::size_t known = size < sizeof full ? size : sizeof full;
  std::memcpy(static_cast<void*>(cfg), &full, known);
  if (size > known) std::memset(reinterpret_cast<char*>(cfg) + known, 0, size - known);
}

// The exported symbol behind the rcufree_config_init macro: the first layout.
void(rcufree_config_init)(struct rcufree_config* cfg) noexcept {
  rcufree_config_init_size(cfg, kFirstLayoutSize);
}

struct rcufree_engine* rcufree_engine_new(const struct rcufree_config* cfg) noexcept {
  g_last_error[0] = '\0';
  if (cfg == nullptr)
    return fail(EINVAL, "config is NULL; pass a config rcufree_config_init filled");
  try {
    if (const std::string why = size_problem(*cfg); !why.empty()) return fail(EINVAL, why.c_str());
    rcufree::config c;  // fields past the caller's size keep these defaults
    if (const auto problem = rcufree::detail::from_c(*cfg, c)) {
      const std::string text = std::string("config->") + problem->field.c + ": " + problem->why;
      return fail(EINVAL, text.c_str());
    }
    return new rcufree_engine(std::move(c));
  } catch (const std::bad_alloc&) {
    return fail(ENOMEM, "out of memory for the engine's per-CPU state");
  } catch (const std::system_error& e) {
    char text[256];
    std::snprintf(text, sizeof text, "cannot start the engine's worker thread: %s", e.what());
    return fail(EAGAIN, text);
  } catch (const std::exception& e) {
    return fail(EINVAL, e.what());
  }
}

const char* rcufree_last_error(void) noexcept {
  return g_last_error;
}

}  // extern "C"
