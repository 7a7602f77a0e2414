// SPDX-License-Identifier: MIT
// cell.cpp — one cell of the stop-point matrix, start to verdict (matrix.hpp).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "matrix.hpp"

namespace matrix {
namespace {

using namespace std::chrono_literals;
namespace stops = rcufree::detail::stop_points;

constexpr auto kReachLimit = 5s;           // for a driver to bring its thread to the point
constexpr auto kSecondReachLimit = 1s;     // the second of a pair (the first may exclude it)
constexpr auto kWhileStopped = 100ms;      // how long an operation that may wait runs first
constexpr auto kMustFinishWithin = 5s;     // an operation that must not wait for the stopped thread
constexpr auto kAfterRelease = 10s;        // anything, once every thread goes on
constexpr auto kTeardownPatience = 300ms;  // engine teardown's wait for a held slot (2 s normally)

// Runs fn on a thread of its own; finished() tells whether it has returned.
class task {
 public:
  template <class Fn>
  explicit task(Fn fn) : done_(std::make_shared<std::atomic<bool>>(false)) {
    auto done = done_;
    thread_ = std::thread([fn, done] {
      fn();
      done->store(true);
    });
  }
  ~task() {
    if (thread_.joinable()) thread_.detach();  // a hung task: the cell fails, the process ends
  }
  bool finished() const { return done_->load(); }
  bool wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!finished()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    if (thread_.joinable()) thread_.join();
    return true;
  }

 private:
  std::shared_ptr<std::atomic<bool>> done_;
  std::thread thread_;
};

// Ends the cell's process at once: stopped threads and a hung operation may hold what exit
// handlers would wait for.
[[noreturn]] int fail(const std::string& why) {
  std::fprintf(stderr, "matrix: VERDICT fail: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(1);
}

// The end of every cell: everything freed exactly once, never early. Only where a stopped thread
// never comes back (`left_behind_allowed`) may objects stay unfreed; the runner then also wants
// the engine's own message saying so on stderr ("UNFREED n").
int verdict(world& w, const op_context& c, bool final_barrier, bool left_behind_allowed) {
  if (final_barrier) {
    task b([&w] { w.eng().barrier(); });
    if (!b.wait(kAfterRelease)) return fail("the final barrier() hung");
  }
  w.stop_readers();
  const world::ledger l = w.check();
  std::fprintf(stderr,
               "matrix: queued %llu, freed %llu, unfreed %llu, double %llu, early %llu, "
               "late for barrier %llu\n",
               static_cast<unsigned long long>(l.queued), static_cast<unsigned long long>(l.freed),
               static_cast<unsigned long long>(l.unfreed),
               static_cast<unsigned long long>(l.double_frees),
               static_cast<unsigned long long>(l.early),
               static_cast<unsigned long long>(l.late_for_barrier));
  if (!c.failure.empty()) return fail(c.failure);
  if (!l.exact()) return fail(l.first_problem.empty() ? "ledger not exact" : l.first_problem);
  if (l.unfreed != 0 && !left_behind_allowed) {
    return fail(std::to_string(l.unfreed) + " objects were never freed");
  }
  if (l.unfreed != 0) {
    std::fprintf(stderr, "matrix: UNFREED %llu\n", static_cast<unsigned long long>(l.unfreed));
  }
  std::fprintf(stderr, "matrix: VERDICT ok\n");
  std::fflush(stderr);
  return 0;
}

// The report of a cell whose process exits (the exit operation, the exit-drain scenario): made
// after the default engine's exit drain, from a destructor that runs after every exit handler.
struct exit_report {
  world* w = nullptr;
  op_context* c = nullptr;
  const std::atomic<bool>* op_done = nullptr;  // wait for the operation first, unless it exits
  bool left_behind_allowed = false;
  ~exit_report() {
    if (w == nullptr) return;
    const auto deadline = std::chrono::steady_clock::now() + kAfterRelease;
    while (op_done != nullptr && !op_done->load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    if (op_done != nullptr && !op_done->load()) fail("the operation hung while the process exited");
    _exit(verdict(*w, *c, /*final_barrier=*/false, left_behind_allowed));
  }
};
exit_report g_exit_report __attribute__((init_priority(101)));

}  // namespace

void forget_exit_report() {
  g_exit_report.w = nullptr;
}

namespace {

std::chrono::milliseconds ms(std::chrono::milliseconds d) {
  return d;
}

}  // namespace

int run_cell(const std::vector<const scenario*>& stopped, const operation& op) {
  stops::set_teardown_patience(kTeardownPatience);
  const bool exiting = stopped[0]->holder == held_by::exiting;
  auto* w = new world(op.default_engine || exiting);  // never destroyed: exit handlers use it
  auto* c = new op_context;
  auto* op_done = new std::atomic<bool>(false);
  if (op.default_engine || exiting) {
    g_exit_report.w = w;
    g_exit_report.c = c;
    if (!op.default_engine) g_exit_report.op_done = op_done;
  }

  // Bring a thread to each stop point. User threads' stops are kept apart: operations that must
  // not wait for them are judged while they stay stopped.
  std::atomic<bool> go{true};
  std::vector<std::unique_ptr<task>> drivers;
  std::vector<int> user_stops, engine_stops;
  for (std::size_t k = 0; k < stopped.size(); ++k) {
    const scenario& s = *stopped[k];
    // A caller's stop catches this driver's own thread (tag k + 1), not another driver's.
    const int tag = static_cast<int>(k) + 1;
    const int stop = stops::arm(s.point, s.kind, s.kind == stop_thread::caller ? tag : 0, s.skip);
    drivers.push_back(std::make_unique<task>([w, &go, &s, tag] {
      stops::set_thread_tag(tag);
      s.drive(*w, go);
    }));
    if (!stops::wait_stopped(stop, k == 0 ? ms(kReachLimit) : ms(kSecondReachLimit))) {
      if (k == 0) return fail(std::string("no thread reached ") + s.name);
      std::fprintf(stderr, "matrix: the second stop (%s) was not reached while the first held\n",
                   s.name);
      stops::release(stop);
      continue;
    }
    std::fprintf(stderr, "matrix: stopped a thread at %s\n", s.name);
    w->note_stopped_at(s.point);
    (s.holder == held_by::user_thread ? user_stops : engine_stops).push_back(stop);
  }
  go.store(false);
  // A driver that only fed an engine thread stops now; one that waits for the stopped thread
  // (barrier_loop) or is the stopped thread goes on after release.
  for (std::size_t k = 0; k < stopped.size(); ++k) {
    if (stopped[k]->holder == held_by::engine_thread && !stopped[k]->driver_waits_for_it &&
        !drivers[k]->wait(ms(kAfterRelease)))
      return fail("a driver did not stop");
  }

  // The operation, against the stopped thread(s).
  const bool must_finish =
      op.rule == waits::never || (op.rule == waits::not_for_user_threads && !user_stops.empty());
  // A user thread stopped before a teardown never comes back (a thread gone by siglongjmp or
  // cancellation): the engine must leave its objects behind, and say so.
  const bool gone = !user_stops.empty() && (op.private_engine_only || op.default_engine) &&
                    op.expect_abort == nullptr;
  g_exit_report.left_behind_allowed = gone;
  task run([w, c, &op, op_done] {
    op.run(*w, *c);
    op_done->store(true);
  });
  // Engine threads (and a fork handler, an exit drain) go on after a while: operations may wait
  // for them. Then what must not wait for a user thread has to finish while it stays stopped.
  bool finished = run.wait(ms(kWhileStopped));
  for (int s : engine_stops) stops::release(s);
  if (must_finish && !finished) finished = run.wait(ms(kMustFinishWithin));
  if (must_finish && !finished) {
    return fail(std::string(op.name) + " waited for the stopped thread (it must not)");
  }
  if (gone && op.default_engine) {
    for (;;) pause();  // the process exits on the operation's thread; its report judges
  }
  if (gone) {
    // Never released: the engine was destroyed, nothing more may touch it.
    return verdict(*w, *c, /*final_barrier=*/false, /*left_behind_allowed=*/true);
  }
  for (int s : user_stops) stops::release(s);
  if (op.default_engine || exiting) {
    for (;;) pause();  // the process exits (the operation, or the exit drain); its report judges
  }
  if (!finished && !run.wait(ms(kAfterRelease))) {
    return fail(std::string(op.name) + " hung after the stopped thread went on");
  }
  for (auto& d : drivers) {
    if (!d->wait(ms(kAfterRelease))) return fail("a driver hung after release");
  }
  for (std::thread& t : c->late) {
    // Late threads (a barrier in flight across a fork) must finish too.
    task joiner([&t] { t.join(); });
    if (!joiner.wait(ms(kAfterRelease)))
      return fail(std::string(op.name) + ": its barrier() hung after release");
  }
  return verdict(*w, *c, !w->engine_destroyed(), /*left_behind_allowed=*/false);
}

}  // namespace matrix
