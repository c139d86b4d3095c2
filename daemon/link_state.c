#include "link_state.h"

#define STEP(s, a) ((struct msgr__link_step){ (s), (a) })

static int live(enum msgr__link_state st)
{
	return st < MSGR__LINK_CLOSING;
}

struct msgr__link_step msgr__link_next(enum msgr__link_state st, enum msgr__link_event ev)
{
	/* After our close nothing is asked of a link but to finish going. */
	if (st == MSGR__LINK_CLOSED)
		return STEP(st, 0);
	if (ev == MSGR__LE_CLOSED)
		return STEP(MSGR__LINK_CLOSED, MSGR__LA_GONE);
	if (st == MSGR__LINK_CLOSING)
		return STEP(st, ev == MSGR__LE_DEADLINE ? MSGR__LA_ABORT : 0);

	/* Events every live state answers alike. */
	switch (ev) {
	case MSGR__LE_CLOSE:
		return STEP(MSGR__LINK_CLOSING, MSGR__LA_CLOSE);
	case MSGR__LE_DEADLINE:
		/* an up link has no deadline (keepalives end it with a CLOSE) */
		return st == MSGR__LINK_UP ? STEP(st, 0) : STEP(MSGR__LINK_CLOSING, MSGR__LA_CLOSE);
	case MSGR__LE_AUTH_FAIL:
		/* the peer refused us; before its HELLO it may say nothing */
		if (st != MSGR__LINK_CONNECTING && st != MSGR__LINK_HELLO)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_REFUSED | MSGR__LA_CLOSE);
		break;
	default:
		break;
	}

	switch (st) {
	case MSGR__LINK_CONNECTING:
		if (ev == MSGR__LE_CONNECTED)
			return STEP(MSGR__LINK_HELLO, MSGR__LA_HELLO);
		if (ev == MSGR__LE_CONNECT_FAILED)
			return STEP(MSGR__LINK_CLOSING, 0); /* the transport's closed() follows */
		break;
	case MSGR__LINK_HELLO:
		if (ev == MSGR__LE_HELLO_PROVE)
			return STEP(MSGR__LINK_PROVING, MSGR__LA_PROVE);
		if (ev == MSGR__LE_HELLO_AWAIT)
			return STEP(MSGR__LINK_CHALLENGED, 0); /* nobody's oracle: prove nothing yet */
		if (ev == MSGR__LE_HELLO_OPEN)
			return STEP(MSGR__LINK_CONFIRMING, MSGR__LA_DONE);
		if (ev == MSGR__LE_HELLO_BAD)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_AUTH_FAIL | MSGR__LA_CLOSE);
		break;
	case MSGR__LINK_PROVING:
	case MSGR__LINK_CHALLENGED:
		if (ev == MSGR__LE_AUTH)
			return STEP(st, MSGR__LA_VERIFY);
		if (ev == MSGR__LE_PROOF_OK)
			return st == MSGR__LINK_PROVING
				       ? STEP(MSGR__LINK_UP, MSGR__LA_DONE | MSGR__LA_UP)
				       : STEP(MSGR__LINK_CONFIRMING, MSGR__LA_PROVE);
		if (ev == MSGR__LE_PROOF_BAD || ev == MSGR__LE_AUTH_DONE)
			/* AUTH_DONE here: from an acceptor (only diallers send it),
			 * or from a dialler that never proved itself */
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_AUTH_FAIL | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_PEER_CLOSE)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_CLOSE);
		break;
	case MSGR__LINK_CONFIRMING:
		if (ev == MSGR__LE_AUTH_DONE)
			return STEP(MSGR__LINK_UP, MSGR__LA_UP);
		if (ev == MSGR__LE_AUTH) /* out of turn: our proof or theirs is in already */
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_AUTH_FAIL | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_PEER_CLOSE)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_CLOSE);
		break;
	case MSGR__LINK_UP:
		if (ev == MSGR__LE_AUTH)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_AUTH_FAIL | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_PEER_CLOSE)
			/* answer with our own last frame, so the peer's drain ends */
			return STEP(MSGR__LINK_CLOSING,
				    MSGR__LA_SEND_CLOSE | MSGR__LA_PEER_LEFT | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_DRAIN)
			return STEP(MSGR__LINK_DRAINING, MSGR__LA_SEND_CLOSE);
		break;
	case MSGR__LINK_DRAINING:
		if (ev == MSGR__LE_AUTH)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_AUTH_FAIL | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_PEER_CLOSE)
			return STEP(MSGR__LINK_CLOSING, MSGR__LA_DRAINED | MSGR__LA_CLOSE);
		if (ev == MSGR__LE_DRAIN)
			return STEP(st, 0);
		break;
	default:
		break;
	}
	/* Anything else from a live link is out of place: a peer's frame in the
	 * wrong state, or a caller's mistake. Either way the link cannot be
	 * trusted to continue. */
	return live(st) ? STEP(MSGR__LINK_CLOSING, MSGR__LA_PROTO | MSGR__LA_CLOSE) : STEP(st, 0);
}

const char *msgr__link_state_name(enum msgr__link_state st)
{
	static const char *const names[MSGR__LINK_NSTATES] = {
		"connecting", "hello", "proving", "challenged", "confirming",
		"up", "draining", "closing", "closed",
	};
	return st < MSGR__LINK_NSTATES ? names[st] : "?";
}

const char *msgr__link_event_name(enum msgr__link_event ev)
{
	static const char *const names[MSGR__LE_NEVENTS] = {
		"connected", "connect_failed", "hello_prove", "hello_await", "hello_open", "hello_bad",
		"auth", "proof_ok", "proof_bad", "auth_done", "auth_fail", "peer_close",
		"drain", "close", "deadline", "closed",
	};
	return ev < MSGR__LE_NEVENTS ? names[ev] : "?";
}
