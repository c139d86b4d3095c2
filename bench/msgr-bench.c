/*
 * msgr-bench - msgrd against bare baselines, side by side in one run.
 *
 * The machines this runs on are small, shared and noisy: absolute numbers do
 * not carry from one run to the next, but the ratio between msgrd and a
 * baseline measured seconds apart in the same run mostly does. So each case
 * runs every transport back to back and the report is ratios.
 *
 * Transports, each between two forked processes (never two threads):
 *   msgrd        libmsgr entity -> msgrd -> libmsgr entity, MSGR_LOSSLESS
 *   shm-ring     shm/ring.c rings in a shared mapping; the waiting side spins
 *                poll_us, then sleeps with libmsgr's needs-wakeup flag and an
 *                eventfd, so the only difference to msgrd is the daemon hop
 *   unix-socket  SOCK_STREAM socketpair, length-prefixed frames
 *   tcp          127.0.0.1 with TCP_NODELAY, the same frames
 *   msgrd-net    libmsgr entity -> msgrd A -> TCP session -> msgrd B -> libmsgr
 *                entity: two daemons on loopback, as between two hosts. Its
 *                own baseline is tcp (the net/tcp column)
 *   msgrd-net-secure  the same with both daemons in auth.mode = secure (every
 *                frame sealed with AES-256-GCM); its baseline is msgrd-net,
 *                whose daemons run auth.mode = hmac (the sec/net column)
 *   msgrd-net-lossy  msgrd-net's daemons, but the connection is MSGR_LOSSY:
 *                nothing kept for a replay (docs/PROTOCOL.md 5a). The
 *                net/netlossy column is the price of lossless over lossy
 *
 * And one case that is not a transport: recovery. Over a pair of daemons of
 * its own (hmac, global.inject = true) a paced lossless one-way stream runs
 * while the bench kills the active link --kills times (`inject kill-link`
 * on the control socket of the sender's daemon); each kill's recovery time
 * runs from the kill until the receiver gets the first message sent after
 * it. The stream must arrive exactly once and in order throughout.
 *
 * Everything a child measures goes into one MAP_SHARED page (struct shared);
 * the parent only forks, reaps and reports. See bench/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "msgr.h"
#include "shm/ring.h"
#include "shm/wake.h"

#define SMALL 64
#define LARGE 4096
#define END_SEQ 0u          /* msg_type / frame seq of the end marker; data starts at 1 */
#define IDLE_MS 5000        /* a receiver that hears nothing this long calls it a loss */
#define DEFAULT_POLL_US 0  /* libmsgr's default: never spin */
#define MAX_REPEAT 15
#define MAX_KILLS 1000      /* --kills */
#define REC_SIZE 64         /* the recovery stream: a 64 B message ... */
#define REC_PACE_US 100     /* ... every 100 µs or so (a nanosleep between sends) */
#define REC_WAIT_MS 10000   /* a kill not recovered from in this long fails the case */

/* New transports go at the end: tooling reads the columns in this order. */
enum transport { T_MSGRD, T_SHM, T_UDS, T_TCP, T_NET, T_SEC, T_NETLOSSY, NT };
static const char *const tname[NT] = { "msgrd", "shm-ring", "unix-socket", "tcp", "msgrd-net",
				       "msgrd-net-secure", "msgrd-net-lossy" };
static const char *const tshort[NT] = { "msgrd", "shm", "uds", "tcp", "net", "sec",
					"netlossy" };

/* The msgrd-net variants differ in their daemons' auth.mode (sec) or in the
 * connection's mode (netlossy). */
static int is_net(enum transport t)
{
	return t == T_NET || t == T_SEC || t == T_NETLOSSY;
}

/* How the sending side connects: lossless everywhere but netlossy. */
static enum msgr_mode conn_mode_of(enum transport t)
{
	return t == T_NETLOSSY ? MSGR_LOSSY : MSGR_LOSSLESS;
}

enum kind { K_ONEWAY, K_PINGPONG };

/* ---- options and process-wide state ---- */

static struct {
	double seconds;
	uint64_t count;     /* fixed one-way message count instead of a duration */
	unsigned rtt_count;
	unsigned repeat;
	const char *socket; /* an already running msgrd */
	const char *ctl_socket;
	int poll_set;
	int dpoll_set;      /* --daemon-poll-us: msgrd's own, apart from the clients' */
	unsigned dpoll_us;
	unsigned poll_us;
	unsigned transports; /* bit per enum transport */
	unsigned cases;      /* bit 0: one-way, bit 1: ping-pong */
	int recovery;        /* run the recovery case */
	unsigned kills;      /* link kills in it */
	unsigned kill_ms;    /* between kills */
	const char *out;
} opt = { .seconds = 2.0, .rtt_count = 20000, .repeat = 1, .transports = (1u << NT) - 1,
	    .cases = 3, .recovery = 1, .kill_ms = 300 };

static unsigned wait_poll_us; /* what libmsgr clients and the shm-ring baseline spin */
static char tmpdir[64];

/* Every msgrd of the run. D_MAIN is msgrd's, and host A of msgrd-net (and
 * of msgrd-net-lossy, which differs only in the connection's mode); with
 * --socket it is someone else's and the others are not started. msgrd-net-
 * secure needs a pair of its own, since auth.mode is per daemon and both
 * ends of a session must agree on it; so does the recovery case, whose
 * daemons run global.inject = true (a fault interceptor under every link,
 * which the measured pairs must not pay for). */
enum daemon_id { D_MAIN, D_NET_B, D_SEC_A, D_SEC_B, D_REC_A, D_REC_B, ND };
static struct daemon {
	const char *tag;  /* its socket, control socket and log in tmpdir */
	const char *mode; /* auth.mode, set explicitly so that sec/net stays secure/hmac */
	int inject;       /* global.inject = true */
	int port;         /* its global.listen port on 127.0.0.1 */
	char sock[PATH_MAX], ctl[PATH_MAX], log[PATH_MAX];
	volatile pid_t pid; /* ours to stop, or 0 */
} dmn[ND] = {
	[D_MAIN] = { .tag = "msgrd", .mode = "hmac" },
	[D_NET_B] = { .tag = "msgrd-b", .mode = "hmac" },
	[D_SEC_A] = { .tag = "msgrd-sec-a", .mode = "secure" },
	[D_SEC_B] = { .tag = "msgrd-sec-b", .mode = "secure" },
	[D_REC_A] = { .tag = "msgrd-rec-a", .mode = "hmac", .inject = 1 },
	[D_REC_B] = { .tag = "msgrd-rec-b", .mode = "hmac", .inject = 1 },
};
static pid_t obs_daemon; /* D_MAIN's pid, to read its /proc, or 0 */

/* The daemon each role attaches to: one for msgrd, host A (sender, ping)
 * and host B (receiver, echo) for the msgrd-net variants. */
static const enum daemon_id via[NT][2] = {
	[T_MSGRD] = { D_MAIN, D_MAIN },
	[T_NET] = { D_MAIN, D_NET_B },
	[T_SEC] = { D_SEC_A, D_SEC_B },
	[T_NETLOSSY] = { D_MAIN, D_NET_B },
};

/* How many daemons a transport goes through: their costs count with its own. */
static int ndaemons(enum transport t)
{
	return t == T_MSGRD ? 1 : is_net(t) ? 2 : 0;
}

/* The pid whose /proc tells a daemon's costs, or 0 if we cannot read it. */
static pid_t daemon_pid(enum daemon_id d)
{
	return d == D_MAIN ? obs_daemon : dmn[d].pid;
}

static const char *attach_sock;   /* the daemon this child attaches to */
static enum msgr_mode conn_mode = MSGR_LOSSLESS; /* how this child connects */
static volatile pid_t kids[2];
static const char *label = "";    /* the running case, for a child's error message */
static volatile uint64_t sink;    /* keeps payload reads from being optimised away */
static uint64_t oneway_warm;      /* one-way messages sent before the window opens */

static void __attribute__((format(printf, 1, 2))) errmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("msgr-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A child reports and exits; the parent sees the status and kills its partner. */
static _Noreturn void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "msgr-bench: %s: ", label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- per-process cost: CPU time and context switches from /proc ---- */

struct psample {
	uint64_t cpu_ns;  /* on-CPU time */
	uint64_t wait_ns; /* runnable but waiting for a CPU */
	uint64_t csw;     /* voluntary + involuntary context switches */
	int ok;
};

static int proc_sample(pid_t pid, struct psample *s)
{
	char path[64], line[256];
	unsigned long long v, w;
	FILE *f;

	memset(s, 0, sizeof(*s));
	/* schedstat has nanoseconds; stat's clock ticks are too coarse for
	 * a 0.3 s --quick run. */
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fscanf(f, "%llu %llu", &v, &w) != 2) {
		fclose(f);
		return -EPROTO;
	}
	fclose(f);
	s->cpu_ns = v;
	s->wait_ns = w;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			s->csw += v;
	fclose(f);
	s->ok = 1;
	return 0;
}

/* ---- what children hand back ---- */

struct side {
	struct psample w0, w1; /* this process over its measuring window */
	uint64_t wakeups;      /* eventfd writes it made (shm-ring) */
	uint64_t eagain;       /* sends refused for a full pool or ring */
};

struct shared {
	_Atomic int ready; /* role 1 is listening (msgrd: attached; addr is set) */
	_Atomic int done;  /* role 1 has seen the end marker */
	char addr[256];
	uint64_t t_start, t_end;
	uint64_t sent, recvd, bytes;
	uint64_t rounds;     /* ping-pong round trips inside the windows, warm-up included */
	double p50, p99, mean;
	struct side side[2];
	/* the daemons (msgrd's one; msgrd-net's A and B), at role 0's start
	 * and role 1's end */
	struct psample d0[2], d1[2];
	/* the recovery case: the parent kills links and writes kill_ns (then
	 * nkills) before it sets stop; the receiver publishes the send time of
	 * the last message it got, and at the end the receive time of the
	 * first message sent after each kill */
	_Atomic int stop;
	_Atomic uint64_t last_stamp;
	unsigned nkills;
	uint64_t kill_ns[MAX_KILLS], first_ns[MAX_KILLS];
	double lat_p50, lat_p99; /* the stream's one-way latency, µs */
};

static struct shared *sh;

/* ---- one measurement: what the children need ---- */

struct shm_flag {
	_Alignas(MSGR__CACHELINE) _Atomic uint32_t sleeping;
};

/* ring[i] carries role i's messages to role 1 - i; flag[i] and efd[i] wake role i. */
struct run {
	enum transport t;
	enum kind kind;
	size_t size;
	int fd[2];
	void *shm;
	size_t shm_len;
	struct shm_flag *flag;
	void *ring_mem[2];
	uint32_t nslots, payload;
	int efd[2];
};

struct frame {
	uint32_t len;
	uint32_t seq;
};

static int wait_flag(_Atomic int *f, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (!atomic_load(f)) {
		if (now_ns() > end)
			return -ETIMEDOUT;
		sleep_us(200);
	}
	return 0;
}

static void fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 131 + 7);
}

/* Every receiver reads every payload byte, so no transport wins by leaving
 * the data cold. */
static uint64_t touch(const unsigned char *p, size_t len)
{
	uint64_t x = 0, w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		x ^= w;
	}
	for (; i < len; i++)
		x ^= p[i];
	return x;
}

static void stamp(unsigned char *p, uint32_t seq)
{
	memcpy(p, &seq, sizeof(seq));
}

static void check(uint32_t seq, uint32_t want, const unsigned char *p, size_t len, size_t size)
{
	uint32_t s;

	if (seq != want)
		die("message %u arrived when %u was due (lost or out of order)", seq, want);
	if (len != size)
		die("message %u has %zu bytes, sent %zu", seq, len, size);
	memcpy(&s, p, sizeof(s));
	if (s != seq)
		die("message %u carries the payload of message %u", seq, s);
	sink ^= touch(p, len);
}

static uint64_t warmup_rounds(void)
{
	uint64_t w = opt.rtt_count / 10;

	return w < 100 ? 100 : w > 2000 ? 2000 : w;
}

/* Checked every 64 messages: a clock read per 64-byte message would show. */
static int keep_sending(uint64_t n, uint64_t t0)
{
	if (opt.count)
		return n < opt.count;
	if (n & 63)
		return 1;
	return now_ns() - t0 < (uint64_t)(opt.seconds * 1e9);
}

/* Fork and exec latency of the other side stays out of the measured window. */
static void wait_peer(void)
{
	if (wait_flag(&sh->ready, 10000))
		die("the other process never got ready");
}

static pid_t sampled[2]; /* the daemons this child's transport goes through, or 0 */

static void window_start(int role)
{
	proc_sample(getpid(), &sh->side[role].w0);
	for (int i = 0; i < 2 && role == 0; i++)
		if (sampled[i])
			proc_sample(sampled[i], &sh->d0[i]);
}

static void window_end(int role)
{
	proc_sample(getpid(), &sh->side[role].w1);
	for (int i = 0; i < 2 && role == 1; i++)
		if (sampled[i])
			proc_sample(sampled[i], &sh->d1[i]);
}

/* Whether to send message n + 1. The first oneway_warm messages fault in the
 * pools and socket buffers and settle the scheduler; the window opens after. */
static int sending(uint64_t n, uint64_t *t0)
{
	if (n == oneway_warm) {
		window_start(0);
		*t0 = sh->t_start = now_ns();
	}
	return n < oneway_warm || keep_sending(n - oneway_warm, *t0);
}

/* The receiving side's window opens when the warm-up is all in. */
static void received(uint64_t n, size_t len, uint64_t *bytes)
{
	if (n == oneway_warm)
		window_start(1);
	else if (n > oneway_warm)
		*bytes += len;
}

static void receiver_done(uint64_t n, uint64_t bytes)
{
	sh->t_end = now_ns();
	window_end(1);
	sh->recvd = n > oneway_warm ? n - oneway_warm : 0;
	sh->bytes = bytes;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void rtt_stats(uint64_t *lat, uint64_t n)
{
	double sum = 0;

	qsort(lat, n, sizeof(*lat), cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)lat[i];
	sh->p50 = lat[n / 2] / 1e3;
	sh->p99 = lat[n * 99 / 100] / 1e3;
	sh->mean = sum / (double)n / 1e3;
}

/* ---- msgrd ---- */

static msgr_client *mc_attach(const char *what)
{
	struct msgr_attach_opts o = { .socket_path = attach_sock,
				      .poll_us = wait_poll_us };
	char ent[64];
	msgr_client *c;
	int err;

	snprintf(ent, sizeof(ent), "bench.%s-%d", what, (int)getpid());
	err = msgr_attach(ent, &o, &c);
	if (err)
		die("attach %s to %s: %s", ent, o.socket_path, msgr_strerror(err));
	return c;
}

static void mc_next(msgr_client *c, struct msgr_event *ev)
{
	int err = msgr_next(c, ev, IDLE_MS);

	if (err == -EAGAIN || err == -ETIMEDOUT)
		die("nothing from msgrd for %d ms (message lost?)", IDLE_MS);
	if (err)
		die("msgr_next: %s", msgr_strerror(err));
	switch (ev->type) {
	case MSGR_EV_DAEMON_LOST:
		die("msgrd went away");
	case MSGR_EV_RESET:
	case MSGR_EV_REMOTE_RESET:
	case MSGR_EV_CONNECT_FAILED:
		die("connection to %s: event %d: %s", ev->conn ? msgr_conn_peer(ev->conn) : "?",
		    (int)ev->type, msgr_strerror(ev->error));
	default:
		break;
	}
}

/* Non-blocking sends, as an application with other work would use them; a
 * full TX pool or command ring means: let the daemon and the peer run. */
static void mc_send(msgr_conn *k, uint32_t type, const void *p, size_t len, struct side *s)
{
	for (;;) {
		int err = msgr_send(k, type, p, len);
		if (!err)
			return;
		if (err != -EAGAIN)
			die("msgr_send: %s", msgr_strerror(err));
		s->eagain++;
		sched_yield();
	}
}

static msgr_conn *mc_connect(msgr_client *c)
{
	struct msgr_event ev;
	msgr_conn *k;
	int err;

	if (wait_flag(&sh->ready, 10000))
		die("the receiving process never attached");
	err = msgr_connect(c, sh->addr, conn_mode, &k);
	if (err)
		die("msgr_connect %s: %s", sh->addr, msgr_strerror(err));
	mc_next(c, &ev);
	if (ev.type != MSGR_EV_CONNECTED)
		die("expected CONNECTED, got event %d", (int)ev.type);
	return k;
}

static void msgrd_sender(struct run *ru)
{
	msgr_client *c = mc_attach("tx");
	msgr_conn *k = mc_connect(c);
	unsigned char *buf = malloc(ru->size);
	struct side *s = &sh->side[0];
	uint64_t t0 = 0, n = 0;

	if (!buf)
		die("out of memory");
	fill(buf, ru->size);
	while (sending(n, &t0)) {
		n++;
		stamp(buf, (uint32_t)n);
		mc_send(k, (uint32_t)n, buf, ru->size, s);
	}
	window_end(0);
	mc_send(k, END_SEQ, buf, ru->size, s);
	sh->sent = n - oneway_warm;
	/* detaching now would reset the channel under messages still queued */
	if (wait_flag(&sh->done, 60000))
		die("the receiver did not finish");
	msgr_detach(c);
}

/* The receiving end: attach and tell the other process where to connect. */
static msgr_client *mc_listen(const char *what)
{
	msgr_client *c = mc_attach(what);

	snprintf(sh->addr, sizeof(sh->addr), "%s", msgr_addr(c));
	atomic_store(&sh->ready, 1);
	return c;
}

/* The receiving end's next data message, skipping ACCEPTED; 0 when it is
 * the end marker (still to be released). */
static int mc_next_data(msgr_client *c, struct msgr_event *ev)
{
	for (;;) {
		mc_next(c, ev);
		if (ev->type == MSGR_EV_ACCEPTED)
			continue;
		if (ev->type != MSGR_EV_MESSAGE)
			die("unexpected event %d", (int)ev->type);
		return ev->msg_type != END_SEQ;
	}
}

static void msgrd_receiver(struct run *ru)
{
	msgr_client *c = mc_listen("rx");
	struct msgr_event ev;
	uint64_t n = 0, bytes = 0;

	while (mc_next_data(c, &ev)) {
		check(ev.msg_type, (uint32_t)(n + 1), ev.data, ev.len, ru->size);
		received(++n, ev.len, &bytes);
		msgr_event_release(c, &ev);
	}
	receiver_done(n, bytes);
	msgr_event_release(c, &ev);
	atomic_store(&sh->done, 1);
	msgr_detach(c);
}

static void msgrd_pinger(struct run *ru)
{
	msgr_client *c = mc_attach("ping");
	msgr_conn *k = mc_connect(c);
	uint64_t warm = warmup_rounds(), total = warm + opt.rtt_count;
	uint64_t *lat = malloc(opt.rtt_count * sizeof(*lat));
	unsigned char *buf = malloc(ru->size);
	struct side *s = &sh->side[0];
	struct msgr_event ev;

	if (!lat || !buf)
		die("out of memory");
	fill(buf, ru->size);
	window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = now_ns();
		stamp(buf, seq);
		mc_send(k, seq, buf, ru->size, s);
		mc_next(c, &ev);
		if (ev.type != MSGR_EV_MESSAGE)
			die("expected a reply, got event %d", (int)ev.type);
		check(ev.msg_type, seq, ev.data, ev.len, ru->size);
		msgr_event_release(c, &ev);
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	window_end(0);
	mc_send(k, END_SEQ, buf, ru->size, s);
	sh->rounds = total;
	rtt_stats(lat, opt.rtt_count);
	if (wait_flag(&sh->done, 60000))
		die("the echoing process did not finish");
	msgr_detach(c);
}

static void msgrd_ponger(struct run *ru)
{
	msgr_client *c = mc_listen("pong");
	struct side *s = &sh->side[1];
	struct msgr_event ev;
	uint32_t want = 1;

	while (mc_next_data(c, &ev)) {
		check(ev.msg_type, want, ev.data, ev.len, ru->size);
		mc_send(ev.conn, ev.msg_type, ev.data, ev.len, s);
		msgr_event_release(c, &ev);
		if (want++ == 1)
			window_start(1);
	}
	window_end(1);
	msgr_event_release(c, &ev);
	atomic_store(&sh->done, 1);
	msgr_detach(c);
}

/* ---- shm-ring: libmsgr's rings and wakeup protocol without the daemon ---- */

struct shm_end {
	struct msgr__ring tx, rx;
	_Atomic uint32_t *my_flag, *peer_flag;
	int my_efd, peer_efd;
	struct side *s;
	unsigned char *slot; /* one ring payload: struct frame, then the message */
};

static void shm_open_end(struct run *ru, int role, struct shm_end *e)
{
	msgr__ring_open(&e->tx, ru->ring_mem[role], ru->nslots, ru->payload);
	msgr__ring_open(&e->rx, ru->ring_mem[1 - role], ru->nslots, ru->payload);
	e->my_flag = &ru->flag[role].sleeping;
	e->peer_flag = &ru->flag[1 - role].sleeping;
	e->my_efd = ru->efd[role];
	e->peer_efd = ru->efd[1 - role];
	e->s = &sh->side[role];
	e->slot = calloc(1, ru->payload);
	if (!e->slot)
		die("out of memory");
}

static void shm_push(struct shm_end *e)
{
	static const uint64_t one = 1;

	while (msgr__ring_push_sp(&e->tx, e->slot)) {
		e->s->eagain++;
		sched_yield(); /* the same answer to "full" as the msgrd sender's */
	}
	if (msgr__wake_take(e->peer_flag)) {
		if (write(e->peer_efd, &one, sizeof(one)) != sizeof(one))
			die("eventfd write: %s", strerror(errno));
		e->s->wakeups++;
	}
}

/* msgr_next's wait, step for step: spin poll_us, arm, re-check, sleep. */
static void shm_pop(struct shm_end *e)
{
	for (;;) {
		struct pollfd pfd = { .fd = e->my_efd, .events = POLLIN };
		uint64_t spin_end, v;
		int n;

		if (msgr__ring_pop_sc(&e->rx, e->slot) == 0)
			return;
		spin_end = now_ns() + (uint64_t)wait_poll_us * 1000;
		while (now_ns() < spin_end)
			if (msgr__ring_ready_sc(&e->rx))
				break;
		if (msgr__ring_ready_sc(&e->rx))
			continue;
		msgr__wake_arm(e->my_flag);
		if (msgr__ring_ready_sc(&e->rx)) {
			msgr__wake_disarm(e->my_flag);
			continue;
		}
		n = poll(&pfd, 1, IDLE_MS);
		if (n == 0)
			die("nothing on the ring for %d ms (message lost?)", IDLE_MS);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n > 0 && read(e->my_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			die("eventfd read: %s", strerror(errno));
		msgr__wake_disarm(e->my_flag);
	}
}

static struct frame *shm_frame(struct shm_end *e)
{
	return (struct frame *)e->slot;
}

static unsigned char *shm_data(struct shm_end *e)
{
	return e->slot + sizeof(struct frame);
}

static void shm_sender(struct run *ru)
{
	struct shm_end e;
	uint64_t t0 = 0, n = 0;

	shm_open_end(ru, 0, &e);
	fill(shm_data(&e), ru->size);
	shm_frame(&e)->len = (uint32_t)ru->size;
	wait_peer();
	while (sending(n, &t0)) {
		n++;
		shm_frame(&e)->seq = (uint32_t)n;
		stamp(shm_data(&e), (uint32_t)n);
		shm_push(&e);
	}
	window_end(0);
	shm_frame(&e)->seq = END_SEQ;
	shm_push(&e);
	sh->sent = n - oneway_warm;
	if (wait_flag(&sh->done, 60000))
		die("the receiver did not finish");
}

static void shm_receiver(struct run *ru)
{
	struct shm_end e;
	uint64_t n = 0, bytes = 0;

	shm_open_end(ru, 1, &e);
	atomic_store(&sh->ready, 1);
	for (;;) {
		shm_pop(&e);
		if (shm_frame(&e)->seq == END_SEQ)
			break;
		check(shm_frame(&e)->seq, (uint32_t)(n + 1), shm_data(&e), shm_frame(&e)->len,
		      ru->size);
		received(++n, ru->size, &bytes);
	}
	receiver_done(n, bytes);
	atomic_store(&sh->done, 1);
}

static void shm_pinger(struct run *ru)
{
	uint64_t warm = warmup_rounds(), total = warm + opt.rtt_count;
	uint64_t *lat = malloc(opt.rtt_count * sizeof(*lat));
	struct shm_end e;

	if (!lat)
		die("out of memory");
	shm_open_end(ru, 0, &e);
	fill(shm_data(&e), ru->size);
	shm_frame(&e)->len = (uint32_t)ru->size;
	wait_peer();
	window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = now_ns();
		/* the echo left the same frame in the slot buffer: only seq changes */
		shm_frame(&e)->seq = seq;
		stamp(shm_data(&e), seq);
		shm_push(&e);
		shm_pop(&e);
		check(shm_frame(&e)->seq, seq, shm_data(&e), shm_frame(&e)->len, ru->size);
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	window_end(0);
	shm_frame(&e)->seq = END_SEQ;
	shm_push(&e);
	sh->rounds = total;
	rtt_stats(lat, opt.rtt_count);
	if (wait_flag(&sh->done, 60000))
		die("the echoing process did not finish");
}

static void shm_ponger(struct run *ru)
{
	struct shm_end e;
	uint32_t want = 1;

	shm_open_end(ru, 1, &e);
	atomic_store(&sh->ready, 1);
	for (;;) {
		shm_pop(&e);
		if (shm_frame(&e)->seq == END_SEQ)
			break;
		check(shm_frame(&e)->seq, want, shm_data(&e), shm_frame(&e)->len, ru->size);
		shm_push(&e); /* the slot copy is the echo */
		if (want++ == 1)
			window_start(1);
	}
	window_end(1);
	atomic_store(&sh->done, 1);
}

/* ---- unix-socket and tcp: length-prefixed frames on a stream ---- */

/* A reader that takes what the kernel has in one read(), as a real stream
 * protocol would, instead of two reads per frame. */
struct rbuf {
	int fd;
	unsigned char *buf;
	size_t cap, head, tail;
};

static int rb_fill(struct rbuf *rb, size_t need)
{
	while (rb->tail - rb->head < need) {
		ssize_t n;
		if (rb->cap - rb->head < need) {
			memmove(rb->buf, rb->buf + rb->head, rb->tail - rb->head);
			rb->tail -= rb->head;
			rb->head = 0;
		}
		n = read(rb->fd, rb->buf + rb->tail, rb->cap - rb->tail);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		rb->tail += (size_t)n;
	}
	return 0;
}

/* The payload pointer stays valid until the next call. */
static unsigned char *rb_frame(struct rbuf *rb, struct frame *h)
{
	int err = rb_fill(rb, sizeof(*h));
	unsigned char *p;

	if (!err) {
		memcpy(h, rb->buf + rb->head, sizeof(*h));
		if (h->len > LARGE)
			die("corrupt frame: length %u", h->len);
		err = rb_fill(rb, sizeof(*h) + h->len);
	}
	if (err == -EAGAIN)
		die("nothing on the socket for %d ms (message lost?)", IDLE_MS);
	if (err)
		die("read: %s", strerror(-err));
	p = rb->buf + rb->head + sizeof(*h);
	rb->head += sizeof(*h) + h->len;
	return p;
}

static void write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write: %s", strerror(errno));
		}
		b += n;
		len -= (size_t)n;
	}
}

static unsigned char *sock_frame_buf(struct run *ru)
{
	unsigned char *f = malloc(sizeof(struct frame) + ru->size);
	struct frame h = { .len = (uint32_t)ru->size };

	if (!f)
		die("out of memory");
	memcpy(f, &h, sizeof(h));
	fill(f + sizeof(h), ru->size);
	return f;
}

static void set_seq(unsigned char *f, uint32_t seq)
{
	memcpy(f + offsetof(struct frame, seq), &seq, sizeof(seq));
	stamp(f + sizeof(struct frame), seq);
}

static void rb_init(struct rbuf *rb, int fd)
{
	rb->fd = fd;
	rb->cap = 1 << 20;
	rb->head = rb->tail = 0;
	rb->buf = malloc(rb->cap);
	if (!rb->buf)
		die("out of memory");
}

static void sock_sender(struct run *ru)
{
	unsigned char *f = sock_frame_buf(ru);
	size_t flen = sizeof(struct frame) + ru->size;
	int fd = ru->fd[0];
	uint64_t t0 = 0, n = 0;

	wait_peer();
	while (sending(n, &t0)) {
		n++;
		set_seq(f, (uint32_t)n);
		write_all(fd, f, flen);
	}
	window_end(0);
	set_seq(f, END_SEQ);
	write_all(fd, f, flen);
	sh->sent = n - oneway_warm;
	if (wait_flag(&sh->done, 60000))
		die("the receiver did not finish");
}

static void sock_receiver(struct run *ru)
{
	struct rbuf rb;
	struct frame h;
	uint64_t n = 0, bytes = 0;

	rb_init(&rb, ru->fd[1]);
	atomic_store(&sh->ready, 1);
	for (;;) {
		unsigned char *p = rb_frame(&rb, &h);
		if (h.seq == END_SEQ)
			break;
		check(h.seq, (uint32_t)(n + 1), p, h.len, ru->size);
		received(++n, h.len, &bytes);
	}
	receiver_done(n, bytes);
	atomic_store(&sh->done, 1);
}

static void sock_pinger(struct run *ru)
{
	uint64_t warm = warmup_rounds(), total = warm + opt.rtt_count;
	uint64_t *lat = malloc(opt.rtt_count * sizeof(*lat));
	unsigned char *f = sock_frame_buf(ru);
	size_t flen = sizeof(struct frame) + ru->size;
	struct rbuf rb;
	struct frame h;

	if (!lat)
		die("out of memory");
	rb_init(&rb, ru->fd[0]);
	wait_peer();
	window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = now_ns();
		unsigned char *p;
		set_seq(f, seq);
		write_all(ru->fd[0], f, flen);
		p = rb_frame(&rb, &h);
		check(h.seq, seq, p, h.len, ru->size);
		if (i >= warm)
			lat[i - warm] = now_ns() - t0;
	}
	window_end(0);
	set_seq(f, END_SEQ);
	write_all(ru->fd[0], f, flen);
	sh->rounds = total;
	rtt_stats(lat, opt.rtt_count);
	if (wait_flag(&sh->done, 60000))
		die("the echoing process did not finish");
}

static void sock_ponger(struct run *ru)
{
	struct rbuf rb;
	struct frame h;
	uint32_t want = 1;

	rb_init(&rb, ru->fd[1]);
	atomic_store(&sh->ready, 1);
	for (;;) {
		unsigned char *p = rb_frame(&rb, &h);
		if (h.seq == END_SEQ)
			break;
		check(h.seq, want, p, h.len, ru->size);
		/* the frame is still whole in the read buffer: echo it as is */
		write_all(ru->fd[1], p - sizeof(h), sizeof(h) + h.len);
		if (want++ == 1)
			window_start(1);
	}
	window_end(1);
	atomic_store(&sh->done, 1);
}

/* ---- the parent: resources, forks, reaping ---- */

static int tcp_pair(int fd[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1, err = 0;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	fd[0] = fd[1] = -1;
	if (l < 0)
		return -errno;
	/* Loopback completes the handshake inside connect(), so one process
	 * can make both ends before forking. */
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		goto fail;
	fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd[0] < 0 || connect(fd[0], (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	fd[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fd[1] < 0)
		goto fail;
	close(l);
	setsockopt(fd[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
fail:
	err = -errno;
	close(l);
	if (fd[0] >= 0)
		close(fd[0]);
	fd[0] = -1;
	return err;
}

static void run_release(struct run *ru)
{
	for (int i = 0; i < 2; i++) {
		if (ru->fd[i] >= 0)
			close(ru->fd[i]);
		if (ru->efd[i] >= 0)
			close(ru->efd[i]);
		ru->fd[i] = ru->efd[i] = -1;
	}
	if (ru->shm)
		munmap(ru->shm, ru->shm_len);
	ru->shm = NULL;
}

static int run_prepare(struct run *ru)
{
	struct timeval tv = { IDLE_MS / 1000, 0 };
	size_t ring_len, off;

	ru->fd[0] = ru->fd[1] = ru->efd[0] = ru->efd[1] = -1;
	switch (ru->t) {
	case T_MSGRD:
	case T_NET:
	case T_SEC:
	case T_NETLOSSY:
		return 0;
	case T_SHM:
		/* payload: frame header plus message, 8-byte multiple; ~4 MiB per ring */
		ru->payload = (uint32_t)((sizeof(struct frame) + ru->size + 7) & ~(size_t)7);
		ru->nslots = ru->size <= SMALL ? 4096 : 1024;
		ring_len = (msgr__ring_mem_size(ru->nslots, ru->payload) + MSGR__CACHELINE - 1) &
			   ~(size_t)(MSGR__CACHELINE - 1);
		off = 2 * sizeof(struct shm_flag);
		ru->shm_len = off + 2 * ring_len;
		ru->shm = mmap(NULL, ru->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (ru->shm == MAP_FAILED) {
			ru->shm = NULL;
			return -errno;
		}
		ru->flag = ru->shm;
		for (int i = 0; i < 2; i++) {
			atomic_init(&ru->flag[i].sleeping, 0);
			ru->ring_mem[i] = (unsigned char *)ru->shm + off + (size_t)i * ring_len;
			msgr__ring_format(ru->ring_mem[i], ru->nslots, ru->payload);
			ru->efd[i] = eventfd(0, EFD_CLOEXEC);
			if (ru->efd[i] < 0)
				return -errno;
		}
		return 0;
	case T_UDS:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ru->fd))
			return -errno;
		break;
	case T_TCP: {
		int err = tcp_pair(ru->fd);
		if (err)
			return err;
		break;
	}
	default:
		return -EINVAL;
	}
	for (int i = 0; i < 2; i++)
		setsockopt(ru->fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

typedef void (*role_fn)(struct run *);

static const role_fn roles[NT][2][2] = {
	[T_MSGRD] = { [K_ONEWAY] = { msgrd_sender, msgrd_receiver },
		      [K_PINGPONG] = { msgrd_pinger, msgrd_ponger } },
	[T_SHM] = { [K_ONEWAY] = { shm_sender, shm_receiver },
		    [K_PINGPONG] = { shm_pinger, shm_ponger } },
	[T_UDS] = { [K_ONEWAY] = { sock_sender, sock_receiver },
		    [K_PINGPONG] = { sock_pinger, sock_ponger } },
	[T_TCP] = { [K_ONEWAY] = { sock_sender, sock_receiver },
		    [K_PINGPONG] = { sock_pinger, sock_ponger } },
	[T_NET] = { [K_ONEWAY] = { msgrd_sender, msgrd_receiver },
		    [K_PINGPONG] = { msgrd_pinger, msgrd_ponger } },
	[T_SEC] = { [K_ONEWAY] = { msgrd_sender, msgrd_receiver },
		    [K_PINGPONG] = { msgrd_pinger, msgrd_ponger } },
	[T_NETLOSSY] = { [K_ONEWAY] = { msgrd_sender, msgrd_receiver },
			 [K_PINGPONG] = { msgrd_pinger, msgrd_ponger } },
};

static _Noreturn void child(struct run *ru, int role, const char *name)
{
	static char lbl[128];

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	/* an orphan that spins would skew whatever runs next on this machine */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(lbl, sizeof(lbl), "%s (%s)", name,
		 ru->kind == K_ONEWAY ? (role ? "receiver" : "sender") : (role ? "echo" : "ping"));
	label = lbl;
	for (int i = 0; i < ndaemons(ru->t); i++)
		sampled[i] = daemon_pid(via[ru->t][i]);
	attach_sock = dmn[via[ru->t][role]].sock;
	conn_mode = conn_mode_of(ru->t);
	if (ru->fd[1 - role] >= 0)
		close(ru->fd[1 - role]);
	roles[ru->t][ru->kind][role](ru);
	fflush(NULL);
	_exit(0);
}

static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	alarmed = 1;
}

/* Which of our daemons has this pid, or ND. */
static enum daemon_id daemon_with_pid(pid_t p)
{
	int d = 0;

	while (d < ND && dmn[d].pid != p)
		d++;
	return (enum daemon_id)d;
}

/* Reap both children; a failed or late one takes its partner down, and so
 * does a daemon that dies under them, rather than their idle timeout. */
static int reap(const char *name, unsigned timeout_s)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: wait must return */
	int left = 2, failed = 0;
	enum daemon_id d;

	alarmed = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout_s);
	while (left) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR && alarmed) {
				errmsg("%s: no result after %u s; killing it", name, timeout_s);
				for (int i = 0; i < 2; i++)
					if (kids[i])
						kill(kids[i], SIGKILL);
				alarmed = 0;
				failed = 1;
			} else if (errno != EINTR) {
				break;
			}
			continue;
		}
		if ((d = daemon_with_pid(p)) < ND) {
			errmsg("msgrd (%s, pid %d) died during %s", dmn[d].tag, (int)p, name);
			dmn[d].pid = 0;
			for (int i = 0; i < 2; i++)
				if (kids[i])
					kill(kids[i], SIGKILL);
			failed = 1;
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (p == kids[i]) {
				kids[i] = 0;
				left--;
				if (!WIFEXITED(st) || WEXITSTATUS(st)) {
					if (!failed && WIFSIGNALED(st))
						errmsg("%s: process %d killed by signal %d", name,
						       (int)p, WTERMSIG(st));
					failed = 1;
					if (kids[1 - i])
						kill(kids[1 - i], SIGKILL);
				}
			}
	}
	alarm(0);
	return failed ? -1 : 0;
}

/* ---- msgrd's control socket: its wakeup counters ---- */

struct dstats {
	uint64_t pid, wake_sent, wake_recv, poll_us;
	int ok;
};

static int json_u64(const char *j, const char *key, uint64_t *v)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(j, pat);
	if (!p)
		return -ENOENT;
	p += strlen(pat);
	while (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n')
		p++;
	if (*p < '0' || *p > '9')
		return -EPROTO;
	*v = strtoull(p, NULL, 10);
	return 0;
}

static int read_n(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EPIPE;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The admin-socket protocol: JSON and a NUL, then a big-endian length and
 * JSON. *body is the answer (malloc'd, NUL-terminated) on success. */
static int ctl_request(const char *path, const char *req, char **body)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 2, 0 };
	size_t rlen = strlen(req) + 1;
	uint32_t be;
	int fd, err;

	*body = NULL;
	if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
		return -ENOENT;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, req, rlen) != (ssize_t)rlen) {
		err = -errno;
		goto out;
	}
	err = read_n(fd, &be, sizeof(be));
	if (err)
		goto out;
	be = ntohl(be);
	err = -EPROTO;
	if (be > 1 << 20 || !(*body = malloc((size_t)be + 1)))
		goto out;
	err = read_n(fd, *body, be);
	if (err)
		goto out;
	(*body)[be] = 0;
out:
	if (err) {
		free(*body);
		*body = NULL;
	}
	close(fd);
	return err;
}

static int ctl_status_at(const char *path, struct dstats *ds)
{
	char *body = NULL;
	int err;

	memset(ds, 0, sizeof(*ds));
	err = ctl_request(path, "{\"prefix\":\"status\"}", &body);
	if (err)
		return err;
	if (json_u64(body, "wakeups_sent", &ds->wake_sent) ||
	    json_u64(body, "wakeups_recv", &ds->wake_recv)) {
		err = -EPROTO;
		goto out;
	}
	json_u64(body, "pid", &ds->pid);
	json_u64(body, "poll_us", &ds->poll_us);
	ds->ok = 1;
out:
	free(body);
	return err;
}

static int ctl_status(struct dstats *ds)
{
	return ctl_status_at(dmn[D_MAIN].ctl, ds);
}

/* ---- results ---- */

enum metric {
	M_RATE_S, M_MBS_S, M_RATE_L, M_MBS_L, M_P50, M_P99, M_MEAN,
	M_CPU_S, M_RQ_S, M_CSW_S, M_WAKE_S, M_CPU_L, M_RQ_L, M_CSW_L, M_WAKE_L,
	M_CPU_R, M_RQ_R, M_CSW_R, M_WAKE_R,
	NM
};

enum fmt { F_RATE, F_MBS, F_US, F_COST };

struct row {
	enum metric m;
	const char *label;
	enum fmt fmt;
	int higher_better;
};

static const struct row main_rows[] = {
	{ M_RATE_S, "one-way 64 B (msg/s)", F_RATE, 1 },
	{ M_MBS_S, "one-way 64 B (MB/s)", F_MBS, 1 },
	{ M_RATE_L, "one-way 4 KiB (msg/s)", F_RATE, 1 },
	{ M_MBS_L, "one-way 4 KiB (MB/s)", F_MBS, 1 },
	{ M_P50, "ping-pong 64 B p50 (µs)", F_US, 0 },
	{ M_P99, "ping-pong 64 B p99 (µs)", F_US, 0 },
	{ M_MEAN, "ping-pong 64 B mean (µs)", F_US, 0 },
};

static const struct row cost_rows[] = {
	{ M_CPU_S, "one-way 64 B CPU µs/msg", F_COST, 0 },
	{ M_RQ_S, "one-way 64 B runqueue wait µs/msg", F_COST, 0 },
	{ M_CSW_S, "one-way 64 B ctx switches/msg", F_COST, 0 },
	{ M_WAKE_S, "one-way 64 B eventfd wakes/msg", F_COST, 0 },
	{ M_CPU_L, "one-way 4 KiB CPU µs/msg", F_COST, 0 },
	{ M_RQ_L, "one-way 4 KiB runqueue wait µs/msg", F_COST, 0 },
	{ M_CSW_L, "one-way 4 KiB ctx switches/msg", F_COST, 0 },
	{ M_WAKE_L, "one-way 4 KiB eventfd wakes/msg", F_COST, 0 },
	{ M_CPU_R, "ping-pong CPU µs/round trip", F_COST, 0 },
	{ M_RQ_R, "ping-pong runqueue wait µs/round trip", F_COST, 0 },
	{ M_CSW_R, "ping-pong ctx switches/round trip", F_COST, 0 },
	{ M_WAKE_R, "ping-pong eventfd wakes/round trip", F_COST, 0 },
};

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

static double samples[NM][NT][MAX_REPEAT];
static unsigned nsamples[NM][NT];
static double final[NM][NT];

static void put(enum metric m, enum transport t, double v)
{
	if (nsamples[m][t] < MAX_REPEAT)
		samples[m][t][nsamples[m][t]++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void take_medians(void)
{
	for (int m = 0; m < NM; m++)
		for (int t = 0; t < NT; t++) {
			unsigned n = nsamples[m][t];
			if (!n) {
				final[m][t] = NAN;
				continue;
			}
			qsort(samples[m][t], n, sizeof(double), cmp_double);
			final[m][t] = n % 2 ? samples[m][t][n / 2]
					    : (samples[m][t][n / 2 - 1] + samples[m][t][n / 2]) / 2;
		}
}

static double delta_cpu_us(const struct psample *a, const struct psample *b)
{
	return a->ok && b->ok ? (double)(b->cpu_ns - a->cpu_ns) / 1e3 : NAN;
}

static double delta_wait_us(const struct psample *a, const struct psample *b)
{
	return a->ok && b->ok ? (double)(b->wait_ns - a->wait_ns) / 1e3 : NAN;
}

static double delta_csw(const struct psample *a, const struct psample *b)
{
	return a->ok && b->ok ? (double)(b->csw - a->csw) : NAN;
}

static const char *case_name(enum kind k, size_t size)
{
	return k == K_PINGPONG ? "ping-pong 64 B" : size == SMALL ? "one-way 64 B" : "one-way 4 KiB";
}

static int run_one(enum transport t, enum kind k, size_t size)
{
	struct run ru = { .t = t, .kind = k, .size = size };
	char name[96];
	struct dstats ds0, ds1;
	unsigned timeout;
	int err;

	snprintf(name, sizeof(name), "%s %s", tname[t], case_name(k, size));
	err = run_prepare(&ru);
	if (err) {
		errmsg("%s: setting up: %s", name, strerror(-err));
		run_release(&ru);
		return -1;
	}
	memset(sh, 0, sizeof(*sh));
	if (t == T_MSGRD)
		ctl_status(&ds0);
	fflush(NULL);
	for (int role = 1; role >= 0; role--) {
		pid_t p = fork();
		if (p < 0) {
			errmsg("fork: %s", strerror(errno));
			if (kids[1])
				kill(kids[1], SIGKILL);
			run_release(&ru);
			reap(name, 10);
			return -1;
		}
		if (p == 0)
			child(&ru, role, name);
		kids[role] = p;
	}
	run_release(&ru);
	timeout = 60 + (unsigned)(opt.seconds * 4) + opt.rtt_count / 100;
	if (reap(name, timeout))
		return -1;
	if (t == T_MSGRD)
		ctl_status(&ds1);

	{
		int small = size == SMALL;
		double cpu = 0, rq = 0, csw = 0, wake = NAN, per;
		for (int i = 0; i < 2; i++) {
			cpu += delta_cpu_us(&sh->side[i].w0, &sh->side[i].w1);
			rq += delta_wait_us(&sh->side[i].w0, &sh->side[i].w1);
			csw += delta_csw(&sh->side[i].w0, &sh->side[i].w1);
		}
		/* a daemon whose /proc we cannot read (no sample: NAN) leaves the
		 * transport's cost unknown */
		for (int i = 0; i < ndaemons(t); i++) {
			cpu += delta_cpu_us(&sh->d0[i], &sh->d1[i]);
			rq += delta_wait_us(&sh->d0[i], &sh->d1[i]);
			csw += delta_csw(&sh->d0[i], &sh->d1[i]);
		}
		if (t == T_MSGRD) {
			if (ds0.ok && ds1.ok)
				wake = (double)(ds1.wake_sent - ds0.wake_sent + ds1.wake_recv -
						ds0.wake_recv);
		} else if (t == T_SHM) {
			wake = (double)(sh->side[0].wakeups + sh->side[1].wakeups);
		} else {
			wake = NAN; /* the kernel's own wakeups; the context switches show them */
		}
		if (k == K_ONEWAY) {
			double secs = (double)(sh->t_end - sh->t_start) / 1e9;
			if (sh->recvd != sh->sent || !sh->recvd) {
				errmsg("%s: sent %llu messages, %llu arrived", name,
				       (unsigned long long)sh->sent, (unsigned long long)sh->recvd);
				return -1;
			}
			per = (double)sh->recvd;
			put(small ? M_RATE_S : M_RATE_L, t, (double)sh->recvd / secs);
			put(small ? M_MBS_S : M_MBS_L, t, (double)sh->bytes / secs / 1e6);
			put(small ? M_CPU_S : M_CPU_L, t, cpu / per);
			put(small ? M_RQ_S : M_RQ_L, t, rq / per);
			put(small ? M_CSW_S : M_CSW_L, t, csw / per);
			put(small ? M_WAKE_S : M_WAKE_L, t, wake / per);
			fprintf(stderr, "  %-34s %10.0f msg/s %9.1f MB/s  (%.2f s, %llu msgs, %llu EAGAIN)\n",
				name, (double)sh->recvd / secs, (double)sh->bytes / secs / 1e6, secs,
				(unsigned long long)sh->recvd,
				(unsigned long long)sh->side[0].eagain);
		} else {
			per = (double)sh->rounds;
			put(M_P50, t, sh->p50);
			put(M_P99, t, sh->p99);
			put(M_MEAN, t, sh->mean);
			put(M_CPU_R, t, cpu / per);
			put(M_RQ_R, t, rq / per);
			put(M_CSW_R, t, csw / per);
			put(M_WAKE_R, t, wake / per);
			fprintf(stderr, "  %-34s p50 %8.1f µs  p99 %8.1f µs  mean %8.1f µs\n", name,
				sh->p50, sh->p99, sh->mean);
		}
		/* where the time goes, process by process */
		fprintf(stderr, "  %-34s CPU/runqueue/ctx-sw per %s: %s %.2f/%.2f/%.3f, %s "
				"%.2f/%.2f/%.3f", "", k == K_ONEWAY ? "msg" : "round trip",
			k == K_ONEWAY ? "sender" : "ping",
			delta_cpu_us(&sh->side[0].w0, &sh->side[0].w1) / per,
			delta_wait_us(&sh->side[0].w0, &sh->side[0].w1) / per,
			delta_csw(&sh->side[0].w0, &sh->side[0].w1) / per,
			k == K_ONEWAY ? "receiver" : "echo",
			delta_cpu_us(&sh->side[1].w0, &sh->side[1].w1) / per,
			delta_wait_us(&sh->side[1].w0, &sh->side[1].w1) / per,
			delta_csw(&sh->side[1].w0, &sh->side[1].w1) / per);
		for (int i = 0; i < ndaemons(t); i++)
			if (sh->d0[i].ok)
				fprintf(stderr, ", daemon%s %.2f/%.2f/%.3f",
					t == T_MSGRD ? "" : i ? " B" : " A",
					delta_cpu_us(&sh->d0[i], &sh->d1[i]) / per,
					delta_wait_us(&sh->d0[i], &sh->d1[i]) / per,
					delta_csw(&sh->d0[i], &sh->d1[i]) / per);
		fputc('\n', stderr);
	}
	return 0;
}

/* ---- recovery: link kills under a lossless stream ---- */

/* One 64 B message about every REC_PACE_US, stamped with its number and its
 * send time (CLOCK_MONOTONIC, which both processes share), until told to
 * stop. Paced, not flat out: a full window in flight would add its queueing
 * delay to every recovery time. */
static void rec_sender(void)
{
	msgr_client *c = mc_attach("rec-tx");
	msgr_conn *k = mc_connect(c);
	unsigned char buf[REC_SIZE];
	struct side *s = &sh->side[0];
	uint64_t n = 0;

	fill(buf, sizeof(buf));
	sh->t_start = now_ns();
	while (!atomic_load(&sh->stop)) {
		uint64_t t = now_ns();
		n++;
		stamp(buf, (uint32_t)n);
		memcpy(buf + 8, &t, sizeof(t));
		mc_send(k, (uint32_t)n, buf, sizeof(buf), s);
		sleep_us(REC_PACE_US);
	}
	sh->t_end = now_ns();
	mc_send(k, END_SEQ, buf, sizeof(buf), s);
	sh->sent = n;
	if (wait_flag(&sh->done, 60000))
		die("the receiver did not finish");
	msgr_detach(c);
}

/* Every message exactly once and in order, or the case fails; then, for
 * each kill, the first message sent after it (messages arrive in send
 * order, so their send times only grow). */
static void rec_receiver(void)
{
	msgr_client *c = mc_listen("rec-rx");
	struct msgr_event ev;
	uint64_t n = 0, cap = 0, *st = NULL, *rt = NULL, *lat;

	while (mc_next_data(c, &ev)) {
		uint64_t r = now_ns(), t;
		uint32_t s;
		if (ev.msg_type != (uint32_t)(n + 1))
			die("EXACTLY-ONCE VIOLATED: message %u arrived when %llu was due (%s)",
			    ev.msg_type, (unsigned long long)(n + 1),
			    ev.msg_type <= n ? "a duplicate" : "a gap: lost or reordered");
		if (ev.len != REC_SIZE)
			die("EXACTLY-ONCE VIOLATED: message %u has %u bytes, sent %d", ev.msg_type,
			    (unsigned)ev.len, REC_SIZE);
		memcpy(&s, ev.data, sizeof(s));
		if (s != ev.msg_type)
			die("EXACTLY-ONCE VIOLATED: message %u carries the payload of message %u",
			    ev.msg_type, s);
		memcpy(&t, (const unsigned char *)ev.data + 8, sizeof(t));
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			st = realloc(st, cap * sizeof(*st));
			rt = realloc(rt, cap * sizeof(*rt));
			if (!st || !rt)
				die("out of memory");
		}
		st[n] = t;
		rt[n++] = r;
		atomic_store(&sh->last_stamp, t);
		msgr_event_release(c, &ev);
	}
	msgr_event_release(c, &ev);
	/* every kill was published before the stop that ended the stream */
	for (unsigned i = 0, j = 0; i < sh->nkills; i++) {
		while (j < n && st[j] < sh->kill_ns[i])
			j++;
		sh->first_ns[i] = j < n ? rt[j] : 0;
	}
	lat = malloc((n ? n : 1) * sizeof(*lat));
	if (!lat)
		die("out of memory");
	for (uint64_t i = 0; i < n; i++)
		lat[i] = rt[i] - st[i];
	if (n) {
		qsort(lat, n, sizeof(*lat), cmp_u64);
		sh->lat_p50 = lat[n / 2] / 1e3;
		sh->lat_p99 = lat[n * 99 / 100] / 1e3;
	}
	sh->recvd = n;
	atomic_store(&sh->done, 1);
	msgr_detach(c);
}

static _Noreturn void rec_child(int role)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	label = role ? "recovery (receiver)" : "recovery (sender)";
	attach_sock = dmn[role ? D_REC_B : D_REC_A].sock;
	conn_mode = MSGR_LOSSLESS;
	if (role)
		rec_receiver();
	else
		rec_sender();
	fflush(NULL);
	_exit(0);
}

/* The daemons' counters of the replay, from perf dump. */
enum { RC_RESUMES, RC_REPLAYED, RC_DUP, RC_REDIALS, RC_INJECTED, NRC };
static const char *const rc_key[NRC] = { "resumes", "replayed_msgs", "dup_dropped", "redials",
					 "injected_failures" };

static int perf_counters(enum daemon_id d, uint64_t *v)
{
	char *body;
	int err = ctl_request(dmn[d].ctl, "{\"prefix\":\"perf dump\"}", &body);

	for (int i = 0; i < NRC && !err; i++)
		err = json_u64(body, rc_key[i], &v[i]);
	free(body);
	return err;
}

/* Whether a child has exited, leaving it for reap() to collect. */
static int child_gone(void)
{
	for (int i = 0; i < 2; i++) {
		siginfo_t si = { 0 };
		if (kids[i] && !waitid(P_PID, (id_t)kids[i], &si, WEXITED | WNOHANG | WNOWAIT) &&
		    si.si_pid)
			return 1;
	}
	return 0;
}

/* Until the receiver has a message sent at t or later; -1 on a child gone or
 * after REC_WAIT_MS. */
static int wait_stamp(uint64_t t)
{
	uint64_t end = now_ns() + (uint64_t)REC_WAIT_MS * 1000000u;

	while (atomic_load(&sh->last_stamp) < t) {
		if (child_gone() || now_ns() > end)
			return -1;
		sleep_us(50);
	}
	return 0;
}

/* `msgrctl inject kill-link HOST:PORT` on the sender's daemon: its active
 * link to the receiver's is aborted, as by a reset from the network. */
static int kill_link(char *why, size_t n)
{
	char req[160], *body;
	int err;

	snprintf(req, sizeof(req),
		 "{\"prefix\":\"inject\",\"fault\":\"kill-link\",\"target\":\"127.0.0.1:%d\"}",
		 dmn[D_REC_B].port);
	err = ctl_request(dmn[D_REC_A].ctl, req, &body);
	if (err) {
		snprintf(why, n, "control socket: %s", strerror(-err));
		return err;
	}
	if (strstr(body, "\"error\"")) {
		snprintf(why, n, "%s", body);
		err = -EIO;
	}
	free(body);
	return err;
}

/* Every kill of every repeat, in ms; the counters summed over repeats. */
static double rec_ms[MAX_REPEAT * MAX_KILLS];
static unsigned nrec_ms, rec_runs;
static uint64_t rec_count[2][NRC], rec_msgs;
static double rec_lat50[MAX_REPEAT], rec_lat99[MAX_REPEAT], rec_rate[MAX_REPEAT];

static int run_recovery(void)
{
	static const char name[] = "recovery";
	uint64_t c0[2][NRC], c1[2][NRC], t;
	double worst = 0;
	char why[512];
	int failed = 0;

	memset(sh, 0, sizeof(*sh));
	if (perf_counters(D_REC_A, c0[0]) || perf_counters(D_REC_B, c0[1])) {
		errmsg("%s: no perf dump from the daemons", name);
		return -1;
	}
	fflush(NULL);
	for (int role = 1; role >= 0; role--) {
		pid_t p = fork();
		if (p < 0) {
			errmsg("fork: %s", strerror(errno));
			if (kids[1])
				kill(kids[1], SIGKILL);
			reap(name, 10);
			return -1;
		}
		if (p == 0)
			rec_child(role);
		kids[role] = p;
	}
	/* the stream flows, then a kill every kill_ms, each after the last
	 * one's recovery */
	t = now_ns();
	if (wait_stamp(1)) {
		errmsg("%s: the stream never started", name);
		failed = 1;
	}
	t = now_ns();
	for (unsigned i = 0; i < opt.kills && !failed; i++) {
		uint64_t at = (i ? sh->kill_ns[i - 1] : t) + (uint64_t)opt.kill_ms * 1000000u, end;
		int err;
		while (now_ns() < at)
			sleep_us(1000);
		/* a link that is not up yet (a redial still in its handshake)
		 * cannot be killed: try again shortly */
		end = now_ns() + (uint64_t)REC_WAIT_MS * 1000000u;
		while ((err = kill_link(why, sizeof(why))) && now_ns() < end && !child_gone())
			sleep_us(1000);
		if (err) {
			errmsg("%s: kill %u: %s", name, i + 1, why);
			failed = 1;
			break;
		}
		/* after the answer: the link is gone, so whatever the sender
		 * hands over from now on goes on a new one */
		sh->kill_ns[i] = now_ns();
		sh->nkills = i + 1;
		if (wait_stamp(sh->kill_ns[i])) {
			if (child_gone())
				errmsg("%s: kill %u: a process of the case exited", name, i + 1);
			else
				errmsg("%s: kill %u: nothing sent after it arrived within %d ms",
				       name, i + 1, REC_WAIT_MS);
			failed = 1;
		}
	}
	sleep_us(50000);
	atomic_store(&sh->stop, 1);
	if (failed)
		for (int i = 0; i < 2; i++)
			if (kids[i])
				kill(kids[i], SIGKILL);
	if (reap(name, 60 + REC_WAIT_MS / 1000) || failed)
		return -1;
	if (sh->recvd != sh->sent) {
		errmsg("%s: EXACTLY-ONCE VIOLATED: sent %llu messages, %llu arrived", name,
		       (unsigned long long)sh->sent, (unsigned long long)sh->recvd);
		return -1;
	}
	if (perf_counters(D_REC_A, c1[0]) || perf_counters(D_REC_B, c1[1])) {
		errmsg("%s: no perf dump from the daemons", name);
		return -1;
	}
	for (unsigned i = 0; i < sh->nkills; i++) {
		double ms;
		if (!sh->first_ns[i]) {
			errmsg("%s: kill %u: the receiver has nothing sent after it", name, i + 1);
			return -1;
		}
		ms = (double)(sh->first_ns[i] - sh->kill_ns[i]) / 1e6;
		if (nrec_ms < NROWS(rec_ms))
			rec_ms[nrec_ms++] = ms;
		worst = ms > worst ? ms : worst;
	}
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < NRC; i++)
			rec_count[d][i] += c1[d][i] - c0[d][i];
	rec_msgs += sh->recvd;
	rec_rate[rec_runs] = sh->t_end > sh->t_start
				     ? (double)sh->sent / ((double)(sh->t_end - sh->t_start) / 1e9)
				     : NAN;
	rec_lat50[rec_runs] = sh->lat_p50;
	rec_lat99[rec_runs++] = sh->lat_p99;
	fprintf(stderr, "  %-34s %u kills, worst %.2f ms; %llu msgs exactly once in order; "
			"resumes %llu/%llu, replayed %llu/%llu, dup dropped %llu/%llu (A/B)\n",
		name, sh->nkills, worst, (unsigned long long)sh->recvd,
		(unsigned long long)(c1[0][RC_RESUMES] - c0[0][RC_RESUMES]),
		(unsigned long long)(c1[1][RC_RESUMES] - c0[1][RC_RESUMES]),
		(unsigned long long)(c1[0][RC_REPLAYED] - c0[0][RC_REPLAYED]),
		(unsigned long long)(c1[1][RC_REPLAYED] - c0[1][RC_REPLAYED]),
		(unsigned long long)(c1[0][RC_DUP] - c0[0][RC_DUP]),
		(unsigned long long)(c1[1][RC_DUP] - c0[1][RC_DUP]));
	return 0;
}

static double median_of(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void cell(FILE *f, const char *s, int width, int left);
static void fmt_val(char *b, size_t n, double v, enum fmt f);

static void rec_line(FILE *f, int md, const char *what, const char *val)
{
	if (md) {
		fprintf(f, "| %s | %s |\n", what, val);
		return;
	}
	cell(f, what, 44, 1);
	cell(f, val, 12, 0);
	fputc('\n', f);
}

/* The recovery table: time to the first message after a kill, and what the
 * daemons replayed. */
static void rec_table(FILE *f, int md)
{
	char b[3][32];
	double p50, p99, mx;

	if (!nrec_ms)
		return;
	qsort(rec_ms, nrec_ms, sizeof(*rec_ms), cmp_double);
	p50 = rec_ms[nrec_ms / 2];
	p99 = rec_ms[(size_t)nrec_ms * 99 / 100];
	mx = rec_ms[nrec_ms - 1];
	if (md)
		fprintf(f, "| recovery (msgrd-net pair, MSGR_LOSSLESS) | |\n|---|---:|\n");
	else
		fprintf(f, "recovery (msgrd-net pair, MSGR_LOSSLESS)\n");
	snprintf(b[0], sizeof(b[0]), "%u x %u", rec_runs, opt.kills);
	rec_line(f, md, "link kills (runs x kills)", b[0]);
	snprintf(b[0], sizeof(b[0]), "%.2f", p50);
	snprintf(b[1], sizeof(b[1]), "%.2f", p99);
	snprintf(b[2], sizeof(b[2]), "%.2f", mx);
	rec_line(f, md, "recovery p50 (ms)", b[0]);
	rec_line(f, md, "recovery p99 (ms)", b[1]);
	rec_line(f, md, "recovery max (ms)", b[2]);
	for (int i = 0; i < NRC; i++) {
		char lbl[64];
		snprintf(lbl, sizeof(lbl), "%s (A + B)", rc_key[i]);
		snprintf(b[0], sizeof(b[0]), "%llu + %llu", (unsigned long long)rec_count[0][i],
			 (unsigned long long)rec_count[1][i]);
		rec_line(f, md, lbl, b[0]);
	}
	snprintf(b[0], sizeof(b[0]), "%llu", (unsigned long long)rec_msgs);
	rec_line(f, md, "messages, each exactly once in order", b[0]);
	fmt_val(b[0], sizeof(b[0]), median_of(rec_rate, rec_runs), F_RATE);
	rec_line(f, md, "stream rate (msg/s)", b[0]);
	snprintf(b[0], sizeof(b[0]), "%.1f", median_of(rec_lat50, rec_runs));
	snprintf(b[1], sizeof(b[1]), "%.1f", median_of(rec_lat99, rec_runs));
	rec_line(f, md, "stream latency p50, kills included (µs)", b[0]);
	rec_line(f, md, "stream latency p99, kills included (µs)", b[1]);
}

static void rec_notes(FILE *f, int md)
{
	const char *li = md ? "- " : "  ";

	if (!nrec_ms)
		return;
	fprintf(f, "%sRecovery: a %d B lossless stream (a message, then a %d µs sleep) over a "
		   "pair of hmac daemons with global.inject = true; every %u ms (after the last "
		   "recovery) the bench kills the active link with `inject kill-link` on the "
		   "sender's daemon. A kill's recovery time runs from the kill's answer until the "
		   "receiver gets the first message sent after it (CLOCK_MONOTONIC in both "
		   "processes); percentiles over every kill of every run; counters are perf dump "
		   "deltas summed over the runs; stream latency: medians over the runs.\n", li,
		REC_SIZE, REC_PACE_US, opt.kill_ms);
}

/* ---- the table, as text and Markdown ---- */

static void fmt_val(char *b, size_t n, double v, enum fmt f)
{
	if (isnan(v)) {
		snprintf(b, n, "-");
		return;
	}
	switch (f) {
	case F_RATE:
		if (v >= 1e6)
			snprintf(b, n, "%.2fM", v / 1e6);
		else if (v >= 1e3)
			snprintf(b, n, "%.1fk", v / 1e3);
		else
			snprintf(b, n, "%.0f", v);
		break;
	case F_MBS:
		snprintf(b, n, "%.1f", v);
		break;
	case F_US:
		snprintf(b, n, v < 10 ? "%.2f" : "%.1f", v);
		break;
	case F_COST:
		snprintf(b, n, v == 0 ? "0" : v < 0.01 ? "%.2g" : v < 10 ? "%.3f" : "%.1f", v);
		break;
	}
}

static void fmt_ratio(char *b, size_t n, double num, double den)
{
	if (isnan(num) || isnan(den) || den == 0)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.3g", num / den);
}

/* Columns are counted in characters, and µ is two bytes. */
static int width_of(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

static void cell(FILE *f, const char *s, int width, int left)
{
	int pad = width - width_of(s);

	if (!left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
	fputs(s, f);
	if (left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
}

static int transports_shown(int *show)
{
	int n = 0;

	for (int t = 0; t < NT; t++) {
		show[t] = t == T_MSGRD || (opt.transports >> t & 1);
		n += show[t];
	}
	return n;
}

/* The ratio columns of the tables and the bars of the chart, in order:
 * msgrd against each baseline, then each msgrd-net variant against its own:
 * two daemons against a direct connection, sealed frames against hmac,
 * lossless (kept until acked) against lossy. New ones go at the end. */
static const struct ratio {
	enum transport num, den;
	const char *color; /* in the chart */
} ratios[] = {
	{ T_MSGRD, T_SHM, "#4e79a7" },
	{ T_MSGRD, T_UDS, "#f28e2b" },
	{ T_MSGRD, T_TCP, "#59a14f" },
	{ T_MSGRD, T_NET, "#b07aa1" },
	{ T_MSGRD, T_SEC, "#e15759" },
	{ T_NET, T_TCP, "#76b7b2" },
	{ T_SEC, T_NET, "#edc948" },
	{ T_NET, T_NETLOSSY, "#9c755f" },
};

static int ratio_shown(const struct ratio *r, const int *show)
{
	return show[r->num] && show[r->den];
}

static void ratio_name(char *b, size_t n, const struct ratio *r)
{
	snprintf(b, n, "%s/%s", tshort[r->num], tshort[r->den]);
}

/* A text ratio column fits its name with a space before it. */
static int ratio_width(const struct ratio *r)
{
	char b[64];

	ratio_name(b, sizeof(b), r);
	return width_of(b) + 1 < 11 ? 11 : width_of(b) + 1;
}

/* A text column fits its transport's name with a space before it. */
static int col_width(enum transport t)
{
	int w = width_of(tname[t]) + 1;

	return w < 12 ? 12 : w;
}

static void table(FILE *f, const struct row *rows, size_t nrows, int md, const char *title)
{
	int show[NT];
	char b[64];

	transports_shown(show);
	if (md) {
		fprintf(f, "| %s |", title);
		for (int t = 0; t < NT; t++)
			if (show[t])
				fprintf(f, " %s |", tname[t]);
		for (size_t i = 0; i < NROWS(ratios); i++)
			if (ratio_shown(&ratios[i], show)) {
				ratio_name(b, sizeof(b), &ratios[i]);
				fprintf(f, " %s |", b);
			}
		fprintf(f, "\n|---|");
		for (int t = 0; t < NT; t++)
			if (show[t])
				fprintf(f, "---:|");
		for (size_t i = 0; i < NROWS(ratios); i++)
			if (ratio_shown(&ratios[i], show))
				fprintf(f, "---:|");
		fputc('\n', f);
	} else {
		cell(f, title, 36, 1);
		for (int t = 0; t < NT; t++)
			if (show[t])
				cell(f, tname[t], col_width((enum transport)t), 0);
		for (size_t i = 0; i < NROWS(ratios); i++)
			if (ratio_shown(&ratios[i], show)) {
				ratio_name(b, sizeof(b), &ratios[i]);
				cell(f, b, ratio_width(&ratios[i]), 0);
			}
		fputc('\n', f);
	}
	for (size_t r = 0; r < nrows; r++) {
		const struct row *rw = &rows[r];
		if (md)
			fprintf(f, "| %s |", rw->label);
		else
			cell(f, rw->label, 36, 1);
		for (int t = 0; t < NT; t++) {
			if (!show[t])
				continue;
			fmt_val(b, sizeof(b), final[rw->m][t], rw->fmt);
			if (md)
				fprintf(f, " %s |", b);
			else
				cell(f, b, col_width((enum transport)t), 0);
		}
		for (size_t i = 0; i < NROWS(ratios); i++) {
			if (!ratio_shown(&ratios[i], show))
				continue;
			fmt_ratio(b, sizeof(b), final[rw->m][ratios[i].num], final[rw->m][ratios[i].den]);
			if (md)
				fprintf(f, " %s |", b);
			else
				cell(f, b, ratio_width(&ratios[i]), 0);
		}
		fputc('\n', f);
	}
}

static char settings[512];
static char daemon_poll[48]; /* msgrd's poll_us as it reported it */

static void describe_settings(const struct dstats *ds)
{
	struct utsname u;

	if (uname(&u))
		strcpy(u.release, "?");
	if (ds->ok)
		snprintf(daemon_poll, sizeof(daemon_poll), "%llu µs", (unsigned long long)ds->poll_us);
	else
		snprintf(daemon_poll, sizeof(daemon_poll), "unknown");
	snprintf(settings, sizeof(settings),
		 "%ld CPUs, Linux %s; one-way %s per case after %llu warm-up messages, ping-pong "
		 "%u round trips after %llu warm-up; median of %u run%s; poll: msgrd %s, libmsgr "
		 "clients and shm-ring %u µs",
		 sysconf(_SC_NPROCESSORS_ONLN), u.release, opt.count ? "fixed count" : "fixed time",
		 (unsigned long long)oneway_warm, opt.rtt_count,
		 (unsigned long long)warmup_rounds(), opt.repeat, opt.repeat == 1 ? "" : "s", daemon_poll,
		 wait_poll_us);
}

static void print_notes(FILE *f, int md)
{
	const char *li = md ? "- " : "  ";
	int show[NT];

	transports_shown(show);
	fprintf(f, "%sRatios are the first transport's value divided by the second's, from this "
		   "run: above 1 is better for the first (msgrd; net, sec) in rates, worse in "
		   "latencies and costs.\n", li);
	fprintf(f, "%sshm-ring waits exactly as libmsgr does (spin %u µs, then the needs-wakeup "
		   "flag and an eventfd), so msgrd/shm is the price of the daemon hop.\n", li,
		wait_poll_us);
	if (show[T_SEC] && show[T_NET])
		fprintf(f, "%ssec/net is the price of auth.mode = secure (every frame sealed with "
			   "AES-256-GCM) over hmac, both daemons of the pair alike.\n", li);
	if (show[T_NETLOSSY] && show[T_NET])
		fprintf(f, "%snet/netlossy is the price of MSGR_LOSSLESS (every message kept in the "
			   "sender's pool until acked, so a link fault resumes and replays) over "
			   "MSGR_LOSSY, on the same pair of daemons.\n", li);
	fprintf(f, "%sCosts add up every process involved (msgrd: sender, receiver and the "
		   "daemon%s; msgrd-net variants: both daemons), from /proc/PID/schedstat and "
		   "status; runqueue wait is time runnable but without a CPU; eventfd wakes: "
		   "msgrd's counters (sent + received), shm-ring's own.\n", li,
		obs_daemon ? "" : " (not readable here, so msgrd's are unknown)");
}

static int ran_cases; /* any transport case ran (else recovery alone) */

static int write_markdown(const char *path, int argc, char **argv)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "# msgr-bench results\n\n`");
	for (int i = 0; i < argc; i++)
		fprintf(f, "%s%s", i ? " " : "", argv[i]);
	fprintf(f, "`\n\n%s\n\n", settings);
	if (ran_cases) {
		table(f, main_rows, NROWS(main_rows), 1, "case");
		fputc('\n', f);
		table(f, cost_rows, NROWS(cost_rows), 1, "cost");
		fputc('\n', f);
	}
	if (nrec_ms) {
		rec_table(f, 1);
		fputc('\n', f);
	}
	if (ran_cases)
		print_notes(f, 1);
	rec_notes(f, 1);
	return fclose(f) ? -errno : 0;
}

/* ---- the chart: an SVG drawn by hand, since nothing else may be installed ---- */

/* log10 without libm, which the bench is not linked with */
static double lg10(double x)
{
	double ln = 0, z, z2, term, sum = 0;

	if (!(x > 0))
		return 0;
	while (x >= 2) {
		x /= 2;
		ln += 0.69314718055994531;
	}
	while (x < 1) {
		x *= 2;
		ln -= 0.69314718055994531;
	}
	/* ln x = 2 atanh((x-1)/(x+1)); |z| <= 1/3 converges fast */
	z = (x - 1) / (x + 1);
	z2 = z * z;
	term = z;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return (ln + 2 * sum) / 2.302585092994046;
}

static int floor_int(double x)
{
	int i = (int)x;

	return (double)i > x ? i - 1 : i;
}

static int write_svg(const char *path)
{
	static const struct {
		enum metric m;
		const char *label;
		int higher_better;
	} groups[] = {
		{ M_RATE_S, "one-way 64 B rate", 1 },
		{ M_RATE_L, "one-way 4 KiB rate", 1 },
		{ M_P50, "ping-pong p50", 0 },
		{ M_P99, "ping-pong p99", 0 },
		{ M_MEAN, "ping-pong mean", 0 },
	};
	const int ng = (int)NROWS(groups), nr = (int)NROWS(ratios), left = 190, plot_w = 560;
	const int bar_h = 16, top = 70, width = left + plot_w + 60, per_row = (width - 10) / 110;
	int show[NT], nb = 0, group_h, height, lo = 0, hi = 0, legend_y;
	double rel[NROWS(groups)][NROWS(ratios)];
	char name[64];
	FILE *f;

	transports_shown(show);
	for (int r = 0; r < nr; r++)
		nb += ratio_shown(&ratios[r], show);
	group_h = nb * bar_h + 14;
	/* the legend: as many rows as it takes, per_row entries each */
	legend_y = top + ng * group_h + 48;
	height = legend_y + 22 + 18 * ((nb > 0 ? nb - 1 : 0) / per_row);
	for (int g = 0; g < ng; g++)
		for (int r = 0; r < nr; r++) {
			double a = final[groups[g].m][ratios[r].num], b = final[groups[g].m][ratios[r].den];
			rel[g][r] = NAN;
			if (!ratio_shown(&ratios[r], show) || isnan(a) || isnan(b) || a <= 0 || b <= 0)
				continue;
			/* the chart always points the same way: right is the first doing better */
			rel[g][r] = groups[g].higher_better ? a / b : b / a;
			if (floor_int(lg10(rel[g][r])) < lo)
				lo = floor_int(lg10(rel[g][r]));
			if (floor_int(lg10(rel[g][r])) + 1 > hi)
				hi = floor_int(lg10(rel[g][r])) + 1;
		}
	if (hi - lo < 2)
		lo = hi - 2;
	f = fopen(path, "w");
	if (!f)
		return -errno;
#define X(v) (left + (int)((lg10(v) - lo) / (hi - lo) * plot_w))
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "font-family=\"sans-serif\" font-size=\"12\">\n", width, height);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Ratios a/b, "
		   "same run (log scale; right of 1 = a better)</text>\n");
	fprintf(f, "<text x=\"10\" y=\"42\" fill=\"#555\">rates a/b, latencies b/a. "
		   "poll_us: clients and shm-ring %u, msgrd %.*s; median of %u run%s</text>\n", wait_poll_us, (int)strcspn(daemon_poll, " "), daemon_poll,
		opt.repeat, opt.repeat == 1 ? "" : "s");
	for (int e = lo; e <= hi; e++) {
		double v = 1;
		int x;
		for (int i = 0; i < (e < 0 ? -e : e); i++)
			v = e < 0 ? v / 10 : v * 10;
		x = X(v);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			   "stroke-width=\"%d\"/>\n", x, top - 8, x, top + ng * group_h,
			e == 0 ? "#000" : "#ddd", e == 0 ? 2 : 1);
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
			x, top + ng * group_h + 16, v);
	}
	for (int g = 0; g < ng; g++) {
		int y = top + g * group_h, i = 0;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8,
			y + nb * bar_h / 2 + 4, groups[g].label);
		for (int r = 0; r < nr; r++) {
			int x0 = X(1), x1, yy = y + i * bar_h;
			if (!ratio_shown(&ratios[r], show))
				continue;
			i++;
			if (isnan(rel[g][r]))
				continue;
			x1 = X(rel[g][r]);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
				x1 < x0 ? x1 : x0, yy + 1, x1 < x0 ? x0 - x1 : (x1 - x0 ? x1 - x0 : 1),
				bar_h - 3, ratios[r].color);
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"%s\">"
				   "%.3g</text>\n", x1 < x0 ? x1 - 3 : x1 + 3, yy + bar_h - 5,
				x1 < x0 ? "end" : "start", rel[g][r]);
		}
	}
	{
		/* from the left edge, not the plot's; per_row entries a row */
		int x = 10, y = legend_y, i = 0;
		for (int r = 0; r < nr; r++) {
			if (!ratio_shown(&ratios[r], show))
				continue;
			if (i && i % per_row == 0) {
				x = 10;
				y += 18;
			}
			i++;
			ratio_name(name, sizeof(name), &ratios[r]);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
				   "<text x=\"%d\" y=\"%d\">%s</text>\n", x, y - 10, ratios[r].color,
				x + 16, y, name);
			x += 110;
		}
	}
#undef X
	fprintf(f, "</svg>\n");
	return fclose(f) ? -errno : 0;
}

/* ---- our own msgrd ---- */

static int exe_dir(char *buf, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", buf, n - 1);
	char *slash;

	if (len < 0)
		return -errno;
	buf[len] = 0;
	slash = strrchr(buf, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	return 0;
}

static void remove_tmpdir(void)
{
	char p[PATH_MAX];

	if (!tmpdir[0])
		return;
	/* unlink and rmdir only: this runs from a signal handler too */
	for (int d = 0; d < ND; d++)
		if (dmn[d].log[0]) {
			unlink(dmn[d].sock);
			unlink(dmn[d].ctl);
			unlink(dmn[d].log);
		}
	snprintf(p, sizeof(p), "%s/keyring", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	tmpdir[0] = 0;
}

static void show_log(void)
{
	char line[512];

	for (int d = 0; d < ND; d++) {
		FILE *f = dmn[d].log[0] ? fopen(dmn[d].log, "r") : NULL;
		if (!f)
			continue;
		fprintf(stderr, "msgr-bench: %s:\n", dmn[d].log);
		while (fgets(line, sizeof(line), f))
			fprintf(stderr, "  | %s", line);
		fclose(f);
	}
}

static void stop_one(volatile pid_t *pid)
{
	pid_t p = *pid;

	if (!p)
		return;
	*pid = 0;
	kill(p, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(p, NULL, WNOHANG) == p)
			return;
		sleep_us(10000);
	}
	errmsg("msgrd (pid %d) ignored SIGTERM for 3 s; killing it", (int)p);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static void stop_daemon(void)
{
	for (int d = 0; d < ND; d++)
		stop_one(&dmn[d].pid);
	remove_tmpdir();
}

static void on_fatal(int sig)
{
	for (int i = 0; i < 2; i++)
		if (kids[i])
			kill(kids[i], SIGKILL);
	for (int d = 0; d < ND; d++)
		if (dmn[d].pid)
			kill(dmn[d].pid, SIGTERM);
	for (int d = 0; d < ND; d++)
		if (dmn[d].pid)
			waitpid(dmn[d].pid, NULL, 0);
	remove_tmpdir();
	_exit(128 + sig);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &sl))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* A cluster key for the daemons we start, in the keygen format, mode 0600. */
static int write_keyring(const char *path)
{
	unsigned char key[32];
	FILE *f;
	int fd;

	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		return -errno;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	fprintf(f, "[cluster]\nkey = ");
	for (size_t i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fprintf(f, "\n");
	return fclose(f) ? -errno : 0;
}

/* Start one msgrd with its sockets and log in tmpdir (names from its tag)
 * and its auth.mode; 0 once its control socket answers. */
static int spawn_daemon(const char *bin, struct daemon *dm)
{
	char *sock = dm->sock, *ctl = dm->ctl, *log = dm->log;
	const char *tag = dm->tag;
	char a_sock[PATH_MAX + 32], a_ctl[PATH_MAX + 32], a_key[PATH_MAX + 32];
	char a_listen[64], a_poll[48], a_mode[48];
	char *argv[18];
	int argc = 0, port = free_port();
	struct dstats ds;
	pid_t p;

	if (port < 0) {
		errmsg("no free loopback port");
		return -1;
	}
	snprintf(sock, PATH_MAX, "%s/%s.sock", tmpdir, tag);
	snprintf(ctl, PATH_MAX, "%s/%s.asok", tmpdir, tag);
	snprintf(log, PATH_MAX, "%s/%s.log", tmpdir, tag);
	snprintf(a_sock, sizeof(a_sock), "global.socket=%s", sock);
	snprintf(a_ctl, sizeof(a_ctl), "global.ctl_socket=%s", ctl);
	snprintf(a_key, sizeof(a_key), "auth.keyring=%s/keyring", tmpdir);
	snprintf(a_listen, sizeof(a_listen), "global.listen=127.0.0.1:%d", port);
	snprintf(a_poll, sizeof(a_poll), "global.poll_us=%u",
		 opt.dpoll_set ? opt.dpoll_us : opt.poll_us);
	snprintf(a_mode, sizeof(a_mode), "auth.mode=%s", dm->mode);
	dm->port = port;
	argv[argc++] = (char *)bin;
	argv[argc++] = "--set";
	argv[argc++] = a_sock;
	argv[argc++] = "--set";
	argv[argc++] = a_ctl;
	argv[argc++] = "--set";
	argv[argc++] = a_listen;
	argv[argc++] = "--set";
	argv[argc++] = a_key;
	argv[argc++] = "--set";
	argv[argc++] = a_mode;
	if (opt.poll_set || opt.dpoll_set) {
		argv[argc++] = "--set";
		argv[argc++] = a_poll;
	}
	if (dm->inject) {
		argv[argc++] = "--set";
		argv[argc++] = "global.inject=true";
	}
	argv[argc] = NULL;

	fflush(NULL);
	p = fork();
	if (p < 0) {
		errmsg("fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		/* a ^C at the terminal is ours to pass on, in order */
		setpgid(0, 0);
		execv(bin, argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	dm->pid = p;
	/* The control socket is made after the attach socket, so an answer
	 * on it means both are listening. */
	for (int i = 0; i < 500; i++) {
		int st;
		if (waitpid(p, &st, WNOHANG) == p) {
			dm->pid = 0;
			errmsg("msgrd (%s) exited at start-up (%s %d)", tag,
			       WIFEXITED(st) ? "status" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return -1;
		}
		if (access(ctl, F_OK) == 0 && ctl_status_at(ctl, &ds) == 0)
			return 0;
		sleep_us(10000);
	}
	errmsg("msgrd (%s) did not answer on %s within 5 s", tag, ctl);
	return -1;
}

/* D_MAIN always: the probe attaches there, even when msgrd is not run. */
static int daemon_needed(enum daemon_id d)
{
	if (d == D_REC_A || d == D_REC_B)
		return opt.recovery;
	for (int t = 0; t < NT; t++)
		if ((opt.transports >> t & 1) && (via[t][0] == d || via[t][1] == d))
			return 1;
	return d == D_MAIN;
}

static int start_daemon(void)
{
	char dir[PATH_MAX], bin[PATH_MAX + 8], key[PATH_MAX];
	int err;

	err = exe_dir(dir, sizeof(dir));
	if (err) {
		errmsg("cannot find my own executable: %s", strerror(-err));
		return -1;
	}
	snprintf(bin, sizeof(bin), "%s/msgrd", dir);
	if (access(bin, X_OK)) {
		errmsg("no msgrd next to msgr-bench (%s: %s); build it or pass --socket", bin,
		       strerror(errno));
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/msgr-bench.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		errmsg("mkdtemp: %s", strerror(errno));
		tmpdir[0] = 0;
		return -1;
	}
	snprintf(key, sizeof(key), "%s/keyring", tmpdir);
	err = write_keyring(key);
	if (err) {
		errmsg("%s: %s", key, strerror(-err));
		remove_tmpdir();
		return -1;
	}
	for (int d = 0; d < ND; d++)
		if (daemon_needed((enum daemon_id)d) && spawn_daemon(bin, &dmn[d]))
			goto fail;
	return 0;
fail:
	show_log();
	stop_daemon();
	return -1;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgr-bench [OPTION]...\n"
		"Measure msgrd against a bare shared-memory ring, a Unix socket and TCP\n"
		"loopback, side by side in one run, and report ratios; two msgrd\n"
		"daemons talking over a TCP session (msgrd-net) against direct TCP; the\n"
		"same with auth.mode = secure (msgrd-net-secure) against msgrd-net (hmac);\n"
		"msgrd-net against the same connection in MSGR_LOSSY (msgrd-net-lossy);\n"
		"and recovery: how long a lossless stream over two daemons takes to resume\n"
		"after each of --kills link kills, and what the daemons replayed.\n\n"
		"  --seconds N      one-way run time per case (default 2; fractions allowed)\n"
		"  --count N        one-way: time N messages per case instead of a duration\n"
		"                   (after 50000 warm-up messages, 5000 with --quick)\n"
		"  --rtt-count N    ping-pong round trips measured (default 20000)\n"
		"  --repeat N       run every case N times, report medians (default 1, max %d)\n"
		"  --poll-us N      msgrd global.poll_us and the clients' poll_us (and the\n"
		"                   shm-ring baseline's); default: each side's own default\n"
		"  --daemon-poll-us N  msgrd's poll_us alone (overrides --poll-us for it)\n"
		"  --socket PATH    use a running msgrd instead of starting one\n"
		"  --ctl-socket P   its control socket, for its wakeup counters and pid\n"
		"  --no-tcp         skip the TCP loopback baseline\n"
		"  --only LIST      run a subset, for profiling: comma-separated transports\n"
		"                   (msgrd,shm,uds,tcp,net,sec,netlossy) and/or cases\n"
		"                   (oneway,pingpong,recovery); recovery runs only if named,\n"
		"                   and alone if it is the only name\n"
		"  --kills N        recovery: link kills per run (default 30, 10 with --quick)\n"
		"  --kill-every MS  recovery: ms from one kill to the next (default 300)\n"
		"  --out FILE       Markdown results (default: build/bench/results.md next\n"
		"                   to the binary, else ./results.md); the SVG goes beside it\n"
		"  --quick          smoke test: 0.3 s per case, 2000 round trips, 10 kills\n"
		"  --help           this text\n\n"
		"Without --socket, msgrd (with a second daemon for net and netlossy, and a\n"
		"pair each for sec and for recovery, the latter with global.inject = true)\n"
		"is started from the directory of msgr-bench with a private socket directory\n"
		"and key under /tmp, and stopped at exit; with it, net, sec, netlossy and\n"
		"recovery are skipped.\n"
		"Exit status: 0 success, 1 a measurement failed, 2 usage error.\n",
		MAX_REPEAT);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *v > max || *s == '-' ? -EINVAL : 0;
}

static int parse_only(const char *list)
{
	char buf[128], *save = NULL, *tok;
	unsigned tr = 0, cs = 0;
	int rec = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int hit = 0;
		for (int t = 0; t < NT; t++)
			if (!strcmp(tok, tshort[t]) || !strcmp(tok, tname[t])) {
				tr |= 1u << t;
				hit = 1;
			}
		if (!strcmp(tok, "oneway"))
			cs |= 1u << K_ONEWAY, hit = 1;
		else if (!strcmp(tok, "pingpong"))
			cs |= 1u << K_PINGPONG, hit = 1;
		else if (!strcmp(tok, "recovery"))
			rec = 1, hit = 1;
		if (!hit)
			return -EINVAL;
	}
	if (tr)
		opt.transports = tr;
	if (cs)
		opt.cases = cs;
	/* recovery runs if named; named alone, it is all that runs */
	opt.recovery = rec;
	if (rec && !tr && !cs)
		opt.transports = 0;
	return 0;
}

static void default_out(char *buf, size_t n)
{
	char dir[PATH_MAX], real[PATH_MAX];

	if (!exe_dir(dir, sizeof(dir)) && snprintf(buf, n, "%s/../bench", dir) < (int)n &&
	    (!mkdir(buf, 0755) || errno == EEXIST) && realpath(buf, real) &&
	    snprintf(buf, n, "%s/results.md", real) < (int)n)
		return;
	snprintf(buf, n, "results.md");
}

static void svg_path_for(const char *md, char *buf, size_t n)
{
	size_t l = strlen(md);

	if (l > 3 && !strcmp(md + l - 3, ".md"))
		snprintf(buf, n, "%.*s.svg", (int)(l - 3), md);
	else
		snprintf(buf, n, "%s.svg", md);
}

int main(int argc, char **argv)
{
	enum { O_SECONDS = 256, O_COUNT, O_RTT, O_REPEAT, O_POLL, O_SOCKET, O_CTL, O_NOTCP, O_OUT,
	       O_QUICK, O_HELP, O_ONLY, O_DPOLL, O_KILLS, O_KILLMS };
	static const struct option lopts[] = {
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "count", required_argument, NULL, O_COUNT },
		{ "rtt-count", required_argument, NULL, O_RTT },
		{ "repeat", required_argument, NULL, O_REPEAT },
		{ "poll-us", required_argument, NULL, O_POLL },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "ctl-socket", required_argument, NULL, O_CTL },
		{ "no-tcp", no_argument, NULL, O_NOTCP },
		{ "out", required_argument, NULL, O_OUT },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "help", no_argument, NULL, O_HELP },
		{ "only", required_argument, NULL, O_ONLY },
		{ "daemon-poll-us", required_argument, NULL, O_DPOLL },
		{ "kills", required_argument, NULL, O_KILLS },
		{ "kill-every", required_argument, NULL, O_KILLMS },
		{ 0 },
	};
	int quick = 0, set_seconds = 0, set_rtt = 0, o, failed = 0, ran = 0;
	char out[PATH_MAX], svg[PATH_MAX + 8];
	unsigned long long v;
	struct dstats ds;
	char *end;

	while ((o = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (o) {
		case O_SECONDS:
			errno = 0;
			opt.seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(opt.seconds > 0) || opt.seconds > 3600)
				goto bad;
			set_seconds = 1;
			break;
		case O_COUNT:
			if (parse_uint(optarg, UINT32_MAX - 1, &v) || !v)
				goto bad;
			opt.count = v;
			break;
		case O_RTT:
			if (parse_uint(optarg, 100000000, &v) || !v)
				goto bad;
			opt.rtt_count = (unsigned)v;
			set_rtt = 1;
			break;
		case O_REPEAT:
			if (parse_uint(optarg, MAX_REPEAT, &v) || !v)
				goto bad;
			opt.repeat = (unsigned)v;
			break;
		case O_POLL:
			if (parse_uint(optarg, 1000000, &v))
				goto bad;
			opt.poll_us = (unsigned)v;
			opt.poll_set = 1;
			break;
		case O_DPOLL:
			if (parse_uint(optarg, 1000000, &v))
				goto bad;
			opt.dpoll_us = (unsigned)v;
			opt.dpoll_set = 1;
			break;
		case O_KILLS:
			if (parse_uint(optarg, MAX_KILLS, &v) || !v)
				goto bad;
			opt.kills = (unsigned)v;
			break;
		case O_KILLMS:
			if (parse_uint(optarg, 60000, &v) || v < 10)
				goto bad;
			opt.kill_ms = (unsigned)v;
			break;
		case O_SOCKET:
			opt.socket = optarg;
			break;
		case O_CTL:
			opt.ctl_socket = optarg;
			break;
		case O_NOTCP:
			opt.transports &= ~(1u << T_TCP);
			break;
		case O_ONLY:
			if (parse_only(optarg))
				goto bad;
			break;
		case O_OUT:
			opt.out = optarg;
			break;
		case O_QUICK:
			quick = 1;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		continue;
bad:
		errmsg("bad value for --%s: '%s'", lopts[o - O_SECONDS].name, optarg);
		return 2;
	}
	if (optind < argc) {
		errmsg("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (quick && !set_seconds)
		opt.seconds = 0.3;
	if (quick && !set_rtt)
		opt.rtt_count = 2000;
	if (!opt.kills)
		opt.kills = quick ? 10 : 30;
	/* enough to cycle a default 32 MiB pool of 1 KiB chunks once */
	oneway_warm = quick ? 5000 : 50000;
	/* libmsgr takes poll_us 0 to mean its default; 1 is the nearest to "do not spin" */
	wait_poll_us = !opt.poll_set ? DEFAULT_POLL_US : opt.poll_us;
	if (opt.out)
		snprintf(out, sizeof(out), "%s", opt.out);
	else
		default_out(out, sizeof(out));
	svg_path_for(out, svg, sizeof(svg));

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		errmsg("mmap: %s", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_fatal);
	signal(SIGTERM, on_fatal);
	signal(SIGHUP, on_fatal);
	signal(SIGPIPE, SIG_IGN);

	if (opt.socket) {
		snprintf(dmn[D_MAIN].sock, sizeof(dmn[D_MAIN].sock), "%s", opt.socket);
		if (opt.ctl_socket)
			snprintf(dmn[D_MAIN].ctl, sizeof(dmn[D_MAIN].ctl), "%s", opt.ctl_socket);
		if (opt.poll_set || opt.dpoll_set)
			errmsg("--poll-us: the running msgrd keeps its own poll_us; clients use %u",
			       wait_poll_us);
		for (int t = 0; t < NT; t++)
			if (is_net((enum transport)t) && (opt.transports >> t & 1)) {
				errmsg("%s needs two daemons with one key: not with --socket, skipped",
				       tname[t]);
				opt.transports &= ~(1u << t);
			}
		if (opt.recovery)
			errmsg("recovery needs two daemons of its own: not with --socket, skipped");
		opt.recovery = 0;
	} else if (start_daemon()) {
		return 1;
	}
	ctl_status(&ds);
	if (dmn[D_MAIN].pid)
		obs_daemon = dmn[D_MAIN].pid;
	else if (ds.ok && ds.pid && kill((pid_t)ds.pid, 0) == 0)
		obs_daemon = (pid_t)ds.pid;
	{
		/* fail early and clearly rather than in the first child */
		struct msgr_attach_opts ao = { .socket_path = dmn[D_MAIN].sock };
		char ent[64];
		msgr_client *c;
		int err;
		snprintf(ent, sizeof(ent), "bench.probe-%d", (int)getpid());
		err = msgr_attach(ent, &ao, &c);
		if (err) {
			errmsg("cannot attach to msgrd at %s: %s", dmn[D_MAIN].sock,
			       msgr_strerror(err));
			if (dmn[D_MAIN].pid)
				show_log();
			stop_daemon();
			return 1;
		}
		msgr_detach(c);
	}
	describe_settings(&ds);
	fprintf(stderr, "msgr-bench: msgrd at %s; %s\n", dmn[D_MAIN].sock, settings);

	for (unsigned rep = 0; rep < opt.repeat && !failed; rep++) {
		static const struct {
			enum kind k;
			size_t size;
		} cases[] = { { K_ONEWAY, SMALL }, { K_ONEWAY, LARGE }, { K_PINGPONG, SMALL } };
		if (opt.repeat > 1)
			fprintf(stderr, "run %u of %u\n", rep + 1, opt.repeat);
		for (size_t c = 0; c < NROWS(cases) && !failed; c++)
			for (int t = 0; t < NT && !failed; t++) {
				if (!(opt.transports >> t & 1) || !(opt.cases >> cases[c].k & 1))
					continue;
				failed = run_one((enum transport)t, cases[c].k, cases[c].size) != 0;
				ran = 1;
			}
		if (opt.recovery && !failed)
			failed = run_recovery() != 0;
	}
	if (failed) {
		if (tmpdir[0])
			show_log();
		stop_daemon();
		errmsg("FAILED");
		return 1;
	}
	stop_daemon();
	ran_cases = ran;

	take_medians();
	if (ran) {
		printf("\n");
		table(stdout, main_rows, NROWS(main_rows), 0, "case");
		printf("\n");
		table(stdout, cost_rows, NROWS(cost_rows), 0, "cost");
	}
	if (nrec_ms) {
		printf("\n");
		rec_table(stdout, 0);
	}
	printf("\n%s\n", settings);
	if (ran)
		print_notes(stdout, 0);
	rec_notes(stdout, 0);
	{
		int e1 = write_markdown(out, argc, argv), e2 = write_svg(svg);
		if (e1 || e2) {
			errmsg("writing %s: %s", e1 ? out : svg, strerror(-(e1 ? e1 : e2)));
			return 1;
		}
		printf("\nwrote %s and %s\n", out, svg);
	}
	return 0;
}
