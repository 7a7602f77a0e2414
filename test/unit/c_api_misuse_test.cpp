// c_api_misuse_test.cpp — misuse through the C API never throws into C: even when the program's
// C++ part chose misuse_action::throw_error, a C call that would throw aborts with the report.
#include <rcufree/rcufree.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <rcufree/rcufree.hpp>
#include <string>

namespace {
// Runs fn in a child process; returns its stderr and whether it died of SIGABRT.
template <class F>
std::string child_stderr(F fn, bool& aborted) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    fn();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, std::size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
#if defined(__SANITIZE_THREAD__)
  // TSan's runtime turns an abort() in a forked child into a plain non-zero exit.
  aborted = aborted || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
#endif
  return out;
}
}  // namespace

TEST_CASE("C calls abort on misuse even when C++ chose to throw misuse_error", "[c_api]") {
  bool aborted = false;
  const std::string err = child_stderr(
      [] {
        rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
        rcufree::atomic_scope scope;
        rcufree_kvfree_rcu_mightsleep(std::malloc(16));  // misuse: sleeping call in the scope
      },
      aborted);
  CHECK(aborted);
  CHECK(err.find("atomic_scope") != std::string::npos);  // the engine's report comes first
  CHECK(err.find("rcufree_kvfree_rcu_mightsleep: the C API cannot throw") != std::string::npos);

  const std::string err2 = child_stderr(
      [] {
        rcufree::set_misuse_action(rcufree::misuse_action::throw_error);
        rcufree_config cfg;
        rcufree_config_init(&cfg);
        rcufree_engine* eng = rcufree_engine_new(&cfg);
        rcufree::atomic_scope scope;
        rcufree_engine_barrier(eng);
      },
      aborted);
  CHECK(aborted);
  CHECK(err2.find("rcufree_engine_barrier: the C API cannot throw") != std::string::npos);
}
