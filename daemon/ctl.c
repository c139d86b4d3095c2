#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "channel.h"
#include "client.h"
#include "common/log.h"
#include "common/vec.h"
#include "daemon.h"
#include "msgr.h"
#include "net.h"
#include "transports/fault.h"

#define CTL_REQ_MAX 65536

struct msgr__ctl {
	uv_pipe_t srv;   /* listening socket; owned; first, so ctl_freed frees the struct */
	uint32_t nconns; /* connections open (not yet freed) */
	int held;        /* libuv holds an accepted connection we have not taken: we
			    were at global.ctl_max_conns; taken when one closes */
	uint64_t held_logged; /* uv_now when "the next waits" was last logged */
};

/* One control connection. Owned by itself; freed when both handles have
 * closed (conn_close). */
struct ctl_conn {
	uv_pipe_t pipe;
	uv_timer_t timer; /* global.ctl_timeout for the request, then for the reply */
	struct msgr__daemon *d;
	char *buf;        /* request bytes so far */
	size_t len, cap;
	int answered;     /* a reply is being written; ignore further input */
	int closing;      /* handles not yet closed; 0 while open */
	int privileged;   /* root or msgrd's user: may run "rw" commands */
	int pid, uid;     /* the peer, by SO_PEERCRED, for the log */
};

/* A command. sig is in Ceph's notation: literal words, then arguments as
 * name=NAME,type=CephString[,req=false]. A handler returns JSON, or sets
 * *text for a plain-text reply, or returns an {"error": ...} object. */
struct command {
	const char *sig;
	const char *help;
	struct json_object *(*run)(struct msgr__daemon *d, struct json_object *req, char **text);
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

/* Counters and gauges, shared by status, perf dump and metrics. */
#define MAX_METRICS 64
struct metric {
	const char *name, *help, *type;
	uint64_t value;
};

static size_t collect(struct msgr__daemon *d, struct metric *m, size_t max)
{
	uint64_t conns = 0, queued = 0, rx_used = 0;
	size_t n = 0;

	for (struct msgr__dclient *c = d->clients; c; c = c->next) {
		conns += c->nconns;
		queued += c->qlen;
		rx_used += (uint64_t)c->rxp.used << c->params.chunk_shift;
	}
#define M(nm, ty, val, hl) \
	if (n < max) m[n++] = (struct metric){ nm, hl, ty, (uint64_t)(val) }
	M("attaches", "counter", d->stats.client.attaches, "Successful attaches since start.");
	M("attach_errors", "counter", d->stats.client.attach_errors, "Refused attach requests.");
	M("attach_shed", "counter", d->stats.client.attach_shed, "Attach connections closed before their request came, to make room for others.");
	M("attach_nofd", "counter", d->stats.client.attach_nofd, "Accepts on the attach socket that failed for want of a file descriptor.");
	M("conns_refused", "counter", d->stats.client.conns_refused, "Connects refused: an entity at global.max_conns_per_client.");
	M("detaches", "counter", d->stats.client.detaches, "Clients gone, for any reason.");
	M("violations", "counter", d->stats.client.violations, "Clients dropped for breaking the segment protocol.");
	M("msgs_local", "counter", d->stats.chan.msgs_local, "Messages delivered between local entities.");
	M("bytes_local", "counter", d->stats.chan.bytes_local, "Payload bytes delivered between local entities.");
	M("msgs_dropped", "counter", d->stats.client.msgs_dropped, "Sends on reset connections, given back unsent.");
	M("wakeups_sent", "counter", d->stats.client.wakeups_sent, "Eventfd wakeups sent to clients.");
	M("wakeups_recv", "counter", d->stats.client.wakeups_recv, "Eventfd wakeups received from clients.");
	M("links_dialled", "counter", d->stats.net.links_dialled, "Links to peer daemons started by us.");
	M("links_accepted", "counter", d->stats.net.links_accepted, "Links from peer daemons accepted.");
	M("links_refused", "counter", d->stats.net.links_refused, "Inbound links closed at once: 64 were already in their handshake.");
	M("dial_failures", "counter", d->stats.net.dial_failures, "Dials that never connected.");
	M("link_errors", "counter", d->stats.net.link_errors, "Links ended by an error (reset, timeout, bad input).");
	M("handshake_timeouts", "counter", d->stats.net.handshake_timeouts, "Links without a session within net.connect_timeout (dialled) or net.handshake_timeout (accepted).");
	M("keepalive_timeouts", "counter", d->stats.net.keepalive_timeouts, "Links silent for net.keepalive_timeout.");
	M("auth_failures", "counter", d->stats.net.auth_failures, "Authentications refused, by us or the peer.");
	M("races", "counter", d->stats.net.races, "Connection races resolved (one of two links closed).");
	M("bad_banner", "counter", d->stats.net.bad_banner, "Links closed for a wrong banner magic.");
	M("no_version", "counter", d->stats.net.no_version, "Links closed for no common protocol version.");
	M("bad_header_crc", "counter", d->stats.net.bad_header_crc, "Links closed for a frame header CRC mismatch.");
	M("bad_type", "counter", d->stats.net.bad_type, "Links closed for an unknown frame type, flags or reserved bits.");
	M("oversized", "counter", d->stats.net.oversized, "Links closed for a frame over its size limit.");
	M("bad_payload_crc", "counter", d->stats.net.bad_payload_crc, "Payload CRC mismatches (the channel is reset).");
	M("bad_tag", "counter", d->stats.net.bad_tag, "Links closed for a sealed record that does not authenticate (auth.mode = secure).");
	M("protocol_errors", "counter", d->stats.net.protocol_errors, "Links closed for a frame out of place or malformed.");
	M("msgs_net_out", "counter", d->stats.chan.msgs_net_out, "Messages sent to peer daemons.");
	M("bytes_net_out", "counter", d->stats.chan.bytes_net_out, "Payload bytes sent to peer daemons.");
	M("msgs_net_in", "counter", d->stats.chan.msgs_net_in, "Messages received from peer daemons.");
	M("bytes_net_in", "counter", d->stats.chan.bytes_net_in, "Payload bytes received from peer daemons.");
	M("msgs_net_dropped", "counter", d->stats.chan.msgs_net_dropped, "Messages received for a channel already gone, or out of order.");
	M("window_overruns", "counter", d->stats.chan.window_overruns, "Channels reset because the peer sent past any window.");
	M("injected_failures", "counter", d->stats.net.injected_failures, "Links reset by the fault interceptor: net.inject_socket_failures and inject kill-link.");
	M("ctl_timeouts", "counter", d->stats.ctl_timeouts, "Control connections closed for sending no request within global.ctl_timeout.");
	M("clients", "gauge", d->nclients, "Attached clients.");
	M("conns", "gauge", conns, "Open connection handles of all clients.");
	M("outbox_events", "gauge", queued, "Events waiting for room in a client's rings.");
	M("rx_pool_used_bytes", "gauge", rx_used, "Bytes of client RX pools holding unreleased messages.");
	M("uptime_seconds", "gauge", (msgr__now_ns() - d->started_ns) / 1000000000ULL, "Seconds since start.");
#undef M
	return n;
}

static struct json_object *cmd_status(struct msgr__daemon *d, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object(), *s = json_object_new_object();
	uint64_t now = msgr__now_ns();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "listen", json_object_new_string(d->conf.net.listen));
	json_object_object_add(o, "socket", json_object_new_string(d->conf.client.socket));
	json_object_object_add(o, "uptime_s", json_object_new_double((now - d->started_ns) / 1e9));
	json_object_object_add(o, "clients", json_object_new_int((int)d->nclients));
	json_object_object_add(o, "workers", json_object_new_int(1));
	json_object_object_add(o, "poll_us", json_object_new_int64((int64_t)d->conf.client.poll_us));
	{
		struct metric m[MAX_METRICS];
		size_t n = collect(d, m, MAX_METRICS);
		for (size_t i = 0; i < n; i++)
			if (!strcmp(m[i].type, "counter"))
				json_object_object_add(s, m[i].name,
						       json_object_new_int64((int64_t)m[i].value));
	}
	json_object_object_add(o, "stats", s);
	return o;
}

static struct json_object *cmd_clients(struct msgr__daemon *d, struct json_object *req, char **text)
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
		/* a command waiting while the daemon sleeps would be a lost wakeup */
		json_object_object_add(o, "cmd_waiting", json_object_new_boolean(msgr__ring_ready_sc(&c->cmd)));
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

static struct json_object *cmd_conns(struct msgr__daemon *d, struct json_object *req, char **text)
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
				struct msgr__channel *ch = k->ch;
				int remote = ch && ch->sess;
				/* what was asked, and what holds (channel.h): they
				 * differ across daemons until lossless modes land */
				json_object_object_add(o, "mode", json_object_new_string(mode_name(k->mode)));
				json_object_object_add(o, "mode_in_effect", ch ? json_object_new_string(mode_name(
					msgr__channel_mode_in_effect(ch))) : NULL);
				json_object_object_add(o, "state", json_object_new_string(
					!ch ? "reset" : remote && !ch->open ? "connecting" : "open"));
				json_object_object_add(o, "direction",
						       json_object_new_string(k->accepted ? "in" : "out"));
				json_object_object_add(o, "transport",
						       json_object_new_string(remote ? msgr__net_transport(d->net) : "local"));
				/* local channels number messages by count: out_seq is
				 * the last sent, in_seq the last delivered; remote ones
				 * show their wire sequence numbers */
				json_object_object_add(o, "out_seq", json_object_new_int64(
					(int64_t)(remote ? ch->out_seq : k->msgs_out)));
				json_object_object_add(o, "in_seq", json_object_new_int64(
					(int64_t)(remote ? ch->in_seq : k->msgs_in)));
				if (remote) {
					/* the window's view: sent and not yet acknowledged */
					json_object_object_add(o, "unacked_msgs", json_object_new_int64(ch->ua_len));
					json_object_object_add(o, "peer_ack", json_object_new_int64((int64_t)ch->peer_ack));
					json_object_object_add(o, "delivered", json_object_new_int64((int64_t)ch->delivered));
					json_object_object_add(o, "ack_sent", json_object_new_int64((int64_t)ch->ack_sent));
					json_object_object_add(o, "wire_id", json_object_new_int64(ch->sc.id));
				}
				json_object_object_add(o, "credit", json_object_new_int64((int64_t)k->credit));
				json_object_object_add(o, "queued_msgs", json_object_new_int64((int64_t)k->queued_msgs));
				json_object_object_add(o, "queued_bytes", json_object_new_int64((int64_t)k->queued_bytes));
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

static struct json_object *cmd_config_show(struct msgr__daemon *d, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < msgr__conf_nkeys(); i++) {
		char name[160], val[256];
		msgr__conf_key_name(i, name, sizeof(name));
		msgr__conf_key_value(&d->conf, i, val, sizeof(val));
		json_object_object_add(o, name, json_object_new_string(val));
	}
	/* the [policy] rules, in the order they are tried */
	for (uint32_t i = 0; i < d->conf.policy.n; i++) {
		char name[160];
		snprintf(name, sizeof(name), "policy.%s", d->conf.policy.rule[i].pattern);
		json_object_object_add(o, name, json_object_new_string(d->conf.policy.rule[i].text));
	}
	return o;
}

static struct json_object *cmd_version(struct msgr__daemon *d, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_string(MSGR_VERSION_STRING));
	return o;
}

static struct json_object *cmd_sessions(struct msgr__daemon *d, struct json_object *req, char **text)
{
	return msgr__net_sessions_json(d->net);
}

static struct json_object *cmd_perf_dump(struct msgr__daemon *d, struct json_object *req, char **text)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object();
	struct metric m[MAX_METRICS];
	size_t n = collect(d, m, MAX_METRICS);

	for (size_t i = 0; i < n; i++)
		json_object_object_add(g, m[i].name, json_object_new_int64((int64_t)m[i].value));
	json_object_object_add(o, "msgrd", g);
	return o;
}

/* Prometheus text exposition: counters get the conventional _total. */
static struct json_object *cmd_metrics(struct msgr__daemon *d, struct json_object *req, char **text)
{
	struct metric m[MAX_METRICS];
	size_t n = collect(d, m, MAX_METRICS), len = 0, cap = 8192;
	char *buf = malloc(cap);

	if (!buf)
		return error_obj("out of memory");
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const char *sfx = strcmp(m[i].type, "counter") ? "" : "_total";
		int w = snprintf(buf + len, cap - len,
				 "# HELP msgrd_%s%s %s\n# TYPE msgrd_%s%s %s\nmsgrd_%s%s %llu\n",
				 m[i].name, sfx, m[i].help, m[i].name, sfx, m[i].type, m[i].name, sfx,
				 (unsigned long long)m[i].value);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
	*text = buf;
	return NULL;
}

static struct json_object *cmd_config_get(struct msgr__daemon *d, struct json_object *req, char **text)
{
	const char *key = arg(req, "key");
	struct json_object *o;
	char val[256];
	int i;

	if (!key)
		return error_obj("config get: missing KEY (section.key)");
	i = msgr__conf_find(key);
	if (i < 0)
		return error_obj("unknown key '%s'", key);
	msgr__conf_key_value(&d->conf, (size_t)i, val, sizeof(val));
	o = json_object_new_object();
	json_object_object_add(o, key, json_object_new_string(val));
	return o;
}

static struct json_object *cmd_config_set(struct msgr__daemon *d, struct json_object *req, char **text)
{
	const char *key = arg(req, "key"), *val = arg(req, "value");
	struct json_object *o;
	char msg[512], line[512];
	int i;

	if (!key || !val)
		return error_obj("config set: need KEY (section.key) and VALUE");
	i = msgr__conf_find(key);
	if (i < 0)
		return error_obj("unknown key '%s'", key);
	if (!msgr__conf_key_live((size_t)i))
		return error_obj("%s cannot change while msgrd runs; set it in the file and restart", key);
	snprintf(line, sizeof(line), "%s=%s", key, val);
	if (msgr__daemon_set(d, line, msg, sizeof(msg)))
		return error_obj("%s", msg);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_string(msg));
	return o;
}

static struct json_object *cmd_log_level(struct msgr__daemon *d, struct json_object *req, char **text)
{
	const char *lvl = arg(req, "level");
	struct json_object *o;
	char msg[512], line[64];

	if (lvl) {
		snprintf(line, sizeof(line), "global.log_level=%.40s", lvl);
		if (msgr__daemon_set(d, line, msg, sizeof(msg)))
			return error_obj("%s", msg);
	}
	o = json_object_new_object();
	json_object_object_add(o, "log_level", json_object_new_string(msgr__log_level_name(d->conf.log_level)));
	return o;
}

static struct json_object *cmd_inject(struct msgr__daemon *d, struct json_object *req, char **text)
{
	const char *what = arg(req, "fault"), *target = arg(req, "target");
	struct msgr__dclient *c;
	struct json_object *o;

	if (!d->conf.inject)
		return error_obj("fault injection is disabled (set global.inject = true)");
	if (what && !strcmp(what, "kill-link")) {
		/* by the fault interceptor (global.inject puts it under every
		 * link), as a reset from the network would */
		if (!target || msgr__fault_kill(msgr__net_active_link(d->net, target)))
			return error_obj("inject kill-link: no session with a link up to '%s'",
					 target ? target : "");
		o = json_object_new_object();
		json_object_object_add(o, "success", json_object_new_string("link killed"));
		return o;
	}
	if (!what || strcmp(what, "detach"))
		return error_obj("inject: unknown fault '%s' (known: detach ENTITY, kill-link HOST:PORT)",
				 what ? what : "");
	if (!target || !(c = msgr__dclient_find(d, target)))
		return error_obj("inject detach: no attached entity '%s'", target ? target : "");
	msgr__dclient_drop(c, MSGR__LOG_NOTICE, "fault injection (msgrctl inject detach)");
	msgr__daemon_schedule(d);
	o = json_object_new_object();
	json_object_object_add(o, "success", json_object_new_string("detached"));
	return o;
}

static struct json_object *cmd_help(struct msgr__daemon *d, struct json_object *req, char **text);
static struct json_object *cmd_descriptions(struct msgr__daemon *d, struct json_object *req, char **text);

static const struct command commands[] = {
	{ "status", "daemon status and counters", cmd_status, "r" },
	{ "clients", "attached entities", cmd_clients, "r" },
	{ "conns", "connections (channels) of every attached entity", cmd_conns, "r" },
	{ "sessions", "sessions with other daemons: links, bytes, rtt", cmd_sessions, "r" },
	{ "perf dump", "every counter, as JSON", cmd_perf_dump, "r" },
	{ "metrics", "every counter, in the Prometheus text format", cmd_metrics, "r" },
	{ "config show", "the running configuration", cmd_config_show, "r" },
	{ "config get name=key,type=CephString", "one configuration key (section.key)", cmd_config_get, "r" },
	{ "config set name=key,type=CephString name=value,type=CephString",
	  "change a key that may change at run time", cmd_config_set, "rw" },
	{ "log level name=level,type=CephString,req=false", "show or set the log level", cmd_log_level, "rw" },
	{ "inject name=fault,type=CephString name=target,type=CephString",
	  "inject a fault (needs global.inject = true): detach ENTITY, kill-link HOST:PORT", cmd_inject, "rw" },
	{ "version", "msgrd version", cmd_version, "r" },
	{ "help", "list available commands", cmd_help, "r" },
	{ "get_command_descriptions", "list commands in Ceph's format", cmd_descriptions, "r" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static struct json_object *cmd_help(struct msgr__daemon *d, struct json_object *req, char **text)
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

static struct json_object *cmd_descriptions(struct msgr__daemon *d, struct json_object *req, char **text)
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

static void take(struct msgr__ctl *ctl, struct msgr__daemon *d);

static void on_closed(uv_handle_t *h)
{
	struct ctl_conn *cc = h->data;
	struct msgr__ctl *ctl = cc->d->ctl; /* NULL once the listener is closed */

	if (--cc->closing)
		return;
	if (ctl) {
		ctl->nconns--;
		if (ctl->held && ctl->nconns < cc->d->conf.ctl_max_conns) {
			ctl->held = 0;
			take(ctl, cc->d);
		}
	}
	free(cc->buf);
	free(cc);
}

/* Close both handles; safe to call again (a timeout during a write, then
 * the write's cancellation). */
static void conn_close(struct ctl_conn *cc)
{
	if (cc->closing)
		return;
	cc->closing = 2;
	uv_close((uv_handle_t *)&cc->pipe, on_closed);
	uv_close((uv_handle_t *)&cc->timer, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct ctl_conn *cc = w->data;

	free(w);
	conn_close(cc);
}

static void on_timeout(uv_timer_t *t)
{
	struct ctl_conn *cc = t->data;

	if (!cc->answered) {
		cc->d->stats.ctl_timeouts++;
		msgr__debug("control socket: pid %d sent no request within global.ctl_timeout; closed",
			    cc->pid);
	}
	conn_close(cc);
}

static void send_reply(struct ctl_conn *cc, const char *payload)
{
	size_t n = strlen(payload);
	uv_write_t *w = malloc(sizeof(*w) + 4 + n);
	unsigned char *p = (unsigned char *)(w + 1);
	uint32_t be = htonl((uint32_t)n);
	uv_buf_t b;

	cc->answered = 1;
	/* the reply gets its own deadline: a requester that does not read
	 * must not hold its slot either */
	uv_timer_start(&cc->timer, on_timeout, cc->d->conf.ctl_timeout_ms, 0);
	if (!w) {
		conn_close(cc);
		return;
	}
	memcpy(p, &be, 4);
	memcpy(p + 4, payload, n);
	b = uv_buf_init((char *)p, (unsigned)(n + 4));
	w->data = cc;
	if (uv_write(w, (uv_stream_t *)&cc->pipe, &b, 1, on_written)) {
		free(w);
		conn_close(cc);
	}
}

static void send_error(struct ctl_conn *cc, const char *fmt, const char *arg)
{
	struct json_object *o;
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	o = error_text(msg);
	send_reply(cc, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void handle_request(struct ctl_conn *cc, const char *text)
{
	struct json_object *req = json_tokener_parse(text), *pfx, *out;
	const char *prefix;

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "prefix", &pfx) || !json_object_is_type(pfx, json_type_string)) {
		send_error(cc, "request is not a JSON object with a \"prefix\" string: %s", text);
		json_object_put(req);
		return;
	}
	prefix = json_object_get_string(pfx);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char lit[160], *plain = NULL;
		sig_prefix(commands[i].sig, lit, sizeof(lit));
		if (strcmp(lit, prefix))
			continue;
		/* the socket is open to msgrd's group, which is also the group
		 * that may attach: changes need more than that */
		if (!strcmp(commands[i].perm, "rw") && !cc->privileged) {
			msgr__notice("control socket: refused '%s' to pid %d (uid %d): needs root or msgrd's user",
				     lit, cc->pid, cc->uid);
			send_error(cc, "permission denied: '%s' needs root or msgrd's user", lit);
			json_object_put(req);
			return;
		}
		out = commands[i].run(cc->d, req, &plain);
		if (plain) {
			send_reply(cc, plain);
			free(plain);
		} else {
			send_reply(cc, json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_SPACED |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
		}
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

	if (msgr__vec_reserve(&cc->buf, &cc->cap, cc->len + 4096, 1, 8192)) {
		*b = uv_buf_init(NULL, 0);
		return;
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
		conn_close(cc);
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

/* The socket's mode already keeps others out; SO_PEERCRED makes it hold
 * even if the file's mode or the directory is loosened by mistake. */
static int peer_allowed(struct ctl_conn *cc)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&cc->pipe, &fd) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return 0;
	cc->pid = (int)cred.pid;
	cc->uid = (int)cred.uid;
	cc->privileged = cred.uid == 0 || cred.uid == geteuid();
	if (cc->privileged || cred.gid == getegid())
		return 1;
	{
		/* supplementary groups too: members of msgrd's group may ask */
		gid_t groups[256];
		socklen_t gl = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0)
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == getegid())
					return 1;
	}
	msgr__warn("control socket: refused pid %d (uid %d, gid %d)", (int)cred.pid, (int)cred.uid,
		   (int)cred.gid);
	return 0;
}

/* Take the connection libuv has accepted for us. */
static void take(struct msgr__ctl *ctl, struct msgr__daemon *d)
{
	struct ctl_conn *cc = calloc(1, sizeof(*cc));

	if (!cc) {
		/* leave it with libuv, as at the cap: tried again when a
		 * connection closes */
		msgr__err("control socket: out of memory; accepting again when a connection closes");
		ctl->held = 1;
		return;
	}
	cc->d = d;
	uv_pipe_init(d->loop, &cc->pipe, 0);
	uv_timer_init(d->loop, &cc->timer);
	cc->pipe.data = cc->timer.data = cc;
	ctl->nconns++;
	/* from accept, a request must arrive within global.ctl_timeout */
	uv_timer_start(&cc->timer, on_timeout, d->conf.ctl_timeout_ms, 0);
	if (uv_accept((uv_stream_t *)&ctl->srv, (uv_stream_t *)&cc->pipe)) {
		conn_close(cc);
		return;
	}
	if (!peer_allowed(cc)) {
		send_error(cc, "permission denied: %s", "not msgrd's user or group");
		return;
	}
	uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct msgr__daemon *d = srv->data;
	struct msgr__ctl *ctl = d->ctl;

	if (status < 0 || !ctl)
		return;
	if (ctl->nconns >= d->conf.ctl_max_conns) {
		/* Leave it with libuv: while it holds an accepted connection
		 * it stops watching the listening socket (uv__server_io), so
		 * the rest wait in the kernel's backlog, in order, without a
		 * busy loop; on_closed takes it when a slot frees. Logged once
		 * a minute at most: a crowd would repeat it at every slot. */
		if (!ctl->held_logged || uv_now(d->loop) - ctl->held_logged >= 60000) {
			ctl->held_logged = uv_now(d->loop);
			msgr__info("control socket: %u connections open (global.ctl_max_conns); the next waits",
				   ctl->nconns);
		}
		ctl->held = 1;
		return;
	}
	take(ctl, d);
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
