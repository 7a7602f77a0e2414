// SPDX-License-Identifier: MIT
// threads.hpp — this process's threads by name, from /proc/self/task (engine threads name
// themselves rcufree-sup, rcufree-cpuN).
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace rcufree_test {

// Ids of the threads named `name` (or, with prefix, whose names start with it).
inline std::vector<pid_t> threads_named(const std::string& name, bool prefix = false) {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return tids;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string got;
    std::getline(comm, got);
    if (prefix ? got.rfind(name, 0) == 0 : got == name)
      tids.push_back(static_cast<pid_t>(std::stoi(e->d_name)));
  }
  closedir(dir);
  return tids;
}

// Ids of every thread of this process now, named or not: `before` for new_threads_named. (By
// name, "rcufree-", it missed the default engine's supervisor when that had not named itself yet,
// a moment after load on a loaded machine, and the test then found two new supervisors.)
inline std::vector<pid_t> all_threads() {
  return threads_named("", /*prefix=*/true);
}

// Ids of the threads named `name` that are not in `before` (all_threads() taken before an engine
// was built: the default engine's and other engines' threads among them). Thread ids wrap
// around, so "newest" cannot be told by the largest id.
inline std::vector<pid_t> new_threads_named(const std::string& name,
                                            const std::vector<pid_t>& before) {
  std::vector<pid_t> tids;
  for (const pid_t tid : threads_named(name))
    if (std::find(before.begin(), before.end(), tid) == before.end()) tids.push_back(tid);
  return tids;
}

}  // namespace rcufree_test
