/*
 * link_state.h - the states of a link and the one function that moves a
 * link between them (docs/STATES.md draws it).
 *
 * Pure: no I/O, no clock, no allocation. link.c turns what happened (a
 * frame, a verdict, a timer, a transport callback) into an event, asks
 * msgr__link_next() for the next state and the actions, stores the state
 * and runs the actions. Nothing else assigns a link's state, so the table
 * below and the code cannot disagree.
 */
#ifndef MSGR_DAEMON_LINK_STATE_H
#define MSGR_DAEMON_LINK_STATE_H

enum msgr__link_state {
	MSGR__LINK_CONNECTING, /* our dial is in progress */
	MSGR__LINK_HELLO,      /* our banner and HELLO are out; the peer's HELLO is awaited */
	MSGR__LINK_PROVING,    /* dialler: our proof is out; the acceptor's is awaited */
	MSGR__LINK_CHALLENGED, /* acceptor: the dialler's proof is awaited (we prove only after it) */
	MSGR__LINK_CONFIRMING, /* the peer's AUTH_DONE is awaited (acceptor after proving,
				  either side with auth.mode = none) */
	MSGR__LINK_UP,         /* authenticated both ways; carries the session's frames */
	MSGR__LINK_DRAINING,   /* our CLOSE is out; reading until the peer's CLOSE */
	MSGR__LINK_CLOSING,    /* closed by us; waiting for the transport's closed() */
	MSGR__LINK_CLOSED,     /* the transport is done with it; it is freed */
	MSGR__LINK_NSTATES
};

enum msgr__link_event {
	MSGR__LE_CONNECTED,      /* the dial connected */
	MSGR__LE_CONNECT_FAILED, /* the dial failed (closed() follows from the transport) */
	MSGR__LE_HELLO_PROVE,    /* a valid HELLO; auth on and we dialled: we prove first */
	MSGR__LE_HELLO_AWAIT,    /* a valid HELLO; auth on and we accepted: the dialler proves first */
	MSGR__LE_HELLO_OPEN,     /* a valid HELLO; auth.mode = none */
	MSGR__LE_HELLO_BAD,      /* a well-formed HELLO we refuse: our own nonce or address,
				    not the daemon we dialled, another auth.mode */
	MSGR__LE_AUTH,           /* an AUTH frame (a proof, not yet checked) */
	MSGR__LE_PROOF_OK,       /* the proof checked out */
	MSGR__LE_PROOF_BAD,      /* it did not */
	MSGR__LE_AUTH_DONE,      /* an AUTH_DONE frame */
	MSGR__LE_AUTH_FAIL,      /* an AUTH_FAIL frame: the peer refused us */
	MSGR__LE_PEER_CLOSE,     /* a CLOSE frame: the peer's last frame on this link */
	MSGR__LE_DRAIN,          /* the session hands over: this link is to end in order */
	MSGR__LE_CLOSE,          /* we end it: an error, a bad frame, shutdown, or the session's choice */
	MSGR__LE_DEADLINE,       /* its deadline passed (handshake, drain, or a graceful close) */
	MSGR__LE_CLOSED,         /* the transport's closed(): the last callback for it */
	MSGR__LE_NEVENTS
};

/* What to do, in this order (link.c runs them). */
enum {
	MSGR__LA_HELLO = 1 << 0,     /* send our banner and HELLO, post a receive */
	MSGR__LA_PROVE = 1 << 1,     /* send our proof (AUTH); secure mode keys our sending side */
	MSGR__LA_VERIFY = 1 << 2,    /* check the peer's proof; feed PROOF_OK or PROOF_BAD */
	MSGR__LA_DONE = 1 << 3,      /* send AUTH_DONE */
	MSGR__LA_UP = 1 << 4,        /* tell the session the link is up */
	MSGR__LA_AUTH_FAIL = 1 << 5, /* count it, send AUTH_FAIL with the reason */
	MSGR__LA_REFUSED = 1 << 6,   /* the peer refused us: count it, log its reason */
	MSGR__LA_PROTO = 1 << 7,     /* a frame out of place: count a protocol error */
	MSGR__LA_SEND_CLOSE = 1 << 8,/* send CLOSE, our last frame here */
	MSGR__LA_PEER_LEFT = 1 << 9, /* tell the session the peer ends this up link */
	MSGR__LA_DRAINED = 1 << 10,  /* tell the session the drain finished in order */
	MSGR__LA_CLOSE = 1 << 11,    /* close the transport connection (sending what is
					queued first when the close is graceful) and tell
					the session it is going */
	MSGR__LA_ABORT = 1 << 12,    /* a graceful close never finished: abort it */
	MSGR__LA_GONE = 1 << 13,     /* tell the session it is gone; free it */
};

struct msgr__link_step {
	enum msgr__link_state next;
	unsigned actions; /* MSGR__LA_* */
};

/* The transition for (state, event). Total: a pair that no correct peer or
 * caller produces yields a defined answer too (a frame out of place closes
 * the link as a protocol error; anything after the close asks nothing). */
struct msgr__link_step msgr__link_next(enum msgr__link_state st, enum msgr__link_event ev);

const char *msgr__link_state_name(enum msgr__link_state st);
const char *msgr__link_event_name(enum msgr__link_event ev);

#endif
