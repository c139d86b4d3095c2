/* Unit tests for transports/rdma_state.c: every (state, event) pair of an
 * RDMA connection against a table written out here from rdma_state.h's
 * picture and rdma.c's needs, the usual lives walked end to end, and the
 * names. */
#include <check.h>

#include "tests/unit/fsm_check.h"
#include "tests/unit/unit.h"
#include "transports/rdma_state.h"

static const char *const action_names[] = {
	"CONNECT", "START", "FALLBACK", "FAIL", "DISCONNECT", "RELEASE", "CLOSED", "HALT",
};

FSM_MACHINE(conn_fsm, rdma_conn, MSGR__RC_NSTATES, MSGR__RCE_NEVENTS, action_names);

#define W(st, a) { MSGR__RC_##st, (a), 1 }
#define E(ev) [MSGR__RCE_##ev]
#define A(x) MSGR__RCA_##x
#define DOWN (A(FAIL) | A(DISCONNECT))
#define GONE (A(RELEASE) | A(CLOSED))

/* A state that ignores every event but the ones it lists after STAY: those
 * override STAY's entries, on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"
#ifdef __clang__
#pragma clang diagnostic ignored "-Winitializer-overrides"
#endif
#define STAY(st)                                                            \
	E(ROUTE_READY) = W(st, 0), E(ESTABLISHED) = W(st, 0), E(REFUSED) = W(st, 0), \
	E(DISCONNECTED) = W(st, 0), E(ERROR) = W(st, 0), E(CLOSE) = W(st, 0),        \
	E(ABORT) = W(st, 0), E(DRAINED) = W(st, 0), E(IDLE) = W(st, 0)

static const struct fsm_want table[MSGR__RC_NSTATES][MSGR__RCE_NEVENTS] = {
	/* Nothing is posted while resolving, so a refusal falls back at
	 * once and a close needs no disconnect. */
	[MSGR__RC_RESOLVING] = {
		STAY(RESOLVING),
		E(ROUTE_READY) = W(CONNECTING, A(CONNECT)),
		E(REFUSED) = W(FALLBACK, A(FALLBACK)),
		E(ERROR) = W(FALLBACK, A(FALLBACK)),
		E(CLOSE) = W(CLOSING, A(FAIL)),
		E(ABORT) = W(CLOSING, A(FAIL)),
	},
	/* Receives are posted: whatever ends the attempt flushes them. */
	[MSGR__RC_CONNECTING] = {
		STAY(CONNECTING),
		E(ESTABLISHED) = W(UP, A(START)),
		E(REFUSED) = W(FALLBACK, A(FALLBACK) | DOWN),
		E(ERROR) = W(FALLBACK, A(FALLBACK) | DOWN),
		E(CLOSE) = W(CLOSING, DOWN),
		E(ABORT) = W(CLOSING, DOWN),
	},
	/* Never shown to the core: a passive side does not fall back, the
	 * dialler does. */
	[MSGR__RC_ACCEPTING] = {
		STAY(ACCEPTING),
		E(ESTABLISHED) = W(UP, A(START)),
		E(REFUSED) = W(CLOSING, DOWN),
		E(ERROR) = W(CLOSING, DOWN),
		E(DISCONNECTED) = W(CLOSING, DOWN),
		E(CLOSE) = W(CLOSING, DOWN),
		E(ABORT) = W(CLOSING, DOWN),
	},
	[MSGR__RC_UP] = {
		STAY(UP),
		E(CLOSE) = W(DRAINING, 0),
		E(DISCONNECTED) = W(PEER_GONE, A(HALT) | A(DISCONNECT)),
		E(ERROR) = W(CLOSING, DOWN),
		E(ABORT) = W(CLOSING, DOWN),
	},
	[MSGR__RC_DRAINING] = {
		STAY(DRAINING),
		E(DRAINED) = W(CLOSING, DOWN),
		E(DISCONNECTED) = W(PEER_GONE, A(HALT) | A(DISCONNECT)),
		E(ERROR) = W(CLOSING, DOWN),
		E(ABORT) = W(CLOSING, DOWN),
	},
	/* What arrived before the peer left is still read; then closed(). */
	[MSGR__RC_PEER_GONE] = {
		STAY(PEER_GONE),
		E(IDLE) = W(DEAD, GONE),
		E(CLOSE) = W(CLOSING, 0),
		E(ABORT) = W(CLOSING, 0),
	},
	[MSGR__RC_CLOSING] = {
		STAY(CLOSING),
		E(IDLE) = W(DEAD, GONE),
	},
	/* TCP carries it now; the RDMA attempt is only cleaned up. */
	[MSGR__RC_FALLBACK] = {
		STAY(FALLBACK),
		E(IDLE) = W(FALLBACK, A(RELEASE)),
	},
	[MSGR__RC_DEAD] = { STAY(DEAD) },
};

START_TEST(every_pair)
{
	fsm_every_pair(&conn_fsm, &table[0][0]);
}
END_TEST

/* A dial that comes up, carries traffic and is closed by the core. */
START_TEST(dial_and_close)
{
	FSM_WALK(&conn_fsm, "dial, close", MSGR__RC_RESOLVING,
		 { MSGR__RCE_ROUTE_READY, MSGR__RC_CONNECTING, A(CONNECT) },
		 { MSGR__RCE_ESTABLISHED, MSGR__RC_UP, A(START) },
		 { MSGR__RCE_CLOSE, MSGR__RC_DRAINING, 0 },
		 { MSGR__RCE_DRAINED, MSGR__RC_CLOSING, DOWN },
		 { MSGR__RCE_IDLE, MSGR__RC_DEAD, GONE });
}
END_TEST

/* A host without RDMA: the dial is refused after its QP was made. */
START_TEST(fallback)
{
	FSM_WALK(&conn_fsm, "refused", MSGR__RC_RESOLVING,
		 { MSGR__RCE_ROUTE_READY, MSGR__RC_CONNECTING, A(CONNECT) },
		 { MSGR__RCE_REFUSED, MSGR__RC_FALLBACK, A(FALLBACK) | DOWN },
		 { MSGR__RCE_DISCONNECTED, MSGR__RC_FALLBACK, 0 },
		 { MSGR__RCE_IDLE, MSGR__RC_FALLBACK, A(RELEASE) });
	FSM_WALK(&conn_fsm, "unreachable", MSGR__RC_RESOLVING,
		 { MSGR__RCE_REFUSED, MSGR__RC_FALLBACK, A(FALLBACK) });
}
END_TEST

/* The peer leaves; what came first is read, then the core hears. */
START_TEST(peer_leaves)
{
	FSM_WALK(&conn_fsm, "peer leaves", MSGR__RC_ACCEPTING,
		 { MSGR__RCE_ESTABLISHED, MSGR__RC_UP, A(START) },
		 { MSGR__RCE_DISCONNECTED, MSGR__RC_PEER_GONE, A(HALT) | A(DISCONNECT) },
		 { MSGR__RCE_ERROR, MSGR__RC_PEER_GONE, 0 },
		 { MSGR__RCE_IDLE, MSGR__RC_DEAD, GONE });
}
END_TEST

/* Every way down passes through CLOSING or PEER_GONE, so the QP is
 * released only once nothing is posted: no state but those two (and
 * FALLBACK, which only releases) has RELEASE, and CLOSED always comes
 * with RELEASE. */
START_TEST(release_only_when_idle)
{
	for (int s = 0; s < MSGR__RC_NSTATES; s++)
		for (int e = 0; e < MSGR__RCE_NEVENTS; e++) {
			struct fsm_step st = conn_fsm.next(s, e);

			if (st.actions & A(RELEASE))
				ck_assert_int_eq(e, MSGR__RCE_IDLE);
			if (st.actions & A(CLOSED))
				ck_assert(st.actions & A(RELEASE));
			if (st.actions & A(START))
				ck_assert_int_eq(e, MSGR__RCE_ESTABLISHED);
		}
}
END_TEST

START_TEST(names)
{
	static const char *const states[] = {
		"resolving", "connecting", "accepting", "up", "draining",
		"peer-gone", "closing", "fallback", "dead",
	};
	static const char *const events[] = {
		"route-ready", "established", "refused", "disconnected", "error",
		"close", "abort", "drained", "idle",
	};

	fsm_names(&conn_fsm, states, events);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("rdma_state", &tc);

	tcase_add_test(tc, every_pair);
	tcase_add_test(tc, dial_and_close);
	tcase_add_test(tc, fallback);
	tcase_add_test(tc, peer_leaves);
	tcase_add_test(tc, release_only_when_idle);
	tcase_add_test(tc, names);
	return unit_run(s);
}
