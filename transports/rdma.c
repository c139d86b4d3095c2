/*
 * rdma.c - the RDMA transport: transport.h over rdma_cm and verbs.
 *
 * Three parts under one ops table:
 *   - the shim (rdma_shim.h): rdma_cm and verbs for real hardware
 *     (net.transport = rdma), or the fake queue-pair pair for tests
 *     (net.transport = rdma-fake, global.inject only);
 *   - the engine (rdma_engine.h): per connection, the receive buffers and
 *     send slots, credits, and the byte stream the core's frames travel in;
 *   - an inner TCP transport (tcp.c) for every peer RDMA cannot reach. A
 *     dial that rdma_cm rejects or cannot route is redone over TCP to the
 *     same HOST:PORT and counted (rdma_fallbacks), and we accept on TCP as
 *     well as on RDMA, so a host without RDMA still gets in. With no device
 *     at all, init logs "rdma: no RDMA device (...); using tcp" and every
 *     connection is TCP. A session uses RDMA only when both ends have it.
 *
 * A connection (struct rconn) is what the core holds. It starts on RDMA or
 * on TCP; an RDMA dial that falls back becomes a proxy for its TCP
 * connection, the way fault.c proxies its inner links. Its RDMA life is the
 * state machine of rdma_state.h; this file does what its actions say.
 *
 * The loop watches one fd, the shim's, with uv_poll; a readable fd means CM
 * events or completions, drained until empty: events first, so a
 * connection's engine is started before its first receive completes. Work
 * that must not run inside a call from the core (the contract: no callback
 * from inside the call that started it) waits for a uv_idle handle that
 * runs only while there is some.
 *
 * No fork: nothing here calls ibv_fork_init (rdma_verbs.c says why).
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/log.h"
#include "transports/rdma_engine.h"
#include "transports/rdma_shim.h"
#include "transports/rdma_state.h"
#include "transports/transport.h"

#define NWC 32 /* completions per poll call */

static const struct msgr__transport_conf default_conf = { 32, 64 << 10, 32, 64 };

/* Owned by the core from init to fini. fini starts the teardown; the last
 * uv handle to close frees it, once every connection (RDMA or TCP) has had
 * its closed() and the inner TCP transport can call us no more. */
struct msgr__transport {
	uv_loop_t *loop;                            /* borrowed */
	const struct msgr__transport_events *ev;    /* borrowed from the core */
	void *core;
	const struct msgr__transport_conf *conf;    /* borrowed, or default_conf */
	struct msgr__transport_stats *stats;        /* borrowed, or own_stats */
	struct msgr__transport_stats own_stats;
	const char *name;                           /* "rdma", "rdma-fake": links' via */
	const struct msgr__transport_ops *self;     /* our ops table, for links' pub.ops */
	const struct msgr__rshim_ops *sops;         /* static */
	struct msgr__rshim *shim;                   /* owned; NULL: no device, TCP only */
	struct msgr__rshim_stats shim_seen;         /* shim counters already in stats */
	struct msgr__transport *tcp;                /* the inner TCP transport, owned */
	uv_poll_t poll;                             /* on the shim's fd (if shim) */
	uv_idle_t idle;                             /* deferred work; started only with some */
	struct rconn *conns;                        /* every connection not yet freed */
	unsigned tcp_live;                          /* inner TCP connections before their closed() */
	unsigned rdma_live;                         /* connections holding a qp: against max_links */
	unsigned handles;                           /* uv handles not yet closed */
	int kicked;                                 /* kick() since on_idle began: run again */
	int fini;
};

/* One connection as the core sees it. Allocated at dial, at an RDMA
 * connection request, or when the inner TCP transport accepts; freed after
 * the core's closed() (or, never shown to the core, once its QP is gone). */
struct rconn {
	struct msgr__tconn pub;         /* first: the core's pointer is a cast away */
	struct msgr__transport *t;
	struct rconn *prev, *next;      /* t->conns */
	enum msgr__rdma_conn_state st;
	/* RDMA: the qp and engine, until released (after their last completion) */
	struct msgr__rshim_qp *qp;
	struct msgr__rdma_link *el;
	struct msgr__rdma_link_stats seen; /* el's counters already in stats */
	struct msgr__rdma_hello peer;   /* the peer's hello */
	/* TCP: the inner connection, when this one runs (or fell back) on TCP */
	struct msgr__tconn *tcp;
	int is_tcp;
	/* the core's side */
	void *cbuf;                     /* posted receive buffer, or NULL */
	size_t clen;
	int shown;                      /* the core holds it: dialled, or accepted() */
	int core_closed;                /* the core called close() */
	int err;                        /* what closed() will say; the first cause */
	int connected_due;              /* a connected(connected_err) waits for the idle */
	int connected_err;
	int closed_due;                 /* DEAD: closed() waits for the idle */
	int dev_gone;                   /* its device went: flushes may never come */
	char hostport[MSGR__HOSTPORT_MAX]; /* dialled: for a fallback and addr() */
};

static void step(struct rconn *rc, enum msgr__rdma_conn_event e, int err);
static void kick(struct msgr__transport *t);
static void tend(struct rconn *rc);

/* ---- bookkeeping -------------------------------------------------------- */

static struct rconn *rconn_new(struct msgr__transport *t, int outbound)
{
	struct rconn *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->t = t;
	rc->pub.ops = t->self;
	rc->pub.outbound = outbound;
	rc->pub.via = t->name;
	rc->next = t->conns;
	if (t->conns)
		t->conns->prev = rc;
	t->conns = rc;
	return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct msgr__transport *t = h->data;

	if (--t->handles == 0) {
		if (t->shim)
			t->sops->close(t->shim);
		free(t);
	}
}

/* After fini: free once nothing can call us any more. */
static void maybe_free(struct msgr__transport *t)
{
	if (!t->fini || t->conns || t->tcp_live || !t->handles || uv_is_closing((uv_handle_t *)&t->idle))
		return;
	uv_close((uv_handle_t *)&t->idle, on_handle_closed);
	if (t->shim)
		uv_close((uv_handle_t *)&t->poll, on_handle_closed);
}

static void rconn_free(struct rconn *rc)
{
	struct msgr__transport *t = rc->t;

	if (rc->prev)
		rc->prev->next = rc->next;
	else
		t->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	free(rc);
	maybe_free(t);
}

/* Add what the shim and the engines counted since last time. */
static void count(struct msgr__transport *t)
{
	struct msgr__rshim_stats ss;

	if (t->shim) {
		t->sops->stats(t->shim, &ss);
		t->stats->rdma_rnr += ss.rnr - t->shim_seen.rnr;
		t->stats->rdma_qp_errors += ss.qp_errors - t->shim_seen.qp_errors;
		t->stats->rdma_flushes += ss.flushed - t->shim_seen.flushed;
		t->shim_seen = ss;
	}
	for (struct rconn *rc = t->conns; rc; rc = rc->next) {
		const struct msgr__rdma_link_stats *ls;

		if (!rc->el)
			continue;
		ls = msgr__rdma_link_stats(rc->el);
		t->stats->rdma_credit_stalls += ls->credit_stalls - rc->seen.credit_stalls;
		t->stats->rdma_credit_msgs += ls->credit_msgs_out - rc->seen.credit_msgs_out;
		rc->seen = *ls;
	}
}

/* ---- the engine's callbacks -------------------------------------------- */

/* Hand what arrived to the core, as far as it has a buffer posted. Only
 * from a loop callback: received() may post again or close. */
static int can_deliver(const struct rconn *rc)
{
	return rc->el && rc->cbuf && !rc->core_closed && rc->shown &&
	       (rc->st == MSGR__RC_UP || rc->st == MSGR__RC_DRAINING || rc->st == MSGR__RC_PEER_GONE) &&
	       msgr__rdma_link_readable(rc->el);
}

static void deliver(struct rconn *rc)
{
	while (can_deliver(rc)) {
		void *buf = rc->cbuf;
		size_t n = msgr__rdma_link_read(rc->el, buf, rc->clen);

		rc->cbuf = NULL;
		rc->t->ev->received(rc->t->core, &rc->pub, buf, n);
	}
}

static void el_sent(void *ctx, void *cookie, int err)
{
	struct rconn *rc = ctx;

	rc->t->ev->sent(rc->t->core, &rc->pub, cookie, err);
}

static void el_readable(void *ctx)
{
	deliver(ctx);
}

static void el_failed(void *ctx, int err, const char *why)
{
	struct rconn *rc = ctx;
	char peer[MSGR__HOSTPORT_MAX] = "?";

	if (rc->qp)
		rc->t->sops->addr(rc->qp, 1, peer, sizeof(peer));
	if (rc->st == MSGR__RC_UP || rc->st == MSGR__RC_DRAINING)
		msgr__info("rdma: link with %s: %s", peer, why);
	step(rc, MSGR__RCE_ERROR, err);
}

static const struct msgr__rdma_link_cb el_cb = { el_sent, el_readable, el_failed };

/* ---- the state machine's actions --------------------------------------- */

static int rdma_ready(const struct rconn *rc)
{
	return rc->el && msgr__rdma_link_idle(rc->el);
}

/* Raise DRAINED and IDLE whenever they hold. Only from a loop callback's
 * own level (never inside the engine's), since IDLE frees the engine. */
static void settle(struct rconn *rc)
{
	if (rc->st == MSGR__RC_DRAINING && rc->el && msgr__rdma_link_drained(rc->el))
		step(rc, MSGR__RCE_DRAINED, 0);
	if (rc->st == MSGR__RC_CLOSING || rc->st == MSGR__RC_FALLBACK ||
	    (rc->st == MSGR__RC_PEER_GONE &&
	     (rc->core_closed || !rc->shown || !rc->el || !msgr__rdma_link_readable(rc->el)))) {
		if (!rc->el || rc->dev_gone || rdma_ready(rc)) {
			if (rc->qp || rc->st != MSGR__RC_FALLBACK)
				step(rc, MSGR__RCE_IDLE, 0);
		}
	}
}

static void link_conf(const struct msgr__transport *t, struct msgr__rdma_link_conf *lc)
{
	lc->recv_depth = (uint32_t)t->conf->rdma_recv_depth;
	lc->recv_size = (uint32_t)t->conf->rdma_recv_size;
	lc->send_slots = (uint32_t)t->conf->rdma_send_slots;
}

/* Create the QP with every receive posted, then connect with our hello. */
static int do_connect(struct rconn *rc)
{
	struct msgr__transport *t = rc->t;
	struct msgr__rdma_link_conf lc;
	struct msgr__rdma_hello h;
	uint8_t pd[MSGR__RSHIM_PDATA_CONNECT];
	int r, n;

	link_conf(t, &lc);
	r = msgr__rdma_link_new(&rc->el, t->sops, t->shim, rc->qp, &lc, &el_cb, rc);
	if (r)
		return r;
	r = t->sops->create_qp(rc->qp);
	if (!r)
		r = msgr__rdma_link_post_receives(rc->el);
	if (r)
		return r;
	msgr__rdma_link_hello(rc->el, &h);
	n = msgr__rdma_hello_encode(&h, pd, sizeof(pd));
	if (n < 0)
		return n;
	return t->sops->connect(rc->qp, pd, (size_t)n);
}

static void tcp_fallback(struct rconn *rc)
{
	struct msgr__transport *t = rc->t;
	int r;

	rc->is_tcp = 1;
	rc->pub.via = "tcp";
	t->stats->rdma_fallbacks++;
	r = msgr__tcp_ops.dial(t->tcp, rc->hostport, &rc->tcp);
	if (r) {
		/* connected(r) and then closed(r), from the idle; an RDMA attempt
		 * still flushing goes first (CLOSING until its qp is released) */
		rc->tcp = NULL;
		rc->connected_due = 1;
		rc->connected_err = rc->err = r;
		if (rc->qp)
			rc->st = MSGR__RC_CLOSING;
		else
			rc->closed_due = 1;
		kick(t);
		return;
	}
	t->tcp_live++;
	rc->tcp->ctx = rc;
}

static void step(struct rconn *rc, enum msgr__rdma_conn_event e, int err)
{
	struct msgr__transport *t = rc->t;
	struct msgr__rdma_conn_step s = msgr__rdma_conn_next(rc->st, e);
	char why[160];
	int r;

	if (s.next == rc->st && !s.actions)
		return;
	if (err && !rc->err)
		rc->err = err;
	rc->st = s.next;
	if (s.actions & MSGR__RCA_CONNECT) {
		r = do_connect(rc);
		if (r) {
			msgr__info("rdma: connecting to %s: %s", rc->hostport, strerror(-r));
			step(rc, MSGR__RCE_ERROR, r);
			return;
		}
	}
	if (s.actions & MSGR__RCA_START) {
		if (rc->pub.outbound) {
			r = msgr__rdma_link_start(rc->el, &rc->peer, why, sizeof(why));
			if (r) {
				/* the core has not heard this dial succeed: it fails */
				msgr__info("rdma: %s: %s", rc->hostport, why);
				rc->connected_due = 1;
				rc->connected_err = r;
				step(rc, MSGR__RCE_ERROR, r);
				kick(t);
				return;
			}
		}
		t->stats->rdma_links++;
		rc->shown = 1;
		if (rc->pub.outbound) {
			if (!rc->core_closed)
				t->ev->connected(t->core, &rc->pub, 0);
		} else {
			t->ev->accepted(t->core, &rc->pub);
		}
		deliver(rc); /* what came before the core knew of it */
	}
	if (s.actions & MSGR__RCA_FALLBACK) {
		msgr__info("rdma: %s cannot be reached over RDMA (%s); dialling over tcp", rc->hostport,
			   rc->err ? strerror(-rc->err) : "refused");
		rc->err = 0;
		tcp_fallback(rc);
	}
	if ((s.actions & MSGR__RCA_FAIL) && rc->el)
		msgr__rdma_link_fail(rc->el, rc->err ? rc->err : -ECANCELED);
	if ((s.actions & MSGR__RCA_HALT) && rc->el)
		msgr__rdma_link_peer_gone(rc->el);
	if ((s.actions & MSGR__RCA_DISCONNECT) && rc->qp)
		t->sops->disconnect(rc->qp);
	if (s.actions & MSGR__RCA_RELEASE) {
		if (rc->el) {
			count(t);
			msgr__rdma_link_free(rc->el);
			rc->el = NULL;
		}
		if (rc->qp) {
			t->sops->destroy(rc->qp);
			t->rdma_live--;
		}
		rc->qp = NULL;
	}
	if (s.actions & MSGR__RCA_CLOSED) {
		/* from the idle, which frees it too (one never shown to the
		 * core, an accept that did not come up, just goes) */
		rc->closed_due = 1;
		kick(t);
	}
	/* DRAINED and IDLE are raised by settle(), from the loop's level only:
	 * a step may run inside an engine callback, and IDLE frees the engine */
}

/* ---- the loop's side: CM events, completions, deferred work ------------ */

static void on_request(struct msgr__transport *t, struct msgr__rshim_ev *ev)
{
	struct msgr__rdma_link_conf lc;
	struct msgr__rdma_hello mine, hello;
	uint8_t pd[MSGR__RSHIM_PDATA_ACCEPT];
	char why[160], peer[MSGR__HOSTPORT_MAX] = "?";
	struct rconn *rc = NULL;
	int r, n;

	t->sops->addr(ev->qp, 1, peer, sizeof(peer));
	if (t->fini) {
		r = -ECANCELED;
		snprintf(why, sizeof(why), "shutting down");
		goto refuse;
	}
	r = msgr__rdma_hello_decode(&hello, ev->pdata, ev->pdata_len, why, sizeof(why));
	if (r)
		goto refuse;
	if (t->rdma_live >= t->conf->rdma_max_links) {
		/* every RDMA link pins its buffers: past the bound the
		 * dialler is refused and comes over TCP */
		r = -EBUSY;
		snprintf(why, sizeof(why), "rdma.max_links (%llu) reached",
			 (unsigned long long)t->conf->rdma_max_links);
		goto refuse;
	}
	rc = rconn_new(t, 0);
	if (!rc) {
		r = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
		goto refuse;
	}
	rc->qp = ev->qp;
	rc->qp->ctx = rc;
	t->rdma_live++;
	rc->st = MSGR__RC_ACCEPTING;
	rc->peer = hello;
	link_conf(t, &lc);
	r = msgr__rdma_link_new(&rc->el, t->sops, t->shim, rc->qp, &lc, &el_cb, rc);
	if (!r)
		r = t->sops->create_qp(rc->qp);
	if (!r)
		r = msgr__rdma_link_post_receives(rc->el);
	/* started before accept: the dialler may send as soon as it has our
	 * answer, before our ESTABLISHED */
	if (!r && msgr__rdma_link_start(rc->el, &rc->peer, why, sizeof(why)))
		r = -EPROTO;
	else if (r)
		snprintf(why, sizeof(why), "%s", strerror(-r));
	if (r)
		goto refuse;
	msgr__rdma_link_hello(rc->el, &mine);
	n = msgr__rdma_hello_encode(&mine, pd, sizeof(pd));
	r = n < 0 ? n : t->sops->accept(rc->qp, pd, (size_t)n);
	if (r) {
		snprintf(why, sizeof(why), "accept: %s", strerror(-r));
		msgr__info("rdma: connection from %s: %s", peer, why);
		step(rc, MSGR__RCE_ERROR, r);
	}
	return;
refuse:
	msgr__info("rdma: refusing a connection from %s: %s", peer, why);
	t->sops->reject(ev->qp, NULL, 0);
	if (rc) {
		/* nothing was shown to the core; the qp goes once its
		 * receives (if any were posted) have flushed */
		rc->st = MSGR__RC_CLOSING;
		if (rc->el)
			msgr__rdma_link_fail(rc->el, r);
		t->sops->disconnect(rc->qp);
		settle(rc);
	} else {
		t->sops->destroy(ev->qp);
	}
}

static void on_event(struct msgr__transport *t, struct msgr__rshim_ev *ev)
{
	struct rconn *rc = ev->qp ? ev->qp->ctx : NULL;
	char why[160];

	switch (ev->type) {
	case MSGR__RSHIM_EV_CONNECT_REQUEST:
		on_request(t, ev);
		return;
	case MSGR__RSHIM_EV_DEVICE_REMOVAL:
		msgr__warn("rdma: the RDMA device is going away: its links end");
		if (!rc) {
			for (struct rconn *c = t->conns, *next; c; c = next) {
				next = c->next;
				if (c->qp) {
					c->dev_gone = 1;
					step(c, MSGR__RCE_ERROR, -ENODEV);
				}
			}
			return;
		}
		rc->dev_gone = 1;
		step(rc, MSGR__RCE_ERROR, -ENODEV);
		return;
	default:
		break;
	}
	if (!rc)
		return;
	switch (ev->type) {
	case MSGR__RSHIM_EV_ROUTE_READY:
		step(rc, MSGR__RCE_ROUTE_READY, 0);
		break;
	case MSGR__RSHIM_EV_ESTABLISHED:
		if (rc->pub.outbound &&
		    msgr__rdma_hello_decode(&rc->peer, ev->pdata, ev->pdata_len, why, sizeof(why))) {
			msgr__info("rdma: %s answered with a bad hello: %s", rc->hostport, why);
			step(rc, MSGR__RCE_ERROR, -EPROTO);
			break;
		}
		step(rc, MSGR__RCE_ESTABLISHED, 0);
		break;
	case MSGR__RSHIM_EV_REJECTED:
	case MSGR__RSHIM_EV_UNREACHABLE:
		step(rc, MSGR__RCE_REFUSED, ev->status < 0 ? ev->status : -ECONNREFUSED);
		break;
	case MSGR__RSHIM_EV_DISCONNECTED:
		step(rc, MSGR__RCE_DISCONNECTED, -ENOTCONN);
		break;
	case MSGR__RSHIM_EV_QP_ERROR:
		step(rc, MSGR__RCE_ERROR, -ECONNRESET);
		break;
	default:
		break;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct msgr__transport *t = h->data;
	struct msgr__rshim_wc wc[NWC];
	struct msgr__rshim_ev ev;
	int n;

	if (status < 0) {
		/* libuv has stopped watching: every RDMA link would hang */
		msgr__err("%s: the device's fd failed (%s): its links end", t->name, uv_strerror(status));
		for (struct rconn *rc = t->conns; rc; rc = rc->next)
			if (rc->qp) {
				rc->dev_gone = 1;
				step(rc, MSGR__RCE_ERROR, -EIO);
			}
		for (struct rconn *rc = t->conns; rc; rc = rc->next)
			tend(rc);
		return;
	}
	while (t->sops->get_event(t->shim, &ev) == 0)
		on_event(t, &ev);
	do {
		n = t->sops->poll(t->shim, wc, NWC);
		for (int i = 0; i < n; i++) {
			struct rconn *rc = wc[i].qp ? wc[i].qp->ctx : NULL;

			if (rc && rc->el)
				msgr__rdma_link_on_wc(rc->el, &wc[i]);
		}
	} while (n == NWC);
	for (struct rconn *rc = t->conns; rc; rc = rc->next)
		tend(rc);
	count(t);
}

/* From a loop callback: post what credits allow (after a failure, that
 * hands back the cancelled sends), deliver, and move on if done. Frees
 * nothing: only the idle frees. */
static void tend(struct rconn *rc)
{
	if (rc->el) {
		msgr__rdma_link_pump(rc->el);
		deliver(rc);
	}
	if (rc->qp && !rc->closed_due)
		settle(rc);
}

static int has_work(const struct rconn *rc)
{
	/* a closed() waits for the qp's release, which completions bring */
	return rc->connected_due || (rc->closed_due && !rc->qp && !rc->el) || can_deliver(rc);
}

static void on_idle(uv_idle_t *h)
{
	struct msgr__transport *t = h->data;
	int more = 0;

	/* a kick from a callback below (a core's send or close) must not be
	 * lost when this pass ends with nothing else to do */
	t->kicked = 0;
	for (struct rconn *rc = t->conns, *next; rc; rc = next) {
		next = rc->next;
		if (rc->connected_due) {
			rc->connected_due = 0;
			if (!rc->core_closed)
				t->ev->connected(t->core, &rc->pub, rc->connected_err);
		}
		tend(rc); /* what send() queued, what post_recv() can take */
		if (rc->closed_due && !rc->qp && !rc->el) {
			if (rc->shown)
				t->ev->closed(t->core, &rc->pub, rc->err);
			rconn_free(rc);
			continue;
		}
		more |= has_work(rc);
	}
	if (!more && !t->kicked && !uv_is_closing((uv_handle_t *)h))
		uv_idle_stop(h);
}

static void kick(struct msgr__transport *t)
{
	t->kicked = 1;
	if (!uv_is_closing((uv_handle_t *)&t->idle))
		uv_idle_start(&t->idle, on_idle);
}

/* ---- the inner TCP transport's events ---------------------------------- */

static void in_accepted(void *core, struct msgr__tconn *in)
{
	struct msgr__transport *t = core;
	struct rconn *rc = rconn_new(t, 0);

	t->tcp_live++;
	if (!rc) {
		in->ctx = NULL;
		msgr__tcp_ops.close(in, -ENOMEM);
		return;
	}
	rc->is_tcp = rc->shown = 1;
	rc->pub.via = "tcp";
	rc->tcp = in;
	rc->st = MSGR__RC_FALLBACK;
	in->ctx = rc;
	t->ev->accepted(t->core, &rc->pub);
}

static void in_connected(void *core, struct msgr__tconn *in, int err)
{
	struct msgr__transport *t = core;
	struct rconn *rc = in->ctx;

	if (rc && !rc->core_closed)
		t->ev->connected(t->core, &rc->pub, err);
}

static void in_received(void *core, struct msgr__tconn *in, void *buf, size_t len)
{
	struct msgr__transport *t = core;
	struct rconn *rc = in->ctx;

	if (rc)
		t->ev->received(t->core, &rc->pub, buf, len);
}

static void in_sent(void *core, struct msgr__tconn *in, void *cookie, int err)
{
	struct msgr__transport *t = core;
	struct rconn *rc = in->ctx;

	if (rc)
		t->ev->sent(t->core, &rc->pub, cookie, err);
}

static void in_closed(void *core, struct msgr__tconn *in, int err)
{
	struct msgr__transport *t = core;
	struct rconn *rc = in->ctx;

	t->tcp_live--;
	if (!rc) {
		maybe_free(t);
		return;
	}
	rc->tcp = NULL;
	if (rc->qp) {
		/* its RDMA attempt still flushes: closed() once that is done */
		rc->err = err;
		rc->shown = 1;
		rc->st = MSGR__RC_CLOSING;
		settle(rc);
		return;
	}
	t->ev->closed(t->core, &rc->pub, err);
	rconn_free(rc);
}

static const struct msgr__transport_events in_events = {
	in_accepted, in_connected, in_received, in_sent, in_closed,
};

/* ---- the ops the core calls -------------------------------------------- */

static int init_with(struct msgr__transport **out, const struct msgr__transport_ops *self,
		     const struct msgr__rshim_ops *sops, const char *name, uv_loop_t *loop, const struct msgr__transport_args *args,
		     const struct msgr__transport_events *ev, void *core, char *err, size_t errlen)
{
	struct msgr__transport *t = calloc(1, sizeof(*t));
	struct msgr__rshim_conf sc;
	char serr[256];
	int r;

	if (!t) {
		snprintf(err, errlen, "rdma: out of memory");
		return -ENOMEM;
	}
	t->loop = loop;
	t->ev = ev;
	t->core = core;
	t->conf = args && args->conf ? args->conf : &default_conf;
	t->stats = args && args->stats ? args->stats : &t->own_stats;
	t->name = name;
	t->self = self;
	t->sops = sops;
	r = msgr__tcp_ops.init(&t->tcp, loop, args, &in_events, t, err, errlen);
	if (r) {
		free(t);
		return r;
	}
	sc.max_send_wr = (unsigned)t->conf->rdma_send_slots + MSGR__RDMA_CTRL_DEPTH;
	sc.max_recv_wr = (unsigned)t->conf->rdma_recv_depth + MSGR__RDMA_CTRL_DEPTH;
	r = sops->open(&t->shim, &sc, serr, sizeof(serr));
	if (r) {
		msgr__warn("%s: %s; using tcp", name, serr);
		t->shim = NULL;
	} else if ((r = uv_poll_init(loop, &t->poll, sops->fd(t->shim))) != 0) {
		msgr__warn("%s: watching the device: %s; using tcp", name, uv_strerror(r));
		sops->close(t->shim);
		t->shim = NULL;
	} else {
		t->poll.data = t;
		t->handles++;
		r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
		if (r)
			msgr__warn("%s: watching the device: %s", name, uv_strerror(r));
	}
	uv_idle_init(loop, &t->idle);
	t->idle.data = t;
	t->handles++;
	*out = t;
	return 0;
}

static int rdma_init(struct msgr__transport **out, uv_loop_t *loop,
		     const struct msgr__transport_args *args, const struct msgr__transport_events *ev,
		     void *core, char *err, size_t errlen)
{
	return init_with(out, &msgr__rdma_ops, &msgr__rshim_verbs_ops, "rdma", loop, args, ev, core, err, errlen);
}

static int fake_init(struct msgr__transport **out, uv_loop_t *loop,
		     const struct msgr__transport_args *args, const struct msgr__transport_events *ev,
		     void *core, char *err, size_t errlen)
{
	return init_with(out, &msgr__rdma_fake_ops, &msgr__rshim_fake_ops, "rdma-fake", loop, args, ev, core, err, errlen);
}

static int rdma_listen(struct msgr__transport *t, const char *hostport)
{
	int r = msgr__tcp_ops.listen(t->tcp, hostport); /* and its checks */

	if (r || !t->shim)
		return r;
	r = t->sops->listen(t->shim, hostport);
	if (r)
		msgr__warn("%s: listen on %s: %s; accepting over tcp only", t->name, hostport, strerror(-r));
	return 0;
}

static int rdma_dial(struct msgr__transport *t, const char *hostport, struct msgr__tconn **out)
{
	struct sockaddr_storage ss;
	struct rconn *rc;
	int r;

	if (t->fini)
		return -ECANCELED;
	/* what TCP would refuse is refused here too, before any attempt */
	if (strlen(hostport) >= sizeof(rc->hostport) || msgr__hostport_sockaddr(hostport, &ss))
		return -EINVAL;
	rc = rconn_new(t, 1);
	if (!rc)
		return -ENOMEM;
	snprintf(rc->hostport, sizeof(rc->hostport), "%s", hostport);
	rc->shown = 1;
	if (!t->shim) {
		rc->is_tcp = 1;
		rc->pub.via = "tcp";
		rc->st = MSGR__RC_FALLBACK;
		r = msgr__tcp_ops.dial(t->tcp, hostport, &rc->tcp);
		if (r)
			goto fail;
		t->tcp_live++;
		rc->tcp->ctx = rc;
		*out = &rc->pub;
		return 0;
	}
	if (t->rdma_live >= t->conf->rdma_max_links)
		r = -EBUSY; /* rdma.max_links: this peer goes over TCP */
	else
		r = t->sops->dial(t->shim, hostport, &rc->qp);
	if (r) {
		/* no route to even try: straight to TCP, from the loop */
		rc->qp = NULL;
		rc->st = MSGR__RC_FALLBACK;
		msgr__info("%s: %s cannot be reached over RDMA (%s); dialling over tcp", t->name, hostport,
			   r == -EBUSY ? "rdma.max_links reached" : strerror(-r));
		tcp_fallback(rc);
		*out = &rc->pub;
		return 0;
	}
	t->rdma_live++;
	rc->qp->ctx = rc;
	rc->st = MSGR__RC_RESOLVING;
	*out = &rc->pub;
	return 0;
fail:
	rconn_free(rc);
	return r;
}

static int rdma_send(struct msgr__tconn *l, const struct iovec *iov, int n, void *cookie)
{
	struct rconn *rc = (struct rconn *)l;
	int r;

	if (rc->is_tcp)
		return rc->tcp ? msgr__tcp_ops.send(rc->tcp, iov, n, cookie) : -ENOTCONN;
	if (rc->core_closed || (rc->st != MSGR__RC_UP))
		return -ENOTCONN;
	r = msgr__rdma_link_send(rc->el, iov, n, cookie);
	if (!r)
		kick(rc->t); /* posted from the idle: pump may call back */
	return r;
}

static size_t rdma_send_queued(struct msgr__tconn *l)
{
	struct rconn *rc = (struct rconn *)l;

	if (rc->is_tcp)
		return rc->tcp ? msgr__tcp_ops.send_queued(rc->tcp) : 0;
	return rc->el ? msgr__rdma_link_queued(rc->el) : 0;
}

static int rdma_post_recv(struct msgr__tconn *l, void *buf, size_t len)
{
	struct rconn *rc = (struct rconn *)l;

	if (rc->is_tcp)
		return rc->tcp ? msgr__tcp_ops.post_recv(rc->tcp, buf, len) : -ENOTCONN;
	if (rc->core_closed)
		return -ENOTCONN;
	if (!buf || !len)
		return -EINVAL;
	rc->cbuf = buf;
	rc->clen = len;
	if (rc->el && msgr__rdma_link_readable(rc->el))
		kick(rc->t);
	return 0;
}

static int rdma_reg_mem(struct msgr__transport *t, void *base, size_t len)
{
	/* The core sends from its own frame buffers, which the engine copies
	 * into registered send slots; pools are not registered until the
	 * core sends from them. */
	return 0;
}

static int rdma_addr(struct msgr__tconn *l, int peer, char *buf, size_t len)
{
	struct rconn *rc = (struct rconn *)l;

	if (rc->is_tcp)
		return rc->tcp ? msgr__tcp_ops.addr(rc->tcp, peer, buf, len) : -ENOTCONN;
	if (rc->qp)
		return rc->t->sops->addr(rc->qp, peer, buf, len);
	return -ENOTCONN;
}

static void rdma_close(struct msgr__tconn *l, int err)
{
	struct rconn *rc = (struct rconn *)l;

	if (rc->is_tcp) {
		rc->core_closed = 1;
		if (rc->tcp)
			msgr__tcp_ops.close(rc->tcp, err);
		return;
	}
	if (rc->core_closed && !err)
		return;
	rc->core_closed = 1;
	rc->cbuf = NULL;
	rc->connected_due = 0;
	step(rc, err ? MSGR__RCE_ABORT : MSGR__RCE_CLOSE, err);
	kick(rc->t); /* cancelled sends and closed() come from the idle */
}

static void rdma_fini(struct msgr__transport *t)
{
	t->fini = 1;
	msgr__tcp_ops.fini(t->tcp);
	for (struct rconn *rc = t->conns, *next; rc; rc = next) {
		next = rc->next;
		if (!rc->is_tcp) {
			step(rc, MSGR__RCE_ABORT, -ECANCELED);
		} else if (!rc->tcp && !rc->closed_due && !rc->qp) {
			rc->closed_due = 1; /* a fallback that never got its TCP link */
		}
	}
	kick(t); /* every connection tended once more: some wait for nothing else */
	maybe_free(t);
}

/* The two tables differ in their name and init (which shim) only. */
#define RDMA_OPS(nm, initf)                                                     \
	{                                                                       \
		.name = (nm), .init = (initf), .listen = rdma_listen, .dial = rdma_dial, \
		.send = rdma_send, .send_queued = rdma_send_queued,             \
		.post_recv = rdma_post_recv, .reg_mem = rdma_reg_mem, .addr = rdma_addr, \
		.close = rdma_close, .fini = rdma_fini,                         \
	}

const struct msgr__transport_ops msgr__rdma_ops = RDMA_OPS("rdma", rdma_init);
const struct msgr__transport_ops msgr__rdma_fake_ops = RDMA_OPS("rdma-fake", fake_init);
