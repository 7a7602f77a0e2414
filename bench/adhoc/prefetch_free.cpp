// SPDX-License-Identifier: MIT
// prefetch_free.cpp — how far ahead should the default batch free prefetch? (docs/PERFORMANCE.md,
// "Prefetching the batch free"). One thread mallocs 65,536 x 64 B objects (4 MiB: more than this
// machine's L2, as a flood's objects are by the time their grace period ends), records them in
// 506-pointer arrays as the engine's pages do, then frees every array with a loop that prefetches
// the object `distance` records ahead (glibc's free reads the chunk header just before it).
// Distances are interleaved within each of 15 rounds; medians of ns per free. Built by hand:
//   g++ -O2 -std=c++20 bench/adhoc/prefetch_free.cpp -o prefetch_free && ./prefetch_free
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
constexpr std::size_t kObjects = 65536, kPerPage = 506;

double run(std::size_t distance) {
  std::vector<void*> ptrs(kObjects);
  for (auto& p : ptrs) {
    p = std::malloc(64);
    static_cast<volatile char*>(p)[0] = 1;
  }
  // Touch 8 MiB of other memory so the objects are no longer in the near caches.
  std::vector<char> sweep(8 << 20, 1);
  for (std::size_t i = 0; i < sweep.size(); i += 64) sweep[i] = static_cast<char>(i);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t page = 0; page < kObjects; page += kPerPage) {
    void** records = ptrs.data() + page;
    const std::size_t n = std::min(kPerPage, kObjects - page);
    for (std::size_t i = 0; i < n; ++i) {
      if (distance != 0 && i + distance < n) __builtin_prefetch(records[i + distance], 1);
      std::free(records[i]);
    }
  }
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(end - start).count() / kObjects;
}
}  // namespace

int main() {
  const std::size_t distances[] = {0, 2, 4, 8, 16, 32};
  constexpr int kRounds = 15;
  std::vector<double> ns[6];
  for (int r = 0; r < kRounds; ++r) {
    for (int d = 0; d < 6; ++d) ns[d].push_back(run(distances[d]));
  }
  for (int d = 0; d < 6; ++d) {
    std::sort(ns[d].begin(), ns[d].end());
    std::printf("distance %2zu: %.1f ns per free (min %.1f, max %.1f)\n", distances[d],
                ns[d][kRounds / 2], ns[d].front(), ns[d].back());
  }
}
