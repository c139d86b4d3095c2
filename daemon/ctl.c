#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "channel.h"
#include "client.h"
#include "common/log.h"
#include "daemon.h"
#include "msgr.h"

#define CTL_REQ_MAX 65536

struct msgr__ctl {
	uv_pipe_t srv; /* listening socket; owned */
};

/* One control connection. Owned by itself; freed in its close callback. */
struct ctl_conn {
	uv_pipe_t pipe;
	struct msgr__daemon *d;
	char *buf;     /* request bytes so far */
	size_t len, cap;
	int answered;  /* a reply is being written; ignore further input */
};

struct command {
	const char *prefix;
	const char *help;
	struct json_object *(*run)(struct msgr__daemon *d, struct json_object *req, int *err);
};

static const char *mode_name(unsigned m)
{
	return m == MSGR_LOSSY ? "lossy" : m == MSGR_LOSSLESS ? "lossless" : m == MSGR_PEER ? "peer" : "?";
}

static struct json_object *cmd_status(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *o = json_object_new_object(), *s = json_object_new_object();
	uint64_t now = msgr__now_ns();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "listen", json_object_new_string(d->conf.listen));
	json_object_object_add(o, "socket", json_object_new_string(d->conf.socket));
	json_object_object_add(o, "uptime_s", json_object_new_double((now - d->started_ns) / 1e9));
	json_object_object_add(o, "clients", json_object_new_int((int)d->nclients));
	json_object_object_add(o, "workers", json_object_new_int(1));
	json_object_object_add(o, "poll_us", json_object_new_int64((int64_t)d->conf.poll_us));
#define STAT(f) json_object_object_add(s, #f, json_object_new_int64((int64_t)d->stats.f))
	STAT(attaches);
	STAT(attach_errors);
	STAT(detaches);
	STAT(violations);
	STAT(msgs_local);
	STAT(bytes_local);
	STAT(msgs_dropped);
	STAT(wakeups_sent);
	STAT(wakeups_recv);
#undef STAT
	json_object_object_add(o, "stats", s);
	return o;
}

static struct json_object *cmd_clients(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *a = json_object_new_array();
	uint64_t now = msgr__now_ns();
	char nonce[17];

	for (struct msgr__dclient *c = d->clients; c; c = c->next) {
		struct json_object *o = json_object_new_object();
		uint64_t hb = atomic_load_explicit(&c->hdr->client_heartbeat_ns, memory_order_relaxed);
		snprintf(nonce, sizeof(nonce), "%016llx", (unsigned long long)c->nonce);
		json_object_object_add(o, "id", json_object_new_int((int)c->id));
		json_object_object_add(o, "entity", json_object_new_string(c->entity));
		json_object_object_add(o, "addr", json_object_new_string(c->addr));
		json_object_object_add(o, "nonce", json_object_new_string(nonce));
		json_object_object_add(o, "pid", json_object_new_int((int)c->pid));
		json_object_object_add(o, "uid", json_object_new_int((int)c->uid));
		json_object_object_add(o, "age_s", json_object_new_double((now - c->attached_ns) / 1e9));
		json_object_object_add(o, "conns", json_object_new_int((int)c->nconns));
		json_object_object_add(o, "pool_bytes", json_object_new_int64((int64_t)c->pool_bytes));
		json_object_object_add(o, "rx_pool_used",
				       json_object_new_int64((int64_t)c->rxp.used << c->params.chunk_shift));
		json_object_object_add(o, "outbox", json_object_new_int64((int64_t)c->qlen));
		json_object_object_add(o, "msgs_sent", json_object_new_int64((int64_t)c->msgs_sent));
		json_object_object_add(o, "msgs_recv", json_object_new_int64((int64_t)c->msgs_recv));
		json_object_object_add(o, "bytes_sent", json_object_new_int64((int64_t)c->bytes_sent));
		json_object_object_add(o, "bytes_recv", json_object_new_int64((int64_t)c->bytes_recv));
		/* the client writes its heartbeat; it is shown, never trusted */
		json_object_object_add(o, "heartbeat_age_s",
				       json_object_new_double(hb && hb <= now ? (now - hb) / 1e9 : -1));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *cmd_conns(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *a = json_object_new_array();
	uint64_t now = msgr__now_ns();

	for (struct msgr__dclient *c = d->clients; c; c = c->next)
		for (int b = 0; b < MSGR__CONN_BUCKETS; b++)
			for (struct msgr__dconn *k = c->conns[b]; k; k = k->hnext) {
				struct json_object *o = json_object_new_object();
				json_object_object_add(o, "entity", json_object_new_string(c->entity));
				json_object_object_add(o, "conn", json_object_new_int64(k->id));
				json_object_object_add(o, "peer", json_object_new_string(k->peer));
				json_object_object_add(o, "mode", json_object_new_string(mode_name(k->mode)));
				json_object_object_add(o, "state",
						       json_object_new_string(k->ch ? "open" : "reset"));
				json_object_object_add(o, "direction",
						       json_object_new_string(k->accepted ? "in" : "out"));
				json_object_object_add(o, "transport", json_object_new_string("local"));
				json_object_object_add(o, "msgs_out", json_object_new_int64((int64_t)k->msgs_out));
				json_object_object_add(o, "msgs_in", json_object_new_int64((int64_t)k->msgs_in));
				json_object_object_add(o, "bytes_out", json_object_new_int64((int64_t)k->bytes_out));
				json_object_object_add(o, "bytes_in", json_object_new_int64((int64_t)k->bytes_in));
				json_object_object_add(o, "age_s",
						       json_object_new_double((now - k->created_ns) / 1e9));
				json_object_array_add(a, o);
			}
	return a;
}

static struct json_object *cmd_config_show(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *o = json_object_new_object();
	char buf[4096], *line, *save = NULL;

	msgr__conf_dump(&d->conf, buf, sizeof(buf));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strstr(line, " = ");
		if (!eq)
			continue;
		*eq = 0;
		json_object_object_add(o, line, json_object_new_string(eq + 3));
	}
	return o;
}

static struct json_object *cmd_version(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	return o;
}

static struct json_object *cmd_help(struct msgr__daemon *d, struct json_object *req, int *err);
static struct json_object *cmd_descriptions(struct msgr__daemon *d, struct json_object *req, int *err);

static const struct command commands[] = {
	{ "status", "daemon status and counters", cmd_status },
	{ "clients", "attached entities", cmd_clients },
	{ "conns", "connections (channels) of every attached entity", cmd_conns },
	{ "config show", "the running configuration", cmd_config_show },
	{ "version", "msgrd version", cmd_version },
	{ "help", "list available commands", cmd_help },
	{ "get_command_descriptions", "list commands in Ceph's format", cmd_descriptions },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static struct json_object *cmd_help(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < NCOMMANDS; i++)
		json_object_object_add(o, commands[i].prefix, json_object_new_string(commands[i].help));
	return o;
}

static struct json_object *cmd_descriptions(struct msgr__daemon *d, struct json_object *req, int *err)
{
	struct json_object *o = json_object_new_object();
	char key[16];

	for (size_t i = 0; i < NCOMMANDS; i++) {
		struct json_object *c = json_object_new_object(), *sig = json_object_new_array();
		char words[64], *w, *save = NULL;
		snprintf(words, sizeof(words), "%s", commands[i].prefix);
		for (w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save))
			json_object_array_add(sig, json_object_new_string(w));
		json_object_object_add(c, "sig", sig);
		json_object_object_add(c, "help", json_object_new_string(commands[i].help));
		json_object_object_add(c, "module", json_object_new_string("msgrd"));
		json_object_object_add(c, "perm", json_object_new_string("r"));
		json_object_object_add(c, "flags", json_object_new_int(0));
		snprintf(key, sizeof(key), "cmd%03zu", i);
		json_object_object_add(o, key, c);
	}
	return o;
}

static void on_closed(uv_handle_t *h)
{
	struct ctl_conn *cc = h->data;

	free(cc->buf);
	free(cc);
}

static void on_written(uv_write_t *w, int status)
{
	struct ctl_conn *cc = w->data;

	free(w);
	uv_close((uv_handle_t *)&cc->pipe, on_closed);
}

static void send_reply(struct ctl_conn *cc, const char *payload)
{
	size_t n = strlen(payload);
	uv_write_t *w = malloc(sizeof(*w) + 4 + n);
	unsigned char *p = (unsigned char *)(w + 1);
	uint32_t be = htonl((uint32_t)n);
	uv_buf_t b;

	cc->answered = 1;
	if (!w) {
		uv_close((uv_handle_t *)&cc->pipe, on_closed);
		return;
	}
	memcpy(p, &be, 4);
	memcpy(p + 4, payload, n);
	b = uv_buf_init((char *)p, (unsigned)(n + 4));
	w->data = cc;
	if (uv_write(w, (uv_stream_t *)&cc->pipe, &b, 1, on_written)) {
		free(w);
		uv_close((uv_handle_t *)&cc->pipe, on_closed);
	}
}

static void send_error(struct ctl_conn *cc, const char *fmt, const char *arg)
{
	struct json_object *o = json_object_new_object();
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	json_object_object_add(o, "error", json_object_new_string(msg));
	send_reply(cc, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void handle_request(struct ctl_conn *cc, const char *text)
{
	struct json_object *req = json_tokener_parse(text), *pfx, *out;
	const char *prefix;
	int err = 0;

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "prefix", &pfx) || !json_object_is_type(pfx, json_type_string)) {
		send_error(cc, "request is not a JSON object with a \"prefix\" string: %s", text);
		json_object_put(req);
		return;
	}
	prefix = json_object_get_string(pfx);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(prefix, commands[i].prefix)) {
			out = commands[i].run(cc->d, req, &err);
			send_reply(cc, json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_SPACED));
			json_object_put(out);
			json_object_put(req);
			return;
		}
	send_error(cc, "unknown command '%s' (try \"help\")", prefix);
	json_object_put(req);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct ctl_conn *cc = h->data;

	if (cc->cap - cc->len < 4096) {
		size_t ncap = cc->cap ? cc->cap * 2 : 8192;
		char *nb = realloc(cc->buf, ncap);
		if (!nb) {
			*b = uv_buf_init(NULL, 0);
			return;
		}
		cc->buf = nb;
		cc->cap = ncap;
	}
	*b = uv_buf_init(cc->buf + cc->len, (unsigned)(cc->cap - cc->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct ctl_conn *cc = s->data;
	char *end;

	if (cc->answered)
		return;
	if (n < 0) {
		uv_close((uv_handle_t *)&cc->pipe, on_closed);
		return;
	}
	cc->len += (size_t)n;
	cc->buf[cc->len] = 0;
	end = memchr(cc->buf, 0, cc->len);
	if (!end)
		end = memchr(cc->buf, '\n', cc->len);
	if (end) {
		*end = 0;
		uv_read_stop(s);
		handle_request(cc, cc->buf);
	} else if (cc->len > CTL_REQ_MAX) {
		uv_read_stop(s);
		send_error(cc, "request longer than %s bytes", "65536");
	}
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct msgr__daemon *d = srv->data;
	struct ctl_conn *cc;

	if (status < 0)
		return;
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return;
	cc->d = d;
	uv_pipe_init(d->loop, &cc->pipe, 0);
	cc->pipe.data = cc;
	if (uv_accept(srv, (uv_stream_t *)&cc->pipe)) {
		uv_close((uv_handle_t *)&cc->pipe, on_closed);
		return;
	}
	uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
}

static void ctl_freed(uv_handle_t *h);

int msgr__ctl_listen(struct msgr__daemon *d)
{
	struct msgr__ctl *ctl = calloc(1, sizeof(*ctl));
	int err, sfd;

	if (!ctl)
		return -ENOMEM;
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sfd < 0) {
		free(ctl);
		return -errno;
	}
	err = msgr__unix_bind(sfd, d->conf.ctl_socket);
	if (!err && chmod(d->conf.ctl_socket, 0660))
		err = -errno;
	if (err) {
		close(sfd);
		free(ctl);
		return err;
	}
	uv_pipe_init(d->loop, &ctl->srv, 0);
	ctl->srv.data = d;
	err = uv_pipe_open(&ctl->srv, sfd);
	if (!err)
		err = uv_listen((uv_stream_t *)&ctl->srv, 64, on_connection);
	if (err) {
		uv_close((uv_handle_t *)&ctl->srv, ctl_freed);
		unlink(d->conf.ctl_socket);
		return err;
	}
	d->ctl = ctl;
	return 0;
}

static void ctl_freed(uv_handle_t *h)
{
	free(h);
}

void msgr__ctl_close(struct msgr__daemon *d)
{
	if (!d->ctl)
		return;
	if (!uv_is_closing((uv_handle_t *)&d->ctl->srv)) {
		uv_close((uv_handle_t *)&d->ctl->srv, ctl_freed);
		unlink(d->conf.ctl_socket);
	}
	d->ctl = NULL;
}
