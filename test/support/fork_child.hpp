// SPDX-License-Identifier: MIT
// fork_child.hpp — run a function in a fork child, with its stderr captured and a deadline, and
// say how it ended. A child that hangs is killed at the deadline: a failure with a message, not a
// stuck suite.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace rcufree_test {

struct child_outcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string err;  // what it wrote to the captured descriptor (its stderr, unless said otherwise)
  // abort() in the child. The sanitizer runtimes may turn it into a plain non-zero exit.
  bool aborted() const {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    if (signal == 0 && exit_code != 0 && !timed_out) return true;
#endif
    return signal == SIGABRT;
  }
};

// Reads a child's output from `fd` until it exits (or `timeout`: then kills it), and reaps it.
inline child_outcome collect(pid_t pid, int fd, std::chrono::seconds timeout) {
  child_outcome out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child closed it (it exited)
    out.err.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

// Runs fn() in a fork child with its stderr captured; killed after `limit`. If fn returns an int,
// that is the exit code, through std::exit (exit handlers run: the default engine's drain too);
// if it returns nothing, the child leaves with _exit(0) (no exit handler runs).
template <class Fn>
child_outcome in_child(Fn fn, std::chrono::seconds limit) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  // stderr goes to the pipe already during fork(): the engine's fork handler speaks in the child
  // before fork() returns there.
  const int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  const pid_t pid = fork();
  if (pid == 0) {
    // The test framework's fatal-signal handlers would report in the child too: the parent
    // judges how the child ended.
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::signal(sig, SIG_DFL);
    close(fds[0]);
    close(saved);
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      _exit(0);
    } else {
      std::exit(fn());
    }
  }
  dup2(saved, STDERR_FILENO);
  close(saved);
  REQUIRE(pid >= 0);
  close(fds[1]);
  return collect(pid, fds[0], limit);
}

}  // namespace rcufree_test
