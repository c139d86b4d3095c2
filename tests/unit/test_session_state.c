/* Unit tests for daemon/session_state.c: every (state, event) pair of a
 * session against a table written out here from the intended behaviour
 * (session_state.h, docs/PROTOCOL.md section 4, session.c's driver), the
 * race rule and link faults walked end to end, and the names msgrctl
 * shows. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "daemon/session_state.h"
#include "tests/unit/unit.h"

/* ---- formatting, for failure messages ---- */

static const char *const action_names[] = {
	"DROP_ACTIVE", "CLOSE_OLD", "CLOSE_OTHERS", "CLOSE_NEW", "RACE", "DRAIN_NEW",
	"DOWN", "NOTIFY", "RELEASE", "ACTIVATE", "ACTIVATE_SPARE",
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

static const char *actions_str(unsigned a, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (!a)
		return "0";
	for (unsigned i = 0; i < 32; i++)
		if (a & (1u << i)) {
			if (i < NACTIONS)
				n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "", action_names[i]);
			else
				n += (size_t)snprintf(buf + n, len - n, "%sbit %u", n ? "|" : "", i);
			if (n >= len)
				break;
		}
	return buf;
}

/* ---- the expected table ---- */

struct want {
	enum msgr__session_state next;
	unsigned actions;
	int set; /* written out below: a pair left out fails */
};

#define W(st, a) { MSGR__SESS_##st, (a), 1 }
#define SE(ev) [MSGR__SE_##ev]
#define SA(x) MSGR__SA_##x

/* The dialler lost the active link and dialled anew: its channels ended
 * there, so ours end without telling it (PROTOCOL.md 4). */
#define REPLACE (SA(DROP_ACTIVE) | SA(CLOSE_OLD) | SA(DOWN) | SA(ACTIVATE))
/* A new instance of the peer: nothing of the old one survives. */
#define RESTART (SA(DROP_ACTIVE) | SA(CLOSE_OTHERS) | SA(DOWN) | SA(ACTIVATE))
/* The active link failed: what was in flight is lost. With an up spare the
 * peer is told over it; without one it sees the fault itself. */
#define LOST_SPARE (SA(DROP_ACTIVE) | SA(DOWN) | SA(NOTIFY) | SA(ACTIVATE_SPARE))
/* lost_wait and lost_all. For lost_wait (another link still in its
 * handshake here) the code does not NOTIFY, although the RESETs would wait
 * in pending for that link; expected as the code does it, see the report. */
#define LOST (SA(DROP_ACTIVE) | SA(DOWN))
/* The peer ended the active link in order: nothing is lost. */
#define MOVE_SPARE (SA(DROP_ACTIVE) | SA(ACTIVATE_SPARE))

/* What a session with an active link (up, draining, racing) does when it
 * loses it, or when the peer replaces or restarts it. */
#define CARRYING_COMMON                                  \
	SE(UP_REPLACE) = W(UP, REPLACE),                  \
	SE(UP_RESTART) = W(UP, RESTART),                  \
	SE(LOST_SPARE) = W(UP, LOST_SPARE),               \
	SE(LOST_WAIT) = W(CONNECTING, LOST),              \
	SE(LOST_ALL) = W(IDLE, LOST)

static const struct want table[MSGR__SESS_NSTATES][MSGR__SE_NEVENTS] = {
	/* No link at all. The events about an active link, a race or a
	 * drain cannot come: they change nothing. */
	[MSGR__SESS_IDLE] = {
		SE(LINK_NEW) = W(CONNECTING, 0),
		SE(UP_FIRST) = W(UP, SA(ACTIVATE)),
		SE(UP_REPLACE) = W(IDLE, 0),          /* nothing active to replace */
		SE(UP_RESTART) = W(UP, RESTART),      /* a new peer nonce comes up from anywhere */
		SE(RACE_LOWER) = W(IDLE, 0),
		SE(RACE_HIGHER) = W(IDLE, 0),
		SE(DRAIN_DONE) = W(IDLE, 0),
		SE(DRAIN_LOST) = W(IDLE, 0),
		SE(MOVE_SPARE) = W(IDLE, 0),
		SE(MOVE_WAIT) = W(IDLE, 0),
		SE(LOST_SPARE) = W(IDLE, 0),
		SE(LOST_WAIT) = W(IDLE, 0),
		SE(LOST_ALL) = W(IDLE, 0),
		SE(SPARE_GONE) = W(IDLE, 0),
		/* after lost_all the closing link's gone() still comes: frames
		 * queued since are dropped again */
		SE(GONE_LAST) = W(IDLE, SA(DOWN)),
	},
	/* A link dialled or in its handshake, none carrying. */
	[MSGR__SESS_CONNECTING] = {
		SE(LINK_NEW) = W(CONNECTING, 0),
		SE(UP_FIRST) = W(UP, SA(ACTIVATE)),   /* pending frames go out on it */
		SE(UP_REPLACE) = W(CONNECTING, 0),
		SE(UP_RESTART) = W(UP, RESTART),
		SE(RACE_LOWER) = W(CONNECTING, 0),
		SE(RACE_HIGHER) = W(CONNECTING, 0),
		SE(DRAIN_DONE) = W(CONNECTING, 0),
		SE(DRAIN_LOST) = W(CONNECTING, 0),
		SE(MOVE_SPARE) = W(CONNECTING, 0),
		SE(MOVE_WAIT) = W(CONNECTING, 0),
		SE(LOST_SPARE) = W(CONNECTING, 0),
		SE(LOST_WAIT) = W(CONNECTING, 0),
		SE(LOST_ALL) = W(CONNECTING, 0),
		SE(SPARE_GONE) = W(CONNECTING, 0),
		SE(GONE_LAST) = W(IDLE, SA(DOWN)),    /* the link never came: queued frames drop */
	},
	/* One active link. */
	[MSGR__SESS_UP] = {
		SE(LINK_NEW) = W(UP, 0),
		SE(UP_FIRST) = W(UP, 0),               /* one is active already */
		SE(RACE_LOWER) = W(DRAINING, SA(RACE) | SA(DRAIN_NEW)), /* keep ours, drain the new */
		SE(RACE_HIGHER) = W(RACING, SA(RACE)), /* keep sending; the peer decides */
		SE(DRAIN_DONE) = W(UP, 0),
		SE(DRAIN_LOST) = W(UP, 0),
		SE(MOVE_SPARE) = W(UP, MOVE_SPARE),
		SE(MOVE_WAIT) = W(CONNECTING, SA(DROP_ACTIVE)), /* frames wait for the kept link */
		SE(SPARE_GONE) = W(UP, 0),
		SE(GONE_LAST) = W(UP, 0),
		CARRYING_COMMON,
	},
	/* Lower daemon in a race: the active link kept, the new one drained. */
	[MSGR__SESS_DRAINING] = {
		SE(LINK_NEW) = W(DRAINING, 0),
		SE(UP_FIRST) = W(DRAINING, 0),
		SE(RACE_LOWER) = W(DRAINING, SA(CLOSE_NEW)),   /* a third link: one drain at a time */
		SE(RACE_HIGHER) = W(DRAINING, SA(CLOSE_NEW)),  /* cannot come (we are lower) */
		SE(DRAIN_DONE) = W(UP, SA(RELEASE)),           /* then the held frames */
		SE(DRAIN_LOST) = W(UP, SA(DOWN) | SA(NOTIFY)), /* its frames are lost: both sides end */
		/* the higher daemon closes our kept link only when it stops;
		 * the link's close then reports the loss (lost_*) */
		SE(MOVE_SPARE) = W(DRAINING, 0),
		SE(MOVE_WAIT) = W(DRAINING, 0),
		SE(SPARE_GONE) = W(DRAINING, 0),
		SE(GONE_LAST) = W(DRAINING, 0),
		CARRYING_COMMON,
	},
	/* Higher daemon in a race: a second link is up, the peer decides. */
	[MSGR__SESS_RACING] = {
		SE(LINK_NEW) = W(RACING, 0),
		SE(UP_FIRST) = W(RACING, 0),
		SE(RACE_LOWER) = W(RACING, SA(CLOSE_NEW)),     /* cannot come (we are higher) */
		/* A third link while racing is counted as a race and kept
		 * (the arbiter, if draining, closes it at its end). Expected
		 * as the code does it; see the report. */
		SE(RACE_HIGHER) = W(RACING, SA(RACE)),
		SE(DRAIN_DONE) = W(RACING, 0),
		SE(DRAIN_LOST) = W(RACING, 0),
		SE(MOVE_SPARE) = W(UP, MOVE_SPARE),            /* the peer kept the other link */
		SE(MOVE_WAIT) = W(CONNECTING, SA(DROP_ACTIVE)),
		SE(SPARE_GONE) = W(UP, 0),                     /* the peer kept ours */
		SE(GONE_LAST) = W(RACING, 0),
		CARRYING_COMMON,
	},
};

/* ---- every pair ---- */

START_TEST(every_pair)
{
	char got_a[256], want_a[256];
	char first[600] = "";
	unsigned pairs = 0, bad = 0;

	for (unsigned s = 0; s < MSGR__SESS_NSTATES; s++)
		for (unsigned e = 0; e < MSGR__SE_NEVENTS; e++) {
			enum msgr__session_state st = (enum msgr__session_state)s;
			enum msgr__session_event ev = (enum msgr__session_event)e;
			const struct want *w = &table[s][e];
			struct msgr__session_step got = msgr__session_next(st, ev);
			char msg[sizeof(first)];

			pairs++;
			if (!w->set)
				snprintf(msg, sizeof(msg), "%s + %s: no expectation in the table",
					 msgr__session_state_name(st), msgr__session_event_name(ev));
			else if (got.next != w->next || got.actions != w->actions)
				snprintf(msg, sizeof(msg), "%s + %s: got %s [%s], want %s [%s]",
					 msgr__session_state_name(st), msgr__session_event_name(ev),
					 msgr__session_state_name(got.next),
					 actions_str(got.actions, got_a, sizeof(got_a)),
					 msgr__session_state_name(w->next),
					 actions_str(w->actions, want_a, sizeof(want_a)));
			else
				continue;
			fprintf(stderr, "session_state: %s\n", msg);
			if (!bad++)
				snprintf(first, sizeof(first), "%s", msg);
		}
	ck_assert_uint_eq(pairs, (unsigned)MSGR__SESS_NSTATES * MSGR__SE_NEVENTS);
	ck_assert_msg(!bad, "%u of %u pairs wrong; the first: %s", bad, pairs, first);
}
END_TEST

/* ---- scenarios ---- */

struct move {
	enum msgr__session_event ev;
	enum msgr__session_state next;
	unsigned actions;
};

#define M(ev, st, a) { MSGR__SE_##ev, MSGR__SESS_##st, (a) }

static void walk(const char *name, enum msgr__session_state st, const struct move *m, size_t n)
{
	char got_a[256], want_a[256];

	for (size_t i = 0; i < n; i++) {
		struct msgr__session_step got = msgr__session_next(st, m[i].ev);

		ck_assert_msg(got.next == m[i].next && got.actions == m[i].actions,
			      "%s, step %zu: %s + %s: got %s [%s], want %s [%s]", name, i + 1,
			      msgr__session_state_name(st), msgr__session_event_name(m[i].ev),
			      msgr__session_state_name(got.next),
			      actions_str(got.actions, got_a, sizeof(got_a)),
			      msgr__session_state_name(m[i].next),
			      actions_str(m[i].actions, want_a, sizeof(want_a)));
		st = got.next;
	}
}

#define WALK(name, from, ...)                                                       \
	do {                                                                         \
		static const struct move m_[] = { __VA_ARGS__ };                     \
		walk(name, MSGR__SESS_##from, m_, sizeof(m_) / sizeof(m_[0]));       \
	} while (0)

START_TEST(first_link)
{
	WALK("a CONNECT dials, the link comes up", IDLE,
	     M(LINK_NEW, CONNECTING, 0),
	     M(LINK_NEW, CONNECTING, 0),   /* the peer's dial, named by its HELLO */
	     M(UP_FIRST, UP, SA(ACTIVATE)));
	WALK("the dial never comes up", IDLE,
	     M(LINK_NEW, CONNECTING, 0),
	     M(GONE_LAST, IDLE, SA(DOWN)));
}
END_TEST

START_TEST(race_lower)
{
	/* PROTOCOL.md 4, at the arbiter: keep the active link, drain the
	 * other, hold the kept one's frames until the drained one's CLOSE */
	WALK("arbiter, the drain finishes", UP,
	     M(RACE_LOWER, DRAINING, SA(RACE) | SA(DRAIN_NEW)),
	     M(RACE_LOWER, DRAINING, SA(CLOSE_NEW)),
	     M(DRAIN_DONE, UP, SA(RELEASE)));
	WALK("arbiter, the drained link dies", UP,
	     M(RACE_LOWER, DRAINING, SA(RACE) | SA(DRAIN_NEW)),
	     M(DRAIN_LOST, UP, SA(DOWN) | SA(NOTIFY)));
}
END_TEST

START_TEST(race_higher)
{
	/* at the other daemon: keep sending on the first link; the arbiter's
	 * CLOSE comes on the one it drops */
	WALK("higher, the peer keeps the new link", UP,
	     M(RACE_HIGHER, RACING, SA(RACE)),
	     M(MOVE_SPARE, UP, MOVE_SPARE));
	WALK("higher, the peer keeps ours", UP,
	     M(RACE_HIGHER, RACING, SA(RACE)),
	     M(SPARE_GONE, UP, 0));
	WALK("higher, the kept link is still in its handshake here", UP,
	     M(RACE_HIGHER, RACING, SA(RACE)),
	     M(MOVE_WAIT, CONNECTING, SA(DROP_ACTIVE)),
	     M(UP_FIRST, UP, SA(ACTIVATE)));
}
END_TEST

START_TEST(active_lost)
{
	WALK("lost, a spare up", RACING,
	     M(LOST_SPARE, UP, LOST_SPARE));
	WALK("lost, another link in its handshake", UP,
	     M(LOST_WAIT, CONNECTING, LOST),
	     M(UP_FIRST, UP, SA(ACTIVATE)));
	WALK("lost, nothing else", UP,
	     M(LOST_ALL, IDLE, LOST),
	     M(GONE_LAST, IDLE, SA(DOWN)),      /* the closed link's gone() */
	     M(LINK_NEW, CONNECTING, 0),        /* a new CONNECT dials */
	     M(UP_FIRST, UP, SA(ACTIVATE)));
	WALK("lost while draining", UP,
	     M(RACE_LOWER, DRAINING, SA(RACE) | SA(DRAIN_NEW)),
	     M(LOST_ALL, IDLE, LOST));
	WALK("the dialler lost it first and dialled anew", UP,
	     M(UP_REPLACE, UP, REPLACE));
}
END_TEST

START_TEST(peer_restart)
{
	WALK("a new peer instance while up", UP,
	     M(UP_RESTART, UP, RESTART));
	WALK("a new peer instance mid-race", UP,
	     M(RACE_LOWER, DRAINING, SA(RACE) | SA(DRAIN_NEW)),
	     M(UP_RESTART, UP, RESTART));
	WALK("a new peer instance after the old one went", UP,
	     M(LOST_ALL, IDLE, LOST),
	     M(LINK_NEW, CONNECTING, 0),
	     M(UP_RESTART, UP, RESTART));
}
END_TEST

/* ---- names (what `msgrctl sessions` shows) ---- */

START_TEST(names)
{
	static const char *const states[MSGR__SESS_NSTATES] = {
		"idle", "connecting", "up", "draining", "racing",
	};
	static const char *const events[MSGR__SE_NEVENTS] = {
		"link_new", "up_first", "up_replace", "up_restart", "race_lower",
		"race_higher", "drain_done", "drain_lost", "move_spare", "move_wait",
		"lost_spare", "lost_wait", "lost_all", "spare_gone", "gone_last",
	};

	for (unsigned i = 0; i < MSGR__SESS_NSTATES; i++) {
		const char *n = msgr__session_state_name((enum msgr__session_state)i);
		ck_assert_msg(n && strcmp(n, "?"), "session state %u has no name", i);
		ck_assert_msg(states[i] && !strcmp(n, states[i]),
			      "session state %u is named %s, want %s", i, n,
			      states[i] ? states[i] : "(none)");
	}
	for (unsigned i = 0; i < MSGR__SE_NEVENTS; i++) {
		const char *n = msgr__session_event_name((enum msgr__session_event)i);
		ck_assert_msg(n && strcmp(n, "?"), "session event %u has no name", i);
		ck_assert_msg(events[i] && !strcmp(n, events[i]),
			      "session event %u is named %s, want %s", i, n,
			      events[i] ? events[i] : "(none)");
	}
	ck_assert_str_eq(msgr__session_state_name(MSGR__SESS_NSTATES), "?");
	ck_assert_str_eq(msgr__session_state_name((enum msgr__session_state)(MSGR__SESS_NSTATES + 1)), "?");
	ck_assert_str_eq(msgr__session_state_name((enum msgr__session_state)1000), "?");
	ck_assert_str_eq(msgr__session_event_name(MSGR__SE_NEVENTS), "?");
	ck_assert_str_eq(msgr__session_event_name((enum msgr__session_event)(MSGR__SE_NEVENTS + 1)), "?");
	ck_assert_str_eq(msgr__session_event_name((enum msgr__session_event)1000), "?");
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("session_state", &tc);

	tcase_add_test(tc, every_pair);
	tcase_add_test(tc, first_link);
	tcase_add_test(tc, race_lower);
	tcase_add_test(tc, race_higher);
	tcase_add_test(tc, active_lost);
	tcase_add_test(tc, peer_restart);
	tcase_add_test(tc, names);
	return unit_run(s);
}
