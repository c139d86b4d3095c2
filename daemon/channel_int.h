/*
 * channel_int.h - what the channels layer's files share (channel.c: one
 * channel, its state machine's driver, opening and sending; chans.c: the
 * layer, and what its sessions tell it). Never included outside the layer:
 * above it, a channel is opaque.
 */
#ifndef MSGR_DAEMON_CHANNEL_INT_H
#define MSGR_DAEMON_CHANNEL_INT_H

#include <stddef.h>

#include "channel.h"
#include "frame.h"

struct unacked {
	uint64_t seq;
	uint64_t bytes;    /* whole pool chunks, as the window counts them */
	/* lossless and peer channels keep the message itself, in the
	 * sender's TX pool, until the peer acknowledges it (retain) */
	uint64_t off, len; /* the payload in the owner's TX pool */
	uint32_t msg_type;
};

/* See channel.h for the lifetime. */
struct msgr__channel {
	struct msgr__chans *cs;
	enum msgr__channel_state state; /* assigned only by step(), from msgr__channel_next() */
	struct msgr__chan_end *end[2]; /* local: [0] connecting, [1] accepting side;
				       remote: [0] our end, [1] NULL */
	uint16_t mode;              /* enum msgr_mode */
	uint64_t created_ns;
	/* remote channels only */
	struct msgr__session *sess; /* NULL for a local channel */
	struct msgr__sess_chan sc;  /* its entry in the session's table; sc.id is its wire id */
	uint64_t peer_nonce;        /* instance of the remote entity (0: not known yet,
				       so it never opened) */
	uint64_t cookie;            /* chosen by the opener: with the two entity
				       nonces, the channel's identity across links */
	int app_closed;             /* its application closed it (msgr__channel_close):
				       the close is told in resume rounds */
	int unheard;                /* its OPEN waited for a link when the session
				       lost what was in flight, and has not gone
				       since: the peer never knew its id */
	int unlisted;               /* it ended with its OPEN unsent (a close sent
				       nothing, or its OPEN, messages and RESET
				       together): not remembered as closed */
	int accepted;               /* the peer opened it (its role, not its state:
				       a lossless server side never dials) */
	int retain;                 /* lossless or peer, to another daemon: keeps its
				       messages until acked and survives link faults */
	uint64_t matched;           /* the resume round from the peer that listed it */
	uint64_t peer_closed;       /* the round that said its remote end closed it */
	uint64_t peer_delivered;    /*   and the highest seq it said it delivered */
	int resume_opened;          /*   and it told us of its end first (our OPEN_OK
				       was lost with the link) */
	uint64_t standby_ns;        /* when it lost its link (standby) */
	char dst[MSGR__ENTITY_MAX]; /* opener: the remote entity, for an OPEN sent again */
	uint64_t out_seq;           /* last seq sent */
	uint64_t in_seq;            /* last seq taken in */
	uint64_t delivered;         /* last seq in the application's event ring */
	uint64_t ack_sent;          /* last ack value sent to the peer */
	uint64_t unacked_cost;      /* window bytes delivered since then */
	uint64_t out_at_delivery;   /* out_seq when a message was last delivered:
				       if it moves before the next, we are in a
				       conversation, whose replies carry acks */
	uint64_t peer_ack;          /* last ack the peer sent */
	struct unacked *unacked;    /* sent, unacknowledged messages, oldest first
				       (common/vec.h FIFO), owned */
	size_t ua_head, ua_len, ua_cap;
	size_t ua_sent;             /* of those, how many went on the current link
				       (kept ones: the rest wait for the session's
				       pacing, msgr__session_chan_ready) */
	uint64_t ua_part;           /* bytes of the message at ua_sent framed so far
				       (it goes as fragments, MSGR__FRAG_MAX) */
	uint64_t ua_part_gen;       /*   on this link (msgr__session_link_gen) */
	uint64_t ua_bytes;          /* their window bytes: in flight to the peer */
	uint8_t *part;              /* a message arriving in fragments: u32 type,
				       then part_len bytes (owned; NULL: none) */
	struct msgr__rx_resv part_rx; /*   or its room in the receiver's RX pool
				       (owner set, part NULL) */
	uint32_t part_type;         /*   and then its type */
	uint64_t part_len, part_have; /* its length, and the bytes in so far */
	uint64_t in_bytes;          /* window bytes taken in, not yet in the app's ring */
};

/* Forget a message half taken in (its fragments stop: the link went, or
 * the channel did), and what it held of the session's receive account. */
void msgr__channel_part_drop(struct msgr__channel *ch);

/* A message is half taken in, in malloc'd memory or in an RX pool. */
static inline int msgr__channel_part_open(const struct msgr__channel *ch)
{
	return ch->part || ch->part_rx.owner;
}

struct msgr__chans {
	const struct msgr__chan_conf *conf; /* borrowed from the loop */
	const struct msgr__net_conf *net;   /* likewise: listen, limits, timeouts */
	struct msgr__chan_stats *stats;     /* likewise */
	struct msgr__sessions *ss;          /* the layer below, or NULL */
	const struct msgr__chan_events *ev; /* the clients layer's */
	void *ctx;
};

/* A channel that keeps its messages for replay: lossless or peer mode, to
 * another daemon. */
static inline int msgr__channel_retains(uint16_t mode)
{
	return mode == 2 /* MSGR_LOSSLESS */ || mode == 3 /* MSGR_PEER */;
}

static inline void msgr__chans_notify(struct msgr__chans *cs, struct msgr__chan_end *e, uint16_t op,
				      int err)
{
	cs->ev->notify(cs->ctx, e, op, err);
}

/* Move ch by ev and run the actions (channel.c): the only place a channel's
 * state is assigned. -EPROTO if the peer broke the protocol, else the
 * actions. ch may be freed on return. */
int msgr__channel_step(struct msgr__channel *ch, enum msgr__channel_event ev, int err,
		       struct msgr__chan_end *skip);
/* Reset ch here, telling both sides (err). */
void msgr__channel_reset(struct msgr__channel *ch, int err);
/* A channel starting in state st (open, or opening); NULL without memory. */
struct msgr__channel *msgr__channel_new(struct msgr__chans *cs, uint16_t mode, uint64_t created_ns,
					enum msgr__channel_state st);
/* Forget ch: its ends' pointers, the session's table, its memory. */
void msgr__channel_free(struct msgr__channel *ch);
/* An ack with everything delivered so far has gone to the peer. */
void msgr__channel_acked(struct msgr__channel *ch);
/* A frame for ch to the peer daemon, carrying our ack; one with an errno
 * (and for OPEN_FAIL a reason). */
void msgr__channel_wire(struct msgr__channel *ch, uint8_t type, uint64_t seq, const void *p, size_t len);
void msgr__channel_wire_err(struct msgr__channel *ch, uint8_t type, int err, const char *why);
/* The peer acknowledged everything up to ack. */
void msgr__channel_ack_in(struct msgr__channel *ch, uint64_t ack);
/* An ack for ch comes next: load what ack_in reads, its fields first
 * (deep 0), then, once those are in, its oldest unacked entry (deep 1). */
void msgr__channel_ack_prefetch(const struct msgr__channel *ch, int deep);
/* The session's pacing gives ch a turn: send a few waiting kept messages.
 * Nonzero if some still wait. */
int msgr__channel_pump(struct msgr__channel *ch);
/* ch's turn comes after this one's: load its next payload meanwhile (at
 * many channels it is cold in its client's pool). */
void msgr__channel_prefetch(const struct msgr__channel *ch);
/* OPEN for ch (again, after a fault that may have lost it): now, or as a
 * mark on its session while a frame made now would wait there
 * (msgr__session_open_later); its answer is due within
 * net.connect_timeout from this call. open_now frames it. */
void msgr__channel_send_open(struct msgr__channel *ch);
void msgr__channel_open_now(struct msgr__channel *ch);

#endif
