/*
 * channel.h - one ordered, bidirectional message stream between two entity
 * instances, in one mode.
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
 * Lifetime: created by msgr__channel_connect() or an OPEN from the peer;
 * freed when either end closes, its client goes, the peer resets it, or the
 * session loses its link (lossy). Every dconn->ch pointing here is cleared
 * first, and a remote channel leaves its session's table.
 */
#ifndef MSGR_DAEMON_CHANNEL_H
#define MSGR_DAEMON_CHANNEL_H

#include <stdint.h>

#include "session.h"
#include "shm/segment.h"

struct msgr__daemon;
struct msgr__dclient;
struct msgr__dconn;
struct msgr__session;
struct msgr__frame_hdr;

/* Settings of the channel layer. Value type, owned by the loop's
 * configuration and lent to the layer (read afresh at every use). */
struct msgr__chan_conf {
	uint64_t session_buffer; /* net.session_buffer: bytes one peer's messages may
				    take here, waiting for local receivers */
	uint64_t receive_buffer; /* net.receive_buffer: the same, all peers together */
};

/* Counters of the channel layer, shown by `perf dump`. Owned by the loop. */
struct msgr__chan_stats {
	uint64_t msgs_local;       /* messages delivered between local entities */
	uint64_t bytes_local;      /* their payload bytes */
	uint64_t msgs_net_out;     /* messages sent to peer daemons */
	uint64_t bytes_net_out;
	uint64_t msgs_net_in;      /* messages received from peer daemons */
	uint64_t bytes_net_in;
	uint64_t msgs_net_dropped; /* received for a channel already gone, or out of order */
	uint64_t window_overruns;  /* channels reset: the peer sent past any window */
};

/* A sent message the peer has not acknowledged yet: its window share. */
struct msgr__unacked {
	uint64_t seq;
	uint64_t bytes; /* whole pool chunks, as the window counts them */
};

struct msgr__channel {
	struct msgr__dconn *end[2]; /* local: [0] connecting, [1] accepting side;
				       remote: [0] our end, [1] NULL */
	uint16_t mode;              /* enum msgr_mode */
	uint64_t created_ns;
	/* remote channels only */
	struct msgr__session *sess; /* NULL for a local channel */
	struct msgr__sess_chan sc;  /* its entry in the session's table; sc.id is its wire id */
	int opener;                 /* we sent the OPEN */
	int open;                   /* OPEN_OK seen (always 1 for the accepting side) */
	uint64_t peer_nonce;        /* instance of the remote entity */
	uint64_t out_seq;           /* last seq sent */
	uint64_t in_seq;            /* last seq taken in */
	uint64_t delivered;         /* last seq in the application's event ring */
	uint64_t ack_sent;          /* last ack value sent to the peer */
	uint64_t peer_ack;          /* last ack the peer sent */
	struct msgr__unacked *unacked; /* sent, unacknowledged messages, oldest
					  first (common/vec.h FIFO), owned */
	size_t ua_head, ua_len, ua_cap;
	uint64_t ua_bytes;          /* their window bytes: in flight to the peer */
	uint64_t in_bytes;          /* window bytes taken in, not yet in the app's ring */
};

/* Handle a CONNECT command: resolve the peer, open the channel, and post
 * CONNECTED/ACCEPTED or CONNECT_FAILED. conn is the caller's new dconn. */
void msgr__channel_connect(struct msgr__daemon *d, struct msgr__dconn *conn);

/* Handle a SEND from one end (payload at off in the sender's TX pool). */
void msgr__channel_send(struct msgr__dconn *from, const struct msgr__desc *desc);

/* Tear the channel down: the other end gets RESET with error (the peer
 * daemon too, for a remote channel). from is the end that asked, or NULL. */
void msgr__channel_reset(struct msgr__channel *ch, struct msgr__dconn *from, int error);

/* A message (len payload bytes) taken in from the network reached the
 * application's event ring: it may now be acknowledged. */
void msgr__channel_delivered(struct msgr__dconn *k, uint64_t seq, uint64_t len);

/* What the sessions layer tells channels (registered on the sessions
 * layer by the loop, with the daemon as ctx). */
extern const struct msgr__session_events msgr__channel_session_events;

/* The mode ch really behaves in (enum msgr_mode), which is not always the
 * mode asked for: a remote channel keeps no unacknowledged messages for
 * replay and nobody reconnects it, so every link fault resets it, whatever
 * the mode. Lossless and peer modes hold only on the host until the
 * lossless issue brings replay. */
unsigned msgr__channel_mode_in_effect(const struct msgr__channel *ch);

#endif
