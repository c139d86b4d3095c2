/*
 * fuzz_session - libFuzzer target for everything a peer daemon's bytes
 * reach: the banner and frame decoder, the handshake (HELLO, AUTH,
 * AUTH_DONE, CLOSE, KEEPALIVE), and channel frames (OPEN, MSG, ACK, RESET)
 * delivered into a real attached client's segment.
 *
 * The daemon's core (session.c, channel.c, client.c) runs as in msgrd, over
 * a fake transport that feeds the input as one inbound link. The stubs
 * below stand in for main.c's loop glue: a "pass" services the client and
 * flushes the link after every chunk. Unless the control byte says
 * otherwise the harness plays an honest dialler: it prepends a valid banner,
 * HELLO and AUTH_DONE (auth.mode none) and fixes header and payload CRCs,
 * so the fuzzer spends its time on the frames behind them. In secure mode
 * (control bit 4) it does the real version 2 handshake with a test key,
 * over the daemon's own HELLO, and seals the fuzzer's frames after it.
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
#include "daemon/cmd.h"
#include "daemon/daemon.h"
#include "daemon/frame.h"
#include "fix_crcs.h"
#include "seal_frames.h"
#include "daemon/auth.h"
#include "daemon/channel.h"
#include "daemon/net.h"
#include "daemon/registry.h"
#include "transports/transport.h"

/* ---- main.c's loop glue, reduced to what the core calls ---- */

static int scheduled;

/* session.c's up-call by name */
void msgr__daemon_schedule(struct msgr__daemon *d)
{
	scheduled = 1;
}

/* the clients layer's schedule and kick hooks */
static void hook_schedule(void *ctx)
{
	scheduled = 1;
}

static void on_schedule(void *ctx)
{
	scheduled = 1;
}

/* ---- a transport with one inbound link, fed from the input ---- */

struct fake {
	struct msgr__tconn pub;
	void *rbuf;       /* posted receive buffer */
	size_t rlen;
	int closed;       /* the core called close() */
	int close_err;
	void *cookies[4096];
	int ncookies;
	uint8_t sent[4096];  /* the first bytes the daemon sent: banner, HELLO */
	size_t nsent;
};

static const struct msgr__transport_events *tev;
static void *tcore;
static struct fake link1;

static int f_init(struct msgr__transport **t, uv_loop_t *loop, const struct msgr__transport_args *args,
		  const struct msgr__transport_events *ev,
		  void *core, char *err, size_t errlen)
{
	tev = ev;
	tcore = core;
	*t = (struct msgr__transport *)&link1; /* any non-NULL token */
	return 0;
}

static int f_listen(struct msgr__transport *t, const char *hp) { return 0; }
static int f_dial(struct msgr__transport *t, const char *hp, struct msgr__tconn **out) { return -ECONNREFUSED; }
static size_t f_queued(struct msgr__tconn *l) { return 0; }
static int f_reg(struct msgr__transport *t, void *b, size_t n) { return 0; }
static void f_fini(struct msgr__transport *t) {}

static int f_send(struct msgr__tconn *l, const struct iovec *iov, int n, void *cookie)
{
	struct fake *f = (struct fake *)l;

	if (f->closed || f->ncookies == (int)(sizeof(f->cookies) / sizeof(f->cookies[0])))
		return -ENOTCONN;
	f->cookies[f->ncookies++] = cookie;
	for (int i = 0; i < n; i++) {
		size_t k = iov[i].iov_len < sizeof(f->sent) - f->nsent ? iov[i].iov_len
								       : sizeof(f->sent) - f->nsent;
		memcpy(f->sent + f->nsent, iov[i].iov_base, k);
		f->nsent += k;
	}
	return 0;
}

static int f_post(struct msgr__tconn *l, void *buf, size_t len)
{
	struct fake *f = (struct fake *)l;

	f->rbuf = buf;
	f->rlen = len;
	return 0;
}

static int f_addr(struct msgr__tconn *l, int peer, char *buf, size_t len)
{
	snprintf(buf, len, "10.9.9.9:4242");
	return 0;
}

static void f_close(struct msgr__tconn *l, int err)
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
	/* every client every pass: never parked (park_ns UINT64_MAX), since
	 * nothing here signals an eventfd to bring one back */
	msgr__registry_pass(&dmn.reg, msgr__now_ns(), UINT64_MAX);
	msgr__net_flush(dmn.net);
	for (int i = 0; i < link1.ncookies; i++)
		tev->sent(tcore, &link1.pub, link1.cookies[i], 0);
	link1.ncookies = 0;
	scheduled = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	char path[] = "/tmp/msgr-fuzz-key-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	/* quiet, unless FUZZ_LOG=1 asks to see what one input does */
	msgr__log_level = getenv("FUZZ_LOG") ? MSGR__LOG_DEBUG : MSGR__LOG_ERR - 1;
	msgr__conf_defaults(&dmn.conf);
	/* started secure, so the test key is loaded; each input then picks
	 * the mode (the handshake reads it as it goes) */
	if (!f)
		abort();
	fprintf(f, "[cluster]\nkey = ");
	for (size_t i = 0; i < sizeof(fuzz_seal_key); i++)
		fprintf(f, "%02x", fuzz_seal_key[i]);
	fprintf(f, "\n");
	fclose(f);
	snprintf(dmn.conf.net.keyring, sizeof(dmn.conf.net.keyring), "%s", path);
	dmn.conf.net.auth_mode = MSGR__AUTH_SECURE;
	dmn.conf.net.max_message = 65536;
	dmn.loop = uv_default_loop();
	dmn.reg = (struct msgr__registry){
		.loop = dmn.loop,
		.conf = &dmn.conf.client,
		.net_conf = &dmn.conf.net,
		.stats = &dmn.stats.client,
		.schedule = { hook_schedule, NULL },
		.kick = { hook_schedule, NULL },
	};
	if (msgr__net_start(&dmn.net, dmn.loop, &dmn.conf.net, &dmn.stats.net, &fake_ops, 0, on_schedule,
			    NULL, err, sizeof(err)))
		abort();
	dmn.reg.chans = msgr__chans_new(&dmn.conf.chan, &dmn.conf.net, &dmn.stats.chan,
					msgr__net_sessions(dmn.net), &msgr__registry_chan_events, &dmn.reg);
	if (!dmn.reg.chans)
		abort();
	unlink(path);
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

/* Our banner and HELLO as dialler from peer 10.9.9.9:1, in mode; returns
 * the bytes, and the HELLO payload in *hello. */
static size_t hello_put(uint8_t *p, int mode, const uint8_t **hello, size_t *hlen)
{
	struct msgr__banner b = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	static uint8_t h[8 + 1 + 4 + 8 + 8 + 8 + 32 + 2 + 10];
	uint8_t *q = h;

	memset(h, 0, sizeof(h));
	msgr__banner_encode(p, &b);
	q[0] = 0x77; /* nonce */
	q += 8;
	*q++ = (uint8_t)mode;
	q[0] = 0; q[1] = 0; q[2] = 1; q[3] = 0; /* max message 65536 */
	q += 4;
	q[2] = 0x40; /* window 4 MiB */
	q += 8;
	q[0] = 0x99; /* link id (we are its dialler); no lost link */
	q += 16 + 32;
	*q++ = 10;
	*q++ = 0;
	memcpy(q, "10.9.9.9:1", 10);
	*hello = h;
	*hlen = sizeof(h);
	return MSGR__BANNER_LEN + put_frame(p + MSGR__BANNER_LEN, MSGR__F_HELLO, h, sizeof(h));
}

/* After the handshake: AUTH_DONE and (open) an OPEN of channel 2 from
 * client.z to osd.f, so the fuzzer's frames find a channel to act on. */
static size_t prologue(uint8_t *p, int open, int resume)
{
	size_t n = put_frame(p, MSGR__F_AUTH_DONE, NULL, 0);

	if (open) {
		/* lossless (2), so the fuzzer reaches retention, dups and
		 * resumes (RESUME frames on channel 0 act on this channel);
		 * the last 8 bytes are the cookie */
		static const uint8_t o[] = { 2, 9, 9, 9, 9, 9, 9, 9, 9, 8, 0, 'c', 'l', 'i', 'e', 'n',
					     't', '.', 'z', 5, 0, 'o', 's', 'd', '.', 'f',
					     1, 0, 0, 0, 0, 0, 0, 0 };
		struct msgr__frame_hdr h = { .type = MSGR__F_OPEN, .channel = 2, .len = sizeof(o) };
		uint32_t crc = msgr__crc32c(0, o, sizeof(o));
		msgr__frame_hdr_encode(p + n, &h);
		memcpy(p + n + MSGR__FRAME_HDR_LEN, o, sizeof(o));
		memcpy(p + n + MSGR__FRAME_HDR_LEN + sizeof(o), &crc, 4);
		n += MSGR__FRAME_HDR_LEN + sizeof(o) + 4;
	}
	if (open && resume) {
		/* an init resume round naming channel 2 (cookie 1, client.z's
		 * nonce, nothing delivered, opened), so the input starts in the
		 * resume exchange (PROTOCOL.md 5a): the daemon answers, settles
		 * the channel, and replays */
		uint8_t r[7 + 29], e[9] = { 1, 0, 0, 0, 0, 7, 0, 0, 0 };
		size_t k = 0;
		k += msgr__put_uint(r + k, 1, 2);
		r[k++] = 0;
		k += msgr__put_uint(r + k, 7, 4); /* the round's id */
		k += msgr__put_uint(r + k, 2, 4);
		k += msgr__put_uint(r + k, 1, 8);
		k += msgr__put_uint(r + k, 0x0909090909090909ull, 8);
		k += msgr__put_uint(r + k, 0, 8);
		r[k++] = 1;
		n += put_frame(p + n, MSGR__F_RESUME, r, (uint32_t)k);
		n += put_frame(p + n, MSGR__F_RESUME_END, e, sizeof(e));
	}
	return n;
}

/* Secure mode: from the daemon's banner and HELLO (what it sent on
 * accept), our AUTH, and the key that seals what follows. 0, or -1 if the
 * daemon did not say them. */
static int secure_auth(const uint8_t *our_hello, size_t our_len, const uint8_t *our_banner,
		       uint8_t *out, size_t *n, struct msgr__seal *tx)
{
	uint8_t h[MSGR__HASH_LEN], proof[MSGR__PROOF_LEN], k[32];
	uint32_t len;

	if (link1.nsent < MSGR__BANNER_LEN + MSGR__FRAME_HDR_LEN)
		return -1;
	memcpy(&len, link1.sent + MSGR__BANNER_LEN + 24, 4);
	if (link1.sent[MSGR__BANNER_LEN] != MSGR__F_HELLO ||
	    len > link1.nsent - MSGR__BANNER_LEN - MSGR__FRAME_HDR_LEN)
		return -1;
	msgr__auth_transcript(our_banner, link1.sent, our_hello, our_len,
			      link1.sent + MSGR__BANNER_LEN + MSGR__FRAME_HDR_LEN, len, h);
	msgr__auth_proof(fuzz_seal_key, MSGR__ROLE_DIALLER, h, proof);
	*n += put_frame(out + *n, MSGR__F_AUTH, proof, sizeof(proof));
	if (msgr__auth_derive(fuzz_seal_key, h, MSGR__ROLE_DIALLER, k) || msgr__seal_init(tx, k, 1))
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr__dclient *c = NULL;
	uint8_t *buf;
	size_t n = 0, pos = 0, chunk;
	int sv[2], fds[3], secure;
	struct msgr__seal tx;

	if (size < 2)
		return 0;
	/* an attached entity for OPENs to find: osd.f */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	if (msgr__dclient_create(&dmn.reg, sv[0], "osd.f", 64 << 10, &c, fds))
		abort();
	msgr__dclient_start(c);
	close(fds[0]);

	/* control byte: bit 0 raw input (no prologue), bit 1 keep the CRCs as
	 * they are, bit 2 fix payload CRCs too, bit 3 no OPEN in the prologue,
	 * bit 4 secure mode (with the prologue), bit 5 a resume round after the
	 * OPEN */
	secure = (data[0] & 0x11) == 0x10;
	dmn.conf.net.auth_mode = secure ? MSGR__AUTH_SECURE : MSGR__AUTH_NONE;
	memset(&link1, 0, sizeof(link1));
	tev->accepted(tcore, &link1.pub);
	pass();

	buf = malloc(2 * size + 1024);
	if (!(data[0] & 1)) {
		const uint8_t *hello;
		size_t hlen;
		n = hello_put(buf, dmn.conf.net.auth_mode, &hello, &hlen);
		if (secure && secure_auth(hello, hlen, buf, buf, &n, &tx))
			abort(); /* the daemon must have sent its banner and HELLO */
		if (!secure)
			n += prologue(buf + n, !(data[0] & 8), data[0] & 0x20);
	}
	if (secure) {
		/* the rest is sealed: AUTH_DONE, OPEN, then the input */
		uint8_t *plain = malloc(size + 512);
		size_t m = prologue(plain, !(data[0] & 8), data[0] & 0x20);
		memcpy(plain + m, data + 2, size - 2);
		m += size - 2;
		n += fuzz_seal_frames(&tx, plain, m, buf + n);
		msgr__seal_fini(&tx);
		free(plain);
	} else {
		size_t start = n;
		memcpy(buf + n, data + 2, size - 2);
		n += size - 2;
		if (!(data[0] & 2))
			fuzz_fix_crcs(buf, n, start ? start : MSGR__BANNER_LEN, data[0] & 4);
	}
	chunk = (size_t)data[1] * 16 + 1;
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
