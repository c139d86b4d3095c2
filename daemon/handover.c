#include "session_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/vec.h"
#include "rxacct.h"
#include "shm/segment.h"

static void step(struct msgr__session *s, enum msgr__session_event ev, struct msgr__link *l, int err);
static void held_release(struct msgr__session *s);

/* ---- dials ---- */

int msgr__session_dial(struct msgr__session *s)
{
	struct msgr__link *l;
	int err = msgr__link_dial(s->ss->ls, s->peer, msgr__session_lost_lookup(s->ss, s->peer), s, &l);

	if (err)
		return err;
	s->dial = l;
	s->nlinks++;
	step(s, MSGR__SE_LINK_NEW, l, 0);
	return 0;
}

struct msgr__session *msgr__session_get(struct msgr__sessions *ss, const char *peer, int *errp)
{
	struct msgr__session *s;
	int err;

	*errp = -ENOMEM;
	s = msgr__session_find(ss, peer);
	if (!s && !(s = msgr__session_new(ss, peer)))
		return NULL;
	if (s->active || s->dial)
		return s;
	err = msgr__session_dial(s);
	if (!err)
		return s;
	/* Refused before any packet left (not a numeric HOST:PORT, no
	 * route): nothing will ever answer, so say so now. An inbound link
	 * still in its handshake may yet bring the session up. */
	msgr__info("session %s: dial: %s", peer, strerror(-err));
	snprintf(s->last_error, sizeof(s->last_error), "dial: %s", strerror(-err));
	if (s->nlinks)
		return s;
	*errp = err;
	msgr__session_maybe_free(s);
	return NULL;
}

/* ---- hand-over: frames held behind a drain ---- */

/* Whether l's channel frames wait: the peer's earlier ones are still
 * coming on a link we drain. */
static int held_back(const struct msgr__session *s, const struct msgr__link *l)
{
	return s->drain && s->drain != l;
}

/* Keep a channel frame (or the loss of one) from l until the drain is done. */
static int held_add(struct msgr__session *s, struct msgr__link *l, int kind, int err,
		    const struct msgr__frame_hdr *h, const void *payload, void *big)
{
	struct held *x;
	uint64_t cap = (64u << 20) + s->ss->conf->max_message;

	if (kind == HELD_FRAME && s->held_bytes + h->len > cap) {
		/* a hand-over lasts a round trip; a peer that sends this much
		 * meanwhile is flooding us */
		free(big);
		return -ENOBUFS;
	}
	if (!(x = malloc(sizeof(*x)))) {
		free(big);
		return -ENOMEM;
	}
	x->next = NULL;
	x->from = l;
	x->kind = kind;
	x->err = err;
	x->h = *h;
	x->payload = big;
	if (kind == HELD_FRAME && !big && h->len) {
		if (!(x->payload = malloc(h->len))) {
			free(x);
			return -ENOMEM;
		}
		memcpy(x->payload, payload, h->len);
	}
	if (kind == HELD_FRAME)
		s->held_bytes += h->len;
	if (!s->held)
		s->held_tail = &s->held;
	*s->held_tail = x;
	s->held_tail = &x->next;
	return 0;
}

/* l is going: what it sent and we held is part of its fault. */
static void held_drop(struct msgr__session *s, struct msgr__link *l)
{
	for (struct held *x = s->held; x; x = x->next)
		if (x->from == l)
			x->from = NULL;
}

static void held_release(struct msgr__session *s)
{
	struct msgr__sessions *ss = s->ss;
	struct held *x;

	s->busy++;
	while ((x = s->held)) {
		int big = x->kind == HELD_FRAME && x->h.type == MSGR__F_MSG;
		s->held = x->next;
		if (x->kind == HELD_FRAME)
			s->held_bytes -= x->h.len;
		if (!x->from || msgr__link_state(x->from) >= MSGR__LINK_CLOSING)
			big = 0; /* dropped with its link's fault: free it here */
		else if (x->kind == HELD_LOST)
			ss->ev->frame_lost(ss->ctx, s, x->h.channel, x->err);
		else if (ss->ev->frame(ss->ctx, s, &x->h, x->payload, big ? x->payload : NULL) < 0)
			msgr__link_close(x->from, -EPROTO, "malformed channel frame");
		if (!big)
			free(x->payload);
		free(x);
	}
	s->busy--;
	msgr__session_maybe_free(s);
}

/* ---- links of the session ---- */

/* Another up link of the session, other than l, or NULL. */
static struct msgr__link *spare_link(struct msgr__session *s, const struct msgr__link *l)
{
	for (struct msgr__link *o = msgr__links_first(s->ss->ls); o; o = msgr__link_next_of(o))
		if (o != l && msgr__link_owner(o) == s && msgr__link_state(o) == MSGR__LINK_UP)
			return o;
	return NULL;
}

/* Whether the session has a link besides l that is or may become up. */
static int other_live(struct msgr__session *s, const struct msgr__link *l)
{
	for (struct msgr__link *o = msgr__links_first(s->ss->ls); o; o = msgr__link_next_of(o))
		if (o != l && msgr__link_owner(o) == s && msgr__link_state(o) <= MSGR__LINK_UP)
			return 1;
	return 0;
}

/* The session lost what was in flight: lossy channels end here, and what
 * waited for a link is dropped. notify: a link to the peer survives, so
 * tell it too (RESET per channel, queued for the next active link); without
 * one the peer sees the fault itself. */
static void session_down(struct msgr__session *s, int err, int how)
{
	struct msgr__sessions *ss = s->ss;
	struct msgr__sess_chan *all = NULL, *unheard = NULL, *sc;

	s->busy++;
	/* A link still draining carries frames the peer sent before anything a
	 * later link will bring. Taken in after the loss, they would come
	 * between the next link's (nothing holds those back once the drain is
	 * over), and the peer's order is lost: a resume round split by a
	 * newer one judges channels by stale entries. What it still holds is
	 * lost with the rest (the resume sends it again), so it goes too. */
	if (s->drain && msgr__link_state(s->drain) < MSGR__LINK_CLOSING)
		msgr__link_close(s->drain, -ECONNRESET, "drained: the link kept in its stead went");
	free(s->pending.p);
	memset(&s->pending, 0, sizeof(s->pending));
	/* a resume round cut off by the loss is void: the next starts afresh */
	s->round++;
	s->downs++;
	/* Every channel out of the table first, then each told: one that goes
	 * on (lossless, peer) adds itself back, and none can make this loop
	 * spin by failing to leave. */
	while ((sc = s->all)) {
		int waited = msgr__session_chan_unlink(s, sc);

		sc->hnext = waited ? unheard : all;
		*(waited ? &unheard : &all) = sc;
	}
	while ((sc = all)) {
		all = sc->hnext;
		ss->ev->chan_lost(ss->ctx, s, sc, err, how, 0);
	}
	/* The peer never heard of a channel whose OPEN still waited: there is
	 * nothing to tell it, and a RESET would come without the OPEN it
	 * belongs to. A kept one stays unheard of (closed, it sends nothing)
	 * until its resume finds the peer without it and its OPEN goes
	 * (after a restart of the peer, it fails). */
	while ((sc = unheard)) {
		unheard = sc->hnext;
		ss->ev->chan_lost(ss->ctx, s, sc, err, how == MSGR__LOST_NOTIFY ? MSGR__LOST_PLAIN : how, 1);
	}
	/* frames held behind a drain came on the link that survives: take
	 * them in now, against the new state (their channels are gone, and a
	 * frame for a channel that is gone gets a RESET back) */
	s->drain = NULL;
	held_release(s);
	s->busy--;
	msgr__session_maybe_free(s);
}

/* The backlog peak of the active link, kept as it stops being active. */
static void keep_peak(struct msgr__session *s)
{
	size_t peak = s->active ? msgr__link_backlog_peak(s->active) : 0;

	if (peak > s->backlog_peak)
		s->backlog_peak = peak;
}

/* Frames go out on l from now on, starting with what waited for a link;
 * after a loss (anything but an orderly hand-over), kept channels resume. */
static void activate(struct msgr__session *s, struct msgr__link *l, int after_loss)
{
	const struct msgr__link_info *in = msgr__link_info(l);

	keep_peak(s);
	s->active = l;
	s->peer_max_msg = in->peer_max_msg;
	s->peer_window = in->peer_window;
	s->links_up++;
	msgr__info("session %s: link up (%s, %s)", s->peer, in->outbound ? "dialled" : "accepted",
		   in->remote);
	/* it leaves as l drains, as frames made while a link is full do, so
	 * the opens of many channels made while no link was up do not all
	 * land on it at once */
	msgr__session_paced_adopt(s);
	msgr__session_opens_send(s, 1);
	msgr__session_link_came(s);
	if (after_loss)
		s->ss->ev->resumed(s->ss->ctx, s);
	s->ss->schedule(s->ss->sctx);
}

/*
 * Move s by ev (msgr__session_next decides) and run the actions, in the
 * order session_state.h lists them. l is the link the event is about (the
 * new one, or the one that went); err why channels end.
 */
static void step(struct msgr__session *s, enum msgr__session_event ev, struct msgr__link *l, int err)
{
	struct msgr__session_step st = msgr__session_next(s->state, ev);
	struct msgr__link *old = s->active;
	unsigned a = st.actions;

	s->state = st.next;
	s->busy++;
	if (a & MSGR__SA_DROP_ACTIVE) {
		/* frames that waited for it to drain now wait for the next
		 * link, as those made from here on do (pending): an orderly
		 * move (the peer closed it in order) sends them on the next,
		 * after what the old one carried; a loss (SA_DOWN below)
		 * drops them with pending */
		msgr__session_paced_park(s);
		keep_peak(s);
		s->active = NULL;
	}
	if (a & MSGR__SA_CLOSE_OLD)
		msgr__link_close(old, -ECONNRESET, "the peer lost it and dialled again");
	if (a & MSGR__SA_CLOSE_OTHERS)
		for (struct msgr__link *o = msgr__links_first(s->ss->ls); o; o = msgr__link_next_of(o))
			if (o != l && msgr__link_owner(o) == s && msgr__link_state(o) < MSGR__LINK_CLOSING)
				msgr__link_close(o, -ECONNRESET, "superseded by a new instance of the peer");
	if (a & MSGR__SA_CLOSE_NEW)
		msgr__link_close(l, -EBUSY, "a third link while two are being sorted out");
	if (a & MSGR__SA_RACE) {
		s->races++;
		s->ss->stats->races++;
		if (s->lower)
			msgr__info("session %s: a second link (race); keeping the %s one, draining the other",
				   s->peer, msgr__link_info(old)->outbound ? "dialled" : "accepted");
		else
			msgr__info("session %s: a second link (race); the peer decides", s->peer);
	}
	if (a & MSGR__SA_DRAIN_NEW) {
		s->drain = l;
		msgr__link_drain(l);
	}
	if (a & MSGR__SA_DOWN) {
		session_down(s, err, ev == MSGR__SE_UP_RESTART ? MSGR__LOST_RESTART
				     : a & MSGR__SA_NOTIFY ? MSGR__LOST_NOTIFY : MSGR__LOST_PLAIN);
		/* a link stays (a drained one died): kept channels resume on it */
		if (s->active && !(a & (MSGR__SA_ACTIVATE | MSGR__SA_ACTIVATE_SPARE)))
			s->ss->ev->resumed(s->ss->ctx, s);
	}
	if (a & MSGR__SA_RELEASE) {
		s->drain = NULL;
		held_release(s);
	}
	if (a & MSGR__SA_ACTIVATE)
		activate(s, l, s->downs > 0); /* a first link that follows no loss settles nothing */
	if (a & MSGR__SA_ACTIVATE_SPARE) {
		/* session_down closes only a draining link, never an up spare,
		 * so the spare is still there */
		struct msgr__link *spare = spare_link(s, old);
		if (spare)
			activate(s, spare, ev != MSGR__SE_MOVE_SPARE);
	}
	s->busy--;
	msgr__session_maybe_free(s);
}

/* The active link l stopped carrying frames (it failed, or we close it for
 * any reason but a hand-over): what was in flight on it is lost, so lossy
 * channels end on both sides, and another up link, if there is one,
 * carries on. */
static void active_lost(struct msgr__session *s, struct msgr__link *l, int err)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s", strerror(-err));
	step(s, spare_link(s, l) ? MSGR__SE_LOST_SPARE
		: other_live(s, l) ? MSGR__SE_LOST_WAIT : MSGR__SE_LOST_ALL, l, err);
}

/* ---- what the link layer tells ---- */

static int on_named(void *ctx, struct msgr__link *l, const char *listen)
{
	struct msgr__sessions *ss = ctx;
	struct msgr__session *s = msgr__session_find(ss, listen);

	if (!s && !(s = msgr__session_new(ss, listen)))
		return -ENOMEM;
	msgr__link_set_owner(l, s);
	s->nlinks++;
	step(s, MSGR__SE_LINK_NEW, l, 0);
	return 0;
}

/*
 * A link of the session came up (docs/PROTOCOL.md, section 3.4). The daemon
 * with the lower listen address decides a race, so both agree without a
 * rule they could evaluate differently: it keeps the link it already sends
 * on, and drains the other. The higher daemon keeps sending on its own
 * first link until the lower one's CLOSE arrives on it, and only then
 * moves. Neither side ever sends on two links at once, and the lower side
 * takes nothing from the kept link until the drained one is finished, so
 * no frame is lost or overtaken.
 */
static void on_up(void *ctx, struct msgr__link *l)
{
	struct msgr__session *s = msgr__link_owner(l);
	const struct msgr__link_info *in = msgr__link_info(l);
	const struct msgr__link_info *old = s->active ? msgr__link_info(s->active) : NULL;
	enum msgr__session_event ev;

	if (s->dial == l)
		s->dial = NULL;
	if (s->peer_nonce && s->peer_nonce != in->peer_nonce) {
		msgr__notice("session %s: the peer daemon restarted", s->peer);
		ev = MSGR__SE_UP_RESTART;
	} else if (!old) {
		ev = MSGR__SE_UP_FIRST;
	} else if (old->outbound == in->outbound || (in->peer_lost && in->peer_lost == old->id)) {
		/* a daemon dials only without a link: the dialler has lost the
		 * old one, though we have not noticed yet */
		ev = MSGR__SE_UP_REPLACE;
	} else {
		ev = s->lower ? MSGR__SE_RACE_LOWER : MSGR__SE_RACE_HIGHER;
	}
	s->peer_nonce = in->peer_nonce;
	step(s, ev, l, -ECONNRESET);
}

static int on_frame(void *ctx, struct msgr__link *l, const struct msgr__frame_hdr *h,
		    const void *payload, void *big)
{
	struct msgr__sessions *ss = ctx;
	struct msgr__session *s = msgr__link_owner(l);

	if (held_back(s, l)) /* the peer's earlier frames are still coming on the drained link */
		return held_add(s, l, HELD_FRAME, 0, h, payload, big);
	return ss->ev->frame(ss->ctx, s, h, payload, big);
}

static void on_ahead(void *ctx, struct msgr__link *l, uint32_t next, uint32_t after)
{
	struct msgr__session *s = msgr__link_owner(l);

	if (s)
		msgr__session_chan_prefetch(s, next, after);
}

static int on_frame_lost(void *ctx, struct msgr__link *l, const struct msgr__frame_hdr *h, int err)
{
	struct msgr__sessions *ss = ctx;
	struct msgr__session *s = msgr__link_owner(l);

	if (held_back(s, l)) /* in its turn */
		return held_add(s, l, HELD_LOST, err, h, NULL, NULL);
	ss->ev->frame_lost(ss->ctx, s, h->channel, err);
	return 0;
}

/* The peer ends the link it sent on, in order. If it kept the other link of
 * a race (up here already, or still in its handshake), frames move there,
 * or wait for it. */
static void on_peer_left(void *ctx, struct msgr__link *l)
{
	struct msgr__session *s = msgr__link_owner(l);

	if (!s || s->active != l || !other_live(s, l))
		return;
	msgr__info("session %s: the peer kept the other link; moving there", s->peer);
	step(s, spare_link(s, l) ? MSGR__SE_MOVE_SPARE : MSGR__SE_MOVE_WAIT, l, 0);
}

static void on_drained(void *ctx, struct msgr__link *l)
{
	struct msgr__session *s = msgr__link_owner(l);

	if (s && s->drain == l)
		step(s, MSGR__SE_DRAIN_DONE, l, 0);
}

static void on_closing(void *ctx, struct msgr__link *l, int err, const char *why)
{
	struct msgr__session *s = msgr__link_owner(l);

	if (!s)
		return;
	if (!msgr__link_was_up(l))
		snprintf(s->last_error, sizeof(s->last_error), "%s", why);
	if (s->active == l)
		active_lost(s, l, err ? err : -ECONNRESET);
}

/* The transport is done with l. If it carried the session's frames, that is
 * a link fault: lossy channels reset (unless it was handed over in order).
 * A session with no link left goes. */
static void on_gone(void *ctx, struct msgr__link *l, int err, int was_up)
{
	struct msgr__sessions *ss = ctx;
	struct msgr__session *s = msgr__link_owner(l);

	if (!s)
		return;
	if (was_up && err)
		msgr__session_lost_record(ss, s->peer, msgr__link_info(l)->id);
	s->busy++; /* everything below may empty it: free it once, at the end */
	if (s->dial == l)
		s->dial = NULL;
	s->nlinks--;
	held_drop(s, l);
	if (!was_up)
		msgr__session_link_failed(s);
	if (s->drain == l)
		/* it died before the peer's CLOSE (which ends a drain) */
		step(s, MSGR__SE_DRAIN_LOST, l, err ? err : -ECONNRESET);
	if (s->active == l) {
		/* the transport saw it fail before we closed it */
		active_lost(s, l, err ? err : -ECONNRESET);
	} else if (!s->nlinks) {
		if (!was_up && err)
			snprintf(s->last_error, sizeof(s->last_error), "%s", strerror(-err));
		step(s, MSGR__SE_GONE_LAST, l, err ? err : -ECONNRESET);
	} else if (s->state == MSGR__SESS_RACING && !spare_link(s, s->active)) {
		step(s, MSGR__SE_SPARE_GONE, l, 0);
	}
	s->busy--;
	msgr__session_maybe_free(s);
}

static void on_batch_end(void *ctx)
{
	msgr__sessions_flush(ctx);
}

/* The active link took what it had: the next kept messages go now. */
static void on_room(void *ctx, struct msgr__link *l)
{
	struct msgr__session *s = msgr__link_owner(l);

	if (s && s->active == l) {
		msgr__session_room(s);
		msgr__link_flush(l);
	}
}

static void on_schedule(void *ctx)
{
	struct msgr__sessions *ss = ctx;

	ss->schedule(ss->sctx);
}

const struct msgr__link_events msgr__session_link_events = {
	.named = on_named,
	.up = on_up,
	.frame = on_frame,
	.ahead = on_ahead,
	.frame_lost = on_frame_lost,
	.peer_left = on_peer_left,
	.drained = on_drained,
	.closing = on_closing,
	.gone = on_gone,
	.batch_end = on_batch_end,
	.room = on_room,
	.schedule = on_schedule,
};

/* ---- redials ---- */

static void on_redial(uv_timer_t *t)
{
	struct msgr__sessions *ss = t->data;
	uint64_t now = msgr__now_ns();
	int due = 0;

	for (struct msgr__session *s = ss->sessions, *next; s; s = next) {
		next = s->next;
		if (!s->redial_at_ns)
			continue;
		if (now < s->redial_at_ns) {
			due = 1;
			continue;
		}
		s->redial_at_ns = 0;
		if (s->active || s->dial || !s->want_link)
			continue;
		ss->stats->redials++;
		s->busy++;
		if (msgr__session_dial(s)) {
			s->busy--;
			msgr__session_link_failed(s); /* refused at once: later, then */
			due |= s->redial_at_ns != 0;
			continue;
		}
		s->busy--;
		msgr__session_maybe_free(s);
	}
	if (!due)
		uv_timer_stop(t);
}

/* The next redial of s, after its backoff; the backoff doubles up to
 * net.reconnect_backoff_max. */
static void redial_later(struct msgr__session *s)
{
	struct msgr__sessions *ss = s->ss;
	uint64_t lo = ss->conf->reconnect_backoff_min_ms, hi = ss->conf->reconnect_backoff_max_ms;

	if (s->redial_at_ns)
		return;
	s->redial_at_ns = msgr__now_ns() + s->backoff_ms * 1000000ull + 1;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : lo;
	if (s->backoff_ms < lo)
		s->backoff_ms = lo;
	if (s->backoff_ms > hi)
		s->backoff_ms = hi;
	if (!uv_is_active((uv_handle_t *)&ss->redial))
		uv_timer_start(&ss->redial, on_redial, 0, 20);
}

void msgr__session_need_link(struct msgr__session *s)
{
	s->want_link = 1;
	if (!s->active && !s->dial && !s->ss->stopping)
		redial_later(s);
}

void msgr__session_link_came(struct msgr__session *s)
{
	s->want_link = 0;
	s->redial_at_ns = 0;
	s->backoff_ms = 0;
}

void msgr__session_link_failed(struct msgr__session *s)
{
	if (s->want_link && !s->active && !s->dial && !s->ss->stopping)
		redial_later(s);
}
