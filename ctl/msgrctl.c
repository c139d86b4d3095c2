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
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "msgr.h"

#define DEFAULT_CTL "/run/msgrd/msgrd.asok"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: msgrctl [--socket PATH] [--json] COMMAND\n"
		"Inspect a running msgrd through its control socket.\n\n"
		"Commands:\n"
		"  status        daemon status and counters\n"
		"  clients       attached entities\n"
		"  conns         connections of every attached entity\n"
		"  config show   the running configuration\n"
		"  version       the daemon's version\n"
		"  help          the daemon's command list\n\n"
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
static char *request(const char *path, const char *prefix)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *req = json_object_new_object();
	const char *text;
	uint32_t be;
	char *reply = NULL;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	json_object_object_add(req, "prefix", json_object_new_string(prefix));
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, text, strlen(text) + 1) != (ssize_t)(strlen(text) + 1))
		goto out;
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
	json_object_put(req);
	errno = err;
	return reply;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "-";
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

	printf("%-16s %-10s %-36s %-8s %-6s %-3s %10s %10s %8s\n", "ENTITY", "CONN", "PEER", "MODE",
	       "STATE", "DIR", "MSGS_OUT", "MSGS_IN", "AGE");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		printf("%-16s %-10s %-36s %-8s %-6s %-3s %10s %10s %7.0fs\n", jstr(o, "entity"),
		       jstr(o, "conn"), jstr(o, "peer"), jstr(o, "mode"), jstr(o, "state"),
		       jstr(o, "direction"), jstr(o, "msgs_out"), jstr(o, "msgs_in"), jnum(o, "age_s"));
	}
	if (!n)
		printf("(no connections)\n");
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
	struct json_object *o, *e;
	char prefix[256] = "";
	char *reply;
	int json = 0, c, rc = 0;

	if (!path || !*path)
		path = DEFAULT_CTL;
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
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (strlen(prefix) + strlen(argv[i]) + 2 > sizeof(prefix)) {
			fprintf(stderr, "msgrctl: command too long\n");
			return 2;
		}
		if (*prefix)
			strcat(prefix, " ");
		strcat(prefix, argv[i]);
	}
	reply = request(path, prefix);
	if (!reply) {
		fprintf(stderr, "msgrctl: cannot reach msgrd at %s: %s\n", path, strerror(errno));
		return 3;
	}
	o = json_tokener_parse(reply);
	if (!o) {
		fprintf(stderr, "msgrctl: the daemon's reply is not JSON\n");
		free(reply);
		return 1;
	}
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "error", &e)) {
		fprintf(stderr, "msgrctl: %s\n", json_object_get_string(e));
		rc = 1;
	} else if (json) {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	} else if (!strcmp(prefix, "status")) {
		print_status(o);
	} else if (!strcmp(prefix, "clients")) {
		print_clients(o);
	} else if (!strcmp(prefix, "conns")) {
		print_conns(o);
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
			printf("%-26s %s\n", k, json_object_get_string(v));
	} else {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	}
	json_object_put(o);
	free(reply);
	return rc;
}
