/*
 * fault.c - the fault interceptor (fault.h): transport.h over transport.h.
 *
 * Each of its links wraps one link of the inner transport. Calls from the
 * core go to the inner link, events from the inner link come back here and
 * go on to the core, and in between the interceptor may reset a link or hold
 * what was received for a while. The inner link's ctx points at ours; ours
 * (pub) is what the core sees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "transports/fault.h"

#define RBUF_LEN 65536            /* one inner read, while delaying */
#define HOLD_MAX (4u << 20)       /* held bytes per link before it stops reading */

/* Owned by the core from init to fini; fini starts the teardown and the
 * last of our links (or the timer's close, when there are none) frees it. */
struct msgr__transport {
	const struct msgr__transport_ops *inner_ops; /* borrowed, static */
	struct msgr__transport *inner;  /* owned; fini'd by our fini */
	const struct msgr__fault_conf *conf; /* borrowed: the caller's settings */
	uint64_t *injected;             /* borrowed: the caller's counter */
	const struct msgr__transport_events *ev; /* borrowed from the core */
	void *core;                     /* passed back in every event */
	uv_timer_t timer;               /* hands out held buffers and late closed()s */
	struct fault_link *links;       /* every link not yet freed */
	uint64_t rng;                   /* xorshift64 state, never 0 */
	int fini;                       /* fini was called: free when no link is left */
};

/* A buffer received and not yet handed on. Owned by its link's queue. */
struct held {
	struct held *next;
	uint64_t due_ns;  /* uv_hrtime() at which it may go to the core */
	size_t len, off;  /* bytes in data; of them handed on already */
	uint8_t data[];
};

/* Allocated by dial() or when the inner transport accepts; freed once our
 * closed() has returned (emit_closed), since the core uses pub until then. */
struct fault_link {
	struct msgr__tconn pub;        /* first: the core's pointer is a cast away */
	struct msgr__tconn *in;        /* the inner link; NULL once its closed() came */
	struct msgr__transport *t;
	struct fault_link *prev, *next; /* t->links */
	void *cbuf;                   /* the core's posted buffer, or NULL */
	size_t clen;
	int cbuf_at_inner;            /* cbuf is posted to the inner link (pass-through) */
	uint8_t *rbuf;                /* ours, RBUF_LEN, for reading while delaying */
	int rbuf_posted;              /* rbuf is posted to the inner link */
	struct held *head, **tail;    /* the delay line, oldest first */
	size_t held_bytes;
	uint64_t last_due;            /* due_ns of the newest entry: FIFO even when
					 a later draw is shorter */
	int closing;                  /* the core called close() */
	int aborted;                  /* we reset it (injected) */
	int in_err;                   /* the inner link's closed() error, kept while
					 held bytes drain after an EOF */
	int closed_due;               /* our closed() waits for the timer */
};

static uint64_t rnd(struct msgr__transport *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

/* "About one in N": a draw per send or receive, so faults land anywhere in
 * a link's life, the handshake included. */
static int roll(struct msgr__transport *t)
{
	uint64_t n = t->conf->socket_failures;

	return n && rnd(t) % n == 0;
}

static void drop_held(struct fault_link *fl)
{
	while (fl->head) {
		struct held *h = fl->head;
		fl->head = h->next;
		free(h);
	}
	fl->tail = &fl->head;
	fl->held_bytes = 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* The core has had the link's last word: forget it. */
static void emit_closed(struct fault_link *fl, int err)
{
	struct msgr__transport *t = fl->t;

	if (fl->prev)
		fl->prev->next = fl->next;
	else
		t->links = fl->next;
	if (fl->next)
		fl->next->prev = fl->prev;
	drop_held(fl);
	t->ev->closed(t->core, &fl->pub, err);
	free(fl->rbuf);
	free(fl);
	if (t->fini && !t->links)
		uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

/* When the timer has work for fl: a closed() to send, or the oldest held
 * buffer once it is due and the core has a buffer posted to take it. */
static uint64_t next_due(const struct fault_link *fl, uint64_t now)
{
	if (fl->closed_due || (!fl->in && !fl->head))
		return now;
	if (fl->head && fl->cbuf && !fl->cbuf_at_inner)
		return fl->head->due_ns;
	return UINT64_MAX;
}

static void on_timer(uv_timer_t *h);

static void arm(struct msgr__transport *t)
{
	uint64_t now = uv_hrtime(), due = UINT64_MAX;

	if (t->fini && !t->links)
		return; /* the timer is closing */
	for (struct fault_link *fl = t->links; fl; fl = fl->next) {
		uint64_t d = next_due(fl, now);
		if (d < due)
			due = d;
	}
	if (due == UINT64_MAX) {
		uv_timer_stop(&t->timer);
		return;
	}
	/* in whole milliseconds, rounded up; a timer that fires a little early
	 * (libuv's clock is the loop's cached one) finds nothing due and arms
	 * again */
	uv_timer_start(&t->timer, on_timer, due > now ? (due - now + 999999) / 1000000 : 0, 0);
}

/* Give the inner link a buffer to read into, if it has none: the core's
 * own when nothing is delayed (no copy), else ours, until HOLD_MAX bytes
 * wait. Errors mean the inner link is going; its closed() follows. */
static void feed(struct fault_link *fl)
{
	const struct msgr__transport_ops *io = fl->t->inner_ops;

	if (!fl->in || fl->aborted || fl->closing || fl->cbuf_at_inner || fl->rbuf_posted)
		return;
	if (!fl->t->conf->delay_ms) {
		/* a delay switched off lets the line drain first; then reads go
		 * into the core's buffers again */
		if (!fl->head && fl->cbuf && io->post_recv(fl->in, fl->cbuf, fl->clen) == 0)
			fl->cbuf_at_inner = 1;
		return;
	}
	if (fl->held_bytes >= HOLD_MAX)
		return; /* back pressure, as a full receive window would be */
	if (!fl->rbuf && !(fl->rbuf = malloc(RBUF_LEN)))
		return; /* no more reading: the link's keepalive ends it */
	if (io->post_recv(fl->in, fl->rbuf, RBUF_LEN) == 0)
		fl->rbuf_posted = 1;
}

/* Reset fl as a network fault would. What it held is lost, as the bytes in
 * a reset socket's buffers are; the inner closed() brings our closed(). */
static void abort_link(struct fault_link *fl, const char *why)
{
	char peer[64] = "?";

	fl->aborted = 1;
	(*fl->t->injected)++;
	drop_held(fl);
	fl->cbuf = NULL; /* back to the core with closed() */
	fl->cbuf_at_inner = 0;
	fl->t->inner_ops->addr(fl->in, 1, peer, sizeof(peer));
	msgr__info("fault: resetting the link to %s (%s)", peer, why);
	fl->t->inner_ops->close(fl->in, -ECONNRESET);
}

/* Hand fl's due buffers to the core, as far as it has buffers posted. Then
 * a link whose inner link ended after an EOF gets its closed() once it has
 * had everything. */
static void deliver(struct fault_link *fl, uint64_t now)
{
	struct msgr__transport *t = fl->t;

	while (fl->head && fl->cbuf && !fl->cbuf_at_inner && !fl->closing && !fl->aborted &&
	       fl->head->due_ns <= now) {
		struct held *h = fl->head;
		size_t n = h->len - h->off;
		void *buf = fl->cbuf;

		if (n > fl->clen)
			n = fl->clen;
		memcpy(buf, h->data + h->off, n);
		h->off += n;
		fl->held_bytes -= n;
		if (h->off == h->len) {
			fl->head = h->next;
			if (!fl->head)
				fl->tail = &fl->head;
			free(h);
		}
		fl->cbuf = NULL;
		feed(fl); /* room again in the delay line */
		/* the core may post again (usually) or close from here */
		t->ev->received(t->core, &fl->pub, buf, n);
	}
	if (fl->closed_due || (!fl->in && !fl->head))
		emit_closed(fl, fl->in_err);
}

static void on_timer(uv_timer_t *h)
{
	struct msgr__transport *t = h->data;
	uint64_t now = uv_hrtime();

	/* Only deliver() frees a link while we walk (its own): the core's
	 * callbacks may close links, but a close never frees one from inside
	 * the call, and the inner transport's events come from the loop. */
	for (struct fault_link *fl = t->links, *next; fl; fl = next) {
		next = fl->next;
		deliver(fl, now);
	}
	arm(t);
}

/* ---- events from the inner transport ----------------------------------- */

static struct fault_link *link_new(struct msgr__transport *t, struct msgr__tconn *in)
{
	struct fault_link *fl = calloc(1, sizeof(*fl));

	if (!fl)
		return NULL;
	fl->pub.ops = &msgr__fault_ops;
	fl->pub.outbound = in->outbound;
	fl->pub.via = in->via;
	fl->in = in;
	fl->t = t;
	fl->tail = &fl->head;
	in->ctx = fl;
	fl->next = t->links;
	if (t->links)
		t->links->prev = fl;
	t->links = fl;
	return fl;
}

static void in_accepted(void *core, struct msgr__tconn *in)
{
	struct msgr__transport *t = core;
	struct fault_link *fl = link_new(t, in);

	if (!fl) {
		in->ctx = NULL; /* its closed() finds nobody */
		t->inner_ops->close(in, -ENOMEM);
		return;
	}
	t->ev->accepted(t->core, &fl->pub);
}

static void in_connected(void *core, struct msgr__tconn *in, int err)
{
	struct msgr__transport *t = core;
	struct fault_link *fl = in->ctx;

	if (fl) {
		fl->pub.via = in->via; /* a transport may have fallen back meanwhile */
		t->ev->connected(t->core, &fl->pub, err);
	}
}

static void in_received(void *core, struct msgr__tconn *in, void *buf, size_t len)
{
	struct msgr__transport *t = core;
	struct fault_link *fl = in->ctx;
	uint64_t delay_ns, due;
	struct held *h;

	if (!fl)
		return;
	if (buf == fl->rbuf)
		fl->rbuf_posted = 0;
	else
		fl->cbuf_at_inner = 0;
	if (fl->aborted || fl->closing)
		return;
	if (roll(t)) {
		abort_link(fl, "injected on a receive");
		return;
	}
	if (buf != fl->rbuf) { /* straight through: the core's own buffer */
		fl->cbuf = NULL;
		t->ev->received(t->core, &fl->pub, buf, len);
		return;
	}
	h = malloc(sizeof(*h) + len);
	if (!h) {
		fl->aborted = 1; /* not injected, but a reset all the same */
		t->inner_ops->close(in, -ENOMEM);
		return;
	}
	memcpy(h->data, buf, len);
	h->len = len;
	h->off = 0;
	h->next = NULL;
	delay_ns = t->conf->delay_ms * 1000000ull;
	due = uv_hrtime() + (delay_ns ? rnd(t) % (delay_ns + 1) : 0);
	if (due < fl->last_due)
		due = fl->last_due; /* never overtake what came first */
	fl->last_due = h->due_ns = due;
	*fl->tail = h;
	fl->tail = &h->next;
	fl->held_bytes += len;
	feed(fl);
	arm(t);
}

static void in_sent(void *core, struct msgr__tconn *in, void *cookie, int err)
{
	struct msgr__transport *t = core;
	struct fault_link *fl = in->ctx;

	if (fl)
		t->ev->sent(t->core, &fl->pub, cookie, err);
}

static void in_closed(void *core, struct msgr__tconn *in, int err)
{
	struct msgr__transport *t = core;
	struct fault_link *fl = in->ctx;

	if (!fl)
		return;
	fl->in = NULL;
	fl->rbuf_posted = fl->cbuf_at_inner = 0;
	if (fl->head && !fl->closing && !fl->aborted && err == -ENOTCONN) {
		/* the peer ended it in order: what it sent before its EOF still
		 * arrives, late like the rest, and then closed() */
		fl->in_err = err;
		arm(t);
		return;
	}
	emit_closed(fl, err);
}

static const struct msgr__transport_events in_events = {
	in_accepted, in_connected, in_received, in_sent, in_closed,
};

/* ---- the ops the core calls -------------------------------------------- */

int msgr__fault_init(struct msgr__transport **out, const struct msgr__transport_ops *inner,
		     const struct msgr__fault_conf *conf, uint64_t *injected, uv_loop_t *loop,
		     const struct msgr__transport_args *args, const struct msgr__transport_events *ev, void *core, char *err, size_t errlen)
{
	struct msgr__transport *t = calloc(1, sizeof(*t));
	int r;

	if (!t) {
		snprintf(err, errlen, "fault: out of memory");
		return -ENOMEM;
	}
	t->inner_ops = inner;
	t->conf = conf;
	t->injected = injected;
	t->ev = ev;
	t->core = core;
	if (getrandom(&t->rng, sizeof(t->rng), 0) != sizeof(t->rng) || !t->rng)
		t->rng = uv_hrtime() | 1;
	r = inner->init(&t->inner, loop, args, &in_events, t, err, errlen);
	if (r) {
		free(t);
		return r;
	}
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	*out = t;
	return 0;
}

static int fault_init(struct msgr__transport **t, uv_loop_t *loop,
		      const struct msgr__transport_args *args, const struct msgr__transport_events *ev, void *core, char *err, size_t errlen)
{
	snprintf(err, errlen, "fault: an interceptor needs a transport to wrap (msgr__fault_init)");
	return -EINVAL;
}

static int fault_listen(struct msgr__transport *t, const char *hostport)
{
	return t->inner_ops->listen(t->inner, hostport);
}

static int fault_dial(struct msgr__transport *t, const char *hostport, struct msgr__tconn **out)
{
	struct msgr__tconn *in;
	struct fault_link *fl;
	int r = t->inner_ops->dial(t->inner, hostport, &in);

	if (r)
		return r;
	fl = link_new(t, in);
	if (!fl) {
		in->ctx = NULL;
		t->inner_ops->close(in, -ENOMEM);
		return -ENOMEM;
	}
	*out = &fl->pub;
	return 0;
}

static int fault_send(struct msgr__tconn *pub, const struct iovec *iov, int n, void *cookie)
{
	struct fault_link *fl = (struct fault_link *)pub;
	int r;

	if (!fl->in || fl->closing)
		return -ENOTCONN;
	r = fl->t->inner_ops->send(fl->in, iov, n, cookie);
	/* the send is posted (or refused) first, so its sent() still comes,
	 * before closed(), as after any reset */
	if (r == 0 && !fl->aborted && roll(fl->t))
		abort_link(fl, "injected on a send");
	return r;
}

static size_t fault_send_queued(struct msgr__tconn *pub)
{
	struct fault_link *fl = (struct fault_link *)pub;

	return fl->in ? fl->t->inner_ops->send_queued(fl->in) : 0;
}

static int fault_post_recv(struct msgr__tconn *pub, void *buf, size_t len)
{
	struct fault_link *fl = (struct fault_link *)pub;
	struct msgr__transport *t = fl->t;
	int r;

	if (fl->closing)
		return -ENOTCONN;
	if (!buf || !len)
		return -EINVAL;
	if (fl->aborted)
		return 0; /* nothing will arrive; the buffer comes back with closed() */
	fl->cbuf = buf;
	fl->clen = len;
	if (fl->in && !t->conf->delay_ms && !fl->head && !fl->rbuf_posted) {
		r = t->inner_ops->post_recv(fl->in, buf, len);
		if (r) {
			fl->cbuf = NULL;
			return r;
		}
		fl->cbuf_at_inner = 1;
		return 0;
	}
	feed(fl);
	if (fl->head)
		arm(t); /* never from here: the timer hands it over */
	return 0;
}

static int fault_reg_mem(struct msgr__transport *t, void *base, size_t len)
{
	return t->inner_ops->reg_mem(t->inner, base, len);
}

static int fault_addr(struct msgr__tconn *pub, int peer, char *buf, size_t len)
{
	struct fault_link *fl = (struct fault_link *)pub;

	return fl->in ? fl->t->inner_ops->addr(fl->in, peer, buf, len) : -ENOTCONN;
}

static void fault_close(struct msgr__tconn *pub, int err)
{
	struct fault_link *fl = (struct fault_link *)pub;

	/* a close cancels the delays: no received() follows a close */
	fl->closing = 1;
	drop_held(fl);
	fl->cbuf = NULL;
	if (fl->in) {
		fl->t->inner_ops->close(fl->in, err); /* idempotent; an abort overtakes */
	} else if (!fl->closed_due) {
		fl->closed_due = 1; /* the inner link is gone: closed() from the loop */
		arm(fl->t);
	}
}

static void fault_fini(struct msgr__transport *t)
{
	t->fini = 1;
	t->inner_ops->fini(t->inner); /* aborts every inner link: their closed() follow */
	for (struct fault_link *fl = t->links; fl; fl = fl->next)
		if (!fl->in)
			fault_close(&fl->pub, -ECANCELED);
	if (!t->links)
		uv_close((uv_handle_t *)&t->timer, on_timer_closed);
	else
		arm(t);
}

int msgr__fault_kill(struct msgr__tconn *l)
{
	struct fault_link *fl = (struct fault_link *)l;

	if (!l || l->ops != &msgr__fault_ops)
		return -EINVAL;
	if (!fl->in || fl->closing || fl->aborted)
		return -ENOTCONN;
	abort_link(fl, "msgrctl inject kill-link");
	return 0;
}

const struct msgr__transport_ops msgr__fault_ops = {
	.name = "fault",
	.init = fault_init,
	.listen = fault_listen,
	.dial = fault_dial,
	.send = fault_send,
	.send_queued = fault_send_queued,
	.post_recv = fault_post_recv,
	.reg_mem = fault_reg_mem,
	.addr = fault_addr,
	.close = fault_close,
	.fini = fault_fini,
};
