// SPDX-License-Identifier: MIT
// page_arena.hpp — the engine's own page allocator: pages carved from 2 MiB chunks it maps
// itself, apart from the objects' heap (the kernel's bnode pages come from the page allocator,
// not from kmalloc's slabs, for the same reason).
//
// Why: with pages from aligned_alloc(), glibc interleaves 4 KiB-aligned chunks with the program's
// small objects in one heap; a 1M-object flood then cost 3-10 ns more CPU per object and 3-4 MiB
// more peak RSS (docs/PERFORMANCE.md, "Pages apart from the objects").
//
// Glossary:
//   chunk   2 MiB of address space, mapped at once, aligned to its size; its first page holds its
//           header (chunk_header), the others are pages. A page's chunk is its address rounded
//           down to 2 MiB.
//   fresh   a page of a chunk never handed out yet (its memory untouched: not resident).
//   spare   one chunk with no page in use, kept mapped so that a demand that comes and goes does
//           not map and unmap a chunk each time. Any other chunk whose last page comes back is
//           unmapped.
//
// Contracts:
//   allocate()  sleepable (mmap for a new chunk, outside the lock). Takes the lock as the
//               caller's patience allows (patience.hpp); nullptr if a holder does not let go (a
//               thread stopped inside: promise 10) or no memory can be mapped.
//   release()   wait-free, any context: the page is pushed on `returned_`; the next lock holder
//               puts it back in its chunk. Never touches the lock.
//   trim()      sleepable: unmaps every chunk with no page in use, the spare included (a brief
//               patience for the lock, then it leaves them for later).
//   fork        lock_for_fork() in the prepare handler (within a limit), then unlock_in_parent()
//               or reset_in_child().
// Lock holds are a few list steps: no system call, no allocation, no user code (stop point
// page_arena_locked).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "counter.hpp"
#include "patience.hpp"
#include "wait_free_stack.hpp"

namespace rcufree::detail {

class page_arena {
 public:
  static constexpr std::size_t kChunkBytes = std::size_t{2} << 20;
  // The largest page the arena serves: a chunk holds 31 of them past its header page. Larger
  // pages come from aligned_alloc (page_source.hpp), which maps them apart from the heap anyway.
  static constexpr std::size_t kMaxPageBytes = std::size_t{64} << 10;

  explicit page_arena(std::size_t page_bytes) noexcept;
  ~page_arena();  // unmaps every chunk with no page in use; chunks with pages in use stay mapped
  page_arena(const page_arena&) = delete;
  page_arena& operator=(const page_arena&) = delete;

  void* allocate(patience& wait) noexcept;
  void release(void* page) noexcept;
  void trim() noexcept;

  // fork (fork.cpp): the prepare handler takes the lock, waiting at most `limit` for a holder;
  // the parent gives it back; the child rebuilds it, and if it was not had (a holder stopped
  // inside) forgets every chunk: their pages in use stay valid, and are not taken back.
  void lock_for_fork(std::chrono::milliseconds limit) noexcept;
  void unlock_in_parent() noexcept;
  void reset_in_child() noexcept;

  // For tests: chunks mapped and unmapped so far.
  std::uint64_t chunks_mapped() const noexcept { return mapped_.get(); }
  std::uint64_t chunks_unmapped() const noexcept { return unmapped_.get(); }

 private:
  // At the start of every chunk. Under the lock.
  // Invariant: in_use == (fresh - 1) - (pages on `free`). A chunk with in_use > 0 is on the
  //            partial list iff it has a free or fresh page; one with in_use == 0 is the spare
  //            (any other is unmapped when its last page comes back), so trim and the destructor
  //            need no list of every chunk: the spare is the only one they may unmap.
  struct chunk_header {
    chunk_header* prev;        // the partial list (null at its ends and when not on it)
    chunk_header* next;        // also links chunks to unmap, once off every list
    void* free;                // pages given back, linked through their first word
    std::uint32_t in_use;      // pages handed out and not given back
    std::uint32_t fresh;       // index of the next page never handed out (page 0 is this header)
    std::uint32_t generation;  // the arena's generation when mapped (reset_in_child)
    bool partial;              // on the partial list
  };
  // A page on `returned_`: its first word is the link.
  struct returned_page {
    std::atomic<returned_page*> next;
  };
  struct returned_link {
    static void store(returned_page* p, returned_page* v, std::memory_order mo) noexcept {
      p->next.store(v, mo);
    }
    static returned_page* load(returned_page* p, std::memory_order mo) noexcept {
      return p->next.load(mo);
    }
  };

  static chunk_header* chunk_of(void* page) noexcept {
    return reinterpret_cast<chunk_header*>(reinterpret_cast<std::uintptr_t>(page) &
                                           ~std::uintptr_t{kChunkBytes - 1});
  }
  bool try_lock(patience& wait) noexcept;
  bool try_lock_briefly() noexcept;    // trim and the destructor
  chunk_header* map_chunk() noexcept;  // no lock held
  void push_partial_locked(chunk_header* c) noexcept;
  void unlink_partial_locked(chunk_header* c) noexcept;  // if it is on the list
  void* take_locked(chunk_header* c) noexcept;
  // Returned pages back into their chunks; chunks left empty (but the spare) onto `unmap`.
  void drain_locked(chunk_header*& unmap) noexcept;
  // The pages of a taken chain back into their chunks; false if it stopped at a pending link.
  bool give_back_chain_locked(returned_page* chain, chunk_header*& unmap) noexcept;
  void give_back_locked(void* page, chunk_header*& unmap) noexcept;
  void unmap_all(chunk_header* list) noexcept;  // a list linked through `next`; no lock held

  const std::size_t page_bytes_;
  const std::uint32_t pages_per_chunk_;  // page 0 included (the header's)

  std::mutex mu_;
  chunk_header* partial_ = nullptr;  // chunks with pages in use and pages to hand out
  chunk_header* spare_ = nullptr;    // one chunk with none in use
  returned_page* stuck_ = nullptr;   // a taken node whose pusher has not stored its link yet
  std::uint32_t generation_ = 0;
  bool held_for_fork_ = false;

  wait_free_stack<returned_page, returned_link> returned_;
  stat_counter mapped_;
  stat_counter unmapped_;
};

}  // namespace rcufree::detail
