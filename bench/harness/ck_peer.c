/* SPDX-License-Identifier: MIT */
/* ck_peer.c — the Concurrency Kit ck_epoch peer for the harness (see ck_peer.h). */
#include "ck_peer.h"

#include <ck_epoch.h>
#include <ck_pr.h>
#include <stdio.h>
#include <stdlib.h>

#define CK_PEER_MAX_THREADS 64

struct ck_peer_thread {
  ck_epoch_record_t record;
  unsigned long calls;
  unsigned long freed;
  unsigned long grace_periods; /* polls that found a grace period, plus barriers */
};

static ck_epoch_t epoch;
static struct ck_peer_thread threads[CK_PEER_MAX_THREADS];
static unsigned next_thread;
/* The thread whose record is being dispatched: callbacks run on the record's owner. */
static _Thread_local struct ck_peer_thread* current;

void ck_peer_init(void) {
  ck_epoch_init(&epoch);
}

static void free_object(ck_epoch_entry_t* entry) {
  current->freed++;
  free(entry); /* the entry sits at offset 0 of the object */
}

struct ck_peer_thread* ck_peer_register(void) {
  /* ck_pr_faa_uint is a full-barrier RMW; only uniqueness of the index matters here. */
  const unsigned i = ck_pr_faa_uint(&next_thread, 1);
  if (i >= CK_PEER_MAX_THREADS) {
    fprintf(stderr, "ck_peer: too many threads\n");
    abort();
  }
  struct ck_peer_thread* t = &threads[i];
  ck_epoch_register(&epoch, &t->record, NULL);
  t->calls = 0;
  t->freed = 0;
  t->grace_periods = 0;
  current = t;
  return t;
}

void ck_peer_retire(struct ck_peer_thread* t, void* obj) {
  ck_epoch_call(&t->record, (ck_epoch_entry_t*)obj, free_object);
  if (++t->calls % CK_PEER_POLL_EVERY == 0 && ck_epoch_poll(&t->record)) t->grace_periods++;
}

unsigned long ck_peer_finish(struct ck_peer_thread* t) {
  ck_epoch_barrier(&t->record);
  t->grace_periods++;
  return t->freed;
}

void ck_peer_unregister(struct ck_peer_thread* t) {
  ck_epoch_unregister(&t->record);
}

unsigned long ck_peer_grace_periods(const struct ck_peer_thread* t) {
  return t->grace_periods;
}
