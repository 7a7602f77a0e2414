// SPDX-License-Identifier: MIT
// mixed_workload.hpp — a few hundred thousand two-argument calls over seven object types, all
// allocated before the measured window, with every death tracked per object.
//
// Seven object types: two kfree_rcu types whose heads sit at different offsets (one reclaim kind,
// two fallback-registry entries), four delete_rcu types and one handed over with a custom deleter
// (engine::retire / rcufree::retire / the C API's rcufree_call): six reclaim kinds, so the calls
// also exercise the kind markers of a CPU's one open block. Calls come in runs of one type, 1 to
// 120 long, in a seeded order.
#pragma once

#include <rcufree/rcufree.h>

#include <algorithm>
#include <cstdint>
#include <rcufree/rcufree.hpp>
#include <utility>
#include <vector>

#include "alloc_counter.hpp"
#include "atomic_support.hpp"

namespace atomic_test {

// How the calls reach the engine.
enum class entry {
  member,         // engine.kfree_rcu / engine.delete_rcu
  free_function,  // rcufree::kfree_rcu / rcufree::delete_rcu on the default engine
  c_api,          // rcufree_kfree_rcu (kfree objects); rcufree::delete_rcu for the others
};

class mixed_workload {
 public:
  static constexpr int kTypes = 7;

  mixed_workload(std::size_t n_calls, std::uint64_t seed) : deletes_(n_calls), frees_(n_calls) {
    calls_.reserve(n_calls);
    std::uint64_t x = seed;
    auto next = [&x] {  // splitmix64
      x += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    };
    std::uint32_t next_delete_id = 0;
    while (calls_.size() < n_calls) {
      const auto type = static_cast<std::uint8_t>(next() % kTypes);
      const std::size_t run = 1 + next() % 120;
      for (std::size_t k = 0; k < run && calls_.size() < n_calls; ++k) {
        calls_.emplace_back(type, make(type, next_delete_id));
      }
    }
    for (const auto& [type, obj] : calls_) {
      if (type < 2) free_addrs_.push_back(reinterpret_cast<std::uintptr_t>(obj));
    }
    std::sort(free_addrs_.begin(), free_addrs_.end());
    n_deletes_ = next_delete_id;
    watch_ = {free_addrs_.data(), free_addrs_.size(), &on_free_death, &frees_};
  }

  mixed_workload(const mixed_workload&) = delete;
  mixed_workload& operator=(const mixed_workload&) = delete;

  // Starts recording which kfree objects std::free sees (call before the window).
  void watch_frees() const noexcept { alloc_counter::watch(&watch_); }
  static void unwatch() noexcept { alloc_counter::unwatch_all(); }

  // The measured loop: one two-argument call per object. Allocates nothing itself.
  void run(rcufree::engine* e, entry how) const noexcept { run(e, how, 0, calls_.size()); }
  // Calls [begin, end) only.
  void run(rcufree::engine* e, entry how, std::size_t begin, std::size_t end) const noexcept {
    for (std::size_t i = begin; i < end; ++i) call(e, how, calls_[i].first, calls_[i].second);
  }
  // The call for object i. Async-signal-safe.
  void call_at(rcufree::engine* e, entry how, std::size_t i) const noexcept {
    call(e, how, calls_[i].first, calls_[i].second);
  }

  std::size_t size() const noexcept { return calls_.size(); }
  std::size_t kfree_objects() const noexcept { return free_addrs_.size(); }
  std::size_t delete_objects() const noexcept { return n_deletes_; }

  // After barrier(): every object died exactly once and no destructor found a dead object.
  bool all_died_once() const noexcept {
    return frees_.ids_dead(1) == free_addrs_.size() && deletes_.ids_dead(1) == n_deletes_ &&
           frees_.ids_dead_more_than_once() == 0 && deletes_.ids_dead_more_than_once() == 0 &&
           deletes_.bad() == 0;
  }
  std::uint64_t deaths() const noexcept { return frees_.total() + deletes_.total(); }

  // One call of the two-argument form for an object of the given type.
  static void call(rcufree::engine* e, entry how, std::uint8_t type, void* obj) noexcept {
    switch (type) {
      case 0:
        return free_one(e, how, static_cast<raw_object<0>*>(obj));
      case 1:
        return free_one(e, how, static_cast<raw_object<8>*>(obj));
      case 2:
        return delete_one(e, how, static_cast<tracked<1, 0>*>(obj));
      case 3:
        return delete_one(e, how, static_cast<tracked<2, 8>*>(obj));
      case 4:
        return delete_one(e, how, static_cast<tracked<3, 16>*>(obj));
      case 5:
        return retire_one(e, how, static_cast<tracked<4, 0>*>(obj));
      default:
        return delete_one(e, how, static_cast<tracked<5, 24>*>(obj));
    }
  }

 private:
  template <class T>
  static void free_one(rcufree::engine* e, entry how, T* obj) noexcept {
    switch (how) {
      case entry::member:
        return e->kfree_rcu(obj, &T::head);
      case entry::free_function:
        return rcufree::kfree_rcu(obj, &T::head);
      case entry::c_api:
        return rcufree_kfree_rcu(obj, &obj->head);
    }
  }
  template <class T>
  struct deleter {
    void operator()(T* obj) const noexcept { delete obj; }
  };
  template <class T>
  static void c_deleter(void* obj) {
    delete static_cast<T*>(obj);
  }
  template <class T>
  static void retire_one(rcufree::engine* e, entry how, T* obj) noexcept {
    switch (how) {
      case entry::member:
        return e->retire(obj, &T::head, deleter<T>{});
      case entry::free_function:
        return rcufree::retire(obj, &T::head, deleter<T>{});
      case entry::c_api:
        return rcufree_call(obj, &obj->head, &c_deleter<T>);
    }
  }
  template <class T>
  static void delete_one(rcufree::engine* e, entry how, T* obj) noexcept {
    if (how == entry::member) return e->delete_rcu(obj, &T::head);
    rcufree::delete_rcu(obj, &T::head);
  }

  void* make(std::uint8_t type, std::uint32_t& next_delete_id) {
    switch (type) {
      case 0:
        return make_raw<0>(0);
      case 1:
        return make_raw<8>(0);
      case 2:
        return new tracked<1, 0>(&deletes_, next_delete_id++);
      case 3:
        return new tracked<2, 8>(&deletes_, next_delete_id++);
      case 4:
        return new tracked<3, 16>(&deletes_, next_delete_id++);
      case 5:
        return new tracked<4, 0>(&deletes_, next_delete_id++);
      default:
        return new tracked<5, 24>(&deletes_, next_delete_id++);
    }
  }

  static void on_free_death(void* ctx, std::size_t index) noexcept {
    static_cast<death_book*>(ctx)->record(static_cast<std::uint32_t>(index));
  }

  death_book deletes_;
  death_book frees_;
  std::vector<std::pair<std::uint8_t, void*>> calls_;
  std::vector<std::uintptr_t> free_addrs_;
  std::size_t n_deletes_ = 0;
  alloc_counter::watched_set watch_{};
};

}  // namespace atomic_test
