/*
 * ctl_cmds.c - the control socket's commands (ctl_cmds.h).
 */
#include "ctl_cmds.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "client.h"
#include "common/log.h"
#include "link.h"
#include "metrics.h"
#include "msgr.h"
#include "registry.h"
#include "net.h"
#include "transports/fault.h"

/* A command. sig is in Ceph's notation: literal words, then arguments as
 * name=NAME,type=CephString[,req=false]. A handler returns JSON, or sets
 * *text for a plain-text reply, or returns an {"error": ...} object. */
struct command {
	const char *sig;
	const char *help;
	struct json_object *(*run)(const struct msgr__ctl_env *e, struct json_object *req, char **text);
	const char *perm; /* "r", or "rw" for commands that change the daemon */
};

/* {"error": msg}. Errors often echo what the requester sent (a key, a value,
 * an entity), and msgrctl prints them on a terminal: escaped as the log is,
 * so a request cannot put control bytes on the operator's screen. */
static struct json_object *error_text(const char *msg)
{
	struct json_object *o = json_object_new_object();
	char esc[4 * 512 + 1];

	msgr__log_escape(esc, sizeof(esc), msg, strlen(msg));
	json_object_object_add(o, "error", json_object_new_string(esc));
	return o;
}

static struct json_object *error_obj(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *error_obj(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_text(msg);
}

/* A string argument of the request, or NULL. */
static const char *arg(struct json_object *req, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, name, &v))
		return NULL;
	/* Ceph's CLI sends n=N arguments as arrays; take the first word */
	if (json_object_is_type(v, json_type_array))
		v = json_object_array_length(v) ? json_object_array_get_idx(v, 0) : NULL;
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static const char *mode_name(unsigned m)
{
	return m == MSGR_LOSSY ? "lossy" : m == MSGR_LOSSLESS ? "lossless" : m == MSGR_PEER ? "peer" : "?";
}

static struct json_object *cmd_status(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object(), *s = json_object_new_object();
	uint64_t now = msgr__now_ns();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "listen", json_object_new_string(e->reg->net_conf->listen));
	json_object_object_add(o, "socket", json_object_new_string(e->reg->conf->socket));
	json_object_object_add(o, "uptime_s", json_object_new_double((now - e->started_ns) / 1e9));
	json_object_object_add(o, "clients", json_object_new_int((int)e->reg->nclients));
	json_object_object_add(o, "workers", json_object_new_int(1));
	json_object_object_add(o, "poll_us", json_object_new_int64((int64_t)e->reg->conf->poll_us));
	{
		struct msgr__metric m[MSGR__MAX_METRICS];
		size_t n = msgr__metrics_collect(e, m, MSGR__MAX_METRICS);
		for (size_t i = 0; i < n; i++)
			if (!strcmp(m[i].type, "counter"))
				json_object_object_add(s, m[i].name,
						       json_object_new_int64((int64_t)m[i].value));
	}
	json_object_object_add(o, "stats", s);
	return o;
}

static struct json_object *cmd_clients(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *a = json_object_new_array();
	uint64_t now = msgr__now_ns();
	char nonce[17];

	for (struct msgr__dclient *c = e->reg->clients; c; c = c->next) {
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
		/* named as conns and sessions name theirs: _out/_in, and a
		 * unit in every name that has one (_bytes, _s) */
		json_object_object_add(o, "rx_pool_used_bytes",
				       json_object_new_int64((int64_t)c->rxp.used << c->params.chunk_shift));
		json_object_object_add(o, "outbox_events", json_object_new_int64((int64_t)c->qlen));
		/* a command waiting while the daemon sleeps would be a lost wakeup */
		json_object_object_add(o, "cmd_waiting", json_object_new_boolean(msgr__ring_ready_sc(&c->cmd)));
		json_object_object_add(o, "msgs_out", json_object_new_int64((int64_t)c->msgs_sent));
		json_object_object_add(o, "msgs_in", json_object_new_int64((int64_t)c->msgs_recv));
		json_object_object_add(o, "bytes_out", json_object_new_int64((int64_t)c->bytes_sent));
		json_object_object_add(o, "bytes_in", json_object_new_int64((int64_t)c->bytes_recv));
		if (c->accept.n) {
			struct json_object *rules = json_object_new_array();
			static const char *const names[] = { [MSGR_LOSSY] = "lossy",
				[MSGR_LOSSLESS] = "lossless", [MSGR_PEER] = "peer" };
			for (uint32_t i = 0; i < c->accept.n; i++) {
				struct json_object *r = json_object_new_object(), *m = json_object_new_array();
				for (int mode = MSGR_LOSSY; mode <= MSGR_PEER; mode++)
					if (c->accept.rule[i].modes & MSGR_MODE_BIT(mode))
						json_object_array_add(m, json_object_new_string(names[mode]));
				json_object_object_add(r, "peer", json_object_new_string(c->accept.rule[i].pattern));
				json_object_object_add(r, "modes", m);
				json_object_array_add(rules, r);
			}
			json_object_object_add(o, "accept_modes", rules);
		}
		/* the client writes its heartbeat; it is shown, never trusted */
		json_object_object_add(o, "heartbeat_age_s",
				       json_object_new_double(hb && hb <= now ? (now - hb) / 1e9 : -1));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *cmd_conns(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *a = json_object_new_array();
	uint64_t now = msgr__now_ns();

	for (struct msgr__dclient *c = e->reg->clients; c; c = c->next)
		for (int b = 0; b < MSGR__CONN_BUCKETS; b++)
			for (struct msgr__dconn *k = c->conns[b]; k; k = k->hnext) {
				struct json_object *o = json_object_new_object();
				json_object_object_add(o, "entity", json_object_new_string(c->entity));
				json_object_object_add(o, "conn", json_object_new_int64(k->id));
				json_object_object_add(o, "peer", json_object_new_string(k->peer));
				struct msgr__chan_info ci;
				msgr__channel_info(&k->end, &ci);
				/* what was asked, and what holds (channel.h): they
				 * differ across daemons until lossless modes land */
				json_object_object_add(o, "mode", json_object_new_string(mode_name(k->end.mode)));
				json_object_object_add(o, "mode_in_effect", ci.mode_in_effect
					? json_object_new_string(mode_name(ci.mode_in_effect)) : NULL);
				json_object_object_add(o, "state", json_object_new_string(ci.state));
				json_object_object_add(o, "direction",
						       json_object_new_string(k->accepted ? "in" : "out"));
				json_object_object_add(o, "transport", json_object_new_string(
					ci.remote ? msgr__net_transport(*e->net) : "local"));
				/* local channels number messages by count: out_seq is
				 * the last sent, in_seq the last delivered; remote ones
				 * show their wire sequence numbers */
				json_object_object_add(o, "out_seq", json_object_new_int64(
					(int64_t)(ci.remote ? ci.out_seq : k->msgs_out)));
				json_object_object_add(o, "in_seq", json_object_new_int64(
					(int64_t)(ci.remote ? ci.in_seq : k->msgs_in)));
				if (ci.remote) {
					/* the window's view: sent and not yet acknowledged */
					json_object_object_add(o, "unacked_msgs", json_object_new_int64((int64_t)ci.unacked_msgs));
					json_object_object_add(o, "peer_ack", json_object_new_int64((int64_t)ci.peer_ack));
					json_object_object_add(o, "delivered", json_object_new_int64((int64_t)ci.delivered));
					json_object_object_add(o, "ack_sent", json_object_new_int64((int64_t)ci.ack_sent));
					json_object_object_add(o, "wire_id", json_object_new_int64(ci.wire_id));
				}
				json_object_object_add(o, "credit", json_object_new_int64((int64_t)k->credit));
				json_object_object_add(o, "queued_msgs", json_object_new_int64((int64_t)k->queued_msgs));
				json_object_object_add(o, "queued_bytes", json_object_new_int64((int64_t)k->queued_bytes));
				json_object_object_add(o, "msgs_out", json_object_new_int64((int64_t)k->msgs_out));
				json_object_object_add(o, "msgs_in", json_object_new_int64((int64_t)k->msgs_in));
				json_object_object_add(o, "bytes_out", json_object_new_int64((int64_t)k->bytes_out));
				json_object_object_add(o, "bytes_in", json_object_new_int64((int64_t)k->bytes_in));
				json_object_object_add(o, "age_s",
						       json_object_new_double((now - k->end.created_ns) / 1e9));
				json_object_array_add(a, o);
			}
	return a;
}

static struct json_object *cmd_config_show(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();
	char name[160], val[256];

	/* every key, then the [policy] rules in the order they are tried */
	for (size_t i = 0; e->hooks.config_entry(e->hooks.ctx, i, name, sizeof(name), val, sizeof(val)) == 0; i++)
		json_object_object_add(o, name, json_object_new_string(val));
	return o;
}

static struct json_object *cmd_version(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	return o;
}

static struct json_object *cmd_sessions(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	return msgr__net_sessions_json(*e->net);
}

static struct json_object *cmd_perf_dump(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	return msgr__metrics_perf_dump(e);
}

static struct json_object *cmd_perf_schema(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	return msgr__metrics_perf_schema(e);
}

static struct json_object *cmd_counter_dump(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	return msgr__metrics_counter_dump(e, 0);
}

static struct json_object *cmd_counter_schema(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	return msgr__metrics_counter_dump(e, 1);
}

/* The Prometheus text exposition, as GET /metrics serves it. */
static struct json_object *cmd_metrics(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	size_t len;

	if (msgr__metrics_text(e, text, &len))
		return error_obj("out of memory");
	return NULL;
}

static struct json_object *cmd_config_get(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	const char *key = arg(req, "key");
	struct json_object *o;
	char val[256];

	if (!key)
		return error_obj("config get: missing KEY (section.key)");
	if (e->hooks.config_get(e->hooks.ctx, key, val, sizeof(val)))
		return error_obj("unknown key '%s'", key);
	o = json_object_new_object();
	json_object_object_add(o, key, json_object_new_string(val));
	return o;
}

static struct json_object *cmd_config_set(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	const char *key = arg(req, "key"), *val = arg(req, "value");
	struct json_object *o;
	char msg[512];
	int err;

	if (!key || !val)
		return error_obj("config set: need KEY (section.key) and VALUE");
	err = e->hooks.config_set(e->hooks.ctx, key, val, msg, sizeof(msg));
	if (err == -ENOENT)
		return error_obj("unknown key '%s'", key);
	if (err == -EROFS)
		return error_obj("%s cannot change while msgrd runs; set it in the file and restart", key);
	if (err)
		return error_obj("%s", msg);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_string(msg));
	return o;
}

static struct json_object *cmd_log_level(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	const char *lvl = arg(req, "level");
	struct json_object *o;
	char msg[512], val[64];

	if (lvl) {
		/* the key exists and is live: only a bad value fails */
		snprintf(val, sizeof(val), "%.40s", lvl);
		if (e->hooks.config_set(e->hooks.ctx, "global.log_level", val, msg, sizeof(msg)))
			return error_obj("%s", msg);
	}
	if (e->hooks.config_get(e->hooks.ctx, "global.log_level", val, sizeof(val)))
		return error_obj("global.log_level: not found");
	o = json_object_new_object();
	json_object_object_add(o, "log_level", json_object_new_string(val));
	return o;
}

/* `config diff`, in Ceph's form: the keys whose running value is not the
 * built-in default, {"diff": {KEY: {"default": D, "final": V}}}. */
static struct json_object *cmd_config_diff(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object(), *diff = json_object_new_object();
	char name[160], val[256], def[256];
	int live;

	for (size_t i = 0; e->hooks.config_entry(e->hooks.ctx, i, name, sizeof(name), val, sizeof(val)) == 0; i++) {
		struct json_object *k;
		/* a [policy] rule has no default: any rule differs */
		if (e->hooks.config_default(e->hooks.ctx, name, def, sizeof(def), &live))
			def[0] = 0;
		if (!strcmp(def, val))
			continue;
		k = json_object_new_object();
		json_object_object_add(k, "default", json_object_new_string(def));
		json_object_object_add(k, "final", json_object_new_string(val));
		json_object_object_add(diff, name, k);
	}
	json_object_object_add(o, "diff", diff);
	return o;
}

/* One line per key, for `config help`: msgrd.conf(5) has the whole story.
 * Every key of config.c's table has a line (a test checks). */
static const struct {
	const char *key, *desc;
} key_help[] = {
	{ "global.listen", "HOST:PORT that names this daemon; other daemons reach it there" },
	{ "global.bind", "HOST:PORT to accept other daemons on, if not global.listen (0.0.0.0:P, [::]:P)" },
	{ "global.socket", "Unix socket applications attach through" },
	{ "global.ctl_socket", "control socket (Ceph admin-socket protocol)" },
	{ "global.poll_us", "microseconds to keep polling clients' rings after the last work" },
	{ "global.pool_size", "default size of each shared-memory pool of a client" },
	{ "global.max_pool_size", "largest pool size a client may ask for" },
	{ "global.max_message", "largest message payload accepted" },
	{ "global.max_clients", "most clients attached at once" },
	{ "global.max_conns_per_client", "most connections one attached entity may hold" },
	{ "global.channel_window", "flow-control window per connection, in payload bytes" },
	{ "global.log_level", "most verbose level logged: error, warning, notice, info, debug" },
	{ "global.inject", "allow fault injection (msgrctl inject); start-up only" },
	{ "global.ctl_timeout", "time a control connection has for its request, and again for its reply" },
	{ "global.ctl_max_conns", "control connections served at once" },
	{ "global.metrics_listen", "HOST:PORT to serve Prometheus metrics on (GET /metrics); empty: off" },
	{ "global.log_file", "log to this file instead of stderr or the journal; reopened on SIGHUP and log reopen" },
	{ "net.connect_timeout", "time a dialled link has to become a session" },
	{ "net.handshake_timeout", "time an accepted link has to become a session" },
	{ "net.session_buffer", "bytes a session may hold for a peer that is away" },
	{ "net.receive_buffer", "bytes of received messages waiting for their applications, in all" },
	{ "net.send_backlog", "bytes queued on one link before its senders wait" },
	{ "net.keepalive_interval", "idle time before a link sends a keepalive" },
	{ "net.keepalive_timeout", "silence after which a link is taken for dead" },
	{ "net.reconnect_backoff_min", "first wait before dialling a lost peer again" },
	{ "net.reconnect_backoff_max", "longest wait between dials of a lost peer" },
	{ "net.resume_timeout", "how long kept channels wait for their peer to come back" },
	{ "net.links_per_session", "links one session keeps up" },
	{ "net.transport", "transport links use: tcp, rdma (TCP where RDMA cannot go), rdma-fake (tests)" },
	{ "rdma.recv_depth", "RDMA data receives each link posts: the peer's send credits" },
	{ "rdma.recv_size", "bytes per RDMA receive buffer (and per send slot)" },
	{ "rdma.send_slots", "registered RDMA send buffers per link" },
	{ "rdma.max_links", "RDMA links at once (their buffers are pinned); more peers go over TCP" },
	{ "net.inject_socket_failures", "reset one link send in N (needs global.inject)" },
	{ "net.inject_delay", "delay every link send by this much (needs global.inject)" },
	{ "auth.keyring", "file holding the cluster key" },
	{ "auth.mode", "hmac (authenticate), secure (and encrypt), or none" },
};

/* `config help KEY`, in the shape of Ceph's: name, desc, default, the
 * running value, and whether it may change at run time. */
static struct json_object *cmd_config_help(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	const char *key = arg(req, "key");
	struct json_object *o;
	char def[256], val[256], help[256];
	const char *desc = "";
	int live;

	if (!key)
		return error_obj("config help: missing KEY (section.key)");
	if (e->hooks.config_default(e->hooks.ctx, key, def, sizeof(def), &live) ||
	    e->hooks.config_get(e->hooks.ctx, key, val, sizeof(val)) ||
	    e->hooks.config_help(e->hooks.ctx, key, help, sizeof(help)))
		return error_obj("unknown key '%s'", key);
	for (size_t i = 0; i < sizeof(key_help) / sizeof(key_help[0]); i++)
		if (!strcmp(key_help[i].key, key))
			desc = key_help[i].desc;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(key));
	json_object_object_add(o, "desc", json_object_new_string(desc));
	json_object_object_add(o, "long_desc", json_object_new_string(help));
	json_object_object_add(o, "default", json_object_new_string(def));
	json_object_object_add(o, "value", json_object_new_string(val));
	json_object_object_add(o, "can_update_at_runtime", json_object_new_boolean(live));
	json_object_object_add(o, "see_also", json_object_new_string("msgrd.conf(5)"));
	return o;
}

static struct json_object *cmd_log_flush(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	int err = msgr__log_flush();

	if (err)
		return error_obj("log flush: %s: %s", msgr__log_path(), strerror(-err));
	return json_object_new_object(); /* Ceph answers {} too */
}

/* For logrotate's postrotate: the file it moved away is closed and the
 * configured path opened afresh. */
static struct json_object *cmd_log_reopen(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o;
	int err = msgr__log_reopen();

	if (err)
		return error_obj("log reopen: %s: %s (still logging to the old file)", msgr__log_path(),
				 strerror(-err));
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_string(
		*msgr__log_path() ? "reopened" : "no log file (global.log_file is empty)"));
	return o;
}

/* inject stall: at most this long, well inside systemd's watchdog (30 s) */
#define MSGR__STALL_MAX_MS 5000

static struct json_object *cmd_inject(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	const char *what = arg(req, "fault"), *target = arg(req, "target");
	struct msgr__dclient *c;
	struct json_object *o;

	if (!*e->inject)
		return error_obj("fault injection is disabled (set global.inject = true)");
	if (what && !strcmp(what, "kill-link")) {
		/* by the fault interceptor (global.inject puts it under every
		 * link), as a reset from the network would */
		if (!target || msgr__fault_kill(msgr__net_active_link(*e->net, target)))
			return error_obj("inject kill-link: no session with a link up to '%s'",
					 target ? target : "");
		o = json_object_new_object();
		json_object_object_add(o, "success", json_object_new_string("link killed"));
		return o;
	}
	if (what && !strcmp(what, "stall")) {
		/* hold the loop, as a long piece of work would: what
		 * loop_stalls and loop_busy_max_us are there to show */
		char *end;
		long ms = target ? strtol(target, &end, 10) : 0;
		struct timespec ts;

		/* digits only: strtol would also take " 5" and "+5" */
		if (!target || !isdigit((unsigned char)*target) || *end || ms < 1 ||
		    ms > MSGR__STALL_MAX_MS)
			return error_obj("inject stall: '%s' is not a number of milliseconds from 1 to %d",
					 target ? target : "", MSGR__STALL_MAX_MS);
		ts = (struct timespec){ ms / 1000, (ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		msgr__notice("fault injection: the event loop held for %ld ms (msgrctl inject stall)", ms);
		o = json_object_new_object();
		json_object_object_add(o, "success", json_object_new_string("stalled"));
		return o;
	}
	if (!what || strcmp(what, "detach"))
		return error_obj("inject: unknown fault '%s' (known: detach ENTITY, kill-link HOST:PORT, "
				 "stall MS)", what ? what : "");
	if (!target || !(c = msgr__dclient_find(e->reg, target)))
		return error_obj("inject detach: no attached entity '%s'", target ? target : "");
	msgr__dclient_drop(c, MSGR__LOG_NOTICE, "fault injection (msgrctl inject detach)");
	msgr__registry_schedule(e->reg);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_string("detached"));
	return o;
}

static struct json_object *cmd_help(const struct msgr__ctl_env *e, struct json_object *req, char **text);
static struct json_object *cmd_descriptions(const struct msgr__ctl_env *e, struct json_object *req, char **text);

static const struct command commands[] = {
	{ "status", "daemon status and counters", cmd_status, "r" },
	{ "clients", "attached entities", cmd_clients, "r" },
	{ "conns", "connections (channels) of every attached entity", cmd_conns, "r" },
	{ "sessions", "sessions with other daemons: links, bytes, rtt", cmd_sessions, "r" },
	{ "perf dump", "every counter, as JSON", cmd_perf_dump, "r" },
	{ "perf schema", "every counter's type and description, as Ceph's perf schema", cmd_perf_schema, "r" },
	{ "counter dump", "every counter with its labels (peer, reason), as ceph-exporter reads it", cmd_counter_dump, "r" },
	{ "counter schema", "the labelled counters' types and descriptions", cmd_counter_schema, "r" },
	{ "metrics", "every counter, in the Prometheus text format (as GET /metrics)", cmd_metrics, "r" },
	{ "config show", "the running configuration", cmd_config_show, "r" },
	{ "config get name=key,type=CephString", "one configuration key (section.key)", cmd_config_get, "r" },
	{ "config diff", "the keys whose value is not the built-in default", cmd_config_diff, "r" },
	{ "config help name=key,type=CephString", "what a key is, its default and whether it may change at run time", cmd_config_help, "r" },
	{ "config set name=key,type=CephString name=value,type=CephString",
	  "change a key that may change at run time", cmd_config_set, "rw" },
	/* choices, not strings: `ceph daemon` then refuses a bad value
	 * itself (exit 22), as it refuses a missing or extra argument */
	{ "log level name=level,type=CephChoices,strings=error|warning|notice|info|debug,req=false",
	  "show or set the log level", cmd_log_level, "rw" },
	{ "log flush", "write the log file out to disk", cmd_log_flush, "rw" },
	{ "log reopen", "reopen the log file (after logrotate moved it)", cmd_log_reopen, "rw" },
	{ "inject name=fault,type=CephChoices,strings=detach|kill-link|stall name=target,type=CephString",
	  "inject a fault (needs global.inject = true): detach ENTITY, kill-link HOST:PORT, stall MS",
	  cmd_inject, "rw" },
	{ "version", "msgrd version", cmd_version, "r" },
	{ "help", "list available commands", cmd_help, "r" },
	{ "get_command_descriptions", "list commands in Ceph's format", cmd_descriptions, "r" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static struct json_object *cmd_help(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < NCOMMANDS; i++) {
		char words[160];
		snprintf(words, sizeof(words), "%s", commands[i].sig);
		for (char *w = strstr(words, "name="); w; w = strstr(w, "name=")) {
			/* "config get name=key,type=..." reads as "config get <key>" */
			char *end = w + strcspn(w, " "), *comma = strchr(w, ',');
			size_t nl = (size_t)((comma && comma < end ? comma : end) - (w + 5));
			char tmp[160];
			snprintf(tmp, sizeof(tmp), "<%.*s>%s", (int)nl, w + 5, end);
			strcpy(w, tmp);
			w += nl + 2;
		}
		json_object_object_add(o, words, json_object_new_string(commands[i].help));
	}
	return o;
}

static struct json_object *cmd_descriptions(const struct msgr__ctl_env *e, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();
	char key[16];

	for (size_t i = 0; i < NCOMMANDS; i++) {
		struct json_object *c = json_object_new_object(), *sig = json_object_new_array();
		char words[160], *w, *save = NULL;
		snprintf(words, sizeof(words), "%s", commands[i].sig);
		for (w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
			char *kv, *save2 = NULL;
			struct json_object *a;
			if (!strchr(w, '=')) {
				json_object_array_add(sig, json_object_new_string(w));
				continue;
			}
			a = json_object_new_object();
			for (kv = strtok_r(w, ",", &save2); kv; kv = strtok_r(NULL, ",", &save2)) {
				char *eq = strchr(kv, '=');
				*eq = 0;
				json_object_object_add(a, kv, json_object_new_string(eq + 1));
			}
			json_object_array_add(sig, a);
		}
		json_object_object_add(c, "sig", sig);
		json_object_object_add(c, "help", json_object_new_string(commands[i].help));
		json_object_object_add(c, "module", json_object_new_string("msgrd"));
		json_object_object_add(c, "perm", json_object_new_string(commands[i].perm));
		json_object_object_add(c, "flags", json_object_new_int(0));
		snprintf(key, sizeof(key), "cmd%03zu", i);
		json_object_object_add(o, key, c);
	}
	return o;
}

/* The literal words of a signature, before its first argument. */
static void sig_prefix(const char *sig, char *buf, size_t len)
{
	const char *eq = strchr(sig, '=');
	size_t n = strlen(sig);

	if (eq) {
		while (eq > sig && eq[-1] != ' ')
			eq--;
		n = (size_t)(eq - sig);
		while (n && sig[n - 1] == ' ')
			n--;
	}
	snprintf(buf, len, "%.*s", (int)n, sig);
}

char *msgr__ctl_error_reply(const char *fmt, const char *arg)
{
	struct json_object *o;
	char msg[512], *out;

	snprintf(msg, sizeof(msg), fmt, arg);
	o = error_text(msg);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

char *msgr__ctl_run(const struct msgr__ctl_env *e, const char *text, int privileged, int pid,
		    int uid)
{
	struct json_object *req = json_tokener_parse(text), *pfx, *out;
	const char *prefix;
	char *reply;

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "prefix", &pfx) || !json_object_is_type(pfx, json_type_string)) {
		json_object_put(req);
		return msgr__ctl_error_reply("request is not a JSON object with a \"prefix\" string: %s", text);
	}
	prefix = json_object_get_string(pfx);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char lit[160], *plain = NULL;
		sig_prefix(commands[i].sig, lit, sizeof(lit));
		if (strcmp(lit, prefix))
			continue;
		/* the socket is open to msgrd's group, which is also the group
		 * that may attach: changes need more than that */
		if (!strcmp(commands[i].perm, "rw") && !privileged) {
			msgr__notice("control socket: refused '%s' to pid %d (uid %d): needs root or msgrd's user",
				     lit, pid, uid);
			json_object_put(req);
			return msgr__ctl_error_reply("permission denied: '%s' needs root or msgrd's user", lit);
		}
		out = commands[i].run(e, req, &plain);
		/* json-c writes doubles with 17 digits ("rtt_us":
		 * 34.526000000000003); 15 are all a double holds for sure, so
		 * "%.15g" writes back the decimal the figure came from */
		json_c_set_serialization_double_format("%.15g", JSON_C_OPTION_GLOBAL);
		reply = plain ? plain
			      : strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
									   JSON_C_TO_STRING_SPACED |
									   JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
		json_object_put(req);
		return reply;
	}
	reply = msgr__ctl_error_reply("unknown command '%s' (try \"help\")", prefix);
	json_object_put(req);
	return reply;
}
