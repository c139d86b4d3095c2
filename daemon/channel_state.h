/*
 * channel_state.h - the states of a channel (one message stream between two
 * entity instances) and the one function that moves it between them
 * (docs/STATES.md draws it).
 *
 * Pure: channel.c turns what happened (a frame from the peer daemon, a
 * close or a fault here, the session losing its link, a deadline) into an
 * event, and runs the actions msgr__channel_next() returns. Nothing else
 * assigns a channel's state.
 *
 * Lossless and peer channels between daemons survive link faults: the
 * session's loss suspends them (standby), a new link starts a resume
 * exchange (resuming), and the peer's answer either resumes them (open,
 * replaying what it has not delivered) or says it does not know them
 * (closed, REMOTE_RESET). Lossy channels end at the loss, as before.
 */
#ifndef MSGR_DAEMON_CHANNEL_STATE_H
#define MSGR_DAEMON_CHANNEL_STATE_H

enum msgr__channel_state {
	MSGR__CHAN_OPENING, /* we sent OPEN to the peer daemon; its answer is awaited */
	MSGR__CHAN_OPEN,    /* both ends exist: messages flow (local channels start here,
			       and so does the accepting end of a remote one) */
	MSGR__CHAN_STANDBY, /* lossless or peer: the session lost its link; sent messages
			       are kept for replay, new ones wait */
	MSGR__CHAN_RESUMING,/* a new link is up and our resume for it is out; the peer's
			       list of the channels it keeps is awaited */
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
	MSGR__CE_SUSPEND,     /* lossless or peer: the session lost what was in flight */
	MSGR__CE_RESUME,      /* a resume exchange starts on a new link */
	MSGR__CE_RESUME_OK,   /* the peer keeps the channel too (and had opened it) */
	MSGR__CE_RESUME_OPEN, /* the peer keeps it, and this is the first we hear of its
				 end: its entry stands for the OPEN_OK we never got */
	MSGR__CE_RESUME_GONE, /* the peer does not keep it: it lost it, or its entity went */
	MSGR__CE_RESUME_LOST_OPEN, /* the peer never got our OPEN: open again */
	MSGR__CE_EXPIRE,      /* in standby longer than net.resume_timeout (the accepting
				 side of a lossless channel, which never dials) */
	MSGR__CE_PEER_GONE,   /* the peer daemon restarted: its entities are new instances */
	MSGR__CE_NEVENTS
};

/* What to do, in this order (channel.c runs them). A channel in standby or
 * resuming may never have opened (its OPEN_OK did not come before the
 * fault): the driver tells its end CONNECT_FAILED where the table says
 * RESET or REMOTE_RESET, since that end never heard CONNECTED. */
enum {
	MSGR__CA_CONNECTED = 1 << 0,  /* tell the connecting end: CONNECTED */
	MSGR__CA_DELIVER = 1 << 1,    /* hand the message to the receiving end */
	MSGR__CA_FAILED = 1 << 2,     /* tell the ends: CONNECT_FAILED (it never opened) */
	MSGR__CA_RESET = 1 << 3,      /* tell the ends: RESET */
	MSGR__CA_SEND_RESET = 1 << 4, /* tell the peer daemon: RESET (a remote channel) */
	MSGR__CA_PROTO = 1 << 5,      /* the peer broke the protocol: its link closes */
	MSGR__CA_FREE = 1 << 6,       /* forget the channel: ends, session table, memory */
	MSGR__CA_REMOTE_RESET = 1 << 7,/* tell the ends: REMOTE_RESET (the remote instance is
					 gone; nothing sent will reach a new one) */
	MSGR__CA_REPLAY = 1 << 8,     /* send again what the peer has not delivered */
	MSGR__CA_SEND_OPEN = 1 << 9,  /* send OPEN (again) */
	MSGR__CA_NEED_LINK = 1 << 10, /* ask the session for a link (dial, with backoff) */
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
