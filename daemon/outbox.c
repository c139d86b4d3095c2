/*
 * outbox.c - a client's events on their way to its evt ring (outbox.h).
 */
#include "outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "common/vec.h"
#include "conntab.h"
#include "rxacct.h"
#include "shm/wake.h"

/* Free an entry's text, and give back the session bytes it was charged. */
static void ent_text_free(struct msgr__outbox_ent *e)
{
	if (!e->borrowed)
		free(e->text);
	e->text = NULL;
	e->borrowed = 0;
	msgr__rxacct_release(e->acct, e->acct_bytes);
	e->acct = NULL;
}

/* An entry whose payload is in c's RX pool already gives the room back. */
static void ent_rx_free(struct msgr__dclient *c, struct msgr__outbox_ent *e)
{
	if (!e->rx_held)
		return;
	e->rx_held = 0;
	(void)msgr__pool_free(&c->rxp, e->rx_off);
	msgr__dclient_unref(c); /* the reservation's */
}

static void outbox_discard(struct msgr__dclient *c, struct msgr__outbox_ent *e)
{
	ent_rx_free(c, e);
	if (e->src) {
		msgr__dclient_tx_done(e->src, e->src_off);
		msgr__dclient_unref(e->src);
		e->src = NULL;
	}
	ent_text_free(e);
}

void msgr__outbox_clear(struct msgr__dclient *c)
{
	while (c->qlen) {
		outbox_discard(c, &c->q[c->qhead]);
		c->qhead = msgr__fifo_at(c->qhead, 1, c->qcap);
		c->qlen--;
	}
}

/* Messages c sent that still wait in other clients' outboxes would keep c's
 * whole segment mapped until they are delivered. Copy just those payloads
 * out, so a gone client costs what it had in flight, not its two pools. */
void msgr__outbox_unpin(struct msgr__dclient *c)
{
	for (struct msgr__dclient *o = c->reg->clients; o; o = o->next)
		for (size_t i = 0; i < o->qlen; i++) {
			struct msgr__outbox_ent *e = &o->q[msgr__fifo_at(o->qhead, i, o->qcap)];
			char *copy;
			if (e->src != c)
				continue;
			copy = malloc(e->ev.len ? e->ev.len : 1);
			if (!copy)
				continue; /* keep the reference: pinned, but correct */
			memcpy(copy, c->txpool + e->src_off, e->ev.len);
			msgr__dclient_tx_done(c, e->src_off);
			msgr__dclient_unref(c);
			e->src = NULL;
			e->text = copy;
			e->text_skip = 0;
		}
}

/* An ACCEPTED: its address goes in the ring after it (segment.h: control
 * texts). 0 if posted; -ENOBUFS if there is no room yet. */
static int post_text(struct msgr__dclient *c, const struct msgr__outbox_ent *e)
{
	struct msgr__desc unit[MSGR__UNIT_MAX];
	uint32_t n = msgr__text_unit(unit, &e->ev, e->text + e->text_skip, e->ev.len);

	if (!msgr__ring_writable_n_sp(&c->evt, n))
		return -ENOBUFS;
	if (msgr__ring_push_n_sp(&c->evt, unit, n)) {
		/* writable a moment ago: the client rewrote a slot under us */
		msgr__dclient_doom(c, "evt ring corrupted");
		return -ENOBUFS;
	}
	return 0;
}

/* 0 if posted; -ENOBUFS if there is no room yet. */
static int post_now(struct msgr__dclient *c, struct msgr__outbox_ent *e)
{
	struct msgr__desc ev = e->ev;
	const char *src = NULL;
	uint64_t off;
	int err;

	if (ev.op == MSGR__EV_ACCEPTED) {
		if (post_text(c, e))
			return -ENOBUFS;
		goto posted;
	}
	if (!msgr__ring_writable_sp(&c->evt))
		return -ENOBUFS;
	if (e->rx_held) {
		ev.off = e->rx_off; /* written fragment by fragment, as it came */
	} else if (e->src) {
		src = (const char *)e->src->txpool + e->src_off;
	} else if (e->text) {
		src = e->text + e->text_skip;
	}
	if (src) {
		err = msgr__pool_alloc(&c->rxp, ev.len, &off);
		if (err)
			return -ENOBUFS; /* -EMSGSIZE was ruled out when queued */
		memcpy(c->rxpool + off, src, ev.len);
		ev.off = off;
	}
	if (msgr__ring_push_sp(&c->evt, &ev)) {
		/* writable a moment ago: the client rewrote the slot under us */
		if (src)
			msgr__pool_free(&c->rxp, ev.off);
		msgr__dclient_doom(c, "evt ring corrupted");
		return -ENOBUFS;
	}
	if (e->rx_held) {
		/* the application owns the room now; the reference goes
		 * (the caller, and the registry, hold others) */
		e->rx_held = 0;
		msgr__dclient_unref(c);
	}
posted:
	c->posted++;
	msgr__dclient_activate(c); /* its pass sends the wakeup */
	if (e->src) {
		/* the message left our outbox: its bytes no longer count
		 * against the sending connection's window */
		struct msgr__dconn *from = msgr__dconn_find(e->src, e->src_conn);
		if (from && !e->src->dropped) {
			/* whole chunks, as the message took them in the pool */
			msgr__dconn_credit_add(from, msgr__pool_cost_bytes(ev.len, e->src->params.chunk_shift));
		}
		msgr__dclient_tx_done(e->src, e->src_off);
		msgr__dclient_unref(e->src);
		e->src = NULL;
	}
	if (e->seq) {
		/* in the application's ring now: the peer daemon may count it
		 * as received (PROTOCOL.md, channels) */
		struct msgr__dconn *k = msgr__dconn_find(c, ev.conn);
		if (k)
			msgr__channel_delivered(&k->end, e->seq, ev.len);
	}
	ent_text_free(e);
	return 0;
}

/* Per-connection view of the outbox for msgrctl conns; only the slow path
 * (an event that had to wait) pays for the lookup. */
static void queued_account(struct msgr__dclient *c, const struct msgr__outbox_ent *e, int add)
{
	struct msgr__dconn *k;

	if (e->ev.op != MSGR__EV_MESSAGE || !(k = msgr__dconn_find(c, e->ev.conn)))
		return;
	if (add) {
		k->queued_msgs++;
		k->queued_bytes += e->ev.len;
	} else if (k->queued_msgs) {
		k->queued_msgs--;
		k->queued_bytes -= e->ev.len;
	}
}

int msgr__outbox_flush(struct msgr__dclient *c)
{
	int n = 0;

	while (c->qlen) {
		if (post_now(c, &c->q[c->qhead])) {
			/* Ask the application to wake us when it frees space, then
			 * look once more in case it did so before seeing the flag. */
			msgr__wake_arm(&c->hdr->daemon_wants_rx);
			if (post_now(c, &c->q[c->qhead]))
				break;
			msgr__wake_disarm(&c->hdr->daemon_wants_rx);
		}
		queued_account(c, &c->q[c->qhead], 0);
		c->qhead = msgr__fifo_at(c->qhead, 1, c->qcap);
		c->qlen--;
		n++;
	}
	return n;
}

int msgr__dclient_post(struct msgr__dclient *c, const struct msgr__outbox_ent *e)
{
	struct msgr__outbox_ent tmp = *e;

	if (c->dropped) {
		/* no reference was taken on src yet: give its buffer back only */
		if (tmp.src)
			msgr__dclient_tx_done(tmp.src, tmp.src_off);
		ent_text_free(&tmp);
		ent_rx_free(c, &tmp);
		return -ENOTCONN;
	}
	if (c->qlen >= MSGR__OUTBOX_HARD) {
		if (tmp.src)
			msgr__dclient_tx_done(tmp.src, tmp.src_off);
		ent_text_free(&tmp);
		ent_rx_free(c, &tmp);
		msgr__dclient_doom(c, "more than 1048576 events waiting: it does not read them");
		return -ENOBUFS;
	}
	if (tmp.src)
		msgr__dclient_ref(tmp.src);
	if (c->qlen == 0 && post_now(c, &tmp) == 0)
		return 0;
	if (tmp.borrowed) {
		/* it waits: it needs a copy of its own */
		char *copy = malloc(tmp.ev.len ? tmp.ev.len : 1);
		if (!copy) {
			outbox_discard(c, &tmp);
			return -ENOMEM;
		}
		memcpy(copy, tmp.text + tmp.text_skip, tmp.ev.len);
		tmp.text = copy;
		tmp.text_skip = 0;
		tmp.borrowed = 0;
	}
	if (msgr__fifo_reserve(&c->q, &c->qcap, c->qhead, c->qlen, sizeof(*c->q), 64)) {
		outbox_discard(c, &tmp);
		return -ENOMEM;
	}
	c->q[msgr__fifo_at(c->qhead, c->qlen, c->qcap)] = tmp;
	c->qlen++;
	queued_account(c, &tmp, 1);
	/* Events from the network are posted outside a poll pass: make sure
	 * one runs, whose outbox flush asks the client for a wakeup when it
	 * makes room. */
	msgr__dclient_activate(c);
	return 0;
}
