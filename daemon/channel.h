/*
 * channel.h - the channels layer: one ordered, bidirectional message stream
 * between two entity instances, in one mode.
 *
 * Local channels have both ends on this daemon; delivery is a copy from the
 * sender's TX pool into the receiver's RX pool when the receiver's outbox
 * reaches it. Remote channels have one end here (end[0]) and the other on
 * the peer daemon of their session; they travel as OPEN/MSG/ACK/RESET
 * frames (docs/PROTOCOL.md section 4) and are named on the wire by an id
 * from the opener's half of the session's id space.
 *
 * Flow control: a sender's window (global.channel_window) is credited when
 * its message leaves the receiver's outbox (local), or when the peer
 * daemon acknowledges it, which it does once the message is in the
 * receiving application's event ring (remote). So the window bounds the
 * bytes of one channel anywhere between the two applications.
 *
 * Layers: below are sessions (session.h), reached by calls; above are the
 * attached clients, told what happened only through the callbacks they
 * register (struct msgr__chan_events). A channel knows a client only as an
 * end (struct msgr__chan_end) that the client layer embeds in its
 * connection, and an owner (struct msgr__chan_owner) it embeds in its
 * client.
 *
 * Lifetime: created by msgr__channel_connect() or an OPEN from the peer;
 * freed when either end closes, its client goes, the peer resets it, or the
 * session loses its link (lossy). Every end's ch pointing here is cleared
 * first, and a remote channel leaves its session's table.
 */
#ifndef MSGR_DAEMON_CHANNEL_H
#define MSGR_DAEMON_CHANNEL_H

#include <stdint.h>

#include "channel_state.h"
#include "link.h"
#include "session.h"

struct msgr__rxacct;

/* Settings of the channel layer. Value type, owned by the loop's
 * configuration and lent to the layer (read afresh at every use). */
struct msgr__chan_conf {
	uint64_t session_buffer; /* net.session_buffer: bytes one peer's messages may
				    take here, waiting for local receivers */
	uint64_t receive_buffer; /* net.receive_buffer: the same, all peers together */
	uint64_t resume_timeout_ms; /* net.resume_timeout: how long an accepted lossless
				       channel waits in standby for its client */
};

/* Counters of the channel layer, shown by `perf dump`. Owned by the loop. */
struct msgr__chan_stats {
	uint64_t msgs_local;       /* messages delivered between local entities */
	uint64_t bytes_local;      /* their payload bytes */
	uint64_t msgs_net_out;     /* messages sent to peer daemons */
	uint64_t bytes_net_out;
	uint64_t batches_out;      /* MSG frames with BATCH sent */
	uint64_t batched_msgs_out; /*   and the messages in them */
	uint64_t msgs_net_in;      /* messages received from peer daemons */
	uint64_t frags_in_place;   /*   of those in fragments, the ones written into the
				      receiver's RX pool as they came (rx_reserve) */
	uint64_t bytes_net_in;
	uint64_t msgs_net_dropped; /* received for a channel already gone, or out of order */
	uint64_t window_overruns;  /* channels reset: the peer sent past any window */
	uint64_t resumes;          /* channels resumed on a new link after a fault */
	uint64_t replayed_msgs;    /* messages sent again after a resume */
	uint64_t dup_dropped;      /* messages received twice (replays), dropped */
	uint64_t remote_resets;    /* channels ended because their remote instance is gone */
	uint64_t conns_queue_full; /* connects refused: their session's queues were full
				      (msgr__session_queue_full) */
};

/* What a channel needs to know of an attached entity. Owned by the client
 * layer (embedded in its client), set at attach, unchanged after; it
 * outlives every channel end of the client. */
struct msgr__chan_owner {
	const char *entity;          /* TYPE.ID */
	const char *addr;            /* HOST:PORT/TYPE.ID */
	uint64_t nonce;              /* instance nonce of this attach */
	const unsigned char *txpool; /* its TX pool, where its sends' payloads are */
	uint64_t pool_bytes;         /* bytes in each of its pools */
	unsigned chunk_shift;        /* log2 of its pools' chunk size */
	uint64_t window;             /* the channel_window it was told at attach */
	uint64_t max_message;        /* the max_message it was told at attach */
};

/* One end of a channel: an application's connection handle as channels see
 * it. Owned by the client layer (embedded in its connection); lives until
 * the application closes the handle or goes. */
struct msgr__chan_end {
	struct msgr__channel *ch;               /* NULL once the channel is gone */
	const struct msgr__chan_owner *owner;   /* the entity it belongs to */
	uint16_t mode;                          /* enum msgr_mode, as asked */
	uint64_t created_ns;
	const char *peer;                       /* the other end's address */
};

/* A message for an end (msgr__chan_events.deliver). */
/* Room for one message in a receiving application's RX pool, taken as its
 * first fragment arrives so that each fragment is copied to where the
 * application will read it (no whole-message copy at the end, which held
 * the loop for milliseconds per 16 MiB message). Filled by the clients
 * layer's rx_reserve; this layer only writes through p and hands it back
 * (deliver, or rx_release). owner NULL: none. */
struct msgr__rx_resv {
	void *owner;   /* the clients layer's, opaque here */
	uint64_t off;  /* in that owner's RX pool */
	uint8_t *p;    /* where the payload goes */
};

struct msgr__chan_msg {
	uint32_t msg_type;
	uint64_t len;                 /* payload bytes */
	/* from a local sender: its payload stays in the sender's TX pool */
	struct msgr__chan_end *src;   /* the sending end, or NULL */
	uint64_t src_off;             /*   its offset in src's owner's TX pool */
	/* from the network: */
	void *buf;                    /* malloc'd; the payload starts at skip. Taken
					 over, unless borrowed: */
	uint32_t skip;
	int borrowed;                 /*   buf is the caller's, for the call only (the
					 callee copies what it keeps) */
	struct msgr__rx_resv rx;      /*   or the payload is already in an RX pool
					 (buf NULL); taken over by deliver */
	uint64_t seq;                 /* its wire seq, to acknowledge once in the ring */
	struct msgr__rxacct *acct;    /* the session account buf is charged to (a reference) */
	uint64_t acct_bytes;          /*   and how much */
};

/* How channels tell the clients layer what happened. Registered at
 * msgr__chans_new(); ctx is passed back. No callback may free an end or
 * its owner before it returns (a client that must go is dropped at the end
 * of the poll pass): the channel still points at both. */
struct msgr__chan_events {
	/* Tell end e: MSGR__EV_CONNECTED, MSGR__EV_CONNECT_FAILED or
	 * MSGR__EV_RESET (err); the last two also release a sender waiting on
	 * the end's window. */
	void (*notify)(void *ctx, struct msgr__chan_end *e, uint16_t op, int err);
	/* A message for end `to` (the callee takes m's buffer, unless
	 * borrowed, and its reference). */
	void (*deliver)(void *ctx, struct msgr__chan_end *to, const struct msgr__chan_msg *m);
	/* The TX pool allocation at off of end from's owner is no longer needed. */
	void (*tx_done)(void *ctx, struct msgr__chan_end *from, uint64_t off);
	/* bytes of end e's sends are no longer in flight: widen its window. */
	void (*credit)(void *ctx, struct msgr__chan_end *e, uint64_t bytes);
	/* Someone at address from opens a channel in mode to the local entity
	 * `entity`: create the accepting end and tell its application
	 * (ACCEPTED). NULL with *err (-ECONNREFUSED: not attached here or at
	 * its connection limit; -EPROTONOSUPPORT: it does not accept mode
	 * from that entity, msgr_accept_modes(3); -ENOMEM) and why if it
	 * cannot. */
	struct msgr__chan_end *(*accept)(void *ctx, const char *entity, uint16_t mode,
					 const char *from, int *err, const char **why);
	/* Room for len payload bytes in end e's RX pool (struct
	 * msgr__rx_resv): 0, or -ENOBUFS when there is none now (the message
	 * then waits in malloc'd memory). */
	int (*rx_reserve)(void *ctx, struct msgr__chan_end *e, uint64_t len, struct msgr__rx_resv *r);
	/* Give back room that will not be delivered. */
	void (*rx_release)(void *ctx, struct msgr__rx_resv *r);
};

/* The layer. Owned by the loop, from msgr__chans_new() to its exit; conf,
 * net (listen, connect_timeout, ...) and stats are borrowed for that long.
 * It registers itself on the sessions layer ss (may be NULL in tests that
 * need no network). NULL when out of memory. */
struct msgr__chans *msgr__chans_new(const struct msgr__chan_conf *conf,
				    const struct msgr__net_conf *net, struct msgr__chan_stats *stats,
				    struct msgr__sessions *ss, const struct msgr__chan_events *ev,
				    void *ctx);
void msgr__chans_free(struct msgr__chans *cs);

/* Open a channel from end (its owner, mode and peer set; ch NULL) to the
 * address end->peer: on this host, or through the session to its daemon.
 * The end hears CONNECTED or CONNECT_FAILED (notify), perhaps before this
 * returns. */
void msgr__channel_connect(struct msgr__chans *cs, struct msgr__chan_end *end);

/* A SEND from end from (which has a channel): msg_type and len bytes at off
 * in its owner's TX pool. */
void msgr__channel_send(struct msgr__chan_end *from, uint32_t msg_type, uint64_t off, uint64_t len);
/* A send on from's channel comes next: start loading what it touches. */
void msgr__channel_send_prefetch(const struct msgr__chan_end *from);

/* End from's channel ends (its application closed it, or went): the other
 * end hears RESET with err (the peer daemon too, for a remote channel). */
void msgr__channel_close(struct msgr__chan_end *from, int err);

/* End from's channel because its entity went (detached, died, or was
 * dropped): like msgr__channel_close, but the peer daemon is told the
 * entity is gone (RESET with ESHUTDOWN), so a lossless or peer end there
 * hears REMOTE_RESET rather than RESET (docs/PROTOCOL.md 5a). */
void msgr__channel_gone(struct msgr__chan_end *from);

/* A message (len payload bytes, wire seq) taken in from the network
 * reached end e's application: it may now be acknowledged. */
void msgr__channel_delivered(struct msgr__chan_end *e, uint64_t seq, uint64_t len);

/* What `conns` shows of an end's channel. */
struct msgr__chan_info {
	const char *state;       /* msgr__channel_state_name(), "closed" once gone */
	unsigned mode_in_effect; /* enum msgr_mode; 0 once gone */
	int remote;              /* it crosses to another daemon */
	uint64_t out_seq, in_seq, unacked_msgs, peer_ack, delivered, ack_sent;
	uint32_t wire_id;
};
void msgr__channel_info(const struct msgr__chan_end *e, struct msgr__chan_info *out);

#endif
