/*
 * msgr-itest - the application side of the integration tests.
 *
 * Each scenario is a real libmsgr application run against a real msgrd
 * started by tests/run-integration.sh. It exits 0 when every check held,
 * 1 with a line on stderr naming the first one that did not.
 *
 *   msgr-itest local MODE          two entities: every size, in order, both ways,
 *                                  ACCEPTED/CONNECTED, RESET after detach
 *   msgr-itest threads MODE        4 sending threads, per-thread order kept
 *   msgr-itest eagain              full pool gives -EAGAIN, nothing lost
 *   msgr-itest blocking            send_blocking waits for pool space (sendv)
 *   msgr-itest detach-flush        sends accepted before a detach all arrive
 *   msgr-itest unpin               queued messages outlive their sender's segment
 *   msgr-itest window              a slow receiver stalls only its own connection
 *   msgr-itest window-edges        tiny messages count whole chunks; a blocked
 *                                  sender wakes when its peer goes
 *   msgr-itest server ENTITY N     wait for N messages then a RESET, print "ok"
 *                                  (N < 0: a sink that never stops)
 *   msgr-itest hold ENTITY PEER    connect, send, print "ready", sleep forever
 *   msgr-itest open-close ENTITY PEER N  N lossless connections to PEER/osd.c0...,
 *                                  closed at the first line on stdin
 *   msgr-itest send-hold ENTITY PEER MODE LEN N  connect, hand over up to N
 *                                  messages (until the window stays shut),
 *                                  print "sent K", then the connection's events
 *   msgr-itest idle ENTITY [POOL]  attach (with a POOL-byte pool, default 64M),
 *                                  print "ready", never read; exit when stdin
 *                                  closes
 *   msgr-itest wait-lost ENTITY    print "ready", expect DAEMON_LOST
 *   msgr-itest pingpong-pair SECS  two entities exchange checked messages
 *   msgr-itest vandal ENTITY KIND  corrupt our own segment (random|cmd|rxfree|txdone),
 *                                  or send bad rules (modes-mask|modes-pattern|modes-many)
 *   msgr-itest errors              bad arguments get clear errors
 *   msgr-itest last-error PEERHOST  msgr_last_error() names the problem, per thread;
 *                                  PEERHOST is HOST:PORT where no daemon listens
 *   msgr-itest bigthreads SIZE     4 threads send 40 messages of SIZE bytes each on
 *                                  one connection: none may be refused for the
 *                                  window (it is reserved, not just checked)
 *   msgr-itest cross N             client.x and osd.x connect to each other at
 *                                  once and send N messages each way at once
 *                                  (between two daemons: a connection race)
 *   msgr-itest pairs N             N client.pI -> osd.pI connections, checked
 *                                  traffic; "ready", then again after a line on stdin
 *   msgr-itest reset-wait MS       a pair exchanges, prints "ready", then both
 *                                  ends must see RESET (or DAEMON_LOST) within MS
 *   msgr-itest connect-fail PEER MS  CONNECT_FAILED within MS; prints the error
 *   msgr-itest attach ENTITY MS    attach (and talk to ourselves) within MS, whatever
 *                                  else holds the attach socket; prints the time
 *   msgr-itest flood ENTITY PEER N exit|hold
 *                                  push N raw CONNECTs to PEER around msgr_connect's
 *                                  reuse, as a hostile client can; exit at once, or
 *                                  wait for every answer, print the counts and
 *                                  hold the connections until killed
 *   msgr-itest victim ENTITY       accept anything, close each handle on RESET as
 *                                  msgr_conn_close(3) suggests, print "ok" with the
 *                                  timings once all accepted handles are closed;
 *                                  echo messages; run until killed
 *   msgr-itest ping PEER MS [N [MODE]]  connect (MODE lossy, lossless or peer;
 *                                  default lossy), and get N echoes back (one at
 *                                  a time, each within MS; default 1); then stay
 *                                  attached 100 ms more (acks still owed go out)
 *   msgr-itest close-behind N      msgr_conn_close while N flooded events wait unread:
 *                                  served at once, no spin, never blocks ("blocked",
 *                                  then a line on stdin)
 *   msgr-itest try-attach ENTITY   attach and detach: "ok attached", or exit 2
 *                                  with "refused: -ERRNO TEXT" ([policy] tests)
 *   msgr-itest accept-modes [hold] osd.acc accepts lossy from client.* and peer
 *                                  from osd.* (msgr_accept_modes): refused modes
 *                                  get CONNECT_FAILED with EPROTONOSUPPORT, the
 *                                  others work; bad rules get -EINVAL/-ENOSPC.
 *                                  The connecting entities stay on $MSGR_SOCKET's
 *                                  daemon. hold: "ready", then a line on stdin
 *   msgr-itest lf-survivor ENTITY PEER|- MODE
 *                                  the end that survives restarts of its peer
 *                                  (lossless-faults.sh): connect to PEER in MODE
 *                                  (or, with -, accept), stream tagged messages on
 *                                  every live handle, check what comes back; print
 *                                  "remote_reset N" on each REMOTE_RESET (then
 *                                  connect again); any other reset, a stale or
 *                                  doubled message fails; on SIGTERM print "done ..."
 *   msgr-itest lf-restarter ENTITY PEER|- MODE MINGEN
 *                                  the end that is killed: connect (or accept),
 *                                  stream back; every message must be of one
 *                                  survivor handle newer than MINGEN (older ones
 *                                  were meant for an earlier instance); "ready gen
 *                                  G" after 100 messages; "daemon lost" and exit 0
 *                                  on DAEMON_LOST; runs until killed
 *   msgr-itest lf-standby          client.sb -> osd.sb in peer mode, one message
 *                                  each way, "ready"; then per stdin line "a"
 *                                  (client.sb sends) or "b" (osd.sb sends): wait
 *                                  for its delivery, "ok a|b after MS ms"; "q":
 *                                  nothing else may come, "ok done"
 *   msgr-itest lf-hold ENTITY PEER MODE MS
 *                                  connect, one message, CONNECTED, "ready"; then
 *                                  REMOTE_RESET must come within MS ("ok
 *                                  remote_reset after MS ms"); any other event fails
 *
 * With $ITEST_PEER_SOCKET set, every osd.* entity attaches to the daemon
 * behind that socket instead of $MSGR_SOCKET's, so the same scenarios run
 * between two daemons over the network (tests/integration/net.sh).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "msgr.h"

#define ITEST_PROG "msgr-itest"
#include "itest.h"

static msgr_client *attach(const char *entity, size_t pool)
{
	struct msgr_attach_opts o = { .pool_size = pool };

	if (!strncmp(entity, "osd.", 4))
		o.socket_path = getenv("ITEST_PEER_SOCKET");
	msgr_client *c;
	int err = msgr_attach(entity, &o, &c);

	CHECK(!err, "attach %s: %s", entity, msgr_strerror(err));
	return c;
}

/* The payload of message seq of length len: checkable bytes. */
static void fill(unsigned char *p, size_t len, uint32_t seq)
{
	uint32_t x = seq * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

static int verify(const unsigned char *p, size_t len, uint32_t seq)
{
	uint32_t x = seq * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (p[i] != (unsigned char)x)
			return 0;
	}
	return 1;
}

/* Next event of any type, failing after timeout. */
static void next(msgr_client *c, struct msgr_event *ev, int timeout_ms)
{
	int err = msgr_next(c, ev, timeout_ms);

	CHECK(!err, "msgr_next: %s", msgr_strerror(err));
}

static void expect(msgr_client *c, struct msgr_event *ev, enum msgr_event_type t)
{
	next(c, ev, 5000);
	CHECK(ev->type == t, "expected event %d, got %d (error %d)", t, ev->type, ev->error);
}

static const size_t sizes[] = { 0, 1, 63, 64, 1000, 1023, 1024, 1025, 4096, 65536, 1 << 20,
				(16 << 20) - 1, 16 << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Send msgs from a to b (sizes cycling), receiving on b as needed, and
 * check order, type and content. */
static void stream(msgr_client *ca, msgr_conn *a, msgr_client *cb, msgr_conn *b, int n)
{
	static unsigned char *buf;
	int sent = 0, got = 0;

	if (!buf)
		buf = malloc(16 << 20);
	while (got < n) {
		while (sent < n) {
			size_t len = sizes[sent % NSIZES];
			int err;
			fill(buf, len, (uint32_t)sent);
			err = msgr_send(a, 1000 + (uint32_t)sent, buf, len);
			if (err == -EAGAIN)
				break;
			CHECK(!err, "send %d (%zu bytes): %s", sent, len, msgr_strerror(err));
			sent++;
		}
		if (got == sent) {
			/* The window is full but everything arrived: its credit
			 * is on its way back (over the network, with the peer
			 * daemon's ack, after the message reached us). */
			usleep(100);
			continue;
		}
		struct msgr_event ev;
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE, "expected a message, got event %d", ev.type);
		CHECK(ev.conn == b, "message on the wrong handle");
		CHECK(ev.msg_type == 1000u + (uint32_t)got, "message %d has type %u (out of order?)", got,
		      ev.msg_type);
		CHECK(ev.len == sizes[got % NSIZES], "message %d: length %zu, want %zu", got, ev.len,
		      sizes[got % NSIZES]);
		CHECK(verify(ev.data, ev.len, (uint32_t)got), "message %d: payload corrupted", got);
		msgr_event_release(cb, &ev);
		got++;
	}
	(void)ca;
}

static enum msgr_mode parse_mode(const char *s)
{
	if (!strcmp(s, "lossy"))
		return MSGR_LOSSY;
	if (!strcmp(s, "lossless"))
		return MSGR_LOSSLESS;
	if (!strcmp(s, "peer"))
		return MSGR_PEER;
	fail("unknown mode %s", s);
	return 0;
}

static int sc_local(enum msgr_mode mode)
{
	msgr_client *ca = attach("client.a", 64 << 20), *cb = attach("osd.1", 64 << 20);
	struct msgr_event ev;
	msgr_conn *a, *a2, *b;
	struct pollfd pfd;
	int err;

	CHECK(strstr(msgr_addr(cb), "/osd.1"), "addr %s", msgr_addr(cb));
	err = msgr_connect(ca, msgr_addr(cb), mode, &a);
	CHECK(!err, "connect: %s", msgr_strerror(err));
	err = msgr_connect(ca, msgr_addr(cb), mode, &a2);
	CHECK(!err && a2 == a, "a second connect to the same peer must return the same handle");
	/* a send while still connecting is queued, not refused */
	CHECK(!msgr_send(a, 7, "early", 5), "send while connecting");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	CHECK(ev.conn == a, "CONNECTED names the wrong handle");
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	b = ev.conn;
	CHECK(b && !strcmp(msgr_conn_peer(b), msgr_addr(ca)), "ACCEPTED peer is %s, want %s",
	      b ? msgr_conn_peer(b) : "(null)", msgr_addr(ca));
	/* the accepted handle is the open one to its peer too (libmsgr finds
	 * it by peer and mode) */
	err = msgr_connect(cb, msgr_addr(ca), mode, &a2);
	CHECK(!err && a2 == b, "a connect to the peer of an accepted connection must return it");
	expect(cb, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.msg_type == 7 && ev.len == 5 && !memcmp(ev.data, "early", 5), "early message");
	msgr_event_release(cb, &ev);

	stream(ca, a, cb, b, 3 * (int)NSIZES);  /* a -> b, every size */
	stream(cb, b, ca, a, 2 * (int)NSIZES);  /* b -> a */

	/* msgr_fd: nothing pending, then readable once a message is sent */
	CHECK(msgr_next(cb, &ev, 0) == -EAGAIN, "msgr_next(0) on an empty ring");
	pfd.fd = msgr_fd(cb);
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, 0) == 0, "msgr_fd readable with nothing pending");
	CHECK(!msgr_send(a, 9, "x", 1), "send");
	CHECK(poll(&pfd, 1, 5000) == 1, "msgr_fd did not become readable");
	expect(cb, &ev, MSGR_EV_MESSAGE);
	msgr_event_release(cb, &ev);

	/* Many small messages: ring wraparound, order kept. */
	{
		int sent = 0, got = 0;
		while (got < 20000) {
			while (sent < 20000) {
				uint32_t v = (uint32_t)sent;
				err = msgr_send(a, 1, &v, sizeof(v));
				if (err == -EAGAIN)
					break;
				CHECK(!err, "small send: %s", msgr_strerror(err));
				sent++;
			}
			if (got == sent) {
				usleep(100); /* credit still on its way back, as in stream() */
				continue;
			}
			next(cb, &ev, 5000);
			CHECK(ev.type == MSGR_EV_MESSAGE && ev.len == 4 &&
				      *(const uint32_t *)ev.data == (uint32_t)got,
			      "small message %d missing or out of order", got);
			msgr_event_release(cb, &ev);
			got++;
		}
	}

	/* The other side detaches: b gets RESET, sends fail with ECONNRESET. */
	msgr_detach(ca);
	expect(cb, &ev, MSGR_EV_RESET);
	CHECK(ev.conn == b && ev.error < 0, "RESET names the wrong handle or no error");
	err = msgr_send(b, 1, "x", 1);
	CHECK(err == -ECONNRESET, "send after RESET: %s", msgr_strerror(err));
	msgr_conn_close(b);
	CHECK(msgr_next(cb, &ev, 300) == -EAGAIN, "an event after close named a closed handle");
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

struct thr {
	msgr_client *c;
	const char *peer;
	enum msgr_mode mode;
	msgr_conn *conn;
	int id, n;
};

static void *sender(void *arg)
{
	struct thr *t = arg;
	int cerr;

	/* every thread asks for the connection itself: they must all get the
	 * same handle, and no SEND may overtake its CONNECT */
	cerr = msgr_connect(t->c, t->peer, t->mode, &t->conn);
	if (cerr)
		fail("thread %d connect: %s", t->id, msgr_strerror(cerr));

	for (int i = 0; i < t->n; i++) {
		uint32_t v[2] = { (uint32_t)t->id, (uint32_t)i };
		int err;
		while ((err = msgr_send(t->conn, (uint32_t)t->id, v, sizeof(v))) == -EAGAIN)
			usleep(50);
		if (err)
			fail("thread %d send %d: %s", t->id, i, msgr_strerror(err));
	}
	return NULL;
}

static int sc_threads(enum msgr_mode mode)
{
	enum { NT = 4, N = 50000 };
	msgr_client *ca = attach("client.t", 8 << 20), *cb = attach("osd.t", 8 << 20);
	struct msgr_event ev;
	pthread_t th[NT];
	struct thr t[NT];
	uint32_t want[NT] = { 0 };
	msgr_conn *a;
	int got = 0;

	for (int i = 0; i < NT; i++) {
		t[i] = (struct thr){ ca, msgr_addr(cb), mode, NULL, i, N };
		pthread_create(&th[i], NULL, sender, &t[i]);
	}
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	while (got < NT * N) {
		const uint32_t *v;
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.len == 8, "threads: event %d len %zu", ev.type,
		      ev.len);
		v = ev.data;
		CHECK(v[0] < NT && v[1] == want[v[0]], "thread %u: got seq %u, want %u", v[0], v[1],
		      want[v[0] < NT ? v[0] : 0]);
		want[v[0]]++;
		msgr_event_release(cb, &ev);
		got++;
	}
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	for (int i = 1; i < NT; i++)
		CHECK(t[i].conn == t[0].conn, "threads got different handles to one peer");
	CHECK(!msgr_connect(ca, msgr_addr(cb), mode, &a) && a == t[0].conn, "connect after");
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

static int sc_eagain(void)
{
	msgr_client *ca = attach("client.e", 1 << 20), *cb = attach("osd.e", 1 << 20);
	static unsigned char buf[65536];
	struct msgr_event ev;
	msgr_conn *a;
	int sent = 0, got = 0, err;
	void *zb;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSLESS, &a), "connect");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	for (;;) {
		fill(buf, sizeof(buf), (uint32_t)sent);
		err = msgr_send(a, (uint32_t)sent, buf, sizeof(buf));
		if (err == -EAGAIN)
			break;
		CHECK(!err, "send: %s", msgr_strerror(err));
		CHECK(++sent < 10000, "the pool never filled");
	}
	/* 1 MiB pools: at most 32 (64 KiB) messages fit in the receiver's RX
	 * pool and the sender's TX pool together */
	CHECK(sent >= 16 && sent <= 32, "sent %d before EAGAIN", sent);
	/* The daemon may still move a message or two out of the TX pool after
	 * that EAGAIN (into the receiver's RX pool while it had room), so a
	 * chunk can come free: take what comes, and the pool must then refuse. */
	{
		void *held[8];
		int nheld = 0;

		while (nheld < 8 && (err = msgr_buf_alloc(ca, sizeof(buf), &zb)) == 0)
			held[nheld++] = zb;
		CHECK(err == -EAGAIN, "buf_alloc on a full pool: %s (after %d more)", msgr_strerror(err),
		      nheld);
		while (nheld)
			CHECK(!msgr_buf_free(ca, held[--nheld]), "buf_free of an unsent buffer");
	}
	CHECK(msgr_send(a, 0, buf, 2 << 20) == -EMSGSIZE, "a message larger than the pool");
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	while (got < sent) {
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)got &&
			      verify(ev.data, ev.len, (uint32_t)got),
		      "message %d lost or damaged", got);
		msgr_event_release(cb, &ev);
		got++;
	}
	CHECK(msgr_next(cb, &ev, 300) == -EAGAIN, "more messages than were sent");
	/* space is back: the zero-copy path works */
	for (int i = 0; i < 100 && msgr_buf_alloc(ca, 100, &zb) == -EAGAIN; i++)
		usleep(10000);
	CHECK(!msgr_buf_alloc(ca, 100, &zb), "buf_alloc after drain");
	memcpy(zb, "zero-copy", 10);
	CHECK(!msgr_send_buf(a, 77, zb, 10), "send_buf");
	CHECK(msgr_send_buf(a, 77, zb, 10) == -EINVAL, "the same buffer sent twice");
	CHECK(msgr_buf_free(ca, zb) == -EBUSY || msgr_buf_free(ca, zb) == -EINVAL,
	      "freeing a sent buffer");
	expect(cb, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.msg_type == 77 && ev.len == 10 && !strcmp(ev.data, "zero-copy"), "zero-copy message");
	msgr_event_release(cb, &ev);
	CHECK(msgr_send_buf(a, 1, buf, 10) == -EINVAL, "send_buf of a foreign buffer");
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok sent=%d\n", sent);
	return 0;
}

struct blk {
	msgr_conn *conn;
	int n;
	int err;
};

static void *blocking_sender(void *arg)
{
	struct blk *b = arg;
	static unsigned char buf[65536];

	for (int i = 0; i < b->n && !b->err; i++) {
		struct iovec iov[3] = { { buf, 100 }, { buf + 100, 0 }, { buf + 100, sizeof(buf) - 100 } };
		fill(buf, sizeof(buf), (uint32_t)i);
		b->err = msgr_sendv(b->conn, (uint32_t)i, iov, 3);
	}
	return NULL;
}

/* send_blocking: a sender far ahead of a slow receiver waits for pool space
 * instead of failing, and every message arrives intact. */
static int sc_blocking(void)
{
	struct msgr_attach_opts o = { .pool_size = 1 << 20, .send_blocking = 1 };
	msgr_client *ca, *cb = attach("osd.b", 1 << 20);
	struct blk b = { .n = 400 };
	struct msgr_event ev;
	pthread_t th;
	int err = msgr_attach("client.b", &o, &ca);

	CHECK(!err, "attach: %s", msgr_strerror(err));
	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSLESS, &b.conn), "connect");
	pthread_create(&th, NULL, blocking_sender, &b);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	for (int got = 0; got < b.n; got++) {
		if (got % 50 == 0)
			usleep(20000); /* be slow now and then */
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)got && ev.len == 65536 &&
			      verify(ev.data, ev.len, (uint32_t)got),
		      "message %d lost or damaged", got);
		msgr_event_release(cb, &ev);
	}
	pthread_join(th, NULL);
	CHECK(!b.err, "blocking send failed: %s", msgr_strerror(b.err));
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

/* Messages accepted by msgr_send before msgr_detach all arrive, then RESET. */
static int sc_detach_flush(void)
{
	msgr_client *ca = attach("client.df", 8 << 20), *cb = attach("osd.df", 8 << 20);
	struct msgr_event ev;
	msgr_conn *a;
	int n = 0;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSLESS, &a), "connect");
	while (n < 2000) {
		uint32_t v = (uint32_t)n;
		int err = msgr_send(a, 5, &v, sizeof(v));
		if (err == -EAGAIN)
			break; /* whatever fits; the point is what happens next */
		CHECK(!err, "send %d: %s", n, msgr_strerror(err));
		n++;
	}
	msgr_detach(ca); /* at once: the daemon still has SENDs in the ring */
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	for (int i = 0; i < n; i++) {
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && *(const uint32_t *)ev.data == (uint32_t)i,
		      "message %d of %d lost after detach (event %d)", i, n, ev.type);
		msgr_event_release(cb, &ev);
	}
	/* across daemons a lossless channel whose remote entity went ends in
	 * REMOTE_RESET (PROTOCOL.md 5a); on one daemon, in RESET */
	expect(cb, &ev, getenv("ITEST_PEER_SOCKET") ? MSGR_EV_REMOTE_RESET : MSGR_EV_RESET);
	msgr_detach(cb);
	printf("ok %d\n", n);
	return 0;
}

/* Messages queued for a receiver whose RX pool is full survive their
 * sender's detach (the daemon copies them out of the gone segment). */
static int sc_unpin(void)
{
	msgr_client *ca = attach("client.up", 4 << 20), *cb = attach("osd.up", 64 << 10);
	unsigned char buf[1000];
	struct msgr_event ev;
	msgr_conn *a;
	int n = 300;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &a), "connect");
	for (int i = 0; i < n; i++) {
		fill(buf, sizeof(buf), (uint32_t)i);
		CHECK(!msgr_send(a, (uint32_t)i, buf, sizeof(buf)), "send %d", i);
	}
	msgr_detach(ca); /* most of them wait in osd.up's outbox now */
	usleep(100000);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	for (int i = 0; i < n; i++) {
		next(cb, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)i && ev.len == sizeof(buf) &&
			      verify(ev.data, ev.len, (uint32_t)i),
		      "message %d lost or damaged after its sender left (event %d)", i, ev.type);
		msgr_event_release(cb, &ev);
	}
	expect(cb, &ev, MSGR_EV_RESET);
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

/* Flow control: a receiver that does not read stalls only the connection
 * to it. With the daemon's default 4 MiB window and an 8 MiB pool, the
 * sender can still talk to someone else. */
static int sc_window(void)
{
	msgr_client *ca = attach("client.win", 8 << 20), *slow = attach("osd.slow", 64 << 10),
		    *fast = attach("osd.fast", 8 << 20);
	static unsigned char buf[65536];
	struct msgr_event ev;
	msgr_conn *to_slow, *to_fast;
	int nslow = 0, err;

	CHECK(!msgr_connect(ca, msgr_addr(slow), MSGR_LOSSLESS, &to_slow), "connect slow");
	CHECK(!msgr_connect(ca, msgr_addr(fast), MSGR_LOSSLESS, &to_fast), "connect fast");
	for (;;) {
		fill(buf, sizeof(buf), (uint32_t)nslow);
		err = msgr_send(to_slow, (uint32_t)nslow, buf, sizeof(buf));
		if (err == -EAGAIN)
			break;
		CHECK(!err, "send to slow: %s", msgr_strerror(err));
		CHECK(++nslow < 128, "the window never closed: the slow peer took the whole pool");
	}
	/* 4 MiB waiting + what fits in the slow peer's 64 KiB RX pool */
	CHECK(nslow >= 60 && nslow <= 70, "window closed after %d messages of 64 KiB", nslow);
	expect(fast, &ev, MSGR_EV_ACCEPTED);
	for (int i = 0; i < 100; i++) {
		fill(buf, sizeof(buf), (uint32_t)i);
		err = msgr_send(to_fast, (uint32_t)i, buf, sizeof(buf));
		CHECK(!err, "send %d to the fast peer while the slow one stalls: %s", i, msgr_strerror(err));
		next(fast, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)i &&
			      verify(ev.data, ev.len, (uint32_t)i), "fast message %d", i);
		msgr_event_release(fast, &ev);
	}
	/* the slow peer wakes up: everything is there, in order, intact */
	expect(slow, &ev, MSGR_EV_ACCEPTED);
	for (int i = 0; i < nslow; i++) {
		next(slow, &ev, 5000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)i && ev.len == sizeof(buf) &&
			      verify(ev.data, ev.len, (uint32_t)i), "slow message %d", i);
		msgr_event_release(slow, &ev);
	}
	/* and the window opens again */
	for (int i = 0; i < 100 && (err = msgr_send(to_slow, 9999, buf, 10)) == -EAGAIN; i++)
		usleep(10000);
	CHECK(!err, "the window did not reopen: %s", msgr_strerror(err));
	msgr_detach(ca);
	msgr_detach(slow);
	msgr_detach(fast);
	printf("ok window closed after %d\n", nslow);
	return 0;
}

/* Tiny messages count as the chunks they take, so they cannot slip past
 * the window; and a sender blocked on a window wakes with ECONNRESET when
 * the receiver goes, without reading events. */
struct wr {
	msgr_conn *conn;
	int err, n;
};

static void *window_blocked_sender(void *arg)
{
	struct wr *w = arg;
	static unsigned char buf[65536];

	while (!(w->err = msgr_send(w->conn, 1, buf, sizeof(buf))))
		w->n++;
	return NULL;
}

static int sc_window_edges(void)
{
	struct msgr_attach_opts bo = { .pool_size = 16 << 20, .send_blocking = 1 };
	msgr_client *ca = attach("client.we", 16 << 20), *slow = attach("osd.we", 64 << 10), *cb;
	struct wr w = { 0 };
	struct timespec ts;
	msgr_conn *k;
	int n = 0, err;

	CHECK(!msgr_connect(ca, msgr_addr(slow), MSGR_LOSSY, &k), "connect");
	/* -EAGAIN also comes from a full cmd ring (4096 slots, as many as
	 * the window's chunks) while the daemon has not woken to it yet: the
	 * window is closed only when it stays so */
	for (int again = 0; again < 5;) {
		err = msgr_send(k, 1, "x", 1);
		if (err == -EAGAIN) {
			again++;
			usleep(10000);
			continue;
		}
		CHECK(!err, "send: %s", msgr_strerror(err));
		CHECK(++n < 16384, "1-byte messages were not held by the window");
		again = 0;
	}
	/* 4 MiB of 1 KiB chunks waiting, plus the slow peer's 64 chunks */
	CHECK(n >= 4096 && n <= 4096 + 64 + 16, "window closed after %d one-byte messages", n);
	msgr_detach(ca);

	err = msgr_attach("client.wb", &bo, &cb);
	CHECK(!err, "attach: %s", msgr_strerror(err));
	CHECK(!msgr_connect(cb, msgr_addr(slow), MSGR_LOSSY, &w.conn), "connect");
	pthread_t th;
	pthread_create(&th, NULL, window_blocked_sender, &w);
	usleep(300000); /* let it fill the window and block */
	msgr_detach(slow);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	CHECK(pthread_timedjoin_np(th, NULL, &ts) == 0,
	      "a send blocked on the window did not notice its peer was gone");
	CHECK(w.err == -ECONNRESET, "blocked send ended with %s", msgr_strerror(w.err));
	CHECK(w.n >= 60, "only %d sends before blocking", w.n);
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

static int sc_server(const char *entity, int n)
{
	msgr_client *c = attach(entity, 0);
	struct msgr_event ev;
	int got = 0;

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		next(c, &ev, n < 0 ? -1 : 30000);
		if (ev.type == MSGR_EV_MESSAGE) {
			got++;
			msgr_event_release(c, &ev);
		} else if (ev.type == MSGR_EV_RESET && n < 0) {
			msgr_conn_close(ev.conn); /* a sink: serve the next client */
		} else if (ev.type == MSGR_EV_RESET) {
			CHECK(got >= n, "RESET after %d of %d messages", got, n);
			printf("ok reset\n");
			msgr_detach(c);
			return 0;
		} else {
			CHECK(ev.type == MSGR_EV_ACCEPTED, "unexpected event %d", ev.type);
		}
	}
}

/* Prints each message's type, length and FNV-1a hash, for a peer that
 * sends crafted frames to check against, until killed. */
static int sc_sink_sum(const char *entity)
{
	msgr_client *c = attach(entity, 4u << 20);
	struct msgr_event ev;

	printf("ready\n");
	fflush(stdout);
	for (;;) {
		next(c, &ev, -1);
		if (ev.type == MSGR_EV_MESSAGE) {
			const unsigned char *p = ev.data;
			uint64_t h = 0xcbf29ce484222325ull;
			for (size_t i = 0; i < ev.len; i++)
				h = (h ^ p[i]) * 0x100000001b3ull;
			printf("msg %u %zu %016llx\n", ev.msg_type, (size_t)ev.len, (unsigned long long)h);
			fflush(stdout);
			msgr_event_release(c, &ev);
		} else if (ev.type == MSGR_EV_RESET) {
			msgr_conn_close(ev.conn);
		} else {
			CHECK(ev.type == MSGR_EV_ACCEPTED, "unexpected event %d", ev.type);
		}
	}
}

/* n idle entities with the default pool (osd.idle.0 ..), then, once a line
 * comes on stdin, the first (parked by then) connects to the last and
 * sends: the daemon must take it and deliver it. */
static int sc_idle_many(int n)
{
	msgr_client **c = calloc((size_t)n, sizeof(*c));
	struct msgr_event ev;
	char name[32], line[16];
	msgr_conn *k;

	CHECK(c && n >= 2, "idle-many: n >= 2");
	raise_nofile();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "client.idle%d", i % 100000);
		c[i] = attach(name, 0);
	}
	printf("ready\n");
	fflush(stdout);
	CHECK(fgets(line, sizeof(line), stdin), "idle-many: stdin closed");
	CHECK(!msgr_connect(c[0], msgr_addr(c[n - 1]), MSGR_LOSSY, &k), "connect");
	expect(c[0], &ev, MSGR_EV_CONNECTED);
	expect(c[n - 1], &ev, MSGR_EV_ACCEPTED);
	CHECK(!msgr_send(k, 7, "wake", 4), "send");
	expect(c[n - 1], &ev, MSGR_EV_MESSAGE);
	CHECK(ev.msg_type == 7 && ev.len == 4 && !memcmp(ev.data, "wake", 4), "message garbled");
	msgr_event_release(c[n - 1], &ev);
	printf("ok woke\n");
	for (int i = 0; i < n; i++)
		msgr_detach(c[i]);
	free(c);
	return 0;
}

static int sc_hold(const char *entity, const char *peer)
{
	msgr_client *c = attach(entity, 1 << 20);
	struct msgr_event ev;
	msgr_conn *k;

	CHECK(!msgr_connect(c, peer, MSGR_LOSSLESS, &k), "connect");
	CHECK(!msgr_send(k, 1, "hello", 5), "send");
	expect(c, &ev, MSGR_EV_CONNECTED);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static int sc_idle(const char *entity, size_t pool)
{
	msgr_client *c = attach(entity, pool);
	char line[16];

	printf("ready\n");
	while (fgets(line, sizeof(line), stdin))
		;
	msgr_detach(c);
	return 0;
}

static int sc_wait_lost(const char *entity)
{
	msgr_client *c = attach(entity, 1 << 20);
	struct msgr_event ev;
	msgr_conn *k;
	uint64_t t0;
	int err;

	CHECK(!msgr_connect(c, msgr_addr(c), MSGR_PEER, &k), "connect to self");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		next(c, &ev, -1);
		if (ev.type == MSGR_EV_DAEMON_LOST)
			break;
	}
	t0 = now_ms();
	err = msgr_next(c, &ev, -1);
	CHECK(err == -ENOTCONN, "msgr_next after DAEMON_LOST: %s", msgr_strerror(err));
	CHECK(now_ms() - t0 < 100, "msgr_next after DAEMON_LOST blocked");
	err = msgr_send(k, 1, "x", 1);
	CHECK(err == -ENOTCONN, "send after DAEMON_LOST: %s", msgr_strerror(err));
	msgr_detach(c);
	printf("ok lost\n");
	return 0;
}

static int sc_pingpong_pair(int secs)
{
	msgr_client *ca = attach("client.pp", 4 << 20), *cb = attach("osd.pp", 4 << 20);
	unsigned char buf[4096];
	struct msgr_event ev;
	msgr_conn *a, *b = NULL;
	uint64_t end = now_ms() + (uint64_t)secs * 1000;
	uint32_t seq = 0;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSLESS, &a), "connect");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	b = ev.conn;
	printf("ready\n");
	fflush(stdout);
	while (now_ms() < end) {
		size_t len = seq % sizeof(buf);
		fill(buf, len, seq);
		CHECK(!msgr_send(a, seq, buf, len), "ping %u", seq);
		expect(cb, &ev, MSGR_EV_MESSAGE);
		CHECK(ev.msg_type == seq && ev.len == len && verify(ev.data, len, seq), "ping %u damaged", seq);
		msgr_event_release(cb, &ev);
		CHECK(!msgr_send(b, seq, buf, len), "pong %u", seq);
		expect(ca, &ev, MSGR_EV_MESSAGE);
		CHECK(ev.msg_type == seq && ev.len == len && verify(ev.data, len, seq), "pong %u damaged", seq);
		msgr_event_release(ca, &ev);
		seq++;
	}
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok %u round trips\n", seq);
	return 0;
}

/* Lossy ping-pong between client.churn and osd.churn for secs while the
 * daemons reset links under it (net.inject_socket_failures): each side
 * takes RESET (or CONNECT_FAILED) as the end of that connection, closes
 * it and goes on with a new one. What does arrive must be intact, and on
 * each connection in order with nothing twice: every ping carries its
 * number on that connection, and the pong must answer the ping in flight.
 * Prints the round trips and the resets seen; fails only on damage, on
 * disorder, or when nothing moves for 10 s. */
static int sc_churn(int secs)
{
	msgr_client *ca = attach("client.churn", 4 << 20), *cb = attach("osd.churn", 4 << 20);
	struct { msgr_conn *k; uint32_t next; } in[64]; /* osd.churn's connections */
	unsigned char buf[2048];
	struct msgr_event ev;
	msgr_conn *a = NULL;
	uint32_t seq = 0, trips = 0, resets_a = 0, resets_b = 0;
	uint64_t end = now_ms() + (uint64_t)secs * 1000, moved = now_ms();
	int nin = 0, waiting = 0;

	printf("ready\n");
	fflush(stdout);
	while (now_ms() < end) {
		CHECK(now_ms() - moved < 10000, "nothing moved for 10 s (%u round trips, %u resets)",
		      trips, resets_a + resets_b);
		if (!a) {
			CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &a), "connect");
			seq = 0;
			waiting = 0;
		}
		if (!waiting) {
			size_t len = (seq * 37) % sizeof(buf);
			int err;
			fill(buf, len, seq);
			err = msgr_send(a, seq, buf, len);
			if (err == -ECONNRESET) { /* the RESET event is on its way */
				waiting = 1;
			} else {
				CHECK(!err, "ping %u: %s", seq, msgr_strerror(err));
				waiting = 1;
			}
		}
		if (msgr_next(cb, &ev, 1) == 0) {
			int i;
			for (i = 0; i < nin && in[i].k != ev.conn; i++)
				;
			if (ev.type == MSGR_EV_ACCEPTED) {
				CHECK(nin < 64, "too many connections at once");
				in[nin].k = ev.conn;
				in[nin++].next = 0;
			} else if (ev.type == MSGR_EV_RESET) {
				CHECK(i < nin, "RESET on an unknown handle");
				msgr_conn_close(in[i].k);
				in[i] = in[--nin];
				resets_b++;
			} else if (ev.type == MSGR_EV_MESSAGE) {
				CHECK(i < nin, "message on an unknown handle");
				CHECK(ev.msg_type == in[i].next, "ping %u where %u was next (lost, twice or out of order)",
				      ev.msg_type, in[i].next);
				CHECK(ev.len == (ev.msg_type * 37) % sizeof(buf) &&
					      verify(ev.data, ev.len, ev.msg_type), "ping %u damaged", ev.msg_type);
				in[i].next++;
				/* echo it; a reset connection refuses, and its RESET follows */
				int err = msgr_send(ev.conn, ev.msg_type, ev.data, ev.len);
				CHECK(!err || err == -ECONNRESET, "pong: %s", msgr_strerror(err));
				msgr_event_release(cb, &ev);
			} else {
				fail("osd.churn: unexpected event %d", ev.type);
			}
		}
		if (msgr_next(ca, &ev, 1) == 0) {
			if (ev.type == MSGR_EV_CONNECTED) {
				CHECK(ev.conn == a, "CONNECTED on an old handle");
			} else if (ev.type == MSGR_EV_RESET || ev.type == MSGR_EV_CONNECT_FAILED) {
				CHECK(ev.conn == a, "event %d on an old handle", ev.type);
				msgr_conn_close(a);
				a = NULL;
				resets_a++;
				moved = now_ms();
			} else if (ev.type == MSGR_EV_MESSAGE) {
				CHECK(ev.conn == a && waiting, "pong nobody waited for");
				CHECK(ev.msg_type == seq && ev.len == (seq * 37) % sizeof(buf) &&
					      verify(ev.data, ev.len, seq), "pong %u damaged or out of order (want %u)",
				      ev.msg_type, seq);
				msgr_event_release(ca, &ev);
				seq++;
				trips++;
				waiting = 0;
				moved = now_ms();
			} else {
				fail("client.churn: unexpected event %d", ev.type);
			}
		}
	}
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok %u round trips, %u resets (client %u, osd %u)\n", trips, resets_a + resets_b,
	       resets_a, resets_b);
	return 0;
}

/* Reach into the library's private view of the segment: the test knows the
 * layout because it is linked with the same sources. */
#include "../../libclient/internal.h"
#include "../../shm/wake.h"

static int sc_vandal(const char *entity, const char *kind)
{
	msgr_client *c = attach(entity, 1 << 20);
	struct msgr_event ev;
	uint64_t one = 1;
	int err;

	if (!strcmp(kind, "random")) {
		unsigned char *p = c->base;
		for (size_t off = 0; off < c->size; off += 65536)
			getrandom(p + off, c->size - off < 65536 ? c->size - off : 65536, 0);
	} else if (!strcmp(kind, "cmd")) {
		/* well-formed ring slots carrying random descriptors */
		for (int i = 0; i < 64; i++) {
			struct msgr__desc d;
			getrandom(&d, sizeof(d), 0);
			msgr__ring_push_mp(&c->cmd, &d);
		}
	} else if (!strcmp(kind, "txdone")) {
		/* the ring the daemon writes: every slot looks taken, so its next
		 * give-back fails; it must drop us, not crash */
		msgr_conn *k;
		memset(c->txdone.slots, 0xa5, (size_t)(c->txdone.mask + 1) * c->txdone.slot_size);
		CHECK(!msgr_connect(c, msgr_addr(c), MSGR_PEER, &k), "connect to self");
		msgr_send(k, 1, "x", 1);
	} else if (!strcmp(kind, "rxfree")) {
		struct msgr__free_desc f = { .off = 12345 };
		msgr__ring_push_mp(&c->rxfree, &f);
		f.off = 1ULL << 40;
		msgr__ring_push_mp(&c->rxfree, &f);
		struct msgr__desc d = { .op = MSGR__OP_SEND, .conn = 1 };
		msgr__ring_push_mp(&c->cmd, &d);
	} else if (!strncmp(kind, "modes-", 6)) {
		/* ACCEPT_MODES that msgr_accept_modes would refuse to send: a
		 * mask with a bit of no mode, a pattern no name can match, a
		 * 33rd rule */
		const char *pat = !strcmp(kind, "modes-pattern") ? "osd/1" : "osd.*";
		struct msgr__desc d = { .op = MSGR__OP_ACCEPT_MODES,
					.mode = !strcmp(kind, "modes-mask") ? 0x11 : 0x2 };
		int n = !strcmp(kind, "modes-many") ? MSGR__ACCEPT_RULES + 1 : 1;
		char p[16];
		for (int i = 0; i < n; i++) {
			struct msgr__desc unit[MSGR__UNIT_MAX];
			if (n > 1) {
				snprintf(p, sizeof(p), "x%d.*", i);
				pat = p;
			}
			d.msg_type = (uint32_t)i + 1;
			CHECK(!msgr__ring_push_n_mp(&c->cmd, unit,
						    msgr__text_unit(unit, &d, pat, strlen(pat))),
			      "push");
		}
	} else if (!strncmp(kind, "text-", 5)) {
		/* CONNECTs whose address text (the ring slots after the
		 * descriptor) is longer than any address, never comes (the
		 * descriptor claims a slot of text and is pushed alone), or
		 * holds a NUL */
		struct msgr__desc unit[MSGR__UNIT_MAX];
		struct msgr__desc d = { .op = MSGR__OP_CONNECT, .mode = MSGR_LOSSY, .conn = 7 };
		const char *addr = "127.0.0.1:1/osd.1";
		uint32_t n = msgr__text_unit(unit, &d, addr, strlen(addr));
		if (!strcmp(kind, "text-long"))
			unit[0].len = 4096;
		else if (!strcmp(kind, "text-short"))
			n--;
		else
			((char *)&unit[1])[3] = 0;
		CHECK(!msgr__ring_push_n_mp(&c->cmd, unit, n), "push");
	} else {
		fail("unknown vandal kind %s", kind);
	}
	(void)!write(c->efd_daemon, &one, sizeof(one));
	/* the daemon must cut us off: we see DAEMON_LOST */
	do {
		err = msgr_next(c, &ev, 10000);
		CHECK(err != -EAGAIN, "the daemon did not disconnect a client that wrecked its segment");
	} while (!err && ev.type != MSGR_EV_DAEMON_LOST);
	msgr_detach(c);
	printf("ok disconnected\n");
	return 0;
}

/* A client without send_blocking that connects and connects and never
 * reads its events: once the daemon holds its commands back (its outbox is
 * full) and the cmd ring fills, msgr_connect must fail with -EAGAIN, not
 * wait for ever; and once it reads, connecting works again. */
static int sc_connect_flood(void)
{
	struct msgr_attach_opts o = { .pool_size = 1 << 20 };
	msgr_client *c;
	struct msgr_event ev;
	char peer[MSGR__ADDR_MAX], hostport[MSGR__HOSTPORT_MAX];
	msgr_conn *k;
	uint64_t t0 = now_ms();
	int err = 0, n = 0, events = 0;

	CHECK(!msgr_attach("client.flood", &o, &c), "attach client.flood");
	snprintf(hostport, sizeof(hostport), "%.*s", (int)(strchr(msgr_addr(c), '/') - msgr_addr(c)),
		 msgr_addr(c));
	/* a different peer each time (msgr_connect hands back an open
	 * connection to the same one); none is attached, so each costs a
	 * CONNECT_FAILED event and nothing else */
	while (n < 30000) {
		snprintf(peer, sizeof(peer), "%s/client.none%d", hostport, n);
		if ((err = msgr_connect(c, peer, MSGR_LOSSY, &k)))
			break;
		n++;
		CHECK(now_ms() - t0 < 60000, "30000 connects take over 60 s (%d done)", n);
	}
	CHECK(err == -EAGAIN, "connect %d without reading events: %s, want EAGAIN", n + 1,
	      err ? msgr_strerror(err) : "30000 connects and no EAGAIN");
	printf("ok EAGAIN after %d connects\n", n);
	/* read: the daemon serves the ring again, and a connect gets in */
	for (int tries = 0; tries < 1000; tries++) {
		while (msgr_next(c, &ev, 0) == 0) {
			events++;
			msgr_event_release(c, &ev);
		}
		snprintf(peer, sizeof(peer), "%s/client.none%d", hostport, n);
		if ((err = msgr_connect(c, peer, MSGR_LOSSY, &k)) != -EAGAIN)
			break;
		usleep(1000);
	}
	CHECK(!err, "connect after reading %d events: %s", events, msgr_strerror(err));
	printf("ok connect after reading %d events\n", events);
	msgr_detach(c);
	return 0;
}

static int sc_errors(void)
{
	msgr_client *c;
	msgr_conn *k;
	struct msgr_attach_opts o = { .socket_path = "/nonexistent/msgrd.sock" };
	struct msgr_event ev;

	CHECK(msgr_attach("nodot", NULL, &c) == -EINVAL, "bad entity name accepted");
	CHECK(msgr_attach("osd.", NULL, &c) == -EINVAL, "empty id accepted");
	CHECK(msgr_attach("osd.1", &o, &c) == -ENOENT, "missing socket: want ENOENT");
	c = attach("client.err", 1 << 20);
	msgr_client *dup;
	CHECK(msgr_attach("client.err", NULL, &dup) == -EADDRINUSE, "same entity twice");
	CHECK(msgr_connect(c, "garbage", MSGR_LOSSY, &k) == -EINVAL, "bad address accepted");
	CHECK(msgr_connect(c, msgr_addr(c), 9, &k) == -EINVAL, "bad mode accepted");
	/* nobody there: CONNECT_FAILED with ENXIO (no such entity), unlike a
	 * host where no daemon listens (ECONNREFUSED, below) */
	char peer[256];
	snprintf(peer, sizeof(peer), "%.*s/osd.nobody", (int)(strchr(msgr_addr(c), '/') - msgr_addr(c)),
		 msgr_addr(c));
	CHECK(!msgr_connect(c, peer, MSGR_LOSSY, &k), "connect");
	expect(c, &ev, MSGR_EV_CONNECT_FAILED);
	CHECK(ev.conn == k && ev.error == -ENXIO, "CONNECT_FAILED error %d", ev.error);
	CHECK(msgr_send(k, 1, "x", 1) == -ECONNRESET, "send on a failed connection");
	/* another host where no daemon listens */
	CHECK(!msgr_connect(c, "127.0.0.1:1/osd.1", MSGR_LOSSY, &k), "connect");
	expect(c, &ev, MSGR_EV_CONNECT_FAILED);
	CHECK(ev.error == -ECONNREFUSED, "remote CONNECT_FAILED error %d", ev.error);
	CHECK(strcmp(msgr_strerror(-ECONNREFUSED), "Unknown error"), "strerror");
	msgr_detach(c);
	printf("ok\n");
	return 0;
}

static void *other_thread(void *arg)
{
	char **out = arg;
	msgr_client *c;

	/* this thread has failed nothing yet: the main thread's text is not its */
	out[0] = strdup(msgr_last_error());
	CHECK(msgr_attach("bad name", NULL, &c) == -EINVAL, "bad name accepted");
	out[1] = strdup(msgr_last_error());
	return NULL;
}

#define HAS(text, want) CHECK(strstr((text), (want)), "msgr_last_error() is '%s', wants '%s'", \
			      (text), (want))

/* Issue 13: errors that name the problem, through msgr_last_error(). */
static int sc_last_error(const char *nowhere)
{
	struct msgr_attach_opts o = { .socket_path = "/nonexistent/msgrd.sock" };
	msgr_client *c, *dup;
	msgr_conn *k;
	struct msgr_event ev;
	char peer[256], host[200], *theirs[2];
	pthread_t t;

	CHECK(!strcmp(msgr_last_error(), ""), "text before any failure");
	CHECK(msgr_attach("osd", NULL, &c) == -EINVAL, "bad name accepted");
	HAS(msgr_last_error(), "'osd' is not an entity name: TYPE.ID, where TYPE is a lower-case letter");
	HAS(msgr_last_error(), "(osd.3, client.admin)");
	CHECK(msgr_attach("osd.1", &o, &c) == -ENOENT, "missing socket: want ENOENT");
	HAS(msgr_last_error(), "no msgrd socket at /nonexistent/msgrd.sock (msgr_attach_opts.socket_path): is msgrd running?");
	{
		char *was = getenv("MSGR_SOCKET") ? strdup(getenv("MSGR_SOCKET")) : NULL;
		setenv("MSGR_SOCKET", "/nonexistent/env.sock", 1);
		CHECK(msgr_attach("osd.1", NULL, &c) == -ENOENT, "missing socket: want ENOENT");
		HAS(msgr_last_error(), "/nonexistent/env.sock ($MSGR_SOCKET)");
		if (was)
			setenv("MSGR_SOCKET", was, 1);
		else
			unsetenv("MSGR_SOCKET");
		free(was);
	}
	c = attach("client.le", 1 << 20);
	CHECK(msgr_attach("client.le", NULL, &dup) == -EADDRINUSE, "same entity twice");
	HAS(msgr_last_error(), "client.le is already attached to this msgrd");

	/* per thread: another thread neither sees this text nor changes it */
	pthread_create(&t, NULL, other_thread, theirs);
	pthread_join(t, NULL);
	CHECK(!strcmp(theirs[0], ""), "another thread sees '%s'", theirs[0]);
	HAS(theirs[1], "'bad name' is not an entity name");
	HAS(msgr_last_error(), "client.le is already attached to this msgrd");
	free(theirs[0]);
	free(theirs[1]);

	CHECK(msgr_connect(c, "osd.1", MSGR_LOSSY, &k) == -EINVAL, "bad address accepted");
	HAS(msgr_last_error(), "'osd.1' is not an address HOST:PORT/TYPE.ID");
	CHECK(msgr_connect(c, msgr_addr(c), 9, &k) == -EINVAL, "bad mode accepted");
	HAS(msgr_last_error(), "mode 9 is not MSGR_LOSSY");

	/* an entity nobody holds, at a daemon that answers */
	snprintf(host, sizeof(host), "%.*s", (int)(strchr(msgr_addr(c), '/') - msgr_addr(c)),
		 msgr_addr(c));
	snprintf(peer, sizeof(peer), "%s/osd.nobody", host);
	CHECK(!msgr_connect(c, peer, MSGR_LOSSY, &k), "connect");
	expect(c, &ev, MSGR_EV_CONNECT_FAILED);
	CHECK(ev.error == -ENXIO, "unknown entity: error %d", ev.error);
	printf("%s\n", msgr_last_error());
	HAS(msgr_last_error(), "no entity osd.nobody is attached to the msgrd at");
	HAS(msgr_last_error(), host);
	CHECK(msgr_send(k, 1, "x", 1) == -ECONNRESET, "send on a failed connection");
	HAS(msgr_last_error(), "msgr_send: the connection to ");
	HAS(msgr_last_error(), "/osd.nobody was reset");

	/* a host where no daemon listens */
	snprintf(peer, sizeof(peer), "%s/osd.1", nowhere);
	CHECK(!msgr_connect(c, peer, MSGR_LOSSY, &k), "connect");
	expect(c, &ev, MSGR_EV_CONNECT_FAILED);
	CHECK(ev.error == -ECONNREFUSED, "no daemon: error %d", ev.error);
	printf("%s\n", msgr_last_error());
	HAS(msgr_last_error(), "no msgrd answers at ");
	HAS(msgr_last_error(), nowhere);
	msgr_detach(c);
	printf("ok\n");
	return 0;
}

struct big {
	msgr_conn *k;
	size_t size;
	int id;
};

static void *big_sender(void *arg)
{
	struct big *b = arg;
	unsigned char *buf = calloc(1, b->size);

	for (int i = 0; i < 40; i++) {
		int err;
		buf[0] = (unsigned char)b->id;
		while ((err = msgr_send(b->k, (uint32_t)b->id, buf, b->size)) == -EAGAIN)
			usleep(100);
		if (err)
			fail("thread %d message %d: %s", b->id, i, msgr_strerror(err));
	}
	free(buf);
	return NULL;
}

static int sc_bigthreads(size_t size)
{
	msgr_client *ca = attach("client.bt", 64 << 20), *cb = attach("osd.bt", 64 << 20);
	struct msgr_event ev;
	pthread_t th[4];
	struct big b[4];
	msgr_conn *k;
	int got = 0;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &k), "connect");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	for (int i = 0; i < 4; i++) {
		b[i] = (struct big){ k, size, i };
		pthread_create(&th[i], NULL, big_sender, &b[i]);
	}
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	while (got < 160) {
		next(cb, &ev, 10000);
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.len == size, "event %d (error %d) after %d messages",
		      ev.type, ev.error, got);
		msgr_event_release(cb, &ev);
		got++;
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok %d messages\n", got);
	return 0;
}

/* n messages of len bytes (1 to 4 MiB) to a receiver whose 8 MiB pool
 * holds two of them: it keeps two unreleased a moment before it lets the
 * oldest go, so each later message waits in the daemon for room (in the
 * outbox; across daemons, gathered from its fragments first). Every byte
 * is checked, and the order. */
static int sc_wait_room(int n, size_t len)
{
	msgr_client *ca = attach("client.sl", 64 << 20), *cb = attach("osd.sl", 8 << 20);
	unsigned char *buf = malloc(len), *want = malloc(len);
	struct msgr_event held[2], ev;
	int nheld = 0, sent = 0, got = 0;
	msgr_conn *k;

	CHECK(buf && want && len > (1u << 20) && 2 * len < (8u << 20), "wait-room: 1 MiB < len < 4 MiB");
	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSLESS, &k), "connect");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	while (got < n) {
		if (sent < n) {
			fill(buf, len, (uint32_t)sent);
			int err = msgr_send(k, (uint32_t)sent, buf, len);
			if (!err)
				sent++;
			else
				CHECK(err == -EAGAIN, "send %d: %s", sent, msgr_strerror(err));
		}
		int r = msgr_next(cb, &ev, sent < n ? 1 : 5000);
		if (r == -EAGAIN && sent < n)
			continue;
		CHECK(!r, "message %d: %s", got, r == -EAGAIN ? "not there in 5 s" : msgr_strerror(r));
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == (uint32_t)got && ev.len == len,
		      "message %d: event %d type %u len %zu", got, ev.type, ev.msg_type, (size_t)ev.len);
		fill(want, len, (uint32_t)got);
		CHECK(!memcmp(ev.data, want, len), "message %d garbled", got);
		got++;
		held[nheld++] = ev;
		if (nheld == 2) {
			usleep(50000); /* the next one waits in the daemon meanwhile */
			msgr_event_release(cb, &held[0]);
			held[0] = held[1];
			nheld = 1;
		}
	}
	while (nheld)
		msgr_event_release(cb, &held[--nheld]);
	free(buf);
	free(want);
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok %d messages of %zu bytes, each whole and in order\n", got, len);
	return 0;
}

/* Both sides' handles: the one we opened and the one we accepted. */
struct side {
	msgr_client *c;
	msgr_conn *mine, *theirs;
	int connected, got;
};

static void cross_poll(struct side *s, int n)
{
	struct msgr_event ev;

	if (msgr_next(s->c, &ev, 10) == -EAGAIN)
		return;
	switch (ev.type) {
	case MSGR_EV_CONNECTED:
		CHECK(ev.conn == s->mine && !s->connected, "CONNECTED twice or for the wrong handle");
		s->connected = 1;
		break;
	case MSGR_EV_ACCEPTED:
		CHECK(!s->theirs, "a second ACCEPTED");
		s->theirs = ev.conn;
		break;
	case MSGR_EV_MESSAGE:
		CHECK(ev.conn == s->theirs, "message on the wrong handle");
		CHECK(ev.msg_type == (uint32_t)s->got && ev.len == 8 &&
			      !memcmp(ev.data, &(uint64_t){ (uint64_t)s->got }, 8),
		      "message %d of %d missing or out of order (got type %u)", s->got, n, ev.msg_type);
		s->got++;
		msgr_event_release(s->c, &ev);
		break;
	default:
		fail("unexpected event %d (error %d: %s)", ev.type, ev.error, msgr_strerror(ev.error));
	}
}

static int sc_cross(int n)
{
	struct side a = { .c = attach("client.x", 4 << 20) }, b = { .c = attach("osd.x", 4 << 20) };
	uint64_t end;

	/* both at once, so both daemons dial each other */
	CHECK(!msgr_connect(a.c, msgr_addr(b.c), MSGR_LOSSY, &a.mine), "connect a");
	CHECK(!msgr_connect(b.c, msgr_addr(a.c), MSGR_LOSSY, &b.mine), "connect b");
	for (uint64_t i = 0; i < (uint64_t)n; i++) {
		CHECK(!msgr_send(a.mine, (uint32_t)i, &i, 8), "send a %d", (int)i);
		CHECK(!msgr_send(b.mine, (uint32_t)i, &i, 8), "send b %d", (int)i);
	}
	end = now_ms() + 10000;
	while ((a.got < n || b.got < n || !a.connected || !b.connected) && now_ms() < end) {
		cross_poll(&a, n);
		cross_poll(&b, n);
	}
	CHECK(a.got == n && b.got == n && a.connected && b.connected,
	      "after 10 s: a got %d, b got %d of %d; connected %d %d", a.got, b.got, n, a.connected,
	      b.connected);
	msgr_detach(a.c);
	msgr_detach(b.c);
	printf("ok\n");
	return 0;
}

static int sc_pairs(int n)
{
	msgr_client **ca = calloc((size_t)n, sizeof(*ca)), **cb = calloc((size_t)n, sizeof(*cb));
	msgr_conn **ka = calloc((size_t)n, sizeof(*ka)), **kb = calloc((size_t)n, sizeof(*kb));
	struct msgr_event ev;
	char name[64], line[16];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "client.p%d", i);
		ca[i] = attach(name, 64 << 10);
		snprintf(name, sizeof(name), "osd.p%d", i);
		cb[i] = attach(name, 64 << 10);
	}
	for (int i = 0; i < n; i++)
		CHECK(!msgr_connect(ca[i], msgr_addr(cb[i]), MSGR_LOSSY, &ka[i]), "connect %d", i);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < n; i++) {
			uint32_t v = (uint32_t)(i * 10 + round);
			CHECK(!msgr_send(ka[i], 1, &v, 4), "send %d", i);
			if (!round) {
				expect(ca[i], &ev, MSGR_EV_CONNECTED);
				expect(cb[i], &ev, MSGR_EV_ACCEPTED);
				kb[i] = ev.conn;
			}
			expect(cb[i], &ev, MSGR_EV_MESSAGE);
			CHECK(ev.conn == kb[i] && ev.len == 4 && !memcmp(ev.data, &v, 4), "pair %d ping", i);
			msgr_event_release(cb[i], &ev);
			CHECK(!msgr_send(kb[i], 2, &v, 4), "reply %d", i);
			expect(ca[i], &ev, MSGR_EV_MESSAGE);
			CHECK(ev.conn == ka[i] && ev.len == 4 && !memcmp(ev.data, &v, 4), "pair %d pong", i);
			msgr_event_release(ca[i], &ev);
		}
		printf(round ? "ok %d pairs\n" : "ready\n", n);
		if (!round && !fgets(line, sizeof(line), stdin))
			fail("stdin closed");
	}
	for (int i = 0; i < n; i++) {
		msgr_detach(ca[i]);
		msgr_detach(cb[i]);
	}
	free(ca); free(cb); free(ka); free(kb);
	return 0;
}

/* Wait up to ms for a RESET (or the loss of our daemon) on c. */
static int wait_reset(msgr_client *c, msgr_conn *k, uint64_t until)
{
	struct msgr_event ev;

	while (now_ms() < until) {
		if (msgr_next(c, &ev, 20) == -EAGAIN)
			continue;
		if (ev.type == MSGR_EV_DAEMON_LOST)
			return 2;
		if (ev.type == MSGR_EV_RESET) {
			CHECK(ev.conn == k && ev.error < 0, "RESET on the wrong handle or without error");
			return 1;
		}
		if (ev.type == MSGR_EV_MESSAGE)
			msgr_event_release(c, &ev);
	}
	return 0;
}

static int sc_reset_wait(int ms)
{
	msgr_client *ca = attach("client.rw", 1 << 20), *cb = attach("osd.rw", 1 << 20);
	struct msgr_event ev;
	msgr_conn *a, *b;
	char line[16];
	uint64_t t0;
	int ra, rb;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &a), "connect");
	CHECK(!msgr_send(a, 1, "ping", 4), "send");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	b = ev.conn;
	expect(cb, &ev, MSGR_EV_MESSAGE);
	msgr_event_release(cb, &ev);
	CHECK(!msgr_send(b, 2, "pong", 4), "send");
	expect(ca, &ev, MSGR_EV_MESSAGE);
	msgr_event_release(ca, &ev);
	printf("ready\n");
	/* the test breaks the link, then tells us when it did */
	if (!fgets(line, sizeof(line), stdin))
		fail("stdin closed");
	t0 = now_ms();
	ra = wait_reset(ca, a, t0 + (uint64_t)ms);
	rb = wait_reset(cb, b, t0 + (uint64_t)ms);
	CHECK(ra && rb, "no RESET within %d ms (a %d, b %d)", ms, ra, rb);
	if (ra == 1)
		CHECK(msgr_send(a, 3, "x", 1) == -ECONNRESET, "send after RESET");
	printf("ok reset after %llu ms\n", (unsigned long long)(now_ms() - t0));
	msgr_detach(ca);
	msgr_detach(cb);
	return 0;
}

static int sc_connect_fail(const char *peer, int ms)
{
	msgr_client *c = attach("client.cf", 1 << 20);
	struct msgr_event ev;
	msgr_conn *k;
	uint64_t t0 = now_ms();
	int err;

	CHECK(!msgr_connect(c, peer, MSGR_LOSSY, &k), "connect");
	/* queued while connecting; a dial refused at once may have failed
	 * the connection already, and then the send says so */
	err = msgr_send(k, 1, "queued", 6);
	CHECK(!err || err == -ECONNRESET, "send while connecting: %s", msgr_strerror(err));
	next(c, &ev, ms);
	CHECK(ev.type == MSGR_EV_CONNECT_FAILED && ev.conn == k && ev.error < 0,
	      "expected CONNECT_FAILED, got event %d (error %d)", ev.type, ev.error);
	/* the event's text, before the next failure replaces it */
	char *why = strdup(msgr_last_error());
	CHECK(msgr_send(k, 1, "x", 1) == -ECONNRESET, "send on a failed connection");
	printf("ok connect failed after %llu ms: %s (%s)\n", (unsigned long long)(now_ms() - t0),
	       msgr_strerror(ev.error), why);
	free(why);
	msgr_detach(c);
	return 0;
}

/* Connections opened and closed at once, n times, while the peer daemon
 * cannot take them (no link yet, or its link full): what a client stuck in
 * a reconnect loop does; with len, each sends a message of len bytes
 * before its close. One lossless connection to peer/osd.keep stays; the n
 * others go to peer/osd.churn, in mode (lossy unless told). Then "ok churned N" and it holds its
 * connection until killed. */
static int sc_open_churn(const char *peer, int n, size_t len, enum msgr_mode mode)
{
	msgr_client *c = attach(len ? "client.ocs" : "client.oc", 1 << 20);
	static unsigned char msg[65536];
	char keep[256], churn[256];
	struct msgr_event ev;
	msgr_conn *k;
	int again = 0;

	CHECK(len <= sizeof(msg), "open-churn: messages of at most %zu bytes", sizeof(msg));
	snprintf(keep, sizeof(keep), "%s/osd.keep", peer);
	snprintf(churn, sizeof(churn), "%s/osd.churn", peer);
	CHECK(!msgr_connect(c, keep, MSGR_LOSSLESS, &k), "connect %s", keep);
	for (int i = 0; i < n;) {
		msgr_conn *x;
		int err = msgr_connect(c, churn, mode, &x);

		if (err == -EAGAIN) { /* the command ring is full: let the daemon catch up */
			CHECK(++again < 100000, "connect: EAGAIN for ever");
			(void)msgr_next(c, &ev, 1);
			continue;
		}
		CHECK(!err, "connect %s: %s", churn, msgr_strerror(err));
		while (len && (err = msgr_send(x, 1, msg, len)) == -EAGAIN) {
			CHECK(++again < 100000, "send: EAGAIN for ever");
			(void)msgr_next(c, &ev, 1);
		}
		CHECK(!err || err == -ECONNRESET, "send: %s", msgr_strerror(err));
		msgr_conn_close(x);
		i++;
	}
	printf("ok churned %d\n", n);
	fflush(stdout);
	for (;;) /* events of closed handles are dropped; keep's CONNECTED is read */
		(void)msgr_next(c, &ev, 1000);
	return 0;
}

/* send-hold's report of an event of k (others are dropped) */
static void send_hold_event(msgr_client *c, msgr_conn *k, struct msgr_event *ev)
{
	if (ev->conn == k) {
		printf("event %s %s\n", ev->type == MSGR_EV_CONNECTED ? "connected"
				       : ev->type == MSGR_EV_CONNECT_FAILED ? "connect_failed"
				       : ev->type == MSGR_EV_RESET ? "reset"
				       : ev->type == MSGR_EV_REMOTE_RESET ? "remote_reset" : "other",
		       ev->error ? msgr_strerror(ev->error) : "");
		fflush(stdout);
	}
	msgr_event_release(c, ev);
}

/* Connect in mode and hand over up to n messages of len bytes, stopping
 * once the window stays shut for 200 ms ("sent K"); then print each
 * event of the connection ("event connected", "event connect_failed
 * ERROR", ...) as it comes, for ever. */
static int sc_send_hold(const char *entity, const char *peer, const char *mode, size_t len, int n)
{
	msgr_client *c = attach(entity, 16 << 20);
	static unsigned char msg[65536];
	uint16_t m = !strcmp(mode, "lossy") ? MSGR_LOSSY : !strcmp(mode, "lossless") ? MSGR_LOSSLESS : 0;
	struct msgr_event ev;
	msgr_conn *k;
	int i = 0, err;
	uint64_t shut = 0;

	CHECK(m && len >= 1 && len <= sizeof(msg) && n > 0, "send-hold: MODE lossy|lossless, "
	      "1 to %zu bytes, N > 0", sizeof(msg));
	CHECK(!msgr_connect(c, peer, m, &k), "connect %s", peer);
	while (i < n) {
		err = msgr_send(k, 1, msg, len);
		if (!err) {
			i++;
			shut = 0;
			continue;
		}
		CHECK(err == -EAGAIN || err == -ECONNRESET, "send: %s", msgr_strerror(err));
		if (err == -ECONNRESET)
			break;
		if (!shut)
			shut = now_ms();
		if (now_ms() - shut >= 200)
			break;
		if (msgr_next(c, &ev, 1) == 0)
			send_hold_event(c, k, &ev);
	}
	printf("sent %d\n", i);
	fflush(stdout);
	for (;;)
		if (msgr_next(c, &ev, 1000) == 0)
			send_hold_event(c, k, &ev);
	return 0;
}

/* n lossless connections to peer/osd.cI (one entity each: libmsgr gives
 * a second connect to the same peer and mode the open handle), opened at
 * once ("opened N"); closed all at the first line on stdin ("ok closed
 * N"); then it holds. */
static int sc_open_close(const char *entity, const char *peer, int n)
{
	msgr_client *c = attach(entity, 1 << 20);
	msgr_conn **k = calloc((size_t)n, sizeof(*k));
	char churn[256], line[16];
	struct msgr_event ev;

	CHECK(k && n > 0, "open-close: N > 0");
	for (int i = 0; i < n; i++) {
		snprintf(churn, sizeof(churn), "%s/osd.c%d", peer, i);
		CHECK(!msgr_connect(c, churn, MSGR_LOSSLESS, &k[i]), "connect %s", churn);
	}
	printf("opened %d\n", n);
	fflush(stdout);
	CHECK(fgets(line, sizeof(line), stdin), "open-close: stdin closed");
	for (int i = 0; i < n; i++)
		msgr_conn_close(k[i]);
	printf("ok closed %d\n", n);
	fflush(stdout);
	for (;;)
		(void)msgr_next(c, &ev, 1000);
	return 0;
}

static void attach_too_slow(int sig)
{
	static const char m[] = "msgr-itest attach: FAIL: the attach did not finish in time\n";

	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

/* An honest attach that must be served within ms while something else
 * holds the attach socket. SIGALRM, because connect() itself may block
 * when the daemon has stopped accepting. */
static int sc_attach(const char *entity, int ms)
{
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } }, off = { 0 };
	struct msgr_attach_opts o = { .pool_size = 1 << 20 };
	uint64_t t0 = now_ms(), took;
	struct msgr_event ev;
	msgr_client *c;
	msgr_conn *k;
	int err;

	signal(SIGALRM, attach_too_slow);
	setitimer(ITIMER_REAL, &it, NULL);
	err = msgr_attach(entity, &o, &c);
	CHECK(!err, "attach %s: %s", entity, msgr_strerror(err));
	took = now_ms() - t0;
	/* and it is served: a message to ourselves */
	CHECK(!msgr_connect(c, msgr_addr(c), MSGR_LOSSY, &k), "connect to self");
	CHECK(!msgr_send(k, 1, "x", 1), "send to self");
	for (int seen = 0; seen < 3; seen++) {
		next(c, &ev, 5000);
		CHECK(ev.type == MSGR_EV_CONNECTED || ev.type == MSGR_EV_ACCEPTED ||
			      ev.type == MSGR_EV_MESSAGE,
		      "talking to ourselves: event %d (%s)", ev.type, msgr_strerror(ev.error));
		if (ev.type == MSGR_EV_MESSAGE)
			msgr_event_release(c, &ev);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	msgr_detach(c);
	printf("ok attached in %llu ms\n", (unsigned long long)took);
	return 0;
}

/* Wake the daemon if it sleeps (the library's msgr__wake_daemon is not
 * exported). */
static void flood_wake(msgr_client *c, _Atomic uint32_t *flag)
{
	uint64_t one = 1;

	if (msgr__wake_take(flag))
		(void)!write(c->efd_daemon, &one, sizeof(one));
}

/* Push n raw CONNECTs from c to peer: ids 1..n, credit slots 0..n-1,
 * around msgr_connect's reuse of an open handle, as a hostile client can.
 * The answers are read straight off the event ring, since the library
 * knows none of these ids; with wait, until there is one for each. */
struct flood {
	int pushed, connected, failed, fail_err;
};

static void flood_push(msgr_client *c, const char *peer, int n, int wait, struct flood *f)
{
	uint64_t deadline = now_ms() + 60000;
	size_t plen = strlen(peer);

	CHECK(n > 0 && n <= MSGR__CREDIT_SPLIT, "flood: 1 to %d CONNECTs (a credit slot each)",
	      MSGR__CREDIT_SPLIT);
	memset(f, 0, sizeof(*f));
	while (f->pushed < n || (wait && f->connected + f->failed < n)) {
		struct msgr__desc d, unit[MSGR__UNIT_MAX];
		int progress = 0;

		if (f->pushed < n) {
			/* the address rides in the ring after the descriptor */
			memset(&d, 0, sizeof(d));
			d.op = MSGR__OP_CONNECT;
			d.mode = MSGR_LOSSY;
			d.conn = (uint32_t)f->pushed + 1;
			d.msg_type = (uint32_t)f->pushed;
			if (msgr__ring_push_n_mp(&c->cmd, unit, msgr__text_unit(unit, &d, peer, plen)) == 0) {
				f->pushed++;
				progress = 1;
				flood_wake(c, &c->hdr->daemon_sleeping);
			}
		}
		while (msgr__ring_pop_sc(&c->evt, &d) == 0) {
			if (d.op == MSGR__EV_CONNECTED)
				f->connected++;
			else if (d.op == MSGR__EV_CONNECT_FAILED)
				f->failed++, f->fail_err = d.error;
			progress = 1;
			flood_wake(c, &c->hdr->daemon_wants_rx);
		}
		if (!progress) {
			CHECK(now_ms() < deadline, "after 60 s: %d of %d pushed, %d connected, %d failed",
			      f->pushed, n, f->connected, f->failed);
			flood_wake(c, &c->hdr->daemon_sleeping);
			usleep(100);
		}
	}
}

/* then: "exit" leaves as soon as all are pushed (the daemon resets every
 * channel); "hold" waits for every answer, prints how many connected and
 * failed, with the last failure's error, and keeps them until killed. */
static int sc_flood(const char *entity, const char *peer, int n, const char *then)
{
	msgr_client *c = attach(entity, 0);
	int hold = !strcmp(then, "hold");
	struct flood f;

	CHECK(hold || !strcmp(then, "exit"), "flood: exit or hold, not %s", then);
	flood_push(c, peer, n, hold, &f);
	if (!hold) {
		printf("ok pushed %d\n", f.pushed);
		exit(0); /* no detach: the daemon sees the socket hang up */
	}
	printf("ok connected=%d failed=%d error=%s\n", f.connected, f.failed,
	       f.failed ? msgr_strerror(f.fail_err) : "none");
	for (;;)
		pause();
	return 0;
}

static void close_blocked(int sig)
{
	static const char m[] = "msgr-itest close-behind: FAIL: msgr_conn_close blocked\n";

	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

/* msgr_conn_close while our events pile up unread, as a flood's victim
 * sees it. client.cbx floods client.cb with n CONNECTs (n past the
 * outbox's soft limit plus the event ring), and client.cb reads nothing
 * until the end. Each step fails on a daemon or library without one fix:
 *  1. a CLOSE is served although the outbox is over its limit: the peer
 *     (osd.cb) sees the RESET at once;
 *  2. a SEND that may not be served yet does not keep the daemon awake:
 *     "blocked", then a line on stdin, while the test measures its CPU;
 *  3. with the command ring full behind that SEND, msgr_conn_close returns
 *     at once, and its CLOSE goes once we read again: osd.cb gets every
 *     message, then the RESET. */
static int sc_close_behind(int n)
{
	msgr_client *v = attach("client.cb", 0), *w = attach("osd.cb", 0), *x = attach("client.cbx", 0);
	struct itimerval it = { .it_value = { 5, 0 } }, off = { 0 };
	msgr_conn *k[3], *wk[3];
	struct msgr_event ev;
	struct flood f;
	int sent[3] = { 0 }, got[3] = { 0 }, reset2 = 0, err;
	uint64_t t0, deadline;
	char line[16];

	for (int i = 0; i < 3; i++) {
		CHECK(!msgr_connect(v, msgr_addr(w), (enum msgr_mode)(i + 1), &k[i]), "connect %d", i);
		expect(v, &ev, MSGR_EV_CONNECTED);
		expect(w, &ev, MSGR_EV_ACCEPTED);
		wk[i] = ev.conn;
	}
	flood_push(x, msgr_addr(v), n, 1, &f);
	CHECK(f.connected == n, "flood: %d of %d connected (error %s)", f.connected, n,
	      msgr_strerror(f.fail_err));

	/* 1 */
	msgr_conn_close(k[0]);
	err = msgr_next(w, &ev, 3000);
	CHECK(!err && ev.type == MSGR_EV_RESET && ev.conn == wk[0],
	      "the peer did not see, within 3 s, the close of a client with %d unread events (%s)",
	      n, err ? msgr_strerror(err) : "another event");

	/* 2 */
	CHECK(!msgr_send(k[1], 0, "m", 1), "send");
	sent[1]++;
	printf("blocked\n");
	CHECK(fgets(line, sizeof(line), stdin), "stdin closed");

	/* 3: fill the command ring (the windows of two connections hold more) */
	for (;;) {
		int i = sent[1] <= sent[2] ? 1 : 2;
		err = msgr_send(k[i], (uint32_t)sent[i], "m", 1);
		if (err == -EAGAIN) {
			i = 3 - i;
			err = msgr_send(k[i], (uint32_t)sent[i], "m", 1);
		}
		if (err == -EAGAIN)
			break;
		CHECK(!err, "send: %s", msgr_strerror(err));
		sent[i]++;
	}
	signal(SIGALRM, close_blocked);
	setitimer(ITIMER_REAL, &it, NULL);
	t0 = now_ms();
	msgr_conn_close(k[2]);
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK(atomic_load(&v->ncloses) == 1, "the close found room: the ring was not full (%d + %d sends)",
	      sent[1], sent[2]);
	printf("msgr_conn_close on a full ring returned after %llu ms (%d sends ahead of it)\n",
	       (unsigned long long)(now_ms() - t0), sent[1] + sent[2]);

	/* now read: everything moves */
	deadline = now_ms() + 20000;
	while (got[1] < sent[1] || !reset2 || atomic_load(&v->ncloses)) {
		CHECK(now_ms() < deadline, "after 20 s: %d of %d and %d of %d messages, reset %d, "
		      "%u closes waiting", got[1], sent[1], got[2], sent[2], reset2,
		      (unsigned)atomic_load(&v->ncloses));
		if (msgr_next(v, &ev, 0) == 0 && ev.type == MSGR_EV_MESSAGE)
			msgr_event_release(v, &ev);
		if (msgr_next(w, &ev, 1) != 0)
			continue;
		if (ev.type == MSGR_EV_MESSAGE) {
			int i = ev.conn == wk[1] ? 1 : 2;
			CHECK(ev.conn == wk[1] || ev.conn == wk[2], "message on the wrong handle");
			CHECK(ev.msg_type == (uint32_t)got[i], "message %d of connection %d out of order", got[i], i);
			got[i]++;
			msgr_event_release(w, &ev);
		} else {
			CHECK(ev.type == MSGR_EV_RESET && ev.conn == wk[2], "unexpected event %d", ev.type);
			CHECK(got[2] == sent[2], "RESET after %d of %d messages", got[2], sent[2]);
			reset2 = 1;
		}
	}
	msgr_detach(x);
	msgr_detach(v);
	msgr_detach(w);
	printf("ok\n");
	return 0;
}

static int sc_victim(const char *entity)
{
	msgr_client *c = attach(entity, 0);
	uint64_t accepted = 0, resets = 0, t_first = 0, longest_us = 0, waited = 0;
	struct msgr_event ev;
	int reported = 0, err;

	printf("ready\n");
	for (;;) {
		err = msgr_next(c, &ev, 1000);
		if (err == -EAGAIN)
			continue;
		CHECK(!err, "msgr_next: %s", msgr_strerror(err));
		switch (ev.type) {
		case MSGR_EV_ACCEPTED:
			accepted++;
			break;
		case MSGR_EV_RESET:
		case MSGR_EV_REMOTE_RESET: {
			struct timespec a, b;
			uint64_t us;
			if (!resets++)
				t_first = now_ms();
			clock_gettime(CLOCK_MONOTONIC, &a);
			msgr_conn_close(ev.conn);
			clock_gettime(CLOCK_MONOTONIC, &b);
			us = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000 +
			     (uint64_t)(b.tv_nsec - a.tv_nsec) / 1000;
			if (us > longest_us)
				longest_us = us;
			/* closes the library had to keep for later: the
			 * command ring was full */
			if (atomic_load(&c->ncloses) > waited)
				waited = atomic_load(&c->ncloses);
			break;
		}
		case MSGR_EV_MESSAGE:
			err = msgr_send(ev.conn, ev.msg_type, ev.data, ev.len);
			CHECK(!err, "echo: %s", msgr_strerror(err));
			msgr_event_release(c, &ev);
			break;
		case MSGR_EV_DAEMON_LOST:
			fail("the daemon went away");
			break;
		default:
			break;
		}
		if (!reported && resets && resets == accepted) {
			reported = 1;
			printf("ok accepted=%llu closed=%llu in %llu ms, longest msgr_conn_close %llu us, "
			       "at most %llu closes waited for the command ring\n",
			       (unsigned long long)accepted, (unsigned long long)resets,
			       (unsigned long long)(now_ms() - t_first), (unsigned long long)longest_us,
			       (unsigned long long)waited);
		}
	}
	return 0;
}

static int sc_ping(const char *peer, int ms, int n, const char *mode)
{
	msgr_client *c = attach("client.ping", 1 << 20);
	uint64_t t0 = now_ms();
	struct msgr_event ev;
	msgr_conn *k;

	CHECK(n >= 1, "N must be at least 1");
	CHECK(!msgr_connect(c, peer, parse_mode(mode), &k), "connect");
	for (int i = 0; i < n; i++) {
		uint32_t seq = 42 + (uint32_t)i;
		CHECK(!msgr_send(k, seq, "ping", 4), "send %d", i);
		next(c, &ev, ms);
		if (i == 0) {
			CHECK(ev.type == MSGR_EV_CONNECTED, "expected CONNECTED, got event %d (%s)",
			      ev.type, msgr_strerror(ev.error));
			next(c, &ev, ms);
		}
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.msg_type == seq && ev.len == 4 &&
			      !memcmp(ev.data, "ping", 4),
		      "expected echo %d, got event %d (%s)", i, ev.type, msgr_strerror(ev.error));
		msgr_event_release(c, &ev);
	}
	printf("ok %d echoes after %llu ms\n", n, (unsigned long long)(now_ms() - t0));
	fflush(stdout);
	usleep(100000);
	msgr_detach(c);
	return 0;
}

static int sc_try_attach(const char *entity)
{
	msgr_client *c;
	int err = msgr_attach(entity, NULL, &c);

	if (err) {
		/* an expected outcome for the caller to check, not a failure */
		printf("refused: %d %s\n", err, msgr_strerror(err));
		return 2;
	}
	msgr_detach(c);
	printf("ok attached\n");
	return 0;
}

/* Connect from c to peer in mode: the handle once CONNECTED, or NULL
 * once CONNECT_FAILED with EPROTONOSUPPORT; anything else fails. */
static msgr_conn *connect_as(msgr_client *c, const char *peer, enum msgr_mode mode, int refused)
{
	struct msgr_event ev;
	msgr_conn *k;
	int err = msgr_connect(c, peer, mode, &k);

	CHECK(!err, "connect %s in mode %d: %s", msgr_addr(c), mode, msgr_strerror(err));
	next(c, &ev, 5000);
	CHECK(ev.conn == k, "event %d on another handle", ev.type);
	if (refused) {
		CHECK(ev.type == MSGR_EV_CONNECT_FAILED && ev.error == -EPROTONOSUPPORT,
		      "%s in mode %d: expected CONNECT_FAILED with EPROTONOSUPPORT, got event %d (%s)",
		      msgr_addr(c), mode, ev.type, msgr_strerror(ev.error));
		CHECK(msgr_send(k, 1, "x", 1) == -ECONNRESET, "send on a refused connection");
		msgr_conn_close(k);
		return NULL;
	}
	CHECK(ev.type == MSGR_EV_CONNECTED, "%s in mode %d: expected CONNECTED, got event %d (%s)",
	      msgr_addr(c), mode, ev.type, msgr_strerror(ev.error));
	return k;
}

/* acc's next event is ACCEPTED in mode from (an entity name), then a
 * message "hi"; returns the accepted handle. */
static msgr_conn *expect_accept(msgr_client *acc, enum msgr_mode mode, const char *from,
				msgr_conn *k, msgr_client *c)
{
	struct msgr_event ev;
	msgr_conn *a;

	CHECK(!msgr_send(k, 7, "hi", 2), "send");
	expect(acc, &ev, MSGR_EV_ACCEPTED);
	a = ev.conn;
	CHECK(strstr(msgr_conn_peer(a), from), "accepted from %s, want %s", msgr_conn_peer(a), from);
	expect(acc, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.conn == a && ev.len == 2 && !memcmp(ev.data, "hi", 2), "the message");
	msgr_event_release(acc, &ev);
	CHECK(!msgr_send(a, 8, "yo", 2), "reply");
	expect(c, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.conn == k && ev.len == 2 && !memcmp(ev.data, "yo", 2), "the reply");
	msgr_event_release(c, &ev);
	(void)mode;
	return a;
}

static int sc_accept_modes(int hold)
{
	const unsigned lossy = MSGR_MODE_BIT(MSGR_LOSSY), peer = MSGR_MODE_BIT(MSGR_PEER);
	msgr_client *acc = attach("osd.acc", 1 << 20), *cl = attach("client.m", 1 << 20);
	msgr_client *cl2 = attach("client.m2", 1 << 20), *mon = attach("mon.m", 1 << 20);
	struct msgr_attach_opts here = { .pool_size = 1 << 20 }; /* $MSGR_SOCKET's daemon */
	msgr_client *osd, *cap;
	struct msgr_event ev;
	msgr_conn *k, *lossy_k, *lossy_a;
	char to[256], pat[32], line[16];
	int err;

	CHECK(!(err = msgr_attach("osd.m", &here, &osd)), "attach osd.m: %s", msgr_strerror(err));
	CHECK(!(err = msgr_attach("client.cap", &here, &cap)), "attach: %s", msgr_strerror(err));
	snprintf(to, sizeof(to), "%s", msgr_addr(acc));
	/* bad input: nothing is sent, the client stays attached */
	CHECK(msgr_accept_modes(NULL, "osd.*", peer) == -EINVAL, "NULL client");
	CHECK(msgr_accept_modes(acc, NULL, peer) == -EINVAL, "NULL pattern");
	CHECK(msgr_accept_modes(acc, "", peer) == -EINVAL, "empty pattern");
	CHECK(msgr_accept_modes(acc, "osd.[0-9", peer) == -EINVAL, "unclosed [");
	CHECK(msgr_accept_modes(acc, "osd/1", peer) == -EINVAL, "a / in a pattern");
	CHECK(msgr_accept_modes(acc, "osd.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				peer) == -EINVAL, "a pattern over 63 bytes");
	CHECK(msgr_accept_modes(acc, "osd.*", 1) == -EINVAL, "bit 0 is no mode");
	CHECK(msgr_accept_modes(acc, "osd.*", MSGR_MODE_BIT(4)) == -EINVAL, "bit 4 is no mode");
	CHECK(msgr_accept_modes(acc, "osd.*", ~0u) == -EINVAL, "every bit");
	/* at most 32 rules; changing one that is there needs no room */
	for (int i = 0; i < 32; i++) {
		snprintf(pat, sizeof(pat), "x%d.*", i);
		CHECK(!(err = msgr_accept_modes(cap, pat, lossy)), "rule %d: %s", i, msgr_strerror(err));
	}
	CHECK(msgr_accept_modes(cap, "y.*", lossy) == -ENOSPC, "rule 33");
	CHECK(!msgr_accept_modes(cap, "x3.*", MSGR_MODES_ALL), "change rule 3");

	/* no rule yet: anything goes (today's behaviour) */
	k = connect_as(mon, to, MSGR_LOSSLESS, 0);
	expect_accept(acc, MSGR_LOSSLESS, "/mon.m", k, mon);

	CHECK(!(err = msgr_accept_modes(acc, "client.*", lossy)), "rule 1: %s", msgr_strerror(err));
	CHECK(!(err = msgr_accept_modes(acc, "osd.*", peer)), "rule 2: %s", msgr_strerror(err));
	/* from here on, the rules decide at once */
	connect_as(cl, to, MSGR_LOSSLESS, 1);
	connect_as(cl, to, MSGR_PEER, 1);
	lossy_k = connect_as(cl, to, MSGR_LOSSY, 0);
	lossy_a = expect_accept(acc, MSGR_LOSSY, "/client.m", lossy_k, cl);
	k = connect_as(osd, to, MSGR_PEER, 0);
	expect_accept(acc, MSGR_PEER, "/osd.m", k, osd);
	connect_as(osd, to, MSGR_LOSSY, 1);
	connect_as(osd, to, MSGR_LOSSLESS, 1);
	connect_as(mon, to, MSGR_LOSSY, 1); /* no rule matches mon.m */
	/* a rule changed later: new connects meet it, open ones stay */
	CHECK(!msgr_accept_modes(acc, "client.*", peer), "change rule 1");
	connect_as(cl2, to, MSGR_LOSSY, 1);
	k = connect_as(cl2, to, MSGR_PEER, 0);
	expect_accept(acc, MSGR_PEER, "/client.m2", k, cl2);
	/* the lossy connection accepted before still works */
	CHECK(!msgr_send(lossy_k, 9, "again", 5), "send again");
	expect(acc, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.conn == lossy_a && ev.len == 5, "the message on the old connection");
	msgr_event_release(acc, &ev);
	/* and the acceptor heard of nothing refused */
	CHECK(msgr_next(acc, &ev, 200) == -EAGAIN, "event %d at the acceptor", ev.type);
	if (hold) {
		printf("ready\n");
		if (!fgets(line, sizeof(line), stdin))
			fail("stdin closed");
	}
	printf("ok accept modes\n");
	msgr_detach(cap);
	msgr_detach(osd);
	msgr_detach(mon);
	msgr_detach(cl2);
	msgr_detach(cl);
	msgr_detach(acc);
	return 0;
}

/* ---- lossless-faults.sh: restarts, standby, partitions ---- */

/* A tagged message: u64 tag (the survivor's handle generation, or the
 * restarter's instance id), u64 seq (1, 2, ... per handle), filler. */
#define LF_LEN 64
#define LF_MAXH 256

struct lf_handle {
	msgr_conn *k;
	uint64_t gen;     /* the survivor's number for this handle */
	uint64_t out_seq; /* last seq sent */
	uint64_t in_seq;  /* last seq received */
	uint64_t inst;    /* the restarter instance on the other end (survivor) */
};

static volatile sig_atomic_t lf_stop;

static void lf_on_term(int sig)
{
	(void)sig;
	lf_stop = 1;
}

static void lf_build(unsigned char *p, uint64_t tag, uint64_t seq)
{
	memcpy(p, &tag, 8);
	memcpy(p + 8, &seq, 8);
	fill(p + 16, LF_LEN - 16, (uint32_t)(tag ^ seq));
}

static void lf_parse(const struct msgr_event *ev, uint64_t *tag, uint64_t *seq)
{
	const unsigned char *p = ev->data;

	CHECK(ev->msg_type == 77 && ev->len == LF_LEN, "a message of type %u, %zu bytes", ev->msg_type,
	      ev->len);
	memcpy(tag, p, 8);
	memcpy(seq, p + 8, 8);
	CHECK(verify(p + 16, LF_LEN - 16, (uint32_t)(*tag ^ *seq)), "message %llu: payload damaged",
	      (unsigned long long)*seq);
}

/* Send up to 8 messages on h, tagged tag; stop early at EAGAIN, or when
 * the handle was reset under us (its event follows). */
static void lf_send_some(struct lf_handle *h, uint64_t tag)
{
	unsigned char p[LF_LEN];

	for (int i = 0; i < 8; i++) {
		int err;

		lf_build(p, tag, h->out_seq + 1);
		err = msgr_send(h->k, 77, p, LF_LEN);
		/* ENOTCONN: the daemon is gone (a restarter's is stopped under
		 * it); DAEMON_LOST is on its way */
		if (err == -EAGAIN || err == -ECONNRESET || err == -ENOTCONN)
			return;
		CHECK(!err, "send: %s", msgr_strerror(err));
		h->out_seq++;
	}
}

static int sc_lf_survivor(const char *entity, const char *peer, enum msgr_mode mode)
{
	msgr_client *c = attach(entity, 8 << 20);
	struct lf_handle hs[LF_MAXH];
	uint64_t *insts = NULL, ninsts = 0, gens = 0, resets = 0, cfailed = 0, received = 0;
	int nh = 0, connector = strcmp(peer, "-") != 0;
	struct msgr_event ev;
	struct sigaction sa = { .sa_handler = lf_on_term };

	sigaction(SIGTERM, &sa, NULL);
	if (connector) {
		CHECK(!msgr_connect(c, peer, mode, &hs[0].k), "connect %s", peer);
		hs[0] = (struct lf_handle){ .k = hs[0].k, .gen = ++gens };
		nh = 1;
	}
	printf("ready\n");
	while (!lf_stop) {
		for (int i = 0; i < nh; i++)
			lf_send_some(&hs[i], hs[i].gen);
		for (int n = 0; n < 64; n++) {
			int err = msgr_next(c, &ev, n ? 0 : 1), i;

			if (err == -EAGAIN)
				break;
			CHECK(!err, "msgr_next: %s", msgr_strerror(err));
			for (i = 0; i < nh && hs[i].k != ev.conn; i++)
				;
			switch (ev.type) {
			case MSGR_EV_ACCEPTED:
				CHECK(!connector, "ACCEPTED on the connecting end");
				CHECK(nh < LF_MAXH, "too many live handles");
				hs[nh++] = (struct lf_handle){ .k = ev.conn, .gen = ++gens };
				break;
			case MSGR_EV_CONNECTED:
				CHECK(connector && i < nh, "CONNECTED on an unknown handle");
				break;
			case MSGR_EV_MESSAGE: {
				uint64_t tag, seq;

				CHECK(i < nh, "a message on an unknown handle");
				lf_parse(&ev, &tag, &seq);
				msgr_event_release(c, &ev);
				if (!hs[i].inst) {
					for (uint64_t j = 0; j < ninsts; j++)
						CHECK(insts[j] != tag,
						      "STALE: handle %llu got a message (seq %llu) of restarter "
						      "instance %016llx, which an earlier handle had",
						      (unsigned long long)hs[i].gen, (unsigned long long)seq,
						      (unsigned long long)tag);
					insts = realloc(insts, (ninsts + 1) * sizeof(*insts));
					insts[ninsts++] = tag;
					hs[i].inst = tag;
				}
				CHECK(tag == hs[i].inst,
				      "STALE: handle %llu of instance %016llx got a message of instance %016llx",
				      (unsigned long long)hs[i].gen, (unsigned long long)hs[i].inst,
				      (unsigned long long)tag);
				CHECK(seq == hs[i].in_seq + 1, "handle %llu: seq %llu after %llu (%s)",
				      (unsigned long long)hs[i].gen, (unsigned long long)seq,
				      (unsigned long long)hs[i].in_seq, seq <= hs[i].in_seq ? "duplicate" : "gap");
				hs[i].in_seq = seq;
				received++;
				break;
			}
			case MSGR_EV_REMOTE_RESET:
			case MSGR_EV_CONNECT_FAILED:
				CHECK(i < nh, "%s on an unknown handle",
				      ev.type == MSGR_EV_REMOTE_RESET ? "REMOTE_RESET" : "CONNECT_FAILED");
				if (ev.type == MSGR_EV_REMOTE_RESET) {
					resets++;
					printf("remote_reset %llu gen %llu sent %llu received %llu\n",
					       (unsigned long long)resets, (unsigned long long)hs[i].gen,
					       (unsigned long long)hs[i].out_seq, (unsigned long long)hs[i].in_seq);
				} else {
					CHECK(connector, "CONNECT_FAILED on an accepted handle");
					CHECK(!hs[i].in_seq, "CONNECT_FAILED after messages came");
					cfailed++;
				}
				CHECK(msgr_send(hs[i].k, 77, "x", 1) == -ECONNRESET, "send after the reset");
				msgr_conn_close(hs[i].k);
				hs[i] = hs[--nh];
				if (connector && !nh) {
					if (ev.type == MSGR_EV_CONNECT_FAILED)
						usleep(20000); /* the new instance is not there yet */
					CHECK(!msgr_connect(c, peer, mode, &hs[0].k), "connect %s", peer);
					hs[0] = (struct lf_handle){ .k = hs[0].k, .gen = ++gens };
					nh = 1;
				}
				n = 64;
				break;
			case MSGR_EV_RESET:
				fail("RESET (%s) on handle %llu, where only REMOTE_RESET may come",
				     msgr_strerror(ev.error), (unsigned long long)(i < nh ? hs[i].gen : 0));
			case MSGR_EV_DAEMON_LOST:
				fail("DAEMON_LOST");
			}
		}
	}
	printf("done remote_resets %llu handles %llu connect_failed %llu received %llu live %d\n",
	       (unsigned long long)resets, (unsigned long long)gens, (unsigned long long)cfailed,
	       (unsigned long long)received, nh);
	free(insts);
	msgr_detach(c);
	return 0;
}

static int sc_lf_restarter(const char *entity, const char *peer, enum msgr_mode mode, uint64_t mingen)
{
	msgr_client *c = attach(entity, 8 << 20);
	struct lf_handle h = { 0 };
	/* LF_RUN_MS: how long it may live (a race loop of make soak's 500
	 * rounds holds its pair longer than the default 120 s) */
	const char *run_ms = getenv("LF_RUN_MS");
	uint64_t inst = 0, end = now_ms() + (run_ms ? strtoull(run_ms, NULL, 10) : 120000);
	int connector = strcmp(peer, "-") != 0, ready = 0;
	struct msgr_event ev;

	while (!inst)
		CHECK(getrandom(&inst, sizeof(inst), 0) == sizeof(inst), "getrandom");
	if (connector)
		CHECK(!msgr_connect(c, peer, mode, &h.k), "connect %s", peer);
	while (now_ms() < end) {
		if (h.k)
			lf_send_some(&h, inst);
		for (int n = 0; n < 64; n++) {
			int err = msgr_next(c, &ev, n ? 0 : 1);

			if (err == -EAGAIN)
				break;
			CHECK(!err, "msgr_next: %s", msgr_strerror(err));
			switch (ev.type) {
			case MSGR_EV_ACCEPTED:
				CHECK(!connector, "ACCEPTED on the connecting end");
				CHECK(!h.k, "a second ACCEPTED (a replayed open, or one meant for an earlier "
					    "instance)");
				h.k = ev.conn;
				break;
			case MSGR_EV_CONNECTED:
				CHECK(connector && ev.conn == h.k, "CONNECTED on an unknown handle");
				break;
			case MSGR_EV_MESSAGE: {
				uint64_t tag, seq;

				CHECK(h.k && ev.conn == h.k, "a message on an unknown handle");
				lf_parse(&ev, &tag, &seq);
				msgr_event_release(c, &ev);
				CHECK(tag > mingen,
				      "STALE: a message (seq %llu) of survivor handle %llu, meant for an earlier "
				      "instance (handles up to %llu were)",
				      (unsigned long long)seq, (unsigned long long)tag, (unsigned long long)mingen);
				if (!h.gen)
					h.gen = tag;
				CHECK(tag == h.gen, "messages of survivor handles %llu and %llu on one connection",
				      (unsigned long long)h.gen, (unsigned long long)tag);
				CHECK(seq == h.in_seq + 1, "seq %llu after %llu (%s)", (unsigned long long)seq,
				      (unsigned long long)h.in_seq, seq <= h.in_seq ? "duplicate" : "gap");
				h.in_seq = seq;
				if (seq == 100 && !ready) {
					printf("ready gen %llu\n", (unsigned long long)h.gen);
					ready = 1;
				}
				break;
			}
			case MSGR_EV_DAEMON_LOST:
				printf("daemon lost gen %llu received %llu\n", (unsigned long long)h.gen,
				       (unsigned long long)h.in_seq);
				msgr_detach(c); /* the handle and the mapping are still ours */
				return 0;
			default:
				fail("event %d (%s) on the restarter, after %llu messages", ev.type,
				     msgr_strerror(ev.error), (unsigned long long)h.in_seq);
			}
		}
	}
	fail("still running after its time (LF_RUN_MS, default 120 s)");
}

/* Wait up to 10 s for message seq on k of c; no other event may come. */
static uint64_t lf_await(msgr_client *c, msgr_conn *k, uint64_t seq, const char *who)
{
	uint64_t t0 = now_ms(), tag, s;
	struct msgr_event ev;

	for (;;) {
		int err = msgr_next(c, &ev, 100);

		if (err == -EAGAIN) {
			CHECK(now_ms() - t0 < 10000, "%s: message %llu not delivered within 10 s", who,
			      (unsigned long long)seq);
			continue;
		}
		CHECK(!err, "msgr_next: %s", msgr_strerror(err));
		CHECK(ev.type == MSGR_EV_MESSAGE && ev.conn == k, "%s: event %d (%s) waiting for message %llu",
		      who, ev.type, msgr_strerror(ev.error), (unsigned long long)seq);
		lf_parse(&ev, &tag, &s);
		msgr_event_release(c, &ev);
		CHECK(s == seq, "%s: message %llu where %llu was due", who, (unsigned long long)s,
		      (unsigned long long)seq);
		return now_ms() - t0;
	}
}

static int sc_lf_standby(void)
{
	msgr_client *ca = attach("client.sb", 1 << 20), *cb = attach("osd.sb", 1 << 20);
	uint64_t sa = 0, sb = 0;
	unsigned char p[LF_LEN];
	struct msgr_event ev;
	msgr_conn *a, *b;
	char line[16];

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_PEER, &a), "connect");
	lf_build(p, 1, ++sa);
	CHECK(!msgr_send(a, 77, p, LF_LEN), "send");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	b = ev.conn;
	lf_await(cb, b, sa, "osd.sb");
	lf_build(p, 2, ++sb);
	CHECK(!msgr_send(b, 77, p, LF_LEN), "send");
	lf_await(ca, a, sb, "client.sb");
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == 'a') {
			lf_build(p, 1, ++sa);
			CHECK(!msgr_send(a, 77, p, LF_LEN), "send a");
			printf("ok a after %llu ms\n", (unsigned long long)lf_await(cb, b, sa, "osd.sb"));
		} else if (line[0] == 'b') {
			lf_build(p, 2, ++sb);
			CHECK(!msgr_send(b, 77, p, LF_LEN), "send b");
			printf("ok b after %llu ms\n", (unsigned long long)lf_await(ca, a, sb, "client.sb"));
		} else if (line[0] == 'q') {
			/* nothing more: no duplicate, no reset */
			CHECK(msgr_next(ca, &ev, 300) == -EAGAIN, "client.sb: event %d after the last message",
			      ev.type);
			CHECK(msgr_next(cb, &ev, 10) == -EAGAIN, "osd.sb: event %d after the last message",
			      ev.type);
			break;
		}
	}
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok done\n");
	return 0;
}

static int sc_lf_hold(const char *entity, const char *peer, enum msgr_mode mode, int ms)
{
	msgr_client *c = attach(entity, 1 << 20);
	unsigned char p[LF_LEN];
	struct msgr_event ev;
	msgr_conn *k;
	uint64_t t0;

	CHECK(!msgr_connect(c, peer, mode, &k), "connect");
	lf_build(p, 1, 1);
	CHECK(!msgr_send(k, 77, p, LF_LEN), "send");
	expect(c, &ev, MSGR_EV_CONNECTED);
	printf("ready\n");
	t0 = now_ms();
	for (;;) {
		int err = msgr_next(c, &ev, 100);

		if (err == -EAGAIN) {
			CHECK(now_ms() - t0 < (uint64_t)ms, "no REMOTE_RESET within %d ms", ms);
			continue;
		}
		CHECK(!err, "msgr_next: %s", msgr_strerror(err));
		CHECK(ev.type == MSGR_EV_REMOTE_RESET && ev.conn == k, "event %d (%s), where REMOTE_RESET was due",
		      ev.type, msgr_strerror(ev.error));
		CHECK(msgr_send(k, 77, p, LF_LEN) == -ECONNRESET, "send after REMOTE_RESET");
		printf("ok remote_reset after %llu ms (%s)\n", (unsigned long long)(now_ms() - t0),
		       msgr_strerror(ev.error));
		msgr_detach(c);
		return 0;
	}
}

/*
 * Kept windows replayed after a link fault (lossless-replay-paced):
 * client.bl (on A) opens n lossless connections to osd.bl0.. (on B), which
 * do not read yet, and sends 4 KiB messages until every window is full;
 * "ready N" tells the runner, which kills the link and waits for the
 * resumes, then writes "go": each server then reads everything, once and in
 * order, and nobody hears anything else.
 */
#define BL_LEN 4096
#define BL_MAX 16

static void bl_build(unsigned char *p, uint64_t tag, uint64_t seq)
{
	memcpy(p, &tag, 8);
	memcpy(p + 8, &seq, 8);
	fill(p + 16, BL_LEN - 16, (uint32_t)(tag ^ seq));
}

static int sc_lf_backlog(int n)
{
	msgr_client *ca = attach("client.bl", 64 << 20), *cb[BL_MAX];
	msgr_conn *k[BL_MAX];
	uint64_t sent[BL_MAX] = { 0 }, total = 0;
	static unsigned char p[BL_LEN];
	struct msgr_event ev;
	char line[16], name[32];

	CHECK(n > 0 && n <= BL_MAX, "1..%d servers", BL_MAX);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "osd.bl%d", i);
		cb[i] = attach(name, 1 << 20);
		CHECK(!msgr_connect(ca, msgr_addr(cb[i]), MSGR_LOSSLESS, &k[i]), "connect %s", name);
	}
	for (int i = 0; i < n; i++) {
		expect(ca, &ev, MSGR_EV_CONNECTED);
		expect(cb[i], &ev, MSGR_EV_ACCEPTED);
	}
	/* until no send has gone for 300 ms: the servers' pools are full, so
	 * no ack comes back, and every window is in flight */
	for (uint64_t quiet = now_ms(); now_ms() - quiet < 300;) {
		int any = 0;

		for (int i = 0; i < n; i++) {
			int err;

			bl_build(p, (uint64_t)i, sent[i] + 1);
			err = msgr_send(k[i], 77, p, BL_LEN);
			CHECK(!err || err == -EAGAIN, "send: %s", msgr_strerror(err));
			if (!err) {
				sent[i]++;
				total++;
				any = 1;
			}
		}
		if (any)
			quiet = now_ms();
		else
			CHECK(msgr_next(ca, &ev, 10) == -EAGAIN, "client.bl: event %d while sending", ev.type);
	}
	printf("ready %llu\n", (unsigned long long)total);
	CHECK(fgets(line, sizeof(line), stdin) && !strncmp(line, "go", 2), "no go from the runner");
	for (int i = 0; i < n; i++) {
		uint64_t got = 0, t0 = now_ms();

		while (got < sent[i]) {
			uint64_t tag, seq;
			int err = msgr_next(cb[i], &ev, 100);

			if (err == -EAGAIN) {
				CHECK(now_ms() - t0 < 30000, "osd.bl%d: %llu of %llu messages in 30 s", i,
				      (unsigned long long)got, (unsigned long long)sent[i]);
				continue;
			}
			CHECK(!err, "msgr_next: %s", msgr_strerror(err));
			CHECK(ev.type == MSGR_EV_MESSAGE && ev.len == BL_LEN, "osd.bl%d: event %d (%s), %zu bytes",
			      i, ev.type, msgr_strerror(ev.error), ev.len);
			memcpy(&tag, ev.data, 8);
			memcpy(&seq, (const unsigned char *)ev.data + 8, 8);
			CHECK(tag == (uint64_t)i && seq == got + 1 &&
				      verify((const unsigned char *)ev.data + 16, BL_LEN - 16, (uint32_t)(tag ^ seq)),
			      "osd.bl%d: message %llu of connection %llu where %llu was due (or damaged)", i,
			      (unsigned long long)seq, (unsigned long long)tag, (unsigned long long)got + 1);
			msgr_event_release(cb[i], &ev);
			got++;
		}
	}
	for (int i = 0; i < n; i++)
		CHECK(msgr_next(cb[i], &ev, i ? 10 : 300) == -EAGAIN, "osd.bl%d: event %d after the last message",
		      i, ev.type);
	CHECK(msgr_next(ca, &ev, 10) == -EAGAIN, "client.bl: event %d (%s)", ev.type, msgr_strerror(ev.error));
	for (int i = 0; i < n; i++)
		msgr_detach(cb[i]);
	msgr_detach(ca);
	printf("ok %d connections, %llu messages, each once and in order\n", n, (unsigned long long)total);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		fail("usage: msgr-itest SCENARIO ...");
	scenario = argv[1];
	if (!strcmp(scenario, "local") && argc == 3)
		return sc_local(parse_mode(argv[2]));
	if (!strcmp(scenario, "threads") && argc == 3)
		return sc_threads(parse_mode(argv[2]));
	if (!strcmp(scenario, "eagain"))
		return sc_eagain();
	if (!strcmp(scenario, "blocking"))
		return sc_blocking();
	if (!strcmp(scenario, "detach-flush"))
		return sc_detach_flush();
	if (!strcmp(scenario, "unpin"))
		return sc_unpin();
	if (!strcmp(scenario, "window"))
		return sc_window();
	if (!strcmp(scenario, "window-edges"))
		return sc_window_edges();
	if (!strcmp(scenario, "server") && argc == 4)
		return sc_server(argv[2], atoi(argv[3]));
	if (!strcmp(scenario, "sink-sum") && argc == 3)
		return sc_sink_sum(argv[2]);
	if (!strcmp(scenario, "idle-many") && argc == 3)
		return sc_idle_many(atoi(argv[2]));
	if (!strcmp(scenario, "hold") && argc == 4)
		return sc_hold(argv[2], argv[3]);
	if (!strcmp(scenario, "idle") && (argc == 3 || argc == 4))
		return sc_idle(argv[2], argc == 4 ? (size_t)atol(argv[3]) : 64 << 20);
	if (!strcmp(scenario, "wait-lost") && argc == 3)
		return sc_wait_lost(argv[2]);
	if (!strcmp(scenario, "pingpong-pair") && argc == 3)
		return sc_pingpong_pair(atoi(argv[2]));
	if (!strcmp(scenario, "churn") && argc == 3)
		return sc_churn(atoi(argv[2]));
	if (!strcmp(scenario, "vandal") && argc == 4)
		return sc_vandal(argv[2], argv[3]);
	if (!strcmp(scenario, "errors"))
		return sc_errors();
	if (!strcmp(scenario, "connect-flood"))
		return sc_connect_flood();
	if (!strcmp(scenario, "last-error") && argc == 3)
		return sc_last_error(argv[2]);
	if (!strcmp(scenario, "bigthreads") && argc == 3)
		return sc_bigthreads((size_t)atol(argv[2]));
	if (!strcmp(scenario, "wait-room") && argc == 4)
		return sc_wait_room(atoi(argv[2]), (size_t)atol(argv[3]));
	if (!strcmp(scenario, "cross") && argc == 3)
		return sc_cross(atoi(argv[2]));
	if (!strcmp(scenario, "pairs") && argc == 3)
		return sc_pairs(atoi(argv[2]));
	if (!strcmp(scenario, "reset-wait") && argc == 3)
		return sc_reset_wait(atoi(argv[2]));
	if (!strcmp(scenario, "open-close") && argc == 5)
		return sc_open_close(argv[2], argv[3], atoi(argv[4]));
	if (!strcmp(scenario, "send-hold") && argc == 7)
		return sc_send_hold(argv[2], argv[3], argv[4], (size_t)atol(argv[5]), atoi(argv[6]));
	if (!strcmp(scenario, "open-churn") && argc >= 4 && argc <= 6)
		return sc_open_churn(argv[2], atoi(argv[3]),
				     argc >= 5 && atoi(argv[4]) > 0 ? (size_t)atoi(argv[4]) : 0,
				     argc == 6 && !strcmp(argv[5], "lossless") ? MSGR_LOSSLESS : MSGR_LOSSY);
	if (!strcmp(scenario, "connect-fail") && argc == 4)
		return sc_connect_fail(argv[2], atoi(argv[3]));
	if (!strcmp(scenario, "attach") && argc == 4)
		return sc_attach(argv[2], atoi(argv[3]));
	if (!strcmp(scenario, "flood") && argc == 6)
		return sc_flood(argv[2], argv[3], atoi(argv[4]), argv[5]);
	if (!strcmp(scenario, "close-behind") && argc == 3)
		return sc_close_behind(atoi(argv[2]));
	if (!strcmp(scenario, "victim") && argc == 3)
		return sc_victim(argv[2]);
	if (!strcmp(scenario, "ping") && argc >= 4 && argc <= 6)
		return sc_ping(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 1,
			       argc > 5 ? argv[5] : "lossy");
	if (!strcmp(scenario, "try-attach") && argc == 3)
		return sc_try_attach(argv[2]);
	if (!strcmp(scenario, "accept-modes") && (argc == 2 || (argc == 3 && !strcmp(argv[2], "hold"))))
		return sc_accept_modes(argc == 3);
	if (!strcmp(scenario, "lf-survivor") && argc == 5)
		return sc_lf_survivor(argv[2], argv[3], parse_mode(argv[4]));
	if (!strcmp(scenario, "lf-restarter") && argc == 6)
		return sc_lf_restarter(argv[2], argv[3], parse_mode(argv[4]), strtoull(argv[5], NULL, 10));
	if (!strcmp(scenario, "lf-backlog") && argc == 3)
		return sc_lf_backlog(atoi(argv[2]));
	if (!strcmp(scenario, "lf-standby"))
		return sc_lf_standby();
	if (!strcmp(scenario, "lf-hold") && argc == 6)
		return sc_lf_hold(argv[2], argv[3], parse_mode(argv[4]), atoi(argv[5]));
	fail("unknown scenario or wrong arguments");
	return 1;
}
