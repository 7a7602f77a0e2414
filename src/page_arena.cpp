// SPDX-License-Identifier: MIT
// page_arena.cpp — chunks mapped and unmapped, pages handed out and taken back (page_arena.hpp
// has the contracts and the invariant).
#include "page_arena.hpp"

#include <sys/mman.h>

#include <new>
#include <thread>

#include "patience.hpp"
#include "stop_point.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace rcufree::detail {
namespace {

// LeakSanitizer scans the heap, globals, stacks and thread-local storage, not memory the program
// maps itself: without this, the objects that blocks in the arena's pages point to (queued and
// not freed yet, or left behind on purpose, as a fork child leaves what it cannot trust) would
// be reported as leaked. Valgrind scans mapped memory by itself.
void tell_leak_checker(void* chunk, bool mapped) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  if (mapped)
    __lsan_register_root_region(chunk, page_arena::kChunkBytes);
  else
    __lsan_unregister_root_region(chunk, page_arena::kChunkBytes);
#else
  (void)chunk;
  (void)mapped;
#endif
}

}  // namespace

page_arena::page_arena(std::size_t page_bytes) noexcept
    : page_bytes_(page_bytes),
      pages_per_chunk_(static_cast<std::uint32_t>(kChunkBytes / page_bytes)) {}

page_arena::~page_arena() {
  // The engine's teardown has given back every page it could; pages a stopped thread still
  // holds keep their chunk mapped (that thread may write them when it runs again). So does a
  // holder stopped inside the lock: then nothing is unmapped.
  trim();
}

bool page_arena::try_lock_briefly() noexcept {
  patience wait(patience::kind::brief, 0, "the page arena's lock");
  return try_lock(wait);
}

bool page_arena::try_lock(patience& wait) noexcept {
  while (!mu_.try_lock()) {
    if (!wait.again()) return false;
  }
  RCUFREE_STOP_AT(page_arena_locked);
  return true;
}

void* page_arena::allocate(patience& wait) noexcept {
  if (!try_lock(wait)) return nullptr;
  chunk_header* unmap = nullptr;
  drain_locked(unmap);
  chunk_header* c = partial_ != nullptr ? partial_ : spare_;
  if (c == nullptr) {
    mu_.unlock();
    unmap_all(unmap);
    unmap = nullptr;
    chunk_header* const fresh = map_chunk();
    if (fresh == nullptr) return nullptr;
    if (!try_lock(wait)) {
      fresh->next = nullptr;
      unmap_all(fresh);
      return nullptr;
    }
    fresh->generation = generation_;
    push_partial_locked(fresh);
    c = fresh;
  }
  void* page = take_locked(c);
  mu_.unlock();
  unmap_all(unmap);
  return page;
}

void page_arena::release(void* page) noexcept {
  auto* n = static_cast<returned_page*>(page);
  // Constructs the link word in the page's first bytes (the page holds no live object).
  new (n) returned_page{};
  returned_page* const below = returned_.publish(n);  // (S1) the page's last writes before it
  RCUFREE_STOP_AT(page_release_published);
  returned_.link(n, below);  // (S2) pairs with (S4) in give_back_chain_locked
}

void page_arena::trim() noexcept {
  if (!try_lock_briefly()) return;
  chunk_header* unmap = nullptr;
  drain_locked(unmap);
  if (spare_ != nullptr) {
    spare_->next = unmap;
    unmap = spare_;
    spare_ = nullptr;
  }
  mu_.unlock();
  unmap_all(unmap);
}

page_arena::chunk_header* page_arena::map_chunk() noexcept {
  // Twice the size, then the slack around an aligned chunk given back: the chunk of a page is
  // found by rounding its address down.
  void* m =
      mmap(nullptr, 2 * kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = (start + kChunkBytes - 1) & ~std::uintptr_t{kChunkBytes - 1};
  if (aligned > start) munmap(m, aligned - start);
  if (const std::uintptr_t tail = start + 2 * kChunkBytes - (aligned + kChunkBytes); tail > 0)
    munmap(reinterpret_cast<void*>(aligned + kChunkBytes), tail);
  mapped_.add();
  tell_leak_checker(reinterpret_cast<void*>(aligned), true);
  auto* c = new (reinterpret_cast<void*>(aligned)) chunk_header{};
  c->fresh = 1;
  return c;
}

void page_arena::push_partial_locked(chunk_header* c) noexcept {
  c->prev = nullptr;
  c->next = partial_;
  if (partial_ != nullptr) partial_->prev = c;
  partial_ = c;
  c->partial = true;
}

void page_arena::unlink_partial_locked(chunk_header* c) noexcept {
  if (!c->partial) return;
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (partial_ == c) partial_ = c->next;
  c->prev = c->next = nullptr;
  c->partial = false;
}

void* page_arena::take_locked(chunk_header* c) noexcept {
  if (c == spare_) {  // the spare goes back to work
    spare_ = nullptr;
    push_partial_locked(c);
  }
  void* page;
  if (c->free != nullptr) {
    page = c->free;
    c->free = *static_cast<void**>(page);
  } else {
    page = reinterpret_cast<char*>(c) + std::size_t{c->fresh} * page_bytes_;
    ++c->fresh;
  }
  ++c->in_use;
  if (c->free == nullptr && c->fresh == pages_per_chunk_) unlink_partial_locked(c);  // full
  return page;
}

void page_arena::drain_locked(chunk_header*& unmap) noexcept {
  // First what an earlier drain left behind a pending link, then everything returned since.
  returned_page* const left = stuck_;
  stuck_ = nullptr;
  if (left != nullptr && !give_back_chain_locked(left, unmap)) return;
  give_back_chain_locked(returned_.take_all(), unmap);  // (S3) acquire: pairs with (S1)
}

bool page_arena::give_back_chain_locked(returned_page* n, chunk_header*& unmap) noexcept {
  using stack = wait_free_stack<returned_page, returned_link>;
  while (n != nullptr) {
    // (S4) acquire in try_next: pairs with the pusher's (S2) link store.
    returned_page* const next = stack::try_next(n);
    if (next == stack::link_pending()) {  // its pusher is between its two steps: not reusable
      stuck_ = n;                         // its link, once stored, leads to the rest of this chain
      return false;
    }
    give_back_locked(n, unmap);
    n = next;
  }
  return true;
}

void page_arena::give_back_locked(void* page, chunk_header*& unmap) noexcept {
  chunk_header* c = chunk_of(page);
  if (c->generation != generation_) return;  // a chunk a fork child forgot: not taken back
  *static_cast<void**>(page) = c->free;
  c->free = page;
  --c->in_use;
  if (c->in_use > 0) {
    if (!c->partial) push_partial_locked(c);  // it was full
    return;
  }
  unlink_partial_locked(c);  // its last page: the spare, or unmapped
  if (spare_ == nullptr) {
    spare_ = c;
  } else {
    c->next = unmap;
    unmap = c;
  }
}

void page_arena::unmap_all(chunk_header* list) noexcept {
  while (list != nullptr) {
    chunk_header* const next = list->next;
    tell_leak_checker(list, false);
    munmap(list, kChunkBytes);
    unmapped_.add();
    list = next;
  }
}

void page_arena::lock_for_fork(std::chrono::milliseconds limit) noexcept {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!mu_.try_lock()) {
    if (std::chrono::steady_clock::now() >= until) return;  // held_for_fork_ stays false
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  held_for_fork_ = true;
}

void page_arena::unlock_in_parent() noexcept {
  if (held_for_fork_) {
    held_for_fork_ = false;
    mu_.unlock();
  }
}

void page_arena::reset_in_child() noexcept {
  new (&mu_) std::mutex();
  if (held_for_fork_) {
    // Consistent: no parent thread was inside a hold. A chain ends where a pusher that is not
    // here never stored its link: the page there is whole and comes back; older pages past it
    // are not reached, and their chunks stay mapped in this child.
    held_for_fork_ = false;
    using stack = wait_free_stack<returned_page, returned_link>;
    if (stuck_ != nullptr) stack::cut_at_missing_link(stuck_);
    returned_page* const chain = returned_.take_all();
    stack::cut_at_missing_link(chain);
    returned_.restore_in_child(chain);
    return;
  }
  // A parent thread was inside a hold at the fork: the lists may be half changed. Forget every
  // chunk (their pages in use stay valid; none is taken back or unmapped) and start anew.
  partial_ = spare_ = nullptr;
  stuck_ = nullptr;
  (void)returned_.take_all();
  ++generation_;
}

}  // namespace rcufree::detail
