#include "channel_state.h"

#define STEP(s, a) ((struct msgr__channel_step){ (s), (a) })

struct msgr__channel_step msgr__channel_next(enum msgr__channel_state st,
					     enum msgr__channel_event ev)
{
	/* the ends hear CONNECT_FAILED of a channel that never opened, and
	 * RESET of one that did */
	unsigned told = st == MSGR__CHAN_OPENING ? MSGR__CA_FAILED : MSGR__CA_RESET;

	if (st == MSGR__CHAN_CLOSED)
		return STEP(st, 0);
	switch (ev) {
	case MSGR__CE_OPEN_OK:
		if (st == MSGR__CHAN_OPENING)
			return STEP(MSGR__CHAN_OPEN, MSGR__CA_CONNECTED);
		return STEP(st, MSGR__CA_PROTO); /* the accepting side, or twice */
	case MSGR__CE_OPEN_FAIL:
		if (st == MSGR__CHAN_OPENING)
			return STEP(MSGR__CHAN_CLOSED, MSGR__CA_FAILED | MSGR__CA_FREE);
		return STEP(st, MSGR__CA_PROTO);
	case MSGR__CE_MSG:
		if (st == MSGR__CHAN_OPEN)
			return STEP(st, MSGR__CA_DELIVER);
		/* before OPEN_OK: links carry a session's frames in order, so
		 * the peer broke the order; the channel cannot be trusted */
		return STEP(MSGR__CHAN_CLOSED, told | MSGR__CA_SEND_RESET | MSGR__CA_FREE);
	case MSGR__CE_PEER_RESET:
		/* never answered: a RESET for a RESET could loop */
		return STEP(MSGR__CHAN_CLOSED, told | MSGR__CA_FREE);
	case MSGR__CE_RESET:
	case MSGR__CE_LOST_NOTIFY:
		return STEP(MSGR__CHAN_CLOSED, told | MSGR__CA_SEND_RESET | MSGR__CA_FREE);
	case MSGR__CE_LOST:
		return STEP(MSGR__CHAN_CLOSED, told | MSGR__CA_FREE);
	case MSGR__CE_TIMEOUT:
		if (st == MSGR__CHAN_OPENING)
			return STEP(MSGR__CHAN_CLOSED, MSGR__CA_FAILED | MSGR__CA_SEND_RESET | MSGR__CA_FREE);
		return STEP(st, 0);
	default:
		break;
	}
	return STEP(st, 0);
}

const char *msgr__channel_state_name(enum msgr__channel_state st)
{
	static const char *const names[MSGR__CHAN_NSTATES] = { "opening", "open", "closed" };
	return st < MSGR__CHAN_NSTATES ? names[st] : "?";
}

const char *msgr__channel_event_name(enum msgr__channel_event ev)
{
	static const char *const names[MSGR__CE_NEVENTS] = {
		"open_ok", "open_fail", "msg", "peer_reset", "reset", "lost", "lost_notify", "timeout",
	};
	return ev < MSGR__CE_NEVENTS ? names[ev] : "?";
}
