/*
 * session.h - the sessions layer: everything between this daemon and one
 * other. A session carries every channel between entities on the two
 * hosts, over whichever of its links is active; it resolves connection
 * races between the two daemons once (docs/PROTOCOL.md, section 3.4) and
 * hands frames over between links in order, so no channel notices.
 *
 * Below it: links (link.h), which it reaches only by calls; above it:
 * channels, which it tells what happened only through the table of
 * callbacks they register (struct msgr__session_events).
 *
 * Lifetime: struct msgr__sessions lives from msgr__sessions_new() to
 * msgr__sessions_free() and owns every session. A session lives while it
 * has a link or a channel; the last of them going frees it, so code must
 * not keep a session pointer across anything that can fail a link
 * (channels hold theirs, and leave the table before their session goes).
 * Loop thread only.
 */
#ifndef MSGR_DAEMON_SESSION_H
#define MSGR_DAEMON_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "link.h"
#include "session_state.h"

struct json_object;
struct msgr__frame_hdr;
struct msgr__rxacct;
struct msgr__session;
struct msgr__sessions;

/* A channel's entry in its session's table, embedded in the channel (the
 * session never knows what a channel is). id is the channel's wire id. */
struct msgr__sess_chan {
	uint32_t id;
	struct msgr__sess_chan *hnext; /* the table's hash chain */
};

/* How a session tells the channels layer what happened. Registered once
 * (msgr__sessions_set_events); ctx is passed back. */
struct msgr__session_events {
	/* A channel frame (OPEN..RESET) from the peer, in order. big is a
	 * MSG's payload buffer, which the callee takes. 0, or -EPROTO when
	 * the peer broke the protocol (the link closes). */
	int (*frame)(void *ctx, struct msgr__session *s, const struct msgr__frame_hdr *h,
		     const void *payload, void *big);
	/* A frame for channel id came without its payload: CRC mismatch
	 * (-EBADMSG) or over global.max_message (-EMSGSIZE). */
	void (*frame_lost)(void *ctx, struct msgr__session *s, uint32_t id, int err);
	/* The session lost what was in flight: the channel ends (and leaves
	 * the table); notify: a link survives, tell the peer too. */
	void (*chan_lost)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc, int err,
			  int notify);
	/* The channel asked for an ack (msgr__session_ack_later): send it if
	 * it is still owed. */
	void (*flush_ack)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc);
	/* Once a second for every channel, for its deadlines. */
	void (*chan_tick)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
			  uint64_t now);
};

/* ---- the layer (net.c drives it) ---- */

/* conf and stats are borrowed for the layer's life; schedule(sctx) asks the
 * loop for a flush at the end of this turn. NULL when out of memory. */
struct msgr__sessions *msgr__sessions_new(const struct msgr__net_conf *conf,
					  struct msgr__net_stats *stats,
					  void (*schedule)(void *), void *sctx);
/* What the link layer tells (msgr__links_start's events; ctx = sessions). */
extern const struct msgr__link_events msgr__session_link_events;
void msgr__sessions_set_links(struct msgr__sessions *ss, struct msgr__links *ls);
void msgr__sessions_set_events(struct msgr__sessions *ss, const struct msgr__session_events *ev,
			       void *ctx);
/* Send what this turn queued: acks owed, then one transport send per link. */
void msgr__sessions_flush(struct msgr__sessions *ss);
/* Once a second: channels' deadlines (chan_tick). */
void msgr__sessions_tick(struct msgr__sessions *ss, uint64_t now);
/* `sessions`: an array of sessions and their links. */
struct json_object *msgr__sessions_json(struct msgr__sessions *ss);
/* The active link of the session with peer, or NULL. */
struct msgr__link *msgr__sessions_active(struct msgr__sessions *ss, const char *peer);
/* After msgr__links_stop: every link is gone, and with it every session
 * that had no channel; the channels layer has ended the rest. */
void msgr__sessions_free(struct msgr__sessions *ss);

/* ---- for channels ---- */

/* The session for peer HOST:PORT, created (and its link dialled) if there
 * is none. NULL with *err when it cannot be reached at all: out of memory,
 * or a dial refused at once (-EINVAL for a HOST that is not numeric,
 * -ENETUNREACH, ...). */
struct msgr__session *msgr__session_get(struct msgr__sessions *ss, const char *peer, int *err);

const char *msgr__session_peer(const struct msgr__session *s);
enum msgr__session_state msgr__session_state(const struct msgr__session *s);
/* Largest MSG payload the peer accepts (its global.max_message); 0 while
 * no link has told us. */
uint32_t msgr__session_peer_max(const struct msgr__session *s);
/* The peer's global.channel_window, from its HELLO (0: unknown). */
uint64_t msgr__session_peer_window(const struct msgr__session *s);
/* The peer's receive account (rxacct.h), which the session holds. */
struct msgr__rxacct *msgr__session_rxacct(struct msgr__session *s);

/* Queue one frame; the payload is the concatenation of parts. Frames on a
 * session leave in the order they were queued. */
void msgr__session_send(struct msgr__session *s, uint8_t type, uint32_t channel, uint64_t seq,
			uint64_t ack, const struct iovec *parts, int nparts);

/* Channel table: ids from our half (the daemon with the lower listen
 * address uses even ids, the other odd ones; 0 is the link). */
uint32_t msgr__session_chan_id(struct msgr__session *s);
int msgr__session_chan_theirs(const struct msgr__session *s, uint32_t id);
struct msgr__sess_chan *msgr__session_chan_find(struct msgr__session *s, uint32_t id);
void msgr__session_chan_add(struct msgr__session *s, struct msgr__sess_chan *sc);
/* Forget sc; may free s if nothing else keeps it. */
void msgr__session_chan_del(struct msgr__session *s, struct msgr__sess_chan *sc);

/* Remember that we ended channel id lately (a small ring), so that late
 * frames for it are dropped quietly instead of answered with RESET. */
void msgr__session_forget(struct msgr__session *s, uint32_t id);
int msgr__session_forgotten(const struct msgr__session *s, uint32_t id);

/* The channel has input to acknowledge: flush_ack comes at the next flush
 * unless a MSG on it carries the ack first. */
void msgr__session_ack_later(struct msgr__session *s, uint32_t id);

#endif
