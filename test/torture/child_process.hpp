// SPDX-License-Identifier: MIT
// child_process.hpp — run the torture_child helper (fork + exec: a fresh process, no inherited
// threads or engine state) and collect how it ended and what it wrote to stderr.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "fork_child.hpp"

extern char** environ;

namespace torture {

using rcufree_test::child_outcome;
using rcufree_test::collect;

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
