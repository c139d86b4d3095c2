/*
 * channels.c - many lossless channels between two daemons (--channels N).
 *
 * Over a fresh msgrd-net pair of its own (hmac), one process attaches C
 * client entities to daemon A, another S server entities to daemon B (C x S
 * >= N, C and S about sqrt(N)), and the clients open N MSGR_LOSSLESS
 * connections, channel i from client i / S to server i % S: what a host of
 * storage clients does to a host of OSDs. Then one 64 B stream round-robin
 * over all N channels, message m on channel m mod N, with the same data work
 * as the one-way cases: per-channel sequence numbers in msg_type, a stamp,
 * the channel's number in the payload, every byte read.
 *
 * Measured: the time to attach, the time to open all N (the first connect
 * until every channel is CONNECTED on A and ACCEPTED on B), the stream's
 * rate after a warm-up that cycles every entity's pool and rings, and both
 * daemons' VmRSS (and RssAnon) after attaching, after opening and after the
 * stream, from /proc/PID/status.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define CH_SIZE 64
#define CH_POOL (1u << 20)   /* each entity's pool, per direction */
#define CH_BATCH 256         /* events of one entity before the next one's */
#define CH_IDLE_MS 30000     /* the servers may wait this long for anything */
#define CH_OPEN_MS 120000    /* opening all N may take this long */

static unsigned nch, ncl, nsv;

static void shape(unsigned n)
{
	unsigned c = 1;

	while ((c + 1) * (c + 1) <= n)
		c++;
	ncl = c;
	nsv = (n + c - 1) / c;
	nch = n;
}

static msgr_client *attach_one(const char *kind, unsigned i, const char *sock)
{
	struct msgr_attach_opts o = { .socket_path = sock, .poll_us = bench_wait_poll_us,
				      .pool_size = CH_POOL };
	char ent[64];
	msgr_client *c;
	int err;

	snprintf(ent, sizeof(ent), "bench.%s-%d-%u", kind, (int)getpid(), i);
	err = msgr_attach(ent, &o, &c);
	if (err)
		bench_die("attach %s (%u): %s", ent, i, msgr_strerror(err));
	return c;
}

static void sample_rss(int phase)
{
	for (int d = 0; d < 2; d++)
		bench_proc_rss(bench_dmn[d ? BENCH_D_CH_B : BENCH_D_CH_A].pid, &bench_sh->rss[phase][d],
			       &bench_sh->anon[phase][d]);
}

/* ---- role 0: the clients on A, and the stream ---- */

static msgr_client **cls;
static struct pollfd *cfds;
static uint64_t nconnected;

/* Every client's events: CONNECTED counts, anything else is a failure. */
static int drain_clients(void)
{
	int any = 0;

	for (unsigned e = 0; e < ncl; e++) {
		struct msgr_event ev;
		int err, n = 0;

		while (n < CH_BATCH && (err = msgr_next(cls[e], &ev, 0)) == 0) {
			n++;
			if (ev.type != MSGR_EV_CONNECTED)
				bench_die("client %u: event %d on the channel to %s: %s", e, (int)ev.type,
					  ev.conn ? msgr_conn_peer(ev.conn) : "-", msgr_strerror(ev.error));
			nconnected++;
		}
		if (n < CH_BATCH && err != -EAGAIN)
			bench_die("msgr_next (client %u): %s", e, msgr_strerror(err));
		any |= n > 0;
	}
	return any;
}

static void ch_clients(void)
{
	struct bench_shared *sh = bench_sh;
	msgr_conn **cc = calloc(nch, sizeof(*cc));
	uint32_t *seq = calloc(nch, sizeof(*seq));
	unsigned char buf[CH_SIZE];
	uint64_t t0, m = 0, tw = 0;
	char peer[320];

	cls = calloc(ncl, sizeof(*cls));
	cfds = calloc(ncl, sizeof(*cfds));
	if (!cc || !seq || !cls || !cfds)
		bench_die("out of memory");
	bench_wait_peer();
	t0 = bench_now_ns();
	for (unsigned e = 0; e < ncl; e++) {
		cls[e] = attach_one("chc", e, bench_dmn[BENCH_D_CH_A].sock);
		cfds[e].fd = msgr_fd(cls[e]);
		cfds[e].events = POLLIN;
	}
	sh->attach_ns = bench_now_ns() - t0;
	sample_rss(0);

	/* open: client by client, taking events as we go */
	t0 = bench_now_ns();
	for (unsigned i = 0; i < nch; i++) {
		int err;
		snprintf(peer, sizeof(peer), "%s%u", sh->addr, i % nsv);
		while ((err = msgr_connect(cls[i / nsv], peer, MSGR_LOSSLESS, &cc[i])) == -EAGAIN)
			if (!drain_clients())
				(void)!poll(cfds, ncl, 1);
		if (err)
			bench_die("connect channel %u to %s: %s", i, peer, msgr_strerror(err));
		if (i % nsv == nsv - 1)
			drain_clients();
	}
	while (nconnected < nch || atomic_load(&sh->accepted) < nch) {
		if (bench_now_ns() - t0 > (uint64_t)CH_OPEN_MS * 1000000u)
			bench_die("%llu of %u channels connected, %llu accepted after %d s",
				  (unsigned long long)nconnected, nch,
				  (unsigned long long)atomic_load(&sh->accepted), CH_OPEN_MS / 1000);
		if (!drain_clients())
			(void)!poll(cfds, ncl, 1);
	}
	sh->open_ns = bench_now_ns() - t0;
	sample_rss(1);

	/* the stream: message m on channel m mod N */
	bench_fill(buf, sizeof(buf));
	while (bench_sending(m, &tw)) {
		unsigned i = (unsigned)(m % nch);
		m++;
		seq[i]++;
		bench_stamp(buf, seq[i]);
		memcpy(buf + 4, &i, sizeof(i));
		bench_mc_send(cc[i], seq[i], buf, sizeof(buf), &sh->side[0]);
		if (i == nch - 1)
			drain_clients(); /* a reset would show here */
	}
	bench_window_end(0);
	sh->total = m;
	sh->sent = m - bench_oneway_warm;
	atomic_store(&sh->sent_all, 1);
	if (bench_wait_flag(&sh->done, 120000))
		bench_die("the servers did not get everything");
	sample_rss(2);
	atomic_store(&sh->stop, 1); /* the servers may detach now */
	for (unsigned e = 0; e < ncl; e++)
		msgr_detach(cls[e]);
}

/* ---- role 1: the servers on B ---- */

/* The client number at the end of an accepted connection's peer address. */
static long client_of(msgr_conn *k)
{
	const char *p = msgr_conn_peer(k), *dash = p ? strrchr(p, '-') : NULL;
	char *end;
	long v;

	if (!dash)
		return -1;
	v = strtol(dash + 1, &end, 10);
	return *end || v < 0 || (unsigned long)v >= ncl ? -1 : v;
}

static void ch_servers(void)
{
	struct bench_shared *sh = bench_sh;
	msgr_client **svs = calloc(nsv, sizeof(*svs));
	struct pollfd *pfds = calloc(nsv, sizeof(*pfds));
	msgr_conn **sc = calloc(nch, sizeof(*sc));
	uint32_t *got = calloc(nch, sizeof(*got));
	unsigned char *busy = calloc(nsv, 1);
	uint64_t n = 0, bytes = 0, last = bench_now_ns();
	char *dash;

	if (!svs || !pfds || !sc || !got || !busy)
		bench_die("out of memory");
	for (unsigned e = 0; e < nsv; e++) {
		svs[e] = attach_one("chs", e, bench_dmn[BENCH_D_CH_B].sock);
		pfds[e].fd = msgr_fd(svs[e]);
		pfds[e].events = POLLIN;
	}
	/* the address of server 0 without its number */
	snprintf(sh->addr, sizeof(sh->addr), "%s", msgr_addr(svs[0]));
	dash = strrchr(sh->addr, '-');
	if (!dash)
		bench_die("an address without '-': %s", sh->addr);
	dash[1] = 0;
	atomic_store(&sh->ready, 1);

	/* as an application with many entities would: wait on their fds and
	 * visit the ones that have something, or that stopped at CH_BATCH
	 * (those are not armed for a wakeup) */
	for (unsigned e = 0; e < nsv; e++)
		busy[e] = 1;
	while (!atomic_load(&sh->sent_all) || n < sh->total) {
		int any = 0, more = 0;
		for (unsigned e = 0; e < nsv; e++) {
			struct msgr_event ev;
			int err, k = 0;
			if (!busy[e] && !(pfds[e].revents & POLLIN))
				continue;
			while (k < CH_BATCH && (err = msgr_next(svs[e], &ev, 0)) == 0) {
				uint32_t ci;
				long c;
				k++;
				if (ev.type == MSGR_EV_ACCEPTED) {
					c = client_of(ev.conn);
					ci = c < 0 ? UINT32_MAX : (uint32_t)c * nsv + e;
					if (ci >= nch || sc[ci])
						bench_die("server %u: ACCEPTED from %s, not one of ours or twice",
							  e, msgr_conn_peer(ev.conn));
					sc[ci] = ev.conn;
					atomic_fetch_add(&sh->accepted, 1);
					continue;
				}
				if (ev.type != MSGR_EV_MESSAGE)
					bench_die("server %u: event %d on the channel from %s: %s", e,
						  (int)ev.type, ev.conn ? msgr_conn_peer(ev.conn) : "-",
						  msgr_strerror(ev.error));
				if (ev.len < 8)
					bench_die("server %u: a message of %zu bytes", e, ev.len);
				memcpy(&ci, (const unsigned char *)ev.data + 4, sizeof(ci));
				if (ci >= nch || ci % nsv != e || sc[ci] != ev.conn)
					bench_die("server %u: a message for channel %u on another handle",
						  e, ci);
				bench_check(ev.msg_type, got[ci] + 1, ev.data, ev.len, CH_SIZE);
				got[ci]++;
				bench_received(++n, ev.len, &bytes);
				msgr_event_release(svs[e], &ev);
			}
			if (k < CH_BATCH && err != -EAGAIN)
				bench_die("msgr_next (server %u): %s", e, msgr_strerror(err));
			busy[e] = k == CH_BATCH;
			more |= busy[e];
			any |= k > 0;
		}
		if (any)
			last = bench_now_ns();
		else if (bench_now_ns() - last > (uint64_t)CH_IDLE_MS * 1000000u)
			bench_die("nothing for %d ms: %llu messages in, %llu accepted", CH_IDLE_MS,
				  (unsigned long long)n, (unsigned long long)atomic_load(&sh->accepted));
		if (poll(pfds, nsv, more ? 0 : 5) < 0 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
	}
	bench_receiver_done(n, bytes);
	atomic_store(&sh->done, 1);
	if (bench_wait_flag(&sh->stop, 60000))
		bench_die("the clients did not finish");
	for (unsigned e = 0; e < nsv; e++)
		msgr_detach(svs[e]);
}

static void ch_child(void *arg, int role)
{
	bench_raise_nofile(); /* 4 fds per attached entity */
	bench_sampled[0] = bench_dmn[BENCH_D_CH_A].pid;
	bench_sampled[1] = bench_dmn[BENCH_D_CH_B].pid;
	if (role)
		ch_servers();
	else
		ch_clients();
}

static double cpu_us(const struct bench_psample *a, const struct bench_psample *b)
{
	return a->ok && b->ok ? (double)(b->cpu_ns - a->cpu_ns) / 1e3 : NAN;
}

static void put(enum bench_field f, double v)
{
	bench_put(BENCH_NET, BENCH_W_CHANNELS, CH_SIZE, f, v);
}

static double per_chan(long kb1, long kb0)
{
	return kb1 < 0 || kb0 < 0 ? NAN : (double)(kb1 - kb0) * 1024.0 / nch;
}

int bench_run_channels(unsigned n)
{
	static const char *const roles[] = { "clients", "servers" };
	struct bench_shared *sh = bench_sh;
	char name[64];
	double secs, rate, cpu[4];
	char *body = NULL;
	uint64_t peak = 0;
	static unsigned runs;

	shape(n);
	snprintf(name, sizeof(name), "channels %u (%u x %u)", nch, ncl, nsv);
	memset(sh, 0, sizeof(*sh));
	/* Warm, as the figures are and as the one-channel case is
	 * (its warm-up cycles its pool): every entity's pool (1,024 chunks of
	 * CH_POOL) and rings (4,096 slots) used once through before the
	 * clock starts. Without it the one second measured was mostly page
	 * faults on both sides: 120k msg/s over 1 s, 570k over 6 s. */
	bench_oneway_warm = nch + (uint64_t)(ncl > nsv ? ncl : nsv) * 4096 + bench_warm_for(CH_SIZE);
	if (bench_spawn(name, 2, roles, ch_child, NULL))
		return -1;
	if (bench_reap(name, 240 + (unsigned)(bench_opt.seconds * 4)))
		return -1;
	if (sh->recvd != sh->sent || !sh->recvd) {
		bench_errmsg("%s: sent %llu messages, %llu arrived", name, (unsigned long long)sh->sent,
			     (unsigned long long)sh->recvd);
		return -1;
	}
	secs = (double)(sh->t_end - sh->t_start) / 1e9;
	rate = (double)sh->recvd / secs;
	/* A's one session (to B): the most its link held that the kernel had
	 * not taken, since the daemons started */
	if (!bench_ctl_request(bench_dmn[BENCH_D_CH_A].ctl, "{\"prefix\":\"sessions\"}", &body) &&
	    !bench_json_u64(body, "backlog_peak_bytes", &peak))
		put(BENCH_F_BACKLOG_KB, (double)peak / 1024.0);
	free(body);
	/* CPU per message: clients, servers, daemon A, daemon B */
	cpu[0] = cpu_us(&sh->side[0].w0, &sh->side[0].w1) / (double)sh->recvd;
	cpu[1] = cpu_us(&sh->side[1].w0, &sh->side[1].w1) / (double)sh->recvd;
	cpu[2] = cpu_us(&sh->d0[0], &sh->d1[0]) / (double)sh->recvd;
	cpu[3] = cpu_us(&sh->d0[1], &sh->d1[1]) / (double)sh->recvd;
	put(BENCH_F_CPU, cpu[0] + cpu[1] + cpu[2] + cpu[3]);
	put(BENCH_F_RATE, rate);
	put(BENCH_F_MBS, (double)sh->bytes / secs / 1e6);
	put(BENCH_F_NCHAN, nch);
	put(BENCH_F_ATTACH_MS, (double)sh->attach_ns / 1e6);
	put(BENCH_F_OPEN_MS, (double)sh->open_ns / 1e6);
	/* Memory from the first run only: later runs (--repeat) reuse the
	 * pair, whose heaps keep what the first freed, so their growth (about
	 * 200 B a channel against 1,260) would make the median, and the
	 * target, look better than a fresh daemon is. */
	if (runs++ == 0) {
		put(BENCH_F_BPC_A, per_chan(sh->rss[1][0], sh->rss[0][0]));
		put(BENCH_F_BPC_B, per_chan(sh->rss[1][1], sh->rss[0][1]));
		put(BENCH_F_BPCS_A, per_chan(sh->rss[2][0], sh->rss[0][0]));
		put(BENCH_F_BPCS_B, per_chan(sh->rss[2][1], sh->rss[0][1]));
		put(BENCH_F_ANONO_A, per_chan(sh->anon[1][0], sh->anon[0][0]));
		put(BENCH_F_ANONO_B, per_chan(sh->anon[1][1], sh->anon[0][1]));
		put(BENCH_F_ANON_A, per_chan(sh->anon[2][0], sh->anon[0][0]));
		put(BENCH_F_ANON_B, per_chan(sh->anon[2][1], sh->anon[0][1]));
	}
	fprintf(stderr, "  %-38s attach %.0f ms, open %.0f ms, %10.0f msg/s (%.2f s, %llu msgs, "
			"%llu EAGAIN); VmRSS KiB A %ld/%ld/%ld, B %ld/%ld/%ld (attached/open/streamed)\n",
		name, (double)sh->attach_ns / 1e6, (double)sh->open_ns / 1e6, rate, secs,
		(unsigned long long)sh->recvd, (unsigned long long)sh->side[0].eagain, sh->rss[0][0],
		sh->rss[1][0], sh->rss[2][0], sh->rss[0][1], sh->rss[1][1], sh->rss[2][1]);
	fprintf(stderr, "  %-38s CPU µs per msg: clients %.2f, servers %.2f, daemon A %.2f, daemon B "
			"%.2f; A's session backlog peak %.0f KiB\n", "", cpu[0], cpu[1], cpu[2], cpu[3],
		(double)peak / 1024.0);
	return 0;
}
