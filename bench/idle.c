/*
 * idle.c - one stream beside many idle entities (--idle N).
 *
 * Issue 11 asks that N = 1,000 attached entities doing nothing (default
 * pool size, no connection) cost one active channel on the same daemon
 * under 5% of its throughput, and that the daemon stay under 100 MB RSS
 * with them. A holder process attaches them to msgrd's daemon; the msgrd
 * path's 64 B one-way case runs alone and beside them, in turn, three
 * times, the order alternating: on this machine one pair of runs differs
 * by more than 5% with nothing changed, so the ratio is of the medians of
 * three. The
 * daemon is the same in both, so the runs differ only in the idle
 * entities. Their attach time and the daemon's VmRSS with them come too.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#define IDLE_SIZE BENCH_IDLE_SIZE
#define IDLE_ROUNDS 3
#define IDLE_PARK_MS 100     /* the daemon parks an entity idle for 1 ms */
#define IDLE_READY_MS 120000 /* attaching N may take this long */

/* The holder: attach n entities, say so on ready_w, hold them until go_r
 * reads end of file (the parent closed it, or died), detach. */
static _Noreturn void hold(unsigned n, int ready_w, int go_r)
{
	struct msgr_attach_opts o = { .socket_path = bench_dmn[BENCH_D_MAIN].sock };
	msgr_client **c = calloc(n, sizeof(*c));
	char ent[64], b;

	bench_label = "idle (holder)";
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	bench_raise_nofile(); /* 4 fds per attached entity here */
	if (!c)
		bench_die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		int err;
		snprintf(ent, sizeof(ent), "bench.idle-%d-%u", (int)getpid(), i);
		err = msgr_attach(ent, &o, &c[i]);
		if (err)
			bench_die("idle: attach %s (%u of %u): %s", ent, i + 1, n, msgr_strerror(err));
	}
	if (write(ready_w, "r", 1) != 1)
		_exit(1);
	while (read(go_r, &b, 1) < 0 && errno == EINTR)
		;
	for (unsigned i = 0; i < n; i++)
		msgr_detach(c[i]);
	_exit(0);
}

/* Wait for the holder to exit, at most 30 s. If bench_reap (which takes
 * any child) reaped it already, it died before it was released, so the
 * run beside it may have had fewer idle entities: a failure. */
static int holder_end(pid_t p, int go_w)
{
	int st = 0;

	close(go_w);
	for (int i = 0; i < 3000; i++) {
		pid_t r = waitpid(p, &st, WNOHANG);
		if (r == p)
			return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		bench_sleep_us(10000);
	}
	kill(p, SIGKILL);
	waitpid(p, &st, 0);
	return -1;
}

/* Start the holder; its pid, and the pipe end that releases it in *go_w. */
static pid_t holder_start(unsigned n, int *go_w, double *attach_ms)
{
	int ready[2], go[2];
	struct pollfd pf;
	uint64_t t0 = bench_now_ns();
	char b;
	pid_t p;
	int r;

	if (pipe2(ready, O_CLOEXEC))
		return -1;
	if (pipe2(go, O_CLOEXEC)) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	fflush(NULL);
	p = fork();
	if (p == 0) {
		close(ready[0]);
		close(go[1]);
		hold(n, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	if (p < 0) {
		close(ready[0]);
		close(go[1]);
		return -1;
	}
	pf = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	while ((r = poll(&pf, 1, IDLE_READY_MS)) < 0 && errno == EINTR)
		;
	if (r != 1 || read(ready[0], &b, 1) != 1) {
		int late = !(pf.revents & (POLLIN | POLLHUP));
		close(ready[0]);
		kill(p, SIGKILL);
		holder_end(p, go[1]);
		if (late)
			bench_errmsg("idle: %u entities not attached within %d s", n, IDLE_READY_MS / 1000);
		else
			bench_errmsg("idle: the holder of %u entities failed (above)", n);
		return -1;
	}
	close(ready[0]);
	*attach_ms = (double)(bench_now_ns() - t0) / 1e6;
	*go_w = go[1];
	return p;
}

static double rss_mb(void)
{
	long rss, anon;

	if (!bench_obs_daemon || bench_proc_rss(bench_obs_daemon, &rss, &anon))
		return NAN;
	return (double)rss * 1024.0 / 1e6;
}

static int run_alone(double *mb0)
{
	*mb0 = rss_mb();
	bench_put(BENCH_MSGRD, BENCH_W_IDLE_ALONE, IDLE_SIZE, BENCH_F_RSS_MB, *mb0);
	return bench_run_path_as(BENCH_MSGRD, BENCH_ONEWAY, IDLE_SIZE, BENCH_W_IDLE_ALONE);
}

static int run_beside(unsigned n, double *ms, double *mb)
{
	int go_w = -1;
	pid_t p = holder_start(n, &go_w, ms);

	if (p < 0)
		return -1;
	bench_sleep_us(IDLE_PARK_MS * 1000);
	*mb = rss_mb();
	if (bench_run_path_as(BENCH_MSGRD, BENCH_ONEWAY, IDLE_SIZE, BENCH_W_IDLE_BESIDE)) {
		holder_end(p, go_w);
		return -1;
	}
	if (holder_end(p, go_w)) {
		bench_errmsg("idle: the holder of %u entities exited before it was released, or "
			     "failed to detach them", n);
		return -1;
	}
	bench_put(BENCH_MSGRD, BENCH_W_IDLE_BESIDE, IDLE_SIZE, BENCH_F_RSS_MB, *mb);
	bench_put(BENCH_MSGRD, BENCH_W_IDLE_BESIDE, IDLE_SIZE, BENCH_F_ATTACH_N_MS, *ms);
	bench_put(BENCH_MSGRD, BENCH_W_IDLE_BESIDE, IDLE_SIZE, BENCH_F_NCHAN, n);
	return 0;
}

/* Rounds alternate which run goes first, so that neither always gets the
 * daemon fresh (the first msgrd case after it started, under --only idle)
 * or right after a thousand detaches. */
int bench_run_idle(unsigned n)
{
	for (int r = 0; r < IDLE_ROUNDS; r++) {
		double ms = NAN, mb = NAN, mb0 = NAN;
		int beside_first = r & 1, err;

		fprintf(stderr, "  idle, round %d of %d: %s %u idle entities%s\n", r + 1, IDLE_ROUNDS,
			beside_first ? "beside" : "alone, then beside", n,
			beside_first ? ", then alone" : "");
		if (beside_first)
			err = run_beside(n, &ms, &mb) || run_alone(&mb0);
		else
			err = run_alone(&mb0) || run_beside(n, &ms, &mb);
		if (err)
			return -1;
		fprintf(stderr, "  %-38s attached %u in %.0f ms; daemon VmRSS %.1f MB with them, %.1f "
				"without\n", "", n, ms, mb, mb0);
	}
	return 0;
}
