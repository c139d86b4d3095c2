/*
 * rdma_state.h - the life of one RDMA connection (rdma.c's struct rconn),
 * as states, events and one I/O-free transition function, tested by table
 * (tests/unit/test_rdma_state.c).
 *
 *   dial:    RESOLVING -route ready-> CONNECTING -established-> UP
 *                 \------rejected / unreachable------> FALLBACK (TCP from then on)
 *   accept:  ACCEPTING (the peer's hello checked, receives posted,
 *            accept sent; the core knows nothing yet) -established-> UP
 *   UP -core close(0)-> DRAINING -queued sends done-> CLOSING
 *   UP / DRAINING -peer disconnect-> PEER_GONE (what arrived is still read)
 *   any -error, abort, device removal-> CLOSING
 *   CLOSING / PEER_GONE -no work request left-> DEAD: destroy the qp, closed()
 *
 * The owner raises DRAINED and IDLE itself after every event, whenever they
 * hold, so a state that waits for them needs no action to look.
 *
 * FALLBACK is terminal here: the connection then lives as the inner TCP
 * connection's proxy, and tcp.c's contract takes over. DEAD is terminal.
 */
#ifndef MSGR_TRANSPORTS_RDMA_STATE_H
#define MSGR_TRANSPORTS_RDMA_STATE_H

enum msgr__rdma_conn_state {
	MSGR__RC_RESOLVING = 0, /* active: address and route being resolved */
	MSGR__RC_CONNECTING,    /* active: QP made, receives posted, connect sent */
	MSGR__RC_ACCEPTING,     /* passive: accept sent, waiting for ESTABLISHED */
	MSGR__RC_UP,
	MSGR__RC_DRAINING,      /* the core closed gracefully: queued sends go first */
	MSGR__RC_PEER_GONE,     /* the peer disconnected: no sends; reads drain */
	MSGR__RC_CLOSING,       /* disconnecting: waiting for every work request */
	MSGR__RC_FALLBACK,      /* the dial is redone over TCP */
	MSGR__RC_DEAD,
	MSGR__RC_NSTATES
};

enum msgr__rdma_conn_event {
	MSGR__RCE_ROUTE_READY = 0,
	MSGR__RCE_ESTABLISHED,
	MSGR__RCE_REFUSED,       /* rejected or unreachable */
	MSGR__RCE_DISCONNECTED,  /* the peer's orderly disconnect */
	MSGR__RCE_ERROR,         /* QP error, device removal, engine failure, bad hello */
	MSGR__RCE_CLOSE,         /* the core's close(0) */
	MSGR__RCE_ABORT,         /* the core's close(err), or fini */
	MSGR__RCE_DRAINED,       /* nothing queued, every send completed */
	MSGR__RCE_IDLE,          /* no work request outstanding (and nothing left to read) */
	MSGR__RCE_NEVENTS
};

/* What the owner does on a transition, in this order. */
enum {
	MSGR__RCA_CONNECT = 1 << 0,    /* create the QP, post receives, connect(hello) */
	MSGR__RCA_START = 1 << 1,      /* start the engine, tell the core (connected/accepted) */
	MSGR__RCA_FALLBACK = 1 << 2,   /* dial the same HOST:PORT over TCP */
	MSGR__RCA_FAIL = 1 << 3,       /* stop the engine: queued sends are cancelled */
	MSGR__RCA_DISCONNECT = 1 << 4, /* rdma_disconnect: everything posted flushes */
	MSGR__RCA_RELEASE = 1 << 5,    /* destroy the qp, free the engine */
	MSGR__RCA_CLOSED = 1 << 6,     /* tell the core closed() (if it knew of the connection) */
	MSGR__RCA_HALT = 1 << 7,       /* stop the engine's sends, but keep what arrives readable */
};

struct msgr__rdma_conn_step {
	enum msgr__rdma_conn_state next;
	unsigned actions;
};

/* The step for event e in state s. An event with no meaning in s leaves
 * s unchanged and does nothing (a late CM event after an error, say). */
struct msgr__rdma_conn_step msgr__rdma_conn_next(enum msgr__rdma_conn_state s, enum msgr__rdma_conn_event e);
const char *msgr__rdma_conn_state_name(enum msgr__rdma_conn_state s);
const char *msgr__rdma_conn_event_name(enum msgr__rdma_conn_event e);

#endif
