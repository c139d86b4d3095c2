/*
 * link.h - the links layer: the core's state over one transport connection
 * (framing, handshake, keepalives), below sessions and above transports.
 *
 * This header also holds what the whole network side (links and sessions)
 * is configured by and counts: struct msgr__net_conf and struct
 * msgr__net_stats. The loop owns both (inside its configuration and its
 * counters) and lends them to the layers here for their whole life; the
 * configuration may change under them between loop turns (live keys), so
 * they read it afresh at every use and never copy it.
 */
#ifndef MSGR_DAEMON_LINK_H
#define MSGR_DAEMON_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "common/addr.h"
#include "link_state.h"
#include "transports/fault.h"

struct json_object;
struct msgr__frame_hdr;
struct msgr__transport_ops;
struct msgr__tconn;

/* Settings of the network side. Value type, owned by the loop's
 * configuration (config.h); the key each field comes from is named. */
struct msgr__net_conf {
	char listen[MSGR__HOSTPORT_MAX]; /* global.listen: HOST:PORT naming this daemon
					    (canonical: msgr__hostport_canon) */
	char bind[MSGR__HOSTPORT_MAX];   /* global.bind: where it listens, if not there
					    (0.0.0.0:P, [::]:P); "" if unset */
	uint64_t max_message;            /* global.max_message: largest payload */
	uint64_t channel_window;         /* global.channel_window: bytes per connection
					    waiting in the daemon before sends wait */
	uint64_t connect_timeout_ms;     /* net.connect_timeout: dial + handshake */
	uint64_t handshake_timeout_ms;   /* net.handshake_timeout: an accepted link's, to AUTH */
	uint64_t keepalive_interval_ms;  /* net.keepalive_interval: KEEPALIVE period */
	uint64_t keepalive_timeout_ms;   /* net.keepalive_timeout: silence that ends a link */
	uint64_t links_per_session;      /* net.links_per_session: 1 (the only value yet) */
	uint64_t send_backlog;           /* net.send_backlog: a session's active link takes
					    messages while it holds less than this unsent */
	uint64_t reconnect_backoff_min_ms; /* net.reconnect_backoff_min: the wait before the
					      second redial (the first is at once) */
	uint64_t reconnect_backoff_max_ms; /* net.reconnect_backoff_max: the longest wait */
	char transport[16];              /* net.transport: a registered name (transport.c) */
	struct msgr__transport_conf tconf; /* rdma.*: what the transport reads */
	struct msgr__fault_conf fault;   /* net.inject_socket_failures, net.inject_delay: the
					    fault interceptor reads them live; nonzero only
					    with global.inject (msgr__conf_check) */
	char keyring[108];               /* auth.keyring: cluster key file */
	int auth_mode;                   /* auth.mode: MSGR__AUTH_* */
};

/* auth.mode; the values are also HELLO's auth mode byte. */
enum { MSGR__AUTH_NONE = 0, MSGR__AUTH_HMAC = 1, MSGR__AUTH_SECURE = 2 };
const char *msgr__auth_mode_name(int mode); /* "none", "hmac", "secure" */

/* Ranges of keys a peer's HELLO announces too, so they are checked there
 * against the same bounds as the configuration. */
#define MSGR__MAXMSG_MIN 1024ull
#define MSGR__MAXMSG_MAX (1ull << 30)
#define MSGR__WINDOW_MIN 4096ull
#define MSGR__WINDOW_MAX (1ull << 30)
/* A link whose backlog falls under this after a send tells its owner
 * (room): a quarter of what a session lets wait, so it refills in steps. */
#define MSGR__LINK_ROOM (256u << 10)

/* Counters of the network side, shown by `perf dump`. Owned by the loop. */
struct msgr__net_stats {
	uint64_t links_dialled;     /* outbound links started */
	uint64_t links_accepted;    /* inbound links accepted */
	uint64_t links_refused;     /* inbound links closed at once: too many in handshake */
	uint64_t dial_failures;     /* dials that never connected */
	uint64_t link_errors;       /* links ended by an error (reset, timeout, bad input) */
	uint64_t handshake_timeouts;/* links with no session in time (connect_timeout, handshake_timeout) */
	uint64_t keepalive_timeouts;/* links silent for net.keepalive_timeout */
	uint64_t auth_failures;     /* authentication refused, either way */
	uint64_t races;             /* connection races resolved */
	uint64_t bad_banner;        /* wrong magic before anything else */
	uint64_t no_version;        /* no protocol version in common */
	uint64_t bad_header_crc;    /* frame header CRC mismatch */
	uint64_t bad_type;          /* unknown frame type, flags or reserved bits */
	uint64_t oversized;         /* frame over its type's size limit */
	uint64_t bad_payload_crc;   /* payload CRC mismatch (channel reset) */
	uint64_t bad_tag;           /* secure mode: a record that does not authenticate */
	uint64_t protocol_errors;   /* frames out of place or malformed */
	uint64_t injected_failures; /* links reset by the fault interceptor (transports/fault.c):
				       net.inject_socket_failures and inject kill-link */
	uint64_t redials;           /* dials for kept channels after a link was lost */
	uint64_t acks_out;          /* ACK frames sent: acks no frame of their
				       connection carried (session.c) */
	uint64_t unread;            /* links closed because frames owed to the
				       peer piled up (MSGR__PACED_MAX) */
	struct msgr__transport_stats transport; /* the transport's own (rdma_*) */
};


/* One link. Owned by its struct msgr__links from dial or accept until the
 * transport's closed() (then the session hears gone() and it is freed).
 * Opaque above this layer. */
struct msgr__link;

/* Every link of the daemon: the transport they run on, listening, the
 * daemon's instance nonce and keys, and the limits on links still in their
 * handshake. Owned by the sessions layer (net.c), from msgr__links_start()
 * to msgr__links_stop(). Loop thread only. */
struct msgr__links;

/* What a link learnt in its handshake: set before the session hears of it
 * (named, up), read-only above this layer, valid while the link lives. */
struct msgr__link_info {
	int outbound;                         /* we dialled it */
	uint64_t id;                          /* the dialler's name for it (its HELLO) */
	uint64_t peer_lost;                   /* accepted: the link its dialler lost to us */
	uint64_t peer_nonce;                  /* the peer daemon's instance */
	uint32_t peer_max_msg;                /* largest MSG payload the peer takes */
	uint64_t peer_window;                 /* the peer's global.channel_window */
	char peer_listen[MSGR__HOSTPORT_MAX]; /* from HELLO, or what we dialled */
	char remote[MSGR__HOSTPORT_MAX];      /* the socket's peer address */
};

/* How a link tells the layer above (sessions) what happened. Registered
 * once at msgr__links_start(); ctx is passed back. No callback comes from
 * inside a call the session made on the same link, except closing() from
 * msgr__link_close() and the calls that close a link. */
struct msgr__link_events {
	/* An accepted link's HELLO names the peer daemon: adopt it (set its
	 * owner). 0, or a negative errno to close it. */
	int (*named)(void *ctx, struct msgr__link *l, const char *listen);
	/* Authenticated both ways: it may carry the session's frames. */
	void (*up)(void *ctx, struct msgr__link *l);
	/* A channel frame (OPEN..RESET) on an up or draining link, in order.
	 * big is a MSG's payload buffer, which the callee takes; NULL when
	 * the payload was read in place (payload, for the call only). 0, or a
	 * negative errno to close the link as a protocol error (-ENOBUFS:
	 * the peer sent more than a hand-over may hold). */
	int (*frame)(void *ctx, struct msgr__link *l, const struct msgr__frame_hdr *h,
		     const void *payload, void *big);
	/* A channel frame that came without its payload: a CRC mismatch
	 * (-EBADMSG) or over global.max_message (-EMSGSIZE). Its channel
	 * ends, not the link; 0 or a negative errno as for frame. */
	int (*frame_lost)(void *ctx, struct msgr__link *l, const struct msgr__frame_hdr *h, int err);
	/* Optional: the channels of the next two frames on an up or
	 * draining link (0: not known), a hint only (msgr__frame_ops.ahead). */
	void (*ahead)(void *ctx, struct msgr__link *l, uint32_t next, uint32_t after);
	/* The peer's CLOSE on an up link: it ends this one in order (we
	 * answer with ours, then closing() follows). */
	void (*peer_left)(void *ctx, struct msgr__link *l);
	/* The peer's CLOSE ended our drain: everything it sent here is in. */
	void (*drained)(void *ctx, struct msgr__link *l);
	/* We close l now (err 0: in order), for why. */
	void (*closing)(void *ctx, struct msgr__link *l, int err, const char *why);
	/* The transport is done with l: the last call about it; err is why it
	 * ended (0: in order); was_up: it was up once; l is freed on return. */
	void (*gone)(void *ctx, struct msgr__link *l, int err, int was_up);
	/* A received buffer was taken in: send what it produced (acks,
	 * answers) now rather than at the end of the loop turn. */
	void (*batch_end)(void *ctx);
	/* A send on the live link l finished and its backlog
	 * (msgr__link_backlog) is under MSGR__LINK_ROOM: more may go. */
	void (*room)(void *ctx, struct msgr__link *l);
	/* Work waits for the end of this loop turn (a failure to act on, frames
	 * to flush): make sure msgr__links_flush() runs. */
	void (*schedule)(void *ctx);
};

/* Start the link layer (its clock runs deadlines and keepalives while any
 * link exists): load the keys (auth.mode hmac or secure), pick the
 * instance nonce, start the transport ops names (through the fault
 * interceptor when inject), listen on conf->listen. conf and stats are
 * borrowed until stop. 0, or a negative errno with the reason in err. */
int msgr__links_start(struct msgr__links **out, uv_loop_t *loop, const struct msgr__net_conf *conf,
		      struct msgr__net_stats *stats, const struct msgr__transport_ops *ops, int inject,
		      const struct msgr__link_events *ev, void *ctx, char *err, size_t errlen);

/* Tell every peer we go (CLOSE), give that a second, stop the transport and
 * run the loop until every link is gone; then free everything. */
void msgr__links_stop(struct msgr__links *ls, uv_loop_t *loop);

/* Read auth.keyring again (SIGHUP): links from now on prove and check with
 * its keys. 0, or a negative errno with the reason in err (old keys kept). */
int msgr__links_reload_keyring(struct msgr__links *ls, char *err, size_t errlen);

/* Act on failures noted in this turn, then hand each link's queued bytes to
 * the transport: one send per link. */
void msgr__links_flush(struct msgr__links *ls);


/* Dial peer HOST:PORT for owner; lost is the id of the link to it that
 * failed here while up (0: none), which the HELLO tells the peer. 0, or a
 * negative errno when the dial is refused at once (no callback follows). */
int msgr__link_dial(struct msgr__links *ls, const char *peer, uint64_t lost, void *owner,
		    struct msgr__link **out);

/* The transport's name ("tcp"), and whether the fault interceptor wraps it. */
const char *msgr__links_transport(const struct msgr__links *ls);
int msgr__links_injecting(const struct msgr__links *ls);

/* Walk every link (any order): for (l = first(ls); l; l = next(l)). */
struct msgr__link *msgr__links_first(struct msgr__links *ls);
struct msgr__link *msgr__link_next_of(struct msgr__link *l);

/* Queue one channel frame on an up or draining link (sealed in secure
 * mode): h's fields but len, payload = parts. A failure (out of memory,
 * nonce counter used up) closes the link at the next flush. */
void msgr__link_send(struct msgr__link *l, const struct msgr__frame_hdr *h,
		     const struct iovec *parts, int nparts);
/* Queue frames encoded plainly by msgr__frames_put (what waited for a link),
 * sealing each if the link seals. */
void msgr__link_send_frames(struct msgr__link *l, const uint8_t *frames, size_t len);
/* Bytes queued on l for the next flush (a session flushes early past a MiB). */
size_t msgr__link_queued(const struct msgr__link *l);
/* Bytes l holds that the kernel has not taken yet: queued here and in the
 * transport. What a session paces its kept messages by. */
size_t msgr__link_backlog(const struct msgr__link *l);
/* The most msgr__link_backlog was right after a frame was queued on l, its
 * own (keepalives, acks) as well as its session's. */
size_t msgr__link_backlog_peak(const struct msgr__link *l);
void msgr__link_flush(struct msgr__link *l);

/* End l in order: our CLOSE is its last frame; the peer's CLOSE ends it. */
void msgr__link_drain(struct msgr__link *l);
/* Close l now (err 0: in order, sending what is queued). */
void msgr__link_close(struct msgr__link *l, int err, const char *why);
/* Close l with err at the next flush, from the middle of a send path; why
 * must outlive l (a string constant). Frames sent meanwhile are dropped.
 * 0 if l was closing or failing already. */
int msgr__link_fail(struct msgr__link *l, int err, const char *why);

enum msgr__link_state msgr__link_state(const struct msgr__link *l);
/* It was up, or its close began while up or draining. */
int msgr__link_was_up(const struct msgr__link *l);
const struct msgr__link_info *msgr__link_info(const struct msgr__link *l);
void *msgr__link_owner(const struct msgr__link *l);
void msgr__link_set_owner(struct msgr__link *l, void *owner);
/* The transport connection under l, for the fault interceptor's kill. */
struct msgr__tconn *msgr__link_tconn(struct msgr__link *l);
/* One link for `sessions`: transport, direction, state, counters. */
struct json_object *msgr__link_json(const struct msgr__link *l, int active);

/* A growable buffer of encoded frames (the session's queue while it has no
 * link). Owned by whoever embeds it; free p when done. */
struct msgr__fbuf {
	uint8_t *p;
	size_t len, cap;
};
/* Encode one plain frame at the end of b (h's fields but len). 0 or
 * -ENOMEM. */
int msgr__frames_put(struct msgr__fbuf *b, const struct msgr__frame_hdr *h,
		     const struct iovec *parts, int nparts);

#endif
