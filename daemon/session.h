/*
 * session.h - everything between this daemon and one other: the links
 * (transport connections) that carry it, their handshake (banner, HELLO,
 * AUTH), keepalives, the connection-race rule, and the channel table.
 *
 * A session is named by the peer daemon's listen address. It carries every
 * channel between entities on the two hosts over one authenticated link;
 * frames for it are queued in the session while no link is up and go out
 * on whichever link is active, so a link handed over in a race does not
 * concern channels. Lossy channels reset when the active link fails, since
 * what was in flight on it is lost (docs/PROTOCOL.md, docs/STATES.md).
 *
 * Lifetime: struct msgr__net lives from msgr__net_start() to msgr__net_stop()
 * and owns every session and link. A session lives while it has a link or
 * a channel; the last of them going frees it, so code must not keep a
 * session pointer across anything that can fail a link (channels hold
 * theirs, and are reset before their session goes). Loop thread only.
 */
#ifndef MSGR_DAEMON_SESSION_H
#define MSGR_DAEMON_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"

struct msgr__daemon;
struct msgr__session;
struct msgr__channel;
struct json_object;

struct msgr__transport_ops;
struct msgr__tconn;

/* Start the network side over the given transport (main.c passes the one
 * net.transport names; the fuzzer a fake), through the fault interceptor
 * when global.inject = true: load the key, start the transport,
 * listen on global.listen. 0, or a negative errno with the reason in err. */
int msgr__net_start(struct msgr__daemon *d, const struct msgr__transport_ops *ops, char *err,
		    size_t errlen);

/* Read auth.keyring again (SIGHUP), for key rotation: links from now on
 * prove and check with its keys. 0, or a negative errno with the reason in
 * err, and the old keys kept. */
int msgr__net_reload_keyring(struct msgr__daemon *d, char *err, size_t errlen);

/* Abort every link and free everything; channels are reset. */
void msgr__net_stop(struct msgr__daemon *d);

/* Send what the poll pass queued: one transport send per link (the end of
 * every pass calls it, so frames from one pass travel together). */
void msgr__net_flush(struct msgr__daemon *d);

/* `sessions` for the control socket: an array of sessions and their links. */
struct json_object *msgr__net_sessions_json(struct msgr__daemon *d);

/* The transport link that carries the session with peer HOST:PORT now,
 * or NULL. Only for handing to the transport layer (msgrctl inject
 * kill-link gives it to the fault interceptor); valid until control goes
 * back to the loop. */
struct msgr__tconn *msgr__net_active_link(struct msgr__daemon *d, const char *peer);

/* The name of the transport links use ("tcp"), or "none" before start. */
const char *msgr__net_transport(struct msgr__daemon *d);

/* The session for peer HOST:PORT, created (and its link dialled) if there
 * is none. NULL with *err when it cannot be reached at all: out of memory,
 * or a dial refused at once (-EINVAL for a HOST that is not numeric,
 * -ENETUNREACH, ...). */
struct msgr__session *msgr__session_get(struct msgr__daemon *d, const char *peer, int *err);

/* The peer's listen address. */
const char *msgr__session_peer(const struct msgr__session *s);
struct msgr__daemon *msgr__session_daemon(const struct msgr__session *s);
/* Largest MSG payload the peer accepts (its global.max_message); 0 while
 * no link has told us. */
uint32_t msgr__session_peer_max(const struct msgr__session *s);
/* The peer's global.channel_window, from its HELLO (0: unknown). */
uint64_t msgr__session_peer_window(const struct msgr__session *s);

/* Queue one frame; the payload is the concatenation of parts. Frames on a
 * session leave in the order they were queued. */
void msgr__session_send(struct msgr__session *s, uint8_t type, uint32_t channel, uint64_t seq,
			uint64_t ack, const struct iovec *parts, int nparts);

/* Channel table: ids from our half (the daemon with the lower listen
 * address uses even ids, the other odd ones; 0 is the link). */
uint32_t msgr__session_chan_id(struct msgr__session *s);
int msgr__session_chan_theirs(const struct msgr__session *s, uint32_t id);
struct msgr__channel *msgr__session_chan_find(struct msgr__session *s, uint32_t id);
void msgr__session_chan_add(struct msgr__session *s, struct msgr__channel *ch);
/* Forget ch; may free s if nothing else keeps it. */
void msgr__session_chan_del(struct msgr__session *s, struct msgr__channel *ch);

/* Remember that we ended channel id lately (a small ring), so that late
 * frames for it are dropped quietly instead of answered with RESET. */
void msgr__session_forget(struct msgr__session *s, uint32_t id);
int msgr__session_forgotten(const struct msgr__session *s, uint32_t id);

/* The peer's receive account (rxacct.h), which the session holds. */
struct msgr__rxacct *msgr__session_rxacct(struct msgr__session *s);

/* The channel has input to acknowledge: an ACK goes out at the next flush
 * unless a MSG on it carries the ack first. */
void msgr__session_ack_later(struct msgr__session *s, uint32_t id);

#endif
