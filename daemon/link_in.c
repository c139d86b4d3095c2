#include "link_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ---- input ---- */

/* A frame we cannot take: malformed, or a field out of range. */
static int malformed(struct msgr__link *l, const struct msgr__frame_hdr *h)
{
	char why[96];

	snprintf(why, sizeof(why), "unexpected or malformed frame (type %u, channel %u)", h->type,
		 h->channel);
	l->ls->stats->protocol_errors++;
	msgr__link_step(l, MSGR__LE_CLOSE, -EPROTO, why);
	return 1;
}

static int on_hello(struct msgr__link *l, const struct msgr__frame_hdr *h, struct msgr__rd *r)
{
	struct msgr__links *ls = l->ls;
	const struct msgr__net_conf *conf = ls->conf;
	struct msgr__hello t;
	const char *bad;
	char why[2 * MSGR__HOSTPORT_MAX + 64];

	if (l->state != MSGR__LINK_HELLO)
		return malformed(l, h);
	if (msgr__hs_parse(&l->hs, r->p, r->n, l->info.outbound, &t, &bad)) {
		msgr__warn("link %s: HELLO with a bad %s", l->info.remote, bad);
		return malformed(l, h);
	}
	l->info.peer_nonce = t.nonce;
	l->info.peer_max_msg = t.max_msg;
	l->info.peer_window = t.window;
	if (!l->info.outbound) {
		l->info.id = t.link_id;
		l->info.peer_lost = t.lost;
	}
	msgr__hs_transcript(&l->hs, l->info.outbound, l->dec.their_banner);
	if (!strcmp(t.listen, conf->listen) || t.nonce == ls->nonce) {
		msgr__link_step(l, MSGR__LE_HELLO_BAD, 0, t.nonce == ls->nonce
			 ? "the peer has our own instance nonce" : "the peer has our own listen address");
		return 1;
	}
	if (l->info.outbound && strcmp(t.listen, l->info.peer_listen)) {
		snprintf(why, sizeof(why), "dialled %s but the daemon there is %s", l->info.peer_listen,
			 t.listen);
		msgr__link_step(l, MSGR__LE_HELLO_BAD, 0, why);
		return 1;
	}
	snprintf(l->info.peer_listen, sizeof(l->info.peer_listen), "%s", t.listen);
	if (t.auth_mode != (unsigned)conf->auth_mode) {
		snprintf(why, sizeof(why), "the peer runs with auth.mode = %s and we with %s",
			 msgr__auth_mode_name((int)t.auth_mode), msgr__auth_mode_name(conf->auth_mode));
		msgr__link_step(l, MSGR__LE_HELLO_BAD, 0, why);
		return 1;
	}
	if (!l->info.outbound && ls->ev->named(ls->ctx, l, t.listen)) {
		msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
		return 1;
	}
	/* an acceptor proves nothing before the dialler has proven itself
	 * (docs/PROTOCOL.md, section 3): it must not be anybody's oracle */
	msgr__link_step(l, conf->auth_mode == MSGR__AUTH_NONE ? MSGR__LE_HELLO_OPEN
		: l->info.outbound ? MSGR__LE_HELLO_PROVE : MSGR__LE_HELLO_AWAIT, 0, NULL);
	return !msgr__link_live(l);
}

static int on_link_frame(struct msgr__link *l, const struct msgr__frame_hdr *h, struct msgr__rd *r)
{
	char why[256];

	/* a link frame names no channel, sequence or ack; and before its
	 * HELLO a peer may say nothing else (docs/PROTOCOL.md, section 3) */
	if (h->channel || h->seq || h->ack ||
	    (l->state == MSGR__LINK_HELLO && h->type != MSGR__F_HELLO))
		return malformed(l, h);
	switch (h->type) {
	case MSGR__F_HELLO:
		return on_hello(l, h, r);
	case MSGR__F_AUTH:
		msgr__rd_bytes(r, l->proof_in, sizeof(l->proof_in));
		if (r->bad || r->n || l->ls->conf->auth_mode == MSGR__AUTH_NONE)
			return malformed(l, h);
		msgr__link_step(l, MSGR__LE_AUTH, 0, "the peer sent AUTH out of turn");
		break;
	case MSGR__F_AUTH_DONE:
		if (r->n)
			return malformed(l, h);
		msgr__link_step(l, MSGR__LE_AUTH_DONE, 0,
		     "the peer sent AUTH_DONE without proving itself (no AUTH)");
		break;
	case MSGR__F_AUTH_FAIL:
		msgr__rd_str(r, why, sizeof(why));
		msgr__link_step(l, MSGR__LE_AUTH_FAIL, -EACCES, r->bad ? "(no reason given)" : why);
		break;
	case MSGR__F_CLOSE:
		msgr__rd_str(r, why, sizeof(why));
		msgr__info("link %s: the peer closes it: %s", msgr__link_name(l), r->bad ? "?" : why);
		msgr__link_step(l, MSGR__LE_PEER_CLOSE, 0, "closing");
		break;
	case MSGR__F_KEEPALIVE: {
		uint64_t now = msgr__now_ns();
		if (r->n != 8)
			return malformed(l, h);
		/* Answered only on an up link, and at most every 10 ms: a peer
		 * must not make us write more than it does (an honest one sends
		 * one per keepalive_interval). */
		if (l->state == MSGR__LINK_UP && now - l->last_ka_ack_ns >= KA_ANSWER_NS) {
			l->last_ka_ack_ns = now;
			msgr__link_put(l, MSGR__F_KEEPALIVE_ACK, r->p, 8);
		}
		break;
	}
	case MSGR__F_KEEPALIVE_ACK: {
		uint64_t t = msgr__rd_uint(r, 8), now = msgr__now_ns();
		if (r->bad || r->n)
			return malformed(l, h);
		if (t <= now)
			l->rtt_ns = now - t;
		break;
	}
	default:
		return malformed(l, h);
	}
	return !msgr__link_live(l);
}

/* Channel frames flow only on an authenticated link. */
static int carries(const struct msgr__link *l)
{
	return l->state == MSGR__LINK_UP || l->state == MSGR__LINK_DRAINING;
}

static void *get_buf(void *owner, const struct msgr__frame_hdr *h)
{
	struct msgr__link *l = owner;

	if (h->type != MSGR__F_MSG)
		return h->len <= SMALL_LEN ? l->small : NULL;
	if (!carries(l))
		return NULL; /* no memory for a peer that has not authenticated */
	free(l->big);
	l->big = malloc(h->len);
	return l->big;
}

/* A MSG on a carrying link is read where it lies when it is all in one
 * receive: on_frame then passes no buffer of its own (big NULL), and
 * whoever keeps the payload copies it. */
static int borrow(void *owner, const struct msgr__frame_hdr *h)
{
	struct msgr__link *l = owner;

	if (h->type != MSGR__F_MSG || !carries(l))
		return 0;
	free(l->big);
	l->big = NULL;
	return 1;
}

static int on_frame(void *owner, const struct msgr__frame_hdr *h, void *payload, int payload_ok)
{
	struct msgr__link *l = owner;
	struct msgr__links *ls = l->ls;
	struct msgr__rd r = { payload, h->len, 0 };
	void *big;
	int rc;

	if (!msgr__link_live(l))
		return 1;
	l->frames_in++;
	if (!payload_ok) {
		ls->stats->bad_payload_crc++;
		if (carries(l) && h->channel) {
			/* the channel's problem only: the link's framing is intact */
			free(l->big);
			l->big = NULL;
			if (ls->ev->frame_lost(ls->ctx, l, h, -EBADMSG) < 0)
				msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return !msgr__link_live(l);
		}
		msgr__link_step(l, MSGR__LE_CLOSE, -EBADMSG, "payload CRC mismatch in a link frame");
		return 1;
	}
	if (h->type < MSGR__F_OPEN || h->type >= MSGR__F_KEEPALIVE)
		return on_link_frame(l, h, &r);
	/* channel frames name a channel; a resume or an ACK names many in
	 * its payload */
	if (!carries(l) || !h->channel != (h->type == MSGR__F_RESUME || h->type == MSGR__F_RESUME_END ||
					   h->type == MSGR__F_ACK))
		return malformed(l, h);
	big = h->type == MSGR__F_MSG ? l->big : NULL;
	l->big = NULL;
	rc = ls->ev->frame(ls->ctx, l, h, payload, big);
	if (rc == -ENOBUFS || rc == -ENOMEM) {
		ls->stats->protocol_errors++;
		msgr__link_step(l, MSGR__LE_CLOSE, rc, "more sent during a hand-over than we hold");
		return 1;
	}
	if (rc < 0)
		return malformed(l, h);
	return !msgr__link_live(l);
}

/* A MSG over our max_message: the decoder skips it; its channel ends. */
static int on_skip(void *owner, const struct msgr__frame_hdr *h)
{
	struct msgr__link *l = owner;
	struct msgr__links *ls = l->ls;

	ls->stats->oversized++;
	if (!carries(l) || !h->channel) {
		msgr__link_step(l, MSGR__LE_CLOSE, -EPROTO, "oversized MSG before the session");
		return 1;
	}
	if (ls->ev->frame_lost(ls->ctx, l, h, -EMSGSIZE) < 0)
		msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
	return !msgr__link_live(l);
}

static void ahead(void *owner, uint32_t next, uint32_t after)
{
	struct msgr__link *l = owner;

	if (carries(l) && l->ls->ev->ahead)
		l->ls->ev->ahead(l->ls->ctx, l, next, after);
}

const struct msgr__frame_ops msgr__link_frame_ops = { get_buf, on_frame, on_skip, borrow, ahead };
