/*
 * runner.c - forks, reaping and per-process costs, and one path's case:
 * make the path's resources, fork its two processes (never two threads of
 * one process), reap them, and put what they measured into the results.
 *
 * A failed or late child takes its partners down, and so does a daemon
 * that dies under them, rather than their idle timeout.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#define ROLES(k, a, b) [k] = { a, b }

const struct bench_path_info bench_paths[BENCH_NPATH] = {
	[BENCH_MSGRD] = { "msgrd", "msgrd", 1, { BENCH_D_MAIN, BENCH_D_MAIN }, MSGR_LOSSLESS,
			  { ROLES(BENCH_ONEWAY, bench_msgrd_sender, bench_msgrd_receiver),
			    ROLES(BENCH_PINGPONG, bench_msgrd_pinger, bench_msgrd_ponger) } },
	[BENCH_SHM] = { "shm-ring", "shm", 0, { 0, 0 }, 0,
			{ ROLES(BENCH_ONEWAY, bench_shm_sender, bench_shm_receiver),
			  ROLES(BENCH_PINGPONG, bench_shm_pinger, bench_shm_ponger) } },
	[BENCH_UDS] = { "unix-socket", "uds", 0, { 0, 0 }, 0,
			{ ROLES(BENCH_ONEWAY, bench_sock_sender, bench_sock_receiver),
			  ROLES(BENCH_PINGPONG, bench_sock_pinger, bench_sock_ponger) } },
	[BENCH_TCP] = { "tcp", "tcp", 0, { 0, 0 }, 0,
			{ ROLES(BENCH_ONEWAY, bench_sock_sender, bench_sock_receiver),
			  ROLES(BENCH_PINGPONG, bench_sock_pinger, bench_sock_ponger) } },
	/* a ping-pong over it would be tcp's: a batch of one */
	[BENCH_TCPB] = { "tcp-batch", "tcpb", 0, { 0, 0 }, 0,
			 { ROLES(BENCH_ONEWAY, bench_tcpb_sender, bench_sock_receiver) } },
	[BENCH_ZMQ] = { "zmq-tcp", "zmq", 0, { 0, 0 }, 0,
			{ ROLES(BENCH_ONEWAY, bench_zmq_sender, bench_zmq_receiver),
			  ROLES(BENCH_PINGPONG, bench_zmq_pinger, bench_zmq_ponger) } },
	[BENCH_ZMQIPC] = { "zmq-ipc", "zmqipc", 0, { 0, 0 }, 0,
			   { ROLES(BENCH_ONEWAY, bench_zmq_sender, bench_zmq_receiver),
			     ROLES(BENCH_PINGPONG, bench_zmq_pinger, bench_zmq_ponger) } },
	[BENCH_NET] = { "msgrd-net", "net", 2, { BENCH_D_MAIN, BENCH_D_NET_B }, MSGR_LOSSLESS,
			{ ROLES(BENCH_ONEWAY, bench_msgrd_sender, bench_msgrd_receiver),
			  ROLES(BENCH_PINGPONG, bench_msgrd_pinger, bench_msgrd_ponger) } },
	[BENCH_SEC] = { "msgrd-net-secure", "sec", 2, { BENCH_D_SEC_A, BENCH_D_SEC_B }, MSGR_LOSSLESS,
			{ ROLES(BENCH_ONEWAY, bench_msgrd_sender, bench_msgrd_receiver),
			  ROLES(BENCH_PINGPONG, bench_msgrd_pinger, bench_msgrd_ponger) } },
	[BENCH_NETLOSSY] = { "msgrd-net-lossy", "netlossy", 2, { BENCH_D_MAIN, BENCH_D_NET_B },
			     MSGR_LOSSY,
			     { ROLES(BENCH_ONEWAY, bench_msgrd_sender, bench_msgrd_receiver),
			       ROLES(BENCH_PINGPONG, bench_msgrd_pinger, bench_msgrd_ponger) } },
};

const char *bench_label = "";
const char *bench_attach_sock;
enum msgr_mode bench_conn_mode = MSGR_LOSSLESS;
pid_t bench_sampled[2];

static volatile pid_t kids[BENCH_NKIDS];

/* ---- per-process cost: CPU time and context switches from /proc ---- */

/* One task's schedstat and context switches, added to *s. */
static int task_sample(pid_t pid, long tid, struct bench_psample *s)
{
	char path[96], line[256];
	unsigned long long v, w;
	FILE *f;

	/* schedstat has nanoseconds; stat's clock ticks are too coarse for
	 * a 0.3 s --quick run */
	snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (fscanf(f, "%llu %llu", &v, &w) != 2) {
		fclose(f);
		return -EPROTO;
	}
	fclose(f);
	s->cpu_ns += v;
	s->wait_ns += w;
	snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
			s->csw += v;
	fclose(f);
	return 0;
}

/* Every thread of the process: libzmq does its I/O on threads of its own. */
int bench_proc_sample(pid_t pid, struct bench_psample *s)
{
	char dir[64];
	struct dirent *de;
	DIR *d;
	int err = 0, n = 0;

	memset(s, 0, sizeof(*s));
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && !err) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end)
			continue;
		/* a thread that exits under us is no error */
		err = task_sample(pid, tid, s);
		if (err == -ENOENT || err == -ESRCH)
			err = 0;
		n++;
	}
	closedir(d);
	s->ok = !err && n > 0;
	return err;
}

/* VmRSS and RssAnon of a process, KiB. */
int bench_proc_rss(pid_t pid, long *vmrss_kb, long *anon_kb)
{
	char path[64], line[256];
	FILE *f;

	*vmrss_kb = *anon_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			*vmrss_kb = strtol(line + 6, NULL, 10);
		else if (!strncmp(line, "RssAnon:", 8))
			*anon_kb = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return *vmrss_kb < 0 ? -EPROTO : 0;
}

/* ---- forks and reaping ---- */

struct spawn {
	const char *name;
	const char *const *roles;
	bench_child_fn fn;
	void *arg;
};

static _Noreturn void child(const struct spawn *sp, int role)
{
	static char lbl[160];

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	/* an orphan that spins would skew whatever runs next on this machine */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	snprintf(lbl, sizeof(lbl), "%s (%s)", sp->name, sp->roles[role]);
	bench_label = lbl;
	/* even roles are host A's applications, odd ones host B's (mixed has
	 * four; the rest two: role 0 sends or pings, role 1 receives or echoes) */
	if (bench_opt.pin && bench_pin(role & 1))
		bench_die("--pin: sched_setaffinity: %s", strerror(errno));
	sp->fn(sp->arg, role);
	fflush(NULL);
	_exit(0);
}

void bench_raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int bench_pin(int side)
{
	cpu_set_t have, want;
	int n = 0;

	if (sched_getaffinity(0, sizeof(have), &have))
		return -errno;
	CPU_ZERO(&want);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &have) && n++ == side) {
			CPU_SET(c, &want);
			break;
		}
	if (!CPU_COUNT(&want))
		return -(errno = EINVAL); /* main() checked there are two */
	return sched_setaffinity(0, sizeof(want), &want) ? -errno : 0;
}

void bench_kill_kids(void)
{
	for (int i = 0; i < BENCH_NKIDS; i++)
		if (kids[i])
			kill(kids[i], SIGKILL);
}

/* Fork roles nkids - 1 down to 0: the listening ends first. */
int bench_spawn(const char *name, int nkids, const char *const *roles, bench_child_fn fn, void *arg)
{
	struct spawn sp = { name, roles, fn, arg };

	fflush(NULL);
	for (int role = nkids - 1; role >= 0; role--) {
		pid_t p = fork();
		if (p < 0) {
			bench_errmsg("fork: %s", strerror(errno));
			bench_kill_kids();
			bench_reap(name, 10);
			return -1;
		}
		if (p == 0)
			child(&sp, role);
		kids[role] = p;
	}
	return 0;
}

static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	alarmed = 1;
}

static int nkids_left(void)
{
	int n = 0;

	for (int i = 0; i < BENCH_NKIDS; i++)
		n += kids[i] != 0;
	return n;
}

/* Reap every child; a failed or late one takes its partners down, and so
 * does a daemon that dies under them. */
int bench_reap(const char *name, unsigned timeout_s)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: wait must return */
	int failed = 0;
	enum bench_daemon_id d;

	alarmed = 0;
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout_s);
	while (nkids_left()) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR && alarmed) {
				bench_errmsg("%s: no result after %u s; killing it", name, timeout_s);
				bench_kill_kids();
				alarmed = 0;
				failed = 1;
			} else if (errno != EINTR) {
				break;
			}
			continue;
		}
		if ((d = bench_daemon_with_pid(p)) < BENCH_ND) {
			bench_errmsg("msgrd (%s, pid %d) died during %s", bench_dmn[d].tag, (int)p, name);
			bench_dmn[d].pid = 0;
			bench_kill_kids();
			failed = 1;
			continue;
		}
		for (int i = 0; i < BENCH_NKIDS; i++)
			if (p == kids[i]) {
				kids[i] = 0;
				if (!WIFEXITED(st) || WEXITSTATUS(st)) {
					if (!failed && WIFSIGNALED(st))
						bench_errmsg("%s: process %d killed by signal %d", name,
							     (int)p, WTERMSIG(st));
					failed = 1;
					bench_kill_kids();
				}
			}
	}
	alarm(0);
	return failed ? -1 : 0;
}

/* Whether a child has exited, leaving it for bench_reap() to collect. */
int bench_child_gone(void)
{
	for (int i = 0; i < BENCH_NKIDS; i++) {
		siginfo_t si = { 0 };
		if (kids[i] && !waitid(P_PID, (id_t)kids[i], &si, WEXITED | WNOHANG | WNOWAIT) &&
		    si.si_pid)
			return 1;
	}
	return 0;
}

/* ---- one path's case ---- */

int bench_tcp_pair(int fd[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1, err = 0;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { BENCH_IDLE_MS / 1000, 0 };

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
	for (int i = 0; i < 2; i++) {
		setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	return 0;
fail:
	err = -errno;
	close(l);
	if (fd[0] >= 0)
		close(fd[0]);
	fd[0] = -1;
	return err;
}

static void run_release(struct bench_run *ru)
{
	for (int i = 0; i < 2; i++) {
		if (ru->fd[i] >= 0)
			close(ru->fd[i]);
		if (ru->bfd[i] >= 0)
			close(ru->bfd[i]);
		if (ru->efd[i] >= 0)
			close(ru->efd[i]);
		ru->fd[i] = ru->bfd[i] = ru->efd[i] = -1;
	}
	if (ru->shm)
		munmap(ru->shm, ru->shm_len);
	ru->shm = NULL;
}

static int run_prepare(struct bench_run *ru)
{
	struct timeval tv = { BENCH_IDLE_MS / 1000, 0 };

	ru->fd[0] = ru->fd[1] = ru->bfd[0] = ru->bfd[1] = ru->efd[0] = ru->efd[1] = -1;
	switch (ru->path) {
	case BENCH_SHM:
		return bench_shm_prepare(ru);
	case BENCH_UDS:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ru->fd))
			return -errno;
		for (int i = 0; i < 2; i++)
			setsockopt(ru->fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		return 0;
	case BENCH_TCP:
	case BENCH_TCPB:
		return bench_tcp_pair(ru->fd);
	default:
		return 0; /* msgrd paths and zmq make their own in the children */
	}
}

static void path_child(void *arg, int role)
{
	struct bench_run *ru = arg;
	const struct bench_path_info *pi = &bench_paths[ru->path];

	for (int i = 0; i < pi->ndaemons; i++) {
		enum bench_daemon_id d = pi->via[i];
		bench_sampled[i] = d == BENCH_D_MAIN ? bench_obs_daemon : bench_dmn[d].pid;
	}
	bench_attach_sock = bench_dmn[pi->via[role]].sock;
	bench_conn_mode = pi->mode ? pi->mode : MSGR_LOSSLESS;
	if (ru->fd[1 - role] >= 0)
		close(ru->fd[1 - role]);
	pi->role[ru->kind][role](ru);
}

static double delta_cpu_us(const struct bench_psample *a, const struct bench_psample *b)
{
	return a->ok && b->ok ? (double)(b->cpu_ns - a->cpu_ns) / 1e3 : NAN;
}

static double delta_wait_us(const struct bench_psample *a, const struct bench_psample *b)
{
	return a->ok && b->ok ? (double)(b->wait_ns - a->wait_ns) / 1e3 : NAN;
}

static double delta_csw(const struct bench_psample *a, const struct bench_psample *b)
{
	return a->ok && b->ok ? (double)(b->csw - a->csw) : NAN;
}

static void size_name(char *b, size_t n, size_t size)
{
	if (size >= 1024 && size % 1024 == 0)
		snprintf(b, n, "%zu KiB", size / 1024);
	else
		snprintf(b, n, "%zu B", size);
}

/* What the children measured, into the results; 0, or -1 on a count that
 * does not add up. */
static int collect(const char *name, struct bench_run *ru, enum bench_work w,
		   const struct bench_dstats *ds0, const struct bench_dstats *ds1)
{
	struct bench_shared *sh = bench_sh;
	enum bench_path t = ru->path;
	int nd = bench_paths[t].ndaemons;
	double cpu = 0, rq = 0, csw = 0, wake = NAN, per;
	uint32_t size = (uint32_t)ru->size;

	for (int i = 0; i < 2; i++) {
		cpu += delta_cpu_us(&sh->side[i].w0, &sh->side[i].w1);
		rq += delta_wait_us(&sh->side[i].w0, &sh->side[i].w1);
		csw += delta_csw(&sh->side[i].w0, &sh->side[i].w1);
	}
	/* a daemon whose /proc we cannot read (no sample: NAN) leaves the
	 * path's cost unknown */
	for (int i = 0; i < nd; i++) {
		cpu += delta_cpu_us(&sh->d0[i], &sh->d1[i]);
		rq += delta_wait_us(&sh->d0[i], &sh->d1[i]);
		csw += delta_csw(&sh->d0[i], &sh->d1[i]);
	}
	if (t == BENCH_MSGRD) {
		if (ds0->ok && ds1->ok)
			wake = (double)(ds1->wake_sent - ds0->wake_sent + ds1->wake_recv -
					ds0->wake_recv);
	} else if (t == BENCH_SHM) {
		wake = (double)(sh->side[0].wakeups + sh->side[1].wakeups);
	} /* else the kernel's own wakeups: the context switches show them */
	if (ru->kind == BENCH_ONEWAY) {
		double secs = (double)(sh->t_end - sh->t_start) / 1e9;
		if (sh->recvd != sh->sent || !sh->recvd) {
			bench_errmsg("%s: sent %llu messages, %llu arrived", name,
				     (unsigned long long)sh->sent, (unsigned long long)sh->recvd);
			return -1;
		}
		per = (double)sh->recvd;
		bench_put(t, w, size, BENCH_F_RATE, (double)sh->recvd / secs);
		bench_put(t, w, size, BENCH_F_MBS, (double)sh->bytes / secs / 1e6);
		fprintf(stderr, "  %-38s %10.0f msg/s %9.1f MB/s  (%.2f s, %llu msgs, %llu EAGAIN)\n",
			name, (double)sh->recvd / secs, (double)sh->bytes / secs / 1e6, secs,
			(unsigned long long)sh->recvd, (unsigned long long)sh->side[0].eagain);
	} else {
		per = (double)sh->rounds;
		bench_put(t, w, size, BENCH_F_P50, sh->p50);
		bench_put(t, w, size, BENCH_F_P99, sh->p99);
		bench_put(t, w, size, BENCH_F_MEAN, sh->mean);
		fprintf(stderr, "  %-38s p50 %8.1f µs  p99 %8.1f µs  mean %8.1f µs\n", name, sh->p50,
			sh->p99, sh->mean);
	}
	bench_put(t, w, size, BENCH_F_CPU, cpu / per);
	bench_put(t, w, size, BENCH_F_RQ, rq / per);
	bench_put(t, w, size, BENCH_F_CSW, csw / per);
	bench_put(t, w, size, BENCH_F_WAKE, wake / per);
	/* where the time goes, process by process */
	fprintf(stderr, "  %-38s CPU/runqueue/ctx-sw per %s: %s %.2f/%.2f/%.3f, %s %.2f/%.2f/%.3f",
		"", ru->kind == BENCH_ONEWAY ? "msg" : "round trip",
		ru->kind == BENCH_ONEWAY ? "sender" : "ping",
		delta_cpu_us(&sh->side[0].w0, &sh->side[0].w1) / per,
		delta_wait_us(&sh->side[0].w0, &sh->side[0].w1) / per,
		delta_csw(&sh->side[0].w0, &sh->side[0].w1) / per,
		ru->kind == BENCH_ONEWAY ? "receiver" : "echo",
		delta_cpu_us(&sh->side[1].w0, &sh->side[1].w1) / per,
		delta_wait_us(&sh->side[1].w0, &sh->side[1].w1) / per,
		delta_csw(&sh->side[1].w0, &sh->side[1].w1) / per);
	for (int i = 0; i < nd; i++)
		if (sh->d0[i].ok)
			fprintf(stderr, ", daemon%s %.2f/%.2f/%.3f", nd == 1 ? "" : i ? " B" : " A",
				delta_cpu_us(&sh->d0[i], &sh->d1[i]) / per,
				delta_wait_us(&sh->d0[i], &sh->d1[i]) / per,
				delta_csw(&sh->d0[i], &sh->d1[i]) / per);
	fputc('\n', stderr);
	return 0;
}

int bench_run_path(enum bench_path t, enum bench_kind k, size_t size)
{
	return bench_run_path_as(t, k, size, k == BENCH_ONEWAY ? BENCH_W_ONEWAY : BENCH_W_PINGPONG);
}

int bench_run_path_as(enum bench_path t, enum bench_kind k, size_t size, enum bench_work w)
{
	static const char *const roles[2][2] = { { "sender", "receiver" }, { "ping", "echo" } };
	struct bench_run ru = { .path = t, .kind = k, .size = size };
	struct bench_dstats ds0 = { 0 }, ds1 = { 0 };
	char name[96], sz[32];
	unsigned timeout;
	int err;

	size_name(sz, sizeof(sz), size);
	snprintf(name, sizeof(name), "%s %s %s", bench_paths[t].name,
		 k == BENCH_ONEWAY ? "one-way" : "ping-pong", sz);
	err = run_prepare(&ru);
	if (err) {
		bench_errmsg("%s: setting up: %s", name, strerror(-err));
		run_release(&ru);
		return -1;
	}
	memset(bench_sh, 0, sizeof(*bench_sh));
	bench_oneway_warm = bench_warm_for(size);
	if (t == BENCH_MSGRD)
		bench_ctl_status(&ds0);
	if (bench_spawn(name, 2, roles[k], path_child, &ru)) {
		run_release(&ru);
		return -1;
	}
	run_release(&ru);
	timeout = 60 + (unsigned)(bench_opt.seconds * 4) + bench_opt.rtt_count / 100;
	if (bench_reap(name, timeout))
		return -1;
	if (t == BENCH_MSGRD)
		bench_ctl_status(&ds1);
	return collect(name, &ru, w, &ds0, &ds1);
}
