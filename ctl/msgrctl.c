/*
 * msgrctl - the native client of msgrd's control socket.
 *
 * It speaks the same Ceph admin-socket protocol as `ceph daemon`: a JSON
 * request ended by NUL, a 4-byte big-endian length, then the JSON reply.
 * Human tables by default, the daemon's JSON with --json.
 *
 * Exit codes: 0 success, 1 the daemon refused the command, 2 usage error,
 * 3 the daemon could not be reached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <grp.h>
#include <ini.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/edit_distance.h"
#include "common/ini_comment.h"
#include "common/log.h"
#include "common/paths.h"
#include "msgr.h"

#define DEFAULT_CTL "/run/msgrd/msgrd.asok"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgrctl [OPTION]... COMMAND [ARG]... [OPTION]...\n"
		"Inspect a running msgrd through its control socket.\n\n"
		"Commands:\n"
		"  status                  daemon status and counters\n"
		"  clients                 attached entities\n"
		"  conns                   connections of every attached entity\n"
		"  sessions                sessions with other daemons: links, bytes, rtt\n"
		"  perf dump               every counter, as JSON\n"
		"  perf schema             every counter's type and description (Ceph's form)\n"
		"  counter dump            counters with labels (peer, reason), as ceph-exporter reads\n"
		"  counter schema          their types and descriptions\n"
		"  metrics                 every counter, Prometheus text format (as GET /metrics)\n"
		"  config show             the running configuration\n"
		"  config diff             the keys that differ from their defaults\n"
		"  config help KEY         what a key is, its default, whether it is live\n"
		"  config get KEY          one key (section.key)\n"
		"  config set KEY VALUE    change a key that may change at run time\n"
		"  log level [LEVEL]       show or set: error warning notice info debug\n"
		"  log flush               write the log file out to disk\n"
		"  log reopen              reopen global.log_file (for logrotate)\n"
		"  inject detach ENTITY    fault injection (needs global.inject = true)\n"
		"  inject kill-link HOST:PORT  abort the link to that daemon, as a network reset would\n"
		"  inject stall MS         hold the daemon's event loop for MS milliseconds (1..5000)\n"
		"  version                 the daemon's version\n"
		"  help                    the daemon's command list\n"
		"  keygen [FILE] [--force] [--group GROUP]\n"
		"                          write a new cluster key file (mode 0600, or 0640\n"
		"                          readable by GROUP, e.g. msgr), by default msgrd's\n"
		"                          auth.keyring; creates a missing folder (mode 0750);\n"
		"                          needs no daemon\n\n"
		"Options, before or after the command:\n"
		"  -s, --socket PATH  control socket (default $MSGR_CTL_SOCKET, then\n"
		"                     global.ctl_socket of the config file, then %s)\n"
		"  -c, --config FILE  msgrd's config file (default %s)\n"
		"  -j, --json         print the daemon's JSON reply\n"
		"  -v, --version      print msgrctl's version\n"
		"  -h, --help         print this help\n\n"
		"Exit status: 0 ok, 1 command failed, 2 usage error, 3 daemon unreachable.\n",
		DEFAULT_CTL, MSGR_CONF_PATH);
}

static int xread(int fd, void *buf, size_t n)
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

/* Send one request; return the reply text (malloc'd) or NULL with errno. */
static char *request(const char *path, struct json_object *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *text;
	uint32_t be;
	char *reply = NULL;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	/* A daemon that refuses us answers at once and closes, so the write
	 * may fail with EPIPE while its reply waits to be read: read anyway. */
	(void)!write(fd, text, strlen(text) + 1);
	err = xread(fd, &be, 4);
	if (err) {
		errno = -err;
		goto out;
	}
	be = ntohl(be);
	reply = malloc((size_t)be + 1);
	if (!reply)
		goto out;
	err = xread(fd, reply, be);
	if (err) {
		free(reply);
		reply = NULL;
		errno = -err;
		goto out;
	}
	reply[be] = 0;
out:
	err = errno;
	if (fd >= 0)
		close(fd);
	errno = err;
	return reply;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	/* absent or null: "-" (json-c gives NULL for a null) */
	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

static double jnum(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

static void human_bytes(double b, char *out, size_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void print_status(struct json_object *o)
{
	struct json_object *s;

	printf("msgrd %s, pid %s, up %.0f s\n", jstr(o, "version"), jstr(o, "pid"), jnum(o, "uptime_s"));
	printf("listen   %s\nsocket   %s\nclients  %s\nworkers  %s\npoll_us  %s\n", jstr(o, "listen"),
	       jstr(o, "socket"), jstr(o, "clients"), jstr(o, "workers"), jstr(o, "poll_us"));
	if (json_object_object_get_ex(o, "stats", &s)) {
		printf("counters:\n");
		json_object_object_foreach(s, k, v)
			printf("  %-16s %s\n", k, json_object_get_string(v));
	}
}

static void print_clients(struct json_object *a)
{
	size_t n = json_object_array_length(a);
	char sent[32], recv[32], pool[32];

	printf("%-4s %-20s %-8s %5s %10s %10s %10s %10s %6s %8s\n", "ID", "ENTITY", "PID", "CONNS",
	       "MSGS_OUT", "MSGS_IN", "BYTES_OUT", "BYTES_IN", "QUEUED", "AGE");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		human_bytes(jnum(o, "bytes_out"), sent, sizeof(sent));
		human_bytes(jnum(o, "bytes_in"), recv, sizeof(recv));
		human_bytes(jnum(o, "rx_pool_used_bytes"), pool, sizeof(pool));
		printf("%-4s %-20s %-8s %5s %10s %10s %10s %10s %6s %7.0fs\n", jstr(o, "id"),
		       jstr(o, "entity"), jstr(o, "pid"), jstr(o, "conns"), jstr(o, "msgs_out"),
		       jstr(o, "msgs_in"), sent, recv, jstr(o, "outbox_events"), jnum(o, "age_s"));
	}
	if (!n)
		printf("(no clients attached)\n");
}

static void print_conns(struct json_object *a)
{
	size_t n = json_object_array_length(a);
	char qb[32];

	/* MODE is what the connecting side asked for, IN_EFFECT how the
	 * channel really behaves; UNACKED: sent and kept until the peer acks
	 * (remote channels) */
	printf("%-16s %-10s %-32s %-8s %-9s %-8s %-3s %-9s %9s %9s %7s %7s %9s %7s\n", "ENTITY", "CONN",
	       "PEER", "MODE", "IN_EFFECT", "STATE", "DIR", "TRANSPORT", "OUT_SEQ", "IN_SEQ", "UNACKED",
	       "QUEUED", "Q_BYTES", "AGE");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		human_bytes(jnum(o, "queued_bytes"), qb, sizeof(qb));
		printf("%-16s %-10s %-32s %-8s %-9s %-8s %-3s %-9s %9s %9s %7s %7s %9s %6.0fs\n",
		       jstr(o, "entity"), jstr(o, "conn"), jstr(o, "peer"), jstr(o, "mode"),
		       jstr(o, "mode_in_effect"), jstr(o, "state"), jstr(o, "direction"),
		       jstr(o, "transport"), jstr(o, "out_seq"), jstr(o, "in_seq"), jstr(o, "unacked_msgs"),
		       jstr(o, "queued_msgs"), qb, jnum(o, "age_s"));
	}
	if (!n)
		printf("(no connections)\n");
}

/* The commands, with the names the daemon expects their arguments under
 * (the same names its get_command_descriptions gives Ceph's CLI). msgrctl
 * knows them itself, so a typing mistake is a usage error with a
 * suggestion, not a round trip to the daemon. */
static const struct cmd {
	const char *prefix;
	const char *args[2];
	int min, max;           /* how many arguments it takes */
	const char *synopsis;   /* its arguments, for messages */
} cmds[] = {
	{ "status", { 0 }, 0, 0, "" },
	{ "clients", { 0 }, 0, 0, "" },
	{ "conns", { 0 }, 0, 0, "" },
	{ "sessions", { 0 }, 0, 0, "" },
	{ "perf dump", { 0 }, 0, 0, "" },
	{ "perf schema", { 0 }, 0, 0, "" },
	{ "counter dump", { 0 }, 0, 0, "" },
	{ "counter schema", { 0 }, 0, 0, "" },
	{ "metrics", { 0 }, 0, 0, "" },
	{ "config show", { 0 }, 0, 0, "" },
	{ "config diff", { 0 }, 0, 0, "" },
	{ "config help", { "key" }, 1, 1, " KEY" },
	{ "config get", { "key" }, 1, 1, " KEY" },
	{ "config set", { "key", "value" }, 2, 2, " KEY VALUE" },
	{ "log level", { "level" }, 0, 1, " [LEVEL]" },
	{ "log flush", { 0 }, 0, 0, "" },
	{ "log reopen", { 0 }, 0, 0, "" },
	{ "inject", { "fault", "target" }, 2, 2, " (detach ENTITY | kill-link HOST:PORT | stall MS)" },
	{ "version", { 0 }, 0, 0, "" },
	{ "help", { 0 }, 0, 0, "" },
	{ "get_command_descriptions", { 0 }, 0, 0, "" },
	{ "keygen", { 0 }, 0, 1, " [FILE] [--force] [--group GROUP]" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static int nwords_of(const char *prefix)
{
	int n = 1;

	for (; *prefix; prefix++)
		n += *prefix == ' ';
	return n;
}

/* The command whose words lead argv, or NULL. */
static const struct cmd *find_cmd(int argc, char **argv)
{
	for (size_t k = 0; k < NCMDS; k++) {
		const char *p = cmds[k].prefix;
		int w = nwords_of(p), i;
		if (argc < w)
			continue;
		for (i = 0; i < w; i++) {
			size_t len = strcspn(p, " ");
			if (strlen(argv[i]) != len || strncmp(argv[i], p, len))
				break;
			p += len + (p[len] == ' ');
		}
		if (i == w)
			return &cmds[k];
	}
	return NULL;
}

/* An unknown command: exit status 2, and the commands it may have meant,
 * those it begins (`perf` for `perf dump`) or those a typo or two away. */
static int unknown_cmd(int argc, char **argv)
{
	char typed[256] = "", want[256];
	const struct cmd *near[NCMDS];
	size_t nnear = 0, best = 3;

	for (int i = 0; i < argc && i < 3; i++)
		snprintf(typed + strlen(typed), sizeof(typed) - strlen(typed), "%s%s", i ? " " : "", argv[i]);
	fprintf(stderr, "msgrctl: unknown command '%s'\n", typed);
	for (size_t k = 0; k < NCMDS; k++) {
		const char *p = cmds[k].prefix;
		int w = nwords_of(p);
		size_t d;
		if (!strcmp(p, "get_command_descriptions"))
			continue;
		/* the first w words typed, against the command's w words */
		want[0] = 0;
		for (int i = 0; i < argc && i < w; i++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? " " : "", argv[i]);
		if (argc < w && !strncmp(p, want, strlen(want)) && p[strlen(want)] == ' ')
			d = 0; /* the start of a longer command */
		else
			d = msgr__edit_distance(want, p);
		if (d < best) {
			best = d;
			nnear = 0;
		}
		if (d == best)
			near[nnear++] = &cmds[k];
	}
	if (nnear) {
		fprintf(stderr, "msgrctl: did you mean ");
		for (size_t i = 0; i < nnear; i++)
			fprintf(stderr, "%s'msgrctl %s%s'", i == 0 ? "" : i + 1 == nnear ? " or " : ", ",
				near[i]->prefix, near[i]->synopsis);
		fprintf(stderr, "?\n");
	} else {
		fprintf(stderr, "msgrctl: see 'msgrctl --help' for the commands\n");
	}
	return 2;
}

/* mkdir -p of path's folder: each missing one gets mode 0750 (whatever the
 * umask, so that gid can enter it) and, with a group, that group. */
static int make_parents(const char *path, const struct group *gr)
{
	char dir[4096];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (access(dir, F_OK) == 0)
		return 0;
	/* create the ancestors first; each returns at once if it exists */
	{
		int rc = make_parents(dir, gr);
		if (rc)
			return rc;
	}
	if (mkdir(dir, 0700))
		return errno == EEXIST ? 0 : -errno; /* someone else's, as it is */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((gr && fchown(fd, (uid_t)-1, gr->gr_gid)) || fchmod(fd, 0750)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	close(fd);
	printf("created %s (mode 0750%s%s)\n", dir, gr ? ", group " : "", gr ? gr->gr_name : "");
	return 0;
}

static int keygen(const char *path, int force, const char *group)
{
	unsigned char key[32];
	char line[128];
	struct group *gr = NULL;
	int fd, n, rc;

	if (group && !(gr = getgrnam(group))) {
		fprintf(stderr, "msgrctl: keygen: no group '%s'\n", group);
		return 2;
	}
	if (getrandom(key, sizeof(key), 0) != sizeof(key)) {
		fprintf(stderr, "msgrctl: keygen: no randomness: %s\n", strerror(errno));
		return 1;
	}
	n = snprintf(line, sizeof(line), "[cluster]\nkey = ");
	for (size_t i = 0; i < sizeof(key); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", key[i]);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\n");
	explicit_bzero(key, sizeof(key));
	rc = make_parents(path, gr);
	if (rc) {
		fprintf(stderr, "msgrctl: keygen: cannot create the folder of %s: %s\n", path, strerror(-rc));
		rc = 1;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), 0600);
	if (fd < 0) {
		fprintf(stderr, "msgrctl: keygen: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (use --force to replace it)" : "");
		rc = 1;
		goto out;
	}
	/* an existing file replaced with --force may have had a wider mode; with
	 * --group the daemon's group (msgr) may read it, nobody else */
	if ((gr && fchown(fd, (uid_t)-1, gr->gr_gid)) || fchmod(fd, gr ? 0640 : 0600) ||
	    write(fd, line, (size_t)n) != n || fsync(fd) || close(fd)) {
		fprintf(stderr, "msgrctl: keygen: %s: %s\n", path, strerror(errno));
		rc = 1;
		goto out;
	}
	printf("wrote a new cluster key to %s (mode %s)\n", path, gr ? "0640" : "0600");
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	return rc;
}

/* What msgrctl takes from msgrd.conf: where the daemon's control socket and
 * cluster key are, when the command line and environment do not say. */
struct conf_paths {
	char ctl_socket[108];
	char keyring[4096];
};

static int on_conf_key(void *user, const char *section, const char *name, const char *value)
{
	struct conf_paths *cp = user;
	char v[4096];

	value = msgr__ini_strip_comment(value, v, sizeof(v)); /* as msgrd reads it */
	if (!strcmp(section, "global") && !strcmp(name, "ctl_socket"))
		snprintf(cp->ctl_socket, sizeof(cp->ctl_socket), "%.*s",
			 (int)sizeof(cp->ctl_socket) - 1, value);
	else if (!strcmp(section, "auth") && !strcmp(name, "keyring"))
		snprintf(cp->keyring, sizeof(cp->keyring), "%s", value);
	return 1; /* msgrd, not msgrctl, judges the rest of the file */
}

/* 0, or -errno if the file cannot be read (-ENOENT: it does not exist). */
static int read_conf(const char *path, struct conf_paths *cp)
{
	FILE *f = fopen(path, "re");
	int rc;

	if (!f)
		return -errno;
	rc = ini_parse_file(f, on_conf_key, cp);
	fclose(f);
	return rc < 0 ? -EIO : 0;
}

/* An object of scalars reads best as a two-column table. */
static int flat(struct json_object *o)
{
	json_object_object_foreach(o, k, v) {
		(void)k;
		if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
			return 0;
	}
	return 1;
}

static void print_sessions(struct json_object *a)
{
	size_t n = json_object_array_length(a);

	printf("%-22s %-10s %8s  %-4s %-9s %-15s %-22s %12s %12s %9s\n", "PEER", "STATE", "CHANNELS",
	       "DIR", "LINK", "TRANSPORT", "REMOTE", "BYTES_OUT", "BYTES_IN", "RTT_US");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *links;
		size_t nl = 0;
		if (json_object_object_get_ex(o, "links", &links))
			nl = json_object_array_length(links);
		printf("%-22s %-10s %8s", jstr(o, "peer"), jstr(o, "state"), jstr(o, "channels"));
		for (size_t j = 0; j < nl; j++) {
			struct json_object *l = json_object_array_get_idx(links, j), *inj;
			char tr[32];
			/* "tcp+fault": tcp, through the fault interceptor */
			snprintf(tr, sizeof(tr), "%s%s", jstr(l, "transport"),
				 json_object_object_get_ex(l, "inject", &inj) &&
				 json_object_get_boolean(inj) ? "+fault" : "");
			if (j)
				printf("%-22s %-10s %8s", "", "", "");
			printf("  %-4s %-9s %-15s %-22s %12s %12s %9.0f\n", jstr(l, "direction"), jstr(l, "state"),
			       tr, jstr(l, "remote"), jstr(l, "bytes_out"), jstr(l, "bytes_in"),
			       json_object_get_double(json_object_object_get(l, "rtt_us")));
		}
		if (!nl)
			printf("  (no link; last error: %s)\n", jstr(o, "last_error"));
	}
	if (!n)
		printf("(no sessions: no other msgrd has been reached, or reached us)\n");
}

/* Escape, in place, every string of a reply that is printed for people.
 * Some hold what clients and peers sent (a connection's peer as the client
 * wrote it, a session's last error), and a terminal would act on their
 * control bytes; --json output is escaped by JSON itself. */
static void sanitize(struct json_object *o)
{
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, v) {
			(void)key;
			sanitize(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			sanitize(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_string)) {
		const unsigned char *s = (const unsigned char *)json_object_get_string(o);
		size_t n = (size_t)json_object_get_string_len(o), i;
		char *esc;
		/* printable ASCII stays as it is, backslashes too: the
		 * daemon's errors arrive escaped already */
		for (i = 0; i < n && s[i] >= 0x20 && s[i] < 0x7f; i++)
			;
		if (i == n)
			return;
		esc = malloc(4 * n + 1);
		if (!esc) {
			json_object_set_string(o, "?");
			return;
		}
		msgr__log_escape(esc, 4 * n + 1, (const char *)s, n);
		json_object_set_string(o, esc);
		free(esc);
	}
}

/* Where the control socket path came from, for the error that says it
 * cannot be reached. */
static const char *path_origin(int from, const char *conf, char *buf, size_t len)
{
	switch (from) {
	case 's': return "--socket";
	case 'e': return "$MSGR_CTL_SOCKET";
	case 'c': snprintf(buf, len, "global.ctl_socket in %s", conf); return buf;
	default: return "the default";
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "force", no_argument, NULL, 'F' },
		{ "group", required_argument, NULL, 'G' },
		{ 0 },
	};
	const char *path = NULL, *conf = NULL, *group = NULL, *env;
	struct conf_paths cp = { "", "" };
	struct json_object *o = NULL, *e, *req = NULL;
	const struct cmd *cmd;
	char prefix[256] = "", origin_buf[4200], *reply = NULL;
	int json = 0, force = 0, c, rc = 2, nargs, conf_err = 0, from = 'd';

	signal(SIGPIPE, SIG_IGN); /* EPIPE is handled where it happens */
	/* options anywhere (GNU getopt moves them ahead of the command); "--"
	 * ends them, for an argument that starts with a dash */
	while ((c = getopt_long(argc, argv, "s:c:jvh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; from = 's'; break;
		case 'c': conf = optarg; break;
		case 'j': json = 1; break;
		case 'v': printf("msgrctl %s\n", MSGR_VERSION_STRING); return 0;
		case 'h': usage(stdout); return 0;
		case 'F': force = 1; break;
		case 'G': group = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = find_cmd(argc - optind, argv + optind);
	if (!cmd)
		return unknown_cmd(argc - optind, argv + optind);
	nargs = argc - optind - nwords_of(cmd->prefix);
	if (nargs < cmd->min || nargs > cmd->max) {
		fprintf(stderr, "msgrctl: %s: wrong number of arguments\nusage: msgrctl %s%s\n", cmd->prefix,
			cmd->prefix, cmd->synopsis);
		return 2;
	}
	if ((force || group) && strcmp(cmd->prefix, "keygen")) {
		fprintf(stderr, "msgrctl: --force and --group go with keygen only\n");
		return 2;
	}

	/* The config file is read for what it names only when nothing more
	 * direct does: a file named with -c must exist, the default may not. */
	env = getenv("MSGR_CTL_SOCKET");
	if (!path && env && *env) {
		path = env;
		from = 'e';
	}
	if (conf || (!path || !strcmp(cmd->prefix, "keygen"))) {
		conf_err = read_conf(conf ? conf : MSGR_CONF_PATH, &cp);
		if (conf && conf_err) {
			fprintf(stderr, "msgrctl: %s: %s\n", conf,
				conf_err == -EIO ? "not an INI file msgrd can read" : strerror(-conf_err));
			return 2;
		}
		if (!conf)
			conf = MSGR_CONF_PATH;
	}
	if (!path && *cp.ctl_socket) {
		path = cp.ctl_socket;
		from = 'c';
	}
	if (!path)
		path = DEFAULT_CTL;

	if (!strcmp(cmd->prefix, "keygen"))
		return keygen(nargs ? argv[argc - 1] : *cp.keyring ? cp.keyring : MSGR_KEYRING_PATH,
			      force, group);

	req = json_object_new_object();
	for (int a = 0; a < nargs; a++)
		json_object_object_add(req, cmd->args[a], json_object_new_string(argv[argc - nargs + a]));
	snprintf(prefix, sizeof(prefix), "%s", cmd->prefix);
	json_object_object_add(req, "prefix", json_object_new_string(prefix));
	reply = request(path, req);
	if (!reply) {
		rc = 3;
		if (errno == EPROTOTYPE) {
			/* a stream socket meets the SEQPACKET attach socket */
			fprintf(stderr,
				"msgrctl: %s (%s) is msgrd's attach socket (global.socket), not its control "
				"socket (global.ctl_socket, by default %s): use --socket with that\n",
				path, path_origin(from, conf, origin_buf, sizeof(origin_buf)), DEFAULT_CTL);
			goto out;
		}
		fprintf(stderr, "msgrctl: cannot reach msgrd at %s (%s): %s\n", path,
			path_origin(from, conf, origin_buf, sizeof(origin_buf)), strerror(errno));
		if (from == 'd' && conf_err && conf_err != -ENOENT)
			fprintf(stderr, "msgrctl: could not read %s for its global.ctl_socket: %s\n", conf,
				conf_err == -EIO ? "not an INI file" : strerror(-conf_err));
		goto out;
	}
	rc = 0;
	if (!strcmp(prefix, "metrics")) {
		fputs(reply, stdout); /* Prometheus text, as is */
		goto out;
	}
	o = json_tokener_parse(reply);
	if (!o) {
		fprintf(stderr, "msgrctl: the daemon's reply is not JSON\n");
		rc = 1;
		goto out;
	}
	if (!json)
		sanitize(o);
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "error", &e)) {
		fprintf(stderr, "msgrctl: %s\n", json_object_get_string(e));
		rc = 1;
	} else if (json) {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!strcmp(prefix, "status")) {
		print_status(o);
	} else if (!strcmp(prefix, "clients")) {
		print_clients(o);
	} else if (!strcmp(prefix, "conns")) {
		print_conns(o);
	} else if (!strcmp(prefix, "sessions")) {
		print_sessions(o);
	} else if (json_object_is_type(o, json_type_object) && flat(o)) {
		json_object_object_foreach(o, k, v)
			printf("%-26s %s\n", k, json_object_get_string(v));
	} else {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	}
out:
	json_object_put(o);
	json_object_put(req);
	free(reply);
	return rc;
}
