/*
 * msgr-bench - msgrd against bare baselines, side by side in one run.
 *
 * The machines this runs on are small, shared and noisy: absolute numbers do
 * not carry from one run to the next, but the ratio between msgrd and a
 * baseline measured seconds apart in the same run mostly does. So each case
 * runs every path back to back, and the report is ratios as much as rates.
 * bench/README.md says what runs and how to read it; bench/bench.h lists
 * the parts.
 *
 * This file: the options, and the order in which the cases run.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"

#define DEFAULT_CHANNELS 10000
#define DEFAULT_IDLE 1000

struct bench_opts bench_opt = {
	.seconds = 1.0, .rtt_count = 20000, .repeat = 1, .paths = (1u << BENCH_NPATH) - 1,
	.cases = 3, .sizes = { 64, 512, 4096, 65536 }, .nsizes = 4, .recovery = 1, .kill_ms = 300,
	.mixed = 1,
};
unsigned bench_wait_poll_us;
struct bench_shared *bench_sh;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgr-bench [OPTION]...\n"
		"Measure msgrd, and two msgrd daemons over a TCP session (msgrd-net, also\n"
		"in auth.mode = secure and over MSGR_LOSSY), against a bare shared-memory\n"
		"ring, Unix sockets, TCP (one write per message, and batched), and ZeroMQ\n"
		"PUSH/PULL over tcp and ipc, side by side in one run: one-way rates by\n"
		"message size and ping-pong latency. Then a ping-pong beside a 16 MiB bulk\n"
		"stream on the same session (mixed), N channels between two daemons\n"
		"(--channels), recovery from link kills under a lossless stream, and one\n"
		"stream beside many idle entities (--idle). Ends with the targets of\n"
		"issue 11, met or MISSED.\n\n"
		"  --seconds N      one-way run time per case (default 1; fractions allowed)\n"
		"  --count N        one-way: time N messages per case instead of a duration\n"
		"  --sizes LIST     one-way message sizes in bytes, comma-separated, up to\n"
		"                   %u of them, each at most %u (default 64,512,4096,65536)\n"
		"  --rtt-count N    ping-pong round trips measured (default 20000)\n"
		"  --repeat N       run every case N times, report medians (default 1, max %d)\n"
		"  --channels N     the many-channel workload with N channels, 0: off\n"
		"                   (default %d, off with --quick)\n"
		"  --idle N         msgrd's 64 B one-way case alone and beside N idle\n"
		"                   entities, three times each; 0: off (default %d, off\n"
		"                   with --quick, at most 1022)\n"
		"  --poll-us N      msgrd global.poll_us and the clients' poll_us (and the\n"
		"                   shm-ring baseline's); default: 0 for both, never spin\n"
		"  --daemon-poll-us N  msgrd's poll_us alone (overrides --poll-us for it)\n"
		"  --daemon-set S.K=V  a msgrd setting for every daemon started (up to 8)\n"
		"  --pin            each simulated host on a CPU of its own: host A's daemon\n"
		"                   and applications (the senders) on the first CPU, host\n"
		"                   B's on the second; the same-host daemon goes with the\n"
		"                   sender. Default: the scheduler places everything\n"
		"  --socket PATH    use a running msgrd instead of starting one\n"
		"  --ctl-socket P   its control socket, for its wakeup counters and pid\n"
		"  --no-tcp         skip the TCP loopback baselines (tcp, tcp-batch)\n"
		"  --only LIST      run a subset, comma-separated: paths (msgrd,shm,uds,tcp,\n"
		"                   tcpb,zmq,zmqipc,net,sec,netlossy), kinds (oneway,pingpong)\n"
		"                   and workloads (mixed,channels,recovery,idle); a workload\n"
		"                   runs only if named, and alone if only workloads are named\n"
		"  --kills N        recovery: link kills per run (default 30, 10 with --quick)\n"
		"  --kill-every MS  recovery: ms from one kill to the next (default 300)\n"
		"  --out FILE       Markdown results (default: build/bench/results.md next\n"
		"                   to the binary, else ./results.md); results.json and the\n"
		"                   plots go beside it\n"
		"  --quick          smoke test: 0.3 s per case, 2000 round trips, 10 kills,\n"
		"                   no channels, no idle\n"
		"  --help           this text\n\n"
		"Without --socket, the daemons (msgrd, a second one for net and netlossy,\n"
		"and a pair each for sec, mixed, channels and recovery) are started from\n"
		"the directory of msgr-bench with a private socket directory and key under\n"
		"/tmp, and stopped at exit; with it, every case that needs two daemons is\n"
		"skipped.\n"
		"Exit status: 0 success (whether or not targets are met), 1 a measurement\n"
		"failed, 2 usage error.\n",
		BENCH_MAX_SIZES, BENCH_MAX_MSG, BENCH_MAX_REPEAT, DEFAULT_CHANNELS, DEFAULT_IDLE);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *v > max || *s == '-' ? -EINVAL : 0;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static int parse_sizes(const char *list)
{
	char buf[256], *save = NULL, *tok;
	unsigned n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long v;
		if (n == BENCH_MAX_SIZES || parse_uint(tok, BENCH_MAX_MSG, &v) || v < 8)
			return -EINVAL;
		bench_opt.sizes[n++] = (unsigned)v;
	}
	if (!n)
		return -EINVAL;
	qsort(bench_opt.sizes, n, sizeof(unsigned), cmp_uint);
	bench_opt.nsizes = n;
	return 0;
}

/* What --only named; workloads (recovery, mixed, channels, idle) run only
 * if named, and alone if only they are. */
static int only_channels = -1, only_idle = -1;

/* A counted workload's N when its option was not given: on in a full run,
 * off in a quick one, and under --only only if named (only: -1 no --only,
 * else whether it was named). */
static unsigned workload_n(int only, unsigned dflt)
{
	return only == 0 || (only < 0 && bench_opt.quick) ? 0 : dflt;
}

static int parse_only(const char *list)
{
	char buf[256], *save = NULL, *tok;
	unsigned tr = 0, cs = 0;
	int rec = 0, mix = 0, chn = 0, idl = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int hit = 0;
		for (int t = 0; t < BENCH_NPATH; t++)
			if (!strcmp(tok, bench_paths[t].shortname) || !strcmp(tok, bench_paths[t].name)) {
				tr |= 1u << t;
				hit = 1;
			}
		if (!strcmp(tok, "oneway"))
			cs |= 1u << BENCH_ONEWAY, hit = 1;
		else if (!strcmp(tok, "pingpong"))
			cs |= 1u << BENCH_PINGPONG, hit = 1;
		else if (!strcmp(tok, "recovery"))
			rec = 1, hit = 1;
		else if (!strcmp(tok, "mixed"))
			mix = 1, hit = 1;
		else if (!strcmp(tok, "channels"))
			chn = 1, hit = 1;
		else if (!strcmp(tok, "idle"))
			idl = 1, hit = 1;
		if (!hit)
			return -EINVAL;
	}
	if (tr)
		bench_opt.paths = tr;
	if (cs)
		bench_opt.cases = cs;
	bench_opt.recovery = rec;
	bench_opt.mixed = mix;
	only_channels = chn;
	only_idle = idl;
	if ((rec || mix || chn || idl) && !tr && !cs)
		bench_opt.paths = 0;
	return 0;
}

static void default_out(char *buf, size_t n)
{
	char dir[PATH_MAX], real[PATH_MAX];

	if (!bench_exe_dir(dir, sizeof(dir)) && snprintf(buf, n, "%s/../bench", dir) < (int)n &&
	    (!mkdir(buf, 0755) || errno == EEXIST) && realpath(buf, real) &&
	    snprintf(buf, n, "%s/results.md", real) < (int)n)
		return;
	snprintf(buf, n, "results.md");
}

/* FILE.md -> FILE.json; the directory, for the plots. */
static void beside(const char *md, char *json, size_t n, char *dir, size_t dn)
{
	size_t l = strlen(md);
	const char *slash = strrchr(md, '/');

	if (l > 3 && !strcmp(md + l - 3, ".md"))
		snprintf(json, n, "%.*s.json", (int)(l - 3), md);
	else
		snprintf(json, n, "%s.json", md);
	if (slash)
		snprintf(dir, dn, "%.*s", (int)(slash - md), md);
	else
		snprintf(dir, dn, ".");
}

static void on_fatal(int sig)
{
	bench_kill_kids();
	bench_kill_daemons_now();
	_exit(128 + sig);
}

/* Fail early and clearly rather than in the first child. */
static int probe(void)
{
	struct msgr_attach_opts ao = { .socket_path = bench_dmn[BENCH_D_MAIN].sock };
	char ent[64];
	msgr_client *c;
	int err;

	snprintf(ent, sizeof(ent), "bench.probe-%d", (int)getpid());
	err = msgr_attach(ent, &ao, &c);
	if (err) {
		bench_errmsg("cannot attach to msgrd at %s: %s", bench_dmn[BENCH_D_MAIN].sock,
			     msgr_strerror(err));
		return -1;
	}
	msgr_detach(c);
	return 0;
}

/* One run of everything the options ask for; -1 at the first failure. */
static int run_all(void)
{
	/* one-way: every path at one size, then the next size */
	for (unsigned s = 0; s < bench_opt.nsizes && (bench_opt.cases >> BENCH_ONEWAY & 1); s++)
		for (int t = 0; t < BENCH_NPATH; t++)
			if ((bench_opt.paths >> t & 1) &&
			    bench_run_path((enum bench_path)t, BENCH_ONEWAY, bench_opt.sizes[s]))
				return -1;
	for (int t = 0; t < BENCH_NPATH && (bench_opt.cases >> BENCH_PINGPONG & 1); t++)
		if ((bench_opt.paths >> t & 1) && bench_paths[t].role[BENCH_PINGPONG][0] &&
		    bench_run_path((enum bench_path)t, BENCH_PINGPONG, BENCH_PP_SIZE))
			return -1;
	if (bench_opt.mixed && (bench_run_mixed(BENCH_NET) || bench_run_mixed(BENCH_TCP)))
		return -1;
	if (bench_opt.channels && bench_run_channels(bench_opt.channels))
		return -1;
	if (bench_opt.recovery && bench_run_recovery())
		return -1;
	if (bench_opt.idle && bench_run_idle(bench_opt.idle))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_SECONDS = 256, O_COUNT, O_RTT, O_REPEAT, O_POLL, O_SOCKET, O_CTL, O_NOTCP, O_OUT,
	       O_QUICK, O_HELP, O_ONLY, O_DPOLL, O_KILLS, O_KILLMS, O_SIZES, O_CHANNELS, O_DSET,
	       O_PIN, O_IDLE };
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
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "channels", required_argument, NULL, O_CHANNELS },
		{ "daemon-set", required_argument, NULL, O_DSET },
		{ "pin", no_argument, NULL, O_PIN },
		{ "idle", required_argument, NULL, O_IDLE },
		{ 0 },
	};
	int set_seconds = 0, set_rtt = 0, set_channels = 0, set_idle = 0, o, failed = 0;
	char out[PATH_MAX], json[PATH_MAX + 8], dir[PATH_MAX];
	unsigned long long v;
	struct bench_dstats ds;
	char *end;

	while ((o = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (o) {
		case O_SECONDS:
			errno = 0;
			bench_opt.seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(bench_opt.seconds > 0) ||
			    bench_opt.seconds > 3600)
				goto bad;
			set_seconds = 1;
			break;
		case O_COUNT:
			if (parse_uint(optarg, UINT32_MAX - 1, &v) || !v)
				goto bad;
			bench_opt.count = v;
			break;
		case O_RTT:
			if (parse_uint(optarg, 100000000, &v) || !v)
				goto bad;
			bench_opt.rtt_count = (unsigned)v;
			set_rtt = 1;
			break;
		case O_REPEAT:
			if (parse_uint(optarg, BENCH_MAX_REPEAT, &v) || !v)
				goto bad;
			bench_opt.repeat = (unsigned)v;
			break;
		case O_POLL:
			if (parse_uint(optarg, 1000000, &v))
				goto bad;
			bench_opt.poll_us = (unsigned)v;
			bench_opt.poll_set = 1;
			break;
		case O_DSET:
			if (bench_opt.ndset == sizeof(bench_opt.dset) / sizeof(bench_opt.dset[0]) ||
			    !strchr(optarg, '=') || !strchr(optarg, '.'))
				goto bad;
			bench_opt.dset[bench_opt.ndset++] = optarg;
			break;
		case O_PIN:
			bench_opt.pin = 1;
			break;
		case O_DPOLL:
			if (parse_uint(optarg, 1000000, &v))
				goto bad;
			bench_opt.dpoll_us = (unsigned)v;
			bench_opt.dpoll_set = 1;
			break;
		case O_KILLS:
			if (parse_uint(optarg, BENCH_MAX_KILLS, &v) || !v)
				goto bad;
			bench_opt.kills = (unsigned)v;
			break;
		case O_KILLMS:
			if (parse_uint(optarg, 60000, &v) || v < 10)
				goto bad;
			bench_opt.kill_ms = (unsigned)v;
			break;
		case O_SIZES:
			if (parse_sizes(optarg))
				goto bad;
			break;
		case O_CHANNELS:
			if (parse_uint(optarg, 1000000, &v))
				goto bad;
			bench_opt.channels = (unsigned)v;
			set_channels = 1;
			break;
		case O_IDLE:
			/* the daemon's global.max_clients is 1024 by default,
			 * and the stream's two entities attach too */
			if (parse_uint(optarg, 1022, &v))
				goto bad;
			bench_opt.idle = (unsigned)v;
			set_idle = 1;
			break;
		case O_SOCKET:
			bench_opt.socket = optarg;
			break;
		case O_CTL:
			bench_opt.ctl_socket = optarg;
			break;
		case O_NOTCP:
			bench_opt.paths &= ~(1u << BENCH_TCP | 1u << BENCH_TCPB);
			break;
		case O_ONLY:
			if (parse_only(optarg))
				goto bad;
			break;
		case O_OUT:
			bench_opt.out = optarg;
			break;
		case O_QUICK:
			bench_opt.quick = 1;
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
		bench_errmsg("bad value for --%s: '%s'", lopts[o - O_SECONDS].name, optarg);
		return 2;
	}
	if (optind < argc) {
		bench_errmsg("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (bench_opt.quick && !set_seconds)
		bench_opt.seconds = 0.3;
	if (bench_opt.quick && !set_rtt)
		bench_opt.rtt_count = 2000;
	if (!bench_opt.kills)
		bench_opt.kills = bench_opt.quick ? 10 : 30;
	/* an explicit --channels or --idle wins; else workload_n */
	if (!set_channels)
		bench_opt.channels = workload_n(only_channels, DEFAULT_CHANNELS);
	if (!set_idle)
		bench_opt.idle = workload_n(only_idle, DEFAULT_IDLE);
	if (!bench_zmq_built && (bench_opt.paths & (1u << BENCH_ZMQ | 1u << BENCH_ZMQIPC))) {
		bench_errmsg("built without libzmq (make deps installs libzmq3-dev): zmq-tcp and "
			     "zmq-ipc skipped");
		bench_opt.paths &= ~(1u << BENCH_ZMQ | 1u << BENCH_ZMQIPC);
	}
	/* libmsgr's own default is 0 too: never spin */
	bench_wait_poll_us = bench_opt.poll_set ? bench_opt.poll_us : 0;
	if (bench_opt.out)
		snprintf(out, sizeof(out), "%s", bench_opt.out);
	else
		default_out(out, sizeof(out));
	beside(out, json, sizeof(json), dir, sizeof(dir));

	if (bench_opt.pin) {
		cpu_set_t have;
		CPU_ZERO(&have);
		if (sched_getaffinity(0, sizeof(have), &have) || CPU_COUNT(&have) < 2) {
			bench_errmsg("--pin needs two CPUs to put the two hosts on; this process may use %d",
				     CPU_COUNT(&have));
			return 2;
		}
		if (bench_opt.socket)
			bench_errmsg("--pin: the running msgrd stays where it is; only the "
				     "applications are pinned");
	}
	bench_sh = mmap(NULL, sizeof(*bench_sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	if (bench_sh == MAP_FAILED) {
		bench_errmsg("mmap: %s", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_fatal);
	signal(SIGTERM, on_fatal);
	signal(SIGHUP, on_fatal);
	signal(SIGPIPE, SIG_IGN);

	if (bench_opt.socket) {
		struct bench_daemon *m = &bench_dmn[BENCH_D_MAIN];
		snprintf(m->sock, sizeof(m->sock), "%s", bench_opt.socket);
		if (bench_opt.ctl_socket)
			snprintf(m->ctl, sizeof(m->ctl), "%s", bench_opt.ctl_socket);
		if (bench_opt.poll_set || bench_opt.dpoll_set)
			bench_errmsg("--poll-us: the running msgrd keeps its own poll_us; clients use %u",
				     bench_wait_poll_us);
		for (int t = 0; t < BENCH_NPATH; t++)
			if (bench_paths[t].ndaemons == 2 && (bench_opt.paths >> t & 1)) {
				bench_errmsg("%s needs two daemons with one key: not with --socket, "
					     "skipped", bench_paths[t].name);
				bench_opt.paths &= ~(1u << t);
			}
		if (bench_opt.recovery || bench_opt.mixed || bench_opt.channels)
			bench_errmsg("recovery, mixed and channels need daemons of their own: not "
				     "with --socket, skipped");
		bench_opt.recovery = bench_opt.mixed = 0;
		bench_opt.channels = 0;
	} else if (bench_start_daemons()) {
		return 1;
	}
	bench_ctl_status(&ds);
	if (bench_dmn[BENCH_D_MAIN].pid)
		bench_obs_daemon = bench_dmn[BENCH_D_MAIN].pid;
	else if (ds.ok && ds.pid && kill((pid_t)ds.pid, 0) == 0)
		bench_obs_daemon = (pid_t)ds.pid;
	if (probe()) {
		if (bench_dmn[BENCH_D_MAIN].pid)
			bench_show_logs();
		bench_stop_daemons();
		return 1;
	}
	bench_describe_settings(&ds);
	fprintf(stderr, "msgr-bench: msgrd at %s; %s\n", bench_dmn[BENCH_D_MAIN].sock,
		bench_settings);

	for (unsigned rep = 0; rep < bench_opt.repeat && !failed; rep++) {
		if (bench_opt.repeat > 1)
			fprintf(stderr, "run %u of %u\n", rep + 1, bench_opt.repeat);
		failed = run_all() != 0;
	}
	if (failed) {
		if (bench_tmpdir[0])
			bench_show_logs();
		bench_stop_daemons();
		bench_errmsg("FAILED");
		return 1;
	}
	bench_stop_daemons();

	printf("\n");
	bench_report(stdout, 0);
	{
		int e1 = bench_write_markdown(out, argc, argv), e2 = bench_write_json(json);
		if (e1 || e2) {
			bench_errmsg("writing %s: %s", e1 ? out : json, strerror(-(e1 ? e1 : e2)));
			return 1;
		}
		printf("\nwrote %s and %s\n", out, json);
	}
	bench_plot(json, dir);
	return 0;
}
