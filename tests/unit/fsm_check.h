/*
 * fsm_check.h - what the state machine tests (test_link_state.c,
 * test_session_state.c, test_channel_state.c) share: a machine seen as
 * ints, every (state, event) pair checked against an expected table,
 * scenarios walked step by step, and the names msgrctl shows.
 *
 * Each test keeps what is its own: the expected table, its scenarios, the
 * names it expects and any rule that holds over its whole table. A failure
 * names the pair, what came and what was expected, so it can be read
 * against the table without running anything again:
 * "<state> + <event>: got <state> [<actions>], want <state> [<actions>]".
 */
#ifndef MSGR_TESTS_FSM_CHECK_H
#define MSGR_TESTS_FSM_CHECK_H

#include <check.h>
#include <stdio.h>
#include <string.h>

/* One transition, whatever the machine: the next state and its action bits. */
struct fsm_step {
	int next;
	unsigned actions;
};

/* A machine as the checks see it. The daemon's functions take their own
 * enums, so FSM_MACHINE below wraps them: calling them through a pointer
 * of another type would be undefined. */
struct fsm {
	const char *name; /* "link_state": prefixes what goes to stderr */
	const char *kind; /* "link": "link state 3 has no name" */
	int nstates, nevents;
	struct fsm_step (*next)(int st, int ev);
	const char *(*state_name)(int st);
	const char *(*event_name)(int ev);
	const char *const *action_names; /* bit i is action_names[i] */
	unsigned nactions;
};

/* The static struct fsm `var` for the daemon's msgr__<p>_next(),
 * msgr__<p>_state_name() and msgr__<p>_event_name() (include the machine's
 * header first), its action bits named by the array bit_names. */
#define FSM_MACHINE(var, p, nstates, nevents, bit_names)                                \
	static struct fsm_step var##_next(int st, int ev)                               \
	{                                                                               \
		struct msgr__##p##_step s =                                             \
			msgr__##p##_next((enum msgr__##p##_state)st, (enum msgr__##p##_event)ev); \
		return (struct fsm_step){ (int)s.next, s.actions };                     \
	}                                                                               \
	static const char *var##_state_name(int st)                                     \
	{                                                                               \
		return msgr__##p##_state_name((enum msgr__##p##_state)st);              \
	}                                                                               \
	static const char *var##_event_name(int ev)                                     \
	{                                                                               \
		return msgr__##p##_event_name((enum msgr__##p##_event)ev);              \
	}                                                                               \
	static const struct fsm var = {                                                 \
		#p "_state", #p, (nstates), (nevents), var##_next, var##_state_name,    \
		var##_event_name, bit_names, sizeof(bit_names) / sizeof(bit_names[0]),  \
	}

/* ---- formatting, for failure messages ---- */

/* "HELLO|PROVE", "0", or a bit the test does not know as "bit N", so an
 * action added to the daemon but not to the test still shows. */
static inline const char *fsm_actions_str(const struct fsm *m, unsigned a, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (!a)
		return "0";
	for (unsigned i = 0; i < 32; i++)
		if (a & (1u << i)) {
			if (i < m->nactions)
				n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "|" : "",
						      m->action_names[i]);
			else
				n += (size_t)snprintf(buf + n, len - n, "%sbit %u", n ? "|" : "", i);
			if (n >= len)
				break;
		}
	return buf;
}

/* "<state> + <event>: got <state> [<actions>], want <state> [<actions>]" */
static inline void fsm_got_want(const struct fsm *m, char *buf, size_t len, int st, int ev,
				struct fsm_step got, int want_next, unsigned want_actions)
{
	char got_a[256], want_a[256];

	snprintf(buf, len, "%s + %s: got %s [%s], want %s [%s]", m->state_name(st),
		 m->event_name(ev), m->state_name(got.next),
		 fsm_actions_str(m, got.actions, got_a, sizeof(got_a)), m->state_name(want_next),
		 fsm_actions_str(m, want_actions, want_a, sizeof(want_a)));
}

/* ---- every pair ---- */

/* set: a pair the table writes out. One left out fails, rather than
 * quietly expecting {state 0, no actions}. */
struct fsm_want {
	int next;
	unsigned actions;
	int set;
};

/* Every (state, event) pair against table, nstates rows of nevents (a
 * test passes &table[0][0]). Every wrong pair goes to stderr, so one run
 * shows them all; the test fails with how many and the first. */
static inline void fsm_every_pair(const struct fsm *m, const struct fsm_want *table)
{
	char first[600] = "";
	unsigned pairs = 0, bad = 0;

	for (int s = 0; s < m->nstates; s++)
		for (int e = 0; e < m->nevents; e++) {
			const struct fsm_want *w = &table[s * m->nevents + e];
			struct fsm_step got = m->next(s, e);
			char msg[sizeof(first)];

			pairs++;
			if (!w->set)
				snprintf(msg, sizeof(msg), "%s + %s: no expectation in the table",
					 m->state_name(s), m->event_name(e));
			else if (got.next != w->next || got.actions != w->actions)
				fsm_got_want(m, msg, sizeof(msg), s, e, got, w->next, w->actions);
			else
				continue;
			fprintf(stderr, "%s: %s\n", m->name, msg);
			if (!bad++)
				snprintf(first, sizeof(first), "%s", msg);
		}
	ck_assert_uint_eq(pairs, (unsigned)m->nstates * (unsigned)m->nevents);
	ck_assert_msg(!bad, "%u of %u pairs wrong; the first: %s", bad, pairs, first);
}

/* ---- scenarios ---- */

/* One step of a scenario: the event, and where it should lead with what. */
struct fsm_move {
	int ev;
	int next;
	unsigned actions;
};

/* Walk moves from st, as the driver would: each move's state is where the
 * next starts. */
static inline void fsm_walk(const struct fsm *m, const char *name, int st,
			    const struct fsm_move *mv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fsm_step got = m->next(st, mv[i].ev);
		char msg[600];

		fsm_got_want(m, msg, sizeof(msg), st, mv[i].ev, got, mv[i].next, mv[i].actions);
		ck_assert_msg(got.next == mv[i].next && got.actions == mv[i].actions,
			      "%s, step %zu: %s", name, i + 1, msg);
		st = got.next;
	}
}

/* FSM_WALK(&machine, "what it shows", from, { ev, next, actions }, ...) */
#define FSM_WALK(m, name, from, ...)                                                    \
	do {                                                                            \
		static const struct fsm_move m_[] = { __VA_ARGS__ };                    \
		fsm_walk((m), (name), (from), m_, sizeof(m_) / sizeof(m_[0]));          \
	} while (0)

/* ---- names (what msgrctl shows) ---- */

/* Each state and event has the name expected (states[], events[]: nstates
 * and nevents of them, a missing one NULL), and one past the end, further
 * still, and far out are all "?" rather than a read past the table. */
static inline void fsm_names(const struct fsm *m, const char *const *states,
			     const char *const *events)
{
	for (int i = 0; i < m->nstates; i++) {
		const char *n = m->state_name(i);
		ck_assert_msg(n && strcmp(n, "?"), "%s state %d has no name", m->kind, i);
		ck_assert_msg(states[i] && !strcmp(n, states[i]), "%s state %d is named %s, want %s",
			      m->kind, i, n, states[i] ? states[i] : "(none)");
	}
	for (int i = 0; i < m->nevents; i++) {
		const char *n = m->event_name(i);
		ck_assert_msg(n && strcmp(n, "?"), "%s event %d has no name", m->kind, i);
		ck_assert_msg(events[i] && !strcmp(n, events[i]), "%s event %d is named %s, want %s",
			      m->kind, i, n, events[i] ? events[i] : "(none)");
	}
	ck_assert_str_eq(m->state_name(m->nstates), "?");
	ck_assert_str_eq(m->state_name(m->nstates + 1), "?");
	ck_assert_str_eq(m->state_name(1000), "?");
	ck_assert_str_eq(m->event_name(m->nevents), "?");
	ck_assert_str_eq(m->event_name(m->nevents + 1), "?");
	ck_assert_str_eq(m->event_name(1000), "?");
}

#endif
