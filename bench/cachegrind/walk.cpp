// SPDX-License-Identifier: MIT
// walk.cpp — rcufree_walk: the reclaim-side traversal alone, for cachegrind.
//
//   rcufree_walk array|list [objects=1000000] [free|nofree]
//
// Allocates `objects` 64-byte objects (malloc, in order), queues them the way rcufree does —
// `array`: pointers in page-sized blocks of 507 records (rcufree's blocks); `list`: linked through
// the 16-byte head at offset 0 of each object (rcufree's fallback list, liburcu call_rcu, ck) —
// then evicts the caches with a 64 MiB sweep and walks the queue once, freeing each object
// (`free`) or only visiting it (`nofree`: the traversal's own misses). The walk functions are
// never inlined, so cachegrind's per-function counts separate the traversal (walk_array,
// walk_list) from the allocator's own work (free and glibc's _int_free & co.). See
// docs/PERFORMANCE.md for the command and the figures.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kHeader = 40;                                  // rcufree's block header
constexpr std::size_t kRecords = (kPage - kHeader) / sizeof(void*);  // 507

struct object {
  object* next;  // the head's first word, as in rcu_head
  void* func;
  char payload[48];
};
static_assert(sizeof(object) == 64);

struct block {
  block* next;
  char header_rest[kHeader - sizeof(block*) - sizeof(std::uint32_t)];
  std::uint32_t count;
  void* records[kRecords];
};
static_assert(sizeof(block) == kPage);

volatile std::uintptr_t sink;

__attribute__((noinline)) std::size_t walk_array(block* chain, bool do_free) {
  std::size_t n = 0;
  std::uintptr_t sum = 0;
  while (chain != nullptr) {
    block* next = chain->next;
    for (std::uint32_t i = 0; i < chain->count; ++i) {
      if (do_free) {
        std::free(chain->records[i]);
      } else {
        sum += reinterpret_cast<std::uintptr_t>(chain->records[i]);
      }
    }
    n += chain->count;
    std::free(chain);
    chain = next;
  }
  sink = sum;
  return n;
}

__attribute__((noinline)) std::size_t walk_list(object* head, bool do_free) {
  std::size_t n = 0;
  while (head != nullptr) {
    object* next = head->next;  // the one load a list walk cannot avoid: the object's own line
    if (do_free) std::free(head);
    head = next;
    ++n;
  }
  return n;
}

__attribute__((noinline)) void evict() {
  constexpr std::size_t kSweep = std::size_t{64} << 20;
  auto* buf = static_cast<unsigned char*>(std::malloc(kSweep));
  std::memset(buf, 1, kSweep);
  std::uintptr_t sum = 0;
  for (std::size_t i = 0; i < kSweep; i += 64) sum += buf[i];
  sink = sum;
  std::free(buf);
}

}  // namespace

int main(int argc, char** argv) {
  const bool array = argc > 1 && std::strcmp(argv[1], "array") == 0;
  const bool list = argc > 1 && std::strcmp(argv[1], "list") == 0;
  const std::size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  const bool do_free = !(argc > 3 && std::strcmp(argv[3], "nofree") == 0);
  if (!array && !list) {
    std::fprintf(stderr, "usage: %s array|list [objects] [free|nofree]\n", argv[0]);
    return 2;
  }
  std::vector<object*> objs(n);
  for (auto& o : objs) {
    o = static_cast<object*>(std::malloc(sizeof(object)));
    o->payload[0] = 1;
  }
  block* chain = nullptr;
  object* head = nullptr;
  if (array) {
    block* b = nullptr;
    for (object* o : objs) {
      if (b == nullptr || b->count == kRecords) {
        auto* nb = static_cast<block*>(std::aligned_alloc(kPage, kPage));
        nb->count = 0;
        nb->next = nullptr;
        if (b != nullptr) b->next = nb;  // oldest block first, as the worker frees them
        if (chain == nullptr) chain = nb;
        b = nb;
      }
      b->records[b->count++] = o;
    }
  } else {
    for (object* o : objs) {  // push-front: the newest object is walked first
      o->next = head;
      head = o;
    }
  }
  std::vector<object*>().swap(objs);
  evict();
  const std::size_t walked = array ? walk_array(chain, do_free) : walk_list(head, do_free);
  // nofree leaves the objects allocated: this process exits now.
  std::printf("%s walk over %zu objects (%s)\n", array ? "array" : "list", walked,
              do_free ? "free" : "nofree");
  return walked == n ? 0 : 1;
}
