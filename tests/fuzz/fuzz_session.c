/*
 * fuzz_session - libFuzzer target for everything a peer daemon's bytes
 * reach: the banner and frame decoder, the handshake (HELLO, AUTH,
 * AUTH_DONE, CLOSE, KEEPALIVE), and channel frames (OPEN, MSG, ACK, RESET)
 * delivered into a real attached client's segment.
 *
 * The daemon's core (session.c, channel.c, client.c) runs as in msgrd, over
 * a fake transport that feeds the input as one inbound link. The stubs
 * below stand in for main.c's loop glue: a "pass" services the client and
 * flushes the link after every chunk. auth.mode is none, so the fuzzer gets
 * past the handshake; unless the control byte says otherwise the harness
 * prepends a valid banner, HELLO and AUTH_DONE and fixes header and payload
 * CRCs, so the fuzzer spends its time on the frames behind them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "daemon/client.h"
#include "daemon/daemon.h"
#include "daemon/frame.h"
#include "fix_crcs.h"
#include "daemon/session.h"
#include "transports/transport.h"

/* ---- main.c's loop glue, reduced to what the core calls ---- */

static int scheduled;

void msgr__daemon_schedule(struct msgr__daemon *d)
{
	scheduled = 1;
}

void msgr__daemon_kick(struct msgr__daemon *d)
{
	scheduled = 1;
}

int msgr__daemon_set(struct msgr__daemon *d, const char *arg, char *msg, size_t len)
{
	return -EINVAL;
}

/* ---- a transport with one inbound link, fed from the input ---- */

struct fake {
	struct msgr__link pub;
	void *rbuf;       /* posted receive buffer */
	size_t rlen;
	int closed;       /* the core called close() */
	int close_err;
	void *cookies[4096];
	int ncookies;
};

static const struct msgr__transport_events *tev;
static void *tcore;
static struct fake link1;

static int f_init(struct msgr__transport **t, uv_loop_t *loop, const struct msgr__transport_events *ev,
		  void *core, char *err, size_t errlen)
{
	tev = ev;
	tcore = core;
	*t = (struct msgr__transport *)&link1; /* any non-NULL token */
	return 0;
}

static int f_listen(struct msgr__transport *t, const char *hp) { return 0; }
static int f_dial(struct msgr__transport *t, const char *hp, struct msgr__link **out) { return -ECONNREFUSED; }
static size_t f_queued(struct msgr__link *l) { return 0; }
static int f_reg(struct msgr__transport *t, void *b, size_t n) { return 0; }
static void f_fini(struct msgr__transport *t) {}

static int f_send(struct msgr__link *l, const struct iovec *iov, int n, void *cookie)
{
	struct fake *f = (struct fake *)l;

	if (f->closed || f->ncookies == (int)(sizeof(f->cookies) / sizeof(f->cookies[0])))
		return -ENOTCONN;
	f->cookies[f->ncookies++] = cookie;
	return 0;
}

static int f_post(struct msgr__link *l, void *buf, size_t len)
{
	struct fake *f = (struct fake *)l;

	f->rbuf = buf;
	f->rlen = len;
	return 0;
}

static int f_addr(struct msgr__link *l, int peer, char *buf, size_t len)
{
	snprintf(buf, len, "10.9.9.9:4242");
	return 0;
}

static void f_close(struct msgr__link *l, int err)
{
	struct fake *f = (struct fake *)l;

	if (!f->closed) {
		f->closed = 1;
		f->close_err = err;
	}
}

static const struct msgr__transport_ops fake_ops = {
	"fake", f_init, f_listen, f_dial, f_send, f_queued, f_post, f_reg, f_addr, f_close, f_fini,
};

/* ---- the harness ---- */

static struct msgr__daemon dmn;

static void pass(void)
{
	for (struct msgr__dclient *c = dmn.clients, *next; c; c = next) {
		next = c->next;
		msgr__dclient_service(c);
	}
	msgr__dclient_reap(&dmn);
	msgr__net_flush(&dmn);
	for (int i = 0; i < link1.ncookies; i++)
		tev->sent(tcore, &link1.pub, link1.cookies[i], 0);
	link1.ncookies = 0;
	scheduled = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	msgr__log_level = MSGR__LOG_ERR - 1; /* quiet */
	msgr__conf_defaults(&dmn.conf);
	dmn.conf.auth_mode = MSGR__AUTH_NONE;
	dmn.conf.max_message = 65536;
	dmn.loop = uv_default_loop();
	if (msgr__net_start(&dmn, &fake_ops, err, sizeof(err)))
		abort();
	return 0;
}

static size_t put_frame(uint8_t *p, uint8_t type, const void *payload, uint32_t len)
{
	struct msgr__frame_hdr h = { .type = type, .len = len };
	uint32_t crc = msgr__crc32c(0, payload, len);

	msgr__frame_hdr_encode(p, &h);
	if (len)
		memcpy(p + MSGR__FRAME_HDR_LEN, payload, len);
	memcpy(p + MSGR__FRAME_HDR_LEN + len, &crc, 4);
	return MSGR__FRAME_HDR_LEN + len + 4;
}

/* A valid banner, HELLO (auth none) and AUTH_DONE from peer 10.9.9.9:1,
 * and (open) an OPEN of channel 2 from client.z to osd.f: the fuzzer's
 * frames then find a channel to act on. */
static size_t prologue(uint8_t *p, int open)
{
	struct msgr__banner b = { 1, 1, 0 };
	uint8_t hello[8 + 1 + 4 + 8 + 8 + 8 + 32 + 2 + 10] = { 0 }, *q = hello;
	size_t n = MSGR__BANNER_LEN;

	msgr__banner_encode(p, &b);
	q[0] = 0x77; /* nonce */
	q += 8;
	*q++ = MSGR__AUTH_NONE;
	q[0] = 0; q[1] = 0; q[2] = 1; q[3] = 0; /* max message 65536 */
	q += 4;
	q[2] = 0x40; /* window 4 MiB */
	q += 8;
	q[0] = 0x99; /* link id (we are its dialler); no lost link */
	q += 16 + 32;
	*q++ = 10;
	*q++ = 0;
	memcpy(q, "10.9.9.9:1", 10);
	n += put_frame(p + n, MSGR__F_HELLO, hello, sizeof(hello));
	n += put_frame(p + n, MSGR__F_AUTH_DONE, NULL, 0);
	if (open) {
		static const uint8_t o[] = { 1, 9, 9, 9, 9, 9, 9, 9, 9, 8, 0, 'c', 'l', 'i', 'e', 'n',
					     't', '.', 'z', 5, 0, 'o', 's', 'd', '.', 'f' };
		struct msgr__frame_hdr h = { .type = MSGR__F_OPEN, .channel = 2, .len = sizeof(o) };
		uint32_t crc = msgr__crc32c(0, o, sizeof(o));
		msgr__frame_hdr_encode(p + n, &h);
		memcpy(p + n + MSGR__FRAME_HDR_LEN, o, sizeof(o));
		memcpy(p + n + MSGR__FRAME_HDR_LEN + sizeof(o), &crc, 4);
		n += MSGR__FRAME_HDR_LEN + sizeof(o) + 4;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr__dclient *c = NULL;
	uint8_t *buf;
	size_t n = 0, pos = 0, chunk;
	int sv[2], fds[3];

	if (size < 2)
		return 0;
	/* an attached entity for OPENs to find: osd.f */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	if (msgr__dclient_create(&dmn, sv[0], "osd.f", 64 << 10, &c, fds))
		abort();
	close(fds[0]);

	buf = malloc(size + 512);
	/* control byte: bit 0 raw input (no prologue), bit 1 keep the CRCs as
	 * they are, bit 2 fix payload CRCs too, bit 3 no OPEN in the prologue */
	if (!(data[0] & 1))
		n = prologue(buf, !(data[0] & 8));
	memcpy(buf + n, data + 2, size - 2);
	if (!(data[0] & 2))
		fuzz_fix_crcs(buf, n + size - 2, n ? n : MSGR__BANNER_LEN, data[0] & 4);
	n += size - 2;
	chunk = (size_t)data[1] * 16 + 1;

	memset(&link1, 0, sizeof(link1));
	tev->accepted(tcore, &link1.pub);
	pass();
	while (pos < n && !link1.closed && link1.rbuf) {
		size_t k = n - pos < chunk ? n - pos : chunk;
		void *rb = link1.rbuf;
		if (k > link1.rlen)
			k = link1.rlen;
		link1.rbuf = NULL;
		memcpy(rb, buf + pos, k);
		tev->received(tcore, &link1.pub, rb, k);
		pos += k;
		pass();
	}
	/* the link ends, one way or the other, and everything goes with it:
	 * sends first (cancelled), then closed(), as a transport must */
	for (int i = 0; i < link1.ncookies; i++)
		tev->sent(tcore, &link1.pub, link1.cookies[i], -ECANCELED);
	link1.ncookies = 0;
	tev->closed(tcore, &link1.pub, link1.closed ? link1.close_err : -ECONNRESET);
	pass();
	msgr__dclient_drop(c, MSGR__LOG_DEBUG, "fuzz iteration over");
	uv_run(dmn.loop, UV_RUN_NOWAIT); /* the client's handle closes */
	close(sv[1]);
	free(buf);
	return 0;
}
