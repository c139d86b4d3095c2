#include "link.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "common/list.h"
#include "common/log.h"
#include "common/vec.h"
#include "frame.h"
#include "handshake.h"
#include "seal.h"
#include "shm/segment.h"
#include "transports/transport.h"

#define RBUF_LEN 65536          /* one read's worth per link */
#define SMALL_LEN 4096          /* largest control frame payload (frame.c limits) */
#define KA_ANSWER_NS 10000000ull /* answer at most one KEEPALIVE per 10 ms */
#define MAX_HANDSHAKES 64       /* inbound links not yet authenticated, at once */
#define MAX_HANDSHAKES_SRC 8    /*   of them from one source address */
#define NKNOWN 64
#define TICK_MS 50              /* keepalive and deadline resolution */

/* Owned by its struct msgr__links; see link.h. */
struct msgr__link {
	struct msgr__links *ls;
	struct msgr__tconn *tl;       /* the transport connection under it (alive while we are) */
	void *owner;                  /* the session's, set by it (named, or at dial) */
	struct msgr__link *next, *prev; /* ls->links */
	enum msgr__link_state state;  /* assigned only by step(), from msgr__link_next() */
	enum msgr__link_state closed_from; /* the state our close began in */
	struct msgr__link_info info;
	struct msgr__handshake hs;
	uint8_t my_chal[MSGR__CHALLENGE_LEN];
	uint8_t proof_in[MSGR__PROOF_LEN]; /* the peer's AUTH, for MSGR__LA_VERIFY */
	struct msgr__seal tx, rx;     /* secure mode's directions (owned; off until keyed) */
	int fail_err;                 /* a failure to act on at the next flush (0: none) */
	const char *fail_why;
	int close_err;                /* why we closed it */
	struct msgr__frame_dec dec;
	uint8_t *rbuf;                /* receive buffer, RBUF_LEN, owned */
	uint8_t small[SMALL_LEN];     /* payload of the control frame being read */
	uint8_t *big;                 /* MSG payload being read, owned until handed on */
	struct msgr__fbuf out;        /* frames for the next flush */
	char src[MSGR__HOSTPORT_MAX]; /* its source, for limits (msgr__source_key) */
	uint64_t created_ns, up_ns, last_rx_ns, last_ka_ns, deadline_ns;
	uint64_t last_ka_ack_ns;      /* when we last answered a KEEPALIVE */
	uint64_t out_since_ns;        /* the transport queue has not moved since */
	size_t out_queued;            /* its size at the last tick */
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	uint64_t rtt_ns;              /* last KEEPALIVE round trip */
};

struct msgr__links {
	const struct msgr__net_conf *conf;  /* borrowed from the loop */
	struct msgr__net_stats *stats;      /* likewise */
	const struct msgr__transport_ops *ops; /* what links are called through: the
					   transport's, or the fault interceptor's */
	const char *tname;            /* the transport under it ("tcp") */
	struct msgr__transport *t;
	const struct msgr__link_events *ev; /* the sessions layer's */
	void *ctx;
	uint64_t nonce;               /* this daemon instance */
	struct msgr__keyring kr;      /* cluster keys (auth.mode hmac or secure) */
	struct msgr__link *links;
	uv_timer_t tick;              /* deadlines and keepalives, while links exist */
	unsigned ticks;               /* tick calls, for the once-a-second event */
	/* sources that brought a link up lately: a flood of strangers cannot
	 * take their handshake slots (each still has its own per-source cap) */
	char known[NKNOWN][MSGR__HOSTPORT_MAX];
	unsigned nknown;
};

static void step(struct msgr__link *l, enum msgr__link_event ev, int err, const char *why);
static void on_tick(uv_timer_t *t);

static uint64_t connect_deadline(const struct msgr__links *ls)
{
	return msgr__now_ns() + ls->conf->connect_timeout_ms * 1000000ull;
}

static const char *link_name(const struct msgr__link *l)
{
	return l->info.peer_listen[0] ? l->info.peer_listen : l->info.remote;
}

static int live(const struct msgr__link *l)
{
	return l->state < MSGR__LINK_CLOSING;
}

/* ---- output ---- */

static int fbuf_reserve(struct msgr__fbuf *b, size_t more)
{
	return msgr__vec_reserve(&b->p, &b->cap, b->len + more, 1, 4096);
}

/* Encode one frame at the end of b, sealed with tx if that is on. */
static int frame_put(struct msgr__fbuf *b, struct msgr__seal *tx, uint8_t type, uint32_t channel,
		     uint64_t seq, uint64_t ack, const struct iovec *parts, int nparts)
{
	struct msgr__frame_hdr h = { .type = type, .channel = channel, .seq = seq, .ack = ack };
	size_t len = 0, wire;
	int sealed = tx && msgr__seal_on(tx), err;

	for (int i = 0; i < nparts; i++)
		len += parts[i].iov_len;
	wire = msgr__frame_wire_len(len, sealed);
	if (fbuf_reserve(b, wire))
		return -ENOMEM;
	h.len = (uint32_t)len;
	err = msgr__frame_encode(b->p + b->len, sealed ? tx : NULL, &h, parts, nparts);
	if (err)
		return err;
	b->len += wire;
	return 0;
}

int msgr__frames_put(struct msgr__fbuf *b, uint8_t type, uint32_t channel, uint64_t seq,
		     uint64_t ack, const struct iovec *parts, int nparts)
{
	return frame_put(b, NULL, type, channel, seq, ack, parts, nparts);
}

/* Fail l at the next flush, not here: callers of the send path are in the
 * middle of channel code that a session reset would pull out from under
 * them. */
static void link_fail(struct msgr__link *l, int err, const char *why)
{
	if (!live(l) || l->fail_err)
		return;
	l->fail_err = err;
	l->fail_why = why;
	l->ls->ev->schedule(l->ls->ctx);
}

static void put_failed(struct msgr__link *l, int err)
{
	link_fail(l, err, err == -E2BIG ? "nonce counter used up: dialling anew for new keys"
					: "out of memory");
}

/* Hand the queued bytes to the transport, whatever the state (a graceful
 * close sends what is queued: CLOSE, AUTH_FAIL). */
static void out_flush(struct msgr__link *l)
{
	struct msgr__links *ls = l->ls;
	struct iovec iov;
	int err;

	if (!l->out.len)
		return;
	iov.iov_base = l->out.p;
	iov.iov_len = l->out.len;
	if (!ls->ops->send_queued(l->tl))
		l->out_since_ns = msgr__now_ns(); /* the queue starts moving now */
	err = ls->ops->send(l->tl, &iov, 1, l->out.p);
	if (err) {
		free(l->out.p);
		memset(&l->out, 0, sizeof(l->out));
		link_fail(l, err, "send failed");
		return;
	}
	l->bytes_out += l->out.len;
	memset(&l->out, 0, sizeof(l->out)); /* the transport has it until sent() */
}

void msgr__link_flush(struct msgr__link *l)
{
	if (live(l) && l->state != MSGR__LINK_CONNECTING)
		out_flush(l);
}

/* A link-level frame (channel 0). */
static void put(struct msgr__link *l, uint8_t type, const void *payload, size_t len)
{
	struct iovec iov = { (void *)payload, len };
	int err = frame_put(&l->out, &l->tx, type, 0, 0, 0, &iov, len ? 1 : 0);

	if (err) {
		put_failed(l, err);
		return;
	}
	l->frames_out++;
}

/* A frame whose payload is a reason, u16 length + text: CLOSE, AUTH_FAIL. */
static void put_reason(struct msgr__link *l, uint8_t type, const char *why)
{
	uint8_t buf[2 + 255];

	put(l, type, buf, msgr__put_str(buf, why, 255));
}

void msgr__link_send(struct msgr__link *l, uint8_t type, uint32_t channel, uint64_t seq,
		     uint64_t ack, const struct iovec *parts, int nparts)
{
	int err;

	if (l->state != MSGR__LINK_UP)
		return; /* the session sends only on its active link, which is up */
	err = frame_put(&l->out, &l->tx, type, channel, seq, ack, parts, nparts);
	if (err) {
		put_failed(l, err);
		return;
	}
	l->frames_out++;
}

void msgr__link_send_frames(struct msgr__link *l, const uint8_t *src, size_t len)
{
	size_t off = 0;

	if (l->state != MSGR__LINK_UP)
		return;
	if (!msgr__seal_on(&l->tx)) {
		if (fbuf_reserve(&l->out, len)) {
			put_failed(l, -ENOMEM);
			return;
		}
		memcpy(l->out.p + l->out.len, src, len);
		l->out.len += len;
		return;
	}
	while (off < len) {
		/* msgr__frames_put encoded these: the header is sound */
		const uint8_t *f = src + off;
		struct iovec part = { (void *)(f + MSGR__FRAME_HDR_LEN),
				      (size_t)msgr__get_uint(f + 24, 4) };
		int err = frame_put(&l->out, &l->tx, f[0], (uint32_t)msgr__get_uint(f + 4, 4),
				    msgr__get_uint(f + 8, 8), msgr__get_uint(f + 16, 8), &part,
				    part.iov_len ? 1 : 0);
		if (err) {
			put_failed(l, err);
			return;
		}
		off += msgr__frame_wire_len(part.iov_len, 0);
	}
}

size_t msgr__link_queued(const struct msgr__link *l)
{
	return l->out.len;
}

/* ---- handshake actions ---- */

static enum msgr__role my_role(const struct msgr__link *l)
{
	return l->info.outbound ? MSGR__ROLE_DIALLER : MSGR__ROLE_ACCEPTOR;
}

/* Key one direction of secure mode from the dialler's proving key. */
static int seal_key(struct msgr__link *l, struct msgr__seal *dir, enum msgr__role from)
{
	uint8_t k[MSGR__KEY_LEN];
	int err = msgr__hs_key(&l->hs, from, k);

	if (!err)
		err = msgr__seal_init(dir, k, dir == &l->tx);
	OPENSSL_cleanse(k, sizeof(k));
	return err;
}

/* Our banner and HELLO (docs/PROTOCOL.md, section 2). */
static int send_hello(struct msgr__link *l)
{
	const struct msgr__net_conf *conf = l->ls->conf;
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	struct msgr__hello h = {
		.nonce = l->ls->nonce,
		.auth_mode = (unsigned)conf->auth_mode,
		.max_msg = (uint32_t)conf->max_message,
		.window = conf->channel_window,
		.link_id = l->info.outbound ? l->info.id : 0,
		.lost = l->info.outbound ? l->info.peer_lost : 0,
	};

	memcpy(h.chal, l->my_chal, sizeof(h.chal));
	snprintf(h.listen, sizeof(h.listen), "%s", conf->listen);
	if (fbuf_reserve(&l->out, MSGR__BANNER_LEN))
		return -ENOMEM;
	msgr__banner_encode(l->out.p + l->out.len, &mine);
	l->out.len += MSGR__BANNER_LEN;
	msgr__hs_hello(&l->hs, &h);
	put(l, MSGR__F_HELLO, l->hs.mine, l->hs.mine_len);
	if (l->ls->ops->post_recv(l->tl, l->rbuf, RBUF_LEN))
		return -ENOMEM;
	out_flush(l);
	return 0;
}

/* Our proof; in secure mode everything after it is sealed. It is made with
 * our current key; secure mode's keys come from the dialler's proving key
 * (ours if we dial, the one the dialler's proof checked out with if not). */
static int send_proof(struct msgr__link *l)
{
	uint8_t proof[MSGR__PROOF_LEN];

	if (l->info.outbound)
		memcpy(l->hs.dial_key, l->ls->kr.key, sizeof(l->hs.dial_key));
	msgr__auth_proof(l->ls->kr.key, my_role(l), l->hs.h, proof);
	put(l, MSGR__F_AUTH, proof, sizeof(proof));
	if (l->ls->conf->auth_mode == MSGR__AUTH_SECURE)
		return seal_key(l, &l->tx, my_role(l));
	return 0;
}

/* Check the peer's proof and feed the verdict. */
static void verify(struct msgr__link *l)
{
	enum msgr__role theirs = l->info.outbound ? MSGR__ROLE_ACCEPTOR : MSGR__ROLE_DIALLER;
	const uint8_t *used;

	if (msgr__auth_verify(&l->ls->kr, theirs, l->hs.h, l->proof_in, &used)) {
		step(l, MSGR__LE_PROOF_BAD, 0,
		     "the peer's proof does not match our key (a different cluster key, "
		     "or the handshake was changed on the way)");
		return;
	}
	if (!l->info.outbound) /* kept with the link: a SIGHUP may change the keyring */
		memcpy(l->hs.dial_key, used, sizeof(l->hs.dial_key));
	if (l->ls->conf->auth_mode == MSGR__AUTH_SECURE) {
		/* what follows the peer's proof is sealed */
		if (seal_key(l, &l->rx, theirs)) {
			step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
		l->dec.rx = &l->rx;
	}
	step(l, MSGR__LE_PROOF_OK, 0, NULL);
}

static int source_known(const struct msgr__links *ls, const char *src)
{
	for (unsigned i = 0; i < NKNOWN; i++)
		if (!strcmp(ls->known[i], src))
			return 1;
	return 0;
}

static void source_learn(struct msgr__links *ls, const char *src)
{
	if (!src[0] || source_known(ls, src))
		return;
	snprintf(ls->known[ls->nknown++ % NKNOWN], sizeof(ls->known[0]), "%s", src);
}

static void link_free(struct msgr__link *l)
{
	free(l->out.p);
	free(l->big);
	free(l->rbuf);
	msgr__seal_fini(&l->tx);
	msgr__seal_fini(&l->rx);
	msgr__hs_wipe(&l->hs);
	free(l);
}

/* ---- the state machine's driver ---- */

/*
 * Move l by ev (msgr__link_next decides) and run the actions, in the order
 * link_state.h lists them. err and why say why, for the actions that
 * report (CLOSE, AUTH_FAIL, REFUSED, PROTO). An action may step the link
 * again (a send that fails closes it); the rest of the list is then moot.
 */
static void step(struct msgr__link *l, enum msgr__link_event ev, int err, const char *why)
{
	struct msgr__links *ls = l->ls;
	enum msgr__link_state was = l->state;
	struct msgr__link_step st = msgr__link_next(was, ev);
	unsigned a = st.actions;

	l->state = st.next;
	if (st.next == MSGR__LINK_CLOSING && was != MSGR__LINK_CLOSING)
		l->closed_from = was;
#define MOVED() (l->state != st.next)
	if (a & MSGR__LA_HELLO) {
		if (send_hello(l)) {
			step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
	}
	if (a & MSGR__LA_PROVE) {
		if (send_proof(l)) {
			step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
	}
	if (a & MSGR__LA_VERIFY) {
		verify(l);
		return;
	}
	if (a & MSGR__LA_DONE)
		put(l, MSGR__F_AUTH_DONE, NULL, 0);
	if (a & MSGR__LA_UP) {
		l->up_ns = msgr__now_ns();
		source_learn(ls, l->src);
		ls->ev->up(ls->ctx, l);
		if (MOVED())
			return;
	}
	if (a & MSGR__LA_AUTH_FAIL) {
		ls->stats->auth_failures++;
		msgr__warn("link %s (%s): authentication failed: %s", link_name(l), l->info.remote, why);
		put_reason(l, MSGR__F_AUTH_FAIL, why);
		why = "authentication failed";
		err = 0; /* graceful: AUTH_FAIL must get out */
	}
	if (a & MSGR__LA_REFUSED) {
		ls->stats->auth_failures++;
		msgr__warn("link %s (%s): the peer refused us: %s", link_name(l), l->info.remote, why);
		why = "refused by the peer";
		err = -EACCES;
	}
	if (a & MSGR__LA_PROTO) {
		ls->stats->protocol_errors++;
		err = err ? err : -EPROTO;
	}
	if (a & MSGR__LA_SEND_CLOSE) {
		put_reason(l, MSGR__F_CLOSE, why);
		l->deadline_ns = connect_deadline(ls);
		out_flush(l);
	}
	if (a & MSGR__LA_PEER_LEFT) {
		ls->ev->peer_left(ls->ctx, l);
		why = "closed by the peer";
	}
	if (a & MSGR__LA_DRAINED) {
		ls->ev->drained(ls->ctx, l);
		why = "drained";
	}
	if (a & MSGR__LA_CLOSE) {
		if (err)
			msgr__info("link %s (%s): closing: %s: %s", link_name(l),
				   l->info.outbound ? "dialled" : "accepted", why, strerror(-err));
		l->close_err = err;
		if (err)
			ls->stats->link_errors++;
		else
			out_flush(l);
		/* a graceful close waits for the peer to take what is queued; a
		 * peer that never does is cut off after this */
		l->deadline_ns = connect_deadline(ls);
		ls->ev->closing(ls->ctx, l, err, why);
		if (a & MSGR__LA_AUTH_FAIL)
			l->close_err = -EACCES; /* what connects waiting for the session are told */
		ls->ops->close(l->tl, err);
	}
	if (a & MSGR__LA_ABORT) {
		l->deadline_ns = UINT64_MAX;
		ls->ops->close(l->tl, -ETIMEDOUT);
	}
	if (a & MSGR__LA_GONE) {
		msgr__list_unlink(&ls->links, l);
		ls->ev->gone(ls->ctx, l, l->close_err ? l->close_err : err, msgr__link_was_up(l));
		link_free(l);
	}
#undef MOVED
}

int msgr__link_was_up(const struct msgr__link *l)
{
	enum msgr__link_state st = l->state >= MSGR__LINK_CLOSING ? l->closed_from : l->state;

	return st == MSGR__LINK_UP || st == MSGR__LINK_DRAINING;
}

void msgr__link_drain(struct msgr__link *l)
{
	step(l, MSGR__LE_DRAIN, 0, "race");
}

void msgr__link_close(struct msgr__link *l, int err, const char *why)
{
	step(l, MSGR__LE_CLOSE, err, why);
}

/* ---- input ---- */

/* A frame we cannot take: malformed, or a field out of range. */
static int malformed(struct msgr__link *l, const struct msgr__frame_hdr *h)
{
	char why[96];

	snprintf(why, sizeof(why), "unexpected or malformed frame (type %u, channel %u)", h->type,
		 h->channel);
	l->ls->stats->protocol_errors++;
	step(l, MSGR__LE_CLOSE, -EPROTO, why);
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
		step(l, MSGR__LE_HELLO_BAD, 0, t.nonce == ls->nonce
			 ? "the peer has our own instance nonce" : "the peer has our own listen address");
		return 1;
	}
	if (l->info.outbound && strcmp(t.listen, l->info.peer_listen)) {
		snprintf(why, sizeof(why), "dialled %s but the daemon there is %s", l->info.peer_listen,
			 t.listen);
		step(l, MSGR__LE_HELLO_BAD, 0, why);
		return 1;
	}
	snprintf(l->info.peer_listen, sizeof(l->info.peer_listen), "%s", t.listen);
	if (t.auth_mode != (unsigned)conf->auth_mode) {
		snprintf(why, sizeof(why), "the peer runs with auth.mode = %s and we with %s",
			 msgr__auth_mode_name((int)t.auth_mode), msgr__auth_mode_name(conf->auth_mode));
		step(l, MSGR__LE_HELLO_BAD, 0, why);
		return 1;
	}
	if (!l->info.outbound && ls->ev->named(ls->ctx, l, t.listen)) {
		step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
		return 1;
	}
	/* an acceptor proves nothing before the dialler has proven itself
	 * (docs/PROTOCOL.md, section 3): it must not be anybody's oracle */
	step(l, conf->auth_mode == MSGR__AUTH_NONE ? MSGR__LE_HELLO_OPEN
		: l->info.outbound ? MSGR__LE_HELLO_PROVE : MSGR__LE_HELLO_AWAIT, 0, NULL);
	return !live(l);
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
		step(l, MSGR__LE_AUTH, 0, "the peer sent AUTH out of turn");
		break;
	case MSGR__F_AUTH_DONE:
		if (r->n)
			return malformed(l, h);
		step(l, MSGR__LE_AUTH_DONE, 0,
		     "the peer sent AUTH_DONE without proving itself (no AUTH)");
		break;
	case MSGR__F_AUTH_FAIL:
		msgr__rd_str(r, why, sizeof(why));
		step(l, MSGR__LE_AUTH_FAIL, -EACCES, r->bad ? "(no reason given)" : why);
		break;
	case MSGR__F_CLOSE:
		msgr__rd_str(r, why, sizeof(why));
		msgr__info("link %s: the peer closes it: %s", link_name(l), r->bad ? "?" : why);
		step(l, MSGR__LE_PEER_CLOSE, 0, "closing");
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
			put(l, MSGR__F_KEEPALIVE_ACK, r->p, 8);
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
	return !live(l);
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

static int on_frame(void *owner, const struct msgr__frame_hdr *h, void *payload, int payload_ok)
{
	struct msgr__link *l = owner;
	struct msgr__links *ls = l->ls;
	struct msgr__rd r = { payload, h->len, 0 };
	void *big;
	int rc;

	if (!live(l))
		return 1;
	l->frames_in++;
	if (!payload_ok) {
		ls->stats->bad_payload_crc++;
		if (carries(l) && h->channel) {
			/* the channel's problem only: the link's framing is intact */
			free(l->big);
			l->big = NULL;
			if (ls->ev->frame_lost(ls->ctx, l, h, -EBADMSG) < 0)
				step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return !live(l);
		}
		step(l, MSGR__LE_CLOSE, -EBADMSG, "payload CRC mismatch in a link frame");
		return 1;
	}
	if (h->type < MSGR__F_OPEN || h->type >= MSGR__F_KEEPALIVE)
		return on_link_frame(l, h, &r);
	if (!carries(l) || !h->channel)
		return malformed(l, h);
	big = h->type == MSGR__F_MSG ? l->big : NULL;
	l->big = NULL;
	rc = ls->ev->frame(ls->ctx, l, h, payload, big);
	if (rc == -ENOBUFS || rc == -ENOMEM) {
		ls->stats->protocol_errors++;
		step(l, MSGR__LE_CLOSE, rc, "more sent during a hand-over than we hold");
		return 1;
	}
	if (rc < 0)
		return malformed(l, h);
	return !live(l);
}

/* A MSG over our max_message: the decoder skips it; its channel ends. */
static int on_skip(void *owner, const struct msgr__frame_hdr *h)
{
	struct msgr__link *l = owner;
	struct msgr__links *ls = l->ls;

	ls->stats->oversized++;
	if (!carries(l) || !h->channel) {
		step(l, MSGR__LE_CLOSE, -EPROTO, "oversized MSG before the session");
		return 1;
	}
	if (ls->ev->frame_lost(ls->ctx, l, h, -EMSGSIZE) < 0)
		step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
	return !live(l);
}

static const struct msgr__frame_ops frame_ops = { get_buf, on_frame, on_skip };

/* ---- links and the transport's callbacks ---- */

static struct msgr__link *link_new(struct msgr__links *ls, struct msgr__tconn *tl, int outbound)
{
	struct msgr__link *l = calloc(1, sizeof(*l));
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };

	if (!l || !(l->rbuf = malloc(RBUF_LEN))) {
		free(l);
		return NULL;
	}
	if (getrandom(l->my_chal, sizeof(l->my_chal), 0) != sizeof(l->my_chal)) {
		free(l->rbuf);
		free(l);
		return NULL;
	}
	l->ls = ls;
	l->tl = tl;
	l->info.outbound = outbound;
	/* the state machine starts here: a dial connects, an accepted link
	 * has connected already and says HELLO at once */
	l->state = outbound ? MSGR__LINK_CONNECTING : MSGR__LINK_HELLO;
	l->created_ns = l->last_rx_ns = msgr__now_ns();
	l->deadline_ns = connect_deadline(ls);
	msgr__frame_dec_init(&l->dec, &mine, (uint32_t)ls->conf->max_message, &frame_ops, l);
	tl->ctx = l;
	l->next = ls->links;
	if (ls->links)
		ls->links->prev = l;
	ls->links = l;
	if (!uv_is_active((uv_handle_t *)&ls->tick))
		uv_timer_start(&ls->tick, on_tick, TICK_MS, TICK_MS);
	return l;
}

static void ev_accepted(void *core, struct msgr__tconn *tl)
{
	struct msgr__links *ls = core;
	struct msgr__link *l;
	char remote[MSGR__HOSTPORT_MAX], src[MSGR__HOSTPORT_MAX];
	int pending = 0, from_src = 0;

	ls->stats->links_accepted++;
	/* Before AUTH a link is anybody's: each costs buffers until its
	 * handshake deadline, so only so many may wait at once, and fewer
	 * from any one source, so one flooding host cannot keep every real
	 * daemon out. */
	if (ls->ops->addr(tl, 1, remote, sizeof(remote))) {
		/* reset while it waited to be accepted: nobody to talk to */
		tl->ctx = NULL;
		ls->ops->close(tl, -ENOTCONN);
		return;
	}
	msgr__source_key(remote, src);
	for (struct msgr__link *o = ls->links; o; o = o->next)
		if (!o->info.outbound && o->state >= MSGR__LINK_HELLO && o->state < MSGR__LINK_UP) {
			pending++;
			from_src += !strcmp(o->src, src);
		}
	/* a source that authenticated lately is exempt from the total: the
	 * strangers holding every slot must not keep a real peer out */
	if ((pending >= MAX_HANDSHAKES && !source_known(ls, src)) || from_src >= MAX_HANDSHAKES_SRC) {
		ls->stats->links_refused++;
		tl->ctx = NULL;
		ls->ops->close(tl, -EBUSY);
		return;
	}
	l = link_new(ls, tl, 0);
	if (!l) {
		tl->ctx = NULL;
		ls->ops->close(tl, -ENOMEM);
		return;
	}
	snprintf(l->info.remote, sizeof(l->info.remote), "%s", remote);
	snprintf(l->src, sizeof(l->src), "%s", src);
	/* anybody's until AUTH: a shorter leash than our own dials get */
	l->deadline_ns = msgr__now_ns() + ls->conf->handshake_timeout_ms * 1000000ull;
	msgr__debug("link from %s accepted", l->info.remote);
	if (send_hello(l))
		step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
}

static void ev_connected(void *core, struct msgr__tconn *tl, int err)
{
	struct msgr__link *l = tl->ctx;
	struct msgr__links *ls = l->ls;

	if (err) {
		ls->stats->dial_failures++;
		msgr__info("link %s: connect: %s", l->info.peer_listen, strerror(-err));
		l->close_err = err;
		step(l, MSGR__LE_CONNECT_FAILED, err, "connect");
		return;
	}
	ls->ops->addr(tl, 1, l->info.remote, sizeof(l->info.remote));
	msgr__source_key(l->info.remote, l->src);
	step(l, MSGR__LE_CONNECTED, 0, NULL);
}

static void ev_received(void *core, struct msgr__tconn *tl, void *buf, size_t len)
{
	struct msgr__link *l = tl->ctx;
	struct msgr__links *ls = l->ls;
	struct msgr__net_stats *st = ls->stats;

	l->last_rx_ns = msgr__now_ns();
	l->bytes_in += len;
	if (!live(l))
		return;
	if (msgr__frame_dec_feed(&l->dec, buf, len) < 0 && live(l)) {
		switch (l->dec.err) {
		case MSGR__DEC_BAD_BANNER: st->bad_banner++; break;
		case MSGR__DEC_NO_VERSION: st->no_version++; break;
		case MSGR__DEC_BAD_HEADER_CRC: st->bad_header_crc++; break;
		case MSGR__DEC_BAD_TYPE: st->bad_type++; break;
		case MSGR__DEC_OVERSIZED: st->oversized++; break;
		case MSGR__DEC_BAD_TAG: st->bad_tag++; break;
		default: st->protocol_errors++; break;
		}
		msgr__warn("link %s (%s): %s", link_name(l), l->info.remote, msgr__dec_err_name(l->dec.err));
		step(l, MSGR__LE_CLOSE, -EPROTO, msgr__dec_err_name(l->dec.err));
	}
	if (live(l) && ls->ops->post_recv(tl, l->rbuf, RBUF_LEN))
		step(l, MSGR__LE_CLOSE, -ENOMEM, "cannot post a receive buffer");
	ls->ev->batch_end(ls->ctx); /* answers (acks, keepalives) leave now */
}

static void ev_sent(void *core, struct msgr__tconn *tl, void *cookie, int err)
{
	struct msgr__link *l = tl->ctx;

	if (l)
		l->out_since_ns = msgr__now_ns(); /* the queue moved */
	free(cookie);
}

static void ev_closed(void *core, struct msgr__tconn *tl, int err)
{
	struct msgr__link *l = tl->ctx;

	if (!l)
		return;
	if (live(l) && err) {
		/* the transport saw it first: reset, EOF, ... */
		l->ls->stats->link_errors++;
		msgr__info("link %s (%s): %s", link_name(l), l->info.remote, strerror(-err));
	}
	step(l, MSGR__LE_CLOSED, err, NULL);
}

static const struct msgr__transport_events events = {
	ev_accepted, ev_connected, ev_received, ev_sent, ev_closed,
};

int msgr__link_dial(struct msgr__links *ls, const char *peer, uint64_t lost, void *owner,
		    struct msgr__link **out)
{
	struct msgr__tconn *tl;
	struct msgr__link *l;
	int err = ls->ops->dial(ls->t, peer, &tl);

	if (err)
		return err;
	ls->stats->links_dialled++;
	l = link_new(ls, tl, 1);
	if (!l) {
		ls->ops->close(tl, -ENOMEM);
		return -ENOMEM;
	}
	snprintf(l->info.peer_listen, sizeof(l->info.peer_listen), "%s", peer);
	while (!l->info.id && getrandom(&l->info.id, sizeof(l->info.id), 0) == sizeof(l->info.id))
		; /* a nonzero name for the link, which its HELLO carries */
	if (!l->info.id)
		l->info.id = msgr__now_ns(); /* getrandom failed: unique enough */
	l->info.peer_lost = lost;
	l->owner = owner;
	*out = l;
	return 0;
}

/* ---- the clock ---- */

static void on_tick(uv_timer_t *t)
{
	struct msgr__links *ls = t->data;
	const struct msgr__net_conf *conf = ls->conf;
	uint64_t now = msgr__now_ns();
	struct msgr__link *l, *next;

	for (l = ls->links; l; l = next) {
		next = l->next;
		if (l->state == MSGR__LINK_CLOSING) {
			/* a graceful close the peer never let finish */
			if (now >= l->deadline_ns)
				step(l, MSGR__LE_DEADLINE, -ETIMEDOUT, NULL);
			continue;
		}
		if (l->state != MSGR__LINK_UP) {
			if (now < l->deadline_ns)
				continue;
			if (l->state != MSGR__LINK_DRAINING)
				ls->stats->handshake_timeouts++;
			step(l, MSGR__LE_DEADLINE, -ETIMEDOUT,
			     l->state == MSGR__LINK_DRAINING ? "the peer did not finish the hand-over"
			     : l->info.outbound ? "no session within net.connect_timeout"
						: "no session within net.handshake_timeout");
			continue;
		}
		if (now - l->last_rx_ns >= conf->keepalive_timeout_ms * 1000000ull) {
			ls->stats->keepalive_timeouts++;
			msgr__notice("link %s: nothing heard for %llu ms (net.keepalive_timeout)",
				     link_name(l), (unsigned long long)(now - l->last_rx_ns) / 1000000);
			step(l, MSGR__LE_CLOSE, -ETIMEDOUT, "keepalive timeout");
			continue;
		}
		size_t queued = ls->ops->send_queued(l->tl);
		if (queued < l->out_queued)
			l->out_since_ns = now; /* draining, however slowly */
		l->out_queued = queued;
		if (queued && now - l->out_since_ns >= conf->keepalive_timeout_ms * 1000000ull) {
			/* it talks but does not read: what we queue for it would
			 * only grow */
			ls->stats->keepalive_timeouts++;
			step(l, MSGR__LE_CLOSE, -ETIMEDOUT, "the peer has not read for net.keepalive_timeout");
			continue;
		}
		if (now - l->last_ka_ns >= conf->keepalive_interval_ms * 1000000ull) {
			uint8_t ts[8];
			msgr__put_uint(ts, now, 8);
			put(l, MSGR__F_KEEPALIVE, ts, 8);
			l->last_ka_ns = now;
		}
	}
	if (++ls->ticks % (1000 / TICK_MS) == 0)
		ls->ev->second(ls->ctx, now);
	ls->ev->batch_end(ls->ctx);
	if (!ls->links)
		uv_timer_stop(&ls->tick);
}

void msgr__links_flush(struct msgr__links *ls)
{
	struct msgr__link *l, *next;

	for (l = ls->links; l; l = next) {
		next = l->next;
		if (l->fail_err && live(l))
			step(l, MSGR__LE_CLOSE, l->fail_err, l->fail_why);
		else
			msgr__link_flush(l);
	}
}

/* ---- start, stop, inspection ---- */

static void on_tick_closed(uv_handle_t *h)
{
	free(h->data); /* the struct msgr__links the timer is part of */
}

int msgr__links_start(struct msgr__links **out, uv_loop_t *loop, const struct msgr__net_conf *conf,
		      struct msgr__net_stats *stats, const struct msgr__transport_ops *ops, int inject,
		      const struct msgr__link_events *ev, void *ctx, char *err, size_t errlen)
{
	struct msgr__links *ls = calloc(1, sizeof(*ls));
	int rc;

	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ls->conf = conf;
	ls->stats = stats;
	ls->ops = ops;
	ls->tname = ops->name;
	ls->ev = ev;
	ls->ctx = ctx;
	if (conf->auth_mode != MSGR__AUTH_NONE) {
		rc = msgr__keyring_load(conf->keyring, &ls->kr, err, errlen);
		if (rc)
			goto fail;
	} else {
		msgr__warn("auth.mode = none: any host that reaches %s gets a session", conf->listen);
	}
	if (getrandom(&ls->nonce, sizeof(ls->nonce), 0) != sizeof(ls->nonce)) {
		rc = -errno;
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	uv_timer_init(loop, &ls->tick);
	ls->tick.data = ls;
	if (inject) {
		/* every link through the interceptor, so net.inject_* and
		 * `inject kill-link` act at the transport boundary; it reads
		 * the live configuration itself */
		ls->ops = &msgr__fault_ops;
		rc = msgr__fault_init(&ls->t, ops, &conf->fault, &stats->injected_failures, loop,
				      &events, ls, err, errlen);
	} else {
		rc = ls->ops->init(&ls->t, loop, &events, ls, err, errlen);
	}
	if (rc)
		goto fail_timer;
	rc = ls->ops->listen(ls->t, conf->listen);
	if (rc) {
		snprintf(err, errlen, "listen on %s (global.listen): %s", conf->listen, strerror(-rc));
		ls->ops->fini(ls->t);
		goto fail_timer;
	}
	*out = ls;
	return 0;
fail_timer:
	msgr__keyring_wipe(&ls->kr);
	uv_close((uv_handle_t *)&ls->tick, on_tick_closed);
	return rc;
fail:
	msgr__keyring_wipe(&ls->kr);
	free(ls);
	return rc;
}

int msgr__links_reload_keyring(struct msgr__links *ls, char *err, size_t errlen)
{
	struct msgr__keyring kr;
	int rc;

	if (ls->conf->auth_mode == MSGR__AUTH_NONE)
		return 0;
	rc = msgr__keyring_load(ls->conf->keyring, &kr, err, errlen);
	if (rc)
		return rc;
	if (memcmp(&kr, &ls->kr, sizeof(kr)))
		msgr__notice("reload: auth.keyring %s: new keys (%s next_key)", ls->conf->keyring,
			     kr.has_next ? "with a" : "no");
	msgr__keyring_wipe(&ls->kr);
	ls->kr = kr;
	msgr__keyring_wipe(&kr);
	return 0;
}

void msgr__links_stop(struct msgr__links *ls, uv_loop_t *loop)
{
	uint64_t until = msgr__now_ns() + 1000000000ull;

	/* Tell each peer, so it resets our channels now rather than at its
	 * keepalive timeout; give the CLOSEs a second to leave. */
	for (struct msgr__link *l = ls->links; l; l = l->next)
		if (live(l) && l->state != MSGR__LINK_CONNECTING) {
			put_reason(l, MSGR__F_CLOSE, "shutting down");
			step(l, MSGR__LE_CLOSE, 0, "shutting down");
		}
	while (ls->links && msgr__now_ns() < until)
		uv_run(loop, UV_RUN_ONCE);
	ls->ops->fini(ls->t);
	while (ls->links)
		uv_run(loop, UV_RUN_ONCE);
	msgr__keyring_wipe(&ls->kr);
	uv_close((uv_handle_t *)&ls->tick, on_tick_closed); /* frees ls */
}

const char *msgr__links_transport(const struct msgr__links *ls)
{
	return ls->tname;
}

int msgr__links_injecting(const struct msgr__links *ls)
{
	return ls->ops == &msgr__fault_ops;
}

struct msgr__link *msgr__links_first(struct msgr__links *ls)
{
	return ls->links;
}

struct msgr__link *msgr__link_next_of(struct msgr__link *l)
{
	return l->next;
}

enum msgr__link_state msgr__link_state(const struct msgr__link *l)
{
	return l->state;
}

const struct msgr__link_info *msgr__link_info(const struct msgr__link *l)
{
	return &l->info;
}

void *msgr__link_owner(const struct msgr__link *l)
{
	return l->owner;
}

void msgr__link_set_owner(struct msgr__link *l, void *owner)
{
	l->owner = owner;
}

struct msgr__tconn *msgr__link_tconn(struct msgr__link *l)
{
	return l->tl;
}

struct json_object *msgr__link_json(const struct msgr__link *l, int active)
{
	struct json_object *lo = json_object_new_object();

	json_object_object_add(lo, "transport", json_object_new_string(l->ls->tname));
	json_object_object_add(lo, "inject", json_object_new_boolean(msgr__links_injecting(l->ls)));
	json_object_object_add(lo, "direction", json_object_new_string(l->info.outbound ? "out" : "in"));
	json_object_object_add(lo, "state", json_object_new_string(msgr__link_state_name(l->state)));
	json_object_object_add(lo, "active", json_object_new_boolean(active));
	json_object_object_add(lo, "remote", json_object_new_string(l->info.remote));
	json_object_object_add(lo, "bytes_out", json_object_new_int64((int64_t)l->bytes_out));
	json_object_object_add(lo, "bytes_in", json_object_new_int64((int64_t)l->bytes_in));
	json_object_object_add(lo, "frames_out", json_object_new_int64((int64_t)l->frames_out));
	json_object_object_add(lo, "frames_in", json_object_new_int64((int64_t)l->frames_in));
	json_object_object_add(lo, "rtt_us", json_object_new_double(l->rtt_ns / 1e3));
	return lo;
}
