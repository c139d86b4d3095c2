/* Unit tests for daemon/channel_state.c: every (state, event) pair of a
 * channel against a table written out here from the intended behaviour
 * (channel_state.h, docs/PROTOCOL.md section 5, channel.c's driver), the
 * opener's and the acceptor's lives walked end to end, a few rules that
 * hold over the whole table, and the names `msgrctl conns` shows. */
#include <check.h>

#include "daemon/channel_state.h"
#include "tests/unit/fsm_check.h"
#include "tests/unit/unit.h"

/* The action bits in channel_state.h's order, for failure messages. */
static const char *const action_names[] = {
	"CONNECTED", "DELIVER", "FAILED", "RESET", "SEND_RESET", "PROTO", "FREE",
};
FSM_MACHINE(chan_fsm, channel, MSGR__CHAN_NSTATES, MSGR__CE_NEVENTS, action_names);

/* ---- the expected table ---- */

#define W(st, a) { MSGR__CHAN_##st, (a), 1 }
#define CE(ev) [MSGR__CE_##ev]
#define CA(x) MSGR__CA_##x

/* A channel that never opened: its end hears CONNECT_FAILED. */
#define FAIL (CA(FAILED) | CA(FREE))
#define FAIL_TELL (CA(FAILED) | CA(SEND_RESET) | CA(FREE))
/* One that did: its ends hear RESET. */
#define END (CA(RESET) | CA(FREE))
#define END_TELL (CA(RESET) | CA(SEND_RESET) | CA(FREE))

static const struct fsm_want table[MSGR__CHAN_NSTATES][MSGR__CE_NEVENTS] = {
	/* We sent OPEN (a remote channel only); the peer daemon's answer is
	 * awaited. Sends are framed behind the OPEN meanwhile. */
	[MSGR__CHAN_OPENING] = {
		CE(OPEN_OK) = W(OPEN, CA(CONNECTED)),
		/* refused there: nothing to tell the peer, it has no channel */
		CE(OPEN_FAIL) = W(CLOSED, FAIL),
		/* links carry a session's frames in order and OPEN_OK comes
		 * before the acceptor's first MSG, so messages were lost:
		 * the channel resets (PROTOCOL.md 5.2), the link stays */
		CE(MSG) = W(CLOSED, FAIL_TELL),
		/* a RESET is never answered */
		CE(PEER_RESET) = W(CLOSED, FAIL),
		/* the application closed it, or went, or a send failed here:
		 * the peer may have accepted already */
		CE(RESET) = W(CLOSED, FAIL_TELL),
		/* the peer saw the fault too */
		CE(LOST) = W(CLOSED, FAIL),
		/* a link survives: the peer must be told */
		CE(LOST_NOTIFY) = W(CLOSED, FAIL_TELL),
		/* no answer within net.connect_timeout: a late OPEN_OK must
		 * not leave the acceptor's end open alone */
		CE(TIMEOUT) = W(CLOSED, FAIL_TELL),
	},
	/* Both ends exist: a local channel, the accepting end of a remote
	 * one, or an opener after OPEN_OK. */
	[MSGR__CHAN_OPEN] = {
		/* an answer to an OPEN we are not waiting for (the acceptor, or
		 * a second OPEN_OK): the link closes, and its loss ends the
		 * channel then (lost / lost_notify) */
		CE(OPEN_OK) = W(OPEN, CA(PROTO)),
		CE(OPEN_FAIL) = W(OPEN, CA(PROTO)),
		CE(MSG) = W(OPEN, CA(DELIVER)),
		CE(PEER_RESET) = W(CLOSED, END),
		CE(RESET) = W(CLOSED, END_TELL),
		CE(LOST) = W(CLOSED, END),
		CE(LOST_NOTIFY) = W(CLOSED, END_TELL),
		CE(TIMEOUT) = W(OPEN, 0),        /* an open channel has no deadline */
	},
	/* Ended: the driver frees it with the transition into closed, so an
	 * event here is a nested one (an action that called back) and
	 * changes nothing. */
	[MSGR__CHAN_CLOSED] = {
		CE(OPEN_OK) = W(CLOSED, 0),
		CE(OPEN_FAIL) = W(CLOSED, 0),
		CE(MSG) = W(CLOSED, 0),
		CE(PEER_RESET) = W(CLOSED, 0),
		CE(RESET) = W(CLOSED, 0),
		CE(LOST) = W(CLOSED, 0),
		CE(LOST_NOTIFY) = W(CLOSED, 0),
		CE(TIMEOUT) = W(CLOSED, 0),
	},
};

/* ---- every pair ---- */

START_TEST(every_pair)
{
	/* the machine is the size the table was written for */
	ck_assert_uint_eq((unsigned)MSGR__CHAN_NSTATES * MSGR__CE_NEVENTS, 24);
	fsm_every_pair(&chan_fsm, &table[0][0]);
}
END_TEST

/* ---- rules over the whole table (what channel.c relies on) ---- */

START_TEST(rules)
{
	char got_a[256];

	/* the test names every action bit the header has */
	ck_assert_uint_eq(1u << (chan_fsm.nactions - 1), (unsigned)MSGR__CA_FREE);

	for (unsigned s = 0; s < MSGR__CHAN_NSTATES; s++)
		for (unsigned e = 0; e < MSGR__CE_NEVENTS; e++) {
			enum msgr__channel_state st = (enum msgr__channel_state)s;
			enum msgr__channel_event ev = (enum msgr__channel_event)e;
			struct msgr__channel_step got = msgr__channel_next(st, ev);
			unsigned a = got.actions;
			const char *sn = msgr__channel_state_name(st);
			const char *en = msgr__channel_event_name(ev);

			fsm_actions_str(&chan_fsm, a, got_a, sizeof(got_a));
			ck_assert_msg(got.next < MSGR__CHAN_NSTATES, "%s + %s: goes to state %u", sn,
				      en, (unsigned)got.next);
			ck_assert_msg(!(a & ~((1u << chan_fsm.nactions) - 1)), "%s + %s: unknown action [%s]",
				      sn, en, got_a);
			/* the driver frees exactly what enters closed; nothing
			 * leaves it */
			if (st != MSGR__CHAN_CLOSED)
				ck_assert_msg(!(got.next == MSGR__CHAN_CLOSED) == !(a & CA(FREE)),
					      "%s + %s: to %s with [%s]", sn, en,
					      msgr__channel_state_name(got.next), got_a);
			else
				ck_assert_msg(got.next == MSGR__CHAN_CLOSED && !a,
					      "closed + %s: to %s with [%s]", en,
					      msgr__channel_state_name(got.next), got_a);
			/* step() returns at PROTO without running the rest, and
			 * the state stays (the link's loss ends the channel) */
			if (a & CA(PROTO))
				ck_assert_msg(a == CA(PROTO) && got.next == st,
					      "%s + %s: PROTO with [%s] to %s", sn, en, got_a,
					      msgr__channel_state_name(got.next));
			/* an end that never heard CONNECTED hears CONNECT_FAILED,
			 * one that did hears RESET; never both */
			if (a & CA(FAILED))
				ck_assert_msg(st == MSGR__CHAN_OPENING && !(a & CA(RESET)),
					      "%s + %s: FAILED [%s]", sn, en, got_a);
			if (a & CA(RESET))
				ck_assert_msg(st == MSGR__CHAN_OPEN, "%s + %s: RESET [%s]", sn, en, got_a);
			/* a RESET from the peer, or a fault it saw, is never
			 * answered with a RESET */
			if (ev == MSGR__CE_PEER_RESET || ev == MSGR__CE_LOST)
				ck_assert_msg(!(a & CA(SEND_RESET)), "%s + %s: answers [%s]", sn, en,
					      got_a);
			/* DELIVER is run by on_msg after step() returns: the
			 * channel must still be there */
			if (a & CA(DELIVER))
				ck_assert_msg(got.next == MSGR__CHAN_OPEN && !(a & CA(FREE)),
					      "%s + %s: DELIVER [%s] to %s", sn, en, got_a,
					      msgr__channel_state_name(got.next));
		}
}
END_TEST

/* ---- scenarios ---- */

#define M(ev, st, a) { MSGR__CE_##ev, MSGR__CHAN_##st, (a) }

#define WALK(name, from, ...) FSM_WALK(&chan_fsm, name, MSGR__CHAN_##from, __VA_ARGS__)

START_TEST(opener_opens)
{
	/* PROTOCOL.md 5.1: OPEN, then OPEN_OK; messages flow, then the
	 * channel ends one of four ways */
	WALK("opened, then closed here", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(MSG, OPEN, CA(DELIVER)),
	     M(MSG, OPEN, CA(DELIVER)),
	     M(RESET, CLOSED, END_TELL));
	WALK("opened, then reset by the peer", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(MSG, OPEN, CA(DELIVER)),
	     M(PEER_RESET, CLOSED, END));
	WALK("opened, then the link failed, no link left", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(LOST, CLOSED, END));
	WALK("opened, then the link failed, a spare up", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(LOST_NOTIFY, CLOSED, END_TELL));
	WALK("opened, a deadline tick after it", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(TIMEOUT, OPEN, 0),
	     M(MSG, OPEN, CA(DELIVER)));
}
END_TEST

START_TEST(opener_fails)
{
	WALK("refused by the peer daemon", OPENING,
	     M(OPEN_FAIL, CLOSED, FAIL));
	WALK("no answer within net.connect_timeout", OPENING,
	     M(TIMEOUT, CLOSED, FAIL_TELL));
	WALK("a MSG before OPEN_OK", OPENING,
	     M(MSG, CLOSED, FAIL_TELL));
	WALK("the link failed before the answer, no link left", OPENING,
	     M(LOST, CLOSED, FAIL));
	WALK("the link failed before the answer, a spare up", OPENING,
	     M(LOST_NOTIFY, CLOSED, FAIL_TELL));
	WALK("reset by the peer before its answer", OPENING,
	     M(PEER_RESET, CLOSED, FAIL));
	WALK("closed by the application before the answer", OPENING,
	     M(RESET, CLOSED, FAIL_TELL));
}
END_TEST

START_TEST(starts_open)
{
	/* the accepting end of a remote channel and both ends of a local
	 * one are created in open: they never hear CONNECTED from here */
	WALK("accepted, messages, closed here", OPEN,
	     M(MSG, OPEN, CA(DELIVER)),
	     M(TIMEOUT, OPEN, 0),
	     M(RESET, CLOSED, END_TELL));
	WALK("accepted, the opener resets", OPEN,
	     M(PEER_RESET, CLOSED, END));
	WALK("accepted, the link fails", OPEN,
	     M(LOST, CLOSED, END));
	/* a local channel: only reset comes (a close, a client gone, a
	 * message too big for the receiver); SEND_RESET is skipped by the
	 * driver since it has no session */
	WALK("local, one end closes", OPEN,
	     M(RESET, CLOSED, END_TELL));
}
END_TEST

START_TEST(open_protocol_errors)
{
	/* the acceptor hearing an answer to an OPEN it never sent, or the
	 * opener hearing a second one: the link closes, the channel ends
	 * with the link's loss */
	WALK("OPEN_OK on the accepting end", OPEN,
	     M(OPEN_OK, OPEN, CA(PROTO)),
	     M(LOST, CLOSED, END));
	WALK("OPEN_OK twice", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(OPEN_OK, OPEN, CA(PROTO)),
	     M(LOST_NOTIFY, CLOSED, END_TELL));
	WALK("OPEN_FAIL after OPEN_OK", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(OPEN_FAIL, OPEN, CA(PROTO)),
	     M(LOST, CLOSED, END));
}
END_TEST

START_TEST(closed_is_inert)
{
	/* a nested event (an end's client dropped while it is told, say)
	 * finds the channel closed and does nothing more */
	WALK("every event after a close", OPEN,
	     M(RESET, CLOSED, END_TELL),
	     M(OPEN_OK, CLOSED, 0),
	     M(OPEN_FAIL, CLOSED, 0),
	     M(MSG, CLOSED, 0),
	     M(PEER_RESET, CLOSED, 0),
	     M(RESET, CLOSED, 0),
	     M(LOST, CLOSED, 0),
	     M(LOST_NOTIFY, CLOSED, 0),
	     M(TIMEOUT, CLOSED, 0));
	WALK("a timeout after a refusal", OPENING,
	     M(OPEN_FAIL, CLOSED, FAIL),
	     M(TIMEOUT, CLOSED, 0),
	     M(OPEN_OK, CLOSED, 0));
}
END_TEST

/* ---- names (what `msgrctl conns` shows) ---- */

START_TEST(names)
{
	static const char *const states[MSGR__CHAN_NSTATES] = {
		"opening", "open", "closed",
	};
	static const char *const events[MSGR__CE_NEVENTS] = {
		"open_ok", "open_fail", "msg", "peer_reset", "reset", "lost", "lost_notify",
		"timeout",
	};

	fsm_names(&chan_fsm, states, events);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("channel_state", &tc);

	tcase_add_test(tc, every_pair);
	tcase_add_test(tc, rules);
	tcase_add_test(tc, opener_opens);
	tcase_add_test(tc, opener_fails);
	tcase_add_test(tc, starts_open);
	tcase_add_test(tc, open_protocol_errors);
	tcase_add_test(tc, closed_is_inert);
	tcase_add_test(tc, names);
	return unit_run(s);
}
