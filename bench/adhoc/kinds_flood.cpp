// SPDX-License-Identifier: MIT
// kinds_flood.cpp — 1,000,000 delete_rcu calls from one producer: one type, or five types
// interleaved call by call (docs/PERFORMANCE.md, "Many reclaim kinds"). Built by hand, against
// the static library of the bench build:
//   cmake --build build/bench --target rcufree_static &&
//   g++ -O2 -std=c++20 bench/adhoc/kinds_flood.cpp -Iinclude build/bench/librcufree.a \
//       -lurcu-memb -lpthread -o kinds_flood && ./kinds_flood one && ./kinds_flood mixed
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <rcufree/rcufree.hpp>
template <int N>
struct obj {
  long pad[4];
  rcu_head head;
};
int main(int argc, char** argv) {
  const bool mixed = argc > 1 && std::strcmp(argv[1], "mixed") == 0;
  const int n = 1000000;
  rcufree::engine eng;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i += 5) {
    if (mixed) {
      eng.delete_rcu(new obj<0>, &obj<0>::head);
      eng.delete_rcu(new obj<1>, &obj<1>::head);
      eng.delete_rcu(new obj<2>, &obj<2>::head);
      eng.delete_rcu(new obj<3>, &obj<3>::head);
      eng.delete_rcu(new obj<4>, &obj<4>::head);
    } else {
      for (int k = 0; k < 5; ++k) eng.delete_rcu(new obj<0>, &obj<0>::head);
    }
  }
  eng.barrier();
  auto t1 = std::chrono::steady_clock::now();
  auto st = eng.snapshot();
  std::printf("%s: %.1f ns/object (wall, to barrier), fallback %.1f %%, page allocs %llu\n",
              mixed ? "5 types interleaved" : "1 type             ",
              std::chrono::duration<double, std::nano>(t1 - t0).count() / n,
              100.0 * double(st.fallback_objects) / double(st.queued),
              (unsigned long long)st.page_allocs);
}
