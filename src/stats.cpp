// SPDX-License-Identifier: MIT
// stats.cpp — the one-line JSON form of a snapshot, and the std::free reclaim kind.
#include <cstdlib>
#include <rcufree/engine.hpp>
#include <rcufree/stats.hpp>

namespace rcufree {

namespace {
// Every scalar counter, in the order of stats.hpp; one list for both JSON and CSV.
template <class Fn>
void for_each_counter(const stats& st, Fn&& fn) {
  fn("queued", st.queued);
  fn("freed", st.freed);
  fn("pending", st.pending);
  fn("pages_in_use", st.pages_in_use);
  fn("pages_cached", st.pages_cached);
  fn("page_allocs", st.page_allocs);
  fn("page_alloc_failures", st.page_alloc_failures);
  fn("fallback_objects", st.fallback_objects);
  fn("grace_periods", st.grace_periods);
  fn("drains", st.drains);
  fn("inline_frees", st.inline_frees);
  fn("caller_reclaims", st.caller_reclaims);
  fn("blocks_expired_on_arrival", st.blocks_expired_on_arrival);
  fn("slot_contended", st.slot_contended);
  fn("refill_attempts", st.refill_attempts);
  fn("shrinks", st.shrinks);
  fn("pressure_events", st.pressure_events);
  fn("pressure_watch_armed", st.pressure_watch_armed);
  fn("expedited_passes", st.expedited_passes);
  fn("oldest_pending_ms", st.oldest_pending_ms);
  fn("gp_last_us", st.gp_last_us);
  fn("gp_max_us", st.gp_max_us);
  fn("peak_pending", st.peak_pending);
  fn("reclaim_threads", st.reclaim_threads);
  fn("reclaim_threads_realtime", st.reclaim_threads_realtime);
  fn("fork_abandoned", st.fork_abandoned);
  fn("rseq_appends", st.rseq_appends);
}

void append_array(std::string& out, const char* key, const std::vector<std::uint64_t>& values) {
  out += ",\"";
  out += key;
  out += "\":[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += ']';
}
}  // namespace

std::string stats::to_json() const {
  std::string out = "{";
  for_each_counter(*this, [&out](const char* key, std::uint64_t value) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += key;
    out += "\":";
    out += std::to_string(value);
  });
  append_array(out, "pages_in_use_per_cpu", pages_in_use_per_cpu);
  append_array(out, "pages_cached_per_cpu", pages_cached_per_cpu);
  out += '}';
  return out;
}

std::string stats::csv_header() {
  std::string out;
  for_each_counter(stats{}, [&out](const char* key, std::uint64_t) {
    if (!out.empty()) out += ',';
    out += key;
  });
  return out;
}

std::string stats::to_csv_row() const {
  std::string out;
  for_each_counter(*this, [&out](const char*, std::uint64_t value) {
    if (!out.empty()) out += ',';
    out += std::to_string(value);
  });
  return out;
}

}  // namespace rcufree
