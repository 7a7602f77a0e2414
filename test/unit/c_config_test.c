/* SPDX-License-Identifier: MIT */
/* c_config_test.c — struct rcufree_config from C: bad fields are named, and the size field lets
 * the struct grow without breaking callers built against another version of rcufree.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <rcufree/rcufree.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "c_config_test: FAILED: %s\n", what);
    ++failures;
  }
}

/* rcufree_engine_new must fail with EINVAL and a message naming `field`. */
static void rejected(const struct rcufree_config* cfg, const char* field, const char* what) {
  errno = 0;
  struct rcufree_engine* eng = rcufree_engine_new(cfg);
  const int err = errno;
  check(eng == NULL, what);
  check(err == EINVAL, "a bad config sets errno to EINVAL");
  char msg[600];
  snprintf(msg, sizeof msg, "%s: message \"%s\" names %s", what, rcufree_last_error(), field);
  check(strstr(rcufree_last_error(), "rcufree_engine_new") != NULL &&
            strstr(rcufree_last_error(), field) != NULL,
        msg);
  rcufree_engine_destroy(eng); /* NULL: no-op */
}

/* The engine works end to end: objects are freed after a barrier. */
static void works(struct rcufree_engine* eng, const char* what) {
  check(eng != NULL, what);
  if (eng == NULL) return;
  for (int i = 0; i < 100; ++i) {
    struct {
      long key;
      struct rcu_head head;
    }* e = malloc(sizeof *e);
    rcufree_engine_kfree_rcu(eng, e, &e->head);
  }
  rcufree_engine_kvfree_rcu_mightsleep(eng, malloc(16));
  rcufree_engine_kfree_rcu(eng, NULL, NULL);
  rcufree_engine_kvfree_rcu_mightsleep(eng, NULL);
  rcufree_engine_barrier(eng);
  (void)rcufree_engine_reclaim_local(eng);
  rcufree_engine_shrink(eng);
  char json[1024];
  rcufree_engine_stats_json(eng, json, sizeof json);
  check(strstr(json, "\"queued\":101,") && strstr(json, "\"freed\":101,"), what);
  rcufree_engine_stats_json(eng, json, 1);
  check(json[0] == '\0', "a one-byte buffer gets an empty string");
  rcufree_engine_stats_json(eng, NULL, 0);
  rcufree_engine_destroy(eng);
}

static void* page_alloc(void* arg, size_t size) {
  ++*(int*)arg;
  return aligned_alloc(size, size);
}
static void page_release(void* arg, void* page, size_t size) {
  (void)arg;
  (void)size;
  free(page);
}

/* Runs fn in a child process; it must abort with `needle` on stderr. */
static void aborts(void (*fn)(void), const char* needle, const char* what) {
  int fds[2];
  if (pipe(fds) != 0) abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    fn();
    _exit(0);
  }
  close(fds[1]);
  char out[2048];
  size_t n = 0;
  ssize_t got;
  while (n < sizeof out - 1 && (got = read(fds[0], out + n, sizeof out - 1 - n)) > 0) n += got;
  out[n] = '\0';
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, what);
  check(strstr(out, needle) != NULL, what);
}
static void barrier_on_null(void) {
  rcufree_engine_barrier(NULL);
}
static void kfree_on_null(void) {
  static struct {
    long key;
    struct rcu_head head;
  } obj;
  rcufree_engine_kfree_rcu(NULL, &obj, &obj.head);
}

int main(void) {
  struct rcufree_config cfg;

  rcufree_config_init(&cfg);
  check(cfg.size == sizeof cfg, "rcufree_config_init sets size");
  check(cfg.page_size == 4096 && cfg.cached_pages_per_cpu > 0 && cfg.drain_interval_ms > 0 &&
            cfg.worker_tick_us > 0 && cfg.flavor == NULL && cfg.allocate_page == NULL,
        "rcufree_config_init fills the defaults");
  works(rcufree_engine_new(&cfg), "the default config builds a working engine");

  /* The exported function (no macro): the first layout, up to page_arg (rcufree 0.1); the
   * fields added since (free_bulk, free_arg) are not touched. */
  memset(&cfg, 0xff, sizeof cfg);
  (rcufree_config_init)(&cfg);
  check(cfg.size == offsetof(struct rcufree_config, page_arg) + sizeof(void *) &&
            cfg.drain_interval_ms > 0,
        "the function form fills defaults");

  rejected(NULL, "config", "a NULL config is rejected");

  rcufree_config_init(&cfg);
  cfg.page_size = 100;
  rejected(&cfg, "config->page_size", "page_size 100 is rejected");
  rcufree_config_init(&cfg);
  cfg.drain_interval_ms = 0;
  rejected(&cfg, "config->drain_interval_ms", "drain_interval_ms 0 is rejected");
  rcufree_config_init(&cfg);
  cfg.drain_interval_ms = (unsigned long)-1;
  rejected(&cfg, "config->drain_interval_ms", "a huge drain_interval_ms is rejected");
  rcufree_config_init(&cfg);
  cfg.worker_tick_us = cfg.drain_interval_ms * 1000 + 1;
  rejected(&cfg, "config->worker_tick_us", "a worker tick longer than the drain is rejected");
  rcufree_config_init(&cfg);
  cfg.cached_pages_per_cpu = 1u << 20;
  rejected(&cfg, "config->cached_pages_per_cpu", "a million cached pages per CPU is rejected");
  rcufree_config_init(&cfg);
  cfg.reclaim_threads = 7;
  rejected(&cfg, "config->reclaim_threads", "reclaim_threads 7 is rejected");
  rcufree_config_init(&cfg);
  cfg.reclaim_threads = RCUFREE_RECLAIM_SINGLE;
  works(rcufree_engine_new(&cfg), "a single reclaim thread works");
  rcufree_config_init(&cfg);
  check(cfg.realtime_reclaim == 0, "realtime_reclaim is off by default");
  cfg.realtime_reclaim = 1; /* granted or refused (then said on stderr), the engine works */
  works(rcufree_engine_new(&cfg), "realtime reclaim threads work");
  rcufree_config_init(&cfg);
  cfg.pending_soft_cap_bytes = 0;
  rejected(&cfg, "config->pending_soft_cap_bytes", "a zero soft cap is rejected");
  rcufree_config_init(&cfg);
  int pages = 0;
  cfg.allocate_page = page_alloc;
  cfg.page_arg = &pages;
  rejected(&cfg, "config->release_page", "allocate_page without release_page is rejected");
  cfg.release_page = page_release;
  works(rcufree_engine_new(&cfg), "a C page allocator works");
  check(pages > 0, "the C page allocator was called with its argument");

  /* Forgot rcufree_config_init: size 0. */
  memset(&cfg, 0, sizeof cfg);
  rejected(&cfg, "config->size", "an uninitialized config (size 0) is rejected");

  /* A caller built against an older, shorter header: only the fields up to drain_interval_ms
   * exist there. Whatever lies past them in memory must be ignored (here: garbage). */
  struct {
    struct rcufree_config cfg;
    char more[64];
  } big;
  memset(&big, 0xa5, sizeof big);
  big.cfg.size = offsetof(struct rcufree_config, drain_interval_ms) + sizeof(unsigned long);
  big.cfg.flavor = NULL;
  big.cfg.page_size = 1024;
  big.cfg.cached_pages_per_cpu = 2;
  big.cfg.drain_interval_ms = 10;
  works(rcufree_engine_new(&big.cfg), "an older, shorter config ignores what lies past its size");
  big.cfg.size = offsetof(struct rcufree_config, drain_interval_ms);
  rejected(&big.cfg, "config->size", "a size shorter than the first fields is rejected");

  /* A caller built against a newer, longer header: fields this library does not know must be
   * zero (their defaults) or the config is refused naming size. */
  memset(&big, 0, sizeof big);
  rcufree_config_init_size(&big.cfg, sizeof big);
  check(big.cfg.size == sizeof big && big.more[63] == 0, "init_size zeroes unknown fields");
  works(rcufree_engine_new(&big.cfg), "a newer config whose unknown fields are zero works");
  big.more[10] = 1;
  rejected(&big.cfg, "config->size", "a newer config with an unknown field set is rejected");

  aborts(barrier_on_null, "rcufree: rcufree_engine_barrier: eng is NULL",
         "rcufree_engine_barrier(NULL) aborts naming the call");
  aborts(kfree_on_null, "rcufree: rcufree_engine_kfree_rcu: eng is NULL",
         "rcufree_engine_kfree_rcu(NULL, ...) aborts naming the call");

  printf("c_config_test: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
