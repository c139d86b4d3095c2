/*
 * daemons.c - the msgrd daemons the bench starts, and their control sockets.
 *
 * Each runs from the bench's own directory with a private socket directory
 * and cluster key under /tmp, a free loopback port, an explicit auth.mode
 * and, with --poll-us, global.poll_us. They are stopped at exit, also on ^C.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

struct bench_daemon bench_dmn[BENCH_ND] = {
	[BENCH_D_MAIN] = { .tag = "msgrd", .mode = "hmac" },
	[BENCH_D_NET_B] = { .tag = "msgrd-b", .mode = "hmac" },
	[BENCH_D_SEC_A] = { .tag = "msgrd-sec-a", .mode = "secure" },
	[BENCH_D_SEC_B] = { .tag = "msgrd-sec-b", .mode = "secure" },
	[BENCH_D_REC_A] = { .tag = "msgrd-rec-a", .mode = "hmac", .inject = 1 },
	[BENCH_D_REC_B] = { .tag = "msgrd-rec-b", .mode = "hmac", .inject = 1 },
	[BENCH_D_CH_A] = { .tag = "msgrd-ch-a", .mode = "hmac" },
	[BENCH_D_CH_B] = { .tag = "msgrd-ch-b", .mode = "hmac" },
	/* the bulk stream's 16 MiB messages, with room to spare */
	[BENCH_D_MIX_A] = { .tag = "msgrd-mix-a", .mode = "hmac", .extra = "global.max_message=32M" },
	[BENCH_D_MIX_B] = { .tag = "msgrd-mix-b", .mode = "hmac", .extra = "global.max_message=32M" },
};
pid_t bench_obs_daemon;
char bench_tmpdir[64];

int bench_exe_dir(char *buf, size_t n)
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

/* ---- the control socket ---- */

int bench_json_u64(const char *j, const char *key, uint64_t *v)
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
int bench_ctl_request(const char *path, const char *req, char **body)
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

int bench_ctl_status_at(const char *path, struct bench_dstats *ds)
{
	char *body = NULL;
	int err;

	memset(ds, 0, sizeof(*ds));
	err = bench_ctl_request(path, "{\"prefix\":\"status\"}", &body);
	if (err)
		return err;
	if (bench_json_u64(body, "wakeups_sent", &ds->wake_sent) ||
	    bench_json_u64(body, "wakeups_recv", &ds->wake_recv)) {
		err = -EPROTO;
		goto out;
	}
	bench_json_u64(body, "pid", &ds->pid);
	bench_json_u64(body, "poll_us", &ds->poll_us);
	ds->ok = 1;
out:
	free(body);
	return err;
}

int bench_ctl_status(struct bench_dstats *ds)
{
	return bench_ctl_status_at(bench_dmn[BENCH_D_MAIN].ctl, ds);
}

/* ---- starting and stopping ---- */

static void remove_tmpdir(void)
{
	char p[PATH_MAX];

	if (!bench_tmpdir[0])
		return;
	/* unlink and rmdir only: this runs from a signal handler too */
	for (int d = 0; d < BENCH_ND; d++)
		if (bench_dmn[d].log[0]) {
			unlink(bench_dmn[d].sock);
			unlink(bench_dmn[d].ctl);
			unlink(bench_dmn[d].log);
		}
	snprintf(p, sizeof(p), "%s/keyring", bench_tmpdir);
	unlink(p);
	rmdir(bench_tmpdir);
	bench_tmpdir[0] = 0;
}

void bench_show_logs(void)
{
	char line[512];

	for (int d = 0; d < BENCH_ND; d++) {
		FILE *f = bench_dmn[d].log[0] ? fopen(bench_dmn[d].log, "r") : NULL;
		if (!f)
			continue;
		fprintf(stderr, "msgr-bench: %s:\n", bench_dmn[d].log);
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
		bench_sleep_us(10000);
	}
	bench_errmsg("msgrd (pid %d) ignored SIGTERM for 3 s; killing it", (int)p);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

void bench_stop_daemons(void)
{
	for (int d = 0; d < BENCH_ND; d++)
		stop_one(&bench_dmn[d].pid);
	remove_tmpdir();
}

/* From a signal handler: async-signal-safe calls only. */
void bench_kill_daemons_now(void)
{
	for (int d = 0; d < BENCH_ND; d++)
		if (bench_dmn[d].pid)
			kill(bench_dmn[d].pid, SIGTERM);
	for (int d = 0; d < BENCH_ND; d++)
		if (bench_dmn[d].pid)
			waitpid(bench_dmn[d].pid, NULL, 0);
	remove_tmpdir();
}

enum bench_daemon_id bench_daemon_with_pid(pid_t p)
{
	int d = 0;

	while (d < BENCH_ND && bench_dmn[d].pid != p)
		d++;
	return (enum bench_daemon_id)d;
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

/* Which simulated host a daemon stands for (--pin): the second of each
 * pair is host B; the same-host daemon is host A, with the sender. */
static int daemon_side(const struct bench_daemon *dm)
{
	switch ((enum bench_daemon_id)(dm - bench_dmn)) {
	case BENCH_D_NET_B:
	case BENCH_D_SEC_B:
	case BENCH_D_REC_B:
	case BENCH_D_CH_B:
	case BENCH_D_MIX_B:
		return 1;
	default:
		return 0;
	}
}

/* Start one msgrd with its sockets and log in the tmpdir (names from its
 * tag); 0 once its control socket answers. */
static int spawn_daemon(const char *bin, struct bench_daemon *dm)
{
	char *sock = dm->sock, *ctl = dm->ctl, *log = dm->log;
	const char *tag = dm->tag;
	char a_sock[PATH_MAX + 32], a_ctl[PATH_MAX + 32], a_key[PATH_MAX + 32];
	char a_listen[64], a_poll[48], a_mode[48];
	char *argv[40];
	int argc = 0, port = free_port();
	struct bench_dstats ds;
	pid_t p;

	if (port < 0) {
		bench_errmsg("no free loopback port");
		return -1;
	}
	snprintf(sock, PATH_MAX, "%s/%s.sock", bench_tmpdir, tag);
	snprintf(ctl, PATH_MAX, "%s/%s.asok", bench_tmpdir, tag);
	snprintf(log, PATH_MAX, "%s/%s.log", bench_tmpdir, tag);
	snprintf(a_sock, sizeof(a_sock), "global.socket=%s", sock);
	snprintf(a_ctl, sizeof(a_ctl), "global.ctl_socket=%s", ctl);
	snprintf(a_key, sizeof(a_key), "auth.keyring=%s/keyring", bench_tmpdir);
	snprintf(a_listen, sizeof(a_listen), "global.listen=127.0.0.1:%d", port);
	snprintf(a_poll, sizeof(a_poll), "global.poll_us=%u",
		 bench_opt.dpoll_set ? bench_opt.dpoll_us : bench_opt.poll_us);
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
	if (bench_opt.poll_set || bench_opt.dpoll_set) {
		argv[argc++] = "--set";
		argv[argc++] = a_poll;
	}
	if (dm->inject) {
		argv[argc++] = "--set";
		argv[argc++] = "global.inject=true";
	}
	if (dm->extra) {
		argv[argc++] = "--set";
		argv[argc++] = (char *)dm->extra;
	}
	for (unsigned i = 0; i < bench_opt.ndset; i++) {
		argv[argc++] = "--set";
		argv[argc++] = (char *)bench_opt.dset[i];
	}
	argv[argc] = NULL;

	fflush(NULL);
	p = fork();
	if (p < 0) {
		bench_errmsg("fork: %s", strerror(errno));
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
		if (bench_opt.pin && bench_pin(daemon_side(dm))) {
			fprintf(stderr, "msgr-bench: --pin: %s\n", strerror(errno));
			_exit(126);
		}
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
			bench_errmsg("msgrd (%s) exited at start-up (%s %d)", tag,
				     WIFEXITED(st) ? "status" : "signal",
				     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return -1;
		}
		if (access(ctl, F_OK) == 0 && bench_ctl_status_at(ctl, &ds) == 0)
			return 0;
		bench_sleep_us(10000);
	}
	bench_errmsg("msgrd (%s) did not answer on %s within 5 s", tag, ctl);
	return -1;
}

/* D_MAIN always: the probe attaches there, even when msgrd is not run. */
int bench_daemon_needed(enum bench_daemon_id d)
{
	switch (d) {
	case BENCH_D_REC_A:
	case BENCH_D_REC_B:
		return bench_opt.recovery;
	case BENCH_D_CH_A:
	case BENCH_D_CH_B:
		return bench_opt.channels > 0;
	case BENCH_D_MIX_A:
	case BENCH_D_MIX_B:
		return bench_opt.mixed;
	default:
		break;
	}
	for (int t = 0; t < BENCH_NPATH; t++)
		if ((bench_opt.paths >> t & 1) && bench_paths[t].ndaemons &&
		    (bench_paths[t].via[0] == d || bench_paths[t].via[1] == d))
			return 1;
	return d == BENCH_D_MAIN;
}

/* The tmpdir, its key, and every daemon the options need. */
int bench_start_daemons(void)
{
	char dir[PATH_MAX], bin[PATH_MAX + 8], key[PATH_MAX];
	int err;

	err = bench_exe_dir(dir, sizeof(dir));
	if (err) {
		bench_errmsg("cannot find my own executable: %s", strerror(-err));
		return -1;
	}
	snprintf(bin, sizeof(bin), "%s/msgrd", dir);
	if (access(bin, X_OK)) {
		bench_errmsg("no msgrd next to msgr-bench (%s: %s); build it or pass --socket", bin,
			     strerror(errno));
		return -1;
	}
	snprintf(bench_tmpdir, sizeof(bench_tmpdir), "/tmp/msgr-bench.XXXXXX");
	if (!mkdtemp(bench_tmpdir)) {
		bench_errmsg("mkdtemp: %s", strerror(errno));
		bench_tmpdir[0] = 0;
		return -1;
	}
	snprintf(key, sizeof(key), "%s/keyring", bench_tmpdir);
	err = write_keyring(key);
	if (err) {
		bench_errmsg("%s: %s", key, strerror(-err));
		remove_tmpdir();
		return -1;
	}
	for (int d = 0; d < BENCH_ND; d++)
		if (bench_daemon_needed((enum bench_daemon_id)d) && spawn_daemon(bin, &bench_dmn[d]))
			goto fail;
	return 0;
fail:
	bench_show_logs();
	bench_stop_daemons();
	return -1;
}
