/*
 * rxacct.h - what peer daemons' messages cost this daemon while they wait
 * for local applications to take them: one account per peer, bounded by
 * net.session_buffer, and the daemon's total over all peers, bounded by
 * net.receive_buffer (docs/PROTOCOL.md, section 5).
 *
 * An account is named by the peer's listen address, so a peer that drops
 * its session and comes back, or whose channels ended, finds the bytes it
 * left still counted; the total bounds what peers claiming many names can
 * cost together.
 *
 * Ownership: reference counted. The net holds the total; the total holds a
 * reference on itself for each peer account; a peer account is held by the
 * session of that peer while it lives and by every outbox entry charged to
 * it, so it lives exactly as long as bytes or a session need it. Loop
 * thread only.
 */
#ifndef MSGR_DAEMON_RXACCT_H
#define MSGR_DAEMON_RXACCT_H

#include <stdint.h>

#include "common/addr.h"

struct msgr__rxacct {
	uint64_t bytes;                 /* charged and not yet released */
	uint32_t refs;                  /* see above */
	struct msgr__rxacct *total;     /* the daemon's total; NULL in the total itself */
	struct msgr__rxacct *next, *prev; /* peer accounts, listed in the total */
	char peer[MSGR__HOSTPORT_MAX];  /* the peer's listen address ("" for the total) */
};

/* The daemon's total, with one reference for the caller; NULL: no memory. */
struct msgr__rxacct *msgr__rxacct_total_new(void);

/* A reference to peer's account, made if it has none; NULL: no memory. */
struct msgr__rxacct *msgr__rxacct_get(struct msgr__rxacct *total, const char *peer);

/* Charge n bytes to a peer's account, within both bounds: 0, with a
 * reference taken for the charge; -ENOBUFS past the peer's bound, -ENOSPC
 * past the total's. */
int msgr__rxacct_charge(struct msgr__rxacct *a, uint64_t n, uint64_t peer_max, uint64_t total_max);

/* Give back n bytes and one reference (a charge's, or a holder's with n =
 * 0). A NULL a does nothing. */
void msgr__rxacct_release(struct msgr__rxacct *a, uint64_t n);

#endif
