/*
 * msgr-many - many lossless channels between two daemons, resumed after
 * link kills (issue 10: "10,000 channels must resume quickly";
 * tests/integration/lossless-many.sh).
 *
 *   msgr-many A_SOCK A_CTL A_ADDR B_SOCK B_CTL B_ADDR C S ROUNDS
 *
 * One process attaches C client entities client.0..client.C-1 to daemon A
 * and S server entities osd.0..osd.S-1 to daemon B (each with a small pool,
 * MANY_POOL), and every client connects to every server: C x S channels.
 * Then:
 *   setup    every connect CONNECTED on A and ACCEPTED on B;
 *   warm-up  one message each way on every channel, all delivered;
 *   ROUNDS   times: MANY_PRE more messages each way on every channel (not
 *            waited for: they are in the pools, in the daemons or on the
 *            wire), `msgrctl inject kill-link` (odd rounds: A kills its
 *            link to B; even rounds: B kills its link to A), at once
 *            MANY_POST more each way on every channel; then wait until
 *            (1) `perf dump` shows resumes grown by C x S on both daemons
 *            (a thread polls both every 5 ms), and (2) every channel has
 *            delivered everything, both ways. The times of (1) and (2) are
 *            measured from just before the kill command starts.
 *   quiet    MANY_QUIET_MS (default 300) more of listening: nothing more
 *            may arrive.
 *
 * Every message carries (client, server, direction, seq) and a check
 * word; each end checks that it comes on the right handle of the right
 * entity, intact, with exactly the next seq (a dup or a gap is a
 * violation). Any RESET, REMOTE_RESET, CONNECT_FAILED or DAEMON_LOST is a
 * violation. So is a round whose resume or delivery takes longer than
 * MANY_BOUND_MS (default 20000): the program then says how far it got.
 *
 * Environment:
 *   MANY_MSGRCTL   the msgrctl binary (default: msgrctl on $PATH)
 *   MANY_MODE      lossless (default), peer, or mix (odd channels peer)
 *   MANY_POOL      attach pool size in bytes per direction (default 256 KiB)
 *   MANY_PRE, MANY_POST  messages each way per channel before and after
 *                  each kill (default 1 and 1)
 *   MANY_BOUND_MS  see above
 *   MANY_SETUP_MS  the most setup and warm-up may take (default 30000)
 *   MANY_A_PID, MANY_B_PID  the daemons' pids, for their VmRSS in the report
 *
 * Prints a line per phase and per round, then one JSON line (the last line
 * on stdout):
 *   {"clients":..,"servers":..,"channels":..,"mode":..,"rounds":..,
 *    "attach_ms":..,"connect_ms":..,"warm_ms":..,
 *    "resume_ms":[..],"resume_a_ms":[..],"resume_b_ms":[..],
 *    "deliver_ms":[..],"resume_p50_ms":..,"deliver_p50_ms":..,
 *    "setup_resumes_a":..,"setup_resumes_b":.. (grown during setup and
 *    warm-up, before any kill), then, grown over the rounds:
 *    "resumes_a":..,"resumes_b":..,
 *    "replayed_a":..,"replayed_b":..,"dup_dropped_a":..,"dup_dropped_b":..,
 *    "redials_a":..,"redials_b":..,
 *    and over the whole run: "remote_resets_a":..,"remote_resets_b":..,
 *    "anon_kb_a":[start,setup,end],"anon_kb_b":[..] (RssAnon: the heap),
 *    "rss_kb_a":[start,setup,end],"rss_kb_b":[..] (VmRSS: with the shared
 *    memory the daemon touched),"msgs":..,
 *    "violations":..,"ok":..}
 * and exits 0 when every check held.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msgr.h"

#define ITEST_PROG "msgr-many"
#include "itest.h"

#define MT_DATA 0x4d4e0001u
#define MAGIC 0x6d616e79u /* "many" */
#define PAYLOAD 32        /* magic, client, server, dir, seq, check */
#define MAX_REPORTS 20
#define EVENT_BATCH 512   /* events of one entity before the next one's */
#define MAX_ROUNDS 64

enum dir { C2S = 0, S2C = 1 };

struct chan {
	msgr_conn *cc, *sc;   /* the client's handle (on A), the server's (on B) */
	uint64_t sent[2], got[2];
	uint8_t connected, accepted;
};

static unsigned nc, ns;
static struct chan *chans;
static msgr_client **cls, **svs;
static uint64_t target;     /* every channel sends up to this seq each way */
static uint64_t done_dirs;  /* directions of channels delivered up to target */
static uint64_t nconnected, naccepted, msgs;
static int pending;         /* some send met EAGAIN: pump again */
static uint64_t violations, reports;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;

	violations++;
	if (reports++ >= MAX_REPORTS) {
		if (reports == MAX_REPORTS + 1)
			fprintf(stderr, "%s %s: (further violations only counted)\n", ITEST_PROG, scenario);
		return;
	}
	fprintf(stderr, "%s %s: VIOLATION: ", ITEST_PROG, scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static unsigned long envnum(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

/* ---- messages ---- */

static uint64_t check_word(uint32_t c, uint32_t s, uint32_t d, uint64_t seq)
{
	uint64_t x = ((uint64_t)c << 40) ^ ((uint64_t)s << 16) ^ d ^ (seq * 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void build(unsigned char *p, uint32_t c, uint32_t s, uint32_t d, uint64_t seq)
{
	uint32_t w[4] = { MAGIC, c, s, d };
	uint64_t k = check_word(c, s, d, seq);

	memcpy(p, w, 16);
	memcpy(p + 16, &seq, 8);
	memcpy(p + 24, &k, 8);
}

/* Send what channel i still owes in direction d, up to target. 0, or 1
 * when the pool is full (try again later). */
static int pump_one(unsigned i, enum dir d)
{
	struct chan *ch = &chans[i];
	unsigned char buf[PAYLOAD];

	while (ch->sent[d] < target) {
		int err;

		build(buf, i / ns, i % ns, d, ch->sent[d] + 1);
		err = msgr_send(d == C2S ? ch->cc : ch->sc, MT_DATA, buf, sizeof(buf));
		if (err == -EAGAIN || err == -ENOBUFS || err == -ENOMEM)
			return 1;
		if (err) {
			violation("send %s client.%u<->osd.%u seq %" PRIu64 ": %s", d == C2S ? "c->s" : "s->c",
				  i / ns, i % ns, ch->sent[d] + 1, msgr_strerror(err));
			ch->sent[d] = target; /* do not spin on it */
			return 0;
		}
		ch->sent[d]++;
	}
	return 0;
}

static void pump(void)
{
	int again = 0;

	for (unsigned i = 0; i < nc * ns; i++) {
		again |= pump_one(i, C2S);
		again |= pump_one(i, S2C);
	}
	pending = again;
}

/* ---- events ---- */

/* The number after the last '.' of an address whose entity is TYPE.N */
static long peer_index(msgr_conn *k, const char *type, unsigned max)
{
	const char *p = msgr_conn_peer(k), *e = p ? strrchr(p, '/') : NULL;
	char *end;
	long n;

	if (!e || strncmp(e + 1, type, strlen(type)) || e[1 + strlen(type)] != '.')
		return -1;
	n = strtol(e + 2 + strlen(type), &end, 10);
	return *end || n < 0 || (unsigned long)n >= max ? -1 : n;
}

static void on_message(int server, unsigned me, const struct msgr_event *ev)
{
	const unsigned char *p = ev->data;
	uint32_t w[4];
	uint64_t seq, k;
	enum dir d = server ? C2S : S2C;
	struct chan *ch;

	if (ev->msg_type != MT_DATA || ev->len != PAYLOAD) {
		violation("%s.%u: a message of type %#x, %zu bytes", server ? "osd" : "client", me, ev->msg_type,
			  ev->len);
		return;
	}
	memcpy(w, p, 16);
	memcpy(&seq, p + 16, 8);
	memcpy(&k, p + 24, 8);
	if (w[0] != MAGIC || w[1] >= nc || w[2] >= ns || w[3] != d || k != check_word(w[1], w[2], w[3], seq) ||
	    (server ? w[2] : w[1]) != me) {
		violation("%s.%u: a damaged or misrouted message (client %u server %u dir %u seq %" PRIu64 ")",
			  server ? "osd" : "client", me, w[1], w[2], w[3], seq);
		return;
	}
	ch = &chans[w[1] * ns + w[2]];
	if (ev->conn != (server ? ch->sc : ch->cc)) {
		violation("client.%u<->osd.%u seq %" PRIu64 " came on another handle", w[1], w[2], seq);
		return;
	}
	msgs++;
	if (seq != ch->got[d] + 1) {
		violation("client.%u<->osd.%u %s: seq %" PRIu64 " after %" PRIu64 " (%s)", w[1], w[2],
			  d == C2S ? "c->s" : "s->c", seq, ch->got[d], seq <= ch->got[d] ? "a duplicate" : "a gap");
		if (seq <= ch->got[d])
			return;
	}
	ch->got[d] = seq;
	if (seq == target)
		done_dirs++;
}

static void on_event(int server, unsigned me, struct msgr_event *ev)
{
	long peer;

	switch (ev->type) {
	case MSGR_EV_MESSAGE:
		on_message(server, me, ev);
		msgr_event_release(server ? svs[me] : cls[me], ev);
		return;
	case MSGR_EV_CONNECTED:
		peer = server ? -1 : peer_index(ev->conn, "osd", ns);
		if (peer < 0 || chans[me * ns + peer].cc != ev->conn || chans[me * ns + peer].connected) {
			violation("client.%u: CONNECTED for %s, not one of ours or twice", me,
				  msgr_conn_peer(ev->conn));
			return;
		}
		chans[me * ns + peer].connected = 1;
		nconnected++;
		return;
	case MSGR_EV_ACCEPTED:
		peer = server ? peer_index(ev->conn, "client", nc) : -1;
		if (peer < 0 || chans[peer * ns + me].accepted) {
			violation("osd.%u: ACCEPTED from %s, not one of ours or twice", me, msgr_conn_peer(ev->conn));
			return;
		}
		chans[peer * ns + me].sc = ev->conn;
		chans[peer * ns + me].accepted = 1;
		naccepted++;
		return;
	default:
		violation("%s.%u: event %d (%s) on the channel to %s", server ? "osd" : "client", me, ev->type,
			  msgr_strerror(ev->error), ev->conn ? msgr_conn_peer(ev->conn) : "-");
		return;
	}
}

static struct pollfd *pfds;

/* Take the events of every entity; if there were none, sleep in poll(2)
 * up to timeout_ms (1 ms while sends wait for pool space). */
static void step(int timeout_ms)
{
	int busy = 0;

	for (unsigned e = 0; e < nc + ns; e++) {
		int server = e >= nc;
		unsigned me = server ? e - nc : e;
		msgr_client *c = server ? svs[me] : cls[me];
		struct msgr_event ev;
		int n = 0, err = 0;

		while (n < EVENT_BATCH && (err = msgr_next(c, &ev, 0)) == 0) {
			on_event(server, me, &ev);
			n++;
		}
		if (n == EVENT_BATCH)
			busy = 1;
		else if (err != -EAGAIN)
			fail("msgr_next %s.%u: %s", server ? "osd" : "client", me, msgr_strerror(err));
		if (n)
			busy = 1;
	}
	if (pending)
		pump();
	if (busy)
		return;
	(void)!poll(pfds, nc + ns, pending && timeout_ms > 1 ? 1 : timeout_ms);
}

/* ---- the daemons, through msgrctl ---- */

static const char *msgrctl;

struct perf {
	uint64_t resumes, replayed, dups, remote_resets, redials;
	int ok;
};

static uint64_t json_num(const char *buf, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(buf, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static struct perf perf_dump(const char *ctl)
{
	char cmd[1024], buf[8192];
	struct perf pf = { 0 };
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "MSGR_CTL_SOCKET='%s' '%s' --json perf dump 2>/dev/null", ctl, msgrctl);
	f = popen(cmd, "r");
	if (!f)
		return pf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	pclose(f);
	/* msgrctl --json pretty-prints: squeeze the spaces out */
	{
		size_t j = 0;
		for (size_t i = 0; i < n; i++)
			if (buf[i] != ' ' && buf[i] != '\n')
				buf[j++] = buf[i];
		buf[j] = 0;
	}
	if (!strstr(buf, "\"resumes\":"))
		return pf;
	pf.ok = 1;
	pf.resumes = json_num(buf, "resumes");
	pf.replayed = json_num(buf, "replayed_msgs");
	pf.dups = json_num(buf, "dup_dropped");
	pf.remote_resets = json_num(buf, "remote_resets");
	pf.redials = json_num(buf, "redials");
	return pf;
}

static struct perf perf_must(const char *ctl)
{
	struct perf pf = perf_dump(ctl);

	CHECK(pf.ok, "msgrctl perf dump on %s gave no resumes counter", ctl);
	return pf;
}

/* A daemon's VmRSS (what=0) or RssAnon (what=1, its heap: without the
 * shared pools and rings it maps), in KiB; -1 unknown */
static long rss_kb(const char *pidvar, int what)
{
	char path[64], line[256];
	long kb = -1;
	const char *pid = getenv(pidvar);
	FILE *f;

	if (!pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, what ? "RssAnon:" : "VmRSS:", what ? 8 : 6))
			kb = strtol(line + (what ? 8 : 6), NULL, 10);
	fclose(f);
	return kb;
}

/* The watcher: polls both daemons' resumes until each reaches its goal. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const char *ctl[2];
	uint64_t goal[2];
	uint64_t t_reached[2]; /* ns, 0 until reached */
	uint64_t last[2];
	int armed, quit;
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *watcher(void *arg)
{
	pthread_mutex_lock(&w.lock);
	for (;;) {
		while (!w.armed && !w.quit)
			pthread_cond_wait(&w.cond, &w.lock);
		if (w.quit)
			break;
		for (int i = 0; i < 2; i++) {
			if (w.t_reached[i])
				continue;
			const char *ctl = w.ctl[i];
			uint64_t goal = w.goal[i];
			pthread_mutex_unlock(&w.lock);
			struct perf pf = perf_dump(ctl);
			uint64_t t = now_ns();
			pthread_mutex_lock(&w.lock);
			w.last[i] = pf.resumes;
			if (pf.ok && pf.resumes >= goal)
				w.t_reached[i] = t;
		}
		if (w.t_reached[0] && w.t_reached[1])
			w.armed = 0;
		pthread_mutex_unlock(&w.lock);
		usleep(5000);
		pthread_mutex_lock(&w.lock);
	}
	pthread_mutex_unlock(&w.lock);
	return arg;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t p50(const uint64_t *v, unsigned n)
{
	uint64_t s[MAX_ROUNDS];

	if (!n)
		return 0;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_u64);
	return s[(n - 1) / 2];
}

static void print_list(const char *key, const uint64_t *v, unsigned n)
{
	printf("\"%s\":[", key);
	for (unsigned i = 0; i < n; i++)
		printf("%s%" PRIu64, i ? "," : "", v[i]);
	printf("],");
}

/* Wait until every channel has delivered up to target both ways (and,
 * with watch, the watcher saw both goals), or the deadline. */
static int wait_delivered(uint64_t deadline, int watch, uint64_t *t_delivered)
{
	uint64_t total = 2ull * nc * ns;

	*t_delivered = done_dirs == total ? now_ns() : 0;
	for (;;) {
		int reached = 1;

		if (watch) {
			pthread_mutex_lock(&w.lock);
			reached = w.t_reached[0] && w.t_reached[1];
			pthread_mutex_unlock(&w.lock);
		}
		if (*t_delivered && reached)
			return 0;
		if (now_ns() > deadline)
			return -1;
		step(5);
		if (!*t_delivered && done_dirs == total)
			*t_delivered = now_ns();
	}
}

/* What the channels lack, for a failure message. */
static void tell_missing(void)
{
	uint64_t lack[2] = { 0, 0 }, first = UINT64_MAX;

	for (unsigned i = 0; i < nc * ns; i++)
		for (int d = 0; d < 2; d++)
			if (chans[i].got[d] < target) {
				lack[d]++;
				if (first == UINT64_MAX)
					first = i;
			}
	fprintf(stderr, "%s %s: at seq %" PRIu64 ": %" PRIu64 " channels lack c->s messages, %" PRIu64
		" s->c%s", ITEST_PROG, scenario, target, lack[0], lack[1], first == UINT64_MAX ? "\n" : "");
	if (first != UINT64_MAX)
		fprintf(stderr, "; e.g. client.%" PRIu64 "<->osd.%" PRIu64 " has c->s %" PRIu64 "/%" PRIu64
			" s->c %" PRIu64 "/%" PRIu64 "\n", first / ns, first % ns, chans[first].got[0],
			chans[first].sent[0], chans[first].got[1], chans[first].sent[1]);
}

int main(int argc, char **argv)
{
	const char *a_sock, *a_ctl, *a_addr, *b_sock, *b_ctl, *b_addr, *mode_s;
	unsigned rounds, pre, post, quiet_ms;
	uint64_t bound_ms, setup_bound_ms, t0, t_attach, t_conn, t_warm, t;
	uint64_t resume_ms[MAX_ROUNDS], resume_a[MAX_ROUNDS], resume_b[MAX_ROUNDS], deliver_ms[MAX_ROUNDS];
	long rss_a[3], rss_b[3], anon_a[3], anon_b[3];
	struct msgr_attach_opts ao;
	struct perf pa0, pb0, pa1, pb1, pa, pb;
	pthread_t th;
	char name[64], peer[128];

	scenario = "many";
	if (argc != 10) {
		fprintf(stderr, "usage: msgr-many A_SOCK A_CTL A_ADDR B_SOCK B_CTL B_ADDR C S ROUNDS\n");
		return 2;
	}
	a_sock = argv[1], a_ctl = argv[2], a_addr = argv[3];
	b_sock = argv[4], b_ctl = argv[5], b_addr = argv[6];
	nc = (unsigned)atoi(argv[7]), ns = (unsigned)atoi(argv[8]), rounds = (unsigned)atoi(argv[9]);
	CHECK(nc >= 1 && ns >= 1 && nc * ns <= 1000000 && rounds <= MAX_ROUNDS, "bad C, S or ROUNDS");
	msgrctl = getenv("MANY_MSGRCTL") ? getenv("MANY_MSGRCTL") : "msgrctl";
	mode_s = getenv("MANY_MODE") ? getenv("MANY_MODE") : "lossless";
	CHECK(!strcmp(mode_s, "lossless") || !strcmp(mode_s, "peer") || !strcmp(mode_s, "mix"),
	      "MANY_MODE is lossless, peer or mix");
	pre = (unsigned)envnum("MANY_PRE", 1);
	post = (unsigned)envnum("MANY_POST", 1);
	quiet_ms = (unsigned)envnum("MANY_QUIET_MS", 300);
	bound_ms = envnum("MANY_BOUND_MS", 20000);
	setup_bound_ms = envnum("MANY_SETUP_MS", 30000);
	raise_nofile();
	setvbuf(stdout, NULL, _IOLBF, 0);

	chans = calloc((size_t)nc * ns, sizeof(*chans));
	cls = calloc(nc, sizeof(*cls));
	svs = calloc(ns, sizeof(*svs));
	pfds = calloc(nc + ns, sizeof(*pfds));
	CHECK(chans && cls && svs && pfds, "out of memory");
	w.ctl[0] = a_ctl, w.ctl[1] = b_ctl;
	CHECK(!pthread_create(&th, NULL, watcher, NULL), "pthread_create");
	pa0 = perf_must(a_ctl);
	pb0 = perf_must(b_ctl);
	rss_a[0] = rss_kb("MANY_A_PID", 0), rss_b[0] = rss_kb("MANY_B_PID", 0);
	anon_a[0] = rss_kb("MANY_A_PID", 1), anon_b[0] = rss_kb("MANY_B_PID", 1);

	/* attach */
	t0 = now_ns();
	memset(&ao, 0, sizeof(ao));
	ao.pool_size = envnum("MANY_POOL", 256 * 1024);
	for (unsigned e = 0; e < nc + ns; e++) {
		int server = e >= nc, err;
		unsigned me = server ? e - nc : e;

		snprintf(name, sizeof(name), "%s.%u", server ? "osd" : "client", me);
		ao.socket_path = server ? b_sock : a_sock;
		err = msgr_attach(name, &ao, server ? &svs[me] : &cls[me]);
		CHECK(!err, "attach %s (entity %u of %u): %s", name, e + 1, nc + ns, msgr_strerror(err));
		pfds[e].fd = msgr_fd(server ? svs[me] : cls[me]);
		pfds[e].events = POLLIN;
	}
	t_attach = now_ns();
	printf("attached %u clients to A and %u servers to B in %" PRIu64 " ms (pool %zu KiB each way)\n", nc, ns,
	       (t_attach - t0) / 1000000, ao.pool_size / 1024);

	/* connect: client by client, taking events as we go */
	for (unsigned c = 0; c < nc; c++) {
		for (unsigned s = 0; s < ns; s++) {
			struct chan *ch = &chans[c * ns + s];
			enum msgr_mode m = !strcmp(mode_s, "peer") ? MSGR_PEER
					   : !strcmp(mode_s, "mix") && ((c * ns + s) & 1) ? MSGR_PEER
											  : MSGR_LOSSLESS;
			int err;

			snprintf(peer, sizeof(peer), "%s/osd.%u", b_addr, s);
			while ((err = msgr_connect(cls[c], peer, m, &ch->cc)) == -EAGAIN)
				step(1);
			CHECK(!err, "connect client.%u to %s: %s", c, peer, msgr_strerror(err));
		}
		step(0);
	}
	while (nconnected < (uint64_t)nc * ns || naccepted < (uint64_t)nc * ns) {
		CHECK(now_ns() - t0 < setup_bound_ms * 1000000, "setup: %" PRIu64 " of %u connected, %" PRIu64
		      " accepted after %" PRIu64 " ms", nconnected, nc * ns, naccepted, setup_bound_ms);
		CHECK(!violations, "setup failed");
		step(10);
	}
	t_conn = now_ns();
	printf("%u channels (%s) connected and accepted in %" PRIu64 " ms\n", nc * ns, mode_s,
	       (t_conn - t_attach) / 1000000);

	/* warm-up: one message each way on every channel */
	target = 1;
	done_dirs = 0;
	pump();
	if (wait_delivered(t0 + setup_bound_ms * 1000000, 0, &t) || violations) {
		tell_missing();
		fail("warm-up: not every channel delivered its first message (%" PRIu64 " violations)", violations);
	}
	t_warm = now_ns();
	rss_a[1] = rss_kb("MANY_A_PID", 0), rss_b[1] = rss_kb("MANY_B_PID", 0);
	anon_a[1] = rss_kb("MANY_A_PID", 1), anon_b[1] = rss_kb("MANY_B_PID", 1);
	pa1 = perf_must(a_ctl);
	pb1 = perf_must(b_ctl);
	printf("one message each way on every channel: delivered in %" PRIu64 " ms; daemon RSS A %ld KiB, "
	       "B %ld KiB\n", (t_warm - t_conn) / 1000000, rss_a[1], rss_b[1]);

	for (unsigned r = 0; r < rounds; r++) {
		int a_kills = r % 2 == 0;
		char cmd[1024];
		uint64_t tk, td;
		int rc;

		pa = perf_must(a_ctl);
		pb = perf_must(b_ctl);
		target += pre;
		done_dirs = 0;
		pump();
		snprintf(cmd, sizeof(cmd), "MSGR_CTL_SOCKET='%s' '%s' inject kill-link '%s' >/dev/null",
			 a_kills ? a_ctl : b_ctl, msgrctl, a_kills ? b_addr : a_addr);
		pthread_mutex_lock(&w.lock);
		w.goal[0] = pa.resumes + (uint64_t)nc * ns;
		w.goal[1] = pb.resumes + (uint64_t)nc * ns;
		w.t_reached[0] = w.t_reached[1] = 0;
		pthread_mutex_unlock(&w.lock);
		tk = now_ns();
		rc = system(cmd);
		CHECK(rc == 0, "round %u: %s: exit %d", r + 1, cmd, rc);
		pthread_mutex_lock(&w.lock);
		w.armed = 1;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		target += post;
		done_dirs = 0;
		/* what was delivered already at the new target: none yet, as
		 * post >= 1 (done_dirs counts reaching target) */
		CHECK(post >= 1, "MANY_POST must be at least 1");
		pump();
		if (wait_delivered(tk + bound_ms * 1000000, 1, &td)) {
			pthread_mutex_lock(&w.lock);
			fprintf(stderr, "%s %s: round %u: resumes A %" PRIu64 " (want %" PRIu64 "%s), B %" PRIu64
				" (want %" PRIu64 "%s) after %" PRIu64 " ms\n", ITEST_PROG, scenario, r + 1, w.last[0],
				w.goal[0], w.t_reached[0] ? ", reached" : "", w.last[1], w.goal[1],
				w.t_reached[1] ? ", reached" : "", bound_ms);
			pthread_mutex_unlock(&w.lock);
			tell_missing();
			fail("round %u: the channels did not all resume and deliver within %" PRIu64 " ms of the kill",
			     r + 1, bound_ms);
		}
		pthread_mutex_lock(&w.lock);
		resume_a[r] = (w.t_reached[0] - tk) / 1000000;
		resume_b[r] = (w.t_reached[1] - tk) / 1000000;
		pthread_mutex_unlock(&w.lock);
		resume_ms[r] = resume_a[r] > resume_b[r] ? resume_a[r] : resume_b[r];
		deliver_ms[r] = (td - tk) / 1000000;
		{
			struct perf qa = perf_must(a_ctl), qb = perf_must(b_ctl);
			printf("round %u (%s kills the link): resumed on A in %" PRIu64 " ms, on B in %" PRIu64
			       " ms, every channel delivered both ways in %" PRIu64 " ms; resumes +%" PRIu64 "/+%" PRIu64
			       ", replayed %" PRIu64 "/%" PRIu64 ", dup_dropped %" PRIu64 "/%" PRIu64 ", redials %" PRIu64
			       "/%" PRIu64 " (A/B); RSS A %ld KiB, B %ld KiB\n",
			       r + 1, a_kills ? "A" : "B", resume_a[r], resume_b[r], deliver_ms[r],
			       qa.resumes - pa.resumes, qb.resumes - pb.resumes, qa.replayed - pa.replayed,
			       qb.replayed - pb.replayed, qa.dups - pa.dups, qb.dups - pb.dups, qa.redials - pa.redials,
			       qb.redials - pb.redials, rss_kb("MANY_A_PID", 0), rss_kb("MANY_B_PID", 0));
		}
		if (violations)
			break;
	}

	/* quiet: nothing more may come (a late duplicate would) */
	t = now_ns();
	while (now_ns() - t < (uint64_t)quiet_ms * 1000000)
		step(10);

	pa = perf_must(a_ctl);
	pb = perf_must(b_ctl);
	rss_a[2] = rss_kb("MANY_A_PID", 0), rss_b[2] = rss_kb("MANY_B_PID", 0);
	anon_a[2] = rss_kb("MANY_A_PID", 1), anon_b[2] = rss_kb("MANY_B_PID", 1);
	pthread_mutex_lock(&w.lock);
	w.quit = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(th, NULL);

	printf("{\"clients\":%u,\"servers\":%u,\"channels\":%u,\"mode\":\"%s\",\"rounds\":%u,"
	       "\"attach_ms\":%" PRIu64 ",\"connect_ms\":%" PRIu64 ",\"warm_ms\":%" PRIu64 ",",
	       nc, ns, nc * ns, mode_s, rounds, (t_attach - t0) / 1000000, (t_conn - t_attach) / 1000000,
	       (t_warm - t_conn) / 1000000);
	print_list("resume_ms", resume_ms, rounds);
	print_list("resume_a_ms", resume_a, rounds);
	print_list("resume_b_ms", resume_b, rounds);
	print_list("deliver_ms", deliver_ms, rounds);
	printf("\"resume_p50_ms\":%" PRIu64 ",\"deliver_p50_ms\":%" PRIu64 ",", p50(resume_ms, rounds),
	       p50(deliver_ms, rounds));
	printf("\"setup_resumes_a\":%" PRIu64 ",\"setup_resumes_b\":%" PRIu64 ",", pa1.resumes - pa0.resumes,
	       pb1.resumes - pb0.resumes);
	printf("\"resumes_a\":%" PRIu64 ",\"resumes_b\":%" PRIu64 ",\"replayed_a\":%" PRIu64 ",\"replayed_b\":%" PRIu64
	       ",\"dup_dropped_a\":%" PRIu64 ",\"dup_dropped_b\":%" PRIu64 ",\"remote_resets_a\":%" PRIu64
	       ",\"remote_resets_b\":%" PRIu64 ",\"redials_a\":%" PRIu64 ",\"redials_b\":%" PRIu64 ",",
	       pa.resumes - pa1.resumes, pb.resumes - pb1.resumes, pa.replayed - pa1.replayed,
	       pb.replayed - pb1.replayed, pa.dups - pa1.dups, pb.dups - pb1.dups,
	       pa.remote_resets - pa0.remote_resets, pb.remote_resets - pb0.remote_resets, pa.redials - pa1.redials,
	       pb.redials - pb1.redials);
	printf("\"anon_kb_a\":[%ld,%ld,%ld],\"anon_kb_b\":[%ld,%ld,%ld],", anon_a[0], anon_a[1], anon_a[2],
	       anon_b[0], anon_b[1], anon_b[2]);
	printf("\"rss_kb_a\":[%ld,%ld,%ld],\"rss_kb_b\":[%ld,%ld,%ld],\"msgs\":%" PRIu64 ",\"violations\":%" PRIu64
	       ",\"ok\":%s}\n",
	       rss_a[0], rss_a[1], rss_a[2], rss_b[0], rss_b[1], rss_b[2], msgs, violations,
	       violations ? "false" : "true");

	for (unsigned e = 0; e < nc + ns; e++)
		msgr_detach(e < nc ? cls[e] : svs[e - nc]);
	return violations ? 1 : 0;
}
