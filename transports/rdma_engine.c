/*
 * rdma_engine.c - the RDMA transport's protocol engine (rdma_engine.h): the
 * hello, the per-SEND header, credits, and a link's buffers and work
 * requests. Pure: every verb goes through the shim's ops table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/rdma_engine.h"

static const uint8_t hello_magic[4] = { 'M', 'R', 'd', 'm' };

#define CTRL_DEPTH_MAX 64   /* what a hello may ask for as K */
#define SEND_SLOTS_MAX 1024

/* Our own little-endian helpers: the transports layer sits below
 * daemon/frame.c, whose helpers it may not call. */
static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Every refusal is -EPROTO with one line; err may be NULL or 0 long. */
__attribute__((format(printf, 3, 4))) static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* ---- the hello ---- */

int msgr__rdma_hello_encode(const struct msgr__rdma_hello *h, uint8_t *buf, size_t cap)
{
	if (cap < MSGR__RDMA_HELLO_LEN)
		return -ENOSPC;
	memcpy(buf, hello_magic, 4);
	buf[4] = h->version;
	buf[5] = MSGR__RDMA_HELLO_LEN;
	put_le(buf + 6, h->ctrl_depth, 2);
	put_le(buf + 8, h->recv_depth, 4);
	put_le(buf + 12, h->recv_size, 4);
	return MSGR__RDMA_HELLO_LEN;
}

/* Checked from the front, so the first thing wrong is the one named: a
 * peer of another protocol fails on the magic, not on some depth. */
int msgr__rdma_hello_decode(struct msgr__rdma_hello *h, const uint8_t *buf, size_t len, char *err,
			    size_t errlen)
{
	struct msgr__rdma_hello v;
	unsigned hlen;

	if (len < MSGR__RDMA_HELLO_LEN)
		return refuse(err, errlen, "rdma hello: short: %zu bytes, need %d", len,
			      MSGR__RDMA_HELLO_LEN);
	if (memcmp(buf, hello_magic, 4) != 0)
		return refuse(err, errlen, "rdma hello: bad magic %02x%02x%02x%02x (want \"MRdm\")",
			      buf[0], buf[1], buf[2], buf[3]);
	v.version = buf[4];
	if (v.version != MSGR__RDMA_HELLO_VERSION)
		return refuse(err, errlen, "rdma hello: unknown version %u (we speak %d)", v.version,
			      MSGR__RDMA_HELLO_VERSION);
	hlen = buf[5];
	if (hlen < MSGR__RDMA_HELLO_LEN)
		return refuse(err, errlen, "rdma hello: length %u is short of %d", hlen,
			      MSGR__RDMA_HELLO_LEN);
	if (hlen > len)
		return refuse(err, errlen, "rdma hello: length %u is past the %zu bytes received", hlen,
			      len);
	/* Bytes from 16 to hlen are a later revision's; past hlen, padding. */
	v.ctrl_depth = (uint16_t)get_le(buf + 6, 2);
	v.recv_depth = (uint32_t)get_le(buf + 8, 4);
	v.recv_size = (uint32_t)get_le(buf + 12, 4);
	if (v.ctrl_depth < 1 || v.ctrl_depth > CTRL_DEPTH_MAX)
		return refuse(err, errlen, "rdma hello: ctrl_depth %u is out of range 1..%d",
			      v.ctrl_depth, CTRL_DEPTH_MAX);
	if (v.recv_depth < 1 || v.recv_depth > MSGR__RDMA_DEPTH_MAX)
		return refuse(err, errlen, "rdma hello: recv_depth %u is out of range 1..%d",
			      v.recv_depth, MSGR__RDMA_DEPTH_MAX);
	if (v.recv_size < MSGR__RDMA_SIZE_MIN || v.recv_size > MSGR__RDMA_SIZE_MAX)
		return refuse(err, errlen, "rdma hello: recv_size %u is out of range %d..%u",
			      v.recv_size, MSGR__RDMA_SIZE_MIN, MSGR__RDMA_SIZE_MAX);
	*h = v;
	return 0;
}

/* ---- the per-SEND header ---- */

void msgr__rdma_hdr_encode(const struct msgr__rdma_hdr *h, uint8_t out[MSGR__RDMA_HDR_LEN])
{
	out[0] = h->type;
	out[1] = 0;
	put_le(out + 2, h->data_ret, 2);
	put_le(out + 4, h->ctrl_ret, 2);
	put_le(out + 6, 0, 2);
}

int msgr__rdma_hdr_decode(struct msgr__rdma_hdr *h, const uint8_t *p, size_t len, char *err,
			  size_t errlen)
{
	if (len < MSGR__RDMA_HDR_LEN)
		return refuse(err, errlen, "rdma header: short: %zu bytes, need %d", len,
			      MSGR__RDMA_HDR_LEN);
	if (p[0] != MSGR__RDMA_DATA && p[0] != MSGR__RDMA_CREDIT)
		return refuse(err, errlen, "rdma header: unknown type %u", p[0]);
	if (p[1] != 0 || p[6] != 0 || p[7] != 0)
		return refuse(err, errlen, "rdma header: nonzero reserved bytes");
	if (p[0] == MSGR__RDMA_DATA && len == MSGR__RDMA_HDR_LEN)
		return refuse(err, errlen, "rdma header: DATA without payload");
	if (p[0] == MSGR__RDMA_CREDIT && len != MSGR__RDMA_HDR_LEN)
		return refuse(err, errlen, "rdma header: CREDIT with %zu bytes of payload",
			      len - MSGR__RDMA_HDR_LEN);
	h->type = p[0];
	h->data_ret = (uint16_t)get_le(p + 2, 2);
	h->ctrl_ret = (uint16_t)get_le(p + 4, 2);
	return 0;
}

/* ---- credits ---- */

void msgr__rdma_cr_init(struct msgr__rdma_credits *c, uint32_t my_data, uint32_t my_ctrl,
			uint32_t peer_data, uint32_t peer_ctrl)
{
	memset(c, 0, sizeof(*c));
	c->my_data = my_data;
	c->my_ctrl = my_ctrl;
	c->peer_data = peer_data;
	c->peer_ctrl = peer_ctrl;
	c->tx_data = peer_data;
	c->tx_ctrl = peer_ctrl;
	c->thresh = my_data / 2 + 1;
}

int msgr__rdma_cr_can_send(const struct msgr__rdma_credits *c, enum msgr__rdma_type t)
{
	if (t == MSGR__RDMA_DATA)
		return c->tx_data > 0;
	if (t == MSGR__RDMA_CREDIT)
		return c->tx_ctrl > 0;
	return 0;
}

int msgr__rdma_cr_want_credit(const struct msgr__rdma_credits *c)
{
	return (c->owe_data >= c->thresh || c->owe_ctrl >= c->my_ctrl) && c->tx_ctrl > 0;
}

void msgr__rdma_cr_take(struct msgr__rdma_credits *c, enum msgr__rdma_type t, struct msgr__rdma_hdr *h)
{
	/* The caller checked can_send; the guards keep a caller's slip from
	 * wrapping a count rather than stand in for the check. */
	if (t == MSGR__RDMA_DATA && c->tx_data)
		c->tx_data--;
	else if (t == MSGR__RDMA_CREDIT && c->tx_ctrl)
		c->tx_ctrl--;
	h->type = (uint8_t)t;
	h->data_ret = (uint16_t)c->owe_data;
	h->ctrl_ret = (uint16_t)c->owe_ctrl;
	c->held_data -= c->owe_data;
	c->held_ctrl -= c->owe_ctrl;
	c->owe_data = 0;
	c->owe_ctrl = 0;
}

int msgr__rdma_cr_on_recv(struct msgr__rdma_credits *c, const struct msgr__rdma_hdr *h, char *err,
			  size_t errlen)
{
	/* Everything is checked before anything changes, so a refused
	 * header leaves the counts as they were. */
	if (h->type == MSGR__RDMA_DATA) {
		if (c->held_data >= c->my_data)
			return refuse(err, errlen,
				      "rdma credits: the peer overran our %u data receives", c->my_data);
	} else if (h->type == MSGR__RDMA_CREDIT) {
		if (c->held_ctrl >= c->my_ctrl)
			return refuse(err, errlen,
				      "rdma credits: the peer overran our %u control receives",
				      c->my_ctrl);
	} else {
		return refuse(err, errlen, "rdma credits: unknown type %u", h->type);
	}
	if (h->data_ret > c->peer_data - c->tx_data)
		return refuse(err, errlen,
			      "rdma credits: the peer returned credits it never used: %u data, %u outstanding",
			      h->data_ret, c->peer_data - c->tx_data);
	if (h->ctrl_ret > c->peer_ctrl - c->tx_ctrl)
		return refuse(err, errlen,
			      "rdma credits: the peer returned credits it never used: %u control, %u outstanding",
			      h->ctrl_ret, c->peer_ctrl - c->tx_ctrl);
	if (h->type == MSGR__RDMA_DATA)
		c->held_data++;
	else
		c->held_ctrl++;
	c->tx_data += h->data_ret;
	c->tx_ctrl += h->ctrl_ret;
	return 0;
}

void msgr__rdma_cr_reposted(struct msgr__rdma_credits *c, enum msgr__rdma_type t)
{
	/* Only a receive we hold can be reposted; the guard keeps an engine
	 * slip from returning credits the peer never spent (which the peer
	 * would rightly refuse). */
	if (t == MSGR__RDMA_DATA && c->owe_data < c->held_data)
		c->owe_data++;
	else if (t == MSGR__RDMA_CREDIT && c->owe_ctrl < c->held_ctrl)
		c->owe_ctrl++;
}

/* ---- a link ---- */

/* wr_id: the kind in bit 32, the buffer's index below it. The kind is
 * checked against the completion's opcode and the index against the
 * buffer count before either is used: a completion is the device's (or
 * a shim's) word, and a wrong one must not index past an array. */
#define WR_SEND (1ull << 32)
#define WR_IDX_MASK 0xffffffffull

enum rstate {
	R_IDLE = 0, /* not posted: before post_receives, or flushed */
	R_POSTED,   /* posted: the device may write it */
	R_PARKED,   /* a SEND arrived before start(): its header waits for credits */
	R_FULL,     /* DATA payload the core has not read yet */
};

/* One receive buffer's bookkeeping. */
struct rslot {
	uint8_t state;  /* enum rstate */
	uint32_t len;   /* bytes that arrived, header included */
	uint32_t off;   /* next byte for read(), from the buffer's start */
	uint32_t next;  /* the next in the read FIFO (R_FULL), or in the parked list */
};

/* One send slot's bookkeeping. */
struct sslot {
	uint8_t busy;   /* posted, completion not yet polled */
	uint8_t done;   /* its completion came back OK (and it waits for older ones) */
	uint64_t end;   /* stream offset just past its last payload byte (a CREDIT:
			   that of the DATA before it) */
};

/* A send the core queued. Owned by the link from send() to its sent();
 * iov is a copy, the bytes it points at are the core's (borrowed). */
struct qsend {
	struct qsend *next;
	void *cookie;
	uint64_t end;   /* stream offset just past its last byte */
	int n;          /* iov entries */
	struct iovec iov[];
};

#define NO_SLOT UINT32_MAX

/* Owned by the caller of msgr__rdma_link_new until msgr__rdma_link_free.
 * It owns rbuf/sbuf and their registrations and the qsend list; it
 * borrows ops, s and qp (the shim's, outliving the link) and the bytes of
 * each queued send. */
struct msgr__rdma_link {
	const struct msgr__rshim_ops *ops; /* borrowed, static */
	struct msgr__rshim *s;             /* borrowed */
	struct msgr__rshim_qp *qp;         /* borrowed */
	struct msgr__rdma_link_conf conf;  /* copied at new */
	struct msgr__rdma_link_cb cb;      /* copied at new */
	void *ctx;                         /* the owner's, passed back */

	uint32_t nrecv;                    /* W + K */
	uint8_t *rbuf;                     /* nrecv * recv_size bytes, owned */
	struct msgr__rshim_mr *rmr;        /* rbuf's registration */
	struct rslot *rs;                  /* nrecv entries */
	uint32_t rposted;                  /* receives posted, completion not yet polled */
	uint32_t rd_head, rd_tail;         /* FIFO of R_FULL receives, in arrival order */
	uint32_t park_head, park_tail;     /* receives that arrived before start() */
	size_t rd_bytes;                   /* payload bytes waiting for read() */

	uint8_t *sbuf;                     /* send_slots * recv_size bytes, owned */
	struct msgr__rshim_mr *smr;        /* sbuf's registration */
	struct sslot *ss;                  /* send_slots entries */
	uint32_t *sfree;                   /* stack of free slot indices */
	uint32_t nfree;
	uint32_t *sorder;                  /* posted slots, oldest first (ring of send_slots) */
	uint32_t so_head, so_count;
	uint32_t payload_max;              /* min(ours, the peer's recv_size) - header */

	struct qsend *qhead, **qtail;      /* queued sends, oldest first, until sent() */
	struct qsend *cur;                 /* the send being copied into slots */
	int cur_iov;                       /* its iov entry being copied */
	size_t cur_off;                    /* bytes of that entry copied */
	uint64_t enq_off;                  /* stream bytes queued in all */
	uint64_t post_off;                 /* stream bytes copied into posted slots */
	uint64_t done_off;                 /* stream bytes whose slots completed OK */

	struct msgr__rdma_credits cr;
	int started;                       /* start() succeeded: credits are live */
	int receives_posted;               /* post_receives() was called */
	int dead;                          /* fail()ed or failed(): nothing more is posted */
	int reading_on;                    /* dead by peer_gone(): arrivals are still taken */
	int failed_told;                   /* failed() was called, or the owner's fail() made it moot */
	int fail_err;                      /* a failure found where no callback may run */
	char fail_why[160];                /*   (read(), start(), an internal post): told next */
	int stalled;                       /* data waits for a data credit (counted once) */
	int rd_notify;                     /* readable() is owed */
	int in_deliver;                    /* deliver() is on the stack: callbacks may re-enter */
	struct msgr__rdma_link_stats st;
};

static uint8_t *rbuf_at(const struct msgr__rdma_link *el, uint32_t i)
{
	return el->rbuf + (size_t)i * el->conf.recv_size;
}

static uint8_t *sbuf_at(const struct msgr__rdma_link *el, uint32_t i)
{
	return el->sbuf + (size_t)i * el->conf.recv_size;
}

/* Page-aligned, as registration pins whole pages anyway. Not zeroed:
 * only bytes the engine wrote are sent, only bytes that arrived are
 * read, and W = 1024 receives of 1 MiB need not all be touched up front. */
static void *alloc_pages(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len) != 0)
		return NULL;
	return p;
}

int msgr__rdma_link_new(struct msgr__rdma_link **out, const struct msgr__rshim_ops *ops,
			struct msgr__rshim *s, struct msgr__rshim_qp *qp,
			const struct msgr__rdma_link_conf *conf, const struct msgr__rdma_link_cb *cb,
			void *ctx)
{
	struct msgr__rdma_link *el = NULL;
	size_t rlen, slen;
	int rc = -EINVAL;

	*out = NULL;
	if (!ops || !qp || !conf || !cb || !cb->sent || !cb->readable || !cb->failed)
		goto out;
	if (conf->recv_depth < 1 || conf->recv_depth > MSGR__RDMA_DEPTH_MAX ||
	    conf->recv_size < MSGR__RDMA_SIZE_MIN || conf->recv_size > MSGR__RDMA_SIZE_MAX ||
	    conf->send_slots < 1 || conf->send_slots > SEND_SLOTS_MAX)
		goto out;
	rc = -ENOMEM;
	el = calloc(1, sizeof(*el));
	if (!el)
		goto out;
	el->ops = ops;
	el->s = s;
	el->qp = qp;
	el->conf = *conf;
	el->cb = *cb;
	el->ctx = ctx;
	el->nrecv = conf->recv_depth + MSGR__RDMA_CTRL_DEPTH;
	el->rd_head = el->rd_tail = NO_SLOT;
	el->park_head = el->park_tail = NO_SLOT;
	el->qtail = &el->qhead;
	/* Every receive is recv_size, the K control ones too: a SEND lands in
	 * whichever receive is oldest, whatever its kind. */
	rlen = (size_t)el->nrecv * conf->recv_size;
	slen = (size_t)conf->send_slots * conf->recv_size;
	el->rbuf = alloc_pages(rlen);
	el->sbuf = alloc_pages(slen);
	el->rs = calloc(el->nrecv, sizeof(*el->rs));
	el->ss = calloc(conf->send_slots, sizeof(*el->ss));
	el->sfree = calloc(conf->send_slots, sizeof(*el->sfree));
	el->sorder = calloc(conf->send_slots, sizeof(*el->sorder));
	if (!el->rbuf || !el->sbuf || !el->rs || !el->ss || !el->sfree || !el->sorder)
		goto out;
	/* Free slots are handed out lowest index first. */
	for (uint32_t i = 0; i < conf->send_slots; i++)
		el->sfree[i] = conf->send_slots - 1 - i;
	el->nfree = conf->send_slots;
	rc = ops->reg_mr(s, el->rbuf, rlen, &el->rmr);
	if (rc < 0) {
		el->rmr = NULL;
		goto out;
	}
	rc = ops->reg_mr(s, el->sbuf, slen, &el->smr);
	if (rc < 0) {
		el->smr = NULL;
		goto out;
	}
	*out = el;
	el = NULL;
	rc = 0;
out:
	msgr__rdma_link_free(el);
	return rc;
}

void msgr__rdma_link_free(struct msgr__rdma_link *el)
{
	if (!el)
		return;
	/* The owner waited for idle(): no request refers to the buffers. */
	if (el->rmr)
		el->ops->dereg_mr(el->rmr);
	if (el->smr)
		el->ops->dereg_mr(el->smr);
	/* Sends still queued are dropped without a callback: the owner is
	 * gone with the link (it gets sent() for them only through pump()
	 * after fail(), before this). */
	while (el->qhead) {
		struct qsend *q = el->qhead;
		el->qhead = q->next;
		free(q);
	}
	free(el->rbuf);
	free(el->sbuf);
	free(el->rs);
	free(el->ss);
	free(el->sfree);
	free(el->sorder);
	free(el);
}

/* A failure found where no callback may run: kept, and told (once) by the
 * next deliver(). The first reason wins; nothing more is posted. */
__attribute__((format(printf, 3, 4))) static void fail_later(struct msgr__rdma_link *el, int err,
							     const char *fmt, ...)
{
	va_list ap;

	el->dead = 1;
	el->reading_on = 0; /* what comes after a broken stream is not stream */
	if (el->fail_err || el->failed_told)
		return;
	el->fail_err = err;
	va_start(ap, fmt);
	vsnprintf(el->fail_why, sizeof(el->fail_why), fmt, ap);
	va_end(ap);
}

static int post_recv(struct msgr__rdma_link *el, uint32_t i)
{
	int rc = el->ops->post_recv(el->qp, i, rbuf_at(el, i), el->conf.recv_size, el->rmr);

	if (rc < 0)
		return rc;
	el->rs[i].state = R_POSTED;
	el->rs[i].len = el->rs[i].off = 0;
	el->rposted++;
	return 0;
}

int msgr__rdma_link_post_receives(struct msgr__rdma_link *el)
{
	if (el->receives_posted)
		return -EALREADY;
	el->receives_posted = 1;
	for (uint32_t i = 0; i < el->nrecv; i++) {
		int rc = post_recv(el, i);
		if (rc < 0)
			return rc; /* those posted flush when the owner tears the qp down */
	}
	return 0;
}

void msgr__rdma_link_hello(const struct msgr__rdma_link *el, struct msgr__rdma_hello *mine)
{
	mine->version = MSGR__RDMA_HELLO_VERSION;
	mine->ctrl_depth = MSGR__RDMA_CTRL_DEPTH;
	mine->recv_depth = el->conf.recv_depth;
	mine->recv_size = el->conf.recv_size;
}

static void rd_push(struct msgr__rdma_link *el, uint32_t i)
{
	el->rs[i].next = NO_SLOT;
	if (el->rd_tail == NO_SLOT)
		el->rd_head = i;
	else
		el->rs[el->rd_tail].next = i;
	el->rd_tail = i;
	el->rd_bytes += el->rs[i].len - el->rs[i].off;
	el->rd_notify = 1;
}

/* A SEND that arrived in receive i, credits live: count it, and keep a
 * DATA's payload for read() or give a CREDIT's receive straight back.
 * 0, or -EPROTO with err filled. */
static int take_arrival(struct msgr__rdma_link *el, uint32_t i, char *err, size_t errlen)
{
	struct msgr__rdma_hdr h;
	struct rslot *r = &el->rs[i];
	int rc;

	rc = msgr__rdma_hdr_decode(&h, rbuf_at(el, i), r->len, err, errlen);
	if (rc < 0)
		return rc;
	rc = msgr__rdma_cr_on_recv(&el->cr, &h, err, errlen);
	if (rc < 0)
		return rc;
	if (h.type == MSGR__RDMA_CREDIT) {
		/* Its receive goes back at once: a CREDIT holds no bytes for
		 * the core, and the peer's next CREDIT may need it. */
		r->state = R_IDLE;
		if (!el->dead) {
			rc = post_recv(el, i);
			if (rc < 0)
				fail_later(el, rc, "rdma: reposting a receive: %s", strerror(-rc));
			else
				msgr__rdma_cr_reposted(&el->cr, MSGR__RDMA_CREDIT);
		}
		return 0;
	}
	r->state = R_FULL;
	r->off = MSGR__RDMA_HDR_LEN;
	rd_push(el, i);
	return 0;
}

int msgr__rdma_link_start(struct msgr__rdma_link *el, const struct msgr__rdma_hello *peer, char *err,
			  size_t errlen)
{
	uint32_t i;
	int rc;

	if (el->started)
		return refuse(err, errlen, "rdma: the link was started already");
	/* A decoded hello is in range already; a caller's own is checked
	 * here, since the windows below size everything the peer may do. */
	if (peer->version != MSGR__RDMA_HELLO_VERSION || peer->ctrl_depth < 1 ||
	    peer->ctrl_depth > CTRL_DEPTH_MAX || peer->recv_depth < 1 ||
	    peer->recv_depth > MSGR__RDMA_DEPTH_MAX || peer->recv_size < MSGR__RDMA_SIZE_MIN ||
	    peer->recv_size > MSGR__RDMA_SIZE_MAX)
		return refuse(err, errlen, "rdma: the peer's hello is out of range");
	msgr__rdma_cr_init(&el->cr, el->conf.recv_depth, MSGR__RDMA_CTRL_DEPTH, peer->recv_depth,
			   peer->ctrl_depth);
	el->payload_max = (peer->recv_size < el->conf.recv_size ? peer->recv_size : el->conf.recv_size) -
			  MSGR__RDMA_HDR_LEN;
	el->started = 1;
	/* SENDs the peer posted as soon as it was established may have
	 * completed here before our own ESTABLISHED: they waited, parked,
	 * for these credits. Their readable() comes from the next pump(). */
	while ((i = el->park_head) != NO_SLOT) {
		el->park_head = el->rs[i].next;
		if (el->park_head == NO_SLOT)
			el->park_tail = NO_SLOT;
		rc = take_arrival(el, i, err, errlen);
		if (rc < 0) {
			el->rs[i].state = R_IDLE;
			/* The caller hears it from our return: not again from failed(). */
			el->dead = 1;
			el->failed_told = 1;
			return rc;
		}
	}
	return 0;
}

int msgr__rdma_link_send(struct msgr__rdma_link *el, const struct iovec *iov, int n, void *cookie)
{
	struct qsend *q;
	size_t len = 0;

	if (n < 0 || (n > 0 && !iov))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > SIZE_MAX - len)
			return -EINVAL;
		len += iov[i].iov_len;
	}
	q = malloc(sizeof(*q) + (size_t)n * sizeof(q->iov[0]));
	if (!q)
		return -ENOMEM;
	q->next = NULL;
	q->cookie = cookie;
	q->n = n;
	if (n)
		memcpy(q->iov, iov, (size_t)n * sizeof(q->iov[0]));
	el->enq_off += len;
	q->end = el->enq_off;
	*el->qtail = q;
	el->qtail = &q->next;
	if (!el->cur) {
		el->cur = q;
		el->cur_iov = 0;
		el->cur_off = 0;
	}
	/* Nothing is posted from here: the owner pumps (after a batch of sends). */
	return 0;
}

size_t msgr__rdma_link_queued(const struct msgr__rdma_link *el)
{
	if (el->dead)
		return 0; /* what is left will never be posted: it is cancelled */
	return (size_t)(el->enq_off - el->post_off);
}

/* Copy up to cap queued bytes to dst, advancing the cursor. */
static size_t copy_queued(struct msgr__rdma_link *el, uint8_t *dst, size_t cap)
{
	size_t done = 0;

	while (done < cap && el->cur) {
		struct qsend *q = el->cur;

		if (el->cur_iov >= q->n) {
			el->cur = q->next;
			el->cur_iov = 0;
			el->cur_off = 0;
			continue;
		}
		const struct iovec *v = &q->iov[el->cur_iov];
		size_t k = v->iov_len - el->cur_off;
		if (k > cap - done)
			k = cap - done;
		if (k) /* an empty entry may have a NULL base */
			memcpy(dst + done, (const uint8_t *)v->iov_base + el->cur_off, k);
		done += k;
		el->cur_off += k;
		if (el->cur_off == v->iov_len) {
			el->cur_iov++;
			el->cur_off = 0;
		}
	}
	/* Skip what is left empty, so cur never sits on a spent send. */
	while (el->cur && el->cur_iov >= el->cur->n) {
		el->cur = el->cur->next;
		el->cur_iov = 0;
		el->cur_off = 0;
	}
	el->post_off += done;
	return done;
}

static int post_slot(struct msgr__rdma_link *el, uint32_t i, uint32_t len)
{
	struct msgr__rshim_sge sge = { sbuf_at(el, i), len, el->smr };
	int rc = el->ops->post_send(el->qp, WR_SEND | i, &sge, 1);

	if (rc < 0)
		return rc;
	el->ss[i].busy = 1;
	el->ss[i].done = 0;
	el->sorder[(el->so_head + el->so_count) % el->conf.send_slots] = i;
	el->so_count++;
	return 0;
}

/* Post what credits and slots allow: DATA while bytes wait, then a
 * standalone CREDIT if one is due. Runs no callback (read() calls it). */
static void post_work(struct msgr__rdma_link *el)
{
	/* With two slots or more one is kept for a CREDIT, so returns can go
	 * out while every other slot carries data to a slow peer. */
	uint32_t reserve = el->conf.send_slots > 1;
	struct msgr__rdma_hdr h;
	uint32_t i, len;
	int rc;

	if (el->dead || !el->started)
		return;
	while (msgr__rdma_link_queued(el) && el->nfree > reserve &&
	       msgr__rdma_cr_can_send(&el->cr, MSGR__RDMA_DATA)) {
		el->stalled = 0;
		i = el->sfree[--el->nfree];
		msgr__rdma_cr_take(&el->cr, MSGR__RDMA_DATA, &h);
		msgr__rdma_hdr_encode(&h, sbuf_at(el, i));
		/* Several queued sends may share this SEND: a small frame
		 * should not cost a whole receive at the peer. */
		len = (uint32_t)copy_queued(el, sbuf_at(el, i) + MSGR__RDMA_HDR_LEN, el->payload_max);
		el->ss[i].end = el->post_off;
		rc = post_slot(el, i, MSGR__RDMA_HDR_LEN + len);
		if (rc < 0) {
			el->nfree++;
			fail_later(el, rc, "rdma: posting a send: %s", strerror(-rc));
			return;
		}
	}
	/* A stall is counted once, when it starts, not at every pump. */
	if (msgr__rdma_link_queued(el) && !msgr__rdma_cr_can_send(&el->cr, MSGR__RDMA_DATA) &&
	    !el->stalled) {
		el->st.credit_stalls++;
		el->stalled = 1;
	}
	if (msgr__rdma_cr_want_credit(&el->cr) && el->nfree > 0) {
		i = el->sfree[--el->nfree];
		msgr__rdma_cr_take(&el->cr, MSGR__RDMA_CREDIT, &h);
		msgr__rdma_hdr_encode(&h, sbuf_at(el, i));
		el->ss[i].end = el->post_off; /* completes no byte, but keeps done_off monotonic */
		rc = post_slot(el, i, MSGR__RDMA_HDR_LEN);
		if (rc < 0) {
			el->nfree++;
			fail_later(el, rc, "rdma: posting a CREDIT: %s", strerror(-rc));
			return;
		}
		el->st.credit_msgs_out++;
	}
}

/* Stop posting and cancel what was not sent. Callbacks come later, from
 * deliver(). */
static void stop(struct msgr__rdma_link *el)
{
	el->dead = 1;
	el->cur = NULL;
}

/* Every callback owed, in order: failed(), sent() for sends done, sent()
 * -ECANCELED for the rest once dead, readable(). Callbacks may call back
 * in (send, read, fail, pump); a nested deliver() leaves the work to this
 * loop, which looks again until nothing is owed. */
static void deliver(struct msgr__rdma_link *el)
{
	int again;

	if (el->in_deliver)
		return;
	el->in_deliver = 1;
	do {
		again = 0;
		if (el->fail_err && !el->failed_told) {
			int err = el->fail_err;
			el->failed_told = 1;
			stop(el);
			el->cb.failed(el->ctx, err, el->fail_why);
			again = 1;
		}
		while (el->qhead && (el->qhead->end <= el->done_off || el->dead)) {
			struct qsend *q = el->qhead;
			/* Ends only grow along the queue, so once one send is
			 * cancelled every later one is too: order is kept. */
			int err = q->end <= el->done_off ? 0 : -ECANCELED;

			el->qhead = q->next;
			if (!el->qhead)
				el->qtail = &el->qhead;
			if (el->cur == q)
				el->cur = NULL;
			el->cb.sent(el->ctx, q->cookie, err);
			free(q);
			again = 1;
		}
		if (el->rd_notify) {
			el->rd_notify = 0;
			if (el->rd_bytes) {
				el->cb.readable(el->ctx);
				again = 1;
			}
		}
	} while (again);
	el->in_deliver = 0;
}

void msgr__rdma_link_pump(struct msgr__rdma_link *el)
{
	post_work(el);
	deliver(el);
	/* The callbacks may have queued or read: post again. */
	post_work(el);
}

void msgr__rdma_link_peer_gone(struct msgr__rdma_link *el)
{
	el->failed_told = 1;
	el->reading_on = !el->fail_err; /* not after the peer broke the stream */
	stop(el);
}

void msgr__rdma_link_fail(struct msgr__rdma_link *el, int err)
{
	el->reading_on = 0; /* the owner ended it: nobody reads any more */
	/* The owner knows: failed() would tell it nothing. */
	el->failed_told = 1;
	stop(el);
}

static int wc_errno(enum msgr__rshim_wc_status s)
{
	switch (s) {
	case MSGR__RSHIM_WC_FLUSH:
		return -ECONNRESET;
	case MSGR__RSHIM_WC_RNR:
		return -ENOBUFS;
	case MSGR__RSHIM_WC_RETRY:
		return -ETIMEDOUT;
	case MSGR__RSHIM_WC_LEN:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

static const char *wc_name(enum msgr__rshim_wc_status s)
{
	switch (s) {
	case MSGR__RSHIM_WC_FLUSH:
		return "flushed (the queue pair is in error)";
	case MSGR__RSHIM_WC_RNR:
		return "receiver not ready (the peer had no receive posted)";
	case MSGR__RSHIM_WC_RETRY:
		return "retries exceeded (the peer is gone)";
	case MSGR__RSHIM_WC_LEN:
		return "length error (a message larger than its receive)";
	default:
		return "error";
	}
}

static void on_send_wc(struct msgr__rdma_link *el, const struct msgr__rshim_wc *wc, uint32_t i)
{
	struct sslot *sl = &el->ss[i];

	sl->busy = 0;
	el->sfree[el->nfree++] = i;
	if (wc->status != MSGR__RSHIM_WC_OK) {
		/* Its bytes never went: whoever waits for them is cancelled. */
		el->dead = 1;
		return;
	}
	el->st.sends++;
	sl->done = 1;
	/* RC completes sends in order; a shim that did not would still not
	 * get a send reported before the ones ahead of it. */
	while (el->so_count) {
		uint32_t j = el->sorder[el->so_head];
		if (el->ss[j].busy || !el->ss[j].done)
			break;
		el->ss[j].done = 0;
		if (el->ss[j].end > el->done_off)
			el->done_off = el->ss[j].end;
		el->so_head = (el->so_head + 1) % el->conf.send_slots;
		el->so_count--;
	}
}

void msgr__rdma_link_on_wc(struct msgr__rdma_link *el, const struct msgr__rshim_wc *wc)
{
	uint64_t idx = wc->wr_id & WR_IDX_MASK;
	int is_send = (wc->wr_id & WR_SEND) != 0;
	char err[160];
	int rc;

	if ((wc->wr_id & ~(WR_SEND | WR_IDX_MASK)) || is_send != (wc->op == MSGR__RSHIM_WC_SEND) ||
	    (is_send ? idx >= el->conf.send_slots || !el->ss[idx].busy
		     : idx >= el->nrecv || el->rs[idx].state != R_POSTED)) {
		/* Not a request of ours that is outstanding: the shim is
		 * confused, and nothing it says about this qp can be trusted. */
		el->st.wc_errors++;
		fail_later(el, -EIO, "rdma: a completion for no outstanding request (wr_id %#llx)",
			   (unsigned long long)wc->wr_id);
		goto out;
	}
	if (wc->status == MSGR__RSHIM_WC_FLUSH)
		el->st.flushed++;
	else if (wc->status != MSGR__RSHIM_WC_OK)
		el->st.wc_errors++;
	if (wc->status != MSGR__RSHIM_WC_OK && !el->failed_told)
		fail_later(el, wc_errno(wc->status), "rdma: %s %s", is_send ? "send" : "receive",
			   wc_name(wc->status));
	if (is_send) {
		on_send_wc(el, wc, (uint32_t)idx);
		goto out;
	}
	el->rposted--;
	el->rs[idx].state = R_IDLE;
	if (wc->status != MSGR__RSHIM_WC_OK)
		goto out;
	el->st.recvs++;
	if (wc->byte_len > el->conf.recv_size) {
		fail_later(el, -EPROTO, "rdma: a receive of %u bytes in a buffer of %u", wc->byte_len,
			   el->conf.recv_size);
		goto out;
	}
	el->rs[idx].len = wc->byte_len;
	if (el->dead && !el->reading_on)
		goto out; /* nobody reads it any more */
	if (!el->started) {
		el->rs[idx].state = R_PARKED;
		el->rs[idx].next = NO_SLOT;
		if (el->park_tail == NO_SLOT)
			el->park_head = (uint32_t)idx;
		else
			el->rs[el->park_tail].next = (uint32_t)idx;
		el->park_tail = (uint32_t)idx;
		goto out;
	}
	rc = take_arrival(el, (uint32_t)idx, err, sizeof(err));
	if (rc < 0)
		fail_later(el, rc, "%s", err);
out:
	post_work(el);
	deliver(el);
	post_work(el);
}

size_t msgr__rdma_link_read(struct msgr__rdma_link *el, void *dst, size_t cap)
{
	size_t done = 0;
	uint32_t i;

	while (done < cap && (i = el->rd_head) != NO_SLOT) {
		struct rslot *r = &el->rs[i];
		size_t k = r->len - r->off;

		if (k > cap - done)
			k = cap - done;
		memcpy((uint8_t *)dst + done, rbuf_at(el, i) + r->off, k);
		done += k;
		r->off += (uint32_t)k;
		el->rd_bytes -= k;
		if (r->off < r->len)
			break;
		el->rd_head = r->next;
		if (el->rd_head == NO_SLOT)
			el->rd_tail = NO_SLOT;
		r->state = R_IDLE;
		if (!el->dead) {
			int rc = post_recv(el, i);
			if (rc < 0)
				fail_later(el, rc, "rdma: reposting a receive: %s", strerror(-rc));
			else
				msgr__rdma_cr_reposted(&el->cr, MSGR__RDMA_DATA);
		}
	}
	/* The receives just reposted are credits the peer may be waiting
	 * for: send them now, not at the owner's next pump. */
	post_work(el);
	return done;
}

size_t msgr__rdma_link_readable(const struct msgr__rdma_link *el)
{
	return el->rd_bytes;
}

int msgr__rdma_link_idle(const struct msgr__rdma_link *el)
{
	return el->rposted == 0 && el->nfree == el->conf.send_slots;
}

int msgr__rdma_link_drained(const struct msgr__rdma_link *el)
{
	/* A send leaves the queue with its sent(), which waits for the
	 * completion of its last byte's SEND; a CREDIT still in flight
	 * carries none of the core's bytes and does not count. */
	return el->qhead == NULL;
}

const struct msgr__rdma_link_stats *msgr__rdma_link_stats(const struct msgr__rdma_link *el)
{
	return &el->st;
}

const struct msgr__rdma_credits *msgr__rdma_link_credits(const struct msgr__rdma_link *el)
{
	return &el->cr;
}
