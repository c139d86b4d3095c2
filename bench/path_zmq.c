/*
 * path_zmq.c - ZeroMQ PUSH/PULL over tcp:// (zmq-tcp) and ipc:// (zmq-ipc),
 * libzmq's defaults otherwise (high-water marks, one I/O thread, which
 * sets TCP_NODELAY). The benchmark alone links libzmq; msgrd and libmsgr
 * never do.
 *
 * A message is the sockets' frame (struct bench_frame, then the payload),
 * so the receiver checks the same sequence number and stamp. zmq_send copies
 * the stamped frame into a zmq message; the receiver reads it in place with
 * zmq_msg_recv. The ping-pong uses two PUSH/PULL pairs, one per direction:
 * each side binds a PULL and publishes its endpoint.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#if defined(__has_include)
#if __has_include(<zmq.h>)
#define HAVE_ZMQ 1
#endif
#endif

#ifdef HAVE_ZMQ
#include <zmq.h>

const int bench_zmq_built = 1;

static void *zctx;

static void *z_socket(int type)
{
	int linger = -1, tmo = BENCH_IDLE_MS;
	void *s;

	if (!zctx && !(zctx = zmq_ctx_new()))
		bench_die("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
	s = zmq_socket(zctx, type);
	if (!s)
		bench_die("zmq_socket: %s", zmq_strerror(zmq_errno()));
	if (zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo)) ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)))
		bench_die("zmq_setsockopt: %s", zmq_strerror(zmq_errno()));
	return s;
}

/* A PULL bound to a fresh endpoint, which goes to addr for the peer. */
static void *z_listen(struct bench_run *ru, char *addr, size_t n, _Atomic int *ready)
{
	void *s = z_socket(ZMQ_PULL);
	char ep[300];
	size_t len = sizeof(ep);

	if (ru->path == BENCH_ZMQIPC)
		/* Linux's abstract namespace: no file to clean up after a crash */
		snprintf(ep, sizeof(ep), "ipc://@msgr-bench-zmq-%d", (int)getpid());
	else
		snprintf(ep, sizeof(ep), "tcp://127.0.0.1:*");
	if (zmq_bind(s, ep))
		bench_die("zmq_bind %s: %s", ep, zmq_strerror(zmq_errno()));
	if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len))
		bench_die("ZMQ_LAST_ENDPOINT: %s", zmq_strerror(zmq_errno()));
	if (strlen(ep) >= n)
		bench_die("endpoint %s too long", ep);
	memcpy(addr, ep, strlen(ep) + 1);
	atomic_store(ready, 1);
	return s;
}

static void *z_connect(const char *addr, _Atomic int *ready)
{
	void *s = z_socket(ZMQ_PUSH);

	if (bench_wait_flag(ready, 10000))
		bench_die("the other process never got ready");
	if (zmq_connect(s, addr))
		bench_die("zmq_connect %s: %s", addr, zmq_strerror(zmq_errno()));
	return s;
}

static void z_send(void *s, const void *p, size_t len)
{
	while (zmq_send(s, p, len, 0) < 0)
		if (zmq_errno() != EINTR)
			bench_die("zmq_send: %s", zmq_strerror(zmq_errno()));
}

/* The next message's frame: *h and the payload, valid until the next call. */
static const unsigned char *z_recv(void *s, zmq_msg_t *m, struct bench_frame *h, size_t size)
{
	const unsigned char *p;

	while (zmq_msg_recv(m, s, 0) < 0) {
		if (zmq_errno() == EAGAIN)
			bench_die("nothing from zmq for %d ms (message lost?)", BENCH_IDLE_MS);
		if (zmq_errno() != EINTR)
			bench_die("zmq_msg_recv: %s", zmq_strerror(zmq_errno()));
	}
	p = zmq_msg_data(m);
	if (zmq_msg_size(m) < sizeof(*h))
		bench_die("a zmq message of %zu bytes", zmq_msg_size(m));
	memcpy(h, p, sizeof(*h));
	if (zmq_msg_size(m) != sizeof(*h) + h->len || h->len != size)
		bench_die("a zmq message of %zu bytes, frame length %u", zmq_msg_size(m), h->len);
	return p + sizeof(*h);
}

static void z_done(void *a, void *b)
{
	if (a)
		zmq_close(a);
	if (b)
		zmq_close(b);
	zmq_ctx_term(zctx);
	zctx = NULL;
}

void bench_zmq_sender(struct bench_run *ru)
{
	void *push = z_connect(bench_sh->addr, &bench_sh->ready);
	unsigned char *f = bench_sock_frame_buf(ru->size);
	size_t flen = sizeof(struct bench_frame) + ru->size;
	uint64_t t0 = 0, n = 0;

	while (bench_sending(n, &t0)) {
		n++;
		bench_set_seq(f, (uint32_t)n);
		z_send(push, f, flen);
	}
	bench_window_end(0);
	bench_set_seq(f, BENCH_END_SEQ);
	z_send(push, f, flen);
	bench_sh->sent = n - bench_oneway_warm;
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
	z_done(push, NULL);
}

void bench_zmq_receiver(struct bench_run *ru)
{
	void *pull = z_listen(ru, bench_sh->addr, sizeof(bench_sh->addr), &bench_sh->ready);
	uint64_t n = 0, bytes = 0;
	struct bench_frame h;
	zmq_msg_t m;

	zmq_msg_init(&m);
	for (;;) {
		const unsigned char *p = z_recv(pull, &m, &h, ru->size);
		if (h.seq == BENCH_END_SEQ)
			break;
		bench_check(h.seq, (uint32_t)(n + 1), p, h.len, ru->size);
		bench_received(++n, h.len, &bytes);
	}
	bench_receiver_done(n, bytes);
	zmq_msg_close(&m);
	atomic_store(&bench_sh->done, 1);
	z_done(pull, NULL);
}

void bench_zmq_pinger(struct bench_run *ru)
{
	uint64_t warm = bench_warmup_rounds(), total = warm + bench_opt.rtt_count;
	uint64_t *lat = malloc(bench_opt.rtt_count * sizeof(*lat));
	unsigned char *f = bench_sock_frame_buf(ru->size);
	size_t flen = sizeof(struct bench_frame) + ru->size;
	void *pull = z_listen(ru, bench_sh->addr0, sizeof(bench_sh->addr0), &bench_sh->ready0);
	void *push = z_connect(bench_sh->addr, &bench_sh->ready);
	struct bench_frame h;
	zmq_msg_t m;

	if (!lat)
		bench_die("out of memory");
	zmq_msg_init(&m);
	bench_window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = bench_now_ns();
		const unsigned char *p;
		bench_set_seq(f, seq);
		z_send(push, f, flen);
		p = z_recv(pull, &m, &h, ru->size);
		bench_check(h.seq, seq, p, h.len, ru->size);
		if (i >= warm)
			lat[i - warm] = bench_now_ns() - t0;
	}
	bench_window_end(0);
	bench_set_seq(f, BENCH_END_SEQ);
	z_send(push, f, flen);
	bench_sh->rounds = total;
	bench_rtt_stats(lat, bench_opt.rtt_count);
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the echoing process did not finish");
	zmq_msg_close(&m);
	z_done(push, pull);
}

void bench_zmq_ponger(struct bench_run *ru)
{
	void *pull = z_listen(ru, bench_sh->addr, sizeof(bench_sh->addr), &bench_sh->ready);
	void *push = z_connect(bench_sh->addr0, &bench_sh->ready0);
	struct bench_frame h;
	uint32_t want = 1;
	zmq_msg_t m;

	zmq_msg_init(&m);
	for (;;) {
		const unsigned char *p = z_recv(pull, &m, &h, ru->size);
		if (h.seq == BENCH_END_SEQ)
			break;
		bench_check(h.seq, want, p, h.len, ru->size);
		z_send(push, p - sizeof(h), sizeof(h) + h.len); /* the frame as it came */
		if (want++ == 1)
			bench_window_start(1);
	}
	bench_window_end(1);
	zmq_msg_close(&m);
	atomic_store(&bench_sh->done, 1);
	z_done(push, pull);
}

#else /* no libzmq at build time: main() skips the zmq paths */

const int bench_zmq_built = 0;

void bench_zmq_sender(struct bench_run *ru)
{
	bench_die("built without libzmq");
}

void bench_zmq_receiver(struct bench_run *ru)
{
	bench_die("built without libzmq");
}

void bench_zmq_pinger(struct bench_run *ru)
{
	bench_die("built without libzmq");
}

void bench_zmq_ponger(struct bench_run *ru)
{
	bench_die("built without libzmq");
}

#endif
