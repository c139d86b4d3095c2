/*
 * test_tcp.c - Check suite for transports/tcp.c, driven through its ops
 * table the way the core drives it, on a private loop over 127.0.0.1.
 *
 *   bulk        1 MiB each way in multi-iovec sends; bytes, cookies, names
 *   refused     a dial nobody answers: connected(err), then closed(err)
 *   graceful    close(l, 0) after queueing: the peer gets every byte, then EOF,
 *               also when the closing side has bytes it never read
 *   abort       close(l, err) sends a RST and cancels what is queued
 *   backpress   no buffer posted from received(): no more received()
 *   fini        fini with live, closing and dialling links
 *   ipv6        a link over [::1] and its names (skipped with no IPv6)
 *   addresses   malformed HOST:PORT, or a dial connect() refuses at once:
 *               an error, no link and no callback
 *
 * Every test ends in the fixture's teardown, which finis what is left, runs
 * the loop dry and checks the invariants every link must keep: exactly one
 * closed(), every accepted send's sent() exactly once and before closed(),
 * no callback from inside a transport call, and no handle left on the loop.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transports/transport.h"
#include "tests/unit/unit.h"

#define MAXL 8            /* links per side */
#define RBUF (64 * 1024)  /* receive buffer per link */
#define MIB (1024 * 1024)
#define MAXSEND 64        /* sends per link */

#ifdef TEST_THROUGH_FAULT
/* test_fault_tcp.c: the same suite with tcp under the fault interceptor,
 * which must change nothing the core can see when it injects no failure */
#include "transports/fault.h"
static struct msgr__fault_conf fault_conf; /* delay set by main, per run */
static uint64_t fault_injected;
static const struct msgr__transport_ops *ops = &msgr__fault_ops;
#define TRANSPORT_INIT(t, ev, core, err, len) \
	msgr__fault_init(t, &msgr__tcp_ops, &fault_conf, &fault_injected, &loop, NULL, ev, core, err, len)
#define TRANSPORT_NAME "fault"
#elif defined(TEST_THROUGH_RDMA_FAKE)
/* test_rdma_tcp.c: the same suite over the RDMA transport on the fake
 * verbs shim (rdma.c, rdma_engine.c, rdma_fake.c), and over its TCP
 * fallback where RDMA cannot reach */
static const struct msgr__transport_ops *ops = &msgr__rdma_fake_ops;
#define TRANSPORT_INIT(t, ev, core, err, len) ops->init(t, &loop, NULL, ev, core, err, len)
#define TRANSPORT_NAME "rdma-fake"
#else
static const struct msgr__transport_ops *ops = &msgr__tcp_ops;
#define TRANSPORT_INIT(t, ev, core, err, len) ops->init(t, &loop, NULL, ev, core, err, len)
#define TRANSPORT_NAME "tcp"
#endif

struct side;

/* A send in flight: the cookie. Owned by the test's link. */
struct tsend {
	int n;   /* sent() calls seen for it */
	int err; /* the last status */
};

/* What the core would keep per link. Owned by the test, not the transport,
 * so the counts can be read after closed() has freed the link. */
struct tlink {
	struct side *side;
	struct msgr__tconn *l;  /* NULL from closed() on */
	int used;
	int nconnected, connect_err, connect_seq;
	int nclosed, close_err, close_seq;
	int nqueued;           /* sends send() accepted */
	int nsent, nsent_ok, nsent_cancel, nsent_other, nsent_at_close;
	int sent_after_close;
	int nrecv, bad_recv;
	int repost;            /* post the buffer again from received() */
	size_t rlen;           /* how much of rbuf to post */
	unsigned char *rx;     /* received bytes are appended here, if set */
	size_t rxcap, rxlen, rxbytes;
	struct tsend cookie[MAXSEND];
	unsigned char rbuf[RBUF];
};

struct side {
	struct msgr__transport *t; /* NULL once fini'd */
	int post;                  /* post a buffer on accept / right after dial */
	int repost;
	struct tlink links[MAXL];
};

static uv_loop_t loop;
static uv_timer_t tick; /* keeps UV_RUN_ONCE from blocking for long */
static struct side A, B; /* A dials, B listens */
static char hp[64];      /* B's listen address */
static int in_call;      /* inside a transport call: no callback may run */
static int reentered;
static int seq;          /* orders events */
static long runs;        /* loop iterations, to catch a transport that spins */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define RUN_UNTIL(cond, ms)                                          \
	do {                                                         \
		uint64_t dl_ = now_ms() + (ms);                      \
		while (!(cond) && now_ms() < dl_) {                  \
			uv_run(&loop, UV_RUN_ONCE);                  \
			runs++;                                      \
		}                                                    \
	} while (0)

/* Wrap a transport call so callbacks can tell whether they run inside it. */
#define CALL(expr) (in_call = 1, call_r_ = (expr), in_call = 0, call_r_)
static int call_r_;
#define CALLV(expr) do { in_call = 1; expr; in_call = 0; } while (0)

static void fill(unsigned char *b, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
}

static int post(struct tlink *tl)
{
	return ops->post_recv(tl->l, tl->rbuf, tl->rlen);
}

/* ---- the core's side of the events ---------------------------------------- */

static struct tlink *tl_new(struct side *s, struct msgr__tconn *l)
{
	for (int i = 0; i < MAXL; i++) {
		struct tlink *tl = &s->links[i];
		if (!tl->used) {
			tl->used = 1;
			tl->side = s;
			tl->l = l;
			tl->repost = s->repost;
			tl->rlen = RBUF;
			l->ctx = tl;
			return tl;
		}
	}
	ck_abort_msg("too many links");
	return NULL;
}

static void ev_accepted(void *core, struct msgr__tconn *l)
{
	struct tlink *tl = tl_new(core, l);

	reentered += in_call;
	ck_assert_int_eq(l->outbound, 0);
	ck_assert_ptr_eq(l->ops, ops);
	if (tl->side->post)
		ck_assert_int_eq(post(tl), 0);
}

static void ev_connected(void *core, struct msgr__tconn *l, int err)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nconnected++;
	tl->connect_err = err;
	tl->connect_seq = ++seq;
}

static void ev_received(void *core, struct msgr__tconn *l, void *buf, size_t len)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nrecv++;
	if (buf != tl->rbuf || len == 0 || len > tl->rlen || tl->nclosed)
		tl->bad_recv++;
	tl->rxbytes += len;
	if (tl->rx) {
		if (tl->rxlen + len > tl->rxcap)
			tl->bad_recv++;
		else
			memcpy(tl->rx + tl->rxlen, buf, len);
		tl->rxlen += len;
	}
	if (tl->repost)
		ck_assert_int_eq(post(tl), 0);
}

static void ev_sent(void *core, struct msgr__tconn *l, void *cookie, int err)
{
	struct tlink *tl = l->ctx;
	struct tsend *ts = cookie;

	reentered += in_call;
	ck_assert(ts >= tl->cookie && ts < tl->cookie + MAXSEND);
	ts->n++;
	ts->err = err;
	tl->nsent++;
	if (err == 0)
		tl->nsent_ok++;
	else if (err == -ECANCELED)
		tl->nsent_cancel++;
	else
		tl->nsent_other++;
	tl->sent_after_close += tl->nclosed;
}

static void ev_closed(void *core, struct msgr__tconn *l, int err)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nclosed++;
	tl->close_err = err;
	tl->close_seq = ++seq;
	tl->nsent_at_close = tl->nsent;
	tl->l = NULL;
}

static const struct msgr__transport_events events = {
	.accepted = ev_accepted,
	.connected = ev_connected,
	.received = ev_received,
	.sent = ev_sent,
	.closed = ev_closed,
};

/* ---- helpers ------------------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
}

static void setup(void)
{
	char err[128] = "";

	srand((unsigned)getpid() ^ (unsigned)now_ms());
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	in_call = reentered = seq = 0;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(uv_timer_init(&loop, &tick), 0);
	ck_assert_int_eq(uv_timer_start(&tick, on_tick, 5, 5), 0);
	ck_assert_int_eq(TRANSPORT_INIT(&A.t, &events, &A, err, sizeof(err)), 0);
	ck_assert_int_eq(TRANSPORT_INIT(&B.t, &events, &B, err, sizeof(err)), 0);
	A.post = B.post = A.repost = B.repost = 1;
}

static void fini(struct side *s)
{
	if (s->t)
		CALLV(ops->fini(s->t));
	s->t = NULL;
}

static void check_side(struct side *s, const char *name)
{
	for (int i = 0; i < MAXL; i++) {
		struct tlink *tl = &s->links[i];
		if (!tl->used)
			continue;
		ck_assert_msg(tl->nclosed == 1, "%s link %d: %d closed()", name, i, tl->nclosed);
		ck_assert_msg(tl->nsent == tl->nqueued, "%s link %d: %d sent() for %d sends", name,
			      i, tl->nsent, tl->nqueued);
		ck_assert_msg(tl->nsent_at_close == tl->nqueued,
			      "%s link %d: closed() before %d of %d sent()", name, i,
			      tl->nqueued - tl->nsent_at_close, tl->nqueued);
		ck_assert_int_eq(tl->sent_after_close, 0);
		ck_assert_int_eq(tl->bad_recv, 0);
		for (int k = 0; k < tl->nqueued; k++)
			ck_assert_msg(tl->cookie[k].n == 1, "%s link %d cookie %d: %d sent()", name,
				      i, k, tl->cookie[k].n);
		free(tl->rx);
	}
}

static void teardown(void)
{
	fini(&A);
	fini(&B);
	uv_close((uv_handle_t *)&tick, NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0); /* no handle left behind */
	ck_assert_int_eq(reentered, 0);
	check_side(&A, "A");
	check_side(&B, "B");
}

/* Listen on a random port, as the interface has no "any port". */
static int listen_on(const char *host)
{
	int r = -EADDRINUSE;

	for (int i = 0; i < 200 && r == -EADDRINUSE; i++) {
		snprintf(hp, sizeof(hp), "%s:%d", host, 30000 + rand() % 30000);
		r = ops->listen(B.t, hp);
	}
	if (r == 0)
		ck_assert_int_eq(ops->listen(B.t, hp), -EBUSY);
	return r;
}

static void listen_b(void)
{
	ck_assert_int_eq(listen_on("127.0.0.1"), 0);
}

static int count_links(struct side *s)
{
	int n = 0;

	for (int i = 0; i < MAXL; i++)
		n += s->links[i].used;
	return n;
}

static struct tlink *dial(const char *to)
{
	struct msgr__tconn *l = NULL;
	struct tlink *tl;

	ck_assert_int_eq(CALL(ops->dial(A.t, to, &l)), 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->outbound, 1);
	ck_assert_ptr_eq(l->ops, ops);
	tl = tl_new(&A, l);
	if (A.post) /* before connected(): the transport must keep it */
		ck_assert_int_eq(post(tl), 0);
	return tl;
}

/* Dial B from A; returns both ends once both are up. */
static void pair(struct tlink **a, struct tlink **b)
{
	int nb = count_links(&B);

	*a = dial(hp);
	RUN_UNTIL((*a)->nconnected && count_links(&B) > nb, 5000);
	ck_assert_int_eq((*a)->nconnected, 1);
	ck_assert_int_eq((*a)->connect_err, 0);
	ck_assert_int_eq(count_links(&B), nb + 1);
	*b = &B.links[nb];
}

static int send1(struct tlink *tl, const struct iovec *iov, int n)
{
	int r = CALL(ops->send(tl->l, iov, n, &tl->cookie[tl->nqueued]));

	if (r == 0)
		tl->nqueued++;
	return r;
}

/* Queue len bytes of buf in nsends sends, each split in three iovecs. */
static void send_chunks(struct tlink *tl, const unsigned char *buf, size_t len, int nsends)
{
	size_t per = len / (size_t)nsends;

	for (int i = 0; i < nsends; i++) {
		size_t off = (size_t)i * per, n = i == nsends - 1 ? len - off : per;
		struct iovec iov[3] = {
			{ (void *)(buf + off), 100 },
			{ (void *)(buf + off + 100), n - 200 },
			{ (void *)(buf + off + n - 100), 100 },
		};
		ck_assert_int_eq(send1(tl, iov, 3), 0);
	}
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_bulk)
{
	static unsigned char da[MIB], db[MIB];
	struct tlink *a, *b;
	char name[64], name2[64];

	listen_b();
	pair(&a, &b);
	fill(da, MIB, 1);
	fill(db, MIB, 2);
	a->rx = malloc(MIB);
	b->rx = malloc(MIB);
	a->rxcap = b->rxcap = MIB;
	send_chunks(a, da, MIB, 16);
	send_chunks(b, db, MIB, 7);
	RUN_UNTIL(a->rxlen == MIB && b->rxlen == MIB && a->nsent == 16 && b->nsent == 7, 10000);
	ck_assert_uint_eq(b->rxlen, MIB);
	ck_assert_uint_eq(a->rxlen, MIB);
	ck_assert_int_eq(memcmp(b->rx, da, MIB), 0);
	ck_assert_int_eq(memcmp(a->rx, db, MIB), 0);
	ck_assert_int_eq(a->nsent_ok, 16);
	ck_assert_int_eq(b->nsent_ok, 7);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(a->cookie[i].err, 0);
	ck_assert_uint_eq(ops->send_queued(a->l), 0);
	ck_assert_int_eq(a->nclosed + b->nclosed, 0);

	/* names: A's peer is the listen address, and the ends agree */
	ck_assert_int_eq(ops->addr(a->l, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, hp);
	ck_assert_int_eq(ops->addr(b->l, 0, name, sizeof(name)), 0);
	ck_assert_str_eq(name, hp);
	ck_assert_int_eq(ops->addr(a->l, 0, name, sizeof(name)), 0);
	ck_assert_int_eq(ops->addr(b->l, 1, name2, sizeof(name2)), 0);
	ck_assert_str_eq(name, name2);
	ck_assert_int_eq(strncmp(name, "127.0.0.1:", 10), 0);
	ck_assert_int_eq(ops->addr(a->l, 1, name, 5), -ENOSPC);
	ck_assert_int_eq(ops->reg_mem(A.t, da, MIB), 0);
	ck_assert_str_eq(ops->name, TRANSPORT_NAME);
}
END_TEST

START_TEST(test_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct tlink *a;
	char to[64];
	/* a bound socket that does not listen: its port refuses */
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(to, sizeof(to), "127.0.0.1:%u", ntohs(sin.sin_port));
	a = dial(to);
	RUN_UNTIL(a->nclosed, 5000);
	RUN_UNTIL(0, 50); /* and nothing after it */
	close(fd);
	ck_assert_int_eq(a->nconnected, 1);
	ck_assert_int_eq(a->connect_err, -ECONNREFUSED);
	ck_assert_int_eq(a->nclosed, 1);
	ck_assert_int_eq(a->close_err, -ECONNREFUSED);
	ck_assert_int_lt(a->connect_seq, a->close_seq);
	ck_assert_int_eq(a->nrecv, 0);
}
END_TEST

/* _i == 1: the closing side has unread bytes from the peer (a socket closed
 * like that sends a RST and drops its unsent data), and the peer reads
 * nothing until the closing side is done. */
START_TEST(test_graceful)
{
	const size_t total = _i ? MIB : 4 * MIB;
	unsigned char *d = malloc(total);
	struct tlink *a, *b;
	struct iovec iov = { d, 10 };

	fill(d, total, 3);
	listen_b();
	A.post = B.post = !_i;
	pair(&a, &b);
	b->rx = malloc(total);
	b->rxcap = total;
	if (_i) {
		ck_assert_int_eq(send1(b, &iov, 1), 0);
		RUN_UNTIL(b->nsent, 5000);
		RUN_UNTIL(0, 20);
	}
	send_chunks(a, d, total, 32);
	CALLV(ops->close(a->l, 0));
	CALLV(ops->close(a->l, 0)); /* idempotent */
	ck_assert_int_eq(ops->send(a->l, &iov, 1, &a->cookie[MAXSEND - 1]), -ENOTCONN);
	ck_assert_int_eq(ops->post_recv(a->l, a->rbuf, RBUF), -ENOTCONN);
	if (_i) {
		RUN_UNTIL(a->nclosed, 2000); /* if it all fits in socket buffers */
		ck_assert_int_eq(post(b), 0);
	}
	RUN_UNTIL(a->nclosed && b->nclosed, 10000);
	ck_assert_int_eq(a->nclosed, 1);
	ck_assert_int_eq(a->close_err, 0);
	ck_assert_int_eq(a->nsent_ok, 32);
	ck_assert_int_eq(a->cookie[MAXSEND - 1].n, 0);
	ck_assert_int_eq(b->nclosed, 1);
	ck_assert_int_eq(b->close_err, -ENOTCONN);
	ck_assert_uint_eq(b->rxlen, total);
	ck_assert_int_eq(memcmp(b->rx, d, total), 0);
	free(d);
}
END_TEST

START_TEST(test_abort)
{
	const size_t chunk = 4 * MIB;
	unsigned char *d = malloc(chunk);
	struct iovec iov = { d, chunk };
	struct tlink *a, *b;

	listen_b();
	pair(&a, &b);
	memset(d, 0x5a, chunk);
	/* 32 MiB: more than the socket buffers can hold */
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(send1(a, &iov, 1), 0);
	ck_assert_uint_gt(ops->send_queued(a->l), 0);
	CALLV(ops->close(a->l, -ECONNABORTED));
	CALLV(ops->close(a->l, -EPIPE)); /* idempotent: the first error stays */
	CALLV(ops->close(a->l, 0));
	RUN_UNTIL(a->nclosed && b->nclosed, 10000);
	ck_assert_int_eq(a->nclosed, 1);
	ck_assert_int_eq(a->close_err, -ECONNABORTED);
	ck_assert_int_eq(a->nsent, 8);
	ck_assert_int_eq(a->nsent_ok + a->nsent_cancel, 8);
	ck_assert_int_ge(a->nsent_cancel, 1);
	ck_assert_int_eq(b->nclosed, 1);
#ifdef TEST_THROUGH_RDMA_FAKE
	/* rdma_cm has no reset: an abort is a disconnect with sends cancelled */
	ck_assert(b->close_err == -ENOTCONN || b->close_err == -ECONNRESET);
#else
	ck_assert_int_eq(b->close_err, -ECONNRESET);
#endif
	ck_assert_uint_lt(b->rxbytes, 8 * chunk);
	free(d);
}
END_TEST

START_TEST(test_backpressure)
{
	const size_t total = 256 * 1024;
	unsigned char *d = malloc(total);
	struct tlink *a, *b;

	listen_b();
	B.repost = 0;
	pair(&a, &b);
	b->rlen = 4096;
	ck_assert_int_eq(post(b), 0); /* replaces the buffer posted on accept */
	fill(d, total, 4);
	b->rx = malloc(total);
	b->rxcap = total;
	send_chunks(a, d, total, 4);
	RUN_UNTIL(b->nrecv >= 1, 5000);
	runs = 0;
	RUN_UNTIL(0, 200);
	ck_assert_int_eq(b->nrecv, 1);
	/* it stopped reading rather than spinning on a socket it cannot
	 * read into: the 5 ms tick alone makes about 40 iterations */
	ck_assert_int_lt(runs, 400);
	ck_assert_uint_le(b->rxlen, 4096);
	ck_assert_uint_gt(b->rxlen, 0);
	/* post again: exactly one more received() */
	ck_assert_int_eq(post(b), 0);
	RUN_UNTIL(b->nrecv >= 2, 5000);
	RUN_UNTIL(0, 100);
	ck_assert_int_eq(b->nrecv, 2);
	/* and with reposting, the rest */
	b->repost = 1;
	ck_assert_int_eq(post(b), 0);
	RUN_UNTIL(b->rxlen == total && a->nsent == 4, 10000);
	ck_assert_uint_eq(b->rxlen, total);
	ck_assert_int_eq(memcmp(b->rx, d, total), 0);
	ck_assert_int_gt(b->nrecv, total / 4096 - 1);
	ck_assert_int_eq(a->nsent_ok, 4);
	free(d);
}
END_TEST

START_TEST(test_fini)
{
	const size_t big = 32 * MIB;
	unsigned char *d = calloc(1, big);
	struct iovec iov = { d, big };
	struct tlink *a[3], *b[3], *late;

	listen_b();
	for (int i = 0; i < 3; i++)
		pair(&a[i], &b[i]);
	ck_assert_int_eq(send1(b[0], &iov, 1), 0); /* still queued at fini */
	CALLV(ops->close(b[1]->l, 0));             /* graceful close in flight */
	fini(&B);
	RUN_UNTIL(b[0]->nclosed && b[1]->nclosed && b[2]->nclosed && a[0]->nclosed &&
			  a[1]->nclosed && a[2]->nclosed,
		  10000);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(b[i]->nclosed, 1);
		ck_assert_int_eq(b[i]->close_err, -ECANCELED);
		ck_assert_int_eq(a[i]->nclosed, 1);
#ifdef TEST_THROUGH_RDMA_FAKE
		ck_assert(a[i]->close_err == -ENOTCONN || a[i]->close_err == -ECONNRESET);
#else
		ck_assert_int_eq(a[i]->close_err, -ECONNRESET);
#endif
	}
	ck_assert_int_eq(b[0]->nsent, 1);
	ck_assert_int_eq(b[0]->cookie[0].err, -ECANCELED);

	/* the listener is gone */
	late = dial(hp);
	RUN_UNTIL(late->nclosed, 5000);
	ck_assert_int_eq(late->connect_err, -ECONNREFUSED);

	/* fini while a dial is in flight: closed() only, no connected() */
	late = dial(hp);
	fini(&A);
	ck_assert_int_eq(late->nclosed, 0);
	RUN_UNTIL(late->nclosed, 5000);
	ck_assert_int_eq(late->nconnected, 0);
	ck_assert_int_eq(late->nclosed, 1);
	ck_assert_int_eq(late->close_err, -ECANCELED);
	free(d);
}
END_TEST

START_TEST(test_ipv6)
{
	struct tlink *a, *b;
	char name[64], expect[64];
	struct iovec iov = { "ping", 4 };
	int r = listen_on("[::1]");

	if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT) {
		fprintf(stderr, "test_ipv6: no IPv6 loopback here (%s), skipped\n", strerror(-r));
		return;
	}
	ck_assert_int_eq(r, 0);
	pair(&a, &b);
	ck_assert_int_eq(send1(a, &iov, 1), 0);
	RUN_UNTIL(b->rxbytes == 4 && a->nsent == 1, 5000);
	ck_assert_uint_eq(b->rxbytes, 4);
	ck_assert_int_eq(memcmp(b->rbuf, "ping", 4), 0);
	ck_assert_int_eq(ops->addr(a->l, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, hp);
	ck_assert_int_eq(ops->addr(b->l, 1, name, sizeof(name)), 0);
	ck_assert_int_eq(strncmp(name, "[::1]:", 6), 0);
	ck_assert_int_eq(ops->addr(a->l, 0, expect, sizeof(expect)), 0);
	ck_assert_str_eq(name, expect);
}
END_TEST

START_TEST(test_addresses)
{
	static const char *bad[] = { "localhost:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
				     "::1:80", "[::1]", "[nope]:80", "1.2.3:80", "" };
	struct msgr__tconn *l = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(CALL(ops->dial(A.t, bad[i], &l)) == -EINVAL, "dial %s", bad[i]);
		ck_assert_msg(ops->listen(B.t, bad[i]) == -EINVAL, "listen %s", bad[i]);
	}
	ck_assert_ptr_null(l);
	/* a dial connect() refuses at once (TCP to multicast): an error and
	 * no link, so no callback either */
#ifdef TEST_THROUGH_RDMA_FAKE
	/* over RDMA the dial starts (resolving is asynchronous); RDMA cannot
	 * reach it, and the TCP fallback's connect() refuses at once: the
	 * link gets connected(err), then closed(err), and nothing else */
	{
		struct tlink *a = dial("224.0.0.1:80");

		RUN_UNTIL(a->nclosed, 5000);
		RUN_UNTIL(0, 50);
		ck_assert_int_eq(a->nconnected, 1);
		ck_assert_int_eq(a->connect_err, -ENETUNREACH);
		ck_assert_int_eq(a->nclosed, 1);
		ck_assert_int_eq(a->close_err, -ENETUNREACH);
		ck_assert_int_lt(a->connect_seq, a->close_seq);
	}
#else
	ck_assert_int_eq(CALL(ops->dial(A.t, "224.0.0.1:80", &l)), -ENETUNREACH);
	ck_assert_ptr_null(l);
	RUN_UNTIL(0, 20);
	ck_assert_int_eq(seq, 0);
#endif
}
END_TEST

static Suite *tcp_suite(const char *name)
{
	TCase *tc;
	Suite *s = unit_suite(name, &tc);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bulk);
	tcase_add_test(tc, test_refused);
	tcase_add_loop_test(tc, test_graceful, 0, 2);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_backpressure);
	tcase_add_test(tc, test_fini);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_addresses);
	tcase_set_timeout(tc, 60);
	return s;
}

#if defined(TEST_THROUGH_RDMA_FAKE)
int main(void)
{
	return unit_run(tcp_suite("rdma_tcp"));
}
#elif defined(TEST_THROUGH_FAULT)
int main(void)
{
	int rc;

	/* no delay: receives go straight into the core's buffers; then a
	 * delay line, EOF after held bytes and fini with bytes held included */
	fault_conf.delay_ms = 0;
	rc = unit_run(tcp_suite("fault_tcp"));
	fault_conf.delay_ms = 3;
	return unit_run(tcp_suite("fault_tcp_delay")) | rc;
}
#else
int main(void)
{
	return unit_run(tcp_suite("tcp"));
}
#endif
