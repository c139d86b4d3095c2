/*
 * metrics.c - the daemon's counters and the forms they are read in
 * (metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "client.h"
#include "common/log.h"
#include "link.h"
#include "msgr.h"
#include "net.h"
#include "registry.h"
#include "session_state.h"

/* Nanoseconds the calling thread (the loop's: this runs on it) has been
 * ready to run but waited for a CPU: the second figure of the kernel's
 * schedstat. 0 where the kernel keeps none. */
static uint64_t cpu_wait_ns(void)
{
	unsigned long long run = 0, wait = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return wait;
}

size_t msgr__metrics_collect(const struct msgr__ctl_env *e, struct msgr__metric *m, size_t max)
{
	uint64_t conns = 0, queued = 0, rx_used = 0;
	size_t n = 0;

	for (struct msgr__dclient *c = e->reg->clients; c; c = c->next) {
		conns += c->nconns;
		queued += c->qlen;
		rx_used += (uint64_t)c->rxp.used << c->params.chunk_shift;
	}
	/* R: a reason a link was closed, one sample of msgrd_link_closes_total */
#define M(nm, ty, val, hl) \
	if (n < max) m[n++] = (struct msgr__metric){ nm, hl, ty, NULL, (uint64_t)(val) }
#define R(nm, rs, val, hl) \
	if (n < max) m[n++] = (struct msgr__metric){ nm, hl, "counter", rs, (uint64_t)(val) }
	M("attaches", "counter", e->reg->stats->attaches, "Successful attaches since start.");
	M("attach_errors", "counter", e->reg->stats->attach_errors, "Refused attach requests.");
	M("attach_shed", "counter", e->reg->stats->attach_shed, "Attach connections closed before their request came, to make room for others.");
	M("attach_nofd", "counter", e->reg->stats->attach_nofd, "Accepts on the attach socket that failed for want of a file descriptor.");
	M("conns_refused", "counter", e->reg->stats->conns_refused, "Connects refused: an entity at global.max_conns_per_client.");
	M("modes_refused", "counter", e->reg->stats->modes_refused, "Connects refused: a mode the accepting entity does not accept from the connecting one (msgr_accept_modes).");
	M("detaches", "counter", e->reg->stats->detaches, "Clients gone, for any reason.");
	M("violations", "counter", e->reg->stats->violations, "Clients dropped for breaking the segment protocol.");
	M("msgs_local", "counter", e->chan_stats->msgs_local, "Messages delivered between local entities.");
	M("bytes_local", "counter", e->chan_stats->bytes_local, "Payload bytes delivered between local entities.");
	M("msgs_dropped", "counter", e->reg->stats->msgs_dropped, "Sends on reset connections, given back unsent.");
	M("wakeups_sent", "counter", e->reg->stats->wakeups_sent, "Eventfd wakeups sent to clients.");
	M("wakeups_recv", "counter", e->reg->stats->wakeups_recv, "Eventfd wakeups received from clients.");
	M("links_dialled", "counter", e->net_stats->links_dialled, "Links to peer daemons started by us.");
	M("links_accepted", "counter", e->net_stats->links_accepted, "Links from peer daemons accepted.");
	R("links_refused", "refused", e->net_stats->links_refused, "Inbound links closed at once: 64 were already in their handshake.");
	M("dial_failures", "counter", e->net_stats->dial_failures, "Dials that never connected.");
	M("link_errors", "counter", e->net_stats->link_errors, "Links ended by an error (reset, timeout, bad input).");
	R("handshake_timeouts", "handshake_timeout", e->net_stats->handshake_timeouts, "Links without a session within net.connect_timeout (dialled) or net.handshake_timeout (accepted).");
	R("keepalive_timeouts", "keepalive_timeout", e->net_stats->keepalive_timeouts, "Links silent for net.keepalive_timeout.");
	R("auth_failures", "auth_failure", e->net_stats->auth_failures, "Authentications refused, by us or the peer.");
	R("races", "race", e->net_stats->races, "Connection races resolved (one of two links closed).");
	R("bad_banner", "bad_banner", e->net_stats->bad_banner, "Links closed for a wrong banner magic.");
	R("no_version", "no_version", e->net_stats->no_version, "Links closed for no common protocol version.");
	R("bad_header_crc", "bad_header_crc", e->net_stats->bad_header_crc, "Links closed for a frame header CRC mismatch.");
	R("bad_type", "bad_type", e->net_stats->bad_type, "Links closed for an unknown frame type, flags or reserved bits.");
	R("oversized", "oversized", e->net_stats->oversized, "Links closed for a frame over its size limit.");
	M("bad_payload_crc", "counter", e->net_stats->bad_payload_crc, "Payload CRC mismatches (the channel is reset).");
	R("bad_tag", "bad_tag", e->net_stats->bad_tag, "Links closed for a sealed record that does not authenticate (auth.mode = secure).");
	R("protocol_errors", "protocol_error", e->net_stats->protocol_errors, "Links closed for a frame out of place or malformed.");
	R("unread", "unread", e->net_stats->unread, "Links closed because the peer read too little: frames owed to it passed 256 times net.send_backlog.");
	M("msgs_net_out", "counter", e->chan_stats->msgs_net_out, "Messages sent to peer daemons.");
	M("bytes_net_out", "counter", e->chan_stats->bytes_net_out, "Payload bytes sent to peer daemons.");
	M("acks_out", "counter", e->net_stats->acks_out, "ACK frames sent: acknowledgements that no reply on their connection carried within 1 ms.");
	M("batches_out", "counter", e->chan_stats->batches_out, "MSG frames sent with BATCH: several small messages of one connection in one frame.");
	M("batched_msgs_out", "counter", e->chan_stats->batched_msgs_out, "Messages sent inside BATCH frames.");
	M("msgs_net_in", "counter", e->chan_stats->msgs_net_in, "Messages received from peer daemons.");
	M("bytes_net_in", "counter", e->chan_stats->bytes_net_in, "Payload bytes received from peer daemons.");
	M("frags_in_place", "counter", e->chan_stats->frags_in_place, "Messages received in fragments straight into the receiver's RX pool, fragment by fragment.");
	M("msgs_net_dropped", "counter", e->chan_stats->msgs_net_dropped, "Messages received for a channel already gone, or out of order.");
	M("window_overruns", "counter", e->chan_stats->window_overruns, "Channels reset because the peer sent past any window.");
	R("injected_failures", "injected", e->net_stats->injected_failures, "Links reset by the fault interceptor: net.inject_socket_failures and inject kill-link.");
	M("resumes", "counter", e->chan_stats->resumes, "Lossless and peer channels resumed on a new link after a fault.");
	M("replayed_msgs", "counter", e->chan_stats->replayed_msgs, "Messages sent again after a resume.");
	M("dup_dropped", "counter", e->chan_stats->dup_dropped, "Messages received twice (replays after a fault), dropped.");
	M("remote_resets", "counter", e->chan_stats->remote_resets, "Channels ended because their remote instance is gone (REMOTE_RESET).");
	M("conns_queue_full", "counter", e->chan_stats->conns_queue_full, "Connects refused: the session to that peer held 128 times net.send_backlog in frames waiting for a link or for room on it.");
	M("redials", "counter", e->net_stats->redials, "Dials for kept channels after a link was lost.");
	M("rdma_links", "counter", e->net_stats->transport.rdma_links, "Links that came up over RDMA (net.transport = rdma).");
	M("rdma_fallbacks", "counter", e->net_stats->transport.rdma_fallbacks, "RDMA dials that rdma_cm refused or could not reach, redone over TCP.");
	M("rdma_rnr", "counter", e->net_stats->transport.rdma_rnr, "RDMA SENDs that found no receive posted (credits keep this at 0).");
	M("rdma_credit_stalls", "counter", e->net_stats->transport.rdma_credit_stalls, "Times RDMA sends waited for a credit from the peer.");
	M("rdma_credit_msgs", "counter", e->net_stats->transport.rdma_credit_msgs, "Standalone RDMA credit messages sent.");
	M("rdma_flushes", "counter", e->net_stats->transport.rdma_flushes, "RDMA work requests flushed by a queue pair in error.");
	M("rdma_qp_errors", "counter", e->net_stats->transport.rdma_qp_errors, "RDMA queue pairs that went to error.");
	M("loop_stalls", "counter", e->loop_stats->stalls, "Event loop turns whose work took over 1 ms: nothing else moved meanwhile.");
	M("loop_busy_max_us", "gauge", e->loop_stats->busy_max_ns / 1000, "The most work one event loop turn took since start.");
	M("loop_cpu_wait_us", "counter", cpu_wait_ns() / 1000, "Time the event loop was ready to run but waited for a CPU (the kernel's run delay).");
	M("ctl_timeouts", "counter", e->ctl_stats->timeouts, "Control connections closed for sending no request within global.ctl_timeout.");
	M("clients", "gauge", e->reg->nclients, "Attached clients.");
	M("conns", "gauge", conns, "Open connection handles of all clients.");
	M("outbox_events", "gauge", queued, "Events waiting for room in a client's rings.");
	M("rx_pool_used_bytes", "gauge", rx_used, "Bytes of client RX pools holding unreleased messages.");
	M("uptime_seconds", "gauge", (msgr__now_ns() - e->started_ns) / 1000000000ULL, "Seconds since start.");
#undef M
#undef R
	return n;
}

/* Ceph's perf counter type bits (doc/dev/perf_counters.rst): 2 an integer,
 * 1 a real, 8 a counter (else a gauge). */
#define CEPH_REAL 1
#define CEPH_U64 2
#define CEPH_COUNTER 8
/* PRIO_USEFUL: ceph-exporter's default exporter_prio_limit lets it through */
#define CEPH_PRIO_USEFUL 5

static struct json_object *schema_entry(int bits, const char *help, const char *units)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_int(bits));
	json_object_object_add(o, "metric_type",
			       json_object_new_string(bits & CEPH_COUNTER ? "counter" : "gauge"));
	json_object_object_add(o, "value_type",
			       json_object_new_string(bits & CEPH_REAL ? "real" : "integer"));
	json_object_object_add(o, "description", json_object_new_string(help));
	json_object_object_add(o, "nick", json_object_new_string(""));
	json_object_object_add(o, "priority", json_object_new_int(CEPH_PRIO_USEFUL));
	json_object_object_add(o, "units", json_object_new_string(units));
	return o;
}

static struct json_object *metric_schema(const struct msgr__metric *m)
{
	return schema_entry(CEPH_U64 | (strcmp(m->type, "counter") ? 0 : CEPH_COUNTER), m->help,
			    strstr(m->name, "bytes") ? "bytes" : "none");
}

struct json_object *msgr__metrics_perf_dump(const struct msgr__ctl_env *e)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object();
	struct msgr__metric m[MSGR__MAX_METRICS];
	size_t n = msgr__metrics_collect(e, m, MSGR__MAX_METRICS);

	for (size_t i = 0; i < n; i++)
		json_object_object_add(g, m[i].name, json_object_new_int64((int64_t)m[i].value));
	json_object_object_add(o, "msgrd", g);
	return o;
}

struct json_object *msgr__metrics_perf_schema(const struct msgr__ctl_env *e)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object();
	struct msgr__metric m[MSGR__MAX_METRICS];
	size_t n = msgr__metrics_collect(e, m, MSGR__MAX_METRICS);

	for (size_t i = 0; i < n; i++)
		json_object_object_add(g, m[i].name, metric_schema(&m[i]));
	json_object_object_add(o, "msgrd", g);
	return o;
}

/* What a session shows per peer, read from the sessions layer's own
 * `sessions` JSON (no accessor of its internals needed). Value type;
 * the strings are lent by the JSON it was read from. */
struct peer_fig {
	const char *peer, *state;
	int64_t channels;
	uint64_t bytes_out, bytes_in; /* over the links it has now */
	double rtt_us;                /* of the active link */
	int has_rtt;                  /* there is an active link */
};

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : "";
}

static void peer_fig(struct json_object *s, struct peer_fig *p)
{
	struct json_object *links, *active;

	memset(p, 0, sizeof(*p));
	p->peer = jstr(s, "peer");
	p->state = jstr(s, "state");
	p->channels = jint(s, "channels");
	if (!json_object_object_get_ex(s, "links", &links))
		return;
	for (size_t i = 0; i < json_object_array_length(links); i++) {
		struct json_object *l = json_object_array_get_idx(links, i), *rtt;
		p->bytes_out += (uint64_t)jint(l, "bytes_out");
		p->bytes_in += (uint64_t)jint(l, "bytes_in");
		if (json_object_object_get_ex(l, "active", &active) && json_object_get_boolean(active) &&
		    json_object_object_get_ex(l, "rtt_us", &rtt)) {
			p->rtt_us = json_object_get_double(rtt);
			p->has_rtt = 1;
		}
	}
}

static struct json_object *sessions_json(const struct msgr__ctl_env *e)
{
	return msgr__net_sessions_json(e->net ? *e->net : NULL);
}

/* The per-peer counters of `counter dump`/`counter schema`, in one place so
 * the two keep the same shape (ceph-exporter reads the dump by the schema). */
#define PEER_COUNTERS(X)                                                                         \
	X("bytes_out", CEPH_U64 | CEPH_COUNTER, "bytes", "Payload and frame bytes sent on the session's links now up.", \
	  json_object_new_int64((int64_t)p.bytes_out))                                           \
	X("bytes_in", CEPH_U64 | CEPH_COUNTER, "bytes", "Bytes received on the session's links now up.", \
	  json_object_new_int64((int64_t)p.bytes_in))                                            \
	X("channels", CEPH_U64, "none", "Channels the session carries.",                        \
	  json_object_new_int64(p.channels))                                                     \
	X("up", CEPH_U64, "none", "1 if the session has an active link (state up), else 0.",    \
	  json_object_new_int(!strcmp(p.state, "up")))                                           \
	X("rtt_us", CEPH_REAL, "none", "Round-trip time of the active link in microseconds (0 without one).", \
	  json_object_new_double(p.has_rtt ? p.rtt_us : 0))

static struct json_object *labelled(const char *k, const char *v, struct json_object *counters)
{
	struct json_object *o = json_object_new_object(), *l = json_object_new_object();

	if (k)
		json_object_object_add(l, k, json_object_new_string(v));
	json_object_object_add(o, "labels", l);
	json_object_object_add(o, "counters", counters);
	return o;
}

struct json_object *msgr__metrics_counter_dump(const struct msgr__ctl_env *e, int schema)
{
	struct json_object *o = json_object_new_object(), *g = json_object_new_object();
	struct json_object *peers = json_object_new_array(), *closes = json_object_new_array();
	struct json_object *ss = sessions_json(e), *arr = json_object_new_array();
	struct msgr__metric m[MSGR__MAX_METRICS];
	size_t n = msgr__metrics_collect(e, m, MSGR__MAX_METRICS);

	for (size_t i = 0; i < n; i++)
		json_object_object_add(g, m[i].name, schema ? metric_schema(&m[i])
							     : json_object_new_int64((int64_t)m[i].value));
	json_object_array_add(arr, labelled(NULL, NULL, g));
	json_object_object_add(o, "msgrd", arr);

	for (size_t i = 0; i < json_object_array_length(ss); i++) {
		struct json_object *c = json_object_new_object();
		struct peer_fig p;
		peer_fig(json_object_array_get_idx(ss, i), &p);
#define X(nm, bits, units, help, val) \
		json_object_object_add(c, nm, schema ? schema_entry(bits, help, units) : val);
		PEER_COUNTERS(X)
#undef X
		json_object_array_add(peers, labelled("peer", p.peer, c));
	}
	json_object_object_add(o, "msgrd_peer", peers);

	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_new_object();
		if (!m[i].reason) {
			json_object_put(c);
			continue;
		}
		json_object_object_add(c, "links", schema
			? schema_entry(CEPH_U64 | CEPH_COUNTER, "Links closed for this reason.", "none")
			: json_object_new_int64((int64_t)m[i].value));
		json_object_array_add(closes, labelled("reason", m[i].reason, c));
	}
	json_object_object_add(o, "msgrd_link_close", closes);
	json_object_put(ss);
	return o;
}

/* ---- the Prometheus text format ---- */

/* A growing text buffer; oom sticks once an allocation failed. */
struct tbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void tprintf(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		w = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (w < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)w < b->cap - b->len) {
			b->len += (size_t)w;
			return;
		}
		char *np = realloc(b->p, b->cap * 2 + (size_t)w);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = b->cap * 2 + (size_t)w;
	}
}

/* A label value as the format wants it: backslash, double quote and line
 * feed escaped. Peers are HOST:PORT, but what reaches a scraper is never
 * trusted to be. */
static void tlabel(struct tbuf *b, const char *v)
{
	char esc[2 * MSGR__HOSTPORT_MAX + 1];
	size_t o = 0;

	for (; *v && o + 2 < sizeof(esc); v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			esc[o++] = '\\';
			esc[o++] = *v == '\n' ? 'n' : *v;
		} else {
			esc[o++] = *v;
		}
	}
	esc[o] = 0;
	tprintf(b, "%s", esc);
}

static void family(struct tbuf *b, const char *name, const char *type, const char *help)
{
	tprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int msgr__metrics_text(const struct msgr__ctl_env *e, char **out, size_t *len)
{
	struct tbuf b = { .p = malloc(16384), .cap = 16384 };
	struct msgr__metric m[MSGR__MAX_METRICS];
	size_t n = msgr__metrics_collect(e, m, MSGR__MAX_METRICS);
	struct json_object *ss;

	if (!b.p)
		return -ENOMEM;
	b.p[0] = 0;
	family(&b, "msgrd_build_info", "gauge", "msgrd's version, as a label; the value is always 1.");
	tprintf(&b, "msgrd_build_info{version=\"%s\"} 1\n", MSGR_VERSION_STRING);
	family(&b, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
	tprintf(&b, "process_start_time_seconds %.3f\n", e->started_unix_s);
	/* counters get the conventional _total; close reasons come below;
	 * microseconds (a name ending _us) become Prometheus's base unit */
	for (size_t i = 0; i < n; i++) {
		const char *sfx = strcmp(m[i].type, "counter") ? "" : "_total";
		size_t nl = strlen(m[i].name);
		int us = nl > 3 && !strcmp(m[i].name + nl - 3, "_us");
		char name[96];
		if (m[i].reason)
			continue;
		if (us) {
			snprintf(name, sizeof(name), "msgrd_%.*s_seconds%s", (int)(nl - 3), m[i].name, sfx);
			family(&b, name, m[i].type, m[i].help);
			tprintf(&b, "%s %.6f\n", name, (double)m[i].value / 1e6);
			continue;
		}
		snprintf(name, sizeof(name), "msgrd_%s%s", m[i].name, sfx);
		family(&b, name, m[i].type, m[i].help);
		tprintf(&b, "%s %llu\n", name, (unsigned long long)m[i].value);
	}
	family(&b, "msgrd_link_closes_total", "counter", "Links closed, by reason (perf dump has one counter per reason).");
	for (size_t i = 0; i < n; i++)
		if (m[i].reason)
			tprintf(&b, "msgrd_link_closes_total{reason=\"%s\"} %llu\n", m[i].reason,
				(unsigned long long)m[i].value);

	/* per peer daemon: one sample per session, labelled by its peer */
	ss = sessions_json(e);
	family(&b, "msgrd_session_state", "gauge", "The session's state with each peer daemon: 1 for the state it is in.");
	for (size_t i = 0; i < json_object_array_length(ss); i++) {
		struct peer_fig p;
		peer_fig(json_object_array_get_idx(ss, i), &p);
		for (int st = 0; st < MSGR__SESS_NSTATES; st++) {
			const char *name = msgr__session_state_name((enum msgr__session_state)st);
			tprintf(&b, "msgrd_session_state{peer=\"");
			tlabel(&b, p.peer);
			tprintf(&b, "\",state=\"%s\"} %d\n", name, !strcmp(name, p.state));
		}
	}
#define PER_PEER(metric, type, help, cond, fmt, val)                                   \
	family(&b, metric, type, help);                                                \
	for (size_t i = 0; i < json_object_array_length(ss); i++) {                    \
		struct peer_fig p;                                                     \
		peer_fig(json_object_array_get_idx(ss, i), &p);                        \
		if (!(cond))                                                           \
			continue;                                                      \
		tprintf(&b, metric "{peer=\"");                                        \
		tlabel(&b, p.peer);                                                    \
		tprintf(&b, "\"} " fmt "\n", val);                                     \
	}
	PER_PEER("msgrd_session_rtt_seconds", "gauge", "Round-trip time of the session's active link.",
		 p.has_rtt, "%.9g", p.rtt_us / 1e6)
	PER_PEER("msgrd_session_sent_bytes_total", "counter",
		 "Bytes sent on the session's links now up (starts again when a link is replaced).", 1,
		 "%llu", (unsigned long long)p.bytes_out)
	PER_PEER("msgrd_session_received_bytes_total", "counter",
		 "Bytes received on the session's links now up (starts again when a link is replaced).", 1,
		 "%llu", (unsigned long long)p.bytes_in)
	PER_PEER("msgrd_session_channels", "gauge", "Channels the session carries.", 1, "%lld",
		 (long long)p.channels)
#undef PER_PEER
	json_object_put(ss);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
