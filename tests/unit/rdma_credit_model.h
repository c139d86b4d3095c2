/*
 * rdma_credit_model.h - an exhaustive search of the RDMA credit rules
 * (rdma_engine.h), run over the engine's own msgr__rdma_cr_* functions.
 *
 * The model: two sides, each with a bounded number of data messages its
 * core will queue (at moments of the search's choosing), and one FIFO of
 * SENDs in flight each way (RC delivers in order). A step is one of, for
 * either side:
 *   queue    the core queues its next message;
 *   pump     one SEND as the engine's pump would pick it: DATA if a message
 *            waits and a data credit is there, else a standalone CREDIT if
 *            want_credit says so;
 *   repost   the core reads one held DATA receive, which is posted again
 *            (reads happen whenever the search likes, but they do happen);
 *   deliver  the oldest SEND in flight towards this side arrives: on_recv,
 *            and a CREDIT's receive is reposted at once, as on_wc does.
 * Every interleaving is explored by a depth-first search with white, grey
 * and black marks, which proves three things about every reachable state:
 *   (a) counts stay within their windows, the credits add up (what one
 *       side may still send, what is in flight, what the other holds and
 *       is returning come to exactly the window), on_recv never refuses an
 *       honest peer, and a SEND never finds its receive missing (RNR);
 *   (b) a state where no step is possible has every message delivered;
 *   (c) the graph has no cycle (a grey successor): every run ends, so
 *       CREDITs cannot ping-pong forever. The longest path, counted in
 *       standalone CREDITs, bounds the CREDITs a complete run can take.
 * A violation stops the search with the path's last state printed in why.
 */
#ifndef MSGR_TESTS_RDMA_CREDIT_MODEL_H
#define MSGR_TESTS_RDMA_CREDIT_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/rdma_engine.h"

#define CM_QMAX 16 /* SENDs in flight one way: at most the receiver's W + K */

/* One side, as packed into a state. */
struct cm_side {
	uint8_t tx_data, tx_ctrl, held_data, held_ctrl, owe_data, owe_ctrl;
	uint8_t future; /* messages the core has yet to queue */
	uint8_t queued; /* queued, not yet sent */
	uint8_t nq;     /* SENDs in flight from this side */
	uint8_t q[CM_QMAX]; /* oldest first: type << 7 | data_ret << 3 | ctrl_ret */
};

struct cm_state {
	struct cm_side s[2];
};

/* The search's parameters and results. */
struct cm_conf {
	uint32_t w[2], k[2]; /* each side's data and control receives */
	uint8_t msgs[2];     /* data messages each side sends */
	uint32_t thresh[2];  /* 0: the engine's rule A threshold; else this one,
				so a test can show the search catching a bad rule */
};

struct cm_result {
	uint64_t states, edges, terminal;
	unsigned max_credits; /* standalone CREDITs along the worst complete run */
	int ok;
	char why[640];
};

/* Entry of the visited set. */
struct cm_node {
	struct cm_state st;
	uint8_t used, color; /* color: 1 grey (on the stack), 2 black (done) */
	uint16_t best;       /* most CREDITs from here to the end (black only) */
};

struct cm_search {
	const struct cm_conf *conf;
	struct cm_node *tab;
	size_t cap, n;
	struct cm_result *res;
};

static uint64_t cm_hash(const struct cm_state *st)
{
	const uint8_t *p = (const uint8_t *)st;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*st); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static size_t cm_find(struct cm_search *S, const struct cm_state *st, int *fresh);

static void cm_grow(struct cm_search *S)
{
	struct cm_node *old = S->tab;
	size_t oldcap = S->cap;
	int fresh;

	S->cap = oldcap ? oldcap * 2 : 1 << 10;
	S->tab = calloc(S->cap, sizeof(*S->tab));
	if (!S->tab)
		abort();
	S->n = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].used) {
			size_t j = cm_find(S, &old[i].st, &fresh);
			S->tab[j] = old[i];
		}
	}
	free(old);
}

/* Index of st, inserted (white) if new. Indices move when the table
 * grows, so callers look states up again rather than keep indices across
 * an insertion. */
static size_t cm_find(struct cm_search *S, const struct cm_state *st, int *fresh)
{
	size_t i;

	if ((S->n + 1) * 2 > S->cap)
		cm_grow(S);
	i = cm_hash(st) & (S->cap - 1);
	while (S->tab[i].used) {
		if (memcmp(&S->tab[i].st, st, sizeof(*st)) == 0) {
			*fresh = 0;
			return i;
		}
		i = (i + 1) & (S->cap - 1);
	}
	S->tab[i].used = 1;
	S->tab[i].st = *st;
	S->n++;
	*fresh = 1;
	return i;
}

static void cm_load(const struct cm_conf *cf, const struct cm_state *st, int i,
		    struct msgr__rdma_credits *c)
{
	const struct cm_side *s = &st->s[i];

	msgr__rdma_cr_init(c, cf->w[i], cf->k[i], cf->w[!i], cf->k[!i]);
	c->tx_data = s->tx_data;
	c->tx_ctrl = s->tx_ctrl;
	c->held_data = s->held_data;
	c->held_ctrl = s->held_ctrl;
	c->owe_data = s->owe_data;
	c->owe_ctrl = s->owe_ctrl;
	if (cf->thresh[i])
		c->thresh = cf->thresh[i];
}

static int cm_store(const struct msgr__rdma_credits *c, struct cm_side *s)
{
	/* Anything past 255 is past every window of the search: refuse it
	 * here rather than let the packing hide it. */
	if (c->tx_data > 255 || c->tx_ctrl > 255 || c->held_data > 255 || c->held_ctrl > 255 ||
	    c->owe_data > 255 || c->owe_ctrl > 255)
		return -1;
	s->tx_data = (uint8_t)c->tx_data;
	s->tx_ctrl = (uint8_t)c->tx_ctrl;
	s->held_data = (uint8_t)c->held_data;
	s->held_ctrl = (uint8_t)c->held_ctrl;
	s->owe_data = (uint8_t)c->owe_data;
	s->owe_ctrl = (uint8_t)c->owe_ctrl;
	return 0;
}

static void cm_describe(const struct cm_conf *cf, const struct cm_state *st, char *buf, size_t len)
{
	size_t o = 0;

	for (int i = 0; i < 2 && o < len; i++) {
		const struct cm_side *s = &st->s[i];
		o += (size_t)snprintf(buf + o, len - o,
				      "%c[W%u K%u tx %u/%u held %u/%u owe %u/%u fut %u q %u fly", 'A' + i,
				      cf->w[i], cf->k[i], s->tx_data, s->tx_ctrl, s->held_data,
				      s->held_ctrl, s->owe_data, s->owe_ctrl, s->future, s->queued);
		for (int j = 0; j < s->nq && o < len; j++)
			o += (size_t)snprintf(buf + o, len - o, " %c%u/%u",
					      s->q[j] >> 7 ? 'C' : 'D', (s->q[j] >> 3) & 15, s->q[j] & 7);
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "] ");
	}
}

static int cm_fail(struct cm_search *S, const struct cm_state *st, const char *what)
{
	char d[380];

	cm_describe(S->conf, st, d, sizeof(d));
	snprintf(S->res->why, sizeof(S->res->why), "%s in %s", what, d);
	S->res->ok = 0;
	return -1;
}

/* (a) for one state: windows, conservation, and receives for what flies. */
static int cm_check(struct cm_search *S, const struct cm_state *st)
{
	const struct cm_conf *cf = S->conf;

	for (int i = 0; i < 2; i++) {
		const struct cm_side *me = &st->s[i], *peer = &st->s[!i];
		unsigned fly_d = 0, fly_c = 0, ret_d = 0, ret_c = 0;

		if (me->tx_data > cf->w[!i] || me->tx_ctrl > cf->k[!i] || me->held_data > cf->w[i] ||
		    me->held_ctrl > cf->k[i] || me->owe_data > me->held_data ||
		    me->owe_ctrl > me->held_ctrl)
			return cm_fail(S, st, "a count past its window");
		for (int j = 0; j < me->nq; j++) {
			if (me->q[j] >> 7)
				fly_c++;
			else
				fly_d++;
		}
		for (int j = 0; j < peer->nq; j++) {
			ret_d += (peer->q[j] >> 3) & 15;
			ret_c += peer->q[j] & 7;
		}
		/* What i may send, what it has in flight, what the peer holds
		 * and what the peer's SENDs are bringing back: the peer's W. */
		if (me->tx_data + fly_d + peer->held_data + ret_d != cf->w[!i] ||
		    me->tx_ctrl + fly_c + peer->held_ctrl + ret_c != cf->k[!i])
			return cm_fail(S, st, "credits do not add up");
		/* The peer's receives posted: W + K less those it still holds
		 * unread. Each SEND in flight needs one: no RNR. */
		if (me->nq > cf->w[!i] + cf->k[!i] - (peer->held_data - peer->owe_data) -
				     (peer->held_ctrl - peer->owe_ctrl))
			return cm_fail(S, st, "a SEND in flight finds no receive (RNR)");
	}
	return 0;
}

/* Successor number k of st (0..7: side k/4, step k%4), into *out. 0 if
 * the step is possible, 1 if not, -1 on a violation. *credit is set when
 * the step posts a standalone CREDIT. */
static int cm_step(struct cm_search *S, const struct cm_state *st, int k, struct cm_state *out,
		   int *credit)
{
	const struct cm_conf *cf = S->conf;
	int i = k / 4;
	struct cm_side *me, *peer;
	struct msgr__rdma_credits c;
	struct msgr__rdma_hdr h;
	char err[128];

	*out = *st;
	*credit = 0;
	me = &out->s[i];
	peer = &out->s[!i];
	cm_load(cf, st, i, &c);
	switch (k % 4) {
	case 0: /* queue */
		if (!me->future)
			return 1;
		me->future--;
		me->queued++;
		return 0;
	case 1: /* pump */
		if (me->queued && msgr__rdma_cr_can_send(&c, MSGR__RDMA_DATA)) {
			msgr__rdma_cr_take(&c, MSGR__RDMA_DATA, &h);
			me->queued--;
		} else if (msgr__rdma_cr_want_credit(&c)) {
			if (!msgr__rdma_cr_can_send(&c, MSGR__RDMA_CREDIT))
				return cm_fail(S, st, "want_credit without a control credit");
			msgr__rdma_cr_take(&c, MSGR__RDMA_CREDIT, &h);
			*credit = 1;
		} else {
			return 1;
		}
		if (me->nq == CM_QMAX || h.data_ret > 15 || h.ctrl_ret > 7)
			return cm_fail(S, st, "the model's packing overflowed");
		me->q[me->nq++] = (uint8_t)((h.type == MSGR__RDMA_CREDIT) << 7 | h.data_ret << 3 | h.ctrl_ret);
		break;
	case 2: /* repost: the core read a DATA receive */
		if (c.held_data == c.owe_data)
			return 1;
		msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
		break;
	case 3: /* deliver the oldest SEND from the peer */
		if (!peer->nq)
			return 1;
		h.type = peer->q[0] >> 7 ? MSGR__RDMA_CREDIT : MSGR__RDMA_DATA;
		h.data_ret = (peer->q[0] >> 3) & 15;
		h.ctrl_ret = peer->q[0] & 7;
		memmove(peer->q, peer->q + 1, --peer->nq);
		peer->q[peer->nq] = 0;
		if (msgr__rdma_cr_on_recv(&c, &h, err, sizeof(err)) != 0)
			return cm_fail(S, st, err);
		if (h.type == MSGR__RDMA_CREDIT)
			msgr__rdma_cr_reposted(&c, MSGR__RDMA_CREDIT);
		break;
	}
	if (cm_store(&c, me) != 0)
		return cm_fail(S, st, "a count past 255");
	return cm_check(S, out) ? -1 : 0;
}

/* Frame of the explicit DFS stack. */
struct cm_frame {
	struct cm_state st;
	int next;       /* next successor to try */
	int last_cred;  /* the step to the child being explored posted a CREDIT */
	unsigned best;
};

static int cm_search(const struct cm_conf *cf, struct cm_result *res)
{
	struct cm_search S = { cf, NULL, 0, 0, res };
	struct cm_frame *stk = NULL;
	size_t sp = 0, scap = 0;
	struct cm_state init;
	size_t j0;
	int fresh, rc = -1;

	memset(res, 0, sizeof(*res));
	res->ok = 1;
	memset(&init, 0, sizeof(init));
	for (int i = 0; i < 2; i++) {
		init.s[i].tx_data = (uint8_t)cf->w[!i];
		init.s[i].tx_ctrl = (uint8_t)cf->k[!i];
		init.s[i].future = cf->msgs[i];
	}
	if (cm_check(&S, &init))
		goto out;
	j0 = cm_find(&S, &init, &fresh); /* first: cm_find may move S.tab */
	S.tab[j0].color = 1;
	scap = 1024;
	stk = malloc(scap * sizeof(*stk));
	if (!stk)
		abort();
	stk[sp++] = (struct cm_frame){ init, 0, 0, 0 };
	res->states = 1;
	while (sp) {
		struct cm_frame *f = &stk[sp - 1];
		struct cm_state nx;
		int credit, r, any = 0;

		if (f->next == 0) {
			/* (b): first visit; is any step possible? */
			for (int k = 0; k < 8 && !any; k++) {
				r = cm_step(&S, &f->st, k, &nx, &credit);
				if (r < 0)
					goto out;
				any = r == 0;
			}
			if (!any) {
				res->terminal++;
				for (int i = 0; i < 2; i++)
					if (f->st.s[i].future || f->st.s[i].queued) {
						cm_fail(&S, &f->st, "deadlock: stuck with data undelivered");
						goto out;
					}
			}
		}
		if (f->next == 8) {
			size_t j = cm_find(&S, &f->st, &fresh);
			unsigned best = f->best;

			S.tab[j].color = 2;
			S.tab[j].best = (uint16_t)best;
			if (--sp) {
				struct cm_frame *p = &stk[sp - 1];
				if (best + (unsigned)p->last_cred > p->best)
					p->best = best + (unsigned)p->last_cred;
			}
			continue;
		}
		r = cm_step(&S, &f->st, f->next++, &nx, &credit);
		if (r < 0)
			goto out;
		if (r)
			continue;
		res->edges++;
		size_t j = cm_find(&S, &nx, &fresh);
		if (fresh) {
			S.tab[j].color = 1;
			res->states++;
			f->last_cred = credit;
			if (sp == scap) {
				scap *= 2;
				stk = realloc(stk, scap * sizeof(*stk));
				if (!stk)
					abort();
				f = &stk[sp - 1];
			}
			stk[sp++] = (struct cm_frame){ nx, 0, 0, 0 };
		} else if (S.tab[j].color == 1) {
			/* (c): a grey successor closes a cycle */
			cm_fail(&S, &nx, "a cycle: CREDITs can go round forever");
			goto out;
		} else if (S.tab[j].best + (unsigned)credit > f->best) {
			f->best = S.tab[j].best + (unsigned)credit;
		}
	}
	j0 = cm_find(&S, &init, &fresh);
	res->max_credits = S.tab[j0].best;
	rc = 0;
out:
	free(stk);
	free(S.tab);
	return rc;
}

#endif
