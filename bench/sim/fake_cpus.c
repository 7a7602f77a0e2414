/* SPDX-License-Identifier: MIT */
/* fake_cpus.c — LD_PRELOAD shim for simulating a large machine on a small one: sysconf()
 * answers RCUFREE_FAKE_CPUS for _SC_NPROCESSORS_CONF, so an engine builds that many CPU slots
 * (docs/design.md, "Scaling to 256 CPUs"). Threads still run only on the real CPUs: what this
 * measures is the cost of the slots themselves (memory, the supervisor's look at every slot,
 * idle wake-ups), not 256 CPUs' worth of producers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

long sysconf(int name) {
  static long (*real)(int);
  if (real == NULL) real = (long (*)(int))dlsym(RTLD_NEXT, "sysconf");
  if (name == _SC_NPROCESSORS_CONF) {
    const char *fake = getenv("RCUFREE_FAKE_CPUS");
    if (fake != NULL && atol(fake) > 0) return atol(fake);
  }
  return real(name);
}
