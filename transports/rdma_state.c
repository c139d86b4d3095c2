/*
 * rdma_state.c - the RDMA connection's transition function (rdma_state.h).
 * No I/O: rdma.c does what the actions say.
 */
#include "transports/rdma_state.h"

#define STEP(n, a) ((struct msgr__rdma_conn_step){ (n), (a) })

/* Going down from a live QP: the engine stops and the QP is disconnected,
 * so what is posted flushes; IDLE then ends it. */
#define DOWN (MSGR__RCA_FAIL | MSGR__RCA_DISCONNECT)

struct msgr__rdma_conn_step msgr__rdma_conn_next(enum msgr__rdma_conn_state s, enum msgr__rdma_conn_event e)
{
	switch (s) {
	case MSGR__RC_RESOLVING:
		switch (e) {
		case MSGR__RCE_ROUTE_READY:
			return STEP(MSGR__RC_CONNECTING, MSGR__RCA_CONNECT);
		case MSGR__RCE_REFUSED:
		case MSGR__RCE_ERROR:
			/* nothing posted yet: the qp goes once idle, which it is */
			return STEP(MSGR__RC_FALLBACK, MSGR__RCA_FALLBACK);
		case MSGR__RCE_CLOSE:
		case MSGR__RCE_ABORT:
			/* closed before it connected: no connected(), one closed() */
			return STEP(MSGR__RC_CLOSING, MSGR__RCA_FAIL);
		default:
			break;
		}
		break;
	case MSGR__RC_CONNECTING:
		switch (e) {
		case MSGR__RCE_ESTABLISHED:
			return STEP(MSGR__RC_UP, MSGR__RCA_START);
		case MSGR__RCE_REFUSED:
		case MSGR__RCE_ERROR:
			return STEP(MSGR__RC_FALLBACK, MSGR__RCA_FALLBACK | DOWN);
		case MSGR__RCE_CLOSE:
		case MSGR__RCE_ABORT:
			return STEP(MSGR__RC_CLOSING, DOWN);
		default:
			break;
		}
		break;
	case MSGR__RC_ACCEPTING:
		switch (e) {
		case MSGR__RCE_ESTABLISHED:
			return STEP(MSGR__RC_UP, MSGR__RCA_START);
		case MSGR__RCE_REFUSED:
		case MSGR__RCE_ERROR:
		case MSGR__RCE_DISCONNECTED:
		case MSGR__RCE_CLOSE:
		case MSGR__RCE_ABORT:
			return STEP(MSGR__RC_CLOSING, DOWN);
		default:
			break;
		}
		break;
	case MSGR__RC_UP:
	case MSGR__RC_DRAINING:
		switch (e) {
		case MSGR__RCE_CLOSE:
			return STEP(MSGR__RC_DRAINING, 0);
		case MSGR__RCE_DRAINED:
			if (s == MSGR__RC_DRAINING)
				return STEP(MSGR__RC_CLOSING, DOWN);
			break;
		case MSGR__RCE_DISCONNECTED:
			/* its last SENDs may complete after this event: kept */
			return STEP(MSGR__RC_PEER_GONE, MSGR__RCA_HALT | MSGR__RCA_DISCONNECT);
		case MSGR__RCE_ERROR:
		case MSGR__RCE_ABORT:
			return STEP(MSGR__RC_CLOSING, DOWN);
		default:
			break;
		}
		break;
	case MSGR__RC_PEER_GONE:
		switch (e) {
		case MSGR__RCE_IDLE:
			return STEP(MSGR__RC_DEAD, MSGR__RCA_RELEASE | MSGR__RCA_CLOSED);
		case MSGR__RCE_CLOSE:
		case MSGR__RCE_ABORT:
			return STEP(MSGR__RC_CLOSING, 0);
		default:
			break;
		}
		break;
	case MSGR__RC_CLOSING:
		if (e == MSGR__RCE_IDLE)
			return STEP(MSGR__RC_DEAD, MSGR__RCA_RELEASE | MSGR__RCA_CLOSED);
		break;
	case MSGR__RC_FALLBACK:
		if (e == MSGR__RCE_IDLE)
			return STEP(MSGR__RC_FALLBACK, MSGR__RCA_RELEASE);
		break;
	default:
		break;
	}
	return STEP(s, 0);
}

const char *msgr__rdma_conn_state_name(enum msgr__rdma_conn_state s)
{
	static const char *const names[MSGR__RC_NSTATES] = {
		"resolving", "connecting", "accepting", "up", "draining",
		"peer-gone", "closing", "fallback", "dead",
	};

	return (unsigned)s < MSGR__RC_NSTATES ? names[s] : "?";
}

const char *msgr__rdma_conn_event_name(enum msgr__rdma_conn_event e)
{
	static const char *const names[MSGR__RCE_NEVENTS] = {
		"route-ready", "established", "refused", "disconnected", "error",
		"close", "abort", "drained", "idle",
	};

	return (unsigned)e < MSGR__RCE_NEVENTS ? names[e] : "?";
}
