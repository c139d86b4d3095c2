/* Unit tests for daemon/channel_state.c: every (state, event) pair of a
 * channel against a table written out here from the intended behaviour
 * (channel_state.h, docs/PROTOCOL.md sections 5 and 5a, channel.c's
 * driver, chans.c's events), the opener's and the acceptor's lives walked
 * end to end (lossless and peer ones across link faults too), the rules
 * that hold over the whole table, and the names `msgrctl conns` shows.
 * Entries marked SUSPECT are today's behaviour, believed wrong. */
#include <check.h>

#include "daemon/channel_state.h"
#include "tests/unit/fsm_check.h"
#include "tests/unit/unit.h"

/* The action bits in channel_state.h's order, for failure messages. */
static const char *const action_names[] = {
	"CONNECTED", "DELIVER", "FAILED", "RESET", "SEND_RESET", "PROTO", "FREE",
	"REMOTE_RESET", "REPLAY", "SEND_OPEN", "NEED_LINK",
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
/* One whose remote instance is gone (the peer forgot it, or restarted):
 * its end hears REMOTE_RESET, and the peer has nothing to be told. */
#define GONE (CA(REMOTE_RESET) | CA(FREE))
/* A resume event for a channel that is not resuming: on_resume_end steps
 * only resuming channels, so none comes; one would change nothing. */
#define RESUME_IGNORED(st)                                                              \
	CE(RESUME_OK) = W(st, 0), CE(RESUME_OPEN) = W(st, 0), CE(RESUME_GONE) = W(st, 0), \
	CE(RESUME_LOST_OPEN) = W(st, 0)

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
		/* the peer saw the fault too (a lossy channel, or a kept one
		 * the peer refused outright: EACCES) */
		CE(LOST) = W(CLOSED, FAIL),
		/* a link survives: the peer must be told */
		CE(LOST_NOTIFY) = W(CLOSED, FAIL_TELL),
		/* no answer within net.connect_timeout: a late OPEN_OK must
		 * not leave the acceptor's end open alone */
		CE(TIMEOUT) = W(CLOSED, FAIL_TELL),
		/* lossless or peer: the OPEN may be lost with the link; the
		 * channel waits for a link (a connect still opening always
		 * dials) and the resume says whether the OPEN got there */
		CE(SUSPEND) = W(STANDBY, CA(NEED_LINK)),
		/* created while the session had no link: listed in the round
		 * so the peer does not take it for gone, but its OPEN goes on
		 * this link and its OPEN_OK answers it */
		CE(RESUME) = W(OPENING, 0),
		RESUME_IGNORED(OPENING),
		/* only an accepted channel expires, and only in standby */
		CE(EXPIRE) = W(OPENING, 0),
		/* the peer restarted: it never opened, so CONNECT_FAILED */
		CE(PEER_GONE) = W(CLOSED, FAIL),
	},
	/* Both ends exist: a local channel, the accepting end of a remote
	 * one, or an opener after OPEN_OK (or after a resume). */
	[MSGR__CHAN_OPEN] = {
		/* an answer to an OPEN we are not waiting for (the acceptor, or
		 * a second OPEN_OK): the link closes, and its loss ends the
		 * channel then (lost / lost_notify), or suspends a kept one */
		CE(OPEN_OK) = W(OPEN, CA(PROTO)),
		CE(OPEN_FAIL) = W(OPEN, CA(PROTO)),
		CE(MSG) = W(OPEN, CA(DELIVER)),
		CE(PEER_RESET) = W(CLOSED, END),
		CE(RESET) = W(CLOSED, END_TELL),
		CE(LOST) = W(CLOSED, END),
		CE(LOST_NOTIFY) = W(CLOSED, END_TELL),
		CE(TIMEOUT) = W(OPEN, 0),        /* an open channel has no deadline */
		/* lossless or peer: kept, its unacked messages in the
		 * sender's pool; the driver dials only if wants_link() */
		CE(SUSPEND) = W(STANDBY, CA(NEED_LINK)),
		/* an answer round: the peer lost a link we did not see fail */
		CE(RESUME) = W(RESUMING, 0),
		RESUME_IGNORED(OPEN),
		CE(EXPIRE) = W(OPEN, 0),
		/* the peer restarted: the remote instance is gone */
		CE(PEER_GONE) = W(CLOSED, GONE),
	},
	/* Lossless or peer, the session lost its link: sent messages are
	 * kept for replay, new ones wait in the pool. */
	[MSGR__CHAN_STANDBY] = {
		/* a channel that suspended while opening can still get its
		 * OPEN_OK (or OPEN_FAIL) here: a frame held behind a drain,
		 * released after the loss (handover.c session_down). It
		 * opened (the driver lets OPEN_OK through only once), or it
		 * was refused. */
		CE(OPEN_OK) = W(STANDBY, CA(CONNECTED)),
		CE(OPEN_FAIL) = W(CLOSED, FAIL),
		/* a peer that had not seen the fault yet may still send;
		 * sequence numbers keep delivery exactly once */
		CE(MSG) = W(STANDBY, CA(DELIVER)),
		/* SUSPECT (today's behaviour) in all four and in expire /
		 * peer_gone below: standby does not remember whether the
		 * channel ever opened, so one that suspended while opening
		 * tells its end RESET (or REMOTE_RESET), not CONNECT_FAILED */
		CE(PEER_RESET) = W(CLOSED, END),
		CE(RESET) = W(CLOSED, END_TELL),
		/* a kept channel hears lost only when refused outright (EACCES) */
		CE(LOST) = W(CLOSED, END),
		CE(LOST_NOTIFY) = W(CLOSED, END_TELL),
		CE(TIMEOUT) = W(STANDBY, 0),
		/* another loss: still waiting, still wanting a link */
		CE(SUSPEND) = W(STANDBY, CA(NEED_LINK)),
		/* a link is active again: our round is out */
		CE(RESUME) = W(RESUMING, 0),
		RESUME_IGNORED(STANDBY),
		/* an accepted lossless channel (a server never dials) after
		 * net.resume_timeout: no link to tell the peer on */
		CE(EXPIRE) = W(CLOSED, END),
		CE(PEER_GONE) = W(CLOSED, GONE),
	},
	/* A link is up again and our round is out; the peer's RESUME_END
	 * settles the channel. */
	[MSGR__CHAN_RESUMING] = {
		/* as in standby */
		CE(OPEN_OK) = W(RESUMING, CA(CONNECTED)),
		CE(OPEN_FAIL) = W(CLOSED, FAIL),
		CE(MSG) = W(RESUMING, CA(DELIVER)),
		/* SUSPECT (today's behaviour): as in standby, RESET even for
		 * a channel that never opened */
		CE(PEER_RESET) = W(CLOSED, END),
		CE(RESET) = W(CLOSED, END_TELL),
		CE(LOST) = W(CLOSED, END),
		CE(LOST_NOTIFY) = W(CLOSED, END_TELL),
		CE(TIMEOUT) = W(RESUMING, 0),
		/* the new link died mid-round: the round is void */
		CE(SUSPEND) = W(STANDBY, CA(NEED_LINK)),
		/* another round (an answer round after our init one) */
		CE(RESUME) = W(RESUMING, 0),
		/* the peer named it: replay after what it delivered */
		CE(RESUME_OK) = W(OPEN, CA(REPLAY)),
		/* and its entry is the first we hear of its end: it stands
		 * for the OPEN_OK the loss took */
		CE(RESUME_OPEN) = W(OPEN, CA(CONNECTED) | CA(REPLAY)),
		/* it opened, and the peer does not name it: the remote
		 * instance is gone; the peer has nothing to be told */
		CE(RESUME_GONE) = W(CLOSED, GONE),
		/* it never opened, and the peer does not name it: the OPEN
		 * was lost; again, with the kept messages behind it */
		CE(RESUME_LOST_OPEN) = W(OPENING, CA(SEND_OPEN) | CA(REPLAY)),
		/* the resume timeout runs in standby only */
		CE(EXPIRE) = W(RESUMING, 0),
		CE(PEER_GONE) = W(CLOSED, GONE),
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
		CE(SUSPEND) = W(CLOSED, 0),
		CE(RESUME) = W(CLOSED, 0),
		RESUME_IGNORED(CLOSED),
		CE(EXPIRE) = W(CLOSED, 0),
		CE(PEER_GONE) = W(CLOSED, 0),
	},
};

/* ---- every pair ---- */

START_TEST(every_pair)
{
	/* the machine is the size the table was written for */
	ck_assert_uint_eq((unsigned)MSGR__CHAN_NSTATES * MSGR__CE_NEVENTS, 80);
	fsm_every_pair(&chan_fsm, &table[0][0]);
}
END_TEST

/* ---- rules over the whole table (what channel.c relies on) ---- */

static int held(enum msgr__channel_state st)
{
	return st == MSGR__CHAN_STANDBY || st == MSGR__CHAN_RESUMING;
}

static int resume_event(enum msgr__channel_event ev)
{
	return ev == MSGR__CE_RESUME_OK || ev == MSGR__CE_RESUME_OPEN ||
	       ev == MSGR__CE_RESUME_GONE || ev == MSGR__CE_RESUME_LOST_OPEN;
}

START_TEST(rules)
{
	char got_a[256];

	/* the test names every action bit the header has */
	ck_assert_uint_eq(1u << (chan_fsm.nactions - 1), (unsigned)MSGR__CA_NEED_LINK);

	for (unsigned s = 0; s < MSGR__CHAN_NSTATES; s++)
		for (unsigned e = 0; e < MSGR__CE_NEVENTS; e++) {
			enum msgr__channel_state st = (enum msgr__channel_state)s;
			enum msgr__channel_event ev = (enum msgr__channel_event)e;
			struct msgr__channel_step got = msgr__channel_next(st, ev);
			unsigned a = got.actions;
			const char *sn = msgr__channel_state_name(st);
			const char *en = msgr__channel_event_name(ev);
			const char *nn = msgr__channel_state_name(got.next);

			fsm_actions_str(&chan_fsm, a, got_a, sizeof(got_a));
			ck_assert_msg(got.next < MSGR__CHAN_NSTATES, "%s + %s: goes to state %u", sn,
				      en, (unsigned)got.next);
			ck_assert_msg(!(a & ~((1u << chan_fsm.nactions) - 1)), "%s + %s: unknown action [%s]",
				      sn, en, got_a);
			/* the driver frees exactly what enters closed; nothing
			 * leaves it */
			if (st != MSGR__CHAN_CLOSED)
				ck_assert_msg(!(got.next == MSGR__CHAN_CLOSED) == !(a & CA(FREE)),
					      "%s + %s: to %s with [%s]", sn, en, nn, got_a);
			else
				ck_assert_msg(got.next == MSGR__CHAN_CLOSED && !a,
					      "closed + %s: to %s with [%s]", en, nn, got_a);
			/* step() returns at PROTO without running the rest, and
			 * the state stays (the link's loss ends the channel, or
			 * suspends a kept one) */
			if (a & CA(PROTO))
				ck_assert_msg(a == CA(PROTO) && got.next == st,
					      "%s + %s: PROTO with [%s] to %s", sn, en, got_a, nn);
			/* three ways to tell the ends, one at a time: an end that
			 * never heard CONNECTED hears CONNECT_FAILED, one that
			 * did hears RESET, or REMOTE_RESET when the remote
			 * instance is gone (the peer forgot the channel, or
			 * restarted) */
			if (a & CA(FAILED))
				ck_assert_msg((st == MSGR__CHAN_OPENING ||
					       (held(st) && ev == MSGR__CE_OPEN_FAIL)) &&
					      !(a & (CA(RESET) | CA(REMOTE_RESET))),
					      "%s + %s: FAILED [%s]", sn, en, got_a);
			if (a & CA(RESET))
				ck_assert_msg((st == MSGR__CHAN_OPEN || held(st)) &&
					      !(a & CA(REMOTE_RESET)),
					      "%s + %s: RESET [%s]", sn, en, got_a);
			if (a & CA(REMOTE_RESET))
				ck_assert_msg(st != MSGR__CHAN_OPENING &&
					      (ev == MSGR__CE_RESUME_GONE || ev == MSGR__CE_PEER_GONE),
					      "%s + %s: REMOTE_RESET [%s]", sn, en, got_a);
			/* a RESET from the peer, or a fault it saw, or a peer
			 * that forgot or restarted, is never answered with a
			 * RESET; nor is anything with no link to carry it */
			if (ev == MSGR__CE_PEER_RESET || ev == MSGR__CE_LOST ||
			    ev == MSGR__CE_SUSPEND || ev == MSGR__CE_PEER_GONE ||
			    ev == MSGR__CE_RESUME_GONE || ev == MSGR__CE_EXPIRE)
				ck_assert_msg(!(a & CA(SEND_RESET)), "%s + %s: answers [%s]", sn, en,
					      got_a);
			/* DELIVER is run by on_msg after step() returns: the
			 * channel must still be there, where it was (a kept one
			 * takes messages while it waits for its resume too) */
			if (a & CA(DELIVER))
				ck_assert_msg(got.next == st && !(a & CA(FREE)) &&
					      (st == MSGR__CHAN_OPEN || held(st)),
					      "%s + %s: DELIVER [%s] to %s", sn, en, got_a, nn);
			/* standby is entered by suspend only, always asking for
			 * a link (wants_link() decides whether to dial) */
			if (st != MSGR__CHAN_CLOSED)
				ck_assert_msg(!(ev == MSGR__CE_SUSPEND) ==
					      !(got.next == MSGR__CHAN_STANDBY && a == CA(NEED_LINK)),
					      "%s + %s: to %s with [%s]", sn, en, nn, got_a);
			if (a & CA(NEED_LINK))
				ck_assert_msg(ev == MSGR__CE_SUSPEND, "%s + %s: NEED_LINK [%s]", sn, en,
					      got_a);
			/* resuming is entered by resume only, from open or a
			 * held state, with nothing to do yet */
			if (got.next == MSGR__CHAN_RESUMING && st != MSGR__CHAN_RESUMING)
				ck_assert_msg(ev == MSGR__CE_RESUME && !a, "%s + %s: to resuming with [%s]",
					      sn, en, got_a);
			if (ev == MSGR__CE_RESUME && st != MSGR__CHAN_CLOSED)
				ck_assert_msg(!a && got.next == (st == MSGR__CHAN_OPENING ? st
								: MSGR__CHAN_RESUMING),
					      "%s + resume: to %s with [%s]", sn, nn, got_a);
			/* the peer's RESUME_END settles resuming channels only;
			 * anywhere else a resume event changes nothing */
			if (resume_event(ev) && st != MSGR__CHAN_RESUMING)
				ck_assert_msg(got.next == st && !a, "%s + %s: to %s with [%s]", sn, en,
					      nn, got_a);
			/* only a resume leaves resuming for open or opening, and
			 * then always replays what the peer has not delivered */
			if (a & CA(REPLAY))
				ck_assert_msg(st == MSGR__CHAN_RESUMING && resume_event(ev) &&
					      (got.next == MSGR__CHAN_OPEN ||
					       got.next == MSGR__CHAN_OPENING),
					      "%s + %s: REPLAY [%s] to %s", sn, en, got_a, nn);
			if (st == MSGR__CHAN_RESUMING &&
			    (got.next == MSGR__CHAN_OPEN || got.next == MSGR__CHAN_OPENING))
				ck_assert_msg(a & CA(REPLAY), "resuming + %s: to %s without REPLAY [%s]",
					      en, nn, got_a);
			/* OPEN goes again only with the channel back in opening */
			if (a & CA(SEND_OPEN))
				ck_assert_msg(got.next == MSGR__CHAN_OPENING && st == MSGR__CHAN_RESUMING,
					      "%s + %s: SEND_OPEN [%s] to %s", sn, en, got_a, nn);
			if (got.next == MSGR__CHAN_OPENING && st != MSGR__CHAN_OPENING)
				ck_assert_msg(a & CA(SEND_OPEN), "%s + %s: to opening without SEND_OPEN [%s]",
					      sn, en, got_a);
			/* CONNECTED is heard once: entering open from opening
			 * (OPEN_OK), a resume standing for the lost OPEN_OK, or
			 * a late OPEN_OK while the channel waits for its resume */
			if (a & CA(CONNECTED))
				ck_assert_msg((got.next == MSGR__CHAN_OPEN &&
					       ((st == MSGR__CHAN_OPENING && ev == MSGR__CE_OPEN_OK) ||
						(st == MSGR__CHAN_RESUMING && ev == MSGR__CE_RESUME_OPEN))) ||
					      ((st == MSGR__CHAN_STANDBY || st == MSGR__CHAN_RESUMING) &&
					       ev == MSGR__CE_OPEN_OK && got.next == st),
					      "%s + %s: CONNECTED [%s] to %s", sn, en, got_a, nn);
			if (st == MSGR__CHAN_OPENING && got.next == MSGR__CHAN_OPEN)
				ck_assert_msg(a & CA(CONNECTED), "opening + %s: to open without CONNECTED",
					      en);
			/* only the resume timeout of standby expires a channel */
			if (ev == MSGR__CE_EXPIRE && st != MSGR__CHAN_STANDBY)
				ck_assert_msg(got.next == st && !a, "%s + expire: to %s with [%s]", sn, nn,
					      got_a);
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
	WALK("opened on a session between links: listed in the round, answered by OPEN_OK",
	     OPENING,
	     M(RESUME, OPENING, 0),
	     M(OPEN_OK, OPEN, CA(CONNECTED)));
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
	WALK("the peer daemon restarted before its answer", OPENING,
	     M(PEER_GONE, CLOSED, FAIL));
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
	 * with the link's loss (or, kept, suspends) */
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
	WALK("OPEN_OK twice, lossless: the link's loss suspends it", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(OPEN_OK, OPEN, CA(PROTO)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)));
}
END_TEST

/* ---- lossless and peer channels across link faults ---- */

START_TEST(suspends_and_resumes)
{
	/* the opener: the link fails, a new one comes (dialled by this
	 * side), the peer's round names the channel, the unacked messages
	 * go again after what it delivered */
	WALK("opened, suspended, resumed", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(MSG, OPEN, CA(DELIVER)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     /* the peer had not seen the fault yet */
	     M(MSG, STANDBY, CA(DELIVER)),
	     M(TIMEOUT, STANDBY, 0),
	     M(RESUME, RESUMING, 0),
	     M(MSG, RESUMING, CA(DELIVER)),
	     M(RESUME_OK, OPEN, CA(REPLAY)),
	     M(MSG, OPEN, CA(DELIVER)),
	     M(RESET, CLOSED, END_TELL));
	/* the acceptor: it never dials a lossless channel (wants_link()),
	 * but a link the opener dials resumes it alike */
	WALK("accepted, suspended, resumed before net.resume_timeout", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_OK, OPEN, CA(REPLAY)),
	     M(EXPIRE, OPEN, 0));
	/* the peer lost a link we never saw fail: its init round gets our
	 * answer round, which takes our open channels to resuming */
	WALK("open, the peer's init round", OPEN,
	     M(RESUME, RESUMING, 0),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_OK, OPEN, CA(REPLAY)));
	/* the new link dies mid-round: back to standby, and a later link
	 * starts a fresh round */
	WALK("a resume cut off by another loss", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_OK, OPEN, CA(REPLAY)));
	WALK("closed by the application while in standby", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESET, CLOSED, END_TELL));
	WALK("a kept channel refused outright (EACCES) while waiting", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(LOST, CLOSED, END));
}
END_TEST

START_TEST(resumed_by_first_news)
{
	/* OPEN reached the peer, its OPEN_OK went with the link: the
	 * peer's entry (opened, its entity's nonce) stands for it */
	WALK("opening, suspended, the peer names it first", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_OPEN, OPEN, CA(CONNECTED) | CA(REPLAY)),
	     M(MSG, OPEN, CA(DELIVER)));
}
END_TEST

START_TEST(peer_forgot)
{
	/* the peer's round does not name a channel that opened: it lost
	 * it, or its entity went (the acceptor's expiry, say) */
	WALK("resumed, but the peer does not keep it", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_GONE, CLOSED, GONE));
	WALK("the peer forgot it, then a nested event", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_GONE, CLOSED, GONE),
	     M(RESET, CLOSED, 0));
}
END_TEST

START_TEST(open_lost)
{
	/* the OPEN went with the link: it goes again, the messages sent
	 * behind it after it, and the channel waits for OPEN_OK anew */
	WALK("opening, suspended, the peer never got the OPEN", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_LOST_OPEN, OPENING, CA(SEND_OPEN) | CA(REPLAY)),
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(MSG, OPEN, CA(DELIVER)));
	WALK("OPEN sent again, and no answer", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_LOST_OPEN, OPENING, CA(SEND_OPEN) | CA(REPLAY)),
	     M(TIMEOUT, CLOSED, FAIL_TELL));
	WALK("OPEN sent again, and refused", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_LOST_OPEN, OPENING, CA(SEND_OPEN) | CA(REPLAY)),
	     M(OPEN_FAIL, CLOSED, FAIL));
}
END_TEST

START_TEST(server_expiry)
{
	/* an accepted lossless channel whose client never comes back: the
	 * server does not dial; after net.resume_timeout it ends, with no
	 * link to tell the peer on */
	WALK("accepted, suspended, expired", OPEN,
	     M(MSG, OPEN, CA(DELIVER)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(EXPIRE, CLOSED, END),
	     M(RESUME, CLOSED, 0));
	WALK("no expiry mid-round", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(EXPIRE, RESUMING, 0),
	     M(RESUME_OK, OPEN, CA(REPLAY)));
}
END_TEST

START_TEST(peer_restart)
{
	/* the peer daemon came back as a new instance: its entities are
	 * new, nothing kept can reach them */
	WALK("open, the peer restarts", OPEN,
	     M(PEER_GONE, CLOSED, GONE));
	WALK("in standby, the peer restarts", OPEN,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(PEER_GONE, CLOSED, GONE));
	WALK("resuming, the peer restarts", OPENING,
	     M(OPEN_OK, OPEN, CA(CONNECTED)),
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(RESUME, RESUMING, 0),
	     M(PEER_GONE, CLOSED, GONE));
	WALK("opening, the peer restarts", OPENING,
	     M(PEER_GONE, CLOSED, FAIL));
}
END_TEST

START_TEST(held_never_opened)
{
	/* Held states do not remember whether the channel opened: the table
	 * says REMOTE_RESET, and the driver (channel.c) tells an end that
	 * never heard CONNECTED CONNECT_FAILED instead. */
	WALK("opening, suspended, the peer restarts", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(PEER_GONE, CLOSED, GONE));
	/* an OPEN_OK held behind a drain and released after the loss
	 * (handover.c session_down): it opened, and waits for its resume */
	WALK("opening, suspended, a late OPEN_OK", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(OPEN_OK, STANDBY, CA(CONNECTED)),
	     M(RESUME, RESUMING, 0),
	     M(RESUME_OK, OPEN, CA(REPLAY)));
	WALK("opening, suspended, a late OPEN_FAIL", OPENING,
	     M(SUSPEND, STANDBY, CA(NEED_LINK)),
	     M(OPEN_FAIL, CLOSED, FAIL));
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
	     M(TIMEOUT, CLOSED, 0),
	     M(SUSPEND, CLOSED, 0),
	     M(RESUME, CLOSED, 0),
	     M(RESUME_OK, CLOSED, 0),
	     M(RESUME_OPEN, CLOSED, 0),
	     M(RESUME_GONE, CLOSED, 0),
	     M(RESUME_LOST_OPEN, CLOSED, 0),
	     M(EXPIRE, CLOSED, 0),
	     M(PEER_GONE, CLOSED, 0));
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
		"opening", "open", "standby", "resuming", "closed",
	};
	static const char *const events[MSGR__CE_NEVENTS] = {
		"open_ok", "open_fail", "msg", "peer_reset", "reset", "lost", "lost_notify",
		"timeout", "suspend", "resume", "resume_ok", "resume_open", "resume_gone",
		"resume_lost_open", "expire", "peer_gone",
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
	tcase_add_test(tc, suspends_and_resumes);
	tcase_add_test(tc, resumed_by_first_news);
	tcase_add_test(tc, peer_forgot);
	tcase_add_test(tc, open_lost);
	tcase_add_test(tc, server_expiry);
	tcase_add_test(tc, peer_restart);
	tcase_add_test(tc, held_never_opened);
	tcase_add_test(tc, closed_is_inert);
	tcase_add_test(tc, names);
	return unit_run(s);
}
