// SPDX-License-Identifier: MIT
// The page arena (src/page_arena.hpp): pages from chunks of its own, chunks given back when their
// last page is, a wait-free release that a stopped releaser cannot corrupt, and a lock that a
// stopped holder cannot turn into a hang.
#include "page_arena.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "stop_point.hpp"

using namespace std::chrono_literals;
using rcufree::detail::page_arena;
using rcufree::detail::patience;

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kPerChunk = page_arena::kChunkBytes / kPage - 1;  // past the header page

void* allocate(page_arena& arena) {
  patience brief(patience::kind::brief, 0, "the page arena's lock");
  return arena.allocate(brief);
}

}  // namespace

TEST_CASE("the arena hands out distinct aligned pages and unmaps a chunk when its last comes back",
          "[page_arena]") {
  page_arena arena(kPage);
  std::vector<void*> pages;
  std::set<std::uintptr_t> chunks;
  for (std::size_t i = 0; i < 2 * kPerChunk + 10; ++i) {
    void* p = allocate(arena);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % kPage == 0);
    std::memset(p, 0xA5, kPage);  // a page overlapping another, or a header, shows up below
    pages.push_back(p);
    chunks.insert(reinterpret_cast<std::uintptr_t>(p) / page_arena::kChunkBytes);
  }
  CHECK(std::set<void*>(pages.begin(), pages.end()).size() == pages.size());
  CHECK(chunks.size() == 3);
  CHECK(arena.chunks_mapped() == 3);

  for (void* p : pages) arena.release(p);
  CHECK(arena.chunks_unmapped() == 0);  // releases only push: the next lock holder sorts them
  // The next allocation takes them back: the first chunk to empty stays as the spare (and serves
  // this allocation), the other two are unmapped.
  void* again = allocate(arena);
  REQUIRE(again != nullptr);
  CHECK(arena.chunks_unmapped() == 2);
  CHECK(arena.chunks_mapped() == 3);
  arena.release(again);
  arena.trim();  // the spare too
  CHECK(arena.chunks_unmapped() == 3);

  void* fresh = allocate(arena);  // a new chunk after a trim
  CHECK(fresh != nullptr);
  CHECK(arena.chunks_mapped() == 4);
  arena.release(fresh);
}

TEST_CASE("pages of every size the arena serves fit their chunk past its header", "[page_arena]") {
  for (std::size_t size : {std::size_t{256}, std::size_t{4096}, page_arena::kMaxPageBytes}) {
    page_arena arena(size);
    const std::size_t per_chunk = page_arena::kChunkBytes / size - 1;
    std::vector<void*> pages;
    for (std::size_t i = 0; i < per_chunk + 1; ++i) {
      void* p = allocate(arena);
      REQUIRE(p != nullptr);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % size == 0);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % page_arena::kChunkBytes >= size);
      std::memset(p, 0x5A, size);
      pages.push_back(p);
    }
    CHECK(arena.chunks_mapped() == 2);
    for (void* p : pages) arena.release(p);
    arena.trim();
    CHECK(arena.chunks_unmapped() == 2);
  }
}

TEST_CASE("threads allocating and releasing at once lose no page", "[page_arena]") {
  page_arena arena(kPage);
  std::atomic<bool> failed{false};
  std::atomic<int> gave_up{0};
  auto churn = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<void*> mine;
    for (int i = 0; i < 100'000; ++i) {
      if (mine.empty() || (rng() % 3 != 0 && mine.size() < 2000)) {
        void* p = allocate(arena);
        if (p == nullptr) {  // a holder preempted past the brief patience: try again
          gave_up.fetch_add(1);
          continue;
        }
        *static_cast<unsigned*>(p) = seed;  // owned: nobody else writes it
        mine.push_back(p);
      } else {
        const std::size_t k = rng() % mine.size();
        if (*static_cast<unsigned*>(mine[k]) != seed) failed = true;
        arena.release(mine[k]);
        mine[k] = mine.back();
        mine.pop_back();
      }
    }
    for (void* p : mine) arena.release(p);
  };
  std::thread a(churn, 1), b(churn, 2);
  churn(3);
  a.join();
  b.join();
  CHECK_FALSE(failed);
  INFO("allocations that gave up on a preempted holder: " << gave_up.load());
  CHECK(gave_up.load() < 1000);
  arena.trim();
  // Every page back, so every chunk unmapped: none was lost or handed out twice.
  CHECK(arena.chunks_unmapped() == arena.chunks_mapped());
}

#ifdef RCUFREE_STOP_POINTS
namespace stops = rcufree::detail::stop_points;
using rcufree::detail::stop_point;
using rcufree::detail::stop_thread;

TEST_CASE("a page whose releaser stopped mid-push is not handed out until its link is stored",
          "[page_arena]") {
  page_arena arena(kPage);
  void* held = allocate(arena);
  void* other = allocate(arena);
  REQUIRE(held != nullptr);
  REQUIRE(other != nullptr);
  arena.release(other);  // below the stopped push: reached only through its link
  const int stop = stops::arm(stop_point::page_release_published, stop_thread::caller, 7);
  std::thread releaser([&] {
    stops::set_thread_tag(7);
    arena.release(held);
  });
  REQUIRE(stops::wait_stopped(stop, 10'000ms));
  // The drain stops at the pending link: neither page comes back yet, new ones are fresh.
  for (int i = 0; i < 10; ++i) {
    void* p = allocate(arena);
    REQUIRE(p != nullptr);
    CHECK(p != held);
    CHECK(p != other);
    arena.release(p);
  }
  stops::release(stop);
  releaser.join();
  arena.trim();
  CHECK(arena.chunks_unmapped() == arena.chunks_mapped());  // both came back after all
}

TEST_CASE("a thread stopped holding the arena's lock makes allocations fail, not hang",
          "[page_arena]") {
  page_arena arena(kPage);
  void* mine = allocate(arena);
  REQUIRE(mine != nullptr);
  const int stop = stops::arm(stop_point::page_arena_locked, stop_thread::caller, 8);
  void* theirs = nullptr;
  std::thread holder([&] {
    stops::set_thread_tag(8);
    theirs = allocate(arena);
  });
  REQUIRE(stops::wait_stopped(stop, 10'000ms));
  const auto start = std::chrono::steady_clock::now();
  CHECK(allocate(arena) == nullptr);  // a brief patience, then it gives up
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  arena.release(mine);  // wait-free: needs no lock
  arena.trim();         // gives up too, and leaves the chunks mapped
  CHECK(arena.chunks_unmapped() == 0);
  stops::release(stop);
  holder.join();
  REQUIRE(theirs != nullptr);
  arena.release(theirs);
  arena.trim();
  CHECK(arena.chunks_unmapped() == arena.chunks_mapped());
}
#endif
