/*
 * outbox.h - a client's events on their way to its evt ring: posted at once
 * when the ring and the RX pool have room, otherwise queued in the
 * client's outbox (struct msgr__outbox_ent, client.h) until they do.
 *
 * The outbox owns its entries; an entry holds a reference on the client
 * whose TX pool has its payload (a local MESSAGE), or owns a copy of the
 * payload (from the network, or from a sender that went away). Loop
 * thread only.
 */
#ifndef MSGR_DAEMON_OUTBOX_H
#define MSGR_DAEMON_OUTBOX_H

#include "client.h"

/* Queue an event for the client, posting it at once if nothing is ahead.
 * The outbox takes e over whatever the result: its text, and a buffer of
 * e->src, which is given back when the client cannot take it. */
int msgr__dclient_post(struct msgr__dclient *c, const struct msgr__outbox_ent *e);

/* Post what the outbox holds, oldest first, while there is room. Returns
 * the number of events posted. */
int msgr__outbox_flush(struct msgr__dclient *c);

/* Throw away every event the client's outbox holds (it is being dropped). */
void msgr__outbox_clear(struct msgr__dclient *c);

/* c is going: messages it sent that still wait in other clients' outboxes
 * get their own copy of the payload, so they no longer pin c's segment. */
void msgr__outbox_unpin(struct msgr__dclient *c);

#endif
