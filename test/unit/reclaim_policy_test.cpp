// SPDX-License-Identifier: MIT
// reclaim_policy_test.cpp — what each kind of pass takes, decided without threads
// (src/reclaim_policy.hpp).
#include "reclaim_policy.hpp"

#include <catch2/catch.hpp>

using namespace rcufree::detail;

namespace {
constexpr std::uint32_t kDrainMs = 20, kTickMs = 1;
constexpr std::uint64_t kRecordsPerPage = 507;

bool open_block_taken(const reclaim_policy& p, std::uint32_t age_ms) {
  return takes_open_block(p.open_block, age_ms, kDrainMs, kTickMs);
}
bool list_taken(const reclaim_policy& p, std::uint64_t pushed, std::uint32_t waited_ms) {
  return takes_fallback_list(p.fallback_list, pushed, kRecordsPerPage, waited_ms, kDrainMs,
                             kTickMs);
}
}  // namespace

TEST_CASE("a periodic pass takes the open block and the fallback list once they are due") {
  const reclaim_policy& p = kPeriodicPass;
  CHECK_FALSE(open_block_taken(p, 0));
  CHECK_FALSE(open_block_taken(p, kDrainMs - kTickMs - 1));
  CHECK(open_block_taken(p, kDrainMs - kTickMs));  // a tick early, not a tick late
  CHECK(open_block_taken(p, 1000));
  CHECK_FALSE(list_taken(p, 1, 0));
  CHECK_FALSE(list_taken(p, kRecordsPerPage - 1, kDrainMs - kTickMs - 1));
  CHECK(list_taken(p, kRecordsPerPage, 0));  // the flood rule: a page's worth goes at once
  CHECK(list_taken(p, 1, kDrainMs - kTickMs));
  CHECK_FALSE(p.exact);
  CHECK(p.wait == patience::kind::brief);  // a held slot is left for later
  CHECK(p.restock);
}

TEST_CASE("an expedited pass takes everything at once but waits for no one") {
  const reclaim_policy& p = kExpeditedPass;
  CHECK(open_block_taken(p, 0));
  CHECK(list_taken(p, 1, 0));
  CHECK_FALSE(p.exact);
  CHECK(p.wait == patience::kind::brief);
  CHECK(p.restock);
}

TEST_CASE("a barrier's flush and a teardown take everything, exactly") {
  for (const reclaim_policy* p : {&kBarrierFlush, &kTeardownFlush}) {
    CHECK(open_block_taken(*p, 0));
    CHECK(list_taken(*p, 1, 0));
    CHECK(p->exact);          // waits for a stalled chain's links before taking a new list
    CHECK_FALSE(p->restock);  // leaves the pools to the reclaim threads
  }
  CHECK(kBarrierFlush.wait == patience::kind::barrier);    // as long as it takes, or a fork
  CHECK(kTeardownFlush.wait == patience::kind::teardown);  // bounded, then it says so
}

TEST_CASE("callers reclaiming for themselves never touch the open block") {
  // reclaim_local(): the closed blocks and the fallback list, whatever their age.
  CHECK_FALSE(open_block_taken(kReclaimLocal, 1000));
  CHECK(list_taken(kReclaimLocal, 1, 0));
  // A head-less call helping: the closed blocks only.
  CHECK_FALSE(open_block_taken(kHeadlessHelp, 1000));
  CHECK_FALSE(list_taken(kHeadlessHelp, kRecordsPerPage * 10, 1000));
  for (const reclaim_policy* p : {&kReclaimLocal, &kHeadlessHelp}) {
    CHECK_FALSE(p->exact);
    CHECK(p->wait == patience::kind::brief);
    CHECK_FALSE(p->restock);  // the caller's pass does not allocate pages
  }
}

TEST_CASE("a pass a caller woke takes the open block at once, the fallback list when due") {
  const reclaim_policy& p = kWokenPass;
  CHECK(open_block_taken(p, 0));  // a lone object's grace period starts now
  CHECK_FALSE(list_taken(p, 1, 0));
  CHECK(list_taken(p, kRecordsPerPage, 0));
  CHECK_FALSE(p.exact);
  CHECK(p.wait == patience::kind::brief);
  CHECK(p.restock);
}
