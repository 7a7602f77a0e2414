// block.hpp — one pointer block: a page-sized array of objects that share a reclaim kind.
#pragma once

#include <rcufree/engine.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace rcufree::detail {

// Lives at the start of a page of page_size bytes; records[] fills the rest.
// Invariants: 0 <= count <= capacity; capacity == (page_size - sizeof(block)) / sizeof(void*);
// while open, only the holder of its slot's busy flag touches count and records; once pushed to
// a closed list it is immutable until the worker (or a reclaiming caller) frees it.
struct block {
  std::atomic<block*> next{nullptr};  // link in a closed list or a reclaim chain
  const reclaim_kind* kind;           // how every record is freed
  std::uint64_t cookie = 0;           // grace-period sequence after which records may be freed
  std::uint32_t count = 0;            // records[0..count) are queued objects
  std::uint32_t capacity;
  std::uint32_t origin;               // slot (CPU) whose cache the page returns to
  std::uint32_t opened_ms;            // engine's coarse clock when the first record went in

  block(const reclaim_kind* k, std::size_t page_size, std::uint32_t slot, std::uint32_t now_ms)
      : kind(k),
        capacity(static_cast<std::uint32_t>((page_size - sizeof(block)) / sizeof(void*))),
        origin(slot),
        opened_ms(now_ms) {}

  void** records() noexcept { return reinterpret_cast<void**>(this + 1); }
  bool full() const noexcept { return count == capacity; }

  // Frees every record with one tight loop of the kind's deleter.
  void free_records() noexcept { kind->free_batch(records(), count); }

  static constexpr std::size_t records_in(std::size_t page_size) {
    return (page_size - sizeof(block)) / sizeof(void*);
  }
};
static_assert(sizeof(block) == 40, "block header layout: 40 bytes, 507 records in 4 KiB");
static_assert(block::records_in(4096) == 507);

}  // namespace rcufree::detail
