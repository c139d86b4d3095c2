/*
 * msgr-stream - checked message streams both ways over one connection, for
 * the lossless and peer mode tests under faults (issue 10,
 * tests/integration/lossless.sh).
 *
 *   msgr-stream serve ENTITY [RUNS]
 *	attach ENTITY ($MSGR_SOCKET selects the daemon), print "ready ADDR",
 *	accept connections and run the server end of the stream on each: check
 *	what arrives, and stream back as many messages as the HELLO asked for.
 *	Exit once RUNS runners have completed and no connection has been open
 *	for STREAM_LINGER_MS (default 2000; for a runner whose BYE_ACK a reset
 *	took), or on SIGTERM/SIGINT, or at the deadline (STREAM_TIMEOUT + 15 s,
 *	so that a runner's comes first); these fail when RUNS was given and not
 *	reached.
 *
 *   msgr-stream run ENTITY PEER_ADDR MODE N [MAXSIZE]
 *	attach ENTITY, connect to PEER_ADDR (HOST:PORT/TYPE.ID) in MODE
 *	(lossy | lossless | peer), send N messages while receiving N. Payloads
 *	are mostly up to 4 KiB, about 1% up to MAXSIZE (default 256 KiB).
 *
 * Each side prints one JSON line at the end (the last line on stdout):
 *   {"role":..,"entity":..,"mode":..,"sent":..,"received":..,"conns":..,
 *    "completed":..,"resets":..,"remote_resets":..,"connect_failed":..,
 *    "dups":..,"gaps":..,"reorders":..,"bad":..,"violations":..,
 *    "seconds":..,"ok":..}
 * and exits 0 when every check held, 1 otherwise; each violation is also
 * told on stderr, naming the connection and the seq. "sent" counts the
 * messages msgr_send took, "received" the intact ones taken in order (or
 * late); "conns" the connections (incarnations), "completed" the runs that
 * got to their end (BYE); "gaps" the messages skipped over.
 *
 * Environment:
 *   STREAM_TIMEOUT    seconds (default 120); past it the program says where
 *                     it stood, prints its JSON line and fails, so that a
 *                     hung run cannot block make check (serve: 15 s more)
 *   STREAM_POOL       the attach pool size in bytes (default: the daemon's
 *                     global.pool_size)
 *   STREAM_LINGER_MS  serve RUNS: how long to stay once they are complete
 *   STREAM_MISBEHAVE  dup|skip|swap|flip:SEQ (run only): break our own
 *                     stream once at SEQ, to show that the checks work
 *
 * The protocol on one connection (one "incarnation"):
 *   runner -> server  HELLO {mode, conn_id, S, R, maxsize, run_id}: the
 *                     runner will send S data messages and wants R back.
 *                     conn_id is random, new for every connection; run_id
 *                     is random, one per runner process.
 *   both ways         DATA seq 1..S (runner->server), 1..R (server->runner)
 *   server -> runner  DONE {conn_id, received} once the server has seq S
 *   runner -> server  BYE once it has R, has sent S and has DONE: the
 *                     server counts the run complete (once per run_id)
 *   server -> runner  BYE_ACK; the runner closes the connection and ends,
 *                     and the server takes the RESET that follows a BYE
 *                     as the normal end.
 * A reset before BYE_ACK (lossy) just means one more incarnation, which
 * has nothing left to move but the HELLO, DONE, BYE and BYE_ACK.
 * A DATA payload is: u64 seq, u32 len (the whole payload), u32 CRC32C of
 * the payload without this field, u64 conn_id, then filler. Length and
 * filler follow from (conn_id, direction, seq), so a resend of one that
 * met EAGAIN is the same message.
 *
 * The checks, on both ends, on every connection:
 *   - every message intact: its length, CRC32C and conn_id (a message of
 *     another connection, e.g. an old incarnation, is "bad");
 *   - seq strictly the next one expected: a seq seen before on this
 *     connection is a dup, one beyond the next is a gap (of that many), one
 *     below that was never seen (it was skipped) is a reorder;
 *   - lossless and peer: no RESET, REMOTE_RESET or CONNECT_FAILED at all.
 * A lossy connection that is reset ends; the runner connects again and asks
 * for what it still lacks (N minus what it received) and sends what it has
 * not yet sent (messages sent on a connection that was reset count as sent:
 * at most once). So a lossy run checks "never a duplicate, never a reorder,
 * nothing damaged" within each incarnation, and counts the resets; a gap
 * fails it too, since a lossy channel that loses a message is reset, so
 * each incarnation must deliver a prefix of what was sent on it. A
 * lossless run on a daemon that resets anyway goes on the same way, so that
 * its JSON line says how many resets there were, and then fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "msgr.h"

#define ITEST_PROG "msgr-stream"
#include "itest.h"

#define MT_DATA 0x53540001u
#define MT_HELLO 0x53540002u
#define MT_DONE 0x53540003u
#define MT_BYE 0x53540004u
#define MT_BYE_ACK 0x53540005u
#define MAGIC 0x6d737472u /* "mstr" */

#define HDR 24		 /* seq, len, crc, conn_id */
#define SMALL_MAX 4096   /* most messages are at most this */
#define HELLO_LEN 56
#define DONE_LEN 24
#define BYE_LEN 16
#define MAX_REPORTS 20   /* violations told on stderr; the rest only counted */
#define SEND_BATCH 16    /* sends per connection before looking at events */
#define EVENT_BATCH 256  /* events handled before sending again */

enum dir { TO_SERVER = 0, TO_RUNNER = 1 };

/* The checker's own loops over every payload byte, left out of the
 * sanitizers (which are here for libmsgr and msgrd): instrumented, they were
 * most of what a stream test spent in the ASan build, and slowed the
 * streams so much that the fault tests hit their deadlines. Their indexes
 * are in range by construction. */
#define CHECKER_HOT __attribute__((no_sanitize("address", "undefined")))

/* ---- CRC32C (Castagnoli), slicing by 8 ---- */

static uint32_t crc_tab[8][256];

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

CHECKER_HOT static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= crc;
		crc = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
		      crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
		      crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
		      crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		p += 8;
		len -= 8;
	}
#endif
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The CRC a DATA payload carries: everything but the CRC field itself. */
static uint32_t payload_crc(const unsigned char *p, size_t len)
{
	return crc32c(crc32c(0, p, 12), p + 16, len - 16);
}

/* ---- little-endian fields ---- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- message contents ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t msg_hash(uint64_t conn_id, enum dir d, uint64_t seq)
{
	return mix(conn_id ^ mix(seq * 2 + (uint64_t)d));
}

/* The length of DATA message seq: mostly HDR..4 KiB, 1 in 100 up to maxsize. */
static size_t msg_len(uint64_t conn_id, enum dir d, uint64_t seq, size_t maxsize)
{
	uint64_t h = msg_hash(conn_id, d, seq);
	size_t small = maxsize < SMALL_MAX ? maxsize : SMALL_MAX;

	if ((h & 0xffff) % 100 == 0 && maxsize > SMALL_MAX)
		return SMALL_MAX + 1 + (size_t)((h >> 16) % (maxsize - SMALL_MAX));
	return HDR + (size_t)((h >> 16) % (small - HDR + 1));
}

/* Build DATA message seq into buf; returns its length. */
CHECKER_HOT static size_t msg_build(unsigned char *buf, uint64_t conn_id, enum dir d, uint64_t seq,
				    size_t maxsize)
{
	size_t len = msg_len(conn_id, d, seq, maxsize), i;
	uint64_t x = msg_hash(conn_id, d, seq) | 1;

	put64(buf, seq);
	put32(buf + 8, (uint32_t)len);
	put64(buf + 16, conn_id);
	for (i = HDR; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	for (; i < len; i++)
		buf[i] = (unsigned char)(x >> (8 * (i & 7)));
	put32(buf + 12, payload_crc(buf, len));
	return len;
}

/* ---- what one process saw ---- */

static struct {
	const char *role, *entity, *mode;
	uint64_t sent, received, conns, completed;
	uint64_t resets, remote_resets, connect_failed;
	uint64_t dups, gaps, reorders, bad;
	uint64_t violations; /* everything that fails the run */
	uint64_t reports;
	uint64_t t0;
} st;

static uint64_t deadline_ms;
static volatile sig_atomic_t stop_signal;

static void vreport(int always, const char *fmt, va_list ap)
{
	st.violations++;
	if (!always && st.reports++ >= MAX_REPORTS) {
		if (st.reports == MAX_REPORTS + 1)
			fprintf(stderr, "%s %s: (further violations only counted)\n", ITEST_PROG, scenario);
		return;
	}
	fprintf(stderr, "%s %s: VIOLATION: ", ITEST_PROG, scenario);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* A broken check: counted, and told on stderr (the first MAX_REPORTS). */
static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(0, fmt, ap);
	va_end(ap);
}

/* The end of a run that did not finish: always told. */
static void unfinished(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void unfinished(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(1, fmt, ap);
	va_end(ap);
}

static void print_json(void)
{
	uint64_t ms = now_ms() - st.t0;

	printf("{\"role\":\"%s\",\"entity\":\"%s\",\"mode\":\"%s\",\"sent\":%llu,\"received\":%llu,"
	       "\"conns\":%llu,\"completed\":%llu,\"resets\":%llu,\"remote_resets\":%llu,"
	       "\"connect_failed\":%llu,\"dups\":%llu,\"gaps\":%llu,\"reorders\":%llu,\"bad\":%llu,"
	       "\"violations\":%llu,\"seconds\":%llu.%03llu,\"ok\":%s}\n",
	       st.role, st.entity, st.mode, (unsigned long long)st.sent,
	       (unsigned long long)st.received, (unsigned long long)st.conns,
	       (unsigned long long)st.completed, (unsigned long long)st.resets,
	       (unsigned long long)st.remote_resets, (unsigned long long)st.connect_failed,
	       (unsigned long long)st.dups, (unsigned long long)st.gaps,
	       (unsigned long long)st.reorders, (unsigned long long)st.bad,
	       (unsigned long long)st.violations, (unsigned long long)(ms / 1000),
	       (unsigned long long)(ms % 1000),
	       st.violations ? "false" : "true");
	fflush(stdout);
}

/* The end of the program: the JSON line, and the verdict. */
static int finish(void)
{
	print_json();
	return st.violations ? 1 : 0;
}

/* A fatal error: the JSON line as far as we got, then the failure. */
#define FATAL(...)                  \
	do {                        \
		st.violations++;    \
		print_json();       \
		fail(__VA_ARGS__);  \
	} while (0)

static enum msgr_mode parse_mode(const char *s)
{
	if (!strcmp(s, "lossy"))
		return MSGR_LOSSY;
	if (!strcmp(s, "lossless"))
		return MSGR_LOSSLESS;
	if (!strcmp(s, "peer"))
		return MSGR_PEER;
	return 0;
}

static const char *mode_name(uint32_t m)
{
	return m == MSGR_LOSSY ? "lossy" : m == MSGR_LOSSLESS ? "lossless" : m == MSGR_PEER ? "peer" : "?";
}

static const char *event_name(enum msgr_event_type t)
{
	switch (t) {
	case MSGR_EV_MESSAGE: return "MESSAGE";
	case MSGR_EV_ACCEPTED: return "ACCEPTED";
	case MSGR_EV_CONNECTED: return "CONNECTED";
	case MSGR_EV_RESET: return "RESET";
	case MSGR_EV_REMOTE_RESET: return "REMOTE_RESET";
	case MSGR_EV_CONNECT_FAILED: return "CONNECT_FAILED";
	case MSGR_EV_DAEMON_LOST: return "DAEMON_LOST";
	}
	return "?";
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		fail("%s=%s is not a number", name, s);
	return v;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static msgr_client *attach(const char *entity)
{
	struct msgr_attach_opts o = { .pool_size = (size_t)env_u64("STREAM_POOL", 0) };
	msgr_client *c;
	int err = msgr_attach(entity, &o, &c);

	if (err)
		fail("attach %s: %s", entity, msgr_strerror(err));
	return c;
}

/* ---- the receiving half of one direction of one connection ---- */

struct rx {
	uint64_t conn_id;
	enum dir dir;
	uint64_t count;   /* messages announced for this direction */
	uint64_t next;    /* the seq expected next */
	uint64_t got;     /* intact messages taken */
	unsigned char *seen; /* bit per seq 1..count */
	size_t maxsize;
};

static void rx_init(struct rx *r, uint64_t conn_id, enum dir d, uint64_t count, size_t maxsize)
{
	free(r->seen);
	*r = (struct rx){ .conn_id = conn_id, .dir = d, .count = count, .next = 1, .maxsize = maxsize };
	r->seen = calloc((size_t)(count / 8 + 1), 1);
	if (!r->seen)
		fail("out of memory");
}

static void rx_free(struct rx *r)
{
	free(r->seen);
	r->seen = NULL;
}

/* Check one DATA message; counts and tells every violation, naming the
 * connection as what. */
static void rx_data(struct rx *r, const char *what, const unsigned char *p, size_t len)
{
	uint64_t seq, id;
	uint32_t l, crc;

	if (len < HDR) {
		st.bad++;
		violation("%s: a DATA message of %zu bytes, shorter than its header (after seq %llu)",
			  what, len, (unsigned long long)(r->next - 1));
		return;
	}
	seq = get64(p);
	l = get32(p + 8);
	crc = get32(p + 12);
	id = get64(p + 16);
	if (l != len || crc != payload_crc(p, len)) {
		st.bad++;
		violation("%s: seq %llu damaged: %zu bytes (header says %u), CRC32C %08x (header says %08x); "
			  "%llu was next",
			  what, (unsigned long long)seq, len, l, payload_crc(p, len), crc,
			  (unsigned long long)r->next);
		return;
	}
	if (id != r->conn_id) {
		st.bad++;
		violation("%s: seq %llu belongs to connection %016llx, not this one (%016llx): a message of "
			  "another connection or an old incarnation",
			  what, (unsigned long long)seq, (unsigned long long)id, (unsigned long long)r->conn_id);
		return;
	}
	if (seq == 0 || seq > r->count || len != msg_len(id, r->dir, seq, r->maxsize)) {
		st.bad++;
		violation("%s: seq %llu of %zu bytes was never sent (%llu announced)", what,
			  (unsigned long long)seq, len, (unsigned long long)r->count);
		return;
	}
	if (seq < r->next) {
		if (r->seen[seq / 8] & (1u << (seq % 8))) {
			st.dups++;
			violation("%s: seq %llu delivered twice (%llu was next)", what,
				  (unsigned long long)seq, (unsigned long long)r->next);
		} else {
			st.reorders++;
			violation("%s: seq %llu delivered after seq %llu (out of order)", what,
				  (unsigned long long)seq, (unsigned long long)(r->next - 1));
			r->seen[seq / 8] |= (unsigned char)(1u << (seq % 8));
			r->got++;
			st.received++;
		}
		return;
	}
	if (seq > r->next) {
		st.gaps += seq - r->next;
		violation("%s: seq %llu delivered where %llu was next: %llu missing", what,
			  (unsigned long long)seq, (unsigned long long)r->next,
			  (unsigned long long)(seq - r->next));
	}
	r->seen[seq / 8] |= (unsigned char)(1u << (seq % 8));
	r->next = seq + 1;
	r->got++;
	st.received++;
}

/* Send DATA messages seq *next.. up to count on k, at most SEND_BATCH.
 * Returns 1 when the library said EAGAIN, 0 otherwise; *dead is set when
 * the connection refuses (it was reset: its event follows). */
/* STREAM_MISBEHAVE=KIND:SEQ makes the runner's first connection break the
 * stream once at seq SEQ, so that the test can see that the receiver
 * catches it: dup (SEQ sent twice), skip (never sent), swap (SEQ+1 before
 * SEQ), flip (one byte of SEQ changed after its CRC). */
static struct {
	enum { MB_NONE, MB_DUP, MB_SKIP, MB_SWAP, MB_FLIP } kind;
	uint64_t seq;
	int armed;
} mb;

static void misbehave_parse(void)
{
	const char *s = getenv("STREAM_MISBEHAVE");
	static const char *const names[] = { "", "dup:", "skip:", "swap:", "flip:" };

	if (!s || !*s)
		return;
	for (int i = 1; i < 5; i++)
		if (!strncmp(s, names[i], strlen(names[i]))) {
			mb.kind = i;
			mb.seq = strtoull(s + strlen(names[i]), NULL, 10);
		}
	if (!mb.kind || !mb.seq)
		fail("STREAM_MISBEHAVE=%s: dup|skip|swap|flip:SEQ", s);
}

/* The message last built into a buffer: a send that found the window full
 * (-EAGAIN) is tried again about every millisecond, and building it anew
 * each time (a payload and its CRC) cost the streams more than the sends. */
static struct {
	const unsigned char *buf; /* NULL: none */
	uint64_t conn_id, seq;
	enum dir d;
	size_t len;
} built;

static size_t msg_build_cached(unsigned char *buf, uint64_t conn_id, enum dir d, uint64_t seq,
			       size_t maxsize)
{
	if (built.buf != buf || built.conn_id != conn_id || built.d != d || built.seq != seq) {
		built.len = msg_build(buf, conn_id, d, seq, maxsize);
		built.buf = buf;
		built.conn_id = conn_id;
		built.d = d;
		built.seq = seq;
	}
	return built.len;
}

/* Send what misbehaving asks instead of seq *next; 1 when it did. */
static int tx_misbehave(msgr_conn *k, unsigned char *buf, uint64_t conn_id, enum dir d, uint64_t *next,
			uint64_t count, size_t maxsize)
{
	size_t len;
	int err = 0;

	if (!mb.armed || *next != mb.seq || (mb.kind == MB_SWAP && *next >= count))
		return 0;
	mb.armed = 0;
	built.buf = NULL; /* what follows builds into buf */
	fprintf(stderr, "%s %s: STREAM_MISBEHAVE: breaking the stream at seq %llu\n", ITEST_PROG, scenario,
		(unsigned long long)*next);
	switch (mb.kind) {
	case MB_DUP:
		len = msg_build(buf, conn_id, d, *next, maxsize);
		err = msgr_send(k, MT_DATA, buf, len);
		break;
	case MB_SKIP:
		break;
	case MB_SWAP:
		len = msg_build(buf, conn_id, d, *next + 1, maxsize);
		err = msgr_send(k, MT_DATA, buf, len);
		if (!err) {
			len = msg_build(buf, conn_id, d, *next, maxsize);
			err = msgr_send(k, MT_DATA, buf, len);
		}
		*next += 2;
		st.sent += 2;
		break;
	case MB_FLIP:
		len = msg_build(buf, conn_id, d, *next, maxsize);
		buf[len - 1] ^= 0x40;
		err = msgr_send(k, MT_DATA, buf, len);
		*next += 1;
		st.sent++;
		break;
	default:
		break;
	}
	if (mb.kind == MB_SKIP)
		(*next)++;
	if (err)
		fail("STREAM_MISBEHAVE: send: %s (the stream must have room)", msgr_strerror(err));
	return 1;
}

static int tx_some(msgr_conn *k, unsigned char *buf, uint64_t conn_id, enum dir d, uint64_t *next,
		   uint64_t count, size_t maxsize, int *dead, const char *what)
{
	for (int i = 0; i < SEND_BATCH && *next <= count; i++) {
		if (tx_misbehave(k, buf, conn_id, d, next, count, maxsize))
			continue;
		size_t len = msg_build_cached(buf, conn_id, d, *next, maxsize);
		int err = msgr_send(k, MT_DATA, buf, len);

		if (err == -EAGAIN)
			return 1;
		if (err == -ECONNRESET) {
			*dead = 1;
			return 0;
		}
		if (err)
			FATAL("%s: send seq %llu (%zu bytes): %s", what, (unsigned long long)*next, len,
			      msgr_strerror(err));
		(*next)++;
		st.sent++;
	}
	return 0;
}

static int past_deadline(void)
{
	return now_ms() >= deadline_ms;
}

/* ---- serve ---- */

struct sconn {
	msgr_conn *k;
	int hello;           /* its HELLO came */
	uint32_t mode;
	uint64_t conn_id;
	uint64_t to_send;    /* R: what the runner wants */
	uint64_t next_send;
	size_t maxsize;
	int done_sent;
	int bye;             /* the runner said BYE: a RESET now is its close */
	int ack_pending;     /* BYE_ACK still to send */
	uint64_t run_id;
	int dead;            /* a send said ECONNRESET */
	struct rx rx;
	char what[96];
};

static int sconn_complete(const struct sconn *s)
{
	return s->hello && s->rx.next > s->rx.count && s->next_send > s->to_send && s->done_sent;
}

/* The runs (run_id) that said BYE: each counts once in st.completed. */
static uint64_t *runs_done;
static size_t nruns_done;

static void run_done(uint64_t run_id)
{
	for (size_t i = 0; i < nruns_done; i++)
		if (runs_done[i] == run_id)
			return;
	runs_done = realloc(runs_done, (nruns_done + 1) * sizeof(*runs_done));
	if (!runs_done)
		fail("out of memory");
	runs_done[nruns_done++] = run_id;
	st.completed++;
}

static void serve_bye(struct sconn *s, const unsigned char *p, size_t len)
{
	if (!s->hello || s->bye || len != BYE_LEN || get32(p) != MAGIC || get64(p + 8) != s->conn_id) {
		st.bad++;
		violation("%s: a bad, misplaced or second BYE", s->what);
		return;
	}
	if (!sconn_complete(s)) {
		st.bad++;
		violation("%s: BYE before the connection was complete (received up to seq %llu of %llu, "
			  "sent %llu of %llu%s)", s->what, (unsigned long long)(s->rx.next - 1),
			  (unsigned long long)s->rx.count, (unsigned long long)(s->next_send - 1),
			  (unsigned long long)s->to_send, s->done_sent ? "" : ", DONE not sent");
	}
	s->bye = 1;
	s->ack_pending = 1;
	run_done(s->run_id);
}

static void serve_hello(struct sconn *s, const unsigned char *p, size_t len, const char *entity)
{
	if (s->hello) {
		st.bad++;
		violation("%s: a second HELLO", s->what);
		return;
	}
	if (len != HELLO_LEN || get32(p) != MAGIC || !parse_mode(mode_name(get32(p + 4))) ||
	    get64(p + 32) < HDR || get64(p + 32) > (1u << 30)) {
		st.bad++;
		violation("%s: a malformed HELLO (%zu bytes)", s->what, len);
		return;
	}
	s->hello = 1;
	s->mode = get32(p + 4);
	s->conn_id = get64(p + 8);
	s->to_send = get64(p + 24);
	s->next_send = 1;
	s->maxsize = (size_t)get64(p + 32);
	s->run_id = get64(p + 40);
	snprintf(s->what, sizeof(s->what), "%s<-%s %s conn %016llx incarnation %u", entity,
		 msgr_conn_peer(s->k), mode_name(s->mode), (unsigned long long)s->conn_id, get32(p + 48));
	rx_init(&s->rx, s->conn_id, TO_SERVER, get64(p + 16), s->maxsize);
}

static int sc_serve(const char *entity, long want)
{
	msgr_client *c = attach(entity);
	struct sconn *conns = NULL;
	size_t nconns = 0, cap = 0, maxbuf = 0;
	unsigned char *buf = NULL;
	struct msgr_event ev;
	uint64_t linger = 0, linger_ms = env_u64("STREAM_LINGER_MS", 2000);
	int err;

	st.role = "serve";
	st.entity = entity;
	st.mode = "any";
	printf("ready %s\n", msgr_addr(c));
	fflush(stdout);
	st.t0 = now_ms();
	for (;;) {
		int blocked = 0, busy = 0;

		/* every run we wait for is complete and its connection closed,
		 * or said BYE and has its BYE_ACK (a lossless runner's close
		 * may reach us only at net.resume_timeout, if its RESET went
		 * down with the last link): stay a little, for a runner whose
		 * BYE_ACK a reset took */
		size_t open_unfinished = 0;
		for (size_t i = 0; i < nconns; i++)
			open_unfinished += !(conns[i].bye && !conns[i].ack_pending);
		if (want >= 0 && st.completed >= (uint64_t)want && !open_unfinished) {
			if (!linger)
				linger = now_ms() + linger_ms;
			else if (now_ms() >= linger)
				break;
		} else {
			linger = 0;
		}
		if (stop_signal) {
			if (want >= 0)
				unfinished("stopped by signal %d with %llu of %ld runs complete",
					  (int)stop_signal, (unsigned long long)st.completed, want);
			break;
		}
		if (past_deadline()) {
			if (want >= 0)
				unfinished("deadline (STREAM_TIMEOUT) with %llu of %ld runs complete",
					  (unsigned long long)st.completed, want);
			for (size_t i = 0; i < nconns; i++)
				if (conns[i].hello)
					fprintf(stderr, "%s %s: at the deadline: %s: received up to seq %llu of %llu, "
						"sent up to %llu of %llu%s%s\n", ITEST_PROG, scenario, conns[i].what,
						(unsigned long long)(conns[i].rx.next - 1),
						(unsigned long long)conns[i].rx.count,
						(unsigned long long)(conns[i].next_send - 1),
						(unsigned long long)conns[i].to_send,
						conns[i].done_sent ? ", DONE sent" : "", conns[i].bye ? ", BYE came" : "");
				else
					fprintf(stderr, "%s %s: at the deadline: %s\n", ITEST_PROG, scenario,
						conns[i].what);
			break;
		}
		/* send on every connection that has something to send */
		for (size_t i = 0; i < nconns; i++) {
			struct sconn *s = &conns[i];

			if (!s->hello || s->dead)
				continue;
			if (s->maxsize > maxbuf) {
				free(buf);
				maxbuf = s->maxsize;
				buf = malloc(maxbuf);
				if (!buf)
					FATAL("out of memory");
			}
			if (s->next_send <= s->to_send) {
				blocked |= tx_some(s->k, buf, s->conn_id, TO_RUNNER, &s->next_send, s->to_send,
						   s->maxsize, &s->dead, s->what);
				busy = 1;
			}
			if (s->ack_pending && !s->dead) {
				unsigned char b[BYE_LEN] = { 0 };

				put32(b, MAGIC);
				put64(b + 8, s->conn_id);
				err = msgr_send(s->k, MT_BYE_ACK, b, sizeof(b));
				if (err == -EAGAIN)
					blocked = 1;
				else if (err == -ECONNRESET)
					s->dead = 1;
				else if (err)
					FATAL("%s: send BYE_ACK: %s", s->what, msgr_strerror(err));
				else
					s->ack_pending = 0;
			}
			if (!s->done_sent && !s->dead && s->rx.next > s->rx.count) {
				unsigned char d[DONE_LEN] = { 0 };

				put32(d, MAGIC);
				put64(d + 8, s->conn_id);
				put64(d + 16, s->rx.got);
				err = msgr_send(s->k, MT_DONE, d, sizeof(d));
				if (err == -EAGAIN)
					blocked = 1;
				else if (err == -ECONNRESET)
					s->dead = 1;
				else if (err)
					FATAL("%s: send DONE: %s", s->what, msgr_strerror(err));
				else
					s->done_sent = 1;
			}
		}
		/* then the events, a batch at a time */
		for (int n = 0; n < EVENT_BATCH; n++) {
			size_t i;

			err = msgr_next(c, &ev, n ? 0 : blocked ? 1 : busy ? 0 : 50);
			if (err == -EAGAIN)
				break;
			if (err)
				FATAL("msgr_next: %s", msgr_strerror(err));
			for (i = 0; i < nconns && conns[i].k != ev.conn; i++)
				;
			switch (ev.type) {
			case MSGR_EV_ACCEPTED:
				if (nconns == cap) {
					cap = cap ? cap * 2 : 16;
					conns = realloc(conns, cap * sizeof(*conns));
					if (!conns)
						FATAL("out of memory");
				}
				conns[nconns] = (struct sconn){ .k = ev.conn };
				snprintf(conns[nconns].what, sizeof(conns[nconns].what), "%s<-%s (no HELLO yet)",
					 entity, msgr_conn_peer(ev.conn));
				nconns++;
				st.conns++;
				break;
			case MSGR_EV_MESSAGE:
				if (i == nconns) {
					st.bad++;
					violation("a message on a handle never accepted");
				} else if (ev.msg_type == MT_HELLO) {
					serve_hello(&conns[i], ev.data, ev.len, entity);
				} else if (ev.msg_type == MT_DATA && conns[i].hello && !conns[i].bye) {
					rx_data(&conns[i].rx, conns[i].what, ev.data, ev.len);
				} else if (ev.msg_type == MT_BYE) {
					serve_bye(&conns[i], ev.data, ev.len);
				} else {
					st.bad++;
					violation("%s: a message of type %08x out of place (before HELLO, after BYE, "
						  "or of no known type)", conns[i].what, ev.msg_type);
				}
				msgr_event_release(c, &ev);
				break;
			case MSGR_EV_RESET:
			case MSGR_EV_REMOTE_RESET:
			case MSGR_EV_CONNECT_FAILED:
				if (i == nconns) {
					st.bad++;
					violation("%s on a handle never accepted", event_name(ev.type));
					break;
				}
				if (conns[i].bye && ev.type == MSGR_EV_RESET) {
					/* the runner closed it when it had everything */
				} else {
					struct sconn *s = &conns[i];

					if (ev.type == MSGR_EV_REMOTE_RESET)
						st.remote_resets++;
					else
						st.resets++;
					if (s->hello && s->mode != MSGR_LOSSY)
						violation("%s: %s (%s) on a %s connection, after receiving seq %llu "
							  "of %llu and sending %llu of %llu",
							  s->what, event_name(ev.type), msgr_strerror(ev.error),
							  mode_name(s->mode), (unsigned long long)(s->rx.next - 1),
							  (unsigned long long)s->rx.count,
							  (unsigned long long)(s->next_send - 1),
							  (unsigned long long)s->to_send);
				}
				msgr_conn_close(conns[i].k);
				rx_free(&conns[i].rx);
				conns[i] = conns[--nconns];
				break;
			case MSGR_EV_DAEMON_LOST:
				FATAL("the daemon went away");
			default:
				st.bad++;
				violation("unexpected event %s", event_name(ev.type));
				break;
			}
		}
	}
	for (size_t i = 0; i < nconns; i++)
		rx_free(&conns[i].rx);
	free(conns);
	free(buf);
	free(runs_done);
	msgr_detach(c);
	return finish();
}

/* ---- run ---- */

static int sc_run(const char *entity, const char *peer, const char *mode_s, uint64_t n, size_t maxsize)
{
	enum msgr_mode mode = parse_mode(mode_s);
	msgr_client *c;
	msgr_conn *k = NULL;
	unsigned char *buf;
	struct rx rx = { 0 };
	struct msgr_event ev;
	uint64_t conn_id = 0, send_n = 0, next_send = 1, run_id;
	uint32_t incarnation = 0;
	int hello_sent = 0, dead = 0, done = 0, connected = 0, bye_sent = 0, err;
	char what[160];

	if (!mode)
		fail("unknown mode %s (lossy, lossless or peer)", mode_s);
	if (maxsize < HDR || maxsize > (1u << 30))
		fail("MAXSIZE %zu: from %d to 1 GiB", maxsize, HDR);
	buf = malloc(maxsize);
	if (!buf)
		fail("out of memory");
	st.role = "run";
	st.entity = entity;
	st.mode = mode_s;
	misbehave_parse();
	mb.armed = mb.kind != MB_NONE;
	if (getrandom(&run_id, sizeof(run_id), 0) != sizeof(run_id))
		fail("getrandom: %s", strerror(errno));
	c = attach(entity);
	st.t0 = now_ms();
	while (!st.completed) {
		int blocked = 0;

		if (stop_signal)
			FATAL("stopped by signal %d", (int)stop_signal);
		if (past_deadline()) {
			unfinished("deadline (STREAM_TIMEOUT): sent %llu of %llu, received %llu of %llu; on %s: "
				  "sent up to seq %llu of %llu%s, received up to %llu of %llu%s%s%s",
				  (unsigned long long)st.sent, (unsigned long long)n,
				  (unsigned long long)st.received, (unsigned long long)n, k ? what : "no connection",
				  (unsigned long long)(next_send - 1), (unsigned long long)send_n,
				  hello_sent ? "" : " (HELLO not sent)", (unsigned long long)(rx.next - 1),
				  (unsigned long long)rx.count, done ? ", DONE came" : "",
				  connected ? "" : ", never CONNECTED", bye_sent ? ", BYE sent" : "");
			break;
		}
		if (!k) {
			/* a new incarnation: what we have not sent yet, and what
			 * we still lack */
			err = msgr_connect(c, peer, mode, &k);
			if (err)
				FATAL("connect %s: %s", peer, msgr_strerror(err));
			if (getrandom(&conn_id, sizeof(conn_id), 0) != sizeof(conn_id))
				FATAL("getrandom: %s", strerror(errno));
			incarnation++;
			st.conns++;
			send_n = n - st.sent;
			next_send = 1;
			hello_sent = dead = done = connected = bye_sent = 0;
			snprintf(what, sizeof(what), "%s->%s %s conn %016llx incarnation %u", entity, peer,
				 mode_s, (unsigned long long)conn_id, incarnation);
			rx_init(&rx, conn_id, TO_RUNNER, n - st.received, maxsize);
		}
		if (!hello_sent && !dead) {
			unsigned char h[HELLO_LEN] = { 0 };

			put32(h, MAGIC);
			put32(h + 4, (uint32_t)mode);
			put64(h + 8, conn_id);
			put64(h + 16, send_n);
			put64(h + 24, rx.count);
			put64(h + 32, maxsize);
			put64(h + 40, run_id);
			put32(h + 48, incarnation);
			err = msgr_send(k, MT_HELLO, h, sizeof(h));
			if (err == -EAGAIN)
				blocked = 1;
			else if (err == -ECONNRESET)
				dead = 1;
			else if (err)
				FATAL("%s: send HELLO: %s", what, msgr_strerror(err));
			else
				hello_sent = 1;
		}
		if (hello_sent && !dead && next_send <= send_n)
			blocked |= tx_some(k, buf, conn_id, TO_SERVER, &next_send, send_n, maxsize, &dead, what);
		if (hello_sent && !dead && !bye_sent && next_send > send_n && done && rx.next > rx.count) {
			/* everything both ways on this connection: say BYE */
			unsigned char b[BYE_LEN] = { 0 };

			put32(b, MAGIC);
			put64(b + 8, conn_id);
			err = msgr_send(k, MT_BYE, b, sizeof(b));
			if (err == -EAGAIN)
				blocked = 1;
			else if (err == -ECONNRESET)
				dead = 1;
			else if (err)
				FATAL("%s: send BYE: %s", what, msgr_strerror(err));
			else
				bye_sent = 1;
		}
		for (int i = 0; i < EVENT_BATCH; i++) {
			int idle = dead || (hello_sent && next_send > send_n);

			err = msgr_next(c, &ev, i ? 0 : blocked ? 1 : idle ? 20 : 0);
			if (err == -EAGAIN)
				break;
			if (err)
				FATAL("msgr_next: %s", msgr_strerror(err));
			if (ev.type == MSGR_EV_DAEMON_LOST)
				FATAL("the daemon went away");
			if (ev.conn != k) {
				st.bad++;
				violation("%s on a handle that is not the open connection", event_name(ev.type));
				msgr_event_release(c, &ev);
				continue;
			}
			switch (ev.type) {
			case MSGR_EV_CONNECTED:
				if (connected) {
					st.bad++;
					violation("%s: a second CONNECTED", what);
				}
				connected = 1;
				break;
			case MSGR_EV_MESSAGE:
				if (ev.msg_type == MT_DATA) {
					rx_data(&rx, what, ev.data, ev.len);
				} else if (ev.msg_type == MT_BYE_ACK) {
					const unsigned char *p = ev.data;

					if (!bye_sent || ev.len != BYE_LEN || get32(p) != MAGIC || get64(p + 8) != conn_id) {
						st.bad++;
						violation("%s: a bad or unasked-for BYE_ACK", what);
					} else {
						st.completed++; /* the end */
					}
				} else if (ev.msg_type == MT_DONE) {
					const unsigned char *p = ev.data;

					if (done || ev.len != DONE_LEN || get32(p) != MAGIC || get64(p + 8) != conn_id) {
						st.bad++;
						violation("%s: a bad or second DONE", what);
					} else if (get64(p + 16) != send_n) {
						/* the server counted less than we sent: only lossy may lose */
						if (mode != MSGR_LOSSY)
							violation("%s: the server received %llu of our %llu messages",
								  what, (unsigned long long)get64(p + 16),
								  (unsigned long long)send_n);
					}
					done = 1;
				} else {
					st.bad++;
					violation("%s: a message of unknown type %08x", what, ev.msg_type);
				}
				msgr_event_release(c, &ev);
				break;
			case MSGR_EV_RESET:
			case MSGR_EV_REMOTE_RESET:
			case MSGR_EV_CONNECT_FAILED:
				if (ev.type == MSGR_EV_RESET)
					st.resets++;
				else if (ev.type == MSGR_EV_REMOTE_RESET)
					st.remote_resets++;
				else
					st.connect_failed++;
				if (mode != MSGR_LOSSY)
					violation("%s: %s (%s) after sending seq %llu of %llu and receiving %llu of %llu",
						  what, event_name(ev.type), msgr_strerror(ev.error),
						  (unsigned long long)(next_send - 1), (unsigned long long)send_n,
						  (unsigned long long)(rx.next - 1), (unsigned long long)rx.count);
				/* this incarnation is over; the next one goes on */
				msgr_conn_close(k);
				k = NULL;
				if (ev.type == MSGR_EV_CONNECT_FAILED)
					usleep(10000);
				i = EVENT_BATCH;
				break;
			default:
				st.bad++;
				violation("%s: unexpected event %s", what, event_name(ev.type));
				break;
			}
		}
	}
	if (k)
		msgr_conn_close(k);
	rx_free(&rx);
	free(buf);
	msgr_detach(c);
	return finish();
}

int main(int argc, char **argv)
{
	static char scen[160];
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t secs;

	setvbuf(stdout, NULL, _IOLBF, 0);
	crc_init();
	if (crc32c(0, "123456789", 9) != 0xe3069283u)
		fail("CRC32C self-test");
	st.role = st.entity = st.mode = "?";
	secs = env_u64("STREAM_TIMEOUT", 120);
	deadline_ms = now_ms() + secs * 1000;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (argc >= 3) {
		snprintf(scen, sizeof(scen), "%s %s", argv[1], argv[2]);
		scenario = scen;
	}
	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "serve")) {
		deadline_ms += 15000;
		return sc_serve(argv[2], argc == 4 ? atol(argv[3]) : -1);
	}
	if (argc >= 6 && argc <= 7 && !strcmp(argv[1], "run")) {
		uint64_t n = strtoull(argv[5], NULL, 10);
		size_t maxsize = argc == 7 ? (size_t)strtoull(argv[6], NULL, 10) : 256 << 10;

		if (!n)
			fail("N must be a positive number, not %s", argv[5]);
		return sc_run(argv[2], argv[3], argv[4], n, maxsize);
	}
	fprintf(stderr, "usage: msgr-stream serve ENTITY [CONNS]\n"
			"       msgr-stream run ENTITY PEER_ADDR lossy|lossless|peer N [MAXSIZE]\n"
			"environment: STREAM_TIMEOUT (s, default 120), STREAM_POOL (bytes)\n");
	return 2;
}
