// SPDX-License-Identifier: MIT
// main.cpp — stop_matrix: enumerates the stop-point matrix and runs each cell in a fresh process.
//
//   stop_matrix                      every cell (RCUFREE_MATRIX_SAMPLE=N: N cells spread evenly)
//   stop_matrix --only TEXT          the cells whose name contains TEXT (--skip TEXT: does not)
//   stop_matrix --list               the cells' names
//   stop_matrix --cell STOPS OP      one cell in this process (STOPS: a scenario, or two joined
//                                    by ',' for a pair); what the runner spawns
// Prints the matrix's size (points, scenarios, operations, pairs), every failing cell with the
// end of its stderr, and a summary; exits non-zero if any cell failed.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "matrix.hpp"

extern char** environ;

#if defined(__SANITIZE_THREAD__)
// A cell ends its process with threads it never joins (stopped ones among them) on purpose.
extern "C" const char* __tsan_default_options() {
  return "report_thread_leaks=0";
}
#endif
#if defined(__SANITIZE_ADDRESS__)
// A cell leaves its world, its stopped threads and its fork children's copies behind on purpose,
// and its own ledger checks what was freed; LeakSanitizer's exit check would count those as
// leaks. Use-after-free and the rest of AddressSanitizer stay on.
extern "C" int __lsan_is_turned_off() {
  return 1;
}
#endif

namespace {

using namespace matrix;

struct cell {
  std::string stops;  // scenario names, ',' between the two of a pair
  const operation* op;
  std::string name() const { return stops + " x " + op->name; }
};

bool under_tsan() {
#if defined(__SANITIZE_THREAD__)
  return true;
#else
  return false;
#endif
}

// Whether `op` can run with these stops at all (not a failure when it cannot).
bool applicable(const std::vector<const scenario*>& stopped, const operation& op) {
  const bool exiting = stopped[0]->holder == held_by::exiting;
  if (exiting && (op.default_engine || op.private_engine_only)) return false;
  for (const scenario* s : stopped) {
    if (s->driver_waits_for_it && op.private_engine_only) return false;  // destroyed under a user
  }
  return true;
}

std::vector<const scenario*> parse_stops(const std::string& stops) {
  std::vector<const scenario*> out;
  std::size_t start = 0;
  while (start <= stops.size()) {
    const std::size_t comma = stops.find(',', start);
    const std::string one = stops.substr(start, comma == std::string::npos ? comma : comma - start);
    const scenario* s = find_scenario(one);
    if (s == nullptr) {
      std::fprintf(stderr, "stop_matrix: no scenario named '%s'\n", one.c_str());
      std::exit(2);
    }
    out.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

struct counts {
  std::size_t cells = 0, not_applicable = 0, skipped_fork = 0;
};

std::vector<cell> enumerate(counts& n) {
  std::vector<cell> cells;
  std::vector<std::string> stop_sets;
  for (const scenario& s : scenarios()) stop_sets.push_back(s.name);
  for (const scenario_pair& p : pairs()) stop_sets.push_back(std::string(p.first) + "," + p.second);
  for (const std::string& stops : stop_sets) {
    const auto stopped = parse_stops(stops);
    for (const operation& op : operations()) {
      if (!applicable(stopped, op)) {
        ++n.not_applicable;
        continue;
      }
      if (op.forks && under_tsan()) {
        ++n.skipped_fork;
        continue;
      }
      cells.push_back({stops, &op});
    }
  }
  n.cells = cells.size();
  return cells;
}

struct outcome {
  bool passed = false;
  std::string why;
  std::string err;
};

// The cell's verdict from how its process ended and what it said.
outcome judge(const cell& c, int status, bool timed_out, const std::string& err) {
  outcome o;
  o.err = err;
  const bool aborted = WIFSIGNALED(status) ? WTERMSIG(status) == SIGABRT
                                           : (WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                                              err.find("rcufree:") != std::string::npos);
  if (timed_out) {
    o.why = "hung (killed at the deadline)";
  } else if (c.op->expect_abort != nullptr) {
    o.passed = aborted && err.find(c.op->expect_abort) != std::string::npos;
    if (!o.passed)
      o.why = std::string("expected a misuse report containing '") + c.op->expect_abort + "'";
  } else if (WIFSIGNALED(status)) {
    o.why = std::string("died of signal ") + std::to_string(WTERMSIG(status)) + " (" +
            strsignal(WTERMSIG(status)) + ")";
  } else if (WEXITSTATUS(status) != 0 || err.find("VERDICT ok") == std::string::npos) {
    const std::size_t v = err.find("VERDICT fail: ");
    o.why = v != std::string::npos ? err.substr(v + 14, err.find('\n', v) - v - 14)
                                   : "exit " + std::to_string(WEXITSTATUS(status));
  } else if (err.find("UNFREED") != std::string::npos &&
             err.find("left behind") == std::string::npos &&
             err.find("are not freed") == std::string::npos) {
    o.why = "objects left unfreed, and the engine did not say so";
  } else {
    o.passed = true;
  }
  return o;
}

outcome run_subprocess(const cell& c) {
  int fds[2];
  if (pipe(fds) != 0) return {false, "pipe failed", ""};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string self = "/proc/self/exe";
  std::vector<std::string> args = {"stop_matrix", "--cell", c.stops, c.op->name};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return {false, "posix_spawn failed", ""};
  }
  std::string err;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000))) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    err.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return judge(c, status, timed_out, err);
}

std::string tail(const std::string& s, int lines) {
  std::size_t pos = s.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i)
    pos = s.rfind('\n', pos - 1);
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

int run_all(const std::string& only, const std::string& skip, std::size_t sample) {
  counts n;
  std::vector<cell> cells = enumerate(n);
  const std::size_t points = static_cast<std::size_t>(stop_point::count);
  std::set<stop_point> reached_points;
  for (const scenario& s : scenarios()) reached_points.insert(s.point);
  std::printf(
      "stop-point matrix: %zu points (%zu driven), %zu scenarios (point x thread kind) + %zu "
      "pairs, x %zu operations = %zu cells (%zu not applicable, %zu fork cells skipped under "
      "ThreadSanitizer)\n",
      points, reached_points.size(), scenarios().size(), pairs().size(), operations().size(),
      n.cells, n.not_applicable, n.skipped_fork);
  if (!only.empty()) {
    std::erase_if(cells, [&](const cell& c) { return c.name().find(only) == std::string::npos; });
  }
  if (!skip.empty()) {
    std::erase_if(cells, [&](const cell& c) { return c.name().find(skip) != std::string::npos; });
  }
  if (sample != 0 && sample < cells.size()) {
    std::vector<cell> picked;
    for (std::size_t i = 0; i < sample; ++i) picked.push_back(cells[i * cells.size() / sample]);
    cells.swap(picked);
  }
  std::printf("running %zu cells\n", cells.size());
  std::fflush(stdout);
  const unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::mutex mu;
  std::size_t next = 0, failed = 0, done = 0;
  std::map<std::string, int> failures_by_op;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (unsigned j = 0; j < jobs; ++j) {
    workers.emplace_back([&] {
      for (;;) {
        std::size_t i;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (next == cells.size()) return;
          i = next++;
        }
        const outcome o = run_subprocess(cells[i]);
        std::lock_guard<std::mutex> lock(mu);
        ++done;
        if (!o.passed) {
          ++failed;
          ++failures_by_op[cells[i].op->name];
          std::printf("FAIL %s: %s\n%s\n", cells[i].name().c_str(), o.why.c_str(),
                      tail(o.err, 12).c_str());
          std::fflush(stdout);
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("stop-point matrix: %zu cells run, %zu passed, %zu failed (%.0f s)\n", done,
              done - failed, failed, secs);
  for (const auto& [op, k] : failures_by_op)
    std::printf("  %-26s %d failing cells\n", op.c_str(), k);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only, skip;
  std::size_t sample = 0;
  if (const char* s = std::getenv("RCUFREE_MATRIX_SAMPLE")) sample = std::strtoul(s, nullptr, 10);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cell" && i + 2 < argc) {
      const auto stopped = parse_stops(argv[i + 1]);
      for (const operation& op : operations()) {
        if (op.name == std::string(argv[i + 2])) {
          const int code = run_cell(stopped, op);
          std::fflush(stderr);
          _exit(code);  // stopped threads may hold what exit handlers would wait for
        }
      }
      std::fprintf(stderr, "stop_matrix: no operation named '%s'\n", argv[i + 2]);
      return 2;
    }
    if (a == "--list") {
      counts n;
      for (const cell& c : enumerate(n)) std::printf("%s\n", c.name().c_str());
      return 0;
    }
    if (a == "--only" && i + 1 < argc) only = argv[++i];
    if (a == "--skip" && i + 1 < argc) skip = argv[++i];
  }
  return run_all(only, skip, sample);
}
