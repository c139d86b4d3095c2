/*
 * conntab.h - a client's connection ids (struct msgr__dconn, client.h) and
 * the credit slots in its segment through which each connection's send
 * window is published.
 *
 * An id lives from CONNECT (the application picks it and a credit slot in
 * the lower half) or from an accepted channel (the daemon picks both, from
 * the upper half) until the application closes it or the client goes. The
 * table owns its entries. Loop thread only.
 */
#ifndef MSGR_DAEMON_CONNTAB_H
#define MSGR_DAEMON_CONNTAB_H

#include <stdint.h>

#include "client.h"

struct msgr__dconn *msgr__dconn_find(struct msgr__dclient *c, uint32_t id);

/* slot: the credit slot the application chose, or MSGR__CREDIT_NONE to
 * pick one from the daemon's half. NULL if none is free or out of memory. */
struct msgr__dconn *msgr__dconn_add(struct msgr__dclient *c, uint32_t id, uint16_t mode,
				    const char *peer, uint32_t slot);

/* Forget a connection id (its channel must already be gone). */
void msgr__dconn_remove(struct msgr__dclient *c, struct msgr__dconn *k);

/* The connection's channel is gone: tell a sender waiting on its window. */
void msgr__dconn_credit_reset(struct msgr__dconn *k);

/* bytes of the connection's sends are no longer in flight: widen its window. */
void msgr__dconn_credit_add(struct msgr__dconn *k, uint64_t bytes);

/* Nonzero if c may take one more connection id, holding others besides
 * it (global.max_conns_per_client), and, unless it is the opener, a
 * credit slot for an accepted one (32,768 at most). Otherwise the refusal
 * of the connect from -> to is counted and logged, at most once every
 * 10 s for connectors at their limit (opener), once for targets at
 * theirs, and once for targets out of slots. */
int msgr__dconn_room(struct msgr__dclient *c, uint32_t others, const char *from,
		     const char *to, int opener);

#endif
