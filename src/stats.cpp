// stats.cpp — the one-line JSON form of a snapshot, and the std::free reclaim kind.
#include <rcufree/engine.hpp>
#include <rcufree/stats.hpp>

#include <cstdlib>

namespace rcufree {

std::string stats::to_json() const {
  std::string out = "{";
  auto add = [&out](const char* key, std::uint64_t value) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += key;
    out += "\":";
    out += std::to_string(value);
  };
  add("queued", queued);
  add("freed", freed);
  add("pending", pending);
  add("pages_in_use", pages_in_use);
  add("pages_cached", pages_cached);
  add("page_allocs", page_allocs);
  add("page_alloc_failures", page_alloc_failures);
  add("fallback_objects", fallback_objects);
  add("grace_periods", grace_periods);
  add("drains", drains);
  add("inline_frees", inline_frees);
  add("caller_reclaims", caller_reclaims);
  add("blocks_expired_on_arrival", blocks_expired_on_arrival);
  add("slot_contended", slot_contended);
  add("refill_attempts", refill_attempts);
  add("shrinks", shrinks);
  add("pressure_events", pressure_events);
  add("pressure_watch_armed", pressure_watch_armed);
  add("expedited_passes", expedited_passes);
  add("oldest_pending_ms", oldest_pending_ms);
  add("gp_last_us", gp_last_us);
  add("gp_max_us", gp_max_us);
  out += ",\"pages_in_use_per_cpu\":[";
  for (std::size_t i = 0; i < pages_in_use_per_cpu.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(pages_in_use_per_cpu[i]);
  }
  out += "]}";
  return out;
}

namespace detail {
void free_batch(void* const* objects, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) std::free(objects[i]);
}
}  // namespace detail

}  // namespace rcufree
