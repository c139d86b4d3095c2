/*
 * test_rdma_fake.c - Check suite for transports/rdma_fake.c, driven through
 * its ops table as the RDMA transport drives it: two shims in one process,
 * A dials, B listens.
 *
 *   handshake   dial, ROUTE_READY, connect, CONNECT_REQUEST, accept,
 *               ESTABLISHED on both sides; private data both ways, zero
 *               padded to the fixed sizes; addresses
 *   local_addr  the dialler's address is its listener's host
 *   send        bytes and byte_len, FIFO receives, SGE gathering, a zero-byte
 *               SEND, one larger than a fragment; post argument checks
 *   rnr         no receive posted (or RNR injected): both QPs go to error,
 *               every posted request flushes once
 *   len         a SEND larger than its receive (also across fragments)
 *   retry, flush, inj_disconnect, device_removal: the injected faults
 *               (a second DEVICE_REMOVAL is no news)
 *   reject      reject() with private data, and REJECT_ALL
 *   unreachable a dial nobody listens for; bad names
 *   pending     sends beyond what the socket holds wait, then all arrive in
 *               order; or, when the QP errors meanwhile, each completes once
 *   emfile      out of descriptors: the listener is not watched, no spin
 *   disconnect  an orderly disconnect from one side; idempotent
 *   destroy     queued events and completions of a destroyed qp never come out
 *   readable    fd() is readable exactly while there is work
 *   hostile     malformed packets from a raw socket
 *
 * Nothing assumes an event is already there: every wait drains both shims
 * and sleeps in poll(2) on their fds, up to a deadline. Every test checks
 * that each work request it posted completed exactly once.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "transports/rdma_fake.h"
#include "tests/unit/unit.h"

static const struct msgr__rshim_ops *ops = &msgr__rshim_fake_ops;

#define MAXEV 64
#define MAXWC 512
#define RB 4096      /* bytes per small receive buffer */
#define NR 8         /* small receive buffers per side */
#define PDC MSGR__RSHIM_PDATA_CONNECT
#define PDA MSGR__RSHIM_PDATA_ACCEPT

/* rdma_fake.c's wire, as the top of that file describes it (hostile test) */
enum { PK_CONNECT_REQ = 1, PK_ACCEPT, PK_REJECT, PK_DATA_MORE, PK_DATA, PK_DISCONNECT, PK_ERROR };
#define FRAG (64 * 1024)

/* wr_id ranges: receives and sends, per side */
#define RA 1000
#define RBB 2000
#define SA 3000
#define SB 4000

/* One shim and everything that came out of it. Owned by the test; reset
 * by setup. */
struct side {
	const char *name;
	struct msgr__rshim *s;
	struct msgr__rshim_mr *mr;
	struct msgr__rshim_ev ev[MAXEV];
	int nev, evpos;         /* events logged; the next one a test has not checked */
	struct msgr__rshim_wc wc[MAXWC];
	int nwc;
	uint8_t rbuf[NR][RB];
};

static struct side A, B;
static char hp[64]; /* what B listens on */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Take every event and completion the shim has now. */
static void drain(struct side *d)
{
	struct msgr__rshim_ev ev;
	int n;

	while (ops->get_event(d->s, &ev) == 0) {
		ck_assert_int_lt(d->nev, MAXEV);
		d->ev[d->nev++] = ev;
	}
	do {
		ck_assert_int_lt(d->nwc, MAXWC);
		n = ops->poll(d->s, d->wc + d->nwc, MAXWC - d->nwc < 16 ? MAXWC - d->nwc : 16);
		ck_assert_int_ge(n, 0);
		d->nwc += n;
	} while (n > 0);
}

static void wait_fds(int ms)
{
	struct pollfd p[2] = { { .fd = ops->fd(A.s), .events = POLLIN },
			       { .fd = ops->fd(B.s), .events = POLLIN } };

	poll(p, 2, ms);
}

/* Drive both shims until cond holds; fail after 5 s. */
#define WAIT_UNTIL(cond)                                                                    \
	do {                                                                                \
		uint64_t dl_ = now_ms() + 5000;                                             \
		while (drain(&A), drain(&B), !(cond)) {                                     \
			ck_assert_msg(now_ms() < dl_, "timed out waiting for %s", #cond);   \
			wait_fds(50);                                                       \
		}                                                                           \
	} while (0)

/* Drive both shims for a while, for checks that nothing (more) happens. */
static void settle(void)
{
	uint64_t dl = now_ms() + 100;

	while (now_ms() < dl) {
		drain(&A);
		drain(&B);
		wait_fds(10);
	}
	drain(&A);
	drain(&B);
}

static int readable(struct side *d)
{
	struct pollfd p = { .fd = ops->fd(d->s), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* The next event of d, which must be of type t (and of qp, if not NULL). */
static struct msgr__rshim_ev *next_ev(struct side *d, enum msgr__rshim_ev_type t, struct msgr__rshim_qp *qp)
{
	struct msgr__rshim_ev *ev;

	WAIT_UNTIL(d->nev > d->evpos);
	ev = &d->ev[d->evpos++];
	ck_assert_msg(ev->type == t, "%s: event %d, expected %d", d->name, ev->type, t);
	if (qp)
		ck_assert_ptr_eq(ev->qp, qp);
	return ev;
}

static void no_more_events(void)
{
	settle();
	ck_assert_msg(A.nev == A.evpos, "A: %d unexpected events (first %d)", A.nev - A.evpos,
		      A.ev[A.evpos].type);
	ck_assert_msg(B.nev == B.evpos, "B: %d unexpected events (first %d)", B.nev - B.evpos,
		      B.ev[B.evpos].type);
}

static int count_wc(struct side *d, uint64_t wr_id)
{
	int n = 0;

	for (int i = 0; i < d->nwc; i++)
		n += d->wc[i].wr_id == wr_id;
	return n;
}

/* The one completion of wr_id, which must have status st. */
static struct msgr__rshim_wc *wc_of(struct side *d, uint64_t wr_id, enum msgr__rshim_wc_status st)
{
	struct msgr__rshim_wc *w = NULL;

	WAIT_UNTIL(count_wc(d, wr_id) > 0);
	for (int i = 0; i < d->nwc; i++)
		if (d->wc[i].wr_id == wr_id)
			w = &d->wc[i];
	ck_assert_msg(count_wc(d, wr_id) == 1, "%s: wr %llu completed %d times", d->name,
		      (unsigned long long)wr_id, count_wc(d, wr_id));
	ck_assert_msg(w->status == st, "%s: wr %llu status %d, expected %d", d->name,
		      (unsigned long long)wr_id, w->status, st);
	return w;
}

static void post_recvs(struct side *d, struct msgr__rshim_qp *qp, uint64_t base, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(ops->post_recv(qp, base + i, d->rbuf[i], RB, d->mr), 0);
}

static int send1(struct msgr__rshim_qp *qp, uint64_t wr_id, const void *p, uint32_t len, struct side *d)
{
	struct msgr__rshim_sge sge = { (void *)p, len, d->mr };

	return ops->post_send(qp, wr_id, &sge, 1);
}

/* An established pair, nra and nrb receives posted on A and B. */
static void pair(struct msgr__rshim_qp **qa, struct msgr__rshim_qp **qb, int nra, int nrb)
{
	ck_assert_int_eq(ops->dial(A.s, hp, qa), 0);
	next_ev(&A, MSGR__RSHIM_EV_ROUTE_READY, *qa);
	ck_assert_int_eq(ops->create_qp(*qa), 0);
	post_recvs(&A, *qa, RA, nra);
	ck_assert_int_eq(ops->connect(*qa, NULL, 0), 0);
	*qb = next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL)->qp;
	ck_assert_int_eq(ops->create_qp(*qb), 0);
	post_recvs(&B, *qb, RBB, nrb);
	ck_assert_int_eq(ops->accept(*qb, NULL, 0), 0);
	next_ev(&B, MSGR__RSHIM_EV_ESTABLISHED, *qb);
	next_ev(&A, MSGR__RSHIM_EV_ESTABLISHED, *qa);
}

static void setup(void)
{
	static const struct msgr__rshim_conf conf = { .max_send_wr = 64, .max_recv_wr = 64 };
	char err[128];
	int r = -EADDRINUSE;

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.name = "A";
	B.name = "B";
	ck_assert_int_eq(ops->open(&A.s, &conf, err, sizeof(err)), 0);
	ck_assert_int_eq(ops->open(&B.s, &conf, err, sizeof(err)), 0);
	ck_assert_int_eq(ops->reg_mr(A.s, A.rbuf, sizeof(A.rbuf), &A.mr), 0);
	ck_assert_int_eq(ops->reg_mr(B.s, B.rbuf, sizeof(B.rbuf), &B.mr), 0);
	/* the names are per network namespace, like ports: find a free one */
	for (int i = 0; i < 200 && r == -EADDRINUSE; i++) {
		snprintf(hp, sizeof(hp), "127.0.0.1:%d", 20000 + (getpid() * 7 + i) % 40000);
		r = ops->listen(B.s, hp);
	}
	ck_assert_int_eq(r, 0);
	ck_assert(!readable(&A) && !readable(&B));
}

static void teardown(void)
{
	ops->dereg_mr(A.mr);
	ops->dereg_mr(B.mr);
	ops->close(A.s);
	ops->close(B.s);
}

START_TEST(test_handshake)
{
	static const uint8_t zero[PDA];
	struct msgr__rshim_qp *qa, *qb;
	struct msgr__rshim_ev *ev;
	struct msgr__rshim_stats st;
	char name[128], mine[128];

	ck_assert_int_eq(ops->dial(A.s, hp, &qa), 0);
	ck_assert_ptr_nonnull(qa);
	next_ev(&A, MSGR__RSHIM_EV_ROUTE_READY, qa);
	ck_assert_int_eq(ops->connect(qa, "x", 1), -EINVAL); /* no QP yet */
	ck_assert_int_eq(ops->create_qp(qa), 0);
	ck_assert_int_eq(ops->create_qp(qa), -EEXIST);
	post_recvs(&A, qa, RA, 2);
	ck_assert_int_eq(ops->connect(qa, zero, PDC + 1), -EINVAL);
	ck_assert_int_eq(ops->connect(qa, "hello", 5), 0);
	ck_assert_int_eq(ops->connect(qa, "hello", 5), -EINVAL);

	ev = next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL);
	qb = ev->qp;
	ck_assert_ptr_nonnull(qb);
	ck_assert_int_eq(ev->status, 0);
	ck_assert_int_eq(ev->pdata_len, PDC);
	ck_assert_int_eq(memcmp(ev->pdata, "hello", 5), 0);
	ck_assert_int_eq(memcmp(ev->pdata + 5, zero, PDC - 5), 0);

	/* addresses: A's peer is what it dialled, B's local its listener's,
	 * B's peer A's own (A listens nowhere: the host it dialled) */
	ck_assert_int_eq(ops->addr(qa, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, hp);
	ck_assert_int_eq(ops->addr(qb, 0, name, sizeof(name)), 0);
	ck_assert_str_eq(name, hp);
	ck_assert_int_eq(ops->addr(qa, 0, mine, sizeof(mine)), 0);
	ck_assert_int_eq(strncmp(mine, "127.0.0.1:", 10), 0);
	ck_assert_int_ge(atoi(mine + 10), 32768);
	ck_assert_int_eq(ops->addr(qb, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, mine);
	ck_assert_int_eq(ops->addr(qb, 1, name, 5), -ENOSPC);

	ck_assert_int_eq(ops->accept(qb, "w", 1), -EINVAL); /* no QP yet */
	ck_assert_int_eq(ops->create_qp(qb), 0);
	post_recvs(&B, qb, RBB, 2);
	ck_assert_int_eq(ops->accept(qb, zero, PDA + 1), -EINVAL);
	ck_assert_int_eq(ops->accept(qb, "welcome", 7), 0);
	ck_assert_int_eq(ops->accept(qb, "welcome", 7), -EINVAL);
	ck_assert_int_eq(ops->reject(qb, NULL, 0), -EINVAL);
	ev = next_ev(&B, MSGR__RSHIM_EV_ESTABLISHED, qb);
	ck_assert_int_eq(ev->pdata_len, 0);
	ev = next_ev(&A, MSGR__RSHIM_EV_ESTABLISHED, qa);
	ck_assert_int_eq(ev->status, 0);
	ck_assert_int_eq(ev->pdata_len, PDA);
	ck_assert_int_eq(memcmp(ev->pdata, "welcome", 7), 0);
	ck_assert_int_eq(memcmp(ev->pdata + 7, zero, PDA - 7), 0);

	no_more_events();
	ck_assert_int_eq(A.nwc + B.nwc, 0);
	ops->stats(A.s, &st);
	ck_assert(st.rnr == 0 && st.qp_errors == 0 && st.flushed == 0);
	ck_assert(!readable(&A) && !readable(&B));
}
END_TEST

START_TEST(test_local_addr)
{
	struct msgr__rshim_qp *qa, *qb;
	char name[128], mine[128];
	int r = -EADDRINUSE;

	for (int i = 0; i < 200 && r == -EADDRINUSE; i++) {
		snprintf(name, sizeof(name), "127.0.0.3:%d", 20000 + (getpid() * 11 + i) % 40000);
		r = ops->listen(A.s, name);
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(ops->listen(A.s, name), -EALREADY);
	pair(&qa, &qb, 0, 0);
	ck_assert_int_eq(ops->addr(qa, 0, mine, sizeof(mine)), 0);
	ck_assert_int_eq(strncmp(mine, "127.0.0.3:", 10), 0);
	ck_assert_int_eq(ops->addr(qb, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, mine);
}
END_TEST

START_TEST(test_send)
{
	struct msgr__rshim_qp *qa, *qb;
	struct msgr__rshim_sge sge[5];
	struct msgr__rshim_wc *w;
	size_t big = 3 * FRAG + 123;
	uint8_t *tx = malloc(big), *rx = malloc(big);
	static uint8_t one;

	pair(&qa, &qb, 3, 2);
	/* A -> B: one SGE, into B's oldest receive; then the next one */
	ck_assert_int_eq(send1(qa, SA, "ping", 4, &A), 0);
	ck_assert_int_eq(send1(qa, SA + 1, "pong!", 5, &A), 0);
	wc_of(&A, SA, MSGR__RSHIM_WC_OK);
	ck_assert_ptr_eq(wc_of(&A, SA + 1, MSGR__RSHIM_WC_OK)->qp, qa);
	w = wc_of(&B, RBB, MSGR__RSHIM_WC_OK);
	ck_assert_int_eq(w->op, MSGR__RSHIM_WC_RECV);
	ck_assert_ptr_eq(w->qp, qb);
	ck_assert_uint_eq(w->byte_len, 4);
	ck_assert_int_eq(memcmp(B.rbuf[0], "ping", 4), 0);
	ck_assert_uint_eq(wc_of(&B, RBB + 1, MSGR__RSHIM_WC_OK)->byte_len, 5);
	ck_assert_int_eq(memcmp(B.rbuf[1], "pong!", 5), 0);

	/* B -> A: SGEs gathered in order, an empty one among them */
	sge[0] = (struct msgr__rshim_sge){ "ab", 2, B.mr };
	sge[1] = (struct msgr__rshim_sge){ NULL, 0, NULL };
	sge[2] = (struct msgr__rshim_sge){ "cde", 3, B.mr };
	sge[3] = (struct msgr__rshim_sge){ "f", 1, B.mr };
	sge[4] = sge[3];
	ck_assert_int_eq(ops->post_send(qb, SB, sge, 5), -EINVAL);
	ck_assert_int_eq(ops->post_send(qb, SB, sge, -1), -EINVAL);
	sge[4] = (struct msgr__rshim_sge){ (void *)"g", 1, NULL };
	ck_assert_int_eq(ops->post_send(qb, SB, sge + 4, 1), -EINVAL); /* no mr */
	ck_assert_int_eq(ops->post_send(qb, SB, sge, 4), 0);
	wc_of(&B, SB, MSGR__RSHIM_WC_OK);
	ck_assert_uint_eq(wc_of(&A, RA, MSGR__RSHIM_WC_OK)->byte_len, 6);
	ck_assert_int_eq(memcmp(A.rbuf[0], "abcdef", 6), 0);

	/* a zero-byte SEND */
	ck_assert_int_eq(ops->post_send(qb, SB + 1, NULL, 0), 0);
	wc_of(&B, SB + 1, MSGR__RSHIM_WC_OK);
	ck_assert_uint_eq(wc_of(&A, RA + 1, MSGR__RSHIM_WC_OK)->byte_len, 0);

	/* larger than a fragment, into a buffer of its own */
	for (size_t i = 0; i < big; i++)
		tx[i] = (uint8_t)(i * 131 + 7);
	memset(rx, 0, big);
	ck_assert_int_eq(ops->post_recv(qb, RBB + 2, rx, (uint32_t)big, B.mr), 0);
	ck_assert_int_eq(send1(qa, SA + 2, tx, (uint32_t)big, &A), 0);
	wc_of(&A, SA + 2, MSGR__RSHIM_WC_OK);
	ck_assert_uint_eq(wc_of(&B, RBB + 2, MSGR__RSHIM_WC_OK)->byte_len, big);
	ck_assert_int_eq(memcmp(rx, tx, big), 0);

	/* the size bound: refused before a byte is read */
	for (int i = 0; i < 4; i++)
		sge[i] = (struct msgr__rshim_sge){ &one, (16u << 20) / 4 + 1, A.mr };
	ck_assert_int_eq(ops->post_send(qa, SA + 9, sge, 4), -EMSGSIZE);

	no_more_events();
	ck_assert_int_eq(A.nwc, 5);
	ck_assert_int_eq(B.nwc, 5);
	ck_assert(!readable(&A) && !readable(&B));
	free(tx);
	free(rx);
}
END_TEST

/* _i = 0: no receive posted; 1: RNR injected on a receive that is there */
START_TEST(test_rnr)
{
	struct msgr__rshim_qp *qa, *qb;
	struct msgr__rshim_stats st;
	struct msgr__rshim_ev *ev;

	pair(&qa, &qb, 3, _i ? 2 : 1);
	if (_i) {
		ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qb, MSGR__RFAKE_RNR), 0);
		ck_assert_int_eq(send1(qa, SA, "x", 1, &A), 0);
	} else {
		ck_assert_int_eq(send1(qa, SA, "x", 1, &A), 0);
		wc_of(&B, RBB, MSGR__RSHIM_WC_OK);
		ck_assert_int_eq(send1(qa, SA + 1, "y", 1, &A), 0);
	}
	ev = next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb);
	ck_assert_int_eq(ev->status, -ENOBUFS);
	ev = next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa);
	ck_assert_int_eq(ev->status, -ENOBUFS);
	/* the sends completed when written; everything still posted flushes */
	wc_of(&A, SA, MSGR__RSHIM_WC_OK);
	if (!_i)
		wc_of(&A, SA + 1, MSGR__RSHIM_WC_OK);
	for (int i = 0; i < 3; i++)
		wc_of(&A, RA + i, MSGR__RSHIM_WC_FLUSH);
	if (_i) {
		wc_of(&B, RBB, MSGR__RSHIM_WC_FLUSH);
		wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	}
	ops->stats(B.s, &st);
	ck_assert_uint_eq(st.rnr, 1);
	ck_assert_uint_eq(st.qp_errors, 1);
	ck_assert_uint_eq(st.flushed, _i ? 2 : 0);
	ops->stats(A.s, &st);
	ck_assert_uint_eq(st.rnr, 0);
	ck_assert_uint_eq(st.qp_errors, 1);
	ck_assert_uint_eq(st.flushed, 3);
	ck_assert_int_eq(ops->post_recv(qa, RA + 9, A.rbuf[7], RB, A.mr), -ENOTCONN);
	ck_assert_int_eq(send1(qb, SB, "z", 1, &B), -ENOTCONN);

	/* the connection is still there until one side disconnects */
	no_more_events();
	ck_assert_int_eq(ops->disconnect(qa), 0);
	next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa);
	next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb);
	no_more_events();
	ck_assert_int_eq(A.nwc, _i ? 4 : 5);
	ck_assert_int_eq(B.nwc, _i ? 2 : 1);
	ops->destroy(qa);
	ops->destroy(qb);
}
END_TEST

/* _i = 0: 10 bytes into 4; 1: the overflow comes in the second fragment */
START_TEST(test_len)
{
	struct msgr__rshim_qp *qa, *qb;
	size_t room = _i ? FRAG + 100 : 4, len = _i ? 2 * FRAG + 1 : 10;
	uint8_t *rx = malloc(room), *tx = calloc(1, len);

	pair(&qa, &qb, 2, 0);
	ck_assert_int_eq(ops->post_recv(qb, RBB, rx, (uint32_t)room, B.mr), 0);
	ck_assert_int_eq(ops->post_recv(qb, RBB + 1, B.rbuf[0], RB, B.mr), 0);
	ck_assert_int_eq(send1(qa, SA, tx, (uint32_t)len, &A), 0);
	ck_assert_int_eq(wc_of(&B, RBB, MSGR__RSHIM_WC_LEN)->op, MSGR__RSHIM_WC_RECV);
	wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb)->status, -EMSGSIZE);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa)->status, -EMSGSIZE);
	wc_of(&A, SA, MSGR__RSHIM_WC_OK);
	wc_of(&A, RA, MSGR__RSHIM_WC_FLUSH);
	wc_of(&A, RA + 1, MSGR__RSHIM_WC_FLUSH);
	no_more_events();
	ck_assert_int_eq(A.nwc, 3);
	ck_assert_int_eq(B.nwc, 2);
	free(rx);
	free(tx);
}
END_TEST

START_TEST(test_retry)
{
	struct msgr__rshim_qp *qa, *qb;

	pair(&qa, &qb, 2, 2);
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qa, MSGR__RFAKE_RETRY), 0);
	ck_assert_int_eq(send1(qa, SA, "lost", 4, &A), 0);
	wc_of(&A, SA, MSGR__RSHIM_WC_RETRY);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa)->status, -ETIMEDOUT);
	wc_of(&A, RA, MSGR__RSHIM_WC_FLUSH);
	wc_of(&A, RA + 1, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(send1(qa, SA + 1, "x", 1, &A), -ENOTCONN);
	/* nothing reached B, which hears of it when A disconnects */
	no_more_events();
	ck_assert_int_eq(B.nwc, 0);
	ck_assert_int_eq(ops->disconnect(qa), 0);
	next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa);
	next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb);
	wc_of(&B, RBB, MSGR__RSHIM_WC_FLUSH);
	wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	no_more_events();
	ck_assert_int_eq(A.nwc, 3);
	ck_assert_int_eq(B.nwc, 2);
}
END_TEST

START_TEST(test_flush)
{
	struct msgr__rshim_qp *qa, *qb;
	struct msgr__rshim_stats st;

	pair(&qa, &qb, 3, 1);
	ck_assert_int_eq(msgr__rshim_fake_inject(A.s, qa, MSGR__RFAKE_FLUSH), 0);
	ck_assert_int_eq(msgr__rshim_fake_inject(B.s, qa, MSGR__RFAKE_FLUSH), -EINVAL); /* not B's */
	ck_assert_int_eq(msgr__rshim_fake_inject(A.s, NULL, MSGR__RFAKE_FLUSH), -EINVAL);
	ck_assert_int_eq(msgr__rshim_fake_inject(A.s, qa, 99), -EINVAL);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa)->status, -EIO);
	for (int i = 0; i < 3; i++)
		wc_of(&A, RA + i, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(send1(qa, SA, "x", 1, &A), -ENOTCONN);
	ck_assert_int_eq(ops->post_recv(qa, RA + 9, A.rbuf[7], RB, A.mr), -ENOTCONN);
	/* a second error is not news */
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qa, MSGR__RFAKE_FLUSH), 0);
	no_more_events();
	ck_assert_int_eq(A.nwc, 3);
	ck_assert_int_eq(B.nwc, 0);
	ops->stats(A.s, &st);
	ck_assert_uint_eq(st.qp_errors, 1);
	ck_assert_uint_eq(st.flushed, 3);
}
END_TEST

START_TEST(test_inj_disconnect)
{
	struct msgr__rshim_qp *qa, *qb;

	pair(&qa, &qb, 2, 2);
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qa, MSGR__RFAKE_DISCONNECT), 0);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa)->status, -ECONNRESET);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa)->status, -ECONNRESET);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb)->status, -ECONNRESET);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb)->status, -ECONNRESET);
	for (int i = 0; i < 2; i++) {
		wc_of(&A, RA + i, MSGR__RSHIM_WC_FLUSH);
		wc_of(&B, RBB + i, MSGR__RSHIM_WC_FLUSH);
	}
	ck_assert_int_eq(ops->disconnect(qa), 0);
	ck_assert_int_eq(ops->disconnect(qb), 0);
	no_more_events();
	ck_assert_int_eq(A.nwc, 2);
	ck_assert_int_eq(B.nwc, 2);
	ops->destroy(qa);
	ops->destroy(qb);
	ck_assert(!readable(&A) && !readable(&B));
}
END_TEST

START_TEST(test_device_removal)
{
	struct msgr__rshim_qp *qa, *qb, *qa2;

	pair(&qa, &qb, 1, 2);
	ck_assert_int_eq(msgr__rshim_fake_inject(B.s, NULL, MSGR__RFAKE_DEVICE_REMOVAL), 0);
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qb, MSGR__RFAKE_DEVICE_REMOVAL), 0); /* no news */
	next_ev(&B, MSGR__RSHIM_EV_DEVICE_REMOVAL, qb);
	next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb);
	ck_assert_ptr_null(next_ev(&B, MSGR__RSHIM_EV_DEVICE_REMOVAL, NULL)->qp); /* the listener's */
	wc_of(&B, RBB, MSGR__RSHIM_WC_FLUSH);
	wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa);
	next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa);
	wc_of(&A, RA, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(send1(qb, SB, "x", 1, &B), -ENOTCONN);
	ck_assert_int_eq(ops->accept(qb, NULL, 0), -ENOTCONN);
	no_more_events();
	ops->destroy(qa);
	ops->destroy(qb);
	/* the fake's device comes back at once: the listener still answers */
	ck_assert_int_eq(ops->dial(A.s, hp, &qa2), 0);
	next_ev(&A, MSGR__RSHIM_EV_ROUTE_READY, qa2);
	ck_assert_int_eq(ops->create_qp(qa2), 0);
	ck_assert_int_eq(ops->connect(qa2, NULL, 0), 0);
	next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL);
	no_more_events();
}
END_TEST

START_TEST(test_reject)
{
	static const uint8_t zero[PDA];
	struct msgr__rshim_qp *qa, *qb, *qa2;
	struct msgr__rshim_ev *ev;

	/* the owner says no, with private data */
	ck_assert_int_eq(ops->dial(A.s, hp, &qa), 0);
	next_ev(&A, MSGR__RSHIM_EV_ROUTE_READY, qa);
	ck_assert_int_eq(ops->create_qp(qa), 0);
	post_recvs(&A, qa, RA, 2);
	ck_assert_int_eq(ops->connect(qa, NULL, 0), 0);
	qb = next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL)->qp;
	ck_assert_int_eq(ops->reject(qb, "no", 2), 0);
	ev = next_ev(&A, MSGR__RSHIM_EV_REJECTED, qa);
	ck_assert_int_eq(ev->status, -ECONNREFUSED);
	ck_assert_int_eq(ev->pdata_len, PDA);
	ck_assert_int_eq(memcmp(ev->pdata, "no", 2), 0);
	ck_assert_int_eq(memcmp(ev->pdata + 2, zero, PDA - 2), 0);
	wc_of(&A, RA, MSGR__RSHIM_WC_FLUSH);
	wc_of(&A, RA + 1, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(ops->accept(qb, NULL, 0), -ENOTCONN);
	ck_assert_int_eq(ops->disconnect(qa), 0); /* over already: nothing more */
	no_more_events();
	ops->destroy(qb);
	ops->destroy(qa);

	/* REJECT_ALL: the listener answers by itself; B's owner sees nothing */
	ck_assert_int_eq(msgr__rshim_fake_inject(B.s, NULL, MSGR__RFAKE_REJECT_ALL), 0);
	ck_assert_int_eq(ops->dial(A.s, hp, &qa2), 0);
	next_ev(&A, MSGR__RSHIM_EV_ROUTE_READY, qa2);
	ck_assert_int_eq(ops->create_qp(qa2), 0);
	post_recvs(&A, qa2, RA + 10, 1);
	ck_assert_int_eq(ops->connect(qa2, "hi", 2), 0);
	ev = next_ev(&A, MSGR__RSHIM_EV_REJECTED, qa2);
	ck_assert_int_eq(ev->pdata_len, PDA);
	ck_assert_int_eq(memcmp(ev->pdata, zero, PDA), 0);
	wc_of(&A, RA + 10, MSGR__RSHIM_WC_FLUSH);
	no_more_events();
	ck_assert_int_eq(B.nwc, 0);
}
END_TEST

START_TEST(test_unreachable)
{
	static const char *bad[] = { "", "nocolon", ":80", "host:", "a b:1", "x:1\n" };
	struct msgr__rshim_qp *qa, *q = NULL;
	char name[80], longname[120];

	snprintf(name, sizeof(name), "127.0.0.2:%s", strchr(hp, ':') + 1); /* nobody there */
	ck_assert_int_eq(ops->dial(A.s, name, &qa), 0);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_UNREACHABLE, qa)->status, -ECONNREFUSED);
	ck_assert_int_eq(ops->create_qp(qa), 0);
	ck_assert_int_eq(ops->post_recv(qa, RA, A.rbuf[0], RB, A.mr), -ENOTCONN);
	ck_assert_int_eq(ops->connect(qa, NULL, 0), -ENOTCONN);
	ops->destroy(qa);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(ops->dial(A.s, bad[i], &q) == -EINVAL, "dial '%s'", bad[i]);
		ck_assert_msg(ops->listen(A.s, bad[i]) == -EINVAL, "listen '%s'", bad[i]);
	}
	memset(longname, 'h', sizeof(longname));
	strcpy(longname + 100, ":1");
	ck_assert_int_eq(ops->dial(A.s, longname, &q), -EINVAL);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(ops->listen(A.s, hp), -EADDRINUSE);
	no_more_events();
	ck_assert(!readable(&A));
}
END_TEST

/* _i = 0: B reads at last; 1: A's QP errors while its socket is full
 * (mid-SEND, most likely), then A disconnects */
START_TEST(test_pending)
{
	enum { N = 32, LEN = 256 * 1024 };
	struct msgr__rshim_qp *qa, *qb;
	uint8_t *tx = malloc((size_t)N * LEN), *rx = calloc(N, LEN);
	int sent = 0, ok = 0;

	pair(&qa, &qb, 0, 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ops->post_recv(qb, RBB + i, rx + (size_t)i * LEN, LEN, B.mr), 0);
	for (int i = 0; i < N; i++) {
		memset(tx + (size_t)i * LEN, i * 7 + 1, LEN);
		ck_assert_int_eq(send1(qa, SA + i, tx + (size_t)i * LEN, LEN, &A), 0);
	}
	/* B does not read: A's socket fills, and A has nothing to do (no spin) */
	for (int k = 0; k < 5; k++)
		drain(&A);
	for (int i = 0; i < A.nwc; i++)
		sent += A.wc[i].status == MSGR__RSHIM_WC_OK;
	ck_assert_int_lt(sent, N);
	ck_assert(!readable(&A));
	if (_i) {
		/* what was written arrives whole; every other request flushes */
		ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qa, MSGR__RFAKE_FLUSH), 0);
		ck_assert_int_eq(ops->disconnect(qa), 0);
		WAIT_UNTIL(A.nwc == N && B.nwc == N);
		next_ev(&A, MSGR__RSHIM_EV_QP_ERROR, qa);
		next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa);
		next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb);
		for (int i = 0; i < N; i++) {
			ck_assert_uint_eq(B.wc[i].wr_id, RBB + i);
			ck_assert_int_eq(A.wc[i].status, B.wc[i].status);
			wc_of(&A, SA + i, A.wc[i].status);
			if (B.wc[i].status == MSGR__RSHIM_WC_OK) {
				ck_assert_int_eq(ok++, i);
				ck_assert_int_eq(memcmp(rx + (size_t)i * LEN, tx + (size_t)i * LEN, LEN), 0);
			} else {
				ck_assert_int_eq(B.wc[i].status, MSGR__RSHIM_WC_FLUSH);
			}
		}
		ck_assert_int_eq(ok, sent);
		no_more_events();
		free(tx);
		free(rx);
		return;
	}
	/* now B reads, and everything arrives, in order */
	WAIT_UNTIL(A.nwc == N && B.nwc == N);
	for (int i = 0; i < N; i++) {
		wc_of(&A, SA + i, MSGR__RSHIM_WC_OK);
		ck_assert_uint_eq(B.wc[i].wr_id, RBB + i);
		ck_assert_int_eq(B.wc[i].status, MSGR__RSHIM_WC_OK);
		ck_assert_uint_eq(B.wc[i].byte_len, LEN);
		ck_assert_int_eq(memcmp(rx + (size_t)i * LEN, tx + (size_t)i * LEN, LEN), 0);
	}
	no_more_events();
	ck_assert(!readable(&A) && !readable(&B));
	free(tx);
	free(rx);
}
END_TEST

START_TEST(test_disconnect)
{
	struct msgr__rshim_qp *qa, *qb;
	struct msgr__rshim_stats st;

	pair(&qa, &qb, 2, 2);
	ck_assert_int_eq(send1(qa, SA, "bye", 3, &A), 0);
	ck_assert_int_eq(ops->disconnect(qa), 0);
	ck_assert_int_eq(ops->disconnect(qa), 0);
	ck_assert_int_eq(next_ev(&A, MSGR__RSHIM_EV_DISCONNECTED, qa)->status, 0);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb)->status, 0);
	/* what was written before the DISCONNECT arrives; the rest flushes */
	wc_of(&A, SA, MSGR__RSHIM_WC_OK);
	ck_assert_uint_eq(wc_of(&B, RBB, MSGR__RSHIM_WC_OK)->byte_len, 3);
	wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	wc_of(&A, RA, MSGR__RSHIM_WC_FLUSH);
	wc_of(&A, RA + 1, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(send1(qb, SB, "x", 1, &B), -ENOTCONN);
	ck_assert_int_eq(ops->disconnect(qb), 0);
	no_more_events();
	ck_assert_int_eq(A.nwc, 3);
	ck_assert_int_eq(B.nwc, 2);
	ops->stats(A.s, &st);
	ck_assert_uint_eq(st.qp_errors, 0); /* an orderly disconnect is no QP error */
	ck_assert_uint_eq(st.flushed, 2);
	ops->destroy(qa);
	ops->destroy(qb);
}
END_TEST

START_TEST(test_destroy)
{
	struct msgr__rshim_qp *qa, *qb, *qx;
	struct msgr__rshim_ev ev;
	struct msgr__rshim_wc wc;
	char name[80];

	/* an UNREACHABLE queued, never taken */
	snprintf(name, sizeof(name), "127.0.0.2:%s", strchr(hp, ':') + 1);
	ck_assert_int_eq(ops->dial(A.s, name, &qx), 0);
	ck_assert(readable(&A));
	ops->destroy(qx);
	ck_assert(!readable(&A));
	ck_assert_int_eq(ops->get_event(A.s, &ev), -EAGAIN);

	/* a QP_ERROR and flushes queued, then destroyed */
	pair(&qa, &qb, 3, 1);
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qa, MSGR__RFAKE_FLUSH), 0);
	ck_assert(readable(&A));
	ops->destroy(qa);
	ck_assert(!readable(&A));
	ck_assert_int_eq(ops->get_event(A.s, &ev), -EAGAIN);
	ck_assert_int_eq(ops->poll(A.s, &wc, 1), 0);
	/* B sees the socket go */
	next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb);
	next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb);
	wc_of(&B, RBB, MSGR__RSHIM_WC_FLUSH);
	no_more_events();
	ck_assert_int_eq(A.nwc, 0);
	/* close() frees what the owner left: qb and its (none) requests */
}
END_TEST

START_TEST(test_readable)
{
	struct msgr__rshim_qp *qa, *qb;

	pair(&qa, &qb, 0, 1);
	ck_assert(!readable(&A) && !readable(&B));
	ck_assert_int_eq(send1(qa, SA, "x", 1, &A), 0);
	ck_assert(readable(&A)); /* the completion */
	ck_assert(readable(&B)); /* the packet in the socket */
	drain(&A);
	ck_assert(!readable(&A));
	drain(&B);
	ck_assert(!readable(&B));
	ck_assert_int_eq(A.nwc + B.nwc, 2);
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qb, MSGR__RFAKE_FLUSH), 0);
	ck_assert(readable(&B)); /* QP_ERROR queued */
	drain(&B);
	ck_assert(!readable(&B));
	ck_assert(!readable(&A));
	next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb);
}
END_TEST

/* A raw client of B's listener that can say anything. */
static int raw_dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "msgrd-rdma-fake/%s", hp);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa,
				 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), 0);
	return fd;
}

/* The next packet on fd (0 for EOF), driving the shims while waiting. */
static ssize_t raw_recv(int fd, uint8_t *buf, size_t cap)
{
	uint64_t dl = now_ms() + 5000;
	ssize_t n;

	while ((n = recv(fd, buf, cap, MSG_DONTWAIT)) < 0 && errno == EAGAIN) {
		ck_assert_msg(now_ms() < dl, "raw: nothing came");
		drain(&A);
		drain(&B);
		wait_fds(10);
	}
	return n;
}

/* Out of descriptors, the listener stops being watched (rather than keep
 * fd() readable for an accept that keeps failing) until a socket closes. */
START_TEST(test_emfile)
{
	struct msgr__rshim_qp *qa, *qb;
	struct rlimit old, low;
	int fd, lowest;

	pair(&qa, &qb, 0, 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	lowest = dup(0);
	ck_assert_int_ge(lowest, 0);
	close(lowest);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest; /* no descriptor left to allocate */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "msgrd-rdma-fake/%s", hp);

		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa,
					 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)), 0);
	}
	drain(&B);
	ck_assert(!readable(&B));
	drain(&B);
	ck_assert(!readable(&B));
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* a socket of B's closes: the listener is back, and accepts a new
	 * dialler (the first one may be gone: under valgrind the kernel's
	 * accept succeeds and valgrind closes the descriptor over the limit) */
	ck_assert_int_eq(msgr__rshim_fake_inject(NULL, qb, MSGR__RFAKE_DISCONNECT), 0);
	next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb);
	next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb);
	close(fd);
	fd = raw_dial();
	{
		uint8_t pkt[1 + PDC + 3] = { PK_CONNECT_REQ };

		memcpy(pkt + 1 + PDC, "r:1", 3);
		ck_assert_int_eq(send(fd, pkt, sizeof(pkt), 0), (ssize_t)sizeof(pkt));
	}
	next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL);
	close(fd);
}
END_TEST

START_TEST(test_hostile)
{
	uint8_t pkt[1 + FRAG + 2] = { 0 }, in[512];
	struct msgr__rshim_qp *qb;
	int fd;

	/* a short CONNECT_REQ, and a kind nobody knows: dropped unseen */
	fd = raw_dial();
	pkt[0] = PK_CONNECT_REQ;
	ck_assert_int_eq(send(fd, pkt, 1 + 10, 0), 11);
	ck_assert_int_eq(raw_recv(fd, in, sizeof(in)), 0);
	close(fd);
	fd = raw_dial();
	pkt[0] = 42;
	ck_assert_int_eq(send(fd, pkt, 1 + PDC + 3, 0), 1 + PDC + 3);
	ck_assert_int_eq(raw_recv(fd, in, sizeof(in)), 0);
	close(fd);
	/* a peer address that is not HOST:PORT */
	fd = raw_dial();
	pkt[0] = PK_CONNECT_REQ;
	memcpy(pkt + 1 + PDC, "x\0:1", 4);
	ck_assert_int_eq(send(fd, pkt, 1 + PDC + 4, 0), 1 + PDC + 4);
	ck_assert_int_eq(raw_recv(fd, in, sizeof(in)), 0);
	close(fd);
	no_more_events();

	/* a good request, then an oversized DATA once established */
	fd = raw_dial();
	memcpy(pkt + 1 + PDC, "x:1", 3);
	ck_assert_int_eq(send(fd, pkt, 1 + PDC + 3, 0), 1 + PDC + 3);
	qb = next_ev(&B, MSGR__RSHIM_EV_CONNECT_REQUEST, NULL)->qp;
	{
		char name[32];

		ck_assert_int_eq(ops->addr(qb, 1, name, sizeof(name)), 0);
		ck_assert_str_eq(name, "x:1");
	}
	ck_assert_int_eq(ops->create_qp(qb), 0);
	post_recvs(&B, qb, RBB, 2);
	ck_assert_int_eq(ops->accept(qb, "ok", 2), 0);
	ck_assert_int_eq(raw_recv(fd, in, sizeof(in)), 1 + PDA);
	ck_assert_int_eq(in[0], PK_ACCEPT);
	ck_assert_int_eq(memcmp(in + 1, "ok", 2), 0);
	next_ev(&B, MSGR__RSHIM_EV_ESTABLISHED, qb);
	pkt[0] = PK_DATA;
	ck_assert_int_eq(send(fd, pkt, 1 + FRAG + 1, 0), 1 + FRAG + 1);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_QP_ERROR, qb)->status, -EPROTO);
	wc_of(&B, RBB, MSGR__RSHIM_WC_FLUSH);
	wc_of(&B, RBB + 1, MSGR__RSHIM_WC_FLUSH);
	ck_assert_int_eq(raw_recv(fd, in, sizeof(in)), 2);
	ck_assert_int_eq(in[0], PK_ERROR);
	ck_assert_int_eq(in[1], EPROTO);
	/* more of anything is dropped; the raw end's close is a disconnect */
	pkt[0] = PK_DISCONNECT;
	ck_assert_int_eq(send(fd, pkt, 3, 0), 3);
	close(fd);
	ck_assert_int_eq(next_ev(&B, MSGR__RSHIM_EV_DISCONNECTED, qb)->status, -ECONNRESET);
	no_more_events();
	ck_assert_int_eq(B.nwc, 2);
	ck_assert(!readable(&B));
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("rdma_fake", &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_local_addr);
	tcase_add_test(tc, test_send);
	tcase_add_loop_test(tc, test_rnr, 0, 2);
	tcase_add_loop_test(tc, test_len, 0, 2);
	tcase_add_test(tc, test_retry);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_inj_disconnect);
	tcase_add_test(tc, test_device_removal);
	tcase_add_test(tc, test_reject);
	tcase_add_test(tc, test_unreachable);
	tcase_add_loop_test(tc, test_pending, 0, 2);
	tcase_add_test(tc, test_emfile);
	tcase_add_test(tc, test_disconnect);
	tcase_add_test(tc, test_destroy);
	tcase_add_test(tc, test_readable);
	tcase_add_test(tc, test_hostile);
	tcase_set_timeout(tc, 60);
	return unit_run(s);
}
