/*
 * recovery.c - link kills under a lossless stream.
 *
 * Over a pair of daemons of its own (hmac, global.inject = true) a paced
 * lossless one-way stream runs while the bench kills the active link
 * --kills times (`inject kill-link` on the control socket of the sender's
 * daemon); each kill's recovery time runs from the kill until the receiver
 * gets the first message sent after it. The stream must arrive exactly once
 * and in order throughout.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

#define REC_SIZE 64       /* a 64 B message ... */
#define REC_PACE_US 100   /* ... every 100 µs or so (a nanosleep between sends) */
#define REC_WAIT_MS 10000 /* a kill not recovered from in this long fails the case */

/* One 64 B message about every REC_PACE_US, stamped with its number and its
 * send time (CLOCK_MONOTONIC, which both processes share), until told to
 * stop. Paced, not flat out: a full window in flight would add its queueing
 * delay to every recovery time. */
static void rec_sender(void)
{
	msgr_client *c = bench_mc_attach("rec-tx", 0, 0);
	msgr_conn *k = bench_mc_connect(c, bench_sh->addr, &bench_sh->ready);
	unsigned char buf[REC_SIZE];
	struct bench_side *s = &bench_sh->side[0];
	uint64_t n = 0;

	bench_fill(buf, sizeof(buf));
	bench_sh->t_start = bench_now_ns();
	while (!atomic_load(&bench_sh->stop)) {
		uint64_t t = bench_now_ns();
		n++;
		bench_stamp(buf, (uint32_t)n);
		memcpy(buf + 8, &t, sizeof(t));
		bench_mc_send(k, (uint32_t)n, buf, sizeof(buf), s);
		bench_sleep_us(REC_PACE_US);
	}
	bench_sh->t_end = bench_now_ns();
	bench_mc_send(k, BENCH_END_SEQ, buf, sizeof(buf), s);
	bench_sh->sent = n;
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
	msgr_detach(c);
}

/* Every message exactly once and in order, or the case fails; then, for
 * each kill, the first message sent after it (messages arrive in send
 * order, so their send times only grow). */
static void rec_receiver(void)
{
	msgr_client *c = bench_mc_listen("rec-rx", bench_sh->addr, sizeof(bench_sh->addr),
					 &bench_sh->ready, 0);
	struct msgr_event ev;
	uint64_t n = 0, cap = 0, *st = NULL, *rt = NULL, *lat;
	double mean;

	while (bench_mc_next_data(c, &ev)) {
		uint64_t r = bench_now_ns(), t;
		uint32_t s;
		if (ev.msg_type != (uint32_t)(n + 1))
			bench_die("EXACTLY-ONCE VIOLATED: message %u arrived when %llu was due (%s)",
				  ev.msg_type, (unsigned long long)(n + 1),
				  ev.msg_type <= n ? "a duplicate" : "a gap: lost or reordered");
		if (ev.len != REC_SIZE)
			bench_die("EXACTLY-ONCE VIOLATED: message %u has %u bytes, sent %d",
				  ev.msg_type, (unsigned)ev.len, REC_SIZE);
		memcpy(&s, ev.data, sizeof(s));
		if (s != ev.msg_type)
			bench_die("EXACTLY-ONCE VIOLATED: message %u carries the payload of message %u",
				  ev.msg_type, s);
		memcpy(&t, (const unsigned char *)ev.data + 8, sizeof(t));
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			st = realloc(st, cap * sizeof(*st));
			rt = realloc(rt, cap * sizeof(*rt));
			if (!st || !rt)
				bench_die("out of memory");
		}
		st[n] = t;
		rt[n++] = r;
		atomic_store(&bench_sh->last_stamp, t);
		msgr_event_release(c, &ev);
	}
	msgr_event_release(c, &ev);
	/* every kill was published before the stop that ended the stream */
	for (unsigned i = 0, j = 0; i < bench_sh->nkills; i++) {
		while (j < n && st[j] < bench_sh->kill_ns[i])
			j++;
		bench_sh->first_ns[i] = j < n ? rt[j] : 0;
	}
	lat = malloc((n ? n : 1) * sizeof(*lat));
	if (!lat)
		bench_die("out of memory");
	for (uint64_t i = 0; i < n; i++)
		lat[i] = rt[i] - st[i];
	bench_lat_stats(lat, n, &bench_sh->lat_p50, &bench_sh->lat_p99, &mean);
	bench_sh->recvd = n;
	atomic_store(&bench_sh->done, 1);
	msgr_detach(c);
}

static void rec_child(void *arg, int role)
{
	bench_attach_sock = bench_dmn[role ? BENCH_D_REC_B : BENCH_D_REC_A].sock;
	bench_conn_mode = MSGR_LOSSLESS;
	if (role)
		rec_receiver();
	else
		rec_sender();
}

/* The daemons' counters of the replay, from perf dump. */
enum { RC_RESUMES, RC_REPLAYED, RC_DUP, RC_REDIALS, RC_INJECTED, NRC };
static const char *const rc_key[NRC] = { "resumes", "replayed_msgs", "dup_dropped", "redials",
					 "injected_failures" };

static int perf_counters(enum bench_daemon_id d, uint64_t *v)
{
	char *body;
	int err = bench_ctl_request(bench_dmn[d].ctl, "{\"prefix\":\"perf dump\"}", &body);

	for (int i = 0; i < NRC && !err; i++)
		err = bench_json_u64(body, rc_key[i], &v[i]);
	free(body);
	return err;
}

/* Until the receiver has a message sent at t or later; -1 on a child gone or
 * after REC_WAIT_MS. */
static int wait_stamp(uint64_t t)
{
	uint64_t end = bench_now_ns() + (uint64_t)REC_WAIT_MS * 1000000u;

	while (atomic_load(&bench_sh->last_stamp) < t) {
		if (bench_child_gone() || bench_now_ns() > end)
			return -1;
		bench_sleep_us(50);
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
		 bench_dmn[BENCH_D_REC_B].port);
	err = bench_ctl_request(bench_dmn[BENCH_D_REC_A].ctl, req, &body);
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
static double rec_ms[BENCH_MAX_REPEAT * BENCH_MAX_KILLS];
static unsigned nrec_ms, rec_runs;
static uint64_t rec_count[2][NRC], rec_msgs;
static double rec_lat50[BENCH_MAX_REPEAT], rec_lat99[BENCH_MAX_REPEAT], rec_rate[BENCH_MAX_REPEAT];

int bench_rec_ran(void)
{
	return nrec_ms > 0;
}

int bench_run_recovery(void)
{
	static const char name[] = "recovery";
	static const char *const roles[] = { "sender", "receiver" };
	struct bench_shared *sh = bench_sh;
	uint64_t c0[2][NRC], c1[2][NRC], t;
	double worst = 0, p50, p99;
	char why[512];
	int failed = 0;
	unsigned first = nrec_ms;

	memset(sh, 0, sizeof(*sh));
	if (perf_counters(BENCH_D_REC_A, c0[0]) || perf_counters(BENCH_D_REC_B, c0[1])) {
		bench_errmsg("%s: no perf dump from the daemons", name);
		return -1;
	}
	if (bench_spawn(name, 2, roles, rec_child, NULL))
		return -1;
	/* the stream flows, then a kill every kill_ms, each after the last
	 * one's recovery */
	if (wait_stamp(1)) {
		bench_errmsg("%s: the stream never started", name);
		failed = 1;
	}
	t = bench_now_ns();
	for (unsigned i = 0; i < bench_opt.kills && !failed; i++) {
		uint64_t at = (i ? sh->kill_ns[i - 1] : t) + (uint64_t)bench_opt.kill_ms * 1000000u, end;
		int err;
		while (bench_now_ns() < at)
			bench_sleep_us(1000);
		/* a link that is not up yet (a redial still in its handshake)
		 * cannot be killed: try again shortly */
		end = bench_now_ns() + (uint64_t)REC_WAIT_MS * 1000000u;
		while ((err = kill_link(why, sizeof(why))) && bench_now_ns() < end && !bench_child_gone())
			bench_sleep_us(1000);
		if (err) {
			bench_errmsg("%s: kill %u: %s", name, i + 1, why);
			failed = 1;
			break;
		}
		/* after the answer: the link is gone, so whatever the sender
		 * hands over from now on goes on a new one */
		sh->kill_ns[i] = bench_now_ns();
		sh->nkills = i + 1;
		if (wait_stamp(sh->kill_ns[i])) {
			if (bench_child_gone())
				bench_errmsg("%s: kill %u: a process of the case exited", name, i + 1);
			else
				bench_errmsg("%s: kill %u: nothing sent after it arrived within %d ms",
					     name, i + 1, REC_WAIT_MS);
			failed = 1;
		}
	}
	bench_sleep_us(50000);
	atomic_store(&sh->stop, 1);
	if (failed)
		bench_kill_kids();
	if (bench_reap(name, 60 + REC_WAIT_MS / 1000) || failed)
		return -1;
	if (sh->recvd != sh->sent) {
		bench_errmsg("%s: EXACTLY-ONCE VIOLATED: sent %llu messages, %llu arrived", name,
			     (unsigned long long)sh->sent, (unsigned long long)sh->recvd);
		return -1;
	}
	if (perf_counters(BENCH_D_REC_A, c1[0]) || perf_counters(BENCH_D_REC_B, c1[1])) {
		bench_errmsg("%s: no perf dump from the daemons", name);
		return -1;
	}
	for (unsigned i = 0; i < sh->nkills; i++) {
		double ms;
		if (!sh->first_ns[i]) {
			bench_errmsg("%s: kill %u: the receiver has nothing sent after it", name, i + 1);
			return -1;
		}
		ms = (double)(sh->first_ns[i] - sh->kill_ns[i]) / 1e6;
		if (nrec_ms < BENCH_NROWS(rec_ms))
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
	rec_lat99[rec_runs] = sh->lat_p99;
	/* this run's kills, for results.json: recovery times as its p50/p99 */
	if (nrec_ms > first) {
		unsigned n = nrec_ms - first;
		double *v = malloc(n * sizeof(*v));
		if (v) {
			memcpy(v, rec_ms + first, n * sizeof(*v));
			qsort(v, n, sizeof(*v), bench_cmp_double);
			p50 = v[n / 2];
			p99 = v[(size_t)n * 99 / 100];
			free(v);
			bench_put(BENCH_NET, BENCH_W_RECOVERY, REC_SIZE, BENCH_F_P50, p50 * 1e3);
			bench_put(BENCH_NET, BENCH_W_RECOVERY, REC_SIZE, BENCH_F_P99, p99 * 1e3);
		}
	}
	bench_put(BENCH_NET, BENCH_W_RECOVERY, REC_SIZE, BENCH_F_RATE, rec_rate[rec_runs]);
	rec_runs++;
	fprintf(stderr, "  %-38s %u kills, worst %.2f ms; %llu msgs exactly once in order; "
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
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void rec_line(FILE *f, int md, const char *what, const char *val)
{
	if (md)
		fprintf(f, "| %s | %s |\n", what, val);
	else {
		bench_cell(f, what, 44, 1);
		bench_cell(f, val, 12, 0);
		fputc('\n', f);
	}
}

/* The recovery table: time to the first message after a kill, and what the
 * daemons replayed. */
void bench_rec_table(FILE *f, int md)
{
	char b[3][48];
	double p50, p99, mx;

	if (!nrec_ms)
		return;
	qsort(rec_ms, nrec_ms, sizeof(*rec_ms), bench_cmp_double);
	p50 = rec_ms[nrec_ms / 2];
	p99 = rec_ms[(size_t)nrec_ms * 99 / 100];
	mx = rec_ms[nrec_ms - 1];
	if (md)
		fprintf(f, "| recovery (msgrd-net pair, MSGR_LOSSLESS) | |\n|---|---:|\n");
	else
		fprintf(f, "recovery (msgrd-net pair, MSGR_LOSSLESS)\n");
	snprintf(b[0], sizeof(b[0]), "%u x %u", rec_runs, bench_opt.kills);
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
	snprintf(b[0], sizeof(b[0]), "%.0f", median_of(rec_rate, rec_runs));
	rec_line(f, md, "stream rate (msg/s)", b[0]);
	snprintf(b[0], sizeof(b[0]), "%.1f", median_of(rec_lat50, rec_runs));
	snprintf(b[1], sizeof(b[1]), "%.1f", median_of(rec_lat99, rec_runs));
	rec_line(f, md, "stream latency p50, kills included (µs)", b[0]);
	rec_line(f, md, "stream latency p99, kills included (µs)", b[1]);
}

void bench_rec_notes(FILE *f, int md)
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
		REC_SIZE, REC_PACE_US, bench_opt.kill_ms);
}
