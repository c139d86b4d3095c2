/*
 * channel.h - one ordered, bidirectional message stream between two entity
 * instances, in one mode.
 *
 * Only local channels exist so far: both ends are connections of clients on
 * this daemon, and delivery is a copy from the sender's TX pool into the
 * receiver's RX pool when the receiver's outbox reaches it.
 *
 * Lifetime: created by msgr__channel_connect(); freed by msgr__channel_reset()
 * once either end closes or its client goes away. Both ends' dconn->ch point
 * here until then.
 */
#ifndef MSGR_DAEMON_CHANNEL_H
#define MSGR_DAEMON_CHANNEL_H

#include <stdint.h>

#include "shm/segment.h"

struct msgr__daemon;
struct msgr__dclient;
struct msgr__dconn;

struct msgr__channel {
	struct msgr__dconn *end[2]; /* [0] connecting side, [1] accepting side */
	uint16_t mode;              /* enum msgr_mode */
	uint64_t created_ns;
};

/* Handle a CONNECT command: resolve the peer, open the channel, and post
 * CONNECTED/ACCEPTED or CONNECT_FAILED. conn is the caller's new dconn. */
void msgr__channel_connect(struct msgr__daemon *d, struct msgr__dconn *conn);

/* Handle a SEND from one end (payload at off in the sender's TX pool). */
void msgr__channel_send(struct msgr__dconn *from, const struct msgr__desc *desc);

/* Tear the channel down: the other end gets `ev` (RESET) with error. */
void msgr__channel_reset(struct msgr__channel *ch, struct msgr__dconn *from, int error);

#endif
