/*
 * rdma_loopback.h - a minimal in-process shim (rdma_shim.h's ops table) for
 * test_rdma_engine.c, standing in for the fake (rdma_fake.c) where that is
 * not built in: queue pairs are structs paired in memory, SENDs wait on a
 * per-qp wire until the sender's shim is polled, then land in the peer's
 * oldest posted receive. It keeps the rules the engine relies on: one
 * completion per request, FLUSH for everything posted when a qp goes to
 * error, in-order completions, no posting to a qp in error, and an RNR
 * (counted, both qps to error) for a SEND that finds no receive. Faults
 * are rdma_fake.h's, through lb_inject.
 */
#ifndef MSGR_TESTS_RDMA_LOOPBACK_H
#define MSGR_TESTS_RDMA_LOOPBACK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/rdma_fake.h"
#include "transports/rdma_shim.h"

/* A growable FIFO of fixed-size elements. */
struct lb_fifo {
	uint8_t *a;
	size_t esz, head, n, cap;
};

static void lb_fifo_push(struct lb_fifo *f, const void *e)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		uint8_t *a = malloc(cap * f->esz);

		if (!a)
			abort();
		for (size_t i = 0; i < f->n; i++)
			memcpy(a + i * f->esz, f->a + ((f->head + i) % f->cap) * f->esz, f->esz);
		free(f->a);
		f->a = a;
		f->head = 0;
		f->cap = cap;
	}
	memcpy(f->a + ((f->head + f->n) % f->cap) * f->esz, e, f->esz);
	f->n++;
}

static int lb_fifo_pop(struct lb_fifo *f, void *e)
{
	if (!f->n)
		return 0;
	memcpy(e, f->a + f->head * f->esz, f->esz);
	f->head = (f->head + 1) % f->cap;
	f->n--;
	return 1;
}

struct lb_shim;

struct lb_wr {
	uint64_t wr_id;
	void *buf;
	uint32_t len;
};

struct lb_msg {
	uint64_t wr_id;
	uint32_t len;
	uint8_t *data; /* owned */
};

/* Lives from dial() or connect() (passive side) until destroy() or close(). */
struct lb_qp {
	struct msgr__rshim_qp pub; /* first */
	struct lb_shim *s;
	struct lb_qp *peer;     /* NULL before connect, or once the peer is destroyed */
	struct lb_shim *target; /* dial: the listener's shim */
	int err;                /* in error: posts refused, all flushed */
	int disc;               /* EV_DISCONNECTED given */
	int fault_rnr, fault_retry;
	struct lb_fifo rq;      /* struct lb_wr: receives posted, oldest first */
	struct lb_fifo wire;    /* struct lb_msg: SENDs posted, not yet carried */
	struct lb_qp *next;     /* s->qps */
};

struct lb_mr {
	struct msgr__rshim_mr pub;
};

struct lb_shim {
	struct lb_qp *qps;
	char listen[64];         /* "" when not listening */
	struct lb_fifo ev;       /* struct msgr__rshim_ev */
	struct lb_fifo wc;       /* struct msgr__rshim_wc */
	struct msgr__rshim_stats st;
	uint32_t lkey;
	uint64_t rng;
};

#define LB_MAX_SHIMS 16
static struct lb_shim *lb_all[LB_MAX_SHIMS];

static uint64_t lb_rnd(struct lb_shim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

static void lb_event(struct lb_shim *s, enum msgr__rshim_ev_type t, struct lb_qp *qp, const void *pd,
		     size_t len)
{
	struct msgr__rshim_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = t;
	ev.qp = qp ? &qp->pub : NULL;
	if (pd && len) {
		memcpy(ev.pdata, pd, len);
		ev.pdata_len = (uint8_t)len;
	}
	lb_fifo_push(&s->ev, &ev);
}

static void lb_wc(struct lb_shim *s, struct lb_qp *qp, uint64_t wr_id, enum msgr__rshim_wc_op op,
		  enum msgr__rshim_wc_status st, uint32_t len)
{
	struct msgr__rshim_wc wc = { &qp->pub, wr_id, op, st, len };

	if (st == MSGR__RSHIM_WC_FLUSH)
		s->st.flushed++;
	lb_fifo_push(&s->wc, &wc);
}

/* The qp goes to error: everything posted completes FLUSH. */
static void lb_qp_error(struct lb_qp *qp)
{
	struct lb_wr w;
	struct lb_msg m;

	if (qp->err)
		return;
	qp->err = 1;
	qp->s->st.qp_errors++;
	while (lb_fifo_pop(&qp->rq, &w))
		lb_wc(qp->s, qp, w.wr_id, MSGR__RSHIM_WC_RECV, MSGR__RSHIM_WC_FLUSH, 0);
	while (lb_fifo_pop(&qp->wire, &m)) {
		lb_wc(qp->s, qp, m.wr_id, MSGR__RSHIM_WC_SEND, MSGR__RSHIM_WC_FLUSH, 0);
		free(m.data);
	}
	lb_event(qp->s, MSGR__RSHIM_EV_QP_ERROR, qp, NULL, 0);
}

static int lb_open(struct msgr__rshim **out, const struct msgr__rshim_conf *conf, char *err,
		   size_t errlen)
{
	struct lb_shim *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->ev.esz = sizeof(struct msgr__rshim_ev);
	s->wc.esz = sizeof(struct msgr__rshim_wc);
	s->rng = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < LB_MAX_SHIMS; i++) {
		if (!lb_all[i]) {
			lb_all[i] = s;
			s->rng += (uint64_t)i;
			*out = (struct msgr__rshim *)s;
			return 0;
		}
	}
	free(s);
	snprintf(err, errlen, "loopback: too many shims");
	return -EMFILE;
}

static void lb_destroy(struct msgr__rshim_qp *pub)
{
	struct lb_qp *qp = (struct lb_qp *)pub, **pp;
	struct lb_msg m;

	for (pp = &qp->s->qps; *pp; pp = &(*pp)->next) {
		if (*pp == qp) {
			*pp = qp->next;
			break;
		}
	}
	if (qp->peer)
		qp->peer->peer = NULL;
	while (lb_fifo_pop(&qp->wire, &m))
		free(m.data);
	free(qp->rq.a);
	free(qp->wire.a);
	free(qp);
}

static void lb_close(struct msgr__rshim *ps)
{
	struct lb_shim *s = (struct lb_shim *)ps;

	while (s->qps)
		lb_destroy(&s->qps->pub);
	for (int i = 0; i < LB_MAX_SHIMS; i++)
		if (lb_all[i] == s)
			lb_all[i] = NULL;
	free(s->ev.a);
	free(s->wc.a);
	free(s);
}

static int lb_fd(struct msgr__rshim *s)
{
	return -1; /* nothing to wait for: everything happens in poll() */
}

static int lb_listen(struct msgr__rshim *ps, const char *hp)
{
	struct lb_shim *s = (struct lb_shim *)ps;

	snprintf(s->listen, sizeof(s->listen), "%s", hp);
	return 0;
}

static struct lb_qp *lb_new_qp(struct lb_shim *s)
{
	struct lb_qp *qp = calloc(1, sizeof(*qp));

	if (!qp)
		abort();
	qp->s = s;
	qp->rq.esz = sizeof(struct lb_wr);
	qp->wire.esz = sizeof(struct lb_msg);
	qp->next = s->qps;
	s->qps = qp;
	return qp;
}

static int lb_dial(struct msgr__rshim *ps, const char *hp, struct msgr__rshim_qp **out)
{
	struct lb_shim *s = (struct lb_shim *)ps;
	struct lb_qp *qp = lb_new_qp(s);

	for (int i = 0; i < LB_MAX_SHIMS; i++)
		if (lb_all[i] && !strcmp(lb_all[i]->listen, hp))
			qp->target = lb_all[i];
	lb_event(s, qp->target ? MSGR__RSHIM_EV_ROUTE_READY : MSGR__RSHIM_EV_UNREACHABLE, qp, NULL, 0);
	*out = &qp->pub;
	return 0;
}

static int lb_create_qp(struct msgr__rshim_qp *qp)
{
	return 0;
}

static int lb_connect(struct msgr__rshim_qp *pub, const void *pd, size_t len)
{
	struct lb_qp *qp = (struct lb_qp *)pub, *pq;

	if (!qp->target || len > MSGR__RSHIM_PDATA_CONNECT)
		return -EINVAL;
	pq = lb_new_qp(qp->target);
	pq->peer = qp;
	qp->peer = pq;
	lb_event(qp->target, MSGR__RSHIM_EV_CONNECT_REQUEST, pq, pd, len);
	return 0;
}

static int lb_accept(struct msgr__rshim_qp *pub, const void *pd, size_t len)
{
	struct lb_qp *qp = (struct lb_qp *)pub;

	if (!qp->peer || len > MSGR__RSHIM_PDATA_ACCEPT)
		return -EINVAL;
	lb_event(qp->peer->s, MSGR__RSHIM_EV_ESTABLISHED, qp->peer, pd, len);
	lb_event(qp->s, MSGR__RSHIM_EV_ESTABLISHED, qp, NULL, 0);
	return 0;
}

static int lb_reject(struct msgr__rshim_qp *pub, const void *pd, size_t len)
{
	struct lb_qp *qp = (struct lb_qp *)pub;

	if (qp->peer)
		lb_event(qp->peer->s, MSGR__RSHIM_EV_REJECTED, qp->peer, pd, len);
	return 0;
}

static int lb_disconnect(struct msgr__rshim_qp *pub)
{
	struct lb_qp *qp = (struct lb_qp *)pub;

	if (qp->disc)
		return 0;
	qp->disc = 1;
	lb_qp_error(qp);
	lb_event(qp->s, MSGR__RSHIM_EV_DISCONNECTED, qp, NULL, 0);
	if (qp->peer && !qp->peer->disc) {
		qp->peer->disc = 1;
		lb_qp_error(qp->peer);
		lb_event(qp->peer->s, MSGR__RSHIM_EV_DISCONNECTED, qp->peer, NULL, 0);
	}
	return 0;
}

static int lb_get_event(struct msgr__rshim *ps, struct msgr__rshim_ev *ev)
{
	struct lb_shim *s = (struct lb_shim *)ps;

	return lb_fifo_pop(&s->ev, ev) ? 0 : -EAGAIN;
}

/* Carry one SEND of qp to its peer. */
static void lb_carry(struct lb_qp *qp)
{
	struct lb_qp *pq = qp->peer;
	struct lb_msg m;
	struct lb_wr w;

	if (!lb_fifo_pop(&qp->wire, &m))
		return;
	if (qp->fault_retry || !pq || pq->err) {
		/* Nobody acks: transport retries run out. */
		qp->fault_retry = 0;
		lb_wc(qp->s, qp, m.wr_id, MSGR__RSHIM_WC_SEND, MSGR__RSHIM_WC_RETRY, 0);
		free(m.data);
		lb_qp_error(qp);
		return;
	}
	if (pq->fault_rnr || !lb_fifo_pop(&pq->rq, &w)) {
		/* No receive, and we run with no RNR retry. */
		pq->fault_rnr = 0;
		pq->s->st.rnr++;
		lb_wc(qp->s, qp, m.wr_id, MSGR__RSHIM_WC_SEND, MSGR__RSHIM_WC_RNR, 0);
		free(m.data);
		lb_qp_error(qp);
		lb_qp_error(pq);
		return;
	}
	if (m.len > w.len) {
		lb_wc(pq->s, pq, w.wr_id, MSGR__RSHIM_WC_RECV, MSGR__RSHIM_WC_LEN, 0);
		lb_wc(qp->s, qp, m.wr_id, MSGR__RSHIM_WC_SEND, MSGR__RSHIM_WC_OTHER, 0);
		free(m.data);
		lb_qp_error(pq);
		lb_qp_error(qp);
		return;
	}
	memcpy(w.buf, m.data, m.len);
	free(m.data);
	lb_wc(pq->s, pq, w.wr_id, MSGR__RSHIM_WC_RECV, MSGR__RSHIM_WC_OK, m.len);
	lb_wc(qp->s, qp, m.wr_id, MSGR__RSHIM_WC_SEND, MSGR__RSHIM_WC_OK, 0);
}

static int lb_poll(struct msgr__rshim *ps, struct msgr__rshim_wc *wc, int n)
{
	struct lb_shim *s = (struct lb_shim *)ps;
	int got = 0;

	/* A few SENDs per qp per poll, so that several are in flight at
	 * once and completions interleave with new posts. */
	for (struct lb_qp *qp = s->qps; qp; qp = qp->next)
		for (uint64_t k = lb_rnd(s) % 4 + 1; k-- && qp->wire.n;)
			lb_carry(qp);
	while (got < n && lb_fifo_pop(&s->wc, &wc[got]))
		got++;
	return got;
}

static int lb_reg_mr(struct msgr__rshim *ps, void *base, size_t len, struct msgr__rshim_mr **out)
{
	struct lb_shim *s = (struct lb_shim *)ps;
	struct lb_mr *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return -ENOMEM;
	mr->pub.lkey = ++s->lkey;
	*out = &mr->pub;
	return 0;
}

static void lb_dereg_mr(struct msgr__rshim_mr *mr)
{
	free(mr);
}

static int lb_post_recv(struct msgr__rshim_qp *pub, uint64_t wr_id, void *buf, uint32_t len,
			struct msgr__rshim_mr *mr)
{
	struct lb_qp *qp = (struct lb_qp *)pub;
	struct lb_wr w = { wr_id, buf, len };

	if (qp->err)
		return -ENOTCONN;
	if (!mr)
		return -EINVAL;
	lb_fifo_push(&qp->rq, &w);
	return 0;
}

static int lb_post_send(struct msgr__rshim_qp *pub, uint64_t wr_id, const struct msgr__rshim_sge *sge,
			int nsge)
{
	struct lb_qp *qp = (struct lb_qp *)pub;
	struct lb_msg m = { wr_id, 0, NULL };

	if (qp->err)
		return -ENOTCONN;
	if (nsge < 1 || nsge > MSGR__RSHIM_MAX_SGE)
		return -EINVAL;
	for (int i = 0; i < nsge; i++) {
		if (!sge[i].mr)
			return -EINVAL;
		m.len += sge[i].len;
	}
	m.data = malloc(m.len ? m.len : 1);
	if (!m.data)
		return -ENOMEM;
	for (uint32_t i = 0, o = 0; i < (uint32_t)nsge; o += sge[i].len, i++)
		memcpy(m.data + o, sge[i].addr, sge[i].len);
	lb_fifo_push(&qp->wire, &m);
	return 0;
}

static int lb_addr(struct msgr__rshim_qp *qp, int peer, char *buf, size_t len)
{
	return snprintf(buf, len, "loopback:%d", peer) < (int)len ? 0 : -ENOSPC;
}

static void lb_stats(struct msgr__rshim *ps, struct msgr__rshim_stats *st)
{
	*st = ((struct lb_shim *)ps)->st;
}

static int lb_inject(struct msgr__rshim *ps, struct msgr__rshim_qp *pub, enum msgr__rshim_fake_fault f)
{
	struct lb_qp *qp = (struct lb_qp *)pub;

	if (!qp)
		return -EINVAL;
	switch (f) {
	case MSGR__RFAKE_RNR:
		qp->fault_rnr = 1;
		return 0;
	case MSGR__RFAKE_RETRY:
		qp->fault_retry = 1;
		return 0;
	case MSGR__RFAKE_FLUSH:
		lb_qp_error(qp);
		return 0;
	case MSGR__RFAKE_DISCONNECT:
		qp->disc = 1;
		lb_qp_error(qp);
		lb_event(qp->s, MSGR__RSHIM_EV_DISCONNECTED, qp, NULL, 0);
		return 0;
	default:
		return -EINVAL;
	}
}

static const struct msgr__rshim_ops lb_ops = {
	.name = "loopback",
	.open = lb_open,
	.close = lb_close,
	.fd = lb_fd,
	.listen = lb_listen,
	.dial = lb_dial,
	.create_qp = lb_create_qp,
	.connect = lb_connect,
	.accept = lb_accept,
	.reject = lb_reject,
	.disconnect = lb_disconnect,
	.destroy = lb_destroy,
	.get_event = lb_get_event,
	.poll = lb_poll,
	.reg_mr = lb_reg_mr,
	.dereg_mr = lb_dereg_mr,
	.post_recv = lb_post_recv,
	.post_send = lb_post_send,
	.addr = lb_addr,
	.stats = lb_stats,
};

#endif
