// SPDX-License-Identifier: MIT
// c_config.cpp — the C API's configuration: struct rcufree_config's defaults and layouts, and
// rcufree_engine_new, which turns a config into an engine or into NULL, errno and a message
// naming the C field.
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

#include "c_engine.hpp"

namespace {

// rcufree_last_error()'s text. A plain array: no constructor, destructor or allocation per thread.
thread_local char g_last_error[512];

// The first layout of struct rcufree_config (rcufree 0.1): what the exported function
// rcufree_config_init fills for callers that cannot see the struct's size. It never changes.
constexpr std::size_t kFirstLayoutSize = offsetof(rcufree_config, page_arg) + sizeof(void*);
// The smallest size accepted: the fields every version has had.
constexpr std::size_t kMinimumSize =
    offsetof(rcufree_config, drain_interval_ms) + sizeof(unsigned long);

// True when `field` (at `offset`, `bytes` long) lies within the caller's `size` bytes.
constexpr bool within(std::size_t size, std::size_t offset, std::size_t bytes) {
  return offset + bytes <= size;
}
#define RCUFREE_C_FIELD_WITHIN(size, field) \
  within((size), offsetof(rcufree_config, field), sizeof(rcufree_config::field))

// Records and prints a rcufree_engine_new failure; returns NULL for the caller to return.
rcufree_engine* fail(int error, const char* text) {
  std::snprintf(g_last_error, sizeof g_last_error, "rcufree_engine_new: %s", text);
  std::fprintf(stderr, "rcufree: %s\n", g_last_error);
  errno = error;
  return nullptr;
}

// config::validate() names C++ fields ("rcufree::config::drain_interval: why"); say the C name.
std::string c_message(const char* what) {
  static constexpr const char* kPrefix = "rcufree::config::";
  static constexpr struct {
    const char* cxx;
    const char* c;
  } kRenamed[] = {{"drain_interval", "drain_interval_ms"},
                  {"worker_tick", "worker_tick_us"},
                  {"refill_backoff_after_shrink", "refill_backoff_after_shrink_ms"}};
  std::string text(what);
  if (text.rfind(kPrefix, 0) != 0) return text;  // not a field message: pass it on unchanged
  text.erase(0, std::strlen(kPrefix));
  const std::size_t colon = text.find(':');
  std::string field = text.substr(0, colon);
  for (const auto& r : kRenamed) {
    if (field == r.cxx) field = r.c;
  }
  return "config->" + field + (colon == std::string::npos ? "" : text.substr(colon));
}

// Durations arrive as unsigned long; anything this large is out of every field's range and would
// overflow std::chrono's signed 64-bit count after a unit conversion.
constexpr unsigned long kMaxDuration = 1ul << 40;

}  // namespace

extern "C" {

void rcufree_config_init_size(struct rcufree_config* cfg, size_t size) noexcept {
  if (cfg == nullptr || size < sizeof(std::size_t)) return;
  const rcufree::config d;  // the C++ defaults are the C defaults
  rcufree_config full;
  std::memset(static_cast<void*>(&full), 0, sizeof full);  // padding too: see the copy below
  full.size = size;
  full.flavor = nullptr;
  full.page_size = d.page_size;
  full.cached_pages_per_cpu = d.cached_pages_per_cpu;
  full.drain_interval_ms = static_cast<unsigned long>(d.drain_interval.count());
  full.worker_tick_us = static_cast<unsigned long>(d.worker_tick.count());
  full.pending_soft_cap_bytes = d.pending_soft_cap_bytes;
  full.assumed_object_bytes = d.assumed_object_bytes;
  full.sleepable_callers_reclaim = d.sleepable_callers_reclaim ? 1 : 0;
  full.watch_memory_pressure = d.watch_memory_pressure ? 1 : 0;
  full.reclaim_threads = d.reclaim_threads == rcufree::reclaim_mode::single
                             ? RCUFREE_RECLAIM_SINGLE
                             : RCUFREE_RECLAIM_PER_CPU;
  full.refill_backoff_after_shrink_ms =
      static_cast<unsigned long>(d.refill_backoff_after_shrink.count());
  full.allocate_page = nullptr;
  full.release_page = nullptr;
  full.page_arg = nullptr;
  full.free_bulk = nullptr;
  full.free_arg = nullptr;
  full.realtime_reclaim = d.realtime_reclaim ? 1 : 0;
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
  const std::size_t size = cfg->size;
  char text[256];
  if (size < kMinimumSize) {
    std::snprintf(text, sizeof text,
                  "config->size: %zu is smaller than the smallest layout (%zu bytes); fill the "
                  "config with rcufree_config_init() before setting fields",
                  size, kMinimumSize);
    return fail(EINVAL, text);
  }
  if (size > sizeof(rcufree_config)) {
    // Built against a newer header: fine while every field this library does not know is zero.
    const auto* tail = reinterpret_cast<const unsigned char*>(cfg) + sizeof(rcufree_config);
    for (std::size_t i = 0; i < size - sizeof(rcufree_config); ++i) {
      if (tail[i] != 0) {
        std::snprintf(text, sizeof text,
                      "config->size: %zu bytes, and fields past the %zu this library knows are "
                      "set; the program was built against a newer rcufree.h than this library",
                      size, sizeof(rcufree_config));
        return fail(EINVAL, text);
      }
    }
  }

  rcufree::config c;  // fields past the caller's size keep these defaults
  c.flavor = cfg->flavor;
  c.page_size = cfg->page_size;
  c.cached_pages_per_cpu = cfg->cached_pages_per_cpu;
  struct duration_field {
    const char* name;
    std::size_t offset, bytes;
  };
  for (const duration_field& f :
       {duration_field{"drain_interval_ms", offsetof(rcufree_config, drain_interval_ms),
                       sizeof(unsigned long)},
        duration_field{"worker_tick_us", offsetof(rcufree_config, worker_tick_us),
                       sizeof(unsigned long)},
        duration_field{"refill_backoff_after_shrink_ms",
                       offsetof(rcufree_config, refill_backoff_after_shrink_ms),
                       sizeof(unsigned long)}}) {
    if (!within(size, f.offset, f.bytes)) continue;
    unsigned long v;
    std::memcpy(&v, reinterpret_cast<const char*>(cfg) + f.offset, sizeof v);
    if (v > kMaxDuration) {
      std::snprintf(text, sizeof text, "config->%s: %lu is out of range", f.name, v);
      return fail(EINVAL, text);
    }
  }
  c.drain_interval = std::chrono::milliseconds(static_cast<long long>(cfg->drain_interval_ms));
  if (RCUFREE_C_FIELD_WITHIN(size, worker_tick_us)) {
    c.worker_tick = std::chrono::microseconds(static_cast<long long>(cfg->worker_tick_us));
  }
  if (RCUFREE_C_FIELD_WITHIN(size, pending_soft_cap_bytes)) {
    c.pending_soft_cap_bytes = cfg->pending_soft_cap_bytes;
  }
  if (RCUFREE_C_FIELD_WITHIN(size, assumed_object_bytes)) {
    c.assumed_object_bytes = cfg->assumed_object_bytes;
  }
  if (RCUFREE_C_FIELD_WITHIN(size, sleepable_callers_reclaim)) {
    c.sleepable_callers_reclaim = cfg->sleepable_callers_reclaim != 0;
  }
  if (RCUFREE_C_FIELD_WITHIN(size, watch_memory_pressure)) {
    c.watch_memory_pressure = cfg->watch_memory_pressure != 0;
  }
  if (RCUFREE_C_FIELD_WITHIN(size, reclaim_threads)) {
    switch (cfg->reclaim_threads) {
      case RCUFREE_RECLAIM_PER_CPU:
        c.reclaim_threads = rcufree::reclaim_mode::per_cpu;
        break;
      case RCUFREE_RECLAIM_SINGLE:
        c.reclaim_threads = rcufree::reclaim_mode::single;
        break;
      default:
        std::snprintf(text, sizeof text,
                      "config->reclaim_threads: must be RCUFREE_RECLAIM_PER_CPU (0) or "
                      "RCUFREE_RECLAIM_SINGLE (1), got %d",
                      cfg->reclaim_threads);
        return fail(EINVAL, text);
    }
  }
  if (RCUFREE_C_FIELD_WITHIN(size, refill_backoff_after_shrink_ms)) {
    c.refill_backoff_after_shrink =
        std::chrono::milliseconds(static_cast<long long>(cfg->refill_backoff_after_shrink_ms));
  }
  if (RCUFREE_C_FIELD_WITHIN(size, realtime_reclaim)) {
    c.realtime_reclaim = cfg->realtime_reclaim != 0;
  }
  if (RCUFREE_C_FIELD_WITHIN(size, page_arg)) {
    void* const arg = cfg->page_arg;
    // The C allocator pair becomes the C++ one; validate() checks that both or neither are set.
    if (auto* alloc = cfg->allocate_page) {
      c.allocate_page = [alloc, arg](std::size_t bytes) { return alloc(arg, bytes); };
    }
    if (auto* release = cfg->release_page) {
      c.release_page = [release, arg](void* page, std::size_t bytes) { release(arg, page, bytes); };
    }
  }

  if (RCUFREE_C_FIELD_WITHIN(size, free_arg) && cfg->free_bulk != nullptr) {
    auto* bulk = cfg->free_bulk;
    void* const arg = cfg->free_arg;
    c.free_bulk = [bulk, arg](void* const* objects, std::size_t n) { bulk(arg, objects, n); };
  }

  try {
    c.validate();  // the engine validates too; here the message can be given the C names
    return new rcufree_engine(std::move(c));
  } catch (const std::invalid_argument& e) {
    return fail(EINVAL, c_message(e.what()).c_str());
  } catch (const std::bad_alloc&) {
    return fail(ENOMEM, "out of memory for the engine's per-CPU state");
  } catch (const std::system_error& e) {
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
