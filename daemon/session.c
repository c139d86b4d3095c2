#include "session.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "rxacct.h"
#include "seal.h"
#include "channel.h"
#include "common/addr.h"
#include "common/crc32c.h"
#include "common/list.h"
#include "common/log.h"
#include "common/vec.h"
#include "daemon.h"
#include "shm/segment.h"
#include "transports/fault.h"
#include "transports/transport.h"

#define TICK_MS 50              /* keepalive and deadline resolution */
#define RBUF_LEN 65536          /* one read's worth per link */
#define SMALL_LEN 4096          /* largest control frame payload (frame.c limits) */
#define FLUSH_EARLY (1u << 20)  /* queued bytes that make a link send mid-pass */
#define CHAN_BUCKETS 256
#define KA_ANSWER_NS 10000000ull /* answer at most one KEEPALIVE per 10 ms */
#define MAX_HANDSHAKES 64       /* inbound links not yet authenticated, at once */
#define MAX_HANDSHAKES_SRC 8    /*   of them from one source address */
/* A HELLO payload: nonce, mode, max message, window, link id, lost link,
 * challenge, listen address. */
#define HELLO_MAX (8 + 1 + 4 + 8 + 8 + 8 + MSGR__CHALLENGE_LEN + 2 + MSGR__HOSTPORT_MAX)

enum lstate {
	L_CONNECTING, /* dial in progress */
	L_HANDSHAKE,  /* banner, HELLO, AUTH in flight */
	L_UP,         /* authenticated both ways; may be the session's active link */
	L_DRAINING,   /* we sent CLOSE; reading until the peer's CLOSE */
	L_CLOSING,    /* close asked; waiting for the transport's closed() */
};

/* Bytes waiting to be handed to a transport. The buffer is given away whole
 * at each flush (the send's cookie) and freed by sent(). */
struct obuf {
	uint8_t *p;
	size_t len, cap;
};

/* A link: the core's state over one transport connection. Owned by the net
 * from dial or accept until the transport's closed() (the only place it is freed). */
struct nlink {
	struct msgr__tconn *tl;       /* the transport connection under it (alive while we are) */
	struct msgr__net *net;
	struct msgr__session *s;      /* set at dial, or when HELLO names the peer */
	struct nlink *next, *prev;    /* net->links */
	enum lstate state;
	int outbound;                 /* we dialled it */
	int sent_done, got_done;      /* handshake finished each way (AUTH_DONE, or its stand-in) */
	int got_hello;
	int sent_auth, got_auth;      /* our proof is out; the peer's checked out */
	uint8_t hello_mine[HELLO_MAX], hello_theirs[HELLO_MAX]; /* payloads, for the transcript */
	size_t hello_mine_len, hello_theirs_len;
	uint8_t h[MSGR__HASH_LEN];    /* the transcript's hash, once both HELLOs are in */
	struct msgr__seal tx, rx;     /* secure mode's directions (owned; off until keyed) */
	uint8_t dial_key[MSGR__KEY_LEN]; /* secure mode: the dialler's proving key, which
					    both directions come from (wiped when freed) */
	int sent_close;               /* our CLOSE is queued: nothing more goes out */
	int drained;                  /* the peer's CLOSE ended our drain in order */
	int fail_err;                 /* a failure to act on at the next flush */
	const char *fail_why;
	uint8_t my_chal[MSGR__CHALLENGE_LEN];
	uint64_t peer_nonce;          /* the peer daemon's instance */
	uint32_t peer_max_msg;        /* largest MSG payload the peer takes */
	uint64_t peer_window;         /* the peer's global.channel_window */
	uint64_t id;                  /* chosen by the dialler, sent in its HELLO */
	uint64_t peer_lost;           /* inbound: the link its dialler lost to us */
	char peer_listen[MSGR__HOSTPORT_MAX]; /* from HELLO (or what we dialled) */
	char remote[MSGR__HOSTPORT_MAX];      /* the socket's peer address */
	char src[MSGR__HOSTPORT_MAX];         /* its source, for limits (msgr__source_key) */
	struct msgr__frame_dec dec;
	uint8_t *rbuf;                /* receive buffer, RBUF_LEN, owned */
	uint8_t small[SMALL_LEN];     /* payload of the control frame being read */
	uint8_t *big;                 /* MSG payload being read, owned until handed on */
	struct obuf out;              /* frames for the next flush */
	uint64_t created_ns, up_ns, last_rx_ns, last_ka_ns, deadline_ns;
	uint64_t last_ka_ack_ns;      /* when we last answered a KEEPALIVE */
	uint64_t out_since_ns;        /* the transport queue has not moved since */
	size_t out_queued;            /* its size at the last tick */
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	uint64_t rtt_ns;              /* last KEEPALIVE round trip */
	int close_err;                /* why we closed it */
};

/* Owned by the net; see session.h for its lifetime. */
struct msgr__session {
	struct msgr__net *net;
	struct msgr__session *next;   /* net->sessions */
	char peer[MSGR__HOSTPORT_MAX];/* the peer daemon's listen address */
	int lower;                    /* our listen address sorts below the peer's */
	uint64_t peer_nonce;          /* peer daemon instance last seen (0: none yet) */
	uint32_t peer_max_msg;        /* from the active link's HELLO (0: unknown) */
	uint64_t peer_window;         /* likewise (0: unknown) */
	struct nlink *active;         /* the link frames go on, or NULL */
	struct nlink *drain;          /* a race loser still being read (lower side) */
	struct held *held, **held_tail; /* channel frames waiting for the drain, in order */
	uint64_t held_bytes;          /* their payloads */
	int nlinks;                   /* links that belong to it, until their closed() */
	int dialing;                  /* one of them is our dial, not yet up */
	int busy;                     /* nonzero while being walked: do not free */
	struct obuf pending;          /* frames queued while no link is active */
	struct msgr__rxacct *rx;      /* the peer's receive account (a reference) */
	struct msgr__channel *chans[CHAN_BUCKETS];
	uint32_t nchans;
	uint32_t next_id;             /* ids handed out from our half */
	uint32_t *ackq;               /* channel ids with input to acknowledge */
	size_t nack, capack;
	uint32_t recent[64];          /* ids of channels we ended lately, whose */
	unsigned nrecent;             /*   late frames need no RESET in answer */
	uint64_t created_ns;
	uint64_t links_up, races;     /* for `sessions` */
	char last_error[128];         /* why the last link went */
};

/* A channel frame from the kept link while the drained one still has the
 * peer's earlier frames. Owned by the session's hold queue. */
enum { HELD_FRAME, HELD_BAD_CRC, HELD_OVERSIZED };

struct held {
	struct held *next;
	struct nlink *from;           /* cleared if that link goes first */
	int kind;                     /* a frame, or a channel-level fault in its place */
	struct msgr__frame_hdr h;
	void *payload;                /* a copy (or the MSG buffer), owned */
};

/* The daemon's network side. Owned by the daemon (d->net). */
struct msgr__net {
	struct msgr__daemon *d;
	const struct msgr__transport_ops *ops; /* what links are called through: the
					  transport's, or the fault interceptor's */
	const char *tname;            /* the transport under it ("tcp"), for JSON */
	struct msgr__transport *t;
	uv_timer_t tick;              /* keepalives, deadlines */
	uint64_t nonce;               /* this daemon instance */
	struct msgr__keyring kr;      /* cluster keys (auth.mode hmac or secure) */
	struct nlink *links;
	struct msgr__session *sessions;
	struct msgr__rxacct *rx_total;  /* every peer's receive account (a reference) */
	unsigned ticks;               /* on_tick calls, for the slower checks */
	/* sources that brought a link up lately: a flood of strangers cannot
	 * take their handshake slots (each still has its own per-source cap) */
	char known[64][MSGR__HOSTPORT_MAX];
	unsigned nknown;
	struct {                      /* links that failed here while up: a */
		char peer[MSGR__HOSTPORT_MAX]; /* redial tells the peer, which */
		uint64_t id;          /* may not have noticed (PROTOCOL.md 4) */
	} lost[16];
	unsigned nlost;
};

static void link_close(struct nlink *l, int err, const char *why);

/* A link's deadline for anything that must finish within
 * net.connect_timeout: its handshake, a drain, a graceful close. */
static uint64_t connect_deadline(const struct msgr__net *n)
{
	return msgr__now_ns() + n->d->conf.net.connect_timeout_ms * 1000000ull;
}
static void active_lost(struct msgr__session *s, struct nlink *l, int err);
static void session_maybe_free(struct msgr__session *s);
static void on_tick(uv_timer_t *t);
static void held_release(struct msgr__session *s);
static void *get_buf(void *owner, const struct msgr__frame_hdr *h);
static int on_frame(void *owner, const struct msgr__frame_hdr *h, void *payload, int payload_ok);
static int on_skip(void *owner, const struct msgr__frame_hdr *h);
static const struct msgr__frame_ops frame_ops = { get_buf, on_frame, on_skip };

/* ---- output ---- */

static int obuf_reserve(struct obuf *b, size_t more)
{
	return msgr__vec_reserve(&b->p, &b->cap, b->len + more, 1, 4096);
}

/* Encode one frame at the end of b, sealed with tx if that is on. */
static int frame_put(struct obuf *b, struct msgr__seal *tx, uint8_t type, uint32_t channel,
		     uint64_t seq, uint64_t ack, const struct iovec *parts, int nparts)
{
	struct msgr__frame_hdr h = { .type = type, .channel = channel, .seq = seq, .ack = ack };
	size_t len = 0, wire;
	int sealed = tx && msgr__seal_on(tx), err;

	for (int i = 0; i < nparts; i++)
		len += parts[i].iov_len;
	wire = msgr__frame_wire_len(len, sealed);
	if (obuf_reserve(b, wire))
		return -ENOMEM;
	h.len = (uint32_t)len;
	err = msgr__frame_encode(b->p + b->len, sealed ? tx : NULL, &h, parts, nparts);
	if (err)
		return err;
	b->len += wire;
	return 0;
}

/* Move the plain frames queued in src (while the session had no link) to
 * l, sealing each if l seals. */
static int frames_move(struct nlink *l, struct obuf *src)
{
	size_t off = 0;

	if (!msgr__seal_on(&l->tx)) {
		if (obuf_reserve(&l->out, src->len))
			return -ENOMEM;
		memcpy(l->out.p + l->out.len, src->p, src->len);
		l->out.len += src->len;
		return 0;
	}
	while (off < src->len) {
		/* we encoded these ourselves: the header is sound */
		uint8_t *f = src->p + off;
		struct msgr__frame_hdr h = { .type = f[0], .channel = (uint32_t)msgr__get_uint(f + 4, 4),
					     .seq = msgr__get_uint(f + 8, 8), .ack = msgr__get_uint(f + 16, 8) };
		struct iovec part = { f + MSGR__FRAME_HDR_LEN, (size_t)msgr__get_uint(f + 24, 4) };
		int err = frame_put(&l->out, &l->tx, h.type, h.channel, h.seq, h.ack, &part,
				    part.iov_len ? 1 : 0);
		if (err)
			return err;
		off += msgr__frame_wire_len(part.iov_len, 0);
	}
	return 0;
}

/* Fail l at the end of this pass, not here: callers of the send path are
 * in the middle of channel code that a session reset would pull out from
 * under them. */
static void link_fail(struct nlink *l, int err, const char *why)
{
	if (l->state == L_CLOSING || l->fail_err)
		return;
	l->fail_err = err;
	l->fail_why = why;
	msgr__daemon_schedule(l->net->d);
}

static void link_flush(struct nlink *l)
{
	struct iovec iov;
	int err;

	if (!l->out.len || l->state == L_CLOSING || l->state == L_CONNECTING)
		return;
	iov.iov_base = l->out.p;
	iov.iov_len = l->out.len;
	if (!l->net->ops->send_queued(l->tl))
		l->out_since_ns = msgr__now_ns(); /* the queue starts moving now */
	err = l->net->ops->send(l->tl, &iov, 1, l->out.p);
	if (err) {
		free(l->out.p);
		memset(&l->out, 0, sizeof(l->out));
		link_fail(l, err, "send failed");
		return;
	}
	l->bytes_out += l->out.len;
	memset(&l->out, 0, sizeof(l->out)); /* the transport has it until sent() */
}

static void link_put(struct nlink *l, uint8_t type, const void *payload, size_t len)
{
	struct iovec iov = { (void *)payload, len };

	if (l->state == L_CLOSING || l->sent_close)
		return;
	int err = frame_put(&l->out, &l->tx, type, 0, 0, 0, &iov, len ? 1 : 0);

	if (err) {
		link_fail(l, err, err == -E2BIG ? "nonce counter used up: dialling anew for new keys"
						: "out of memory");
		return;
	}
	l->frames_out++;
}

/* A frame whose payload is a reason, u16 length + text: CLOSE, AUTH_FAIL. */
static void link_put_reason(struct nlink *l, uint8_t type, const char *why)
{
	uint8_t buf[2 + 255];

	link_put(l, type, buf, msgr__put_str(buf, why, 255));
}

void msgr__session_send(struct msgr__session *s, uint8_t type, uint32_t channel, uint64_t seq,
			uint64_t ack, const struct iovec *parts, int nparts)
{
	struct nlink *l = s->active;
	struct obuf *b = l ? &l->out : &s->pending;
	int err = frame_put(b, l ? &l->tx : NULL, type, channel, seq, ack, parts, nparts);

	if (err) {
		if (l)
			link_fail(l, err, err == -E2BIG ? "nonce counter used up: dialling anew for new keys"
							: "out of memory");
		else
			msgr__err("session %s: out of memory: a frame for channel %u is lost",
				  s->peer, channel);
		return;
	}
	if (l) {
		l->frames_out++;
		if (l->out.len >= FLUSH_EARLY)
			link_flush(l);
	}
	msgr__daemon_schedule(s->net->d); /* the pass's end flushes it */
}

/* ---- sessions ---- */

const char *msgr__session_peer(const struct msgr__session *s)
{
	return s->peer;
}

struct msgr__daemon *msgr__session_daemon(const struct msgr__session *s)
{
	return s->net->d;
}

uint32_t msgr__session_peer_max(const struct msgr__session *s)
{
	return s->peer_max_msg;
}

uint64_t msgr__session_peer_window(const struct msgr__session *s)
{
	return s->peer_window;
}

static struct msgr__session *session_find(struct msgr__net *n, const char *peer)
{
	for (struct msgr__session *s = n->sessions; s; s = s->next)
		if (!strcmp(s->peer, peer))
			return s;
	return NULL;
}

static struct msgr__session *session_new(struct msgr__net *n, const char *peer)
{
	struct msgr__session *s = calloc(1, sizeof(*s));

	/* the peer's account, with what it left waiting when it last went */
	if (!s || !(s->rx = msgr__rxacct_get(n->rx_total, peer))) {
		free(s);
		return NULL;
	}
	s->net = n;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->lower = strcmp(n->d->conf.net.listen, peer) < 0;
	s->created_ns = msgr__now_ns();
	/* Channel ids start somewhere new in every incarnation of a session,
	 * so a late frame about a channel of the last one cannot name a
	 * channel of this one. */
	if (getrandom(&s->next_id, sizeof(s->next_id), 0) != sizeof(s->next_id))
		s->next_id = (uint32_t)s->created_ns;
	s->next_id &= (1u << 29) - 1;
	s->next = n->sessions;
	n->sessions = s;
	return s;
}

static void session_maybe_free(struct msgr__session *s)
{
	struct msgr__session **pp;

	if (s->nlinks || s->nchans || s->busy)
		return;
	for (pp = &s->net->sessions; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	while (s->held) {
		struct held *x = s->held;
		s->held = x->next;
		free(x->payload);
		free(x);
	}
	free(s->pending.p);
	free(s->ackq);
	msgr__rxacct_release(s->rx, 0);
	free(s);
}

struct msgr__rxacct *msgr__session_rxacct(struct msgr__session *s)
{
	return s->rx;
}

/* The session lost what was in flight (its active link failed, or a link
 * it was draining did): lossy channels end here, CONNECT_FAILED if they
 * never opened, RESET otherwise, and what waited for a link is dropped.
 * notify: a link to the peer survives, so tell it too (RESET per channel,
 * queued for the next active link); without one the peer sees the fault
 * itself. */
static void session_down(struct msgr__session *s, int err, int notify)
{
	s->busy++;
	free(s->pending.p);
	memset(&s->pending, 0, sizeof(s->pending));
	s->nack = 0;
	for (int b = 0; b < CHAN_BUCKETS; b++)
		while (s->chans[b])
			msgr__channel_session_down(s->chans[b], err, notify);
	/* frames held behind a drain came on the link that survives: take
	 * them in now, against the new state (their channels are gone, and a
	 * frame for a channel that is gone gets a RESET back) */
	s->drain = NULL;
	held_release(s);
	s->busy--;
	session_maybe_free(s);
}

static int dial(struct msgr__session *s);

struct msgr__session *msgr__session_get(struct msgr__daemon *d, const char *peer, int *errp)
{
	struct msgr__net *n = d->net;
	struct msgr__session *s;
	int err;

	*errp = -ENOMEM;
	if (!n)
		return NULL;
	s = session_find(n, peer);
	if (!s && !(s = session_new(n, peer)))
		return NULL;
	if (s->active || s->dialing)
		return s;
	err = dial(s);
	if (!err)
		return s;
	/* Refused before any packet left (not a numeric HOST:PORT, no
	 * route): nothing will ever answer, so say so now. An inbound link
	 * still in its handshake may yet bring the session up. */
	msgr__info("session %s: dial: %s", peer, strerror(-err));
	snprintf(s->last_error, sizeof(s->last_error), "dial: %s", strerror(-err));
	if (s->nlinks)
		return s;
	*errp = err;
	session_maybe_free(s);
	return NULL;
}

uint32_t msgr__session_chan_id(struct msgr__session *s)
{
	uint32_t id;

	do {
		s->next_id++;
		id = s->next_id * 2 + (s->lower ? 0 : 1);
	} while (id < 2 || msgr__session_chan_find(s, id));
	return id;
}

int msgr__session_chan_theirs(const struct msgr__session *s, uint32_t id)
{
	return id >= 2 && (id & 1) == (s->lower ? 1u : 0u);
}

struct msgr__channel *msgr__session_chan_find(struct msgr__session *s, uint32_t id)
{
	for (struct msgr__channel *ch = s->chans[id % CHAN_BUCKETS]; ch; ch = ch->hnext)
		if (ch->wire_id == id)
			return ch;
	return NULL;
}

void msgr__session_chan_add(struct msgr__session *s, struct msgr__channel *ch)
{
	ch->hnext = s->chans[ch->wire_id % CHAN_BUCKETS];
	s->chans[ch->wire_id % CHAN_BUCKETS] = ch;
	s->nchans++;
}

void msgr__session_chan_del(struct msgr__session *s, struct msgr__channel *ch)
{
	struct msgr__channel **pp = &s->chans[ch->wire_id % CHAN_BUCKETS];

	while (*pp != ch)
		pp = &(*pp)->hnext;
	*pp = ch->hnext;
	s->nchans--;
	session_maybe_free(s);
}

void msgr__session_forget(struct msgr__session *s, uint32_t id)
{
	s->recent[s->nrecent++ % (sizeof(s->recent) / sizeof(s->recent[0]))] = id;
}

int msgr__session_forgotten(const struct msgr__session *s, uint32_t id)
{
	for (unsigned i = 0; i < sizeof(s->recent) / sizeof(s->recent[0]); i++)
		if (s->recent[i] == id)
			return 1;
	return 0;
}

void msgr__session_ack_later(struct msgr__session *s, uint32_t id)
{
	if (msgr__vec_reserve(&s->ackq, &s->capack, s->nack + 1, sizeof(*s->ackq), 64))
		return; /* the next MSG on the channel carries the ack */
	s->ackq[s->nack++] = id;
	msgr__daemon_schedule(s->net->d);
}

static void session_flush_acks(struct msgr__session *s)
{
	size_t n = s->nack;

	s->nack = 0;
	for (size_t i = 0; i < n; i++) {
		struct msgr__channel *ch = msgr__session_chan_find(s, s->ackq[i]);
		if (ch)
			msgr__channel_flush_ack(ch);
	}
}

/* ---- links ---- */

static const char *link_name(const struct nlink *l)
{
	return l->peer_listen[0] ? l->peer_listen : l->remote;
}

static struct nlink *link_new(struct msgr__net *n, struct msgr__tconn *tl, int outbound)
{
	struct nlink *l = calloc(1, sizeof(*l));
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };

	if (!l || !(l->rbuf = malloc(RBUF_LEN))) {
		free(l);
		return NULL;
	}
	l->tl = tl;
	l->net = n;
	l->outbound = outbound;
	l->state = outbound ? L_CONNECTING : L_HANDSHAKE;
	l->created_ns = l->last_rx_ns = msgr__now_ns();
	l->deadline_ns = connect_deadline(n);
	msgr__frame_dec_init(&l->dec, &mine, (uint32_t)n->d->conf.net.max_message, &frame_ops, l);
	if (getrandom(l->my_chal, sizeof(l->my_chal), 0) != sizeof(l->my_chal)) {
		free(l->rbuf);
		free(l);
		return NULL;
	}
	tl->ctx = l;
	l->next = n->links;
	if (n->links)
		n->links->prev = l;
	n->links = l;
	if (!uv_is_active((uv_handle_t *)&n->tick))
		uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
	return l;
}

static int source_known(const struct msgr__net *n, const char *src)
{
	for (unsigned i = 0; i < sizeof(n->known) / sizeof(n->known[0]); i++)
		if (!strcmp(n->known[i], src))
			return 1;
	return 0;
}

static void source_learn(struct msgr__net *n, const char *src)
{
	if (!src[0] || source_known(n, src))
		return;
	snprintf(n->known[n->nknown++ % (sizeof(n->known) / sizeof(n->known[0]))],
		 sizeof(n->known[0]), "%s", src);
}

static uint64_t lost_lookup(const struct msgr__net *n, const char *peer)
{
	for (unsigned i = 0; i < sizeof(n->lost) / sizeof(n->lost[0]); i++)
		if (n->lost[i].id && !strcmp(n->lost[i].peer, peer))
			return n->lost[i].id;
	return 0;
}

static void lost_record(struct msgr__net *n, const char *peer, uint64_t id)
{
	unsigned i;

	for (i = 0; i < sizeof(n->lost) / sizeof(n->lost[0]); i++)
		if (!strcmp(n->lost[i].peer, peer))
			break; /* one per peer: the latest */
	if (i == sizeof(n->lost) / sizeof(n->lost[0]))
		i = n->nlost++ % (sizeof(n->lost) / sizeof(n->lost[0]));
	snprintf(n->lost[i].peer, sizeof(n->lost[i].peer), "%s", peer);
	n->lost[i].id = id;
}

/* Send our banner and HELLO: u64 nonce, u8 auth mode, u32 max message, u64
 * window, u64 link id and u64 lost link (a dialler's; 0 from an acceptor),
 * challenge, u16 length + listen address. */
static void link_start(struct nlink *l)
{
	struct msgr__daemon *d = l->net->d;
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	uint8_t *p = l->hello_mine;

	l->state = L_HANDSHAKE;
	if (obuf_reserve(&l->out, MSGR__BANNER_LEN)) {
		link_close(l, -ENOMEM, "out of memory");
		return;
	}
	msgr__banner_encode(l->out.p + l->out.len, &mine);
	l->out.len += MSGR__BANNER_LEN;
	p += msgr__put_uint(p, l->net->nonce, 8);
	p += msgr__put_uint(p, (uint64_t)d->conf.net.auth_mode, 1);
	p += msgr__put_uint(p, d->conf.net.max_message, 4);
	p += msgr__put_uint(p, d->conf.net.channel_window, 8);
	p += msgr__put_uint(p, l->outbound ? l->id : 0, 8);
	p += msgr__put_uint(p, l->outbound ? lost_lookup(l->net, l->peer_listen) : 0, 8);
	memcpy(p, l->my_chal, MSGR__CHALLENGE_LEN);
	p += MSGR__CHALLENGE_LEN;
	p += msgr__put_str(p, d->conf.net.listen, MSGR__HOSTPORT_MAX);
	l->hello_mine_len = (size_t)(p - l->hello_mine);
	link_put(l, MSGR__F_HELLO, l->hello_mine, l->hello_mine_len);
	if (l->net->ops->post_recv(l->tl, l->rbuf, RBUF_LEN))
		link_close(l, -ENOMEM, "cannot post a receive buffer");
	link_flush(l);
}

static void link_close(struct nlink *l, int err, const char *why)
{
	if (l->state == L_CLOSING)
		return;
	if (err)
		msgr__info("link %s (%s): closing: %s: %s", link_name(l),
			   l->outbound ? "dialled" : "accepted", why, strerror(-err));
	if (l->s && !l->up_ns)
		snprintf(l->s->last_error, sizeof(l->s->last_error), "%s", why);
	l->close_err = err;
	if (err)
		l->net->d->stats.net.link_errors++;
	else
		link_flush(l); /* a graceful close sends what is queued (CLOSE, AUTH_FAIL) */
	l->state = L_CLOSING;
	/* a graceful close waits for the peer to take what is queued; a peer
	 * that never does is cut off after this */
	l->deadline_ns = connect_deadline(l->net);
	if (l->s && l->s->active == l)
		active_lost(l->s, l, err ? err : -ECONNRESET);
	l->net->ops->close(l->tl, err);
}

/* Frames go out on l from now on, starting with what waited for a link. */
static void activate(struct msgr__session *s, struct nlink *l)
{
	s->active = l;
	s->peer_max_msg = l->peer_max_msg;
	s->peer_window = l->peer_window;
	s->links_up++;
	msgr__info("session %s: link up (%s, %s)", s->peer, l->outbound ? "dialled" : "accepted",
		   l->remote);
	if (s->pending.len) {
		if (frames_move(l, &s->pending)) {
			link_fail(l, -ENOMEM, "out of memory");
			return;
		}
		free(s->pending.p);
		memset(&s->pending, 0, sizeof(s->pending));
	}
	msgr__daemon_schedule(l->net->d);
}

/* Whether the session has a link besides l that is or may become up. */
static int other_live(struct msgr__session *s, struct nlink *l)
{
	for (struct nlink *o = s->net->links; o; o = o->next)
		if (o != l && o->s == s && (o->state == L_UP || o->state == L_HANDSHAKE ||
					    o->state == L_CONNECTING))
			return 1;
	return 0;
}

/* Another up link of the session, other than l, or NULL. */
static struct nlink *spare_link(struct msgr__session *s, struct nlink *l)
{
	for (struct nlink *o = s->net->links; o; o = o->next)
		if (o != l && o->s == s && o->state == L_UP)
			return o;
	return NULL;
}

/* The link the session sent on stopped being usable (it failed, or we
 * close it for any reason but a hand-over): what was in flight on it is
 * lost, so lossy channels end on both sides, and another up link, if there
 * is one, carries on (telling the peer which channels ended). */
static void active_lost(struct msgr__session *s, struct nlink *l, int err)
{
	struct nlink *spare = spare_link(s, l);

	s->active = NULL;
	snprintf(s->last_error, sizeof(s->last_error), "%s", strerror(-err));
	session_down(s, err, spare != NULL);
	spare = spare_link(s, l); /* again: session_down may have closed it */
	if (spare && !s->active)
		activate(s, spare);
}

/* Whether l's channel frames wait: the peer's earlier ones are still
 * coming on a link we drain. */
static int held_back(const struct nlink *l)
{
	return l->s->drain && l->s->drain != l;
}

/* Keep a channel frame from l until the drain is done. */
static int held_add(struct msgr__session *s, struct nlink *l, int kind,
		    const struct msgr__frame_hdr *h, const void *payload, void *big)
{
	struct held *x;
	uint64_t cap = (64u << 20) + l->net->d->conf.net.max_message;

	if (kind == HELD_FRAME && s->held_bytes + h->len > cap) {
		/* a hand-over lasts a round trip; a peer that sends this much
		 * meanwhile is flooding us */
		free(big);
		return -ENOBUFS;
	}
	if (!(x = malloc(sizeof(*x)))) {
		free(big);
		return -ENOMEM;
	}
	x->next = NULL;
	x->from = l;
	x->kind = kind;
	x->h = *h;
	if (kind != HELD_FRAME) {
		x->payload = NULL;
		goto queue;
	}
	x->payload = big;
	if (!big && h->len && !(x->payload = malloc(h->len))) {
		free(x);
		return -ENOMEM;
	}
	if (!big && h->len)
		memcpy(x->payload, payload, h->len);
	s->held_bytes += h->len;
queue:
	if (!s->held)
		s->held_tail = &s->held;
	*s->held_tail = x;
	s->held_tail = &x->next;
	return 0;
}

/* l is going: what it sent and we held is part of its fault. */
static void held_drop(struct msgr__session *s, struct nlink *l)
{
	for (struct held *x = s->held; x; x = x->next)
		if (x->from == l)
			x->from = NULL;
}

static void held_release(struct msgr__session *s)
{
	struct held *x;

	s->busy++;
	while ((x = s->held)) {
		int big = x->kind == HELD_FRAME && x->h.type == MSGR__F_MSG;
		s->held = x->next;
		if (x->kind == HELD_FRAME)
			s->held_bytes -= x->h.len;
		if (!x->from || x->from->state == L_CLOSING)
			big = 0; /* dropped with its link's fault: free it here */
		else if (x->kind == HELD_BAD_CRC)
			msgr__channel_bad_crc(s, x->h.channel);
		else if (x->kind == HELD_OVERSIZED)
			msgr__channel_oversized(s, x->h.channel);
		else if (msgr__channel_on_frame(s, &x->h, x->payload, big ? x->payload : NULL) < 0)
			link_close(x->from, -EPROTO, "malformed channel frame");
		if (!big)
			free(x->payload);
		free(x);
	}
	s->busy--;
	session_maybe_free(s);
}

/* The drained link's last frame is in (or it died): what the peer sent on
 * the surviving link after it may now be taken in, in order. */
static void drain_done(struct msgr__session *s)
{
	s->drain = NULL;
	held_release(s);
}

/* We send our CLOSE on l as our last frame there, and keep reading it until
 * the peer's CLOSE says it has sent its last one too. */
static void link_drain(struct nlink *l, const char *reason)
{
	link_put_reason(l, MSGR__F_CLOSE, reason);
	l->sent_close = 1;
	l->state = L_DRAINING;
	l->deadline_ns = connect_deadline(l->net);
	link_flush(l);
}

/* The transport is done with the link. If it carried the session's frames,
 * that is a link fault: lossy channels reset (unless the link was handed
 * over in order, by a CLOSE exchange). A session with no link left goes. */
static void link_gone(struct nlink *l, int err)
{
	struct msgr__net *n = l->net;
	struct msgr__session *s = l->s;

	msgr__list_unlink(&n->links, l);
	if (s) {
		if (l->up_ns && err && !l->drained)
			lost_record(n, s->peer, l->id);
		s->busy++; /* everything below may empty it: free it once, at the end */
		if (l->outbound && !l->up_ns)
			s->dialing = 0;
		s->nlinks--;
		held_drop(s, l);
		if (s->drain == l) {
			/* it died before the peer's CLOSE (which ends a drain):
			 * frames the peer sent on it are lost, so its channels
			 * end, on both sides (the peer may not have seen it die);
			 * session_down ends the drain and takes in what was held */
			session_down(s, err ? err : -ECONNRESET, 1);
		}
		if (s->active == l) {
			/* the transport saw it fail before we closed it */
			active_lost(s, l, err ? err : -ECONNRESET);
		} else if (!s->nlinks) {
			if (!l->up_ns && err)
				snprintf(s->last_error, sizeof(s->last_error), "%s", strerror(-err));
			session_down(s, err ? err : -ECONNRESET, 0);
		}
		s->busy--;
		session_maybe_free(s);
	}
	free(l->out.p);
	free(l->big);
	free(l->rbuf);
	msgr__seal_fini(&l->tx);
	msgr__seal_fini(&l->rx);
	OPENSSL_cleanse(l->dial_key, sizeof(l->dial_key));
	free(l);
	if (!n->links)
		uv_timer_stop(&n->tick);
}

/*
 * A second link of a session came up (docs/PROTOCOL.md, section 3.4). The
 * daemon with the lower listen address decides, so both agree without a
 * rule they could evaluate differently: it keeps the link it already sends
 * on, and drains the other. The higher daemon keeps sending on its own
 * first link until the lower one's CLOSE arrives on it, and only then
 * moves. Neither side ever sends on two links at once, and the lower side
 * takes nothing from the kept link until the drained one is finished, so
 * no frame is lost or overtaken.
 */
static void link_up(struct nlink *l)
{
	struct msgr__session *s = l->s;
	struct nlink *old = s->active;

	l->state = L_UP;
	l->up_ns = msgr__now_ns();
	source_learn(l->net, l->src);
	if (l->outbound)
		s->dialing = 0;
	if (s->peer_nonce && s->peer_nonce != l->peer_nonce) {
		/* a new instance of the peer daemon: nothing of the old one's
		 * channels survives */
		msgr__notice("session %s: the peer daemon restarted", s->peer);
		s->active = NULL; /* its channels end below, not as a fault of its own */
		for (struct nlink *o = s->net->links; o; o = o->next)
			if (o != l && o->s == s && o->state != L_CLOSING)
				link_close(o, -ECONNRESET, "superseded by a new instance of the peer");
		old = NULL;
		session_down(s, -ECONNRESET, 0);
	}
	s->peer_nonce = l->peer_nonce;
	if (!old) {
		activate(s, l);
		return;
	}
	if (old->outbound == l->outbound || (l->peer_lost && l->peer_lost == old->id)) {
		/* A daemon dials only without a link: the dialler has lost the
		 * old one, though we have not noticed yet (same direction, or
		 * its HELLO names the old link as lost), and has ended its
		 * channels. Ours end too, without telling it: any RESET we sent
		 * now could only hit the channels it is opening anew. */
		s->active = NULL;
		link_close(old, -ECONNRESET, "the peer lost it and dialled again");
		session_down(s, -ECONNRESET, 0);
		activate(s, l);
		return;
	}
	if (s->drain) {
		/* a race is being resolved already: a third link has no place */
		link_close(l, -EBUSY, "a third link while two are being sorted out");
		return;
	}
	s->races++;
	l->net->d->stats.net.races++;
	if (!s->lower) {
		msgr__info("session %s: a second link (race); the peer decides", s->peer);
		return; /* a spare until the peer closes one of the two */
	}
	msgr__info("session %s: a second link (race); keeping the %s one, draining the other",
		   s->peer, old->outbound ? "dialled" : "accepted");
	s->drain = l;
	link_drain(l, "race");
}

/* The peer's CLOSE: its last frame on l. */
static int on_close(struct nlink *l, const char *why)
{
	struct msgr__session *s = l->s;
	struct nlink *spare;

	msgr__info("link %s: the peer closes it: %s", link_name(l), why);
	if (l->state == L_DRAINING) {
		/* our CLOSE went first: the hand-over is complete */
		l->drained = 1;
		if (s && s->drain == l)
			drain_done(s);
		link_close(l, 0, "drained");
		return 1;
	}
	if (l->state == L_UP)
		link_drain(l, "closing"); /* our last frame here, which the peer waits for */
	if (s && s->active == l && other_live(s, l)) {
		/* The peer kept the other link of a race (up here already, or
		 * still in its handshake): frames move there, or wait for it.
		 * Nothing is lost or overtaken: the peer takes nothing from that
		 * link until it has our CLOSE on this one. */
		spare = spare_link(s, l);
		msgr__info("session %s: the peer kept the other link; moving there", s->peer);
		s->active = NULL;
		if (spare)
			activate(s, spare);
	}
	link_close(l, 0, "closed by the peer");
	return 1;
}

static void maybe_up(struct nlink *l)
{
	if (l->sent_done && l->got_done && l->state == L_HANDSHAKE)
		link_up(l);
}

static void auth_fail(struct nlink *l, const char *why)
{
	l->net->d->stats.net.auth_failures++;
	msgr__warn("link %s (%s): authentication failed: %s", link_name(l), l->remote, why);
	link_put_reason(l, MSGR__F_AUTH_FAIL, why);
	link_close(l, 0, "authentication failed"); /* graceful: AUTH_FAIL must get out */
	l->close_err = -EACCES; /* what connects waiting for this session are told */
}

/* A HELLO field out of its range (docs/PROTOCOL.md, section 2). */
static int hello_bad(struct nlink *l, const char *field)
{
	msgr__warn("link %s: HELLO with a bad %s", l->remote, field);
	return -EPROTO;
}

static enum msgr__role my_role(const struct nlink *l)
{
	return l->outbound ? MSGR__ROLE_DIALLER : MSGR__ROLE_ACCEPTOR;
}

/* Key one direction of secure mode from the dialler's proving key. */
static int seal_key(struct nlink *l, struct msgr__seal *dir, enum msgr__role from)
{
	uint8_t k[MSGR__KEY_LEN];
	int err = msgr__auth_derive(l->dial_key, l->h, from, k);

	if (!err)
		err = msgr__seal_init(dir, k, dir == &l->tx);
	OPENSSL_cleanse(k, sizeof(k));
	return err;
}

/* Send our proof; in secure mode everything after it is sealed. key: the
 * dialler's proving key (ours if we dial), which secure mode's keys come
 * from. */
static int send_proof(struct nlink *l, const uint8_t *key)
{
	uint8_t proof[MSGR__PROOF_LEN];

	msgr__auth_proof(l->net->kr.key, my_role(l), l->h, proof);
	link_put(l, MSGR__F_AUTH, proof, sizeof(proof));
	l->sent_auth = 1;
	/* kept with the link: a SIGHUP may change the keyring before the
	 * other direction is keyed from it */
	memcpy(l->dial_key, key, sizeof(l->dial_key));
	if (l->net->d->conf.net.auth_mode == MSGR__AUTH_SECURE)
		return seal_key(l, &l->tx, my_role(l));
	return 0;
}

static int on_hello(struct nlink *l, struct msgr__rd *r)
{
	struct msgr__net *n = l->net;
	struct msgr__daemon *d = n->d;
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	uint8_t my_banner[MSGR__BANNER_LEN], peer_chal[MSGR__CHALLENGE_LEN];
	char listen[MSGR__HOSTPORT_MAX];
	uint64_t link_id, lost;
	unsigned mode;

	if (l->got_hello)
		return -EPROTO;
	if (r->n > sizeof(l->hello_theirs))
		return hello_bad(l, "length");
	memcpy(l->hello_theirs, r->p, r->n);
	l->hello_theirs_len = r->n;
	l->peer_nonce = msgr__rd_uint(r, 8);
	mode = (unsigned)msgr__rd_uint(r, 1);
	l->peer_max_msg = (uint32_t)msgr__rd_uint(r, 4);
	l->peer_window = msgr__rd_uint(r, 8);
	link_id = msgr__rd_uint(r, 8);
	lost = msgr__rd_uint(r, 8);
	msgr__rd_bytes(r, peer_chal, MSGR__CHALLENGE_LEN);
	msgr__rd_str(r, listen, sizeof(listen));
	/* Every field in its range: nothing a peer says may lift our bounds
	 * (the window sizes what we buffer for its channels). */
	if (r->bad || r->n)
		return hello_bad(l, "length");
	if (!l->peer_nonce)
		return hello_bad(l, "nonce (0)");
	if (mode > MSGR__AUTH_SECURE)
		return hello_bad(l, "auth mode");
	if (l->peer_max_msg < MSGR__MAXMSG_MIN || l->peer_max_msg > MSGR__MAXMSG_MAX)
		return hello_bad(l, "max message");
	if (l->peer_window < MSGR__WINDOW_MIN || l->peer_window > MSGR__WINDOW_MAX)
		return hello_bad(l, "channel window");
	if (msgr__hostport_check(listen))
		return hello_bad(l, "listen address");
	/* the dialler names the link; an acceptor names nothing */
	if (l->outbound ? link_id || lost : !link_id)
		return hello_bad(l, "link id");
	if (!l->outbound) {
		l->id = link_id;
		l->peer_lost = lost;
	}
	l->got_hello = 1;
	msgr__banner_encode(my_banner, &mine);
	if (l->outbound)
		msgr__auth_transcript(my_banner, l->dec.their_banner, l->hello_mine, l->hello_mine_len,
				      l->hello_theirs, l->hello_theirs_len, l->h);
	else
		msgr__auth_transcript(l->dec.their_banner, my_banner, l->hello_theirs,
				      l->hello_theirs_len, l->hello_mine, l->hello_mine_len, l->h);
	if (!strcmp(listen, d->conf.net.listen) || l->peer_nonce == n->nonce) {
		auth_fail(l, l->peer_nonce == n->nonce ? "the peer has our own instance nonce"
						       : "the peer has our own listen address");
		return 1;
	}
	if (l->outbound && strcmp(listen, l->peer_listen)) {
		char why[2 * MSGR__HOSTPORT_MAX + 64];
		snprintf(why, sizeof(why), "dialled %s but the daemon there is %s", l->peer_listen,
			 listen);
		auth_fail(l, why);
		return 1;
	}
	snprintf(l->peer_listen, sizeof(l->peer_listen), "%s", listen);
	if (mode != (unsigned)d->conf.net.auth_mode) {
		char why[128];
		snprintf(why, sizeof(why), "the peer runs with auth.mode = %s and we with %s",
			 msgr__auth_mode_name((int)mode), msgr__auth_mode_name(d->conf.net.auth_mode));
		auth_fail(l, why);
		return 1;
	}
	if (!l->s) {
		/* inbound: now we know whose it is */
		struct msgr__session *s = session_find(n, listen);
		if (!s && !(s = session_new(n, listen)))
			return -ENOMEM;
		l->s = s;
		s->nlinks++;
	}
	if (d->conf.net.auth_mode == MSGR__AUTH_NONE) {
		link_put(l, MSGR__F_AUTH_DONE, NULL, 0);
		l->sent_done = 1;
	} else if (l->outbound && send_proof(l, n->kr.key)) {
		return -ENOMEM;
	}
	/* an acceptor proves nothing before the dialler has proven itself
	 * (docs/PROTOCOL.md, section 3): it must not be anybody's oracle */
	maybe_up(l);
	return 0;
}

static int on_auth(struct nlink *l, struct msgr__rd *r)
{
	struct msgr__daemon *d = l->net->d;
	uint8_t proof[MSGR__PROOF_LEN];
	const uint8_t *used;
	enum msgr__role theirs = l->outbound ? MSGR__ROLE_ACCEPTOR : MSGR__ROLE_DIALLER;

	msgr__rd_bytes(r, proof, sizeof(proof));
	if (r->bad || r->n || !l->got_hello || d->conf.net.auth_mode == MSGR__AUTH_NONE)
		return -EPROTO;
	if (l->got_auth || (l->outbound && !l->sent_auth)) {
		auth_fail(l, "the peer sent AUTH out of turn");
		return 1;
	}
	if (msgr__auth_verify(&l->net->kr, theirs, l->h, proof, &used)) {
		auth_fail(l, "the peer's proof does not match our key (a different cluster key, "
			     "or the handshake was changed on the way)");
		return 1;
	}
	l->got_auth = 1;
	if (d->conf.net.auth_mode == MSGR__AUTH_SECURE) {
		/* what follows the peer's proof is sealed; both directions'
		 * keys come from the dialler's key, which only now both know */
		if (!l->outbound)
			memcpy(l->dial_key, used, sizeof(l->dial_key));
		if (seal_key(l, &l->rx, theirs))
			return -ENOMEM;
		l->dec.rx = &l->rx;
	}
	if (l->outbound) {
		/* the acceptor proved itself only after checking our proof:
		 * both sides are sure, and AUTH_DONE says so */
		link_put(l, MSGR__F_AUTH_DONE, NULL, 0);
		l->sent_done = l->got_done = 1;
	} else {
		if (send_proof(l, used))
			return -ENOMEM;
		l->sent_done = 1; /* our AUTH stands for it; the dialler's AUTH_DONE ends it */
	}
	maybe_up(l);
	return 0;
}

static int on_link_frame(struct nlink *l, const struct msgr__frame_hdr *h, struct msgr__rd *r)
{
	struct msgr__daemon *d = l->net->d;
	char why[256];

	/* a link frame names no channel, sequence or ack; and before its
	 * HELLO a peer may say nothing else (docs/PROTOCOL.md, section 3) */
	if (h->channel || h->seq || h->ack || (!l->got_hello && h->type != MSGR__F_HELLO))
		return -EPROTO;
	switch (h->type) {
	case MSGR__F_HELLO:
		return on_hello(l, r);
	case MSGR__F_AUTH:
		return on_auth(l, r);
	case MSGR__F_AUTH_DONE:
		if (r->n || !l->got_hello || l->got_done)
			return -EPROTO;
		if (d->conf.net.auth_mode != MSGR__AUTH_NONE && (l->outbound || !l->got_auth)) {
			/* only a dialler sends it, after its AUTH and ours */
			auth_fail(l, "the peer sent AUTH_DONE without proving itself (no AUTH)");
			return 1;
		}
		l->got_done = 1;
		maybe_up(l);
		return 0;
	case MSGR__F_AUTH_FAIL:
		msgr__rd_str(r, why, sizeof(why));
		d->stats.net.auth_failures++;
		msgr__warn("link %s (%s): the peer refused us: %s", link_name(l), l->remote,
			   r->bad ? "(no reason given)" : why);
		link_close(l, -EACCES, "refused by the peer");
		return 1;
	case MSGR__F_CLOSE:
		msgr__rd_str(r, why, sizeof(why));
		return on_close(l, r->bad ? "?" : why);
	case MSGR__F_KEEPALIVE: {
		uint64_t now = msgr__now_ns();
		if (r->n != 8)
			return -EPROTO;
		/* Answered only on an up link, and at most every 10 ms: a peer
		 * must not make us write more than it does (an honest one sends
		 * one per keepalive_interval). */
		if (l->state == L_UP && now - l->last_ka_ack_ns >= KA_ANSWER_NS) {
			l->last_ka_ack_ns = now;
			link_put(l, MSGR__F_KEEPALIVE_ACK, r->p, 8);
		}
		return 0;
	}
	case MSGR__F_KEEPALIVE_ACK: {
		uint64_t t = msgr__rd_uint(r, 8), now = msgr__now_ns();
		if (r->bad || r->n)
			return -EPROTO;
		if (t <= now)
			l->rtt_ns = now - t;
		return 0;
	}
	}
	return -EPROTO;
}

/* ---- decoder callbacks ---- */

static void *get_buf(void *owner, const struct msgr__frame_hdr *h)
{
	struct nlink *l = owner;

	if (h->type != MSGR__F_MSG)
		return h->len <= SMALL_LEN ? l->small : NULL;
	if (l->state != L_UP && l->state != L_DRAINING)
		return NULL; /* no memory for a peer that has not authenticated */
	free(l->big);
	l->big = malloc(h->len);
	return l->big;
}

static int on_frame(void *owner, const struct msgr__frame_hdr *h, void *payload, int payload_ok)
{
	struct nlink *l = owner;
	struct msgr__daemon *d = l->net->d;
	struct msgr__rd r = { payload, h->len, 0 };
	int rc;

	if (l->state == L_CLOSING)
		return 1;
	l->frames_in++;
	if (!payload_ok) {
		d->stats.net.bad_payload_crc++;
		if ((l->state == L_UP || l->state == L_DRAINING) && h->channel) {
			/* the channel's problem only: the link's framing is intact;
			 * in its turn, if the link's frames are being held */
			free(l->big);
			l->big = NULL;
			if (held_back(l)) {
				if (held_add(l->s, l, HELD_BAD_CRC, h, NULL, NULL)) {
					link_close(l, -ENOMEM, "out of memory");
					return 1;
				}
			} else {
				msgr__channel_bad_crc(l->s, h->channel);
			}
			return 0;
		}
		link_close(l, -EBADMSG, "payload CRC mismatch in a link frame");
		return 1;
	}
	if (h->type < MSGR__F_OPEN || h->type >= MSGR__F_KEEPALIVE) {
		rc = on_link_frame(l, h, &r);
	} else if (l->state != L_UP && l->state != L_DRAINING) {
		rc = -EPROTO;
	} else if (!h->channel) {
		rc = -EPROTO;
	} else if (held_back(l)) {
		/* the peer's earlier frames are still coming on the drained link */
		rc = held_add(l->s, l, HELD_FRAME, h, payload, h->type == MSGR__F_MSG ? l->big : NULL);
		l->big = NULL;
	} else {
		void *big = h->type == MSGR__F_MSG ? l->big : NULL;
		l->big = NULL;
		rc = msgr__channel_on_frame(l->s, h, payload, big);
	}
	if (rc < 0) {
		char why[96];
		d->stats.net.protocol_errors++;
		if (rc == -ENOBUFS || rc == -ENOMEM)
			snprintf(why, sizeof(why), "more sent during a hand-over than we hold");
		else
			snprintf(why, sizeof(why), "unexpected or malformed frame (type %u, channel %u)",
				 h->type, h->channel);
		link_close(l, rc, why);
		return 1;
	}
	return l->state == L_CLOSING;
}


/* A MSG over our max_message: the decoder skips it; its channel ends. */
static int on_skip(void *owner, const struct msgr__frame_hdr *h)
{
	struct nlink *l = owner;

	l->net->d->stats.net.oversized++;
	if ((l->state != L_UP && l->state != L_DRAINING) || !h->channel) {
		link_close(l, -EPROTO, "oversized MSG before the session");
		return 1;
	}
	if (held_back(l)) {
		if (held_add(l->s, l, HELD_OVERSIZED, h, NULL, NULL)) {
			link_close(l, -ENOMEM, "out of memory");
			return 1;
		}
		return 0;
	}
	msgr__channel_oversized(l->s, h->channel);
	return l->state == L_CLOSING;
}

/* ---- transport callbacks ---- */

static void ev_accepted(void *core, struct msgr__tconn *tl)
{
	struct msgr__net *n = core;
	struct nlink *l;
	char remote[MSGR__HOSTPORT_MAX], src[MSGR__HOSTPORT_MAX];
	int pending = 0, from_src = 0;

	n->d->stats.net.links_accepted++;
	/* Before AUTH a link is anybody's: each costs buffers until its
	 * handshake deadline, so only so many may wait at once, and fewer
	 * from any one source, so one flooding host cannot keep every real
	 * daemon out. */
	if (n->ops->addr(tl, 1, remote, sizeof(remote))) {
		/* reset while it waited to be accepted: nobody to talk to */
		tl->ctx = NULL;
		n->ops->close(tl, -ENOTCONN);
		return;
	}
	msgr__source_key(remote, src);
	for (struct nlink *o = n->links; o; o = o->next)
		if (!o->outbound && o->state == L_HANDSHAKE) {
			pending++;
			from_src += !strcmp(o->src, src);
		}
	/* a source that authenticated lately is exempt from the total: the
	 * strangers holding every slot must not keep a real peer out */
	if ((pending >= MAX_HANDSHAKES && !source_known(n, src)) || from_src >= MAX_HANDSHAKES_SRC) {
		n->d->stats.net.links_refused++;
		tl->ctx = NULL;
		n->ops->close(tl, -EBUSY);
		return;
	}
	l = link_new(n, tl, 0);
	if (!l) {
		tl->ctx = NULL;
		n->ops->close(tl, -ENOMEM);
		return;
	}
	snprintf(l->remote, sizeof(l->remote), "%s", remote);
	snprintf(l->src, sizeof(l->src), "%s", src);
	/* anybody's until AUTH: a shorter leash than our own dials get */
	l->deadline_ns = msgr__now_ns() + n->d->conf.net.handshake_timeout_ms * 1000000ull;
	msgr__debug("link from %s accepted", l->remote);
	link_start(l);
}

static void ev_connected(void *core, struct msgr__tconn *tl, int err)
{
	struct nlink *l = tl->ctx;

	if (err) {
		l->net->d->stats.net.dial_failures++;
		msgr__info("link %s: connect: %s", l->peer_listen, strerror(-err));
		if (l->s)
			snprintf(l->s->last_error, sizeof(l->s->last_error), "connect: %s", strerror(-err));
		l->state = L_CLOSING; /* closed() follows */
		l->close_err = err;
		return;
	}
	l->net->ops->addr(tl, 1, l->remote, sizeof(l->remote));
	msgr__source_key(l->remote, l->src);
	link_start(l);
}

static void ev_received(void *core, struct msgr__tconn *tl, void *buf, size_t len)
{
	struct nlink *l = tl->ctx;
	struct msgr__net *n = l->net;
	struct msgr__daemon *d = n->d;

	l->last_rx_ns = msgr__now_ns();
	l->bytes_in += len;
	if (l->state == L_CLOSING)
		return;
	if (msgr__frame_dec_feed(&l->dec, buf, len) < 0 && l->state != L_CLOSING) {
		switch (l->dec.err) {
		case MSGR__DEC_BAD_BANNER: d->stats.net.bad_banner++; break;
		case MSGR__DEC_NO_VERSION: d->stats.net.no_version++; break;
		case MSGR__DEC_BAD_HEADER_CRC: d->stats.net.bad_header_crc++; break;
		case MSGR__DEC_BAD_TYPE: d->stats.net.bad_type++; break;
		case MSGR__DEC_OVERSIZED: d->stats.net.oversized++; break;
		case MSGR__DEC_BAD_TAG: d->stats.net.bad_tag++; break;
		default: d->stats.net.protocol_errors++; break;
		}
		msgr__warn("link %s (%s): %s", link_name(l), l->remote, msgr__dec_err_name(l->dec.err));
		link_close(l, -EPROTO, msgr__dec_err_name(l->dec.err));
	}
	if (l->state != L_CLOSING && n->ops->post_recv(tl, l->rbuf, RBUF_LEN))
		link_close(l, -ENOMEM, "cannot post a receive buffer");
	msgr__net_flush(d);
}

static void ev_sent(void *core, struct msgr__tconn *tl, void *cookie, int err)
{
	struct nlink *l = tl->ctx;

	if (l)
		l->out_since_ns = msgr__now_ns(); /* the queue moved */
	free(cookie);
}

static void ev_closed(void *core, struct msgr__tconn *tl, int err)
{
	struct nlink *l = tl->ctx;

	if (!l)
		return;
	if (l->state != L_CLOSING && err) {
		/* the transport saw it first: reset, EOF, ... */
		l->net->d->stats.net.link_errors++;
		msgr__info("link %s (%s): %s", link_name(l), l->remote, strerror(-err));
	}
	if (l->s && l->s->active == l)
		snprintf(l->s->last_error, sizeof(l->s->last_error), "%s",
			 strerror(-(l->close_err ? l->close_err : err ? err : -ENOTCONN)));
	link_gone(l, l->close_err ? l->close_err : err);
}

static const struct msgr__transport_events events = {
	ev_accepted, ev_connected, ev_received, ev_sent, ev_closed,
};

static int dial(struct msgr__session *s)
{
	struct msgr__net *n = s->net;
	struct msgr__tconn *tl;
	struct nlink *l;
	int err = n->ops->dial(n->t, s->peer, &tl);

	if (err)
		return err;
	n->d->stats.net.links_dialled++;
	l = link_new(n, tl, 1);
	if (!l) {
		n->ops->close(tl, -ENOMEM);
		return -ENOMEM;
	}
	snprintf(l->peer_listen, sizeof(l->peer_listen), "%s", s->peer);
	while (!l->id && getrandom(&l->id, sizeof(l->id), 0) == sizeof(l->id))
		; /* a nonzero name for the link, which its HELLO carries */
	if (!l->id)
		l->id = msgr__now_ns(); /* getrandom failed: unique enough */
	l->s = s;
	s->nlinks++;
	s->dialing = 1;
	return 0;
}

/* ---- the clock: handshake deadlines and keepalives ---- */

/* Channels we opened that the peer never answered (it is up but silent
 * about them, or the link they went on vanished in a hand-over) fail
 * rather than wait forever. Checked once a second. */
static void open_deadlines(struct msgr__net *n, uint64_t now, uint64_t timeout)
{
	for (struct msgr__session *s = n->sessions, *snext; s; s = snext) {
		snext = s->next;
		s->busy++;
		for (int b = 0; b < CHAN_BUCKETS; b++)
			for (struct msgr__channel *ch = s->chans[b], *cnext; ch; ch = cnext) {
				cnext = ch->hnext;
				if (ch->opener && !ch->open && now - ch->created_ns >= timeout)
					msgr__channel_open_timeout(ch);
			}
		s->busy--;
		session_maybe_free(s);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct msgr__net *n = t->data;
	struct msgr__conf *conf = &n->d->conf;
	uint64_t now = msgr__now_ns();
	struct nlink *l, *next;

	for (l = n->links; l; l = next) {
		next = l->next;
		if (l->state == L_CLOSING) {
			if (now >= l->deadline_ns) {
				/* a graceful close the peer never let finish */
				l->deadline_ns = UINT64_MAX;
				n->ops->close(l->tl, -ETIMEDOUT);
			}
			continue;
		}
		if (l->state != L_UP) {
			if (now < l->deadline_ns)
				continue;
			if (l->state == L_DRAINING) {
				link_close(l, -ETIMEDOUT, "the peer did not finish the hand-over");
			} else {
				n->d->stats.net.handshake_timeouts++;
				link_close(l, -ETIMEDOUT, l->outbound ? "no session within net.connect_timeout"
								     : "no session within net.handshake_timeout");
			}
			continue;
		}
		if (now - l->last_rx_ns >= conf->net.keepalive_timeout_ms * 1000000ull) {
			n->d->stats.net.keepalive_timeouts++;
			msgr__notice("link %s: nothing heard for %llu ms (net.keepalive_timeout)",
				     link_name(l), (unsigned long long)(now - l->last_rx_ns) / 1000000);
			link_close(l, -ETIMEDOUT, "keepalive timeout");
			continue;
		}
		size_t queued = n->ops->send_queued(l->tl);
		if (queued < l->out_queued)
			l->out_since_ns = now; /* draining, however slowly */
		l->out_queued = queued;
		if (queued && now - l->out_since_ns >= conf->net.keepalive_timeout_ms * 1000000ull) {
			/* it talks but does not read: what we queue for it would
			 * only grow */
			n->d->stats.net.keepalive_timeouts++;
			link_close(l, -ETIMEDOUT, "the peer has not read for net.keepalive_timeout");
			continue;
		}
		if (now - l->last_ka_ns >= conf->net.keepalive_interval_ms * 1000000ull) {
			uint8_t ts[8];
			msgr__put_uint(ts, now, 8);
			link_put(l, MSGR__F_KEEPALIVE, ts, 8);
			l->last_ka_ns = now;
		}
	}
	if (++n->ticks % (1000 / TICK_MS) == 0)
		open_deadlines(n, now, conf->net.connect_timeout_ms * 1000000ull);
	msgr__net_flush(n->d);
}

void msgr__net_flush(struct msgr__daemon *d)
{
	struct msgr__net *n = d->net;
	struct nlink *l, *next;

	if (!n)
		return;
	for (struct msgr__session *s = n->sessions; s; s = s->next)
		if (s->nack && s->active)
			session_flush_acks(s);
	for (l = n->links; l; l = next) {
		next = l->next;
		if (l->fail_err && l->state != L_CLOSING)
			link_close(l, l->fail_err, l->fail_why);
		else
			link_flush(l);
	}
}

/* ---- start, stop, inspection ---- */

static void on_tick_closed(uv_handle_t *h)
{
	free(h->data); /* the net the timer is part of */
}

int msgr__net_start(struct msgr__daemon *d, const struct msgr__transport_ops *ops, char *err,
		    size_t errlen)
{
	struct msgr__net *n = calloc(1, sizeof(*n));
	int rc;

	if (!n || !(n->rx_total = msgr__rxacct_total_new())) {
		free(n);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->d = d;
	n->ops = ops;
	n->tname = ops->name;
	if (d->conf.net.auth_mode != MSGR__AUTH_NONE) {
		rc = msgr__keyring_load(d->conf.net.keyring, &n->kr, err, errlen);
		if (rc)
			goto fail;
	} else {
		msgr__warn("auth.mode = none: any host that reaches %s gets a session", d->conf.net.listen);
	}
	if (getrandom(&n->nonce, sizeof(n->nonce), 0) != sizeof(n->nonce)) {
		rc = -errno;
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	uv_timer_init(d->loop, &n->tick);
	n->tick.data = n;
	if (d->conf.inject) {
		/* every link through the interceptor, so net.inject_* and
		 * `inject kill-link` act at the transport boundary; it reads
		 * the live configuration itself */
		n->ops = &msgr__fault_ops;
		rc = msgr__fault_init(&n->t, ops, &d->conf.net.fault, &d->stats.net.injected_failures,
				      d->loop, &events, n, err, errlen);
	} else {
		rc = n->ops->init(&n->t, d->loop, &events, n, err, errlen);
	}
	if (rc)
		goto fail_timer;
	rc = n->ops->listen(n->t, d->conf.net.listen);
	if (rc) {
		snprintf(err, errlen, "listen on %s (global.listen): %s", d->conf.net.listen, strerror(-rc));
		n->ops->fini(n->t);
		goto fail_timer;
	}
	d->net = n;
	return 0;
fail_timer:
	uv_close((uv_handle_t *)&n->tick, on_tick_closed);
	msgr__keyring_wipe(&n->kr);
	msgr__rxacct_release(n->rx_total, 0);
	return rc;
fail:
	msgr__keyring_wipe(&n->kr);
	msgr__rxacct_release(n->rx_total, 0);
	free(n);
	return rc;
}

int msgr__net_reload_keyring(struct msgr__daemon *d, char *err, size_t errlen)
{
	struct msgr__net *n = d->net;
	struct msgr__keyring kr;
	int rc;

	if (!n || d->conf.net.auth_mode == MSGR__AUTH_NONE)
		return 0;
	rc = msgr__keyring_load(d->conf.net.keyring, &kr, err, errlen);
	if (rc)
		return rc;
	if (memcmp(&kr, &n->kr, sizeof(kr)))
		msgr__notice("reload: auth.keyring %s: new keys (%s next_key)", d->conf.net.keyring,
			     kr.has_next ? "with a" : "no");
	msgr__keyring_wipe(&n->kr);
	n->kr = kr;
	msgr__keyring_wipe(&kr);
	return 0;
}

void msgr__net_stop(struct msgr__daemon *d)
{
	struct msgr__net *n = d->net;

	uint64_t until = msgr__now_ns() + 1000000000ull;

	if (!n)
		return;
	/* Tell each peer, so it resets our channels now rather than at its
	 * keepalive timeout; give the CLOSEs a second to leave. */
	for (struct nlink *l = n->links; l; l = l->next)
		if (l->state != L_CLOSING && l->state != L_CONNECTING) {
			link_put_reason(l, MSGR__F_CLOSE, "shutting down");
			link_close(l, 0, "shutting down");
		}
	while (n->links && msgr__now_ns() < until)
		uv_run(d->loop, UV_RUN_ONCE);
	n->ops->fini(n->t);
	while (n->links)
		uv_run(d->loop, UV_RUN_ONCE);
	msgr__keyring_wipe(&n->kr);
	msgr__rxacct_release(n->rx_total, 0); /* outlives us while messages wait */
	d->net = NULL;
	uv_close((uv_handle_t *)&n->tick, on_tick_closed);
}

struct msgr__tconn *msgr__net_active_link(struct msgr__daemon *d, const char *peer)
{
	struct msgr__session *s = d->net ? session_find(d->net, peer) : NULL;

	return s && s->active ? s->active->tl : NULL;
}

const char *msgr__net_transport(struct msgr__daemon *d)
{
	return d->net ? d->net->tname : "none";
}

static const char *state_name(enum lstate st)
{
	static const char *const names[] = { "connecting", "handshake", "up", "draining", "closing" };
	return names[st];
}

struct json_object *msgr__net_sessions_json(struct msgr__daemon *d)
{
	struct json_object *arr = json_object_new_array();
	struct msgr__net *n = d->net;
	uint64_t now = msgr__now_ns();

	if (!n)
		return arr;
	for (struct msgr__session *s = n->sessions; s; s = s->next) {
		struct json_object *o = json_object_new_object(), *links = json_object_new_array();
		json_object_object_add(o, "peer", json_object_new_string(s->peer));
		json_object_object_add(o, "state", json_object_new_string(
			s->active ? "up" : s->nlinks ? "connecting" : "down"));
		json_object_object_add(o, "channels", json_object_new_int64(s->nchans));
		json_object_object_add(o, "waiting_bytes", json_object_new_int64((int64_t)s->rx->bytes));
		json_object_object_add(o, "links_up", json_object_new_int64((int64_t)s->links_up));
		json_object_object_add(o, "races", json_object_new_int64((int64_t)s->races));
		json_object_object_add(o, "age_s", json_object_new_double((now - s->created_ns) / 1e9));
		json_object_object_add(o, "last_error", json_object_new_string(s->last_error));
		for (struct nlink *l = n->links; l; l = l->next) {
			struct json_object *lo;
			if (l->s != s)
				continue;
			lo = json_object_new_object();
			json_object_object_add(lo, "transport", json_object_new_string(n->tname));
			json_object_object_add(lo, "inject",
					       json_object_new_boolean(n->ops == &msgr__fault_ops));
			json_object_object_add(lo, "direction",
					       json_object_new_string(l->outbound ? "out" : "in"));
			json_object_object_add(lo, "state", json_object_new_string(state_name(l->state)));
			json_object_object_add(lo, "active", json_object_new_boolean(s->active == l));
			json_object_object_add(lo, "remote", json_object_new_string(l->remote));
			json_object_object_add(lo, "bytes_out", json_object_new_int64((int64_t)l->bytes_out));
			json_object_object_add(lo, "bytes_in", json_object_new_int64((int64_t)l->bytes_in));
			json_object_object_add(lo, "frames_out", json_object_new_int64((int64_t)l->frames_out));
			json_object_object_add(lo, "frames_in", json_object_new_int64((int64_t)l->frames_in));
			json_object_object_add(lo, "rtt_us", json_object_new_double(l->rtt_ns / 1e3));
			json_object_array_add(links, lo);
		}
		json_object_object_add(o, "links", links);
		json_object_array_add(arr, o);
	}
	return arr;
}
