#include "session_state.h"

#define STEP(s, a) ((struct msgr__session_step){ (s), (a) })

/* A session with an active link. */
static int carrying(enum msgr__session_state st)
{
	return st == MSGR__SESS_UP || st == MSGR__SESS_DRAINING || st == MSGR__SESS_RACING;
}

struct msgr__session_step msgr__session_next(enum msgr__session_state st,
					     enum msgr__session_event ev)
{
	switch (ev) {
	case MSGR__SE_LINK_NEW:
		return STEP(st == MSGR__SESS_IDLE ? MSGR__SESS_CONNECTING : st, 0);
	case MSGR__SE_UP_FIRST:
		if (!carrying(st))
			return STEP(MSGR__SESS_UP, MSGR__SA_ACTIVATE);
		break;
	case MSGR__SE_UP_REPLACE:
		/* The dialler dials only without a link: it has lost the active
		 * one and ended its channels. Ours end too, without telling it:
		 * a RESET now could only hit the channels it opens anew. */
		if (carrying(st))
			return STEP(MSGR__SESS_UP, MSGR__SA_DROP_ACTIVE | MSGR__SA_CLOSE_OLD |
						    MSGR__SA_DOWN | MSGR__SA_ACTIVATE);
		break;
	case MSGR__SE_UP_RESTART:
		/* nothing of the old instance's channels survives */
		return STEP(MSGR__SESS_UP, MSGR__SA_DROP_ACTIVE | MSGR__SA_CLOSE_OTHERS | MSGR__SA_DOWN |
					    MSGR__SA_ACTIVATE);
	case MSGR__SE_RACE_LOWER:
		if (st == MSGR__SESS_UP)
			return STEP(MSGR__SESS_DRAINING, MSGR__SA_RACE | MSGR__SA_DRAIN_NEW);
		if (carrying(st))
			return STEP(st, MSGR__SA_CLOSE_NEW);
		break;
	case MSGR__SE_RACE_HIGHER:
		if (st == MSGR__SESS_UP || st == MSGR__SESS_RACING)
			return STEP(MSGR__SESS_RACING, MSGR__SA_RACE);
		if (st == MSGR__SESS_DRAINING)
			return STEP(st, MSGR__SA_CLOSE_NEW);
		break;
	case MSGR__SE_DRAIN_DONE:
		if (st == MSGR__SESS_DRAINING)
			return STEP(MSGR__SESS_UP, MSGR__SA_RELEASE);
		break;
	case MSGR__SE_DRAIN_LOST:
		/* frames the peer sent on it are lost: its channels end, on both
		 * sides (the peer may not have seen it die) */
		if (st == MSGR__SESS_DRAINING)
			return STEP(MSGR__SESS_UP, MSGR__SA_DOWN | MSGR__SA_NOTIFY);
		break;
	case MSGR__SE_MOVE_SPARE:
		/* in order: nothing is lost or overtaken, since the peer takes
		 * nothing from the kept link until our CLOSE on this one */
		if (st == MSGR__SESS_UP || st == MSGR__SESS_RACING)
			return STEP(MSGR__SESS_UP, MSGR__SA_DROP_ACTIVE | MSGR__SA_ACTIVATE_SPARE);
		break;
	case MSGR__SE_MOVE_WAIT:
		if (st == MSGR__SESS_UP || st == MSGR__SESS_RACING)
			return STEP(MSGR__SESS_CONNECTING, MSGR__SA_DROP_ACTIVE);
		break;
	case MSGR__SE_LOST_SPARE:
		/* what was in flight is lost; the spare carries on, and tells the
		 * peer which channels ended */
		if (carrying(st))
			return STEP(MSGR__SESS_UP, MSGR__SA_DROP_ACTIVE | MSGR__SA_DOWN | MSGR__SA_NOTIFY |
						    MSGR__SA_ACTIVATE_SPARE);
		break;
	case MSGR__SE_LOST_WAIT:
		if (carrying(st))
			return STEP(MSGR__SESS_CONNECTING, MSGR__SA_DROP_ACTIVE | MSGR__SA_DOWN);
		break;
	case MSGR__SE_LOST_ALL:
		if (carrying(st))
			return STEP(MSGR__SESS_IDLE, MSGR__SA_DROP_ACTIVE | MSGR__SA_DOWN);
		break;
	case MSGR__SE_SPARE_GONE:
		if (st == MSGR__SESS_RACING)
			return STEP(MSGR__SESS_UP, 0);
		break;
	case MSGR__SE_GONE_LAST:
		/* frames queued for a link that never came are dropped */
		if (!carrying(st))
			return STEP(MSGR__SESS_IDLE, MSGR__SA_DOWN);
		break;
	default:
		break;
	}
	return STEP(st, 0);
}

const char *msgr__session_state_name(enum msgr__session_state st)
{
	static const char *const names[MSGR__SESS_NSTATES] = {
		"idle", "connecting", "up", "draining", "racing",
	};
	return st < MSGR__SESS_NSTATES ? names[st] : "?";
}

const char *msgr__session_event_name(enum msgr__session_event ev)
{
	static const char *const names[MSGR__SE_NEVENTS] = {
		"link_new", "up_first", "up_replace", "up_restart", "race_lower", "race_higher",
		"drain_done", "drain_lost", "move_spare", "move_wait", "lost_spare", "lost_wait",
		"lost_all", "spare_gone", "gone_last",
	};
	return ev < MSGR__SE_NEVENTS ? names[ev] : "?";
}
