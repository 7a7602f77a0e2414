// SPDX-License-Identifier: MIT
// block.hpp — one pointer block: a page-sized array of queued objects of any reclaim kinds.
//
// records[] holds object pointers, each run of one kind opened by a kind marker: the address of
// the run's reclaim_kind with bit 0 set. Objects come from malloc or operator new, whose results
// are at least 8-byte aligned, so bit 0 tells a marker from an object. A CPU keeps ONE open block
// whatever the mix of kinds: a change of kind costs one record, not a page. Freeing still calls
// each kind's free_batch on whole runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <rcufree/engine.hpp>

namespace rcufree::detail {

// Lives at the start of a page of page_size bytes; records[] fills the rest.
// Invariants: capacity == (page_size - sizeof(block)) / sizeof(void*); while open, the slot's fill
// word counts its records and objects and only the holder of a slot flag writes it (the atomic
// path's rseq section appends same-kind objects, percpu.hpp); count and objects are written from
// that word when it closes: then 0 <= count <= capacity and records[0] is a marker whenever
// count > 0. last_kind is the kind of the last marker. Once pushed to a closed list a block is
// immutable until a reclaimer frees it.
struct block {
  static constexpr std::uint64_t kUnstamped = ~std::uint64_t{0};  // a cookie no sequence reaches

  std::atomic<block*> next{nullptr};  // link in a closed list or a reclaim chain
  // The grace-period sequence after which records may be freed, if less than the one the
  // reclaimer takes with the block (reclaimer.cpp, take_closed_blocks): kUnstamped from the page
  // switch, 0 when a fork child found it past its grace period (fork.cpp).
  std::uint64_t cookie = kUnstamped;
  const reclaim_kind* last_kind = nullptr;
  std::uint32_t count = 0;  // records[0..count) are markers and objects (once closed)
  std::uint32_t capacity;
  std::uint32_t objects = 0;  // records that are objects (count minus markers; once closed)
  std::uint32_t opened_ms;    // engine time at or before the first record (cpu_slot::taken_ms)

  // `records`: records_in(the page's size), which the slot keeps.
  block(std::uint32_t records, std::uint32_t now_ms) : capacity(records), opened_ms(now_ms) {}

  void** records() noexcept { return reinterpret_cast<void**>(this + 1); }

  // Calls fn(kind, objects, n) for every run, in order.
  template <class Fn>
  void for_each_run(Fn&& fn) noexcept {
    void** r = records();
    const reclaim_kind* kind = nullptr;
    std::uint32_t start = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      const auto bits = reinterpret_cast<std::uintptr_t>(r[i]);
      if ((bits & 1) == 0) continue;
      if (i > start) fn(*kind, r + start, i - start);
      kind = reinterpret_cast<const reclaim_kind*>(bits & ~std::uintptr_t{1});
      start = i + 1;
    }
    if (count > start) fn(*kind, r + start, count - start);
  }

  static void* marker(const reclaim_kind* kind) noexcept {
    return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(kind) | 1);
  }
  static constexpr std::size_t records_in(std::size_t page_size) {
    return (page_size - sizeof(block)) / sizeof(void*);
  }
};
static_assert(sizeof(block) == 40, "block header layout: 40 bytes, 507 records in 4 KiB");
static_assert(block::records_in(4096) == 507);
static_assert(alignof(reclaim_kind) >= 2, "kind markers use bit 0");

}  // namespace rcufree::detail
