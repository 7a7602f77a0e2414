// SPDX-License-Identifier: MIT
// rseq_section.hpp — the atomic path's two restartable sequences, and the membarrier that makes
// another CPU's sequences restart.
//
// A restartable sequence (rseq; Linux 4.18+, registered for every thread by glibc 2.35+) is a
// short run of instructions that the kernel restarts at an abort address if the thread is
// preempted, migrated or signalled before the last instruction, the commit, retires. Run on the
// slot of the CPU it checks, it is atomic against every other thread on that CPU (they can only
// run while it is not running) and against signal handlers of its own thread, with plain loads
// and one plain store: no locked instruction (an exchange that takes a slot flag costs 9-10 ns
// here, the section 2 ns: bench/adhoc/rseq_append.cpp).
//
// It is not atomic against threads on OTHER CPUs. Those take the slot's exchange flag and then
// call membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) on the slot's CPU: every sequence running
// there is restarted (and then sees the flag), every one that committed is visible (percpu.hpp,
// pairs M1/M2).
//
//   rseq_append  records one object in the open block: the same kind as its last marker, room
//                for it, no flag held; commits the slot's fill word (records | objects << 32).
//   rseq_enter   takes the slot's own-CPU flag: no flag held; commits the flag's store.
// Each returns `moved` when the thread is not on `cpu` (or was moved off it mid-way: the abort),
// `held` when a flag is taken, `other` when the append needs the slow path (no open block, a
// different kind, no room).
//
// x86-64 only; elsewhere, under ThreadSanitizer (which cannot see the kernel's restarts) and in
// threads without a registered rseq area (valgrind, GLIBC_TUNABLES=glibc.pthread.rseq=0) the
// engine keeps the exchange-flag protocol: rseq_usable() says which.
#pragma once

#include <sys/rseq.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "block.hpp"

namespace rcufree::detail {

// What the sequences read and write in a CPU slot, at fixed offsets (standard layout).
// Invariant: while open != nullptr, fill == (records used) | (objects) << 32 of that block; the
// block's own count and objects are written from it when it closes.
struct slot_head {
  std::atomic<std::uint8_t> here{0};       // the own-CPU flag: taken by rseq_enter
  std::atomic<std::uint8_t> elsewhere{0};  // the exchange flag: taken with an exchange
  block* open = nullptr;                   // the block taking pointers, or null
  std::atomic<std::uint64_t> fill{0};
};
static_assert(std::is_standard_layout_v<slot_head> && std::is_standard_layout_v<block>,
              "the sequences use fixed offsets");
static_assert(sizeof(std::atomic<std::uint8_t>) == 1 && sizeof(std::atomic<std::uint64_t>) == 8);
inline constexpr std::uint64_t kOneRecord = 1, kOneObject = std::uint64_t{1} << 32;

enum class rseq_result { committed, held, other, moved };

// True when this build and this process can use the sequences: x86-64, no ThreadSanitizer, the
// calling thread has a registered rseq area, and membarrier's rseq command is registered for the
// process (done here, once). RCUFREE_NO_RSEQ=1 in the environment says no (for comparisons).
bool rseq_usable() noexcept;
// Restarts every rseq sequence running on `cpu` and orders its commits before the return.
// Sleepable (a system call and an IPI).
void restart_sequences_on(std::size_t cpu) noexcept;

inline struct rseq* rseq_area() noexcept {
  return reinterpret_cast<struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) +
                                        __rseq_offset);
}

// The CPU this thread runs on, as the kernel keeps it in the thread's rseq area (glibc 2.35+
// registers one for every thread): one thread-local load. Negative where no area is registered
// (valgrind, GLIBC_TUNABLES=glibc.pthread.rseq=0, old kernels).
inline std::int32_t rseq_cpu_registered() noexcept {  // once rseq_usable() said yes
  return static_cast<std::int32_t>(static_cast<const volatile struct rseq*>(rseq_area())->cpu_id);
}
inline std::int32_t rseq_cpu() noexcept {
  if (__rseq_size < offsetof(struct rseq, cpu_id) + sizeof(std::uint32_t)) return -1;
  return rseq_cpu_registered();
}

#if defined(__x86_64__)

// Every sequence is RCUFREE_RSEQ_START, its body, its commit, RCUFREE_RSEQ_END. START puts the
// descriptor in __rseq_cs (the section runs from label 1 to label 2, the abort address is label
// 4), registers it in the thread's area and, first thing in the section, checks that the thread
// runs on the CPU expected (operands rs, cpu, cs_off, cpu_off; clobbers rax). END puts the abort
// address in __rseq_failure, after glibc's registered signature (RSEQ_SIG, 0x53053053 on x86)
// inside a ud1 instruction, as the kernel requires, jumping to the C++ label `moved`.
#define RCUFREE_RSEQ_START              \
  ".pushsection __rseq_cs, \"aw\"\n\t"  \
  ".balign 32\n\t"                      \
  "3:\n\t"                              \
  ".long 0, 0\n\t"                      \
  ".quad 1f, (2f - 1f), 4f\n\t"         \
  ".popsection\n\t"                     \
  "leaq 3b(%%rip), %%rax\n\t"           \
  "movq %%rax, %c[cs_off](%[rs])\n\t"   \
  "1:\n\t"                              \
  "cmpl %[cpu], %c[cpu_off](%[rs])\n\t" \
  "jnz 4f\n\t"
#define RCUFREE_RSEQ_END                    \
  "2:\n\t"                                  \
  ".pushsection __rseq_failure, \"ax\"\n\t" \
  ".byte 0x0f, 0xb9, 0x3d\n\t"              \
  ".long 0x53053053\n\t"                    \
  "4:\n\t"                                  \
  "jmp %l[moved]\n\t"                       \
  ".popsection\n\t"

// Both sequences, and every inline function that uses them,
// have internal linkage and are always inlined: a descriptor in __rseq_cs points into the code
// around it, and an out-of-line copy in a COMDAT group that the linker discards (another
// translation unit's copy kept) would leave it pointing into a discarded section.
[[gnu::always_inline]] static inline rseq_result rseq_append(slot_head& h, std::uint32_t cpu,
                                                             void* obj,
                                                             const reclaim_kind* kind) noexcept {
  struct rseq* rs = rseq_area();
  asm goto(
      RCUFREE_RSEQ_START
      // (B1) / (M2) in percpu.hpp: both flags (here, elsewhere), loaded in the sequence, so that a
      // taker's membarrier (M1) restarts it if it runs before the commit.
      "cmpw $0, %c[flags](%[h])\n\t"
      "jnz %l[held]\n\t"
      "movq %c[open](%[h]), %%rcx\n\t"
      "testq %%rcx, %%rcx\n\t"
      "jz %l[other]\n\t"
      "cmpq %[kind], %c[kind_off](%%rcx)\n\t"
      "jnz %l[other]\n\t"
      "movq %c[fill](%[h]), %%rdx\n\t"
      "movl %%edx, %%eax\n\t"
      "cmpl %c[cap](%%rcx), %%eax\n\t"
      "jae %l[other]\n\t"
      "movq %[obj], %c[records](%%rcx,%%rax,8)\n\t"
      "movabsq $0x100000001, %%rax\n\t"  // one record, one object
      "addq %%rax, %%rdx\n\t"
      // The commit: (F1) in percpu.hpp, a plain x86 store (release) of the fill word after the
      // record; pairs with (F2) in queued().
      "movq %%rdx, %c[fill](%[h])\n\t" RCUFREE_RSEQ_END
      :
      : [rs] "r"(rs), [cpu] "r"(cpu), [h] "r"(&h), [obj] "r"(obj), [kind] "r"(kind),
        [cs_off] "i"(offsetof(struct rseq, rseq_cs)), [cpu_off] "i"(offsetof(struct rseq, cpu_id)),
        [flags] "i"(offsetof(slot_head, here)), [open] "i"(offsetof(slot_head, open)),
        [fill] "i"(offsetof(slot_head, fill)), [kind_off] "i"(offsetof(block, last_kind)),
        [cap] "i"(offsetof(block, capacity)), [records] "i"(sizeof(block))
      : "rax", "rcx", "rdx", "memory", "cc"
      : held, other, moved);
  return rseq_result::committed;
held:
  return rseq_result::held;
other:
  return rseq_result::other;
moved:
  return rseq_result::moved;
}

[[gnu::always_inline]] static inline rseq_result rseq_enter(slot_head& h,
                                                            std::uint32_t cpu) noexcept {
  struct rseq* rs = rseq_area();
  asm goto(
      RCUFREE_RSEQ_START
      "cmpw $0, %c[flags](%[h])\n\t"  // (B1) / (M2), as in rseq_append
      "jnz %l[held]\n\t"
      // The commit: `here` taken. An elsewhere-taker sees it through (M3) after its membarrier
      // (M1), or its membarrier restarts this sequence first.
      "movb $1, %c[flags](%[h])\n\t" RCUFREE_RSEQ_END
      :
      : [rs] "r"(rs), [cpu] "r"(cpu), [h] "r"(&h), [cs_off] "i"(offsetof(struct rseq, rseq_cs)),
        [cpu_off] "i"(offsetof(struct rseq, cpu_id)), [flags] "i"(offsetof(slot_head, here))
      : "rax", "memory", "cc"
      : held, moved);
  return rseq_result::committed;
held:
  return rseq_result::held;
moved:
  return rseq_result::moved;
}
#else
static inline rseq_result rseq_append(slot_head&, std::uint32_t, void*,
                                      const reclaim_kind*) noexcept {
  return rseq_result::moved;  // never called: rseq_usable() is false here
}
static inline rseq_result rseq_enter(slot_head&, std::uint32_t) noexcept {
  return rseq_result::moved;
}
#endif

}  // namespace rcufree::detail
