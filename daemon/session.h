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
#include <uv.h>

#include "link.h"
#include "session_state.h"

struct json_object;
struct msgr__frame_hdr;
struct msgr__rxacct;
struct msgr__session;
struct msgr__sessions;

#define MSGR__SESS_QUEUES 3 /* ready, ack, open (session_int.h) */

/* A channel's entry in its session's table, embedded in the channel (the
 * session never knows what a channel is). id is the channel's wire id. */
struct msgr__sess_chan {
	uint32_t id;
	struct msgr__sess_chan *hnext; /* the table's hash chain */
	struct msgr__sess_chan *lnext, **lprev; /* the session's list of all (walks) */
	/* Its place on the session's queues (session_int.h, MSGR__SQ_*):
	 * prev NULL means not on that queue. */
	struct {
		struct msgr__sess_chan *next, **prev;
	} q[MSGR__SESS_QUEUES];
};

/* How a session tells the channels layer what happened. Registered once
 * (msgr__sessions_set_events); ctx is passed back. */
struct msgr__session_events {
	/* A channel frame (OPEN..RESET) from the peer, in order. big is a
	 * MSG's payload buffer, which the callee takes; NULL when the payload
	 * was read in place (payload, for the call only). 0, or -EPROTO when
	 * the peer broke the protocol (the link closes). */
	int (*frame)(void *ctx, struct msgr__session *s, const struct msgr__frame_hdr *h,
		     const void *payload, void *big);
	/* A frame for channel id came without its payload: CRC mismatch
	 * (-EBADMSG) or over global.max_message (-EMSGSIZE). */
	void (*frame_lost)(void *ctx, struct msgr__session *s, uint32_t id, int err);
	/* The session lost what was in flight (how: MSGR__LOST_*). The channel
	 * is out of the table already: one that goes on must add itself back
	 * (msgr__session_chan_add) before returning. unheard: its OPEN was
	 * still waiting for a link or for room, so the peer never heard of it
	 * (never with MSGR__LOST_NOTIFY). */
	void (*chan_lost)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc, int err,
			  int how, int unheard);
	/* A link carries the session again after a loss (a new link, or a
	 * spare after the active one failed; not an orderly hand-over): kept
	 * channels settle with the peer now (msgr__session_resume_begin). */
	void (*resumed)(void *ctx, struct msgr__session *s);
	/* The channel asked for an ack (msgr__session_ack_later): the ack to
	 * send now, taken as sent, or 0 if none is owed any more. */
	uint64_t (*ack_due)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc);
	/* Once a second for every channel, for its deadlines. */
	void (*chan_tick)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
			  uint64_t now);
	/* The active link has room and sc is first on the ready list
	 * (msgr__session_chan_ready): send a few of its waiting messages.
	 * Nonzero if some still wait (it goes to the back of the list). */
	int (*pump)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
		    struct msgr__sess_chan *next);
	/* sc's OPEN, which waited (msgr__session_open_later), may go now:
	 * send it. Called before any channel's turn, and on a new link
	 * before its resume round, as an OPEN made then would have gone. */
	void (*open)(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc);
};

/* How a session lost what was in flight (chan_lost). */
enum {
	MSGR__LOST_PLAIN,   /* no link to the peer survives; it sees the fault itself */
	MSGR__LOST_NOTIFY,  /* a link survives: the peer may not have seen the fault */
	MSGR__LOST_RESTART, /* the peer daemon restarted: its entities are new instances */
};

/* ---- the layer (net.c drives it) ---- */

/* conf and stats are borrowed for the layer's life; schedule(sctx) asks the
 * loop for a flush at the end of this turn. NULL when out of memory. */
struct msgr__sessions *msgr__sessions_new(uv_loop_t *loop, const struct msgr__net_conf *conf,
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
/* The daemon is going: no more redials. */
void msgr__sessions_stop(struct msgr__sessions *ss);
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
/* Which link carries the session: a number that changes whenever another
 * link becomes the active one (a hand-over, or a new link after a loss).
 * A message going out in fragments starts again from its first when it
 * changes, so all of a message's fragments go on one link. */
uint64_t msgr__session_link_gen(const struct msgr__session *s);
/* The peer's global.channel_window, from its HELLO (0: unknown). */
uint64_t msgr__session_peer_window(const struct msgr__session *s);
/* The peer's receive account (rxacct.h), which the session holds. */
struct msgr__rxacct *msgr__session_rxacct(struct msgr__session *s);

/* Queue one frame; the payload is the concatenation of parts. Frames on a
 * session leave in the order they were queued. */
void msgr__session_send(struct msgr__session *s, uint8_t type, uint32_t channel, uint64_t seq,
			uint64_t ack, const struct iovec *parts, int nparts);
/* The same with every header field of h but len (a MSG fragment's flags). */
void msgr__session_send_hdr(struct msgr__session *s, const struct msgr__frame_hdr *h,
			    const struct iovec *parts, int nparts);

/* Channel table: ids from our half (the daemon with the lower listen
 * address uses even ids, the other odd ones; 0 is the link). */
uint32_t msgr__session_chan_id(struct msgr__session *s);
int msgr__session_chan_theirs(const struct msgr__session *s, uint32_t id);
struct msgr__sess_chan *msgr__session_chan_find(struct msgr__session *s, uint32_t id);
/* msgr__session_chan_find for ids[0..n), n at most MSGR__FIND_MANY, into
 * out[i] (NULL: none): the cache misses of many lookups (the bucket, the
 * channel), which at 10,000 channels are most of their cost, overlap
 * instead of coming one after another. What it found stays valid while no
 * channel is added or removed. */
#define MSGR__FIND_MANY 16
void msgr__session_chan_find_many(struct msgr__session *s, const uint32_t *ids, unsigned n,
				  struct msgr__sess_chan **out);
/* Frames for channels next and after (0: none) come next and after that:
 * load after's bucket, and the head of next's chain (next's channel
 * unless its bucket holds more than one; the call before loaded that
 * bucket, when it named next as after). A hint only. */
void msgr__session_chan_prefetch(struct msgr__session *s, uint32_t next, uint32_t after);
void msgr__session_chan_add(struct msgr__session *s, struct msgr__sess_chan *sc);
/* Forget sc; may free s if nothing else keeps it. */
void msgr__session_chan_del(struct msgr__session *s, struct msgr__sess_chan *sc);

/* Remember that we ended channel id lately (a small ring), so that late
 * frames for it are dropped quietly instead of answered with RESET; a kept
 * channel's cookie too, so a resume round can tell the peer it ended (its
 * RESET may have been lost with a link). */
void msgr__session_forget(struct msgr__session *s, uint32_t id, uint64_t cookie);
int msgr__session_forgotten(const struct msgr__session *s, uint32_t id);
/* Entry i (0, 1, ... until -ENOENT) of the kept channels (lossless, peer)
 * ended here lately toward s's peer: id and cookie, or cookie 0. The ring is
 * the layer's, per peer, so it outlives a session that went meanwhile. */
int msgr__session_forgotten_kept(const struct msgr__session *s, unsigned i, uint32_t *id,
				 uint64_t *cookie);

/* The resume exchange (docs/PROTOCOL.md, section 5a) is the session's:
 * after a loss a daemon sends an init round (RESUME frames, RESUME_END,
 * all carrying the round's id from msgr__session_resume_next_id); the
 * other answers each init round once (msgr__session_resume_answer() is 1
 * the first time it sees that id). Entries the peer sends match round
 * msgr__session_resume_round(); its RESUME_END settles them
 * (msgr__session_resume_end), and the next round starts. */
uint64_t msgr__session_resume_round(const struct msgr__session *s);
uint32_t msgr__session_resume_next_id(struct msgr__session *s);
int msgr__session_resume_answer(struct msgr__session *s, uint32_t id);
void msgr__session_resume_end(struct msgr__session *s);
/* A kept channel wants a link: dial if there is none, at once the first
 * time after a link was up, then with backoff (net.reconnect_backoff_min
 * to _max), until a link is up. */
void msgr__session_need_link(struct msgr__session *s);
/* Walk the channel table: first with prev NULL; NULL at the end. */
struct msgr__sess_chan *msgr__session_chan_next(struct msgr__session *s,
						const struct msgr__sess_chan *prev);

/* The channel has input to acknowledge: at a flush, ack_due says whether
 * a MSG on it carried the ack meanwhile, and the acks of all such channels
 * go out together (ACK frames, docs/PROTOCOL.md section 5). They wait up
 * to MSGR__ACK_DELAY_MS for a frame that carries them (a reply), unless
 * the link has frames going out anyway or urgent is set (the sender's
 * window is running low): a standalone ACK costs the peer daemon a
 * wakeup. */
void msgr__session_ack_later(struct msgr__session *s, struct msgr__sess_chan *sc, int urgent);
#define MSGR__ACK_DELAY_MS 1

/* Messages leave as the link takes them (session.c, "pacing"): sc has
 * messages waiting, so pump comes for it, in turn with the others, as the
 * active link has room. Idempotent; leaving the table takes it off. */
void msgr__session_chan_ready(struct msgr__session *s, struct msgr__sess_chan *sc);

/* Opens that wait as a mark, not as bytes: whether a channel's OPEN made
 * now would have to wait (no active link, the link full, or frames or
 * other opens waiting before it); if so, open_later marks sc, and the
 * session calls events' open for it when the link can take it. A client
 * that opens and closes in a loop while its peer is out of reach then
 * costs nothing here, and its peer hears of none of it. open_unmark: 1
 * if sc was so marked, and the mark goes. Leaving the table takes it off
 * too (msgr__session_chan_unlink says whether it was on). */
int msgr__session_open_would_wait(const struct msgr__session *s);
void msgr__session_open_later(struct msgr__session *s, struct msgr__sess_chan *sc);
int msgr__session_open_unmark(struct msgr__session *s, struct msgr__sess_chan *sc);

/* Whether frames waiting in s for a link, or for room on it, reach half
 * of what makes it fail the link (MSGR__PACED_MAX): new connections to
 * the peer are refused (-ENOBUFS) meanwhile. A client that connects,
 * sends and closes in a loop while the peer is out of reach then meets a
 * bound, and cannot make the session blame the peer for its own frames. */
int msgr__session_queue_full(const struct msgr__session *s);

#endif
