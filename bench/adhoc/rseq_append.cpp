// SPDX-License-Identifier: MIT
// rseq_append.cpp — what would a restartable sequence save on the atomic path? (docs/
// PERFORMANCE.md, "What an rseq commit would save"). The engine's two-argument call takes its
// CPU slot's busy flag with one locked exchange, appends the pointer to the open block and
// releases the flag. A restartable sequence (rseq, Linux 4.18+, registered by glibc 2.35+) does
// the same append with plain loads and one plain store as its commit: the kernel restarts the
// sequence if the thread is preempted, migrated or signalled before the commit.
// Three appends, each out of line as the engine's is, into a 506-record block that is emptied
// when full (the objects are freed at once, on this thread, as the engine's pages are not):
//   flag  — the engine's protocol: exchange(acquire), append, store(release)
//   rseq  — an rseq critical section: check cpu_id, check the slot is not held, append, commit
//   plain — no protection at all: the floor, not safe with two threads on one CPU
// Two loops: `call` appends one fixed pointer (the call alone); `flood` mallocs 64 B, writes a
// byte and appends (the seeds' test, with the frees on this thread). Kinds are interleaved within
// each of 9 rounds; medians (min-max) of ns per call. x86-64 only. Built by hand:
//   g++ -O2 -std=c++20 -Iinclude -Isrc bench/adhoc/rseq_append.cpp -o rseq_append && ./rseq_append
// The sequence's frame (descriptor, CPU check, abort address) is the engine's own
// (src/rseq_section.hpp); the body is this simplified slot's.
#include <sys/rseq.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "rseq_section.hpp"

#if !defined(__x86_64__)
int main() {
  std::puts("rseq_append: x86-64 only");
  return 0;
}
#else

namespace {

constexpr std::uint32_t kRecords = 506;

struct block {
  std::uint32_t count = 0;
  void* records[kRecords];
};

struct slot {
  std::atomic<bool> busy{false};  // held by a reclaimer (or, for `flag`, by every caller)
  block* open = nullptr;
};

slot g_slot;
block g_block;

struct rseq* rseq_area() {
  return reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) +
                                        __rseq_offset);
}

// The engine's protocol, simplified: no kinds, no page change.
__attribute__((noinline)) bool append_flag(slot& s, void* obj) {
  // relaxed pre-check, then acquire: pairs with the release store below, of the previous holder.
  if (s.busy.load(std::memory_order_relaxed) || s.busy.exchange(true, std::memory_order_acquire))
    return false;
  block* b = s.open;
  const bool ok = b->count < kRecords;
  if (ok) b->records[b->count++] = obj;
  s.busy.store(false, std::memory_order_release);  // release: pairs with the acquire above
  return ok;
}

__attribute__((noinline)) bool append_plain(slot& s, void* obj) {
  block* b = s.open;
  if (b->count >= kRecords) return false;
  b->records[b->count++] = obj;
  return true;
}

// The commit is the store of the new count.
__attribute__((noinline)) bool append_rseq(slot& s, void* obj) {
  struct rseq* rs = rseq_area();
  const std::uint32_t cpu = rs->cpu_id_start;
  asm goto(
      RCUFREE_RSEQ_START
      "cmpb $0, (%[slot])\n\t"
      "jnz 4f\n\t"
      "movq 8(%[slot]), %%rcx\n\t"
      "movl (%%rcx), %%edx\n\t"
      "cmpl %[cap], %%edx\n\t"
      "jae %l[full]\n\t"
      "movq %[obj], 8(%%rcx,%%rdx,8)\n\t"
      "incl %%edx\n\t"
      "movl %%edx, (%%rcx)\n\t"  // commit
      RCUFREE_RSEQ_END
      :
      : [rs] "r"(rs), [cpu] "r"(cpu), [slot] "r"(&s), [obj] "r"(obj), [cap] "i"(kRecords),
        [cs_off] "i"(offsetof(struct rseq, rseq_cs)), [cpu_off] "i"(offsetof(struct rseq, cpu_id))
      : "rax", "rcx", "rdx", "memory", "cc"
      : full, moved);
  return true;
full:
  return false;
moved:
  return false;  // the engine would retry or take its busy-flag path
}

using append_fn = bool (*)(slot&, void*);

double run_call(append_fn fn, std::size_t n) {
  void* obj = &g_block;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    if (!fn(g_slot, obj)) g_block.count = 0;
  }
  const auto end = std::chrono::steady_clock::now();
  g_block.count = 0;  // the fixed pointer is not to be freed
  return std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(n);
}

double run_flood(append_fn fn, std::size_t n) {
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    void* obj = std::malloc(64);
    static_cast<volatile char*>(obj)[0] = 1;
    while (!fn(g_slot, obj)) {
      for (std::uint32_t k = 0; k < g_block.count; ++k) std::free(g_block.records[k]);
      g_block.count = 0;
    }
  }
  const auto end = std::chrono::steady_clock::now();
  for (std::uint32_t k = 0; k < g_block.count; ++k) std::free(g_block.records[k]);
  g_block.count = 0;
  return std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(n);
}

void report(const char* what, std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  std::printf("  %-12s %6.2f ns (%.2f-%.2f)\n", what, v[v.size() / 2], v.front(), v.back());
}

}  // namespace

int main() {
  if (__rseq_size == 0 || static_cast<std::int32_t>(rseq_area()->cpu_id) < 0) {
    std::puts("rseq_append: glibc did not register rseq here (valgrind? old kernel?)");
    return 0;
  }
  g_slot.open = &g_block;
  struct kind {
    const char* name;
    append_fn fn;
  };
  const kind kinds[] = {{"flag", append_flag}, {"rseq", append_rseq}, {"plain", append_plain}};
  std::vector<double> call[3], flood[3];
  for (int round = 0; round < 9; ++round) {
    for (int k = 0; k < 3; ++k) call[k].push_back(run_call(kinds[k].fn, 20'000'000));
    for (int k = 0; k < 3; ++k) flood[k].push_back(run_flood(kinds[k].fn, 2'000'000));
  }
  std::puts("call (one fixed pointer), ns per call, median of 9 (min-max):");
  for (int k = 0; k < 3; ++k) report(kinds[k].name, call[k]);
  std::puts("flood (malloc 64 B + write + append; frees on this thread), ns per object:");
  for (int k = 0; k < 3; ++k) report(kinds[k].name, flood[k]);
  return 0;
}

#endif
