/*
 * mixed.c - a 64 B ping-pong beside a bulk stream of 16 MiB messages.
 *
 * msgrd-net: over a pair of daemons of its own (hmac, global.max_message =
 * 32M), entity ping on A and echo on B run a ping-pong on one lossless
 * channel while entity bulk-tx on A streams 16 MiB lossless messages to
 * bulk-rx on B: a second channel of the same session, the same link. tcp:
 * the same over two loopback connections, one each, as a reference.
 *
 * The ping-pong first runs alone (idle session), then the bulk stream
 * starts, and once its first message is in, the ping-pong runs again under
 * it. Both phases check every message as the ping-pong cases do; the bulk
 * receiver checks the stamp and reads all 16 MiB of every message. The
 * figure of merit is p99 under the bulk / p99 idle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define BULK_POOL (64u << 20) /* the bulk entities' pools, per direction */

/* Round trips per phase: a quarter of --rtt-count, at least 200; the
 * phase under the bulk stream also stops after BUSY_S (1 s with --quick). */
static uint64_t phase_rounds(void)
{
	uint64_t n = bench_opt.rtt_count / 4;

	return n < 200 ? 200 : n;
}

static double busy_s(void)
{
	return bench_opt.quick ? 1.0 : 3.0;
}

/* One round trip, path by path. */
struct ping {
	msgr_client *c;
	msgr_conn *k;
	unsigned char *buf; /* msgrd: the payload; tcp: the whole frame */
	struct bench_rbuf rb;
	int fd;
};

static void ping_once(const struct bench_run *ru, struct ping *pg, uint32_t seq)
{
	if (ru->path == BENCH_NET) {
		struct msgr_event ev;
		bench_stamp(pg->buf, seq);
		bench_mc_send(pg->k, seq, pg->buf, BENCH_PP_SIZE, NULL);
		bench_mc_next(pg->c, &ev);
		if (ev.type != MSGR_EV_MESSAGE)
			bench_die("expected a reply, got event %d", (int)ev.type);
		bench_check(ev.msg_type, seq, ev.data, ev.len, BENCH_PP_SIZE);
		msgr_event_release(pg->c, &ev);
	} else {
		struct bench_frame h;
		unsigned char *p;
		bench_set_seq(pg->buf, seq);
		bench_write_all(pg->fd, pg->buf, sizeof(h) + BENCH_PP_SIZE);
		p = bench_rb_frame(&pg->rb, &h);
		bench_check(h.seq, seq, p, h.len, BENCH_PP_SIZE);
	}
}

/* A round trip beside the bulk slower than this is split into its way
 * there (ping -> A -> B -> echo) and back, by the echo's stamp. */
#define SLOW_NS 1000000ull

/* Up to n round trips (after warm ones), or until deadline (0: none);
 * their latencies into lat; how many were measured. */
static uint64_t ping_phase(const struct bench_run *ru, struct ping *pg, uint32_t *seq,
			   uint64_t warm, uint64_t n, uint64_t deadline, uint64_t *lat)
{
	uint64_t i;

	for (i = 0; i < warm; i++)
		ping_once(ru, pg, ++*seq);
	for (i = 0; i < n && (!deadline || bench_now_ns() < deadline); i++) {
		uint64_t t0 = bench_now_ns(), t1;
		ping_once(ru, pg, ++*seq);
		t1 = bench_now_ns();
		lat[i] = t1 - t0;
		if (deadline && lat[i] > SLOW_NS && atomic_load(&bench_sh->echo_seq) == *seq) {
			uint64_t e = atomic_load(&bench_sh->echo_ns);
			bench_sh->slow_rounds++;
			bench_sh->slow_there_ns += e - t0;
			bench_sh->slow_back_ns += t1 - e;
		}
	}
	return i;
}

static void mix_ping(struct bench_run *ru)
{
	struct bench_shared *sh = bench_sh;
	uint64_t n = phase_rounds(), *lat = malloc(n * sizeof(*lat));
	struct ping pg = { .fd = ru->fd[0] };
	uint32_t seq = 0;

	if (!lat)
		bench_die("out of memory");
	if (ru->path == BENCH_NET) {
		pg.c = bench_mc_attach("mix-ping", 0, 0);
		pg.k = bench_mc_connect(pg.c, sh->addr, &sh->ready);
		pg.buf = malloc(BENCH_PP_SIZE);
		if (!pg.buf)
			bench_die("out of memory");
		bench_fill(pg.buf, BENCH_PP_SIZE);
	} else {
		pg.buf = bench_sock_frame_buf(BENCH_PP_SIZE);
		bench_rb_init(&pg.rb, pg.fd, BENCH_PP_SIZE);
		bench_wait_peer();
	}
	sh->idle_rounds = ping_phase(ru, &pg, &seq, bench_warmup_rounds(), n, 0, lat);
	bench_lat_stats(lat, sh->idle_rounds, &sh->idle_p50, &sh->idle_p99, &sh->idle_mean);

	atomic_store(&sh->echo_on, 1);
	atomic_store(&sh->bulk_go, 1);
	{
		uint64_t end = bench_now_ns() + 60000000000ull;
		while (atomic_load(&sh->bulk_recvd) < 1) {
			if (bench_now_ns() > end)
				bench_die("the bulk stream did not start within 60 s");
			bench_sleep_us(500);
		}
	}
	sh->busy_rounds = ping_phase(ru, &pg, &seq, 0, n,
				     bench_now_ns() + (uint64_t)(busy_s() * 1e9), lat);
	bench_lat_stats(lat, sh->busy_rounds, &sh->busy_p50, &sh->busy_p99, &sh->busy_mean);
	atomic_store(&sh->bulk_stop, 1);
	atomic_store(&sh->echo_on, 0);

	/* the echo's end marker */
	if (ru->path == BENCH_NET) {
		bench_mc_send(pg.k, BENCH_END_SEQ, pg.buf, BENCH_PP_SIZE, NULL);
	} else {
		bench_set_seq(pg.buf, BENCH_END_SEQ);
		bench_write_all(pg.fd, pg.buf, sizeof(struct bench_frame) + BENCH_PP_SIZE);
	}
	if (bench_wait_flag(&sh->done, 60000) || bench_wait_flag(&sh->bulk_done, 60000))
		bench_die("the echo or the bulk stream did not finish");
	if (pg.c)
		msgr_detach(pg.c);
}

static void bulk_tx(struct bench_run *ru)
{
	struct bench_shared *sh = bench_sh;
	struct bench_frame end = { .len = 0, .seq = BENCH_END_SEQ };
	msgr_client *c = NULL;
	msgr_conn *k = NULL;
	unsigned char *f;
	uint32_t n = 0;

	/* tcp: a whole frame; msgrd: the payload, after an unused header */
	f = bench_sock_frame_buf(BENCH_BULK_SIZE);
	if (ru->path == BENCH_NET) {
		c = bench_mc_attach("mix-bulk-tx", BULK_POOL, 1);
		k = bench_mc_connect(c, sh->bulk_addr, &sh->bulk_ready);
	}
	if (bench_wait_flag(&sh->bulk_go, 600000))
		bench_die("never told to start");
	while (!atomic_load(&sh->bulk_stop)) {
		n++;
		bench_set_seq(f, n);
		if (ru->path == BENCH_NET) {
			int err = msgr_send(k, n, f + sizeof(end), BENCH_BULK_SIZE); /* blocking */
			if (err)
				bench_die("msgr_send of %u bytes: %s", BENCH_BULK_SIZE, msgr_strerror(err));
		} else {
			bench_write_all(ru->bfd[0], f, sizeof(end) + BENCH_BULK_SIZE);
		}
	}
	if (ru->path == BENCH_NET)
		bench_mc_send(k, BENCH_END_SEQ, &end, sizeof(end), NULL);
	else
		bench_write_all(ru->bfd[0], &end, sizeof(end));
	if (bench_wait_flag(&sh->bulk_done, 60000))
		bench_die("the bulk receiver did not finish");
	if (c)
		msgr_detach(c);
}

static void bulk_rx(struct bench_run *ru)
{
	struct bench_shared *sh = bench_sh;
	msgr_client *c = NULL;
	struct bench_rbuf rb;
	uint64_t n = 0;

	if (ru->path == BENCH_NET)
		c = bench_mc_listen("mix-bulk-rx", sh->bulk_addr, sizeof(sh->bulk_addr),
				    &sh->bulk_ready, BULK_POOL);
	else
		bench_rb_init(&rb, ru->bfd[1], BENCH_BULK_SIZE);
	if (bench_wait_flag(&sh->bulk_go, 600000))
		bench_die("never told to start");
	for (;;) {
		if (ru->path == BENCH_NET) {
			struct msgr_event ev;
			if (!bench_mc_next_data(c, &ev)) {
				msgr_event_release(c, &ev);
				break;
			}
			bench_check(ev.msg_type, (uint32_t)(n + 1), ev.data, ev.len, BENCH_BULK_SIZE);
			msgr_event_release(c, &ev);
		} else {
			struct bench_frame h;
			unsigned char *p = bench_rb_frame(&rb, &h);
			if (h.seq == BENCH_END_SEQ)
				break;
			bench_check(h.seq, (uint32_t)(n + 1), p, h.len, BENCH_BULK_SIZE);
		}
		if (++n == 1)
			sh->bulk_t0 = bench_now_ns();
		sh->bulk_t1 = bench_now_ns();
		atomic_store(&sh->bulk_recvd, n);
	}
	sh->bulk_msgs = n;
	atomic_store(&sh->bulk_done, 1);
	if (c)
		msgr_detach(c);
}

static void mix_child(void *arg, int role)
{
	struct bench_run *ru = arg;
	/* role 0 ping, 1 echo, 2 bulk-tx, 3 bulk-rx: even roles on A */
	int mine = role & 1;

	bench_sampled[0] = bench_sampled[1] = 0;
	bench_attach_sock = bench_dmn[mine ? BENCH_D_MIX_B : BENCH_D_MIX_A].sock;
	bench_conn_mode = MSGR_LOSSLESS;
	for (int i = 0; i < 2; i++) {
		if (ru->fd[i] >= 0 && !(role < 2 && i == mine))
			close(ru->fd[i]);
		if (ru->bfd[i] >= 0 && !(role >= 2 && i == mine))
			close(ru->bfd[i]);
	}
	switch (role) {
	case 0:
		mix_ping(ru);
		break;
	case 1:
		if (ru->path == BENCH_NET)
			bench_msgrd_ponger(ru);
		else
			bench_sock_ponger(ru);
		break;
	case 2:
		bulk_tx(ru);
		break;
	default:
		bulk_rx(ru);
		break;
	}
}

/* A mixed daemon's event loop figures (msgrctl(8): loop_stalls,
 * loop_busy_max_us, loop_cpu_wait_us); ok 0 if it could not be read. */
struct loopfig {
	uint64_t stalls, max_us, wait_us;
	int ok;
};

static struct loopfig loop_figures(enum bench_daemon_id d)
{
	struct loopfig f = { 0 };
	char *body = NULL;

	if (!bench_ctl_request(bench_dmn[d].ctl, "{\"prefix\":\"perf dump\"}", &body))
		f.ok = !bench_json_u64(body, "loop_stalls", &f.stalls) &&
		       !bench_json_u64(body, "loop_busy_max_us", &f.max_us) &&
		       !bench_json_u64(body, "loop_cpu_wait_us", &f.wait_us);
	free(body);
	return f;
}

/* Where a ping's time went, from each daemon's side: its loop turns over
 * 1 ms during the case (nothing else moved), its longest turn since it
 * started, and the share of the case it was ready to run without a CPU. */
static void loop_report(const struct loopfig before[2], double secs)
{
	static const enum bench_daemon_id ds[2] = { BENCH_D_MIX_A, BENCH_D_MIX_B };

	for (int i = 0; i < 2; i++) {
		struct loopfig after = loop_figures(ds[i]);
		if (!before[i].ok || !after.ok || secs <= 0)
			continue;
		fprintf(stderr, "  %-38s daemon %c: %llu loop turns over 1 ms in %.1f s, longest since start %.1f ms; "
				"waited for a CPU %.0f%% of the time\n", "", i ? 'B' : 'A',
			(unsigned long long)(after.stalls - before[i].stalls), secs, after.max_us / 1e3,
			100.0 * (double)(after.wait_us - before[i].wait_us) / 1e6 / secs);
	}
}

int bench_run_mixed(enum bench_path p)
{
	struct loopfig lf[2] = { { 0 } };
	uint64_t t0;
	static const char *const roles[] = { "ping", "echo", "bulk sender", "bulk receiver" };
	struct bench_run ru = { .path = p, .kind = BENCH_PINGPONG, .size = BENCH_PP_SIZE,
				.fd = { -1, -1 }, .bfd = { -1, -1 }, .efd = { -1, -1 } };
	struct bench_shared *sh = bench_sh;
	char name[64];
	double bsecs;
	int err = 0, failed;

	snprintf(name, sizeof(name), "mixed %s", bench_paths[p].name);
	if (p == BENCH_TCP && ((err = bench_tcp_pair(ru.fd)) || (err = bench_tcp_pair(ru.bfd)))) {
		bench_errmsg("%s: setting up: %s", name, strerror(-err));
		failed = 1;
		goto out;
	}
	memset(sh, 0, sizeof(*sh));
	if (p == BENCH_NET) {
		lf[0] = loop_figures(BENCH_D_MIX_A);
		lf[1] = loop_figures(BENCH_D_MIX_B);
	}
	t0 = bench_now_ns();
	failed = bench_spawn(name, 4, roles, mix_child, &ru) != 0;
	for (int i = 0; i < 2; i++) {
		if (ru.fd[i] >= 0)
			close(ru.fd[i]);
		if (ru.bfd[i] >= 0)
			close(ru.bfd[i]);
		ru.fd[i] = ru.bfd[i] = -1;
	}
	if (failed || bench_reap(name, 120 + bench_opt.rtt_count / 100))
		return -1;
	bsecs = (double)(sh->bulk_t1 - sh->bulk_t0) / 1e9;
	bench_put(p, BENCH_W_MIXED_IDLE, BENCH_PP_SIZE, BENCH_F_P50, sh->idle_p50);
	bench_put(p, BENCH_W_MIXED_IDLE, BENCH_PP_SIZE, BENCH_F_P99, sh->idle_p99);
	bench_put(p, BENCH_W_MIXED_IDLE, BENCH_PP_SIZE, BENCH_F_MEAN, sh->idle_mean);
	bench_put(p, BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_P50, sh->busy_p50);
	bench_put(p, BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_P99, sh->busy_p99);
	bench_put(p, BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_MEAN, sh->busy_mean);
	bench_put(p, BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_NCHAN, (double)sh->busy_rounds);
	/* the first message starts the clock: the rate over the ones after it */
	if (sh->bulk_msgs > 1 && bsecs > 0) {
		double r = (double)(sh->bulk_msgs - 1) / bsecs;
		bench_put(p, BENCH_W_MIXED_BULK, BENCH_BULK_SIZE, BENCH_F_RATE, r);
		bench_put(p, BENCH_W_MIXED_BULK, BENCH_BULK_SIZE, BENCH_F_MBS, r * BENCH_BULK_SIZE / 1e6);
	}
	fprintf(stderr, "  %-38s ping-pong p50/p99 idle %.1f/%.1f µs (%llu), under the bulk "
			"%.1f/%.1f µs (%llu); bulk %llu x 16 MiB, %.0f MB/s\n",
		name, sh->idle_p50, sh->idle_p99, (unsigned long long)sh->idle_rounds, sh->busy_p50,
		sh->busy_p99, (unsigned long long)sh->busy_rounds, (unsigned long long)sh->bulk_msgs,
		sh->bulk_msgs > 1 && bsecs > 0
			? (double)(sh->bulk_msgs - 1) * BENCH_BULK_SIZE / bsecs / 1e6 : 0.0);
	if (sh->slow_rounds)
		fprintf(stderr, "  %-38s %llu round trips over %llu ms beside the bulk, mean %.2f ms: "
				"%.2f on the way to the echo, %.2f back\n", "",
			(unsigned long long)sh->slow_rounds, SLOW_NS / 1000000,
			(sh->slow_there_ns + sh->slow_back_ns) / 1e6 / sh->slow_rounds,
			sh->slow_there_ns / 1e6 / sh->slow_rounds, sh->slow_back_ns / 1e6 / sh->slow_rounds);
	if (p == BENCH_NET)
		loop_report(lf, (double)(bench_now_ns() - t0) / 1e9);
	return 0;
out:
	for (int i = 0; i < 2; i++) {
		if (ru.fd[i] >= 0)
			close(ru.fd[i]);
		if (ru.bfd[i] >= 0)
			close(ru.bfd[i]);
	}
	return failed ? -1 : 0;
}
