/*
 * test_fault.c - Check suite for the fault interceptor (transports/fault.c)
 * over a fake inner transport that the test drives by hand, so every
 * injected fault and every delay can be seen from both sides.
 *
 *   passthrough  nothing injected: calls and events pass unchanged, and
 *                receives go into the core's own buffer (no copy)
 *   fail_send    socket_failures = 1: a send is posted, then the link is
 *                reset: sent(), then one closed(-ECONNRESET); counted
 *   fail_recv    the same on a receive callback: its bytes are dropped
 *   rate         socket_failures = 20: about one op in 20 resets
 *   live         the settings are read at every decision (config set)
 *   delay_fifo   delay 40 ms: nothing arrives at once, everything arrives
 *                in order within the bound, and the inner link keeps
 *                reading meanwhile
 *   delay_close  closing a link cancels its delays: no received() after
 *   delay_eof    an EOF behind held bytes: the bytes first, then closed()
 *   kill         msgr__fault_kill resets once; not on a closing link, nor
 *                on a link that is not the interceptor's
 *   fini         fini with live links, held bytes and an inner link gone
 *
 * Every test ends in the teardown, which finis, runs the loop dry and checks
 * what each link must keep: one closed(), every sent() before it, no
 * received() after it, no callback from inside a call, no handle left.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "transports/fault.h"
#include "tests/unit/unit.h"

#define MAXL 64

/* ---- the fake inner transport --------------------------------------------- */

/* One inner link; the test plays the network by calling its events. */
struct fake_link {
	struct msgr__tconn pub;   /* first */
	int used;
	void *rbuf;              /* posted by the interceptor, or NULL */
	size_t rlen;
	void *cookies[512];      /* sends not yet completed */
	int nsends;
	int closing, close_err, nclose;
	int done;                /* its closed() went up */
};

struct msgr__transport {
	const struct msgr__transport_events *ev;
	void *core;              /* the interceptor */
	struct fake_link links[MAXL];
	int fini;
};

static struct msgr__transport *fake;
static struct fake_link *fake_last; /* the newest inner link */

static int fake_init(struct msgr__transport **t, uv_loop_t *loop,
		     const struct msgr__transport_args *args, const struct msgr__transport_events *ev, void *core, char *err, size_t errlen)
{
	fake = calloc(1, sizeof(*fake));
	fake->ev = ev;
	fake->core = core;
	*t = fake;
	return 0;
}

static int fake_listen(struct msgr__transport *t, const char *hp)
{
	return 0;
}

static const struct msgr__transport_ops fake_ops;

static struct fake_link *fake_new(int outbound)
{
	for (int i = 0; i < MAXL; i++)
		if (!fake->links[i].used) {
			struct fake_link *f = &fake->links[i];
			memset(f, 0, sizeof(*f));
			f->used = 1;
			f->pub.ops = &fake_ops;
			f->pub.outbound = outbound;
			return fake_last = f;
		}
	ck_abort_msg("fake: too many links");
	return NULL;
}

static int fake_dial(struct msgr__transport *t, const char *hp, struct msgr__tconn **out)
{
	*out = &fake_new(1)->pub;
	return 0;
}

static int fake_send(struct msgr__tconn *l, const struct iovec *iov, int n, void *cookie)
{
	struct fake_link *f = (struct fake_link *)l;

	if (f->closing)
		return -ENOTCONN;
	f->cookies[f->nsends++] = cookie;
	return 0;
}

static size_t fake_send_queued(struct msgr__tconn *l)
{
	return 0;
}

static int fake_post_recv(struct msgr__tconn *l, void *buf, size_t len)
{
	struct fake_link *f = (struct fake_link *)l;

	if (f->closing)
		return -ENOTCONN;
	f->rbuf = buf;
	f->rlen = len;
	return 0;
}

static int fake_reg_mem(struct msgr__transport *t, void *base, size_t len)
{
	return 0;
}

static int fake_addr(struct msgr__tconn *l, int peer, char *buf, size_t len)
{
	snprintf(buf, len, "192.0.2.1:6800");
	return 0;
}

static void fake_close(struct msgr__tconn *l, int err)
{
	struct fake_link *f = (struct fake_link *)l;

	f->nclose++;
	if (!f->closing)
		f->close_err = err;
	f->closing = 1;
}

static void fake_fini(struct msgr__transport *t)
{
	t->fini = 1;
	for (int i = 0; i < MAXL; i++)
		if (t->links[i].used && !t->links[i].done)
			fake_close(&t->links[i].pub, -ECANCELED);
}

static const struct msgr__transport_ops fake_ops = {
	"fake", fake_init, fake_listen, fake_dial, fake_send, fake_send_queued,
	fake_post_recv, fake_reg_mem, fake_addr, fake_close, fake_fini,
};

/* The network side of the fake: complete sends, and end closing links (the
 * loop's job in a real transport, so never from inside a call). */
static void fake_complete(struct fake_link *f, int err)
{
	for (int i = 0; i < f->nsends; i++)
		fake->ev->sent(fake->core, &f->pub, f->cookies[i], err);
	f->nsends = 0;
}

static void fake_run(void)
{
	for (int i = 0; i < MAXL; i++) {
		struct fake_link *f = &fake->links[i];
		if (!f->used || f->done || !f->closing)
			continue;
		fake_complete(f, f->close_err ? -ECANCELED : 0);
		f->done = 1;
		fake->ev->closed(fake->core, &f->pub, f->close_err);
	}
}

/* The peer sent len bytes of p: into the posted buffer, as a read would. */
static void fake_recv(struct fake_link *f, const void *p, size_t len)
{
	void *buf = f->rbuf;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_le(len, f->rlen);
	memcpy(buf, p, len);
	f->rbuf = NULL;
	fake->ev->received(fake->core, &f->pub, buf, len);
}

/* ---- the core's side ------------------------------------------------------ */

struct tlink {
	struct msgr__tconn *l;
	int nconnected, nclosed, close_err;
	int nsent, nsent_at_close, sent_after_close, recv_after_close;
	size_t rxlen;
	unsigned char rx[1 << 16];
	unsigned char rbuf[4096];
	uint64_t first_rx_ns, last_rx_ns;
};

static uv_loop_t loop;
static struct msgr__transport *ft;    /* the interceptor */
static struct msgr__fault_conf conf;
static uint64_t injected;
static struct tlink links[MAXL];
static int nlinks, in_call, reentered;

#define CALL(expr) (in_call = 1, call_r_ = (expr), in_call = 0, call_r_)
static int call_r_;
#define CALLV(expr) do { in_call = 1; expr; in_call = 0; } while (0)

static void ev_accepted(void *core, struct msgr__tconn *l)
{
	struct tlink *tl = &links[nlinks++];

	reentered += in_call;
	tl->l = l;
	l->ctx = tl;
}

static void ev_connected(void *core, struct msgr__tconn *l, int err)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nconnected++;
}

static void ev_received(void *core, struct msgr__tconn *l, void *buf, size_t len)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->recv_after_close += tl->nclosed;
	ck_assert_ptr_eq(buf, tl->rbuf);
	ck_assert_uint_le(tl->rxlen + len, sizeof(tl->rx));
	memcpy(tl->rx + tl->rxlen, buf, len);
	tl->rxlen += len;
	tl->last_rx_ns = uv_hrtime();
	if (!tl->first_rx_ns)
		tl->first_rx_ns = tl->last_rx_ns;
	ck_assert_int_eq(msgr__fault_ops.post_recv(l, tl->rbuf, sizeof(tl->rbuf)), 0);
}

static void ev_sent(void *core, struct msgr__tconn *l, void *cookie, int err)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nsent++;
	tl->sent_after_close += tl->nclosed;
}

static void ev_closed(void *core, struct msgr__tconn *l, int err)
{
	struct tlink *tl = l->ctx;

	reentered += in_call;
	tl->nclosed++;
	tl->close_err = err;
	tl->nsent_at_close = tl->nsent;
	tl->l = NULL;
}

static const struct msgr__transport_events events = {
	ev_accepted, ev_connected, ev_received, ev_sent, ev_closed,
};

static const struct msgr__transport_ops *ops = &msgr__fault_ops;

static void setup(void)
{
	char err[128];

	memset(links, 0, sizeof(links));
	memset(&conf, 0, sizeof(conf));
	nlinks = in_call = reentered = 0;
	injected = 0;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(msgr__fault_init(&ft, &fake_ops, &conf, &injected, &loop, NULL, &events, NULL,
					  err, sizeof(err)), 0);
	ck_assert_int_eq(ops->listen(ft, "127.0.0.1:1"), 0);
}

/* Run the loop (the interceptor's timer) and the fake's network for ms. */
static void run_ms(int ms)
{
	uint64_t until = uv_hrtime() + (uint64_t)ms * 1000000;

	do {
		fake_run();
		uv_run(&loop, UV_RUN_NOWAIT);
	} while (uv_hrtime() < until);
}

static void teardown(void)
{
	CALLV(ops->fini(ft));
	for (int i = 0; i < 50; i++) {
		fake_run();
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0); /* the timer is gone too */
	ck_assert_int_eq(reentered, 0);
	for (int i = 0; i < nlinks; i++) {
		struct tlink *tl = &links[i];
		ck_assert_msg(tl->nclosed == 1, "link %d: %d closed()", i, tl->nclosed);
		ck_assert_int_eq(tl->sent_after_close, 0);
		ck_assert_int_eq(tl->recv_after_close, 0);
	}
	free(fake);
	fake = NULL;
}

/* A link dialled through the interceptor, connected, with a buffer posted. */
static struct tlink *up(struct fake_link **inner)
{
	struct msgr__tconn *l;
	struct tlink *tl = &links[nlinks++];

	ck_assert_int_eq(CALL(ops->dial(ft, "192.0.2.1:6800", &l)), 0);
	ck_assert_ptr_eq(l->ops, &msgr__fault_ops);
	ck_assert_int_eq(l->outbound, 1);
	tl->l = l;
	l->ctx = tl;
	*inner = fake_last;
	fake->ev->connected(fake->core, &(*inner)->pub, 0);
	ck_assert_int_eq(tl->nconnected, 1);
	ck_assert_int_eq(CALL(ops->post_recv(l, tl->rbuf, sizeof(tl->rbuf))), 0);
	return tl;
}

static int send1(struct tlink *tl)
{
	static char payload[8] = "payload";
	struct iovec iov = { payload, sizeof(payload) };

	return CALL(ops->send(tl->l, &iov, 1, tl));
}

START_TEST(test_passthrough)
{
	struct fake_link *in;
	struct tlink *tl = up(&in);
	char name[64];

	ck_assert_ptr_eq(in->rbuf, tl->rbuf); /* no copy without a delay */
	ck_assert_int_eq(send1(tl), 0);
	ck_assert_int_eq(in->nsends, 1);
	fake_complete(in, 0);
	ck_assert_int_eq(tl->nsent, 1);
	fake_recv(in, "hello", 5);
	ck_assert_uint_eq(tl->rxlen, 5);
	ck_assert_int_eq(memcmp(tl->rx, "hello", 5), 0);
	ck_assert_int_eq(ops->addr(tl->l, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "192.0.2.1:6800");
	CALLV(ops->close(tl->l, 0));
	ck_assert_int_eq(in->close_err, 0);
	ck_assert_int_eq(ops->send(tl->l, NULL, 0, NULL), -ENOTCONN);
	run_ms(1);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, 0);
	ck_assert_uint_eq(injected, 0);
}
END_TEST

START_TEST(test_fail_send)
{
	struct fake_link *in;
	struct tlink *tl = up(&in);

	conf.socket_failures = 1;
	ck_assert_int_eq(send1(tl), 0); /* posted, then reset */
	ck_assert_int_eq(in->nsends, 1);
	ck_assert_int_eq(in->close_err, -ECONNRESET);
	ck_assert_uint_eq(injected, 1);
	ck_assert_int_eq(tl->nclosed, 0); /* not from inside send() */
	ck_assert_int_eq(CALL(ops->post_recv(tl->l, tl->rbuf, sizeof(tl->rbuf))), 0);
	run_ms(1);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, -ECONNRESET);
	ck_assert_int_eq(tl->nsent_at_close, 1);
}
END_TEST

START_TEST(test_fail_recv)
{
	struct fake_link *in;
	struct tlink *tl = up(&in);

	conf.socket_failures = 1;
	fake_recv(in, "lost", 4);
	ck_assert_uint_eq(tl->rxlen, 0);
	ck_assert_int_eq(in->close_err, -ECONNRESET);
	ck_assert_uint_eq(injected, 1);
	run_ms(1);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, -ECONNRESET);
}
END_TEST

START_TEST(test_rate)
{
	int ops_done = 0, resets = 0;

	conf.socket_failures = 20;
	/* 3000 operations, alternating sends and receives, on links that
	 * are replaced as they are reset */
	while (ops_done < 3000) {
		struct fake_link *in;
		struct tlink *tl;

		if (nlinks == MAXL) { /* reuse the slots: only counts matter */
			run_ms(0);
			for (int i = 0; i < nlinks; i++)
				ck_assert_int_eq(links[i].nclosed, 1);
			nlinks = 0;
			memset(links, 0, sizeof(links));
			memset(fake->links, 0, sizeof(fake->links));
		}
		tl = up(&in);
		while (!in->closing) {
			if (ops_done++ % 2) {
				ck_assert_int_eq(send1(tl), 0);
			} else {
				fake_recv(in, "x", 1);
			}
		}
		resets++;
		run_ms(0);
	}
	ck_assert_uint_eq(injected, (uint64_t)resets);
	/* one in 20: 150 expected; a binomial's spread is about 12 */
	ck_assert_msg(resets > 90 && resets < 220, "%d resets in 3000 operations", resets);
	conf.socket_failures = 0;
}
END_TEST

START_TEST(test_live)
{
	struct fake_link *in;
	struct tlink *tl = up(&in);

	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(send1(tl), 0);
	ck_assert_uint_eq(injected, 0);
	conf.socket_failures = 1; /* as `config set` changes it */
	ck_assert_int_eq(send1(tl), 0);
	ck_assert_uint_eq(injected, 1);
	run_ms(1);
	ck_assert_int_eq(tl->nsent_at_close, 201);
}
END_TEST

START_TEST(test_delay_fifo)
{
	struct fake_link *in;
	struct tlink *tl;
	unsigned char want[2000];
	uint64_t t0;

	conf.delay_ms = 40;
	tl = up(&in);
	ck_assert_ptr_ne(in->rbuf, tl->rbuf); /* the interceptor's own buffer */
	t0 = uv_hrtime();
	for (int i = 0; i < 200; i++) {
		unsigned char chunk[10];
		for (int k = 0; k < 10; k++)
			want[i * 10 + k] = chunk[k] = (unsigned char)(i * 7 + k);
		fake_recv(in, chunk, 10); /* it keeps reading meanwhile */
		ck_assert_ptr_nonnull(in->rbuf);
	}
	ck_assert_uint_eq(tl->rxlen, 0); /* nothing at once */
	while (tl->rxlen < sizeof(want) && uv_hrtime() - t0 < 2000000000ull)
		run_ms(1);
	ck_assert_uint_eq(tl->rxlen, sizeof(want));
	ck_assert_int_eq(memcmp(tl->rx, want, sizeof(want)), 0); /* in order */
	/* held, but no longer than the bound (with room for a slow machine) */
	ck_assert_uint_gt(tl->last_rx_ns - t0, 1000000);
	ck_assert_uint_lt(tl->last_rx_ns - t0, 40000000ull + 500000000ull);
	ck_assert_uint_eq(injected, 0);
	/* the delay off again: back to the core's own buffer, no copy */
	conf.delay_ms = 0;
	fake_recv(in, "z", 1);
	run_ms(5);
	ck_assert_uint_eq(tl->rxlen, sizeof(want) + 1);
	ck_assert_ptr_eq(in->rbuf, tl->rbuf);
}
END_TEST

START_TEST(test_delay_close)
{
	struct fake_link *in;
	struct tlink *tl;

	conf.delay_ms = 30;
	tl = up(&in);
	fake_recv(in, "held", 4);
	CALLV(ops->close(tl->l, -ECONNABORTED));
	run_ms(60);
	ck_assert_uint_eq(tl->rxlen, 0); /* cancelled */
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, -ECONNABORTED);
}
END_TEST

START_TEST(test_delay_eof)
{
	struct fake_link *in;
	struct tlink *tl;

	conf.delay_ms = 30;
	tl = up(&in);
	fake_recv(in, "last words", 10);
	in->done = 1; /* the peer's FIN: the inner link ends */
	fake->ev->closed(fake->core, &in->pub, -ENOTCONN);
	ck_assert_int_eq(tl->nclosed, 0);
	ck_assert_int_eq(ops->send(tl->l, NULL, 0, NULL), -ENOTCONN);
	run_ms(80);
	ck_assert_uint_eq(tl->rxlen, 10);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, -ENOTCONN);
	/* and a reset behind held bytes drops them, as TCP's would */
	tl = up(&in);
	fake_recv(in, "gone", 4);
	in->done = 1;
	fake->ev->closed(fake->core, &in->pub, -ECONNRESET);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_uint_eq(tl->rxlen, 0);
}
END_TEST

START_TEST(test_kill)
{
	struct fake_link *in, other = { .pub.ops = &fake_ops };
	struct tlink *tl = up(&in);

	ck_assert_int_eq(msgr__fault_kill(&other.pub), -EINVAL);
	ck_assert_int_eq(msgr__fault_kill(NULL), -EINVAL);
	ck_assert_int_eq(CALL(msgr__fault_kill(tl->l)), 0);
	ck_assert_int_eq(in->close_err, -ECONNRESET);
	ck_assert_uint_eq(injected, 1);
	ck_assert_int_eq(msgr__fault_kill(tl->l), -ENOTCONN); /* once */
	ck_assert_int_eq(tl->nclosed, 0);
	run_ms(1);
	ck_assert_int_eq(tl->nclosed, 1);
	ck_assert_int_eq(tl->close_err, -ECONNRESET);
	tl = up(&in);
	CALLV(ops->close(tl->l, 0));
	ck_assert_int_eq(msgr__fault_kill(tl->l), -ENOTCONN); /* closing already */
}
END_TEST

START_TEST(test_fini)
{
	struct fake_link *in1, *in2, *in3;
	struct tlink *a, *b, *c;

	conf.delay_ms = 1000;
	a = up(&in1);
	b = up(&in2);
	c = up(&in3);
	ck_assert_int_eq(send1(a), 0);
	fake_recv(in2, "held", 4);
	fake_recv(in3, "held", 4);
	in3->done = 1;
	fake->ev->closed(fake->core, &in3->pub, -ENOTCONN); /* waits for its bytes */
	ck_assert_int_eq(c->nclosed, 0);
	/* the teardown finis with all three: each gets one closed(), a's
	 * sent() before it, and no held byte is delivered */
	(void)b;
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("fault", &tc);

	msgr__log_level = MSGR__LOG_ERR; /* a line per injected reset is noise here */

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_passthrough);
	tcase_add_test(tc, test_fail_send);
	tcase_add_test(tc, test_fail_recv);
	tcase_add_test(tc, test_rate);
	tcase_add_test(tc, test_live);
	tcase_add_test(tc, test_delay_fifo);
	tcase_add_test(tc, test_delay_close);
	tcase_add_test(tc, test_delay_eof);
	tcase_add_test(tc, test_kill);
	tcase_add_test(tc, test_fini);
	tcase_set_timeout(tc, 30);
	return unit_run(s);
}
