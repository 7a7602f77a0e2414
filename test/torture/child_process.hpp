// child_process.hpp — run the torture_child helper (fork + exec: a fresh process, no inherited
// threads or engine state) and collect how it ended and what it wrote to stderr.
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

extern char** environ;

namespace torture {

struct child_outcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string err;  // its stderr
  // abort() in the child; sanitizer runtimes may turn it into a non-zero exit.
  bool aborted() const {
    return signal == SIGABRT || (signal == 0 && exit_code != 0 && !timed_out);
  }
};

// Reads a child's stderr from `fd` until it exits (or `timeout`: then kills it), and reaps it.
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
    if (n <= 0) break;  // EOF: the child closed stderr (it exited)
    out.err.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

inline child_outcome run_child(const std::vector<std::string>& args,
                               std::chrono::seconds timeout = std::chrono::seconds(60)) {
  child_outcome out;
  int fds[2];
  if (pipe(fds) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    out.err = "posix_spawn failed";
    return out;
  }
  return collect(pid, fds[0], timeout);
}

}  // namespace torture
