// SPDX-License-Identifier: MIT
// torture_support.cpp — tracker bookkeeping: what was created, how and when it was freed.
#include "torture_support.hpp"

#include <urcu/urcu-memb.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace torture {
namespace {

// The node this thread is handing to rcufree right now: a free of it inside the call (a
// head-less call that found no page frees inline after its own grace period) is legitimate.
thread_local const node* t_retiring = nullptr;

// Live trackers, so the free hook acts only on nodes whose owner is real. Constant-initialized:
// usable from the very first free of the process.
constexpr int kMaxTrackers = 16;
std::atomic<tracker*> g_trackers[kMaxTrackers];

bool known(const tracker* t) noexcept {
  if (t == nullptr) return false;
  for (auto& slot : g_trackers) {
    // relaxed: a tracker is registered before any of its nodes exists and unregistered after
    // the last is freed (the tests barrier first), so the node's own publication orders this.
    if (slot.load(std::memory_order_relaxed) == t) return true;
  }
  return false;
}

int index_of(entry e) noexcept { return static_cast<int>(e); }

template <class Fn>
void in_context(unsigned context, Fn&& call) {
  switch (context % 3) {
    case 0:
      call();
      break;
    case 1: {
      rcufree::atomic_scope scope;
      call();
      break;
    }
    default:
      urcu_memb_read_lock();  // the two-argument forms are allowed inside a read-side section
      call();
      urcu_memb_read_unlock();
      break;
  }
}

}  // namespace

const char* entry_name(entry e) noexcept {
  switch (e) {
    case entry::kfree_rcu: return "kfree_rcu";
    case entry::delete_rcu: return "delete_rcu";
    case entry::kvfree_rcu_mightsleep: return "kvfree_rcu_mightsleep";
    case entry::delete_rcu_mightsleep: return "delete_rcu_mightsleep";
    case entry::c_kfree_rcu: return "rcufree_kfree_rcu (C)";
    case entry::c_kvfree_rcu_mightsleep: return "rcufree_kvfree_rcu_mightsleep (C)";
  }
  return "?";
}

node::~node() {
  if (owner != nullptr) owner->on_reclaim(this);
}

tracker::tracker() noexcept {
  for (auto& c : created_) c.store(0, std::memory_order_relaxed);    // relaxed: construction
  for (auto& c : reclaimed_) c.store(0, std::memory_order_relaxed);  // relaxed: construction
  for (auto& c : inline_) c.store(0, std::memory_order_relaxed);     // relaxed: construction
  for (auto& c : ages_) c.store(0, std::memory_order_relaxed);       // relaxed: construction
  for (auto& slot : g_trackers) {
    tracker* expected = nullptr;
    // relaxed: see known(); the CAS only has to claim a free slot.
    if (slot.compare_exchange_strong(expected, this, std::memory_order_relaxed)) return;
  }
  std::fprintf(stderr, "torture: more than %d live trackers\n", kMaxTrackers);
  std::abort();
}

tracker::~tracker() {
  for (auto& slot : g_trackers) {
    tracker* expected = this;
    // relaxed: see known().
    slot.compare_exchange_strong(expected, nullptr, std::memory_order_relaxed);
  }
}

node* tracker::make(entry how, rcufree::engine& eng, std::uint64_t gen) {
  node* n;
  if (uses_delete(how)) {
    n = new node;
  } else {
    void* raw = std::malloc(sizeof(node));
    if (raw == nullptr) std::abort();
    n = new (raw) node;  // freed with std::free by rcufree; the free hook stands in for ~node
  }
  n->gen = gen;
  n->how = how;
  n->owner = this;
  n->gp = uses_default_engine(how) ? &grace_periods_of(rcufree::default_engine())
                                   : &grace_periods_of(eng);
  created_[index_of(how)].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  return n;
}

void tracker::stamp(node* n) noexcept {
  n->retire_gp = n->gp->count();
  n->retire_cookie = n->gp->snapshot();  // after the unlink: a full fence inside
}

void tracker::retire(node* n, rcufree::engine& eng, unsigned context) {
  stamp(n);
  t_retiring = n;
  switch (n->how) {
    case entry::kfree_rcu:
      in_context(context, [&] { eng.kfree_rcu(n, &node::head); });
      break;
    case entry::delete_rcu:
      in_context(context, [&] { eng.delete_rcu(n, &node::head); });
      break;
    case entry::kvfree_rcu_mightsleep:
      eng.kvfree_rcu_mightsleep(n);
      break;
    case entry::delete_rcu_mightsleep:
      eng.delete_rcu_mightsleep(n);
      break;
    case entry::c_kfree_rcu:
      in_context(context, [&] { rcufree_kfree_rcu(n, &n->head); });
      break;
    case entry::c_kvfree_rcu_mightsleep:
      rcufree_kvfree_rcu_mightsleep(n);
      break;
  }
  t_retiring = nullptr;  // n may be gone already: never touch it after the call
}

void tracker::on_reclaim(node* n) noexcept {
  const int i = index_of(n->how);
  // relaxed: no ordering of our own on purpose. What must order the reader's decrement before
  // this load is the grace period (membarrier) — the very thing under test; an acquire here
  // would hand ThreadSanitizer an edge the engine is supposed to provide.
  const std::uint32_t held = n->holders.load(std::memory_order_relaxed);
  if (held != 0) {
    early_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    note_failure("freed while a reader held it: gen, holders", n->gen, held);
  }
  if (t_retiring == n) {
    inline_[i].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  } else if (!n->gp->expired(n->retire_cookie)) {
    ungraced_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    note_failure("freed before a full grace period after its retire: gen, cookie", n->gen,
                 n->retire_cookie);
  }
  const std::uint64_t age = n->gp->count() - n->retire_gp;
  int b = kAgeBuckets - 1;
  while (b > 0 && age < kAgeBounds[b]) --b;
  ages_[b].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  // relaxed: a statistic; the CAS loop only keeps the maximum.
  std::uint64_t seen = max_age_.load(std::memory_order_relaxed);
  while (age > seen && !max_age_.compare_exchange_weak(seen, age, std::memory_order_relaxed)) {
  }
  n->magic = kDead;  // poison before the memory goes back: a late reader sees it
  n->gen = 0;
  reclaimed_[i].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
}

void tracker::reader_saw_dead(std::uint64_t magic, std::uint64_t gen,
                              std::uint64_t expected_gen) noexcept {
  reader_failures_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  note_failure(magic == kAlive ? "a reader found its node reused: gen now, gen seen"
                               : "a reader found its node poisoned: gen now, gen seen",
               gen, expected_gen);
}

void tracker::note_failure(const char* what, std::uint64_t a, std::uint64_t b) noexcept {
  // acq_rel: the first thread to flip the flag writes failure_; first_failure() reads it only
  // after the threads are joined.
  if (failure_noted_.exchange(true, std::memory_order_acq_rel)) return;
  std::snprintf(failure_, sizeof failure_, "%s = %llu, %llu", what,
                static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
}

// relaxed loads below: statistics, read after the threads that wrote them were joined and the
// engines were flushed with barrier().
std::uint64_t tracker::created(entry e) const noexcept {
  return created_[index_of(e)].load(std::memory_order_relaxed);
}
std::uint64_t tracker::reclaimed(entry e) const noexcept {
  return reclaimed_[index_of(e)].load(std::memory_order_relaxed);
}
std::uint64_t tracker::created_total() const noexcept {
  std::uint64_t n = 0;
  for (int i = 0; i < kEntries; ++i) n += created(static_cast<entry>(i));
  return n;
}
std::uint64_t tracker::reclaimed_total() const noexcept {
  std::uint64_t n = 0;
  for (int i = 0; i < kEntries; ++i) n += reclaimed(static_cast<entry>(i));
  return n;
}
std::uint64_t tracker::early_frees() const noexcept { return early_.load(std::memory_order_relaxed); }
std::uint64_t tracker::ungraced_frees() const noexcept {
  return ungraced_.load(std::memory_order_relaxed);
}
std::uint64_t tracker::reader_failures() const noexcept {
  return reader_failures_.load(std::memory_order_relaxed);
}
std::uint64_t tracker::age_bucket(int i) const noexcept {
  return ages_[i].load(std::memory_order_relaxed);
}
std::uint64_t tracker::max_age() const noexcept { return max_age_.load(std::memory_order_relaxed); }

std::string tracker::report() const {
  std::string out;
  char line[160];
  for (int i = 0; i < kEntries; ++i) {
    const auto e = static_cast<entry>(i);
    std::snprintf(line, sizeof line, "  %-36s created %9llu  freed %9llu  inline %7llu\n",
                  entry_name(e), static_cast<unsigned long long>(created(e)),
                  static_cast<unsigned long long>(reclaimed(e)),
                  static_cast<unsigned long long>(inline_[i].load(std::memory_order_relaxed)));
    out += line;
  }
  out += "  age in grace periods when freed (0 = freed inline by a head-less call):\n";
  const std::uint64_t total = reclaimed_total();
  for (int b = 0; b < kAgeBuckets; ++b) {
    char range[32];
    if (b + 1 < kAgeBuckets && kAgeBounds[b + 1] == kAgeBounds[b] + 1) {
      std::snprintf(range, sizeof range, "%llu", static_cast<unsigned long long>(kAgeBounds[b]));
    } else if (b + 1 < kAgeBuckets) {
      std::snprintf(range, sizeof range, "%llu-%llu", static_cast<unsigned long long>(kAgeBounds[b]),
                    static_cast<unsigned long long>(kAgeBounds[b + 1] - 1));
    } else {
      std::snprintf(range, sizeof range, "%llu+", static_cast<unsigned long long>(kAgeBounds[b]));
    }
    const std::uint64_t n = age_bucket(b);
    std::snprintf(line, sizeof line, "    %-7s %10llu  %5.1f%%\n", range,
                  static_cast<unsigned long long>(n), total ? 100.0 * double(n) / double(total) : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "  max age %llu; freed early (reader held it) %llu; freed before its cookie "
                "expired %llu; reader failures %llu\n",
                static_cast<unsigned long long>(max_age()),
                static_cast<unsigned long long>(early_frees()),
                static_cast<unsigned long long>(ungraced_frees()),
                static_cast<unsigned long long>(reader_failures()));
  out += line;
  return out;
}

std::string tracker::first_failure() const {
  // acquire: pairs with note_failure's exchange.
  return failure_noted_.load(std::memory_order_acquire) ? std::string(failure_) : std::string();
}

bool inspect_free(void* p) noexcept {
  std::uint64_t magic;
  std::memcpy(&magic, p, sizeof magic);
  if (magic != kAlive && magic != kDead) return false;
  node* n = static_cast<node*>(p);
  if (!known(n->owner)) return false;
  if (magic == kAlive && !uses_delete(n->how)) n->owner->on_reclaim(n);
  return true;
}

double torture_seconds(double fallback) noexcept {
  const char* text = std::getenv("RCUFREE_TORTURE_SECONDS");
  if (text == nullptr) return fallback;
  const double s = std::strtod(text, nullptr);
  return s > 0 ? s : fallback;
}

}  // namespace torture
