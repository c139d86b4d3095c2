/*
 * main.c - msgrd: command line, start-up, the poll loop, and shutdown.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "client.h"
#include "cmd.h"
#include "common/log.h"
#include "common/paths.h"
#include "ctl.h"
#include "daemon.h"
#include "metrics_http.h"
#include "registry.h"
#include "msgr.h"
#include "channel.h"
#include "net.h"
#include "transports/transport.h"
#include "shm/wake.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgrd [-f] [-c FILE] [--set SECTION.KEY=VALUE]...\n"
		"       msgrd --check-config [FILE] [--set SECTION.KEY=VALUE]...\n"
		"The per-host messenger daemon.\n\n"
		"  -c, --config FILE   read FILE (default " MSGR_CONF_PATH " if it exists)\n"
		"  -t, --check-config  check the configuration (FILE, -c FILE or the default)\n"
		"                      and --set values, then exit: 0 if good, 2 with the error\n"
		"  -s, --set S.K=V     override one configuration key (repeatable)\n"
		"  -f, --foreground    stay in the foreground (msgrd never forks; accepted\n"
		"                      for compatibility)\n"
		"  -v, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n\n"
		"See msgrd(8) and msgrd.conf(5).\n");
}

static void report_status(struct msgr__daemon *d);
static void log_follow(struct msgr__daemon *d, const char *why);

/* A client idle this long (or global.poll_us, if longer) leaves the poll
 * passes until it signals: 1,000 idle clients then cost a pass nothing. */
#define PARK_NS 1000000ull

/* One poll pass over the active clients; then either keep spinning or sleep. */
static void pass(struct msgr__daemon *d)
{
	uint64_t now;
	int work = 0;

	now = msgr__now_ns();
	work = msgr__registry_pass(&d->reg, now, PARK_NS > d->conf.client.poll_us * 1000
							 ? PARK_NS : d->conf.client.poll_us * 1000);
	msgr__net_flush(d->net); /* what this pass queued for peer daemons, one send per link */
	now = msgr__now_ns();
	if (work) {
		d->last_work_ns = now;
		return; /* always look again after work: it may have posted more */
	}
	if (now - d->last_work_ns < d->conf.client.poll_us * 1000)
		return;
	/* Sleep: ask every client for a signal, then look once more. */
	if (msgr__registry_arm(&d->reg)) {
		d->last_work_ns = now;
		return;
	}
	uv_idle_stop(&d->spin);
}

static void on_spin(uv_idle_t *h)
{
	pass(h->data);
}

/* Each turn's work, for loop_stalls and loop_busy_max_us (loopstat.h). */
static void on_turn(uv_prepare_t *h)
{
	struct msgr__daemon *d = h->data;

	msgr__loop_turn(&d->loop_stats, uv_hrtime(), uv_metrics_idle_time(d->loop));
}

void msgr__daemon_schedule(struct msgr__daemon *d)
{
	/* the idle handle being active is what "spinning" means */
	if (!uv_is_active((uv_handle_t *)&d->spin)) {
		d->last_work_ns = msgr__now_ns();
		uv_idle_start(&d->spin, on_spin);
	}
}

static void on_schedule(void *d)
{
	msgr__daemon_schedule(d);
}

/* Start busy-polling client rings now (a client signalled). */
static void kick(struct msgr__daemon *d)
{
	msgr__daemon_schedule(d);
	d->last_work_ns = msgr__now_ns();
	pass(d);
}

/* The clients layer's hooks. */
static void hook_schedule(void *ctx)
{
	msgr__daemon_schedule(ctx);
}

static void hook_kick(void *ctx)
{
	kick(ctx);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct msgr__daemon *d = t->data;
	uint64_t now = msgr__now_ns();

	struct msgr__dclient *c, *next;

	for (c = d->reg.clients; c; c = next) {
		next = c->next;
		/* A client that overwrote its header has broken the contract
		 * even if no descriptor of its ever looked bad. */
		if (msgr__seg_check(c->base, c->size, &c->params)) {
			msgr__dclient_drop(c, MSGR__LOG_WARN, "segment header overwritten");
			continue;
		}
		atomic_store_explicit(&c->hdr->daemon_heartbeat_ns, now, memory_order_relaxed);
	}
	if (d->status_clients != d->reg.nclients)
		report_status(d);
}

/* Open files. Each attached client holds three in the daemon (its attach
 * connection and its two wakeup eventfds, registry.c), each control
 * connection one, and listeners, links and the log a few more. A soft
 * limit below that (1024 in a login shell) refuses attaches with EMFILE
 * long before global.max_clients, so the daemon takes what the hard limit
 * allows and says when even that is short. Called at start and whenever
 * the configuration changed; only raises. */
#define FDS_PER_CLIENT 3
#define FDS_BESIDE 64

static void fd_room(struct msgr__daemon *d)
{
	uint64_t need = FDS_PER_CLIENT * d->conf.client.max_clients + d->conf.ctl.max_conns + FDS_BESIDE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			rl.rlim_cur = was;
		else
			msgr__info("open files: limit raised from %llu to %llu for global.max_clients = %llu",
				   (unsigned long long)was, (unsigned long long)rl.rlim_cur,
				   (unsigned long long)d->conf.client.max_clients);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need &&
	    (d->fd_warned_need != need || d->fd_warned_limit != rl.rlim_cur)) {
		uint64_t room = rl.rlim_cur > d->conf.ctl.max_conns + FDS_BESIDE
					? (rl.rlim_cur - d->conf.ctl.max_conns - FDS_BESIDE) / FDS_PER_CLIENT
					: 0;
		msgr__warn("open files: global.max_clients = %llu needs about %llu, but the limit is %llu "
			   "(hard %llu): attaches past about %llu clients will fail with 'Too many open files'; "
			   "raise LimitNOFILE= (msgrd.service) or ulimit -n, or lower global.max_clients",
			   (unsigned long long)d->conf.client.max_clients, (unsigned long long)need,
			   (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			   (unsigned long long)room);
		/* once per shortfall, not on every unrelated reload */
		d->fd_warned_need = need;
		d->fd_warned_limit = rl.rlim_cur;
	}
}

/* Move the keys that differ from next into the running configuration, when
 * they may change at run time; name the others. msg collects a summary. */
static int apply(struct msgr__daemon *d, const struct msgr__conf *next, const char *why,
		 char *msg, size_t len)
{
	size_t used = 0;
	int changed = 0;

	if (len)
		msg[0] = 0;
	for (size_t i = 0; i < msgr__conf_nkeys(); i++) {
		char name[160], was[256], now[256];
		msgr__conf_key_value(&d->conf, i, was, sizeof(was));
		msgr__conf_key_value(next, i, now, sizeof(now));
		if (!strcmp(was, now))
			continue;
		msgr__conf_key_name(i, name, sizeof(name));
		if (!msgr__conf_key_live(i)) {
			msgr__warn("%s: %s changed to %s but takes effect only after a restart", why,
				   name, now);
			continue;
		}
		msgr__conf_key_copy(&d->conf, next, i);
		msgr__notice("%s: %s = %s (was %s)", why, name, now, was);
		if (used < len) {
			int w = snprintf(msg + used, len - used, "%s%s = %s (was %s)", changed ? "; " : "",
					 name, now, was);
			if (w > 0)
				used += (size_t)w;
		}
		changed++;
	}
	/* [policy] has no keys in the table; it applies to later attaches
	 * (entities already attached keep their names) */
	if (memcmp(&d->conf.policy, &next->policy, sizeof(next->policy))) {
		d->conf.policy = next->policy;
		msgr__notice("%s: [policy] changed: %u rule%s", why, next->policy.n,
			     next->policy.n == 1 ? "" : "s");
		if (used < len) {
			int w = snprintf(msg + used, len - used, "%s[policy] changed", changed ? "; " : "");
			if (w > 0)
				used += (size_t)w;
		}
		changed++;
	}
	msgr__log_level = d->conf.log_level;
	if (changed)
		fd_room(d);
	if (!changed && len)
		snprintf(msg, len, "nothing changed");
	return changed;
}

/* ---- the control socket's hooks: the configuration is the loop's ---- */

static int hook_config_get(void *ctx, const char *key, char *val, size_t len)
{
	struct msgr__daemon *d = ctx;
	int i = msgr__conf_find(key);

	if (i < 0)
		return -ENOENT;
	msgr__conf_key_value(&d->conf, (size_t)i, val, len);
	return 0;
}

/* Apply "key=value" to the running daemon, for keys that may change at
 * run time only. On success msg says what changed; on error, why not. */
static int hook_config_set(void *ctx, const char *key, const char *value, char *msg, size_t len)
{
	struct msgr__daemon *d = ctx;
	struct msgr__conf next = d->conf;
	char line[512];
	int i = msgr__conf_find(key);

	if (i < 0)
		return -ENOENT;
	if (!msgr__conf_key_live((size_t)i))
		return -EROFS;
	snprintf(line, sizeof(line), "%s=%s", key, value);
	if (msgr__conf_set_arg(&next, line, msg, len) || msgr__conf_check(&next, msg, len))
		return -EINVAL;
	apply(d, &next, "config set", msg, len);
	if (strcmp(msgr__log_path(), d->conf.log_file))
		log_follow(d, "config set");
	return 0;
}

static int hook_config_entry(void *ctx, size_t i, char *name, size_t nlen, char *val, size_t vlen)
{
	struct msgr__daemon *d = ctx;
	size_t nkeys = msgr__conf_nkeys();

	if (i < nkeys) {
		msgr__conf_key_name(i, name, nlen);
		msgr__conf_key_value(&d->conf, i, val, vlen);
		return 0;
	}
	/* then the [policy] rules, in the order they are tried */
	i -= nkeys;
	if (i >= d->conf.policy.n)
		return -ENOENT;
	snprintf(name, nlen, "policy.%s", d->conf.policy.rule[i].pattern);
	snprintf(val, vlen, "%s", d->conf.policy.rule[i].text);
	return 0;
}

static int hook_config_default(void *ctx, const char *key, char *val, size_t len, int *live)
{
	static struct msgr__conf def;
	static int have;
	int i = msgr__conf_find(key);

	if (i < 0)
		return -ENOENT;
	if (!have) {
		msgr__conf_defaults(&def);
		have = 1;
	}
	msgr__conf_key_value(&def, (size_t)i, val, len);
	*live = msgr__conf_key_live((size_t)i);
	return 0;
}

static int hook_config_help(void *ctx, const char *key, char *buf, size_t len)
{
	int i = msgr__conf_find(key);

	if (i < 0)
		return -ENOENT;
	msgr__conf_key_help((size_t)i, buf, len);
	return 0;
}

/* The log follows global.log_file after start-up, a reload and config
 * set; opening the same path again is the reopen logrotate wants. */
static void log_follow(struct msgr__daemon *d, const char *why)
{
	int err = msgr__log_file(d->conf.log_file);

	if (err)
		msgr__err("%s: global.log_file %s: %s; logging where it did", why, d->conf.log_file,
			  strerror(-err));
}

/* Under systemd: each line to the journal with structured fields, so
 * `journalctl ENTITY=osd.1` finds an entity's lines. msg is escaped. */
static int journal_sink(int level, const char *ident, const struct msgr__log_tags *t, const char *msg)
{
	char f[6][MSGR__ADDR_MAX + 32];
	struct iovec iov[6];
	int n = 0;

#define FIELD(...) do { \
		int w_ = snprintf(f[n], sizeof(f[n]), __VA_ARGS__); \
		iov[n].iov_base = f[n]; \
		iov[n].iov_len = w_ < 0 ? 0 : (size_t)w_ < sizeof(f[n]) ? (size_t)w_ : sizeof(f[n]) - 1; \
		n++; \
	} while (0)
	FIELD("PRIORITY=%d", level);
	FIELD("SYSLOG_IDENTIFIER=%s", ident);
	if (t && t->entity) {
		char esc[4 * MSGR__ENTITY_MAX];
		msgr__log_escape(esc, sizeof(esc), t->entity, strlen(t->entity));
		FIELD("ENTITY=%s", esc);
	}
	if (t && t->peer) {
		char esc[4 * MSGR__ADDR_MAX];
		msgr__log_escape(esc, sizeof(esc), t->peer, strlen(t->peer));
		FIELD("PEER=%.*s", (int)sizeof(f[0]) - 6, esc);
	}
	if (t && t->conn)
		FIELD("CONN=%llu", (unsigned long long)t->conn);
#undef FIELD
	{
		/* the message may be long: a field of its own size */
		size_t ml = strlen(msg);
		char *m = malloc(ml + 9);
		int rc;
		if (!m)
			return -ENOMEM;
		memcpy(m, "MESSAGE=", 8);
		memcpy(m + 8, msg, ml + 1);
		iov[n].iov_base = m;
		iov[n].iov_len = ml + 8;
		rc = sd_journal_sendv(iov, n + 1);
		free(m);
		return rc;
	}
}

static void report_status(struct msgr__daemon *d)
{
	d->status_clients = d->reg.nclients;
	sd_notifyf(0, "STATUS=serving %s, %u client%s attached", d->conf.net.listen, d->reg.nclients,
		   d->reg.nclients == 1 ? "" : "s");
}

static void reload(struct msgr__daemon *d)
{
	struct msgr__conf next;
	char err[512];

	sd_notify(0, "RELOADING=1");
	/* SIGHUP reopens the log file, as daemons do for logrotate: first,
	 * so that what the reload logs goes to the new file */
	log_follow(d, "reload");
	msgr__conf_defaults(&next);
	if (d->conf_path && msgr__conf_load(&next, d->conf_path, err, sizeof(err))) {
		msgr__err("reload: %s; keeping the running configuration", err);
		goto out;
	}
	for (int i = 0; i < d->nsets; i++)
		if (msgr__conf_set_arg(&next, d->sets[i], err, sizeof(err))) {
			msgr__err("reload: --set %s: %s", d->sets[i], err); /* checked at start */
			goto out;
		}
	if (msgr__conf_check(&next, err, sizeof(err))) {
		msgr__err("reload: %s; keeping the running configuration", err);
		goto out;
	}
	if (!apply(d, &next, "reload", err, sizeof(err)))
		msgr__notice("reload: %s: nothing changed", d->conf_path ? d->conf_path : "(no file)");
	if (msgr__net_reload_keyring(d->net, err, sizeof(err)))
		msgr__err("reload: %s; keeping the keys we had", err);
out:
	/* and global.log_file, if the reload changed it */
	if (strcmp(msgr__log_path(), d->conf.log_file))
		log_follow(d, "reload");
	sd_notify(0, "READY=1");
	report_status(d);
}

static void on_watchdog(uv_timer_t *t)
{
	sd_notify(0, "WATCHDOG=1");
}

static void on_signal(uv_poll_t *h, int status, int events)
{
	struct msgr__daemon *d = h->data;
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
			continue;
		}
		if (d->stopping)
			continue;
		msgr__notice("%s: shutting down", strsignal((int)si.ssi_signo));
		sd_notify(0, "STOPPING=1");
		d->stopping = 1;
		uv_stop(d->loop);
	}
}

/* SIGINT, SIGTERM and SIGHUP come in on a signalfd the loop polls, not
 * through handlers: a handler interrupts the poll, and libuv (1.44) then
 * restarts its idle timing when it polls again, so the sleep before the
 * signal counted as work in loop_busy_max_us and loop_stalls (a SIGHUP to
 * an idle daemon made a turn of up to a second). Called before any thread
 * exists (libuv starts its pool on first use), so every thread inherits
 * the blocked mask and no signal finds a thread that would take it with
 * its default action. msgrd runs no other program, so no child inherits
 * the mask. */
static int signals_open(struct msgr__daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	uv_poll_init(d->loop, &d->sigpoll, d->sigfd);
	d->sigpoll.data = d;
	uv_poll_start(&d->sigpoll, UV_READABLE, on_signal);
	return 0;
}

/* The folder of a socket (one level: /run/msgrd under /run), so that a
 * non-root msgrd is told it may not create it, not that a socket in it is
 * missing. 0, or a negative errno and the folder's name in dir. */
static int make_parent_dir(const char *path, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* What to do about a socket msgrd may not make, after its error. */
static const char *perm_hint(int err)
{
	return err == -EACCES || err == -EPERM || err == -EROFS
		       ? " (run msgrd as root or as its user under systemd, whose msgrd.tmpfiles "
			 "makes /run/msgrd; or set global.socket and global.ctl_socket to a folder "
			 "you may write)"
		       : "";
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct msgr__daemon daemon;
	struct msgr__daemon *d = &daemon;
	const char *conf_path = NULL;
	char err[512];
	const char *sets[128]; /* --set values, applied after the file */
	int nsets = 0, o, rc, check = 0;
	struct msgr__ctl_env env;

	msgr__log_init("msgrd");
	/* sd-journal drops lines without a word when its socket is missing
	 * (JOURNAL_STREAM inherited outside systemd): then stderr takes them */
	if (access("/run/systemd/journal/socket", F_OK) == 0)
		msgr__log_set_sink(journal_sink);
	msgr__conf_defaults(&d->conf);
	while ((o = getopt_long(argc, argv, "c:s:ftvh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': conf_path = optarg; break;
		case 's':
			if (nsets == (int)(sizeof(sets) / sizeof(sets[0]))) {
				fprintf(stderr, "msgrd: too many --set options\n");
				return 2;
			}
			sets[nsets++] = optarg;
			break;
		case 'f': break;
		case 't': check = 1; break;
		case 'v': printf("msgrd %s\n", MSGR_VERSION_STRING); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* `msgrd --check-config FILE`, as `nginx -t` and `sshd -t` are used */
	if (check && optind < argc && !conf_path)
		conf_path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "msgrd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	/* Only a missing default file means "use the defaults"; one we may not
	 * read is an error, not a silent fallback. */
	if (!conf_path && (access(MSGR_CONF_PATH, F_OK) == 0 || errno != ENOENT))
		conf_path = MSGR_CONF_PATH;
	if (conf_path && msgr__conf_load(&d->conf, conf_path, err, sizeof(err))) {
		fprintf(stderr, "msgrd: %s\n", err);
		return 2;
	}
	for (int i = 0; i < nsets; i++)
		if (msgr__conf_set_arg(&d->conf, sets[i], err, sizeof(err))) {
			fprintf(stderr, "msgrd: --set %s: %s\n", sets[i], err);
			return 2;
		}
	if (msgr__conf_check(&d->conf, err, sizeof(err))) {
		fprintf(stderr, "msgrd: %s\n", err);
		return 2;
	}
	if (check) {
		/* what start-up would refuse, it has refused above; nothing
		 * is created or bound */
		printf("msgrd: %s: configuration ok\n", conf_path ? conf_path : "(built-in defaults)");
		return 0;
	}
	msgr__log_level = d->conf.log_level;
	if ((rc = msgr__log_file(d->conf.log_file))) {
		fprintf(stderr, "msgrd: global.log_file = %s: %s\n", d->conf.log_file, strerror(-rc));
		return 2;
	}
	d->conf_path = conf_path;
	d->sets = sets;
	d->nsets = nsets;
	signal(SIGPIPE, SIG_IGN);

	d->loop = uv_default_loop();
	/* libuv times its sleeps only when asked. The cost (libuv 1.44): a
	 * poll that may block is first tried with a zero timeout, so a turn
	 * that goes to sleep makes one more epoll_wait, and a mutex is
	 * taken around each update of the idle time. */
	rc = uv_loop_configure(d->loop, UV_METRICS_IDLE_TIME);
	if (rc)
		msgr__warn("libuv will not time its sleeps (%s): loop_stalls and loop_busy_max_us will count sleep as work",
			   uv_strerror(rc));
	d->started_ns = msgr__now_ns();
	d->reg = (struct msgr__registry){
		.loop = d->loop,
		.conf = &d->conf.client,
		.net_conf = &d->conf.net,
		.stats = &d->stats.client,
		.schedule = { hook_schedule, d },
		.kick = { hook_kick, d },
		/* .chans once the network is up, below */
	};
	uv_idle_init(d->loop, &d->spin);
	d->spin.data = d;
	uv_prepare_init(d->loop, &d->turn);
	d->turn.data = d;
	uv_prepare_start(&d->turn, on_turn);
	uv_timer_init(d->loop, &d->heartbeat);
	d->heartbeat.data = d;
	uv_timer_start(&d->heartbeat, on_heartbeat, 1000, 1000);
	rc = signals_open(d);
	if (rc) {
		msgr__err("signals: %s", strerror(-rc));
		return 1;
	}

	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		env = (struct msgr__ctl_env){
			.reg = &d->reg,
			.chan_stats = &d->stats.chan,
			.net_stats = &d->stats.net,
			.ctl_stats = &d->stats.ctl,
			.loop_stats = &d->loop_stats,
			.inject = &d->conf.inject,
			.started_ns = d->started_ns,
			.started_unix_s = (double)now.tv_sec + now.tv_nsec / 1e9,
			.net = &d->net,
			.hooks = { hook_config_get, hook_config_set, hook_config_entry, hook_config_default, hook_config_help, d },
		};
	}
	/* first, as a configuration error: nothing else is up yet */
	if (d->conf.metrics_listen[0] &&
	    msgr__metrics_http_listen(d->loop, d->conf.metrics_listen, &env, &d->metrics, err, sizeof(err))) {
		fprintf(stderr, "msgrd: %s\n", err);
		return 2;
	}
	{
		const char *const socks[2][2] = { { "global.socket", d->conf.client.socket },
						   { "global.ctl_socket", d->conf.ctl.socket } };
		for (int i = 0; i < 2; i++) {
			char dir[sizeof(d->conf.client.socket)];
			rc = make_parent_dir(socks[i][1], dir, sizeof(dir));
			if (rc) {
				msgr__err("cannot create %s, the folder of %s %s: %s%s", dir, socks[i][0],
					  socks[i][1], strerror(-rc), perm_hint(rc));
				return 1;
			}
		}
	}
	fd_room(d);
	rc = msgr__attach_listen(&d->reg, &d->conf.policy, &d->stopping, &d->attach);
	if (rc) {
		msgr__err("attach socket %s: %s%s", d->conf.client.socket, strerror(-rc), perm_hint(rc));
		return 1;
	}
	rc = msgr__ctl_listen(d->loop, &d->conf.ctl, &d->stats.ctl, &env, &d->ctl);
	if (rc) {
		msgr__err("control socket %s: %s%s", d->conf.ctl.socket, strerror(-rc), perm_hint(rc));
		msgr__attach_close(d->attach);
		return 1;
	}
	/* config.c let only a registered name through */
	rc = msgr__net_start(&d->net, d->loop, &d->conf.net, &d->stats.net,
			     msgr__transport_find(d->conf.net.transport), d->conf.inject, on_schedule, d,
			     err, sizeof(err));
	if (!rc && !(d->reg.chans = msgr__chans_new(&d->conf.chan, &d->conf.net, &d->stats.chan,
						      msgr__net_sessions(d->net),
						      &msgr__registry_chan_events, &d->reg))) {
		snprintf(err, sizeof(err), "out of memory");
		msgr__net_stop(d->net);
		rc = -ENOMEM;
	}
	if (rc) {
		msgr__err("%s", err);
		msgr__ctl_close(d->ctl);
		msgr__attach_close(d->attach);
		return 1;
	}
	msgr__notice("msgrd %s ready: %s, attach socket %s, control socket %s%s%s", MSGR_VERSION_STRING,
		     d->conf.net.listen, d->conf.client.socket, d->conf.ctl.socket,
		     d->conf.metrics_listen[0] ? ", metrics on http://" : "", d->conf.metrics_listen);
	sd_notify(0, "READY=1");
	report_status(d);
	{
		uint64_t usec = 0;
		uv_timer_init(d->loop, &d->watchdog);
		/* systemd wants a ping within WatchdogSec; ping twice as often */
		if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
			uv_timer_start(&d->watchdog, on_watchdog, usec / 2000, usec / 2000);
	}

	uv_run(d->loop, UV_RUN_DEFAULT);

	msgr__attach_close(d->attach);
	d->attach = NULL;
	msgr__ctl_close(d->ctl);
	d->ctl = NULL;
	msgr__metrics_http_close(d->metrics);
	d->metrics = NULL;
	while (d->reg.clients)
		msgr__dclient_drop(d->reg.clients, MSGR__LOG_DEBUG, "daemon shutting down");
	msgr__net_stop(d->net);
	d->net = NULL;
	msgr__chans_free(d->reg.chans);
	d->reg.chans = NULL;
	uv_walk(d->loop, close_walk, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
	uv_loop_close(d->loop);
	close(d->sigfd);
	msgr__notice("stopped");
	return 0;
}
