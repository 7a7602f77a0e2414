/* SPDX-License-Identifier: MIT */
/* ck_peer.h — the Concurrency Kit ck_epoch peer, wrapped in C (ck's headers do not compile as
 * C++). Each producer thread owns one epoch record; reclamation runs on that thread, in
 * ck_epoch_poll every CK_PEER_POLL_EVERY calls and in ck_epoch_barrier at the end. */
#ifndef RCUFREE_BENCH_CK_PEER_H
#define RCUFREE_BENCH_CK_PEER_H

#ifdef __cplusplus
extern "C" {
#endif

#define CK_PEER_POLL_EVERY 512

struct ck_peer_thread;

void ck_peer_init(void);
/* Claims a record for the calling thread (records live until the process exits: ck keeps every
 * record on its global list, even unregistered ones). */
struct ck_peer_thread* ck_peer_register(void);
/* obj is a malloc()ed block whose first 16 bytes become its ck_epoch_entry_t. */
void ck_peer_retire(struct ck_peer_thread* t, void* obj);
/* Frees everything this thread retired (ck_epoch_barrier); returns how many objects this thread's
 * callbacks freed since ck_peer_register. */
unsigned long ck_peer_finish(struct ck_peer_thread* t);
void ck_peer_unregister(struct ck_peer_thread* t);
/* Grace periods this thread observed: ck_epoch_poll calls that dispatched (with no reader active,
 * ck detects a grace period without advancing the global epoch), plus its barrier. */
unsigned long ck_peer_grace_periods(const struct ck_peer_thread* t);

#ifdef __cplusplus
}
#endif
#endif
