/*
 * session_int.h - what the sessions layer's files share (session.c: the
 * tables of sessions and channels, sending, acks; handover.c: how a
 * session follows its links: dials, races, hand-over, loss). Never
 * included outside the layer: above it, a session is opaque.
 */
#ifndef MSGR_DAEMON_SESSION_INT_H
#define MSGR_DAEMON_SESSION_INT_H

#include "frame.h"
#include <sodium.h>
#include <uv.h>

#include "session.h"

#define FLUSH_EARLY (1u << 20)  /* queued bytes that make a link send mid-turn */
/* Frames that wait in a session's paced queue may reach this many times
 * net.send_backlog (64 MiB by default: the opens of about 600,000
 * connections at once); past it the peer is taken to read too little and
 * its link is closed (`unread`), as one that reads nothing at all is after
 * net.keepalive_timeout. */
#define MSGR__PACED_MAX 256u
#define CHAN_BUCKETS_MIN 16      /* a new session's table; it doubles as it fills */
#define NRECENT 64
#define NLOST 16
#define NKEPT 256

/* A queue of channels of one session, in order, through their q[] links.
 * A channel is on it at most once; leaving the table takes it off. */
enum { MSGR__SQ_READY, MSGR__SQ_ACK, MSGR__SQ_OPEN };
struct msgr__scq {
	struct msgr__sess_chan *head, **tail;
	uint32_t n;                   /* channels on it */
};

/* Owned by its struct msgr__sessions; see session.h for its lifetime. */
struct msgr__session {
	struct msgr__sessions *ss;
	struct msgr__session *next;   /* ss->sessions */
	enum msgr__session_state state; /* assigned only by step(), from msgr__session_next() */
	char peer[MSGR__HOSTPORT_MAX];/* the peer daemon's listen address */
	int lower;                    /* our listen address sorts below the peer's: we
					 decide races */
	uint64_t peer_nonce;          /* peer daemon instance last seen (0: none yet) */
	uint32_t peer_max_msg;        /* from the active link's HELLO (0: unknown) */
	uint64_t peer_window;         /* likewise (0: unknown) */
	struct msgr__link *active;    /* the link frames go on (states up, draining, racing) */
	struct msgr__link *drain;     /* a race loser still being read (state draining) */
	struct msgr__link *dial;      /* our dial, until it is up or gone */
	struct held *held, **held_tail; /* channel frames waiting for the drain, in order */
	uint64_t held_bytes;          /* their payloads */
	int nlinks;                   /* links that belong to it, until their gone() */
	int busy;                     /* nonzero while being walked: do not free */
	struct msgr__fbuf pending;    /* frames queued while no link is active */
	struct msgr__fbuf paced;      /* frames sent while the active link held
					 net.send_backlog or more (OPEN, RESET,
					 ACK, ...), in order, from paced_off on;
					 they leave as it drains, before any
					 channel's next turn (pump, in session.c);
					 parked in pending when the link goes */
	size_t paced_off;
	size_t paced_inherited;       /* paced bytes before this that came from
					 pending with the link (not the peer's
					 doing: not counted against the cap) */
	struct msgr__rxacct *rx;      /* the peer's receive account (a reference) */
	/* The channel table: chains under a keyed hash of the id (session.c),
	 * and every channel on one list for walks, so a walk does not care
	 * how the table is laid out or whether it grew meanwhile. */
	struct msgr__sess_chan **chans; /* nbuckets chains (owned) */
	uint32_t nbuckets;            /* a power of two; only grows */
	uint32_t nchans;
	struct msgr__sess_chan *all;  /* every channel in the table */
	unsigned char hkey[crypto_shorthash_KEYBYTES]; /* this session's own */
	uint32_t next_id;             /* ids handed out from our half */
	struct msgr__scq q[MSGR__SESS_QUEUES]; /* MSGR__SQ_READY: channels with
					 kept messages waiting for room, in
					 turn (pacing); MSGR__SQ_ACK: channels
					 owing an ack; MSGR__SQ_OPEN: channels
					 whose OPEN waits for a link with room
					 (it costs no bytes until it goes, and
					 nothing at all if it closes first) */
	int ack_urgent;               /* an ack waiting must go at this flush */
	uint64_t backlog_peak;        /* the most a link held unsent while it was
					 active (msgr__link_backlog_peak), kept
					 as it stops being active; for `sessions`
					 with the active one's */
	uint32_t recent[NRECENT];     /* ids of channels we ended lately, whose */
	unsigned nrecent;             /*   late frames need no RESET in answer */

	uint64_t created_ns;
	uint64_t links_up, races;     /* for `sessions` */
	uint64_t round;               /* resume rounds from the peer settled (its
					 RESUME_ENDs): entries match round + 1 */
	uint64_t downs;               /* losses so far (session_down): a link after
					 one starts a resume round */
	uint32_t answered;            /* the peer's init round we answered last (its
					 id; 0: none): each gets one answer, even
					 one whose END went down with a link */
	uint32_t sent_rounds;         /* ids of our rounds */
	int want_link;                /* a kept channel asked for a link since the last one */
	uint64_t redial_at_ns;        /* a redial is due then (0: none) */
	uint64_t backoff_ms;          /* the wait before the next one (0: at once) */
	char last_error[128];         /* why the last link went */
};

/* A channel frame from the kept link while the drained one still has the
 * peer's earlier frames. Owned by the session's hold queue. */
enum { HELD_FRAME, HELD_LOST };

struct held {
	struct held *next;
	struct msgr__link *from;      /* cleared if that link goes first */
	int kind;                     /* a frame, or a channel-level loss in its place */
	int err;                      /* HELD_LOST: -EBADMSG or -EMSGSIZE */
	struct msgr__frame_hdr h;
	void *payload;                /* a copy (or the MSG buffer), owned */
};

/* The layer. Owned by net.c. */
struct msgr__sessions {
	const struct msgr__net_conf *conf;  /* borrowed from the loop */
	struct msgr__net_stats *stats;      /* likewise */
	struct msgr__links *ls;             /* the link layer below */
	const struct msgr__session_events *ev; /* the channels layer's */
	void *ctx;
	void (*schedule)(void *);           /* the loop's */
	void *sctx;
	struct msgr__session *sessions;
	uv_timer_t redial;            /* runs while a redial is due */
	uv_timer_t acks;              /* runs while acks wait for a frame to carry
					 them (msgr__session_ack_later) */
	uv_timer_t clock;             /* once a second while any session exists: the
					 channels' deadlines (chan_tick), which must
					 run with no link at all (net.resume_timeout) */
	int stopping;                 /* the daemon goes: no more dials */
	int closed;                   /* timers closed, of three: the last frees us */
	struct msgr__rxacct *rx_total;  /* every peer's receive account (a reference) */
	struct {                      /* kept channels (lossless, peer) we ended */
		char peer[MSGR__HOSTPORT_MAX]; /* lately, per peer daemon, told in */
		uint32_t id;          /*   our resume rounds in case their RESET */
		uint64_t cookie;      /*   went with a link; here, not in the */
	} kept[NKEPT];                /*   session, which may go meanwhile, and */
	unsigned nkept;               /*   apart from lossy churn */
	struct {                      /* links that failed here while up: a */
		char peer[MSGR__HOSTPORT_MAX]; /* redial tells the peer, which */
		uint64_t id;          /* may not have noticed (PROTOCOL.md 4) */
	} lost[NLOST];
	unsigned nlost;
};

struct msgr__session *msgr__session_find(struct msgr__sessions *ss, const char *peer);
/* A new session for peer, in state idle; NULL when out of memory. */
struct msgr__session *msgr__session_new(struct msgr__sessions *ss, const char *peer);
/* Free s if nothing keeps it: no link, no channel, nobody walking it. */
void msgr__session_maybe_free(struct msgr__session *s);
/* The id of the last link to peer that failed here while up (0: none),
 * which our next dial's HELLO names. */
uint64_t msgr__session_lost_lookup(const struct msgr__sessions *ss, const char *peer);
void msgr__session_lost_record(struct msgr__sessions *ss, const char *peer, uint64_t id);
/* A link became active: no redial is due, and the backoff starts over. */
void msgr__session_link_came(struct msgr__session *s);
/* A link of s went without coming up: dial again if a kept channel wants
 * one (with backoff). */
void msgr__session_link_failed(struct msgr__session *s);
/* Dial s's peer now (handover.c). 0, or a negative errno. */
int msgr__session_dial(struct msgr__session *s);

/* Take sc out of s's table and off its queues. Nonzero if its OPEN was
 * still waiting (on the open queue): the peer never heard of it. */
int msgr__session_chan_unlink(struct msgr__session *s, struct msgr__sess_chan *sc);
/* Whether the active link holds net.send_backlog or more unsent: then
 * frames other than messages wait in s->paced. 0 without an active link. */
int msgr__session_congested(const struct msgr__session *s);
/* The active link has room: what waited (paced frames, channels' turns,
 * acks) goes now. */
void msgr__session_room(struct msgr__session *s);
/* The active link goes: what waits in s->paced goes in front of s->pending,
 * for the next active link (a loss drops it with pending, as it drops what
 * the link held; an orderly move keeps it). */
void msgr__session_paced_park(struct msgr__session *s);
/* Waiting opens (MSGR__SQ_OPEN), in order. all: every one, wherever
 * msgr__session_send_hdr puts it (a new link: before its resume round, as
 * opens made then would have gone); else as far as the link has room. */
void msgr__session_opens_send(struct msgr__session *s, int all);
/* A link becomes active: s->pending becomes what waits in s->paced, to
 * leave as the link drains; it does not count against MSGR__PACED_MAX. */
void msgr__session_paced_adopt(struct msgr__session *s);

#endif
