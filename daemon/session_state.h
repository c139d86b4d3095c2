/*
 * session_state.h - the states of a session (everything between this
 * daemon and one peer daemon) and the one function that moves it between
 * them (docs/STATES.md draws it).
 *
 * Pure: session.c works out what happened to the session's links (which
 * link came up, whether another is up or still in its handshake, which side
 * decides a race) and turns it into one event; msgr__session_next() gives
 * the next state and the actions, which session.c runs. Nothing else
 * assigns a session's state.
 */
#ifndef MSGR_DAEMON_SESSION_STATE_H
#define MSGR_DAEMON_SESSION_STATE_H

enum msgr__session_state {
	MSGR__SESS_IDLE,       /* no link at all; frames for the peer wait */
	MSGR__SESS_CONNECTING, /* a link is dialled or in its handshake; none carries frames */
	MSGR__SESS_UP,         /* one active link carries every frame */
	MSGR__SESS_DRAINING,   /* lower daemon, in a race: the active link is kept, the other
				  drained; frames from the kept one wait for the drain */
	MSGR__SESS_RACING,     /* higher daemon, in a race: a second link is up; the peer
				  decides which stays (its CLOSE comes on the other) */
	MSGR__SESS_NSTATES
};

enum msgr__session_event {
	MSGR__SE_LINK_NEW,     /* a link for this peer started (our dial, or a HELLO naming it) */
	MSGR__SE_UP_FIRST,     /* a link came up and none is active */
	MSGR__SE_UP_REPLACE,   /* a link came up whose dialler lost the active one (same
				  direction, or its HELLO names that link as lost) */
	MSGR__SE_UP_RESTART,   /* a link came up from a new instance of the peer daemon */
	MSGR__SE_RACE_LOWER,   /* a second link came up, and we decide (lower address) */
	MSGR__SE_RACE_HIGHER,  /* a second link came up, and the peer decides */
	MSGR__SE_DRAIN_DONE,   /* the drained link's CLOSE came: it has given all it had */
	MSGR__SE_DRAIN_LOST,   /* the drained link died before its CLOSE */
	MSGR__SE_MOVE_SPARE,   /* the peer ends the active link in order, keeping another up one */
	MSGR__SE_MOVE_WAIT,    /* the same, but the one it keeps is still in its handshake here */
	MSGR__SE_LOST_SPARE,   /* the active link failed; another link is up */
	MSGR__SE_LOST_WAIT,    /* the active link failed; another is still in its handshake */
	MSGR__SE_LOST_ALL,     /* the active link failed; no other link is live */
	MSGR__SE_SPARE_GONE,   /* the racing spare link went, the active one stays */
	MSGR__SE_GONE_LAST,    /* the last link went (none was active) */
	MSGR__SE_NEVENTS
};

/* What to do, in this order (session.c runs them). */
enum {
	MSGR__SA_DROP_ACTIVE = 1 << 0, /* the active link carries nothing more */
	MSGR__SA_CLOSE_OLD = 1 << 1,   /* close the link that was active: its dialler lost it */
	MSGR__SA_CLOSE_OTHERS = 1 << 2,/* close every other link: an old instance's */
	MSGR__SA_CLOSE_NEW = 1 << 3,   /* close the new link: a third while two are sorted out */
	MSGR__SA_RACE = 1 << 4,        /* count and log a race */
	MSGR__SA_DRAIN_NEW = 1 << 5,   /* drain the new link; hold what the kept one brings */
	MSGR__SA_DOWN = 1 << 6,        /* what was in flight is lost: lossy channels end here,
					  queued frames are dropped, held frames are taken in */
	MSGR__SA_NOTIFY = 1 << 7,      /*   with DOWN: and the peer is told, per channel */
	MSGR__SA_RELEASE = 1 << 8,     /* take in the frames held behind the drain */
	MSGR__SA_ACTIVATE = 1 << 9,    /* the new link carries frames from now on */
	MSGR__SA_ACTIVATE_SPARE = 1 << 10, /* another up link carries them from now on */
};

struct msgr__session_step {
	enum msgr__session_state next;
	unsigned actions; /* MSGR__SA_* */
};

/* The transition for (state, event). Total: a pair session.c never
 * produces changes nothing. */
struct msgr__session_step msgr__session_next(enum msgr__session_state st,
					     enum msgr__session_event ev);

const char *msgr__session_state_name(enum msgr__session_state st);
const char *msgr__session_event_name(enum msgr__session_event ev);

#endif
