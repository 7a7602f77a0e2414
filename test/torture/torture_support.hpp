// SPDX-License-Identifier: MIT
// torture_support.hpp — objects that know when they are freed, and the bookkeeping around them.
//
// A torture node carries a magic word and a generation. Whatever frees it poisons both first:
// ~node for the delete kinds, a free hook (free_hook.cpp) for the std::free kinds. So a reader
// that reaches a freed node sees the poison (or, once the memory is reused, a different
// generation), and the free path itself can check that no reader holds the node: readers bump
// node::holders for as long as their read-side critical section keeps the node in hand.
#pragma once

#include <rcufree/rcufree.h>
#include <rcufree/rcufree.hpp>

#include "engine_core.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace torture {

inline constexpr std::uint64_t kAlive = 0x2165727574726f74ull;  // "torture!"
inline constexpr std::uint64_t kDead = 0x6461656464616564ull;

// Every way to hand an object to rcufree. The first four act on a chosen engine; the C API acts
// on the default engine.
enum class entry : std::uint8_t {
  kfree_rcu,                 // engine::kfree_rcu(obj, &node::head), std::free
  delete_rcu,                // engine::delete_rcu(obj, &node::head), delete
  kvfree_rcu_mightsleep,     // engine::kvfree_rcu_mightsleep(obj), std::free
  delete_rcu_mightsleep,     // engine::delete_rcu_mightsleep(obj), delete
  c_kfree_rcu,               // rcufree_kfree_rcu(obj, &obj->head), std::free, default engine
  c_kvfree_rcu_mightsleep,   // rcufree_kvfree_rcu_mightsleep(obj), std::free, default engine
};
inline constexpr int kEntries = 6;
const char* entry_name(entry e) noexcept;
inline bool uses_delete(entry e) noexcept {
  return e == entry::delete_rcu || e == entry::delete_rcu_mightsleep;
}
inline bool uses_default_engine(entry e) noexcept {
  return e == entry::c_kfree_rcu || e == entry::c_kvfree_rcu_mightsleep;
}

class tracker;

struct node {
  std::uint64_t magic = kAlive;  // offset 0: how the free hook recognizes a live torture node
  std::uint64_t gen = 0;         // unique per node: tells a reused allocation from the original
  std::atomic<std::uint32_t> holders{0};  // readers holding it inside their critical section
  entry how = entry::kfree_rcu;
  const rcufree::detail::grace_period* gp = nullptr;  // the engine's grace periods, for ages
  std::uint64_t retire_gp = 0;   // gp->count() when it was handed to rcufree
  std::uint64_t retire_cookie = 0;  // gp->snapshot() then: expired once a full grace period passed
  tracker* owner = nullptr;
  rcu_head head{};

  node() = default;
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node();  // delete kinds only: the std::free kinds are seen by the free hook instead
};

// Ages are counted in grace periods of the engine that freed the node; bucket i holds ages in
// [kAgeBounds[i], kAgeBounds[i+1]).
inline constexpr int kAgeBuckets = 8;
inline constexpr std::uint64_t kAgeBounds[kAgeBuckets] = {0, 1, 2, 3, 4, 8, 16, 64};

// Counts what happened to nodes. Shared by any number of threads; every counter is a relaxed
// atomic (statistics read after joins and barriers, which order them).
class tracker {
 public:
  tracker() noexcept;
  ~tracker();

  // A node ready to publish: `how` decides its allocation (new or malloc) and its engine.
  node* make(entry how, rcufree::engine& eng, std::uint64_t gen);
  // Records the engine's grace-period count and cookie on a node just unlinked (retire does it).
  void stamp(node* n) noexcept;
  // Hands a node that no reader can newly reach to rcufree through its entry point. Two-argument
  // forms run plainly, inside an atomic_scope or inside a read-side critical section (the caller
  // must be registered with urcu-memb for that), as `context` % 3 picks.
  void retire(node* n, rcufree::engine& eng, unsigned context);

  // The free path: called by ~node and the free hook before the memory goes back.
  void on_reclaim(node* n) noexcept;
  // Readers report what they saw.
  void reader_saw_dead(std::uint64_t magic, std::uint64_t gen, std::uint64_t expected_gen) noexcept;

  std::uint64_t created(entry e) const noexcept;
  std::uint64_t reclaimed(entry e) const noexcept;
  std::uint64_t created_total() const noexcept;
  std::uint64_t reclaimed_total() const noexcept;
  std::uint64_t early_frees() const noexcept;      // freed while a reader held it
  std::uint64_t ungraced_frees() const noexcept;   // freed before its retire cookie expired
  std::uint64_t reader_failures() const noexcept;  // readers that found poison or a new gen
  std::uint64_t age_bucket(int i) const noexcept;
  std::uint64_t max_age() const noexcept;
  // One-paragraph report: counts per entry point and the age histogram.
  std::string report() const;
  // The first failure seen, in words ("" if none).
  std::string first_failure() const;

 private:
  void note_failure(const char* what, std::uint64_t a, std::uint64_t b) noexcept;

  std::atomic<std::uint64_t> created_[kEntries];
  std::atomic<std::uint64_t> reclaimed_[kEntries];
  std::atomic<std::uint64_t> inline_[kEntries];  // freed inside the call that queued them
  std::atomic<std::uint64_t> ages_[kAgeBuckets];
  std::atomic<std::uint64_t> max_age_{0};
  std::atomic<std::uint64_t> early_{0};
  std::atomic<std::uint64_t> ungraced_{0};
  std::atomic<std::uint64_t> reader_failures_{0};
  std::atomic<bool> failure_noted_{false};
  char failure_[160] = {};
};

// Called by the free hook for every block being freed (before it is released): if it is a live
// torture node of a std::free kind, poisons it and tells its tracker. True for any torture node
// (also a delete kind's, already poisoned by ~node), so the hook can hold it in quarantine.
bool inspect_free(void* p) noexcept;

// How long a torture phase runs: RCUFREE_TORTURE_SECONDS if set (the long run), else fallback.
double torture_seconds(double fallback) noexcept;

// Tiny PRNG for test threads (xorshift64*): no locks, no allocation.
struct rng {
  explicit rng(std::uint64_t seed) noexcept : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t operator()() noexcept {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  std::uint64_t s;
};

inline const rcufree::detail::grace_period& grace_periods_of(rcufree::engine& eng) noexcept {
  return rcufree::engine_access::core(eng).gp;
}

// Reads a field once, as a plain (non-atomic) load the compiler may not merge or hoist: readers
// re-read magic and gen at the end of a section to catch a free that happened meanwhile.
inline std::uint64_t read_once(const std::uint64_t& field) noexcept {
  return *static_cast<const volatile std::uint64_t*>(&field);
}

}  // namespace torture
