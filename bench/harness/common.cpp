// SPDX-License-Identifier: MIT
// common.cpp — sharded counters, the synchronize_rcu interposer, memory and context-switch
// readings, and the key=value record format used between the harness's parent and children.
#include "common.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace bench {
namespace {

std::atomic<unsigned> next_shard{0};
thread_local int my_shard = -1;

std::atomic<std::uint64_t> gp_total{0};
std::atomic<std::uint64_t> gp_callers{0};
std::atomic<std::uint64_t> gp_wall_ns{0};  // time spent inside synchronize_rcu, all threads
std::atomic<std::uint64_t> gp_cpu_ns{0};   // CPU time of the threads inside it
thread_local bool is_producer = false;

#ifndef RCUFREE_BENCH_STATIC_URCU
using sync_fn = void (*)();
std::atomic<sync_fn> real_sync{nullptr};
#endif

#ifndef RCUFREE_BENCH_STATIC_URCU
sync_fn lookup_sync() {
  auto fn = reinterpret_cast<sync_fn>(dlsym(RTLD_NEXT, "urcu_memb_synchronize_rcu"));
  if (fn == nullptr) {
    std::fprintf(stderr, "bench: cannot find liburcu's urcu_memb_synchronize_rcu\n");
    std::abort();
  }
  return fn;
}
#endif

}  // namespace

unsigned shard_index() noexcept {
  if (my_shard < 0) {
    // relaxed: the index only has to be unique; nothing is published through it.
    const unsigned i = next_shard.fetch_add(1, std::memory_order_relaxed);
    if (i >= sharded_counter::kShards) {
      std::fprintf(stderr, "bench: more than %zu threads counted events\n",
                   sharded_counter::kShards);
      std::abort();
    }
    my_shard = static_cast<int>(i);
  }
  return static_cast<unsigned>(my_shard);
}

void sharded_counter::add(std::uint64_t n) noexcept {
  auto& v = shards_[shard_index()].v;
  // relaxed load + store: this thread is the shard's only writer; readers only sum.
  v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::uint64_t sharded_counter::sum() const noexcept {
  std::uint64_t s = 0;
  // relaxed: a monitoring sum; exact once the writers are done (joined or after a barrier whose
  // own synchronization orders their stores before the read).
  for (const auto& sh : shards_) s += sh.v.load(std::memory_order_relaxed);
  return s;
}

std::uint64_t grace_periods_total() noexcept {
  return gp_total.load(std::memory_order_relaxed);  // relaxed: statistic
}
std::uint64_t grace_periods_on_callers() noexcept {
  return gp_callers.load(std::memory_order_relaxed);  // relaxed: statistic
}
std::uint64_t grace_period_wall_ns() noexcept {
  return gp_wall_ns.load(std::memory_order_relaxed);  // relaxed: statistic
}
std::uint64_t grace_period_cpu_ns() noexcept {
  return gp_cpu_ns.load(std::memory_order_relaxed);  // relaxed: statistic
}
void mark_producer_thread() noexcept {
  is_producer = true;
}

void resolve_synchronize_rcu() {
#ifndef RCUFREE_BENCH_STATIC_URCU
  // release: pairs with the acquire in the interposer below.
  real_sync.store(lookup_sync(), std::memory_order_release);
#endif
}

std::uint64_t rss_now_kib() {
  static const long page_kib = sysconf(_SC_PAGESIZE) / 1024;
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128] = {};
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  unsigned long size = 0, resident = 0;
  if (std::sscanf(buf, "%lu %lu", &size, &resident) != 2) return 0;
  return resident * static_cast<std::uint64_t>(page_kib);
}

std::uint64_t rss_peak_kib() {
  // VmHWM, not getrusage's ru_maxrss: after exec the latter still carries the forked copy of the
  // parent's peak.
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  std::uint64_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      kib = std::strtoull(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kib;
}

std::uint64_t thread_preemptions() noexcept {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return 0;
  return static_cast<std::uint64_t>(ru.ru_nivcsw);
}

namespace {

// One number per thread of this process, read from /proc/self/task/<tid>/<file> by
// read(FILE*, value&) (false: leave the thread out).
template <class Read>
std::vector<std::pair<int, std::uint64_t>> per_task(const char* file, Read read) {
  std::vector<std::pair<int, std::uint64_t>> out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/" + file;
    FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) continue;  // the thread has just exited
    std::uint64_t value = 0;
    if (read(f, value)) out.emplace_back(std::atoi(e->d_name), value);
    std::fclose(f);
  }
  closedir(d);
  return out;
}

// Field `field` (0: run time in ns, 1: wait time, 2: timeslices) of every thread's schedstat.
std::vector<std::pair<int, std::uint64_t>> schedstat_field(int field) {
  return per_task("schedstat", [field](FILE* f, std::uint64_t& value) {
    unsigned long long v[3] = {};
    if (std::fscanf(f, "%llu %llu %llu", &v[0], &v[1], &v[2]) != 3) return false;
    value = v[field];
    return true;
  });
}

}  // namespace

std::vector<std::pair<int, std::uint64_t>> task_runtimes_ns() {
  return schedstat_field(0);
}

std::vector<std::pair<int, std::uint64_t>> task_timeslices() {
  return schedstat_field(2);
}

bool parse_spec(const std::string& spec, std::string& name, engine_overrides& into) {
  const auto at = spec.find('@');
  name = spec.substr(0, at);
  if (at == std::string::npos) return true;
  std::stringstream in(spec.substr(at + 1));
  for (std::string kv; std::getline(in, kv, '+');) {
    const auto eq = kv.find('=');
    const std::string key = kv.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    long long v = -1;
    if (key == "reclaim" && (value == "per_cpu" || value == "single")) {
      v = value == "per_cpu" ? 0 : 1;
    } else if (!value.empty()) {
      char* end = nullptr;
      v = std::strtoll(value.c_str(), &end, 10);
      if (*end != '\0') v = -1;
    }
    if (v < 0) {
      std::fprintf(stderr, "bench: bad override '%s' in '%s' (want key=non-negative integer)\n",
                   kv.c_str(), spec.c_str());
      return false;
    }
    struct {
      const char* key;
      long long engine_overrides::*field;
    } const keys[] = {{"cached", &engine_overrides::cached},
                      {"tick_us", &engine_overrides::tick_us},
                      {"drain_ms", &engine_overrides::drain_ms},
                      {"soft_cap_kib", &engine_overrides::soft_cap_kib},
                      {"assumed_bytes", &engine_overrides::assumed_bytes},
                      {"sleepable", &engine_overrides::sleepable},
                      {"page_size", &engine_overrides::page_size},
                      {"psi", &engine_overrides::psi},
                      {"backoff_ms", &engine_overrides::backoff_ms},
                      {"every", &engine_overrides::every},
                      {"shrink", &engine_overrides::shrink},
                      {"reclaim", &engine_overrides::reclaim},
                      {"rt", &engine_overrides::rt},
                      {"pcpu", &engine_overrides::pcpu},
                      {"wcpu", &engine_overrides::wcpu},
                      {"reg", &engine_overrides::reg}};
    bool known = false;
    for (const auto& k : keys) {
      if (key == k.key) {
        into.*k.field = v;
        known = true;
      }
    }
    if (!known) {
      std::fprintf(stderr,
                   "bench: unknown override '%s' in '%s' (keys: cached tick_us drain_ms "
                   "soft_cap_kib assumed_bytes sleepable page_size psi backoff_ms rt every shrink "
                   "reclaim=per_cpu|single "
                   "pcpu wcpu reg)\n",
                   key.c_str(), spec.c_str());
      return false;
    }
  }
  return true;
}

int this_tid() noexcept {
  return static_cast<int>(gettid());
}

std::vector<std::pair<int, std::uint64_t>> task_ctxt_switches() {
  return per_task("status", [](FILE* f, std::uint64_t& n) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
        n += std::strtoull(line + 24, nullptr, 10);
      else if (std::strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0)
        n += std::strtoull(line + 27, nullptr, 10);
    }
    return true;
  });
}

std::uint64_t process_cpu_ns() noexcept {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000u;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

bool pin_thread(int tid, unsigned cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(tid, sizeof set, &set) == 0;
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

namespace {

struct allocator_entry {
  const char* name;
  const char* path;  // Debian 12, x86-64
};
constexpr allocator_entry kAllocators[] = {
    {"glibc", ""},
    {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"},
    {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
};

// The harness's own no-free allocator (bench/sim/nofree_alloc.c), built beside the executable.
const char* nofree_library() {
  static const std::string path = [] {
    char exe[4096] = {};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    std::string dir = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string();
    dir = dir.substr(0, dir.rfind('/') + 1);
    return dir + "libnofree_alloc.so";
  }();
  return access(path.c_str(), R_OK) == 0 ? path.c_str() : nullptr;
}

}  // namespace

const char* allocator_library(const std::string& name) {
  if (name == "nofree") return nofree_library();
  for (const auto& a : kAllocators) {
    if (name != a.name) continue;
    if (a.path[0] != '\0' && access(a.path, R_OK) != 0) return nullptr;
    return a.path;
  }
  return nullptr;
}

std::string allocator_in_use() {
  FILE* f = std::fopen("/proc/self/maps", "re");
  if (f == nullptr) return "?";
  std::string found = "glibc";
  char line[512];
  while (found == "glibc" && std::fgets(line, sizeof line, f) != nullptr) {
    for (const char* n : {"jemalloc", "mimalloc", "tcmalloc", "nofree"})
      if (std::strstr(line, (std::string("lib") + n).c_str()) != nullptr) found = n;
  }
  std::fclose(f);
  return found;
}

int spawn_self(const std::vector<std::string>& args, const std::string& preload, record& out) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    if (preload.empty())
      unsetenv("LD_PRELOAD");
    else
      setenv("LD_PRELOAD", preload.c_str(), 1);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto at = text.find("RESULT ");
  if (at != std::string::npos)
    out = parse_record(text.substr(at + 7, text.find('\n', at) - at - 7));
  if (!WIFEXITED(status)) return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return WEXITSTATUS(status);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double min_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

double max_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

std::vector<std::string> split(const std::string& comma_list) {
  std::vector<std::string> v;
  std::stringstream in(comma_list);
  for (std::string tok; std::getline(in, tok, ',');)
    if (!tok.empty()) v.push_back(tok);
  return v;
}

double num(const record& r, const char* key) {
  const std::string* v = find_field(r, key);
  return v != nullptr ? std::strtod(v->c_str(), nullptr) : 0.0;
}

std::vector<double> column(const std::vector<record>& rs, const char* key) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(num(r, key));
  return v;
}

std::string spread(const std::vector<double>& v, const char* f) {
  if (v.empty()) return "-";
  char a[32], b[32], c[32], out[112];
  std::snprintf(a, sizeof a, f, median(v));
  std::snprintf(b, sizeof b, f, min_of(v));
  std::snprintf(c, sizeof c, f, max_of(v));
  std::snprintf(out, sizeof out, "%s (%s-%s)", a, b, c);
  return out;
}

std::vector<double> paired_ratios(const std::vector<record>& a, const std::vector<record>& b,
                                  const char* key) {
  std::vector<double> v;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (num(b[i], key) > 0) v.push_back(num(a[i], key) / num(b[i], key));
  return v;
}

void publish_report(const std::string& text, const std::string& dir, const char* name) {
  std::fputs(text.c_str(), stdout);
  if (dir.empty()) return;
  if (FILE* f = std::fopen((dir + "/" + name).c_str(), "w")) {
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
}

std::string format_record(const record& r) {
  std::string s;
  for (const auto& [k, v] : r) {
    if (!s.empty()) s += ' ';
    s += k + "=" + v;
  }
  return s;
}

record parse_record(const std::string& line) {
  record r;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    const auto eq = tok.find('=');
    if (eq != std::string::npos) r.emplace_back(tok.substr(0, eq), tok.substr(eq + 1));
  }
  return r;
}

const std::string* find_field(const record& r, const std::string& key) {
  for (const auto& [k, v] : r)
    if (k == key) return &v;
  return nullptr;
}

}  // namespace bench

#ifdef RCUFREE_BENCH_STATIC_URCU
// rcufree_harness_static: liburcu is linked in statically, its calls to synchronize_rcu bind inside
// its own objects and cannot be interposed; grace periods are not counted (gp = 0).
#else
// The interposer: the harness executable exports this symbol (ENABLE_EXPORTS), so liburcu-memb's
// own PLT calls and its flavor table bind here; we count and forward to the real function.
extern "C" void urcu_memb_synchronize_rcu(void) {
  // acquire: pairs with the release in resolve_synchronize_rcu.
  auto fn = bench::real_sync.load(std::memory_order_acquire);
  if (fn == nullptr) fn = bench::lookup_sync();  // a call before main() resolved it
  // relaxed: statistics; grace periods are rare enough for a shared RMW.
  bench::gp_total.fetch_add(1, std::memory_order_relaxed);
  if (bench::is_producer) bench::gp_callers.fetch_add(1, std::memory_order_relaxed);
  // What a grace period costs: its wall time and the waiting thread's CPU time (two vDSO or
  // system-call clock reads each side, ~1 us, once per grace period).
  timespec w0{}, c0{}, w1{}, c1{};
  clock_gettime(CLOCK_MONOTONIC, &w0);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  fn();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &w1);
  auto ns = [](const timespec& a, const timespec& b) {
    return static_cast<std::uint64_t>((b.tv_sec - a.tv_sec) * 1'000'000'000LL +
                                      (b.tv_nsec - a.tv_nsec));
  };
  bench::gp_wall_ns.fetch_add(ns(w0, w1), std::memory_order_relaxed);  // relaxed: statistic
  bench::gp_cpu_ns.fetch_add(ns(c0, c1), std::memory_order_relaxed);   // relaxed: statistic
}
#endif
