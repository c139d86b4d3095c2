/*
 * channel_state.h - the states of a channel (one message stream between two
 * entity instances) and the one function that moves it between them
 * (docs/STATES.md draws it).
 *
 * Pure: channel.c turns what happened (a frame from the peer daemon, a
 * close or a fault here, the session losing its link, a deadline) into an
 * event, and runs the actions msgr__channel_next() returns. Nothing else
 * assigns a channel's state. The lossless issue adds standby, resume and
 * replay states here.
 */
#ifndef MSGR_DAEMON_CHANNEL_STATE_H
#define MSGR_DAEMON_CHANNEL_STATE_H

enum msgr__channel_state {
	MSGR__CHAN_OPENING, /* we sent OPEN to the peer daemon; its answer is awaited */
	MSGR__CHAN_OPEN,    /* both ends exist: messages flow (local channels start here,
			       and so does the accepting end of a remote one) */
	MSGR__CHAN_CLOSED,  /* ended: freed once its actions ran */
	MSGR__CHAN_NSTATES
};

enum msgr__channel_event {
	MSGR__CE_OPEN_OK,     /* the peer daemon's OPEN_OK: the remote entity accepted */
	MSGR__CE_OPEN_FAIL,   /* its OPEN_FAIL: refused (not attached there, too many, ...) */
	MSGR__CE_MSG,         /* a MSG from the peer daemon, in sequence */
	MSGR__CE_PEER_RESET,  /* the peer daemon's RESET: the other end is gone */
	MSGR__CE_RESET,       /* ended here: an end closed or went, a bad message, a window
			         overrun, a message out of sequence */
	MSGR__CE_LOST,        /* the session lost what was in flight (the peer sees it too) */
	MSGR__CE_LOST_NOTIFY, /* the same, but a link survives: the peer must be told */
	MSGR__CE_TIMEOUT,     /* no answer to our OPEN within net.connect_timeout */
	MSGR__CE_NEVENTS
};

/* What to do, in this order (channel.c runs them). */
enum {
	MSGR__CA_CONNECTED = 1 << 0,  /* tell the connecting end: CONNECTED */
	MSGR__CA_DELIVER = 1 << 1,    /* hand the message to the receiving end */
	MSGR__CA_FAILED = 1 << 2,     /* tell the ends: CONNECT_FAILED (it never opened) */
	MSGR__CA_RESET = 1 << 3,      /* tell the ends: RESET */
	MSGR__CA_SEND_RESET = 1 << 4, /* tell the peer daemon: RESET (a remote channel) */
	MSGR__CA_PROTO = 1 << 5,      /* the peer broke the protocol: its link closes */
	MSGR__CA_FREE = 1 << 6,       /* forget the channel: ends, session table, memory */
};

struct msgr__channel_step {
	enum msgr__channel_state next;
	unsigned actions; /* MSGR__CA_* */
};

/* The transition for (state, event). Total: a frame out of place is a
 * protocol error; anything asked of a closed channel does nothing. */
struct msgr__channel_step msgr__channel_next(enum msgr__channel_state st,
					     enum msgr__channel_event ev);

const char *msgr__channel_state_name(enum msgr__channel_state st);
const char *msgr__channel_event_name(enum msgr__channel_event ev);

#endif
