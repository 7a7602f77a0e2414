/* SPDX-License-Identifier: MIT */
/* bench_run.h — what the drop-in bench programs share besides their flavor (bench_flavor.h):
 * the clock, a sleep to an absolute time, the process's peak RSS, and the workload programs'
 * arguments "SECONDS THREADS [RATE]". */
#ifndef RCUFREE_BENCH_RUN_H
#define RCUFREE_BENCH_RUN_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until CLOCK_MONOTONIC reads t_ns, whatever interrupts it (urcu-signal's grace periods
 * signal every registered thread). Under QSBR the caller goes offline around it. */
static inline void sleep_until_ns(uint64_t t_ns) {
  const struct timespec ts = {(time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* The process's peak RSS so far (VmHWM), in KiB; -1 if it cannot be read. */
static inline long vm_hwm_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmHWM:", 6) == 0) kib = atol(line + 6);
  }
  if (f != NULL) fclose(f);
  return kib;
}

/* The CPU time every thread of the process has used so far (user + system), in nanoseconds:
 * the program's threads and liburcu's or rcufree's, so that runs compare the whole cost. */
static inline uint64_t process_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "SECONDS THREADS [RATE]": a run of SECONDS, THREADS workers (1 to 16) of the program's kind,
 * each flat out (no RATE) or at RATE operations per second, paced every millisecond. */
struct run_args {
  double seconds;
  int threads;
  long rate; /* 0: flat out */
};

/* Fills `a`; on bad arguments says which values are allowed, naming `program`, `threads` (what a
 * worker is) and `rate` (what RATE counts), and returns 2 (the exit status); else 0. */
static inline int parse_run_args(int argc, char** argv, const char* program, const char* threads,
                                 const char* rate, struct run_args* a) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SECONDS THREADS [RATE]\n", program);
    return 2;
  }
  a->seconds = atof(argv[1]);
  a->threads = atoi(argv[2]);
  a->rate = argc > 3 ? atol(argv[3]) : 0;
  if (a->threads < 1 || a->threads > 16 || !(a->seconds > 0) || (a->rate != 0 && a->rate < 1000)) {
    fprintf(stderr,
            "%s: SECONDS must be > 0, THREADS (%s) 1 to 16, and RATE (%s per second per thread, "
            "paced every millisecond) at least 1000; got %s %s %s\n",
            program, threads, rate, argv[1], argv[2], argc > 3 ? argv[3] : "");
    return 2;
  }
  return 0;
}

#endif
