#include "channel_state.h"

#define STEP(s, a) ((struct msgr__channel_step){ (s), (a) })

/* Whether a channel in st is on hold for a link (lossless or peer). */
static int held(enum msgr__channel_state st)
{
	return st == MSGR__CHAN_STANDBY || st == MSGR__CHAN_RESUMING;
}

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
		/* the answer to an OPEN that went out before the fault, held
		 * behind a drain: it opened (the driver lets it through only
		 * for a channel that had not) and waits for its resume */
		if (held(st))
			return STEP(st, MSGR__CA_CONNECTED);
		return STEP(st, MSGR__CA_PROTO); /* the accepting side, or twice */
	case MSGR__CE_OPEN_FAIL:
		if (st == MSGR__CHAN_OPENING || held(st))
			return STEP(MSGR__CHAN_CLOSED, MSGR__CA_FAILED | MSGR__CA_FREE);
		return STEP(st, MSGR__CA_PROTO);
	case MSGR__CE_MSG:
		/* a peer that had not seen the fault yet may still be sending
		 * while we wait for a link or a resume: sequence numbers keep
		 * delivery exactly once whatever the state */
		if (st == MSGR__CHAN_OPEN || held(st))
			return STEP(st, MSGR__CA_DELIVER);
		/* before OPEN_OK: links carry a session's frames in order, so
		 * the peer broke the order */
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
	case MSGR__CE_SUSPEND:
		/* kept: what it sent stays for replay, and it wants a link back
		 * (the session decides whether to dial, and when) */
		return STEP(MSGR__CHAN_STANDBY, MSGR__CA_NEED_LINK);
	case MSGR__CE_RESUME:
		if (st == MSGR__CHAN_OPEN || held(st))
			return STEP(MSGR__CHAN_RESUMING, 0);
		return STEP(st, 0); /* opening: its OPEN goes on this link */
	case MSGR__CE_RESUME_OK:
		if (st == MSGR__CHAN_RESUMING)
			return STEP(MSGR__CHAN_OPEN, MSGR__CA_REPLAY);
		return STEP(st, 0);
	case MSGR__CE_RESUME_OPEN:
		if (st == MSGR__CHAN_RESUMING)
			return STEP(MSGR__CHAN_OPEN, MSGR__CA_CONNECTED | MSGR__CA_REPLAY);
		return STEP(st, 0);
	case MSGR__CE_RESUME_GONE:
		if (st == MSGR__CHAN_RESUMING)
			return STEP(MSGR__CHAN_CLOSED, MSGR__CA_REMOTE_RESET | MSGR__CA_FREE);
		return STEP(st, 0);
	case MSGR__CE_RESUME_LOST_OPEN:
		if (st == MSGR__CHAN_RESUMING)
			return STEP(MSGR__CHAN_OPENING, MSGR__CA_SEND_OPEN | MSGR__CA_REPLAY);
		return STEP(st, 0);
	case MSGR__CE_EXPIRE:
		if (st == MSGR__CHAN_STANDBY)
			return STEP(MSGR__CHAN_CLOSED, MSGR__CA_RESET | MSGR__CA_FREE);
		return STEP(st, 0);
	case MSGR__CE_PEER_GONE:
		/* a channel that never opened fails; one that did lost its
		 * remote instance */
		return STEP(MSGR__CHAN_CLOSED, (st == MSGR__CHAN_OPENING ? MSGR__CA_FAILED
					       : MSGR__CA_REMOTE_RESET) | MSGR__CA_FREE);
	default:
		break;
	}
	return STEP(st, 0);
}

const char *msgr__channel_state_name(enum msgr__channel_state st)
{
	static const char *const names[MSGR__CHAN_NSTATES] = {
		"opening", "open", "standby", "resuming", "closed",
	};
	return st < MSGR__CHAN_NSTATES ? names[st] : "?";
}

const char *msgr__channel_event_name(enum msgr__channel_event ev)
{
	static const char *const names[MSGR__CE_NEVENTS] = {
		"open_ok", "open_fail", "msg", "peer_reset", "reset", "lost", "lost_notify", "timeout",
		"suspend", "resume", "resume_ok", "resume_open", "resume_gone", "resume_lost_open",
		"expire", "peer_gone",
	};
	return ev < MSGR__CE_NEVENTS ? names[ev] : "?";
}
