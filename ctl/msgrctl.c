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
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "msgr.h"

#define DEFAULT_CTL "/run/msgrd/msgrd.asok"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgrctl [--socket PATH] [--json] COMMAND [ARG]...\n"
		"Inspect a running msgrd through its control socket.\n\n"
		"Commands:\n"
		"  status                  daemon status and counters\n"
		"  clients                 attached entities\n"
		"  conns                   connections of every attached entity\n"
		"  sessions                sessions with other daemons: links, bytes, rtt\n"
		"  perf dump               every counter, as JSON\n"
		"  metrics                 every counter, Prometheus text format\n"
		"  config show             the running configuration\n"
		"  config get KEY          one key (section.key)\n"
		"  config set KEY VALUE    change a key that may change at run time\n"
		"  log level [LEVEL]       show or set: error warning notice info debug\n"
		"  inject detach ENTITY    fault injection (needs global.inject = true)\n"
		"  inject kill-link HOST:PORT  abort the link to that daemon, as a network reset would\n"
		"  version                 the daemon's version\n"
		"  help                    the daemon's command list\n"
		"  keygen FILE [--force] [--group GROUP]\n"
		"                          write a new cluster key file (mode 0600, or 0640\n"
		"                          readable by GROUP, e.g. msgr); needs no daemon\n\n"
		"Options:\n"
		"  -s, --socket PATH  control socket (default $MSGR_CTL_SOCKET, then %s)\n"
		"  -j, --json         print the daemon's JSON reply\n"
		"  -h, --help         print this help\n\n"
		"Exit status: 0 ok, 1 command failed, 2 usage error, 3 daemon unreachable.\n",
		DEFAULT_CTL);
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
		human_bytes(jnum(o, "bytes_sent"), sent, sizeof(sent));
		human_bytes(jnum(o, "bytes_recv"), recv, sizeof(recv));
		human_bytes(jnum(o, "rx_pool_used"), pool, sizeof(pool));
		printf("%-4s %-20s %-8s %5s %10s %10s %10s %10s %6s %7.0fs\n", jstr(o, "id"),
		       jstr(o, "entity"), jstr(o, "pid"), jstr(o, "conns"), jstr(o, "msgs_sent"),
		       jstr(o, "msgs_recv"), sent, recv, jstr(o, "outbox"), jnum(o, "age_s"));
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

/* Commands that take arguments, with the names the daemon expects them
 * under (the same names its get_command_descriptions gives Ceph's CLI). */
static const struct {
	const char *prefix;
	const char *args[2];
	int required;
} with_args[] = {
	{ "config get", { "key" }, 1 },
	{ "config set", { "key", "value" }, 2 },
	{ "log level", { "level" }, 0 },
	{ "inject", { "fault", "target" }, 2 },
};

static int keygen(int argc, char **argv)
{
	unsigned char key[32];
	char line[128];
	const char *path = NULL, *group = NULL;
	struct group *gr = NULL;
	int force = 0, fd, n;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			force = 1;
		else if (!strcmp(argv[i], "--group") && i + 1 < argc)
			group = argv[++i];
		else if (!path)
			path = argv[i];
		else
			path = "";
	}
	if (!path || !*path) {
		fprintf(stderr, "usage: msgrctl keygen FILE [--force] [--group GROUP]\n");
		return 2;
	}
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
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), 0600);
	if (fd < 0) {
		fprintf(stderr, "msgrctl: keygen: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (use --force to replace it)" : "");
		return 1;
	}
	/* an existing file replaced with --force may have had a wider mode; with
	 * --group the daemon's group (msgr) may read it, nobody else */
	if ((gr && fchown(fd, (uid_t)-1, gr->gr_gid)) || fchmod(fd, gr ? 0640 : 0600) ||
	    write(fd, line, (size_t)n) != n || fsync(fd) || close(fd)) {
		fprintf(stderr, "msgrctl: keygen: %s: %s\n", path, strerror(errno));
		return 1;
	}
	explicit_bzero(key, sizeof(key));
	explicit_bzero(line, sizeof(line));
	printf("wrote a new cluster key to %s (mode %s)\n", path, gr ? "0640" : "0600");
	return 0;
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

	printf("%-22s %-10s %8s  %-4s %-9s %-9s %-22s %12s %12s %9s\n", "PEER", "STATE", "CHANNELS",
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
			printf("  %-4s %-9s %-9s %-22s %12s %12s %9.0f\n", jstr(l, "direction"), jstr(l, "state"),
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = getenv("MSGR_CTL_SOCKET");
	struct json_object *o, *e, *req;
	char prefix[256] = "";
	char *reply;
	int json = 0, c, rc = 0, nwords;

	if (!path || !*path)
		path = DEFAULT_CTL;
	signal(SIGPIPE, SIG_IGN); /* EPIPE is handled where it happens */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	if (!strcmp(argv[optind], "keygen"))
		return keygen(argc - optind - 1, argv + optind + 1);
	req = json_object_new_object();
	nwords = argc - optind;
	for (size_t k = 0; k < sizeof(with_args) / sizeof(with_args[0]); k++) {
		const char *p = with_args[k].prefix;
		int words = 1 + (strchr(p, ' ') != NULL), nargs;
		if (nwords < words || strncmp(argv[optind], p, strlen(argv[optind])) ||
		    (words == 2 && (strlen(argv[optind]) != (size_t)(strchr(p, ' ') - p) ||
				    strcmp(argv[optind + 1], strchr(p, ' ') + 1))) ||
		    (words == 1 && strcmp(argv[optind], p)))
			continue;
		nargs = nwords - words;
		if (nargs < with_args[k].required || nargs > 2 || (nargs == 2 && !with_args[k].args[1])) {
			fprintf(stderr, "msgrctl: %s: wrong number of arguments (see --help)\n", p);
			json_object_put(req);
			return 2;
		}
		for (int a = 0; a < nargs; a++)
			json_object_object_add(req, with_args[k].args[a],
					       json_object_new_string(argv[optind + words + a]));
		nwords = words;
		break;
	}
	for (int i = optind; i < optind + nwords; i++) {
		if (strlen(prefix) + strlen(argv[i]) + 2 > sizeof(prefix)) {
			fprintf(stderr, "msgrctl: command too long\n");
			json_object_put(req);
			return 2;
		}
		if (*prefix)
			strcat(prefix, " ");
		strcat(prefix, argv[i]);
	}
	json_object_object_add(req, "prefix", json_object_new_string(prefix));
	reply = request(path, req);
	json_object_put(req);
	if (!reply) {
		fprintf(stderr, "msgrctl: cannot reach msgrd at %s: %s\n", path, strerror(errno));
		return 3;
	}
	if (!strcmp(prefix, "metrics")) {
		fputs(reply, stdout); /* Prometheus text, as is */
		free(reply);
		return 0;
	}
	o = json_tokener_parse(reply);
	if (!o) {
		fprintf(stderr, "msgrctl: the daemon's reply is not JSON\n");
		free(reply);
		return 1;
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
	json_object_put(o);
	free(reply);
	return rc;
}
