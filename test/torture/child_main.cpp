// SPDX-License-Identifier: MIT
// child_main.cpp — torture_child: what has to happen in a process of its own.
//
//   torture_child exit-default N    queue N nodes per entry point on the default engine (from main
//                                   and from threads that exit at once), return from main with
//                                   no barrier; at the very end report on stderr:
//                                   "report created=C reclaimed=R early=E ungraced=U readers=F"
//   torture_child head-before-object           rcufree_kfree_rcu(obj, head) with head < obj
//   torture_child double-queue                 kfree_rcu of one object twice, then barrier
//   torture_child use-after-destroy            kfree_rcu on an engine after its destructor ran
// The misuse modes are expected to abort with an "rcufree: ..." diagnostic; they exit 0 if the
// call came back.
#include "torture_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

// Constructed before every default-priority static (init_priority 101), so registered with
// atexit before the default engine's own exit handler, and therefore destroyed after it: the
// report sees everything the exit-time drain freed.
struct exit_report {
  torture::tracker* tr = nullptr;
  ~exit_report() {
    if (tr == nullptr) return;
    std::fprintf(stderr, "report created=%llu reclaimed=%llu early=%llu ungraced=%llu readers=%llu\n",
                 static_cast<unsigned long long>(tr->created_total()),
                 static_cast<unsigned long long>(tr->reclaimed_total()),
                 static_cast<unsigned long long>(tr->early_frees()),
                 static_cast<unsigned long long>(tr->ungraced_frees()),
                 static_cast<unsigned long long>(tr->reader_failures()));
    std::fflush(stderr);
  }
};
exit_report g_report __attribute__((init_priority(101)));

int exit_default(int per_entry) {
  // Deliberately never destroyed: it must outlive the exit-time drain that frees its nodes.
  static torture::tracker* const tr = new torture::tracker;
  g_report.tr = tr;
  rcufree::engine& eng = rcufree::default_engine();
  auto queue_some = [&](int count, unsigned seed) {
    for (int i = 0; i < count; ++i) {
      for (int e = 0; e < torture::kEntries; ++e) {
        tr->retire(tr->make(static_cast<torture::entry>(e), eng, seed + unsigned(i)), eng,
                   unsigned(i) % 2);  // plainly or inside an atomic_scope
      }
    }
  };
  queue_some(per_entry / 2, 1);
  std::vector<std::thread> quick;  // threads that queue and are gone before exit
  for (unsigned t = 0; t < 4; ++t) quick.emplace_back(queue_some, per_entry / 8, 100 * (t + 1));
  for (auto& t : quick) t.join();
  return 0;  // no barrier: the default engine's exit handler must free everything
}

struct plain {
  long payload[4];
  rcu_head head;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "exit-default") return exit_default(argc > 2 ? std::atoi(argv[2]) : 1000);

  if (mode == "head-before-object") {
    void* obj = std::malloc(64);
    // A head 64 bytes before the object: not inside it. Never written by a correct engine.
    rcufree_kfree_rcu(obj, reinterpret_cast<rcu_head*>(static_cast<char*>(obj) - 64));
    rcufree_barrier();
    return 0;
  }
  if (mode == "double-queue") {
    rcufree::engine eng;
    auto* p = static_cast<plain*>(std::malloc(sizeof(plain)));
    eng.kfree_rcu(p, &plain::head);
    eng.kfree_rcu(p, &plain::head);  // the same object again: a double free if not caught
    eng.barrier();
    return 0;
  }
  if (mode == "use-after-destroy") {
    alignas(rcufree::engine) unsigned char storage[sizeof(rcufree::engine)];
    auto* eng = new (storage) rcufree::engine();
    eng->~engine();
    auto* p = static_cast<plain*>(std::malloc(sizeof(plain)));
    eng->kfree_rcu(p, &plain::head);  // the engine is gone
    return 0;
  }
  std::fprintf(stderr, "torture_child: unknown mode '%s'\n", mode.c_str());
  return 2;
}
