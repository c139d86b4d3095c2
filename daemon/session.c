#include "session_int.h"

#include <assert.h>
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

/* ---- the table of sessions ---- */

static void on_clock(uv_timer_t *t)
{
	msgr__sessions_tick(t->data, msgr__now_ns());
	msgr__sessions_flush(t->data); /* what the deadlines queued */
}

struct msgr__session *msgr__session_find(struct msgr__sessions *ss, const char *peer)
{
	for (struct msgr__session *s = ss->sessions; s; s = s->next)
		if (!strcmp(s->peer, peer))
			return s;
	return NULL;
}

struct msgr__session *msgr__session_new(struct msgr__sessions *ss, const char *peer)
{
	struct msgr__session *s = calloc(1, sizeof(*s));

	/* the peer's account, with what it left waiting when it last went */
	if (!s || !(s->rx = msgr__rxacct_get(ss->rx_total, peer))) {
		free(s);
		return NULL;
	}
	s->ss = ss;
	s->state = MSGR__SESS_IDLE;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->lower = strcmp(ss->conf->listen, peer) < 0;
	s->created_ns = msgr__now_ns();
	for (int k = 0; k < MSGR__SESS_QUEUES; k++)
		s->q[k].tail = &s->q[k].head;
	s->nbuckets = CHAN_BUCKETS_MIN;
	if (!(s->chans = calloc(s->nbuckets, sizeof(*s->chans)))) {
		msgr__rxacct_release(s->rx, 0);
		free(s);
		return NULL;
	}
	crypto_shorthash_keygen(s->hkey);
	/* Channel ids start somewhere new in every incarnation of a session,
	 * so a late frame about a channel of the last one cannot name a
	 * channel of this one. */
	if (getrandom(&s->next_id, sizeof(s->next_id), 0) != sizeof(s->next_id))
		s->next_id = (uint32_t)s->created_ns;
	s->next_id &= (1u << 29) - 1;
	s->next = ss->sessions;
	ss->sessions = s;
	if (!uv_is_active((uv_handle_t *)&ss->clock))
		uv_timer_start(&ss->clock, on_clock, 1000, 1000);
	return s;
}

void msgr__session_maybe_free(struct msgr__session *s)
{
	struct msgr__session **pp;

	if (s->nlinks || s->nchans || s->busy)
		return;
	for (pp = &s->ss->sessions; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	if (!s->ss->sessions)
		uv_timer_stop(&s->ss->clock);
	while (s->held) {
		struct held *x = s->held;
		s->held = x->next;
		free(x->payload);
		free(x);
	}
	free(s->pending.p);
	free(s->paced.p);
	free(s->chans);
	msgr__rxacct_release(s->rx, 0);
	free(s);
}

uint64_t msgr__session_lost_lookup(const struct msgr__sessions *ss, const char *peer)
{
	for (unsigned i = 0; i < NLOST; i++)
		if (ss->lost[i].id && !strcmp(ss->lost[i].peer, peer))
			return ss->lost[i].id;
	return 0;
}

void msgr__session_lost_record(struct msgr__sessions *ss, const char *peer, uint64_t id)
{
	unsigned i;

	for (i = 0; i < NLOST; i++)
		if (!strcmp(ss->lost[i].peer, peer))
			break; /* one per peer: the latest */
	if (i == NLOST)
		i = ss->nlost++ % NLOST;
	snprintf(ss->lost[i].peer, sizeof(ss->lost[i].peer), "%s", peer);
	ss->lost[i].id = id;
}

const char *msgr__session_peer(const struct msgr__session *s)
{
	return s->peer;
}

enum msgr__session_state msgr__session_state(const struct msgr__session *s)
{
	return s->state;
}

uint64_t msgr__session_link_gen(const struct msgr__session *s)
{
	return s->links_up;
}

uint32_t msgr__session_peer_max(const struct msgr__session *s)
{
	return s->peer_max_msg;
}

uint64_t msgr__session_peer_window(const struct msgr__session *s)
{
	return s->peer_window;
}

struct msgr__rxacct *msgr__session_rxacct(struct msgr__session *s)
{
	return s->rx;
}

void msgr__session_send(struct msgr__session *s, uint8_t type, uint32_t channel, uint64_t seq,
			uint64_t ack, const struct iovec *parts, int nparts)
{
	struct msgr__frame_hdr h = { .type = type, .channel = channel, .seq = seq, .ack = ack };

	msgr__session_send_hdr(s, &h, parts, nparts);
}

/* After a frame went on l: a big turn's bytes handed to the transport
 * before the turn ends. */
static void sent_on(struct msgr__link *l)
{
	if (msgr__link_queued(l) >= FLUSH_EARLY)
		msgr__link_flush(l);
}

void msgr__session_send_hdr(struct msgr__session *s, const struct msgr__frame_hdr *h,
			    const struct iovec *parts, int nparts)
{
	struct msgr__link *l = s->active;

	if (l && !s->ss->stopping &&
	    (s->paced.len || (h->type != MSGR__F_MSG && msgr__session_congested(s)))) {
		/* Messages wait in their channels for room (the pump); any
		 * other frame waits here, so a burst of opens or resets (10,000
		 * channels of a client that went) cannot pile up on the link
		 * ahead of every channel's next message. */
		size_t since = s->paced_off > s->paced_inherited ? s->paced_off : s->paced_inherited;

		if (s->paced.len - since >= MSGR__PACED_MAX * s->ss->conf->send_backlog) {
			/* answers to what it sends (OPEN_OK, RESET) would pile
			 * up for ever if it reads less than it writes */
			if (msgr__link_fail(l, -ENOBUFS, "the peer reads too little: frames owed to "
					    "it passed 256 times net.send_backlog"))
				s->ss->stats->unread++;
			return;
		}
		if (msgr__frames_put(&s->paced, h, parts, nparts))
			msgr__err("session %s: out of memory: a frame for channel %u is lost", s->peer,
				  h->channel);
		return; /* it goes when the link drains (on_room) */
	}
	if (l) {
		msgr__link_send(l, h, parts, nparts);
		sent_on(l);
	} else if (msgr__frames_put(&s->pending, h, parts, nparts)) {
		msgr__err("session %s: out of memory: a frame for channel %u is lost", s->peer, h->channel);
		return;
	}
	s->ss->schedule(s->ss->sctx); /* the turn's end flushes it */
}

int msgr__session_congested(const struct msgr__session *s)
{
	return s->active && msgr__link_backlog(s->active) >= s->ss->conf->send_backlog;
}

static void paced_clear(struct msgr__session *s)
{
	free(s->paced.p);
	memset(&s->paced, 0, sizeof(s->paced));
	s->paced_off = 0;
	s->paced_inherited = 0;
}

/* What waited in paced, frame by frame onto the active link while it has
 * room. 1 if all went. */
static int paced_drain(struct msgr__session *s)
{
	struct msgr__link *l = s->active;

	while (s->paced_off < s->paced.len && !msgr__session_congested(s)) {
		/* msgr__frames_put encoded them: the headers are sound */
		const uint8_t *f = s->paced.p + s->paced_off;
		size_t n = msgr__frame_wire_len((size_t)msgr__get_uint(f + 24, 4), 0);

		msgr__link_send_frames(l, f, n);
		sent_on(l);
		s->paced_off += n;
	}
	if (s->paced_off == s->paced.len) {
		paced_clear(s);
		return 1;
	}
	if (s->paced_off >= s->paced.len / 2) {
		/* what went is given back, so a queue that never quite
		 * empties holds at most twice what waits in it */
		memmove(s->paced.p, s->paced.p + s->paced_off, s->paced.len - s->paced_off);
		s->paced.len -= s->paced_off;
		s->paced_inherited = s->paced_inherited > s->paced_off ? s->paced_inherited - s->paced_off : 0;
		s->paced_off = 0;
	}
	return 0;
}

/* On stop: all of it on l, which closes gracefully, sending it. */
static void paced_send_all(struct msgr__session *s, struct msgr__link *l)
{
	if (s->paced_off < s->paced.len)
		msgr__link_send_frames(l, s->paced.p + s->paced_off, s->paced.len - s->paced_off);
	paced_clear(s);
}

/* b := (a's bytes from off on) + b; a is left alone. 0 or -ENOMEM. */
static int fbuf_prepend(struct msgr__fbuf *b, const struct msgr__fbuf *a, size_t off)
{
	size_t n = a->len - off;
	uint8_t *p;

	if (!n)
		return 0;
	p = malloc(n + b->len);
	if (!p)
		return -ENOMEM;
	memcpy(p, a->p + off, n);
	if (b->len)
		memcpy(p + n, b->p, b->len);
	free(b->p);
	b->p = p;
	b->len = b->cap = n + b->len;
	return 0;
}

void msgr__session_paced_park(struct msgr__session *s)
{
	if (fbuf_prepend(&s->pending, &s->paced, s->paced_off))
		msgr__err("session %s: out of memory: %zu bytes of frames for the peer are lost", s->peer,
			  s->paced.len - s->paced_off);
	paced_clear(s);
}

void msgr__session_paced_adopt(struct msgr__session *s)
{
	if (!s->pending.len)
		return;
	msgr__session_paced_park(s); /* (paced is empty here: park emptied it) */
	s->paced = s->pending;
	s->paced_inherited = s->paced.len;
	memset(&s->pending, 0, sizeof(s->pending));
}

/* ---- channel table ---- */

uint32_t msgr__session_chan_id(struct msgr__session *s)
{
	uint32_t id;

	do {
		s->next_id++;
		id = s->next_id * 2 + (s->lower ? 0 : 1);
	} while (id < 2 || msgr__session_chan_find(s, id));
	return id;
}

int msgr__session_chan_theirs(const struct msgr__session *s, uint32_t id)
{
	return id >= 2 && (id & 1) == (s->lower ? 1u : 0u);
}

/* Half the ids are the peer's choice, so a chain is picked by SipHash
 * (libsodium's crypto_shorthash) under a key of this session's own, not
 * by the id's bits: a peer that cannot learn the key cannot aim its ids at
 * one chain. The table doubles when it holds more channels than buckets,
 * so chains stay short at any count; it never shrinks while the session
 * lasts (10,000 channels: 16,384 buckets, 128 KiB). */
static uint32_t chan_bucket(const struct msgr__session *s, uint32_t id)
{
	unsigned char in[4], out[crypto_shorthash_BYTES];

	msgr__put_uint(in, id, 4);
	crypto_shorthash(out, in, sizeof(in), s->hkey);
	return (uint32_t)msgr__get_uint(out, 4) & (s->nbuckets - 1);
}

struct msgr__sess_chan *msgr__session_chan_find(struct msgr__session *s, uint32_t id)
{
	for (struct msgr__sess_chan *sc = s->chans[chan_bucket(s, id)]; sc; sc = sc->hnext)
		if (sc->id == id)
			return sc;
	return NULL;
}

void msgr__session_chan_find_many(struct msgr__session *s, const uint32_t *ids, unsigned n,
				  struct msgr__sess_chan **out)
{
	struct msgr__sess_chan **b[MSGR__FIND_MANY];

	assert(n <= MSGR__FIND_MANY);
	for (unsigned i = 0; i < n; i++) {
		b[i] = &s->chans[chan_bucket(s, ids[i])];
		__builtin_prefetch(b[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if ((out[i] = *b[i]))
			__builtin_prefetch(out[i]);
	for (unsigned i = 0; i < n; i++)
		while (out[i] && out[i]->id != ids[i])
			out[i] = out[i]->hnext;
}

void msgr__session_chan_prefetch(struct msgr__session *s, uint32_t next, uint32_t after)
{
	struct msgr__sess_chan *sc;

	if (after)
		__builtin_prefetch(&s->chans[chan_bucket(s, after)]);
	if (next && (sc = s->chans[chan_bucket(s, next)]))
		__builtin_prefetch(sc);
}

/* Twice the buckets. Out of memory: the chains grow longer instead. */
static void chans_grow(struct msgr__session *s)
{
	struct msgr__sess_chan **old = s->chans;
	uint32_t n = s->nbuckets;

	if (n >= (1u << 30) || !(s->chans = calloc((size_t)n * 2, sizeof(*s->chans)))) {
		s->chans = old;
		return;
	}
	s->nbuckets = n * 2;
	for (uint32_t b = 0; b < n; b++)
		for (struct msgr__sess_chan *sc = old[b], *next; sc; sc = next) {
			uint32_t nb = chan_bucket(s, sc->id);
			next = sc->hnext;
			sc->hnext = s->chans[nb];
			s->chans[nb] = sc;
		}
	free(old);
}

void msgr__session_chan_add(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	uint32_t b;

	if (s->nchans >= s->nbuckets)
		chans_grow(s);
	b = chan_bucket(s, sc->id);
	sc->hnext = s->chans[b];
	s->chans[b] = sc;
	sc->lnext = s->all;
	sc->lprev = &s->all;
	if (s->all)
		s->all->lprev = &sc->lnext;
	s->all = sc;
	s->nchans++;
}

static uint32_t chan_chain_max(const struct msgr__session *s)
{
	uint32_t most = 0;

	for (uint32_t b = 0; b < s->nbuckets; b++) {
		uint32_t n = 0;
		for (const struct msgr__sess_chan *sc = s->chans[b]; sc; sc = sc->hnext)
			n++;
		if (n > most)
			most = n;
	}
	return most;
}

/* ---- pacing: kept messages leave as the active link takes them ---- */

static void q_del(struct msgr__session *s, int k, struct msgr__sess_chan *sc)
{
	if (!sc->q[k].prev)
		return;
	*sc->q[k].prev = sc->q[k].next;
	if (sc->q[k].next)
		sc->q[k].next->q[k].prev = sc->q[k].prev;
	else
		s->q[k].tail = sc->q[k].prev;
	sc->q[k].next = NULL;
	sc->q[k].prev = NULL;
	s->q[k].n--;
}

static void q_add(struct msgr__session *s, int k, struct msgr__sess_chan *sc)
{
	if (sc->q[k].prev)
		return;
	sc->q[k].next = NULL;
	sc->q[k].prev = s->q[k].tail;
	*s->q[k].tail = sc;
	s->q[k].tail = &sc->q[k].next;
	s->q[k].n++;
	s->ss->schedule(s->ss->sctx);
}

/* The first of queue k, taken off it; NULL if it is empty. */
static struct msgr__sess_chan *q_pop(struct msgr__session *s, int k)
{
	struct msgr__sess_chan *sc = s->q[k].head;

	if (sc)
		q_del(s, k, sc);
	return sc;
}

void msgr__session_chan_ready(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	q_add(s, MSGR__SQ_READY, sc);
}

int msgr__session_open_would_wait(const struct msgr__session *s)
{
	/* (as msgr__session_send_hdr decides for a frame that is not a MSG) */
	return !s->active || s->q[MSGR__SQ_OPEN].head ||
	       (!s->ss->stopping && (s->paced.len || msgr__session_congested(s)));
}

int msgr__session_queue_full(const struct msgr__session *s)
{
	return s->pending.len + (s->paced.len - s->paced_off) >=
	       (uint64_t)MSGR__PACED_MAX / 2 * s->ss->conf->send_backlog;
}

void msgr__session_open_later(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	q_add(s, MSGR__SQ_OPEN, sc);
}

int msgr__session_open_unmark(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	int on = sc->q[MSGR__SQ_OPEN].prev != NULL;

	q_del(s, MSGR__SQ_OPEN, sc);
	return on;
}

void msgr__session_opens_send(struct msgr__session *s, int all)
{
	struct msgr__sess_chan *sc;

	while (s->q[MSGR__SQ_OPEN].head && (all || !msgr__session_congested(s))) {
		sc = q_pop(s, MSGR__SQ_OPEN);
		s->ss->ev->open(s->ss->ctx, s, sc);
		/* opens made while no link was up are no more the peer's
		 * doing than what waited in pending: none counts against
		 * MSGR__PACED_MAX, the next one's check included */
		if (all)
			s->paced_inherited = s->paced.len;
	}
}

/* A few messages of each ready channel in turn (the callee's budget), so a
 * replay of many windows after a fault neither copies them all before the
 * first byte leaves nor starves the channels behind the first; what waited
 * in paced goes before them. */
static void pump(struct msgr__session *s)
{
	if (!paced_drain(s))
		return;
	/* a channel's messages go after its OPEN */
	msgr__session_opens_send(s, 0);
	/* (a turn's frame that had to wait, a RESET, puts what follows behind it) */
	while (!s->paced.len && !s->q[MSGR__SQ_OPEN].head && s->q[MSGR__SQ_READY].head &&
	       !msgr__session_congested(s)) {
		struct msgr__sess_chan *sc = q_pop(s, MSGR__SQ_READY);
		if (s->ss->ev->pump(s->ss->ctx, s, sc, s->q[MSGR__SQ_READY].head))
			msgr__session_chan_ready(s, sc);
	}
}

int msgr__session_chan_unlink(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	int waited = sc->q[MSGR__SQ_OPEN].prev != NULL;

	for (int k = 0; k < MSGR__SESS_QUEUES; k++)
		q_del(s, k, sc);
	for (struct msgr__sess_chan **pp = &s->chans[chan_bucket(s, sc->id)]; *pp; pp = &(*pp)->hnext)
		if (*pp == sc) {
			*pp = sc->hnext;
			*sc->lprev = sc->lnext;
			if (sc->lnext)
				sc->lnext->lprev = sc->lprev;
			sc->lnext = NULL;
			sc->lprev = NULL;
			s->nchans--;
			break;
		}
	return waited;
}

void msgr__session_chan_del(struct msgr__session *s, struct msgr__sess_chan *sc)
{
	msgr__session_chan_unlink(s, sc); /* session_down takes it out before telling the channel */
	msgr__session_maybe_free(s);
}

void msgr__session_forget(struct msgr__session *s, uint32_t id, uint64_t cookie)
{
	struct msgr__sessions *ss = s->ss;

	s->recent[s->nrecent++ % NRECENT] = id;
	if (cookie) {
		unsigned i = ss->nkept++ % NKEPT;
		snprintf(ss->kept[i].peer, sizeof(ss->kept[i].peer), "%s", s->peer);
		ss->kept[i].id = id;
		ss->kept[i].cookie = cookie;
	}
}

int msgr__session_forgotten(const struct msgr__session *s, uint32_t id)
{
	for (unsigned i = 0; i < NRECENT; i++)
		if (s->recent[i] == id)
			return 1;
	return 0;
}

int msgr__session_forgotten_kept(const struct msgr__session *s, unsigned i, uint32_t *id,
				 uint64_t *cookie)
{
	const struct msgr__sessions *ss = s->ss;

	if (i >= NKEPT)
		return -ENOENT;
	*id = 0;
	*cookie = 0;
	if (ss->kept[i].cookie && !strcmp(ss->kept[i].peer, s->peer)) {
		*id = ss->kept[i].id;
		*cookie = ss->kept[i].cookie;
	}
	return 0;
}

uint64_t msgr__session_resume_round(const struct msgr__session *s)
{
	return s->round + 1;
}

int msgr__session_resume_answer(struct msgr__session *s, uint32_t id)
{
	if (s->answered == id)
		return 0;
	s->answered = id;
	return 1;
}

void msgr__session_resume_end(struct msgr__session *s)
{
	s->round++;
}

uint32_t msgr__session_resume_next_id(struct msgr__session *s)
{
	if (!++s->sent_rounds)
		s->sent_rounds = 1; /* 0 names no round */
	return s->sent_rounds;
}
struct msgr__sess_chan *msgr__session_chan_next(struct msgr__session *s,
						const struct msgr__sess_chan *prev)
{
	return prev ? prev->lnext : s->all;
}

void msgr__session_ack_later(struct msgr__session *s, struct msgr__sess_chan *sc, int urgent)
{
	s->ack_urgent |= urgent;
	q_add(s, MSGR__SQ_ACK, sc);
}

/* One ACK frame: n entries at p + 2. */
static void send_acks(struct msgr__session *s, uint8_t *p, unsigned n)
{
	struct iovec iov = { p, 2 + (size_t)n * MSGR__ACK_ENTRY };

	msgr__put_uint(p, n, 2);
	msgr__session_send(s, MSGR__F_ACK, 0, 0, 0, &iov, 1);
	s->ss->stats->acks_out++;
}

/* Every ack still owed after a pass, many to a frame: one frame per pass
 * instead of one per channel (and, at many channels, one per message). */
static void flush_acks(struct msgr__session *s)
{
	uint8_t p[2 + MSGR__ACK_MAX * MSGR__ACK_ENTRY];
	struct msgr__sess_chan *sc;
	unsigned n = 0;

	while ((sc = q_pop(s, MSGR__SQ_ACK))) {
		uint64_t ack = s->ss->ev->ack_due(s->ss->ctx, s, sc);
		uint8_t *e = p + 2 + (size_t)n * MSGR__ACK_ENTRY;

		if (!ack)
			continue;
		msgr__put_uint(e, sc->id, 4);
		msgr__put_uint(e + 4, ack, 8);
		if (++n == MSGR__ACK_MAX) {
			send_acks(s, p, n);
			n = 0;
		}
	}
	if (n)
		send_acks(s, p, n);
	s->ack_urgent = 0;
}

/* Whether the acks s owes go now: a frame leaves for the peer anyway (its
 * daemon wakes for that, and the ACK rides along), or a sender's window
 * runs low. Otherwise they wait for a reply to carry them, at most
 * MSGR__ACK_DELAY_MS (the acks timer). */
static int acks_now(const struct msgr__session *s)
{
	return s->ack_urgent || msgr__link_backlog(s->active) > 0;
}

/* Whether acks owed may be framed now: not while the link holds its share
 * or frames wait in paced; then they wait in their channels, one entry
 * each however many messages come meanwhile, until it drains. */
static int acks_may(const struct msgr__session *s)
{
	return s->q[MSGR__SQ_ACK].head && !s->paced.len && !msgr__session_congested(s);
}

/* What waits on s goes as far as its active link takes it: paced frames,
 * acks, channels' turns. Acks go before the turns, which would fill the
 * link and leave them behind for ever under a stream both ways, and after,
 * to ride with what the turns sent. 1 if acks wait for the acks timer. */
static int serve(struct msgr__session *s)
{
	if (acks_may(s) && acks_now(s))
		flush_acks(s);
	if (s->q[MSGR__SQ_READY].head || s->q[MSGR__SQ_OPEN].head || s->paced.len)
		pump(s);
	if (!acks_may(s))
		return 0;
	if (!acks_now(s))
		return 1;
	flush_acks(s);
	return 0;
}

static void on_acks(uv_timer_t *t)
{
	struct msgr__sessions *ss = t->data;

	for (struct msgr__session *s = ss->sessions; s; s = s->next)
		if (s->active && acks_may(s))
			flush_acks(s);
	msgr__links_flush(ss->ls);
}

void msgr__session_room(struct msgr__session *s)
{
	if (serve(s) && !uv_is_active((uv_handle_t *)&s->ss->acks))
		uv_timer_start(&s->ss->acks, on_acks, MSGR__ACK_DELAY_MS, 0);
}

/* ---- the layer ---- */

void msgr__sessions_stop(struct msgr__sessions *ss)
{
	ss->stopping = 1;
	/* what was delivered is acked before the links go, whatever they
	 * hold; they close gracefully, sending all of it */
	for (struct msgr__session *s = ss->sessions; s; s = s->next) {
		if (!s->active)
			continue;
		paced_send_all(s, s->active);
		if (s->q[MSGR__SQ_ACK].head)
			flush_acks(s);
	}
	msgr__links_flush(ss->ls);
	uv_timer_stop(&ss->redial);
	uv_timer_stop(&ss->clock);
	uv_timer_stop(&ss->acks);
}


struct msgr__sessions *msgr__sessions_new(uv_loop_t *loop, const struct msgr__net_conf *conf,
					  struct msgr__net_stats *stats,
					  void (*schedule)(void *), void *sctx)
{
	struct msgr__sessions *ss = calloc(1, sizeof(*ss));

	if (!ss || !(ss->rx_total = msgr__rxacct_total_new())) {
		free(ss);
		return NULL;
	}
	ss->conf = conf;
	ss->stats = stats;
	ss->schedule = schedule;
	ss->sctx = sctx;
	uv_timer_init(loop, &ss->redial); /* started by handover.c's redials */
	ss->redial.data = ss;
	uv_timer_init(loop, &ss->clock);
	ss->clock.data = ss;
	uv_timer_init(loop, &ss->acks);
	ss->acks.data = ss;
	return ss;
}

void msgr__sessions_set_links(struct msgr__sessions *ss, struct msgr__links *ls)
{
	ss->ls = ls;
}

void msgr__sessions_set_events(struct msgr__sessions *ss, const struct msgr__session_events *ev,
			       void *ctx)
{
	ss->ev = ev;
	ss->ctx = ctx;
}

void msgr__sessions_flush(struct msgr__sessions *ss)
{
	int held = 0;

	for (struct msgr__session *s = ss->sessions; s; s = s->next)
		if (s->active)
			held |= serve(s);
	/* the timer runs only while acks wait: a stopped one costs no wakeup */
	if (!held)
		uv_timer_stop(&ss->acks);
	else if (!uv_is_active((uv_handle_t *)&ss->acks))
		uv_timer_start(&ss->acks, on_acks, MSGR__ACK_DELAY_MS, 0);
	msgr__links_flush(ss->ls);
}

void msgr__sessions_tick(struct msgr__sessions *ss, uint64_t now)
{
	for (struct msgr__session *s = ss->sessions, *snext; s; s = snext) {
		snext = s->next;
		s->busy++;
		for (struct msgr__sess_chan *sc = s->all, *cnext; sc; sc = cnext) {
			cnext = sc->lnext;
			ss->ev->chan_tick(ss->ctx, s, sc, now);
		}
		s->busy--;
		msgr__session_maybe_free(s);
	}
}

struct msgr__link *msgr__sessions_active(struct msgr__sessions *ss, const char *peer)
{
	struct msgr__session *s = msgr__session_find(ss, peer);

	return s ? s->active : NULL;
}

struct json_object *msgr__sessions_json(struct msgr__sessions *ss)
{
	struct json_object *arr = json_object_new_array();
	uint64_t now = msgr__now_ns();

	for (struct msgr__session *s = ss->sessions; s; s = s->next) {
		struct json_object *o = json_object_new_object(), *links = json_object_new_array();
		size_t backlog = s->active ? msgr__link_backlog(s->active) : 0;
		size_t peak = s->active ? msgr__link_backlog_peak(s->active) : 0;

		if (peak < s->backlog_peak)
			peak = s->backlog_peak; /* a link active before it */
		json_object_object_add(o, "peer", json_object_new_string(s->peer));
		json_object_object_add(o, "state", json_object_new_string(msgr__session_state_name(s->state)));
		json_object_object_add(o, "channels", json_object_new_int64(s->nchans));
		json_object_object_add(o, "chan_chain_max",
				       json_object_new_int64(chan_chain_max(s)));
		json_object_object_add(o, "waiting_bytes", json_object_new_int64((int64_t)s->rx->bytes));
		json_object_object_add(o, "backlog_bytes", json_object_new_int64((int64_t)backlog));
		json_object_object_add(o, "backlog_peak_bytes", json_object_new_int64((int64_t)peak));
		json_object_object_add(o, "paced_bytes", json_object_new_int64((int64_t)(s->paced.len - s->paced_off)));
		json_object_object_add(o, "pending_bytes", json_object_new_int64((int64_t)s->pending.len));
		json_object_object_add(o, "opens_waiting", json_object_new_int64(s->q[MSGR__SQ_OPEN].n));
		json_object_object_add(o, "links_up", json_object_new_int64((int64_t)s->links_up));
		json_object_object_add(o, "races", json_object_new_int64((int64_t)s->races));
		json_object_object_add(o, "age_s", json_object_new_double((now - s->created_ns) / 1e9));
		json_object_object_add(o, "last_error", json_object_new_string(s->last_error));
		for (struct msgr__link *l = msgr__links_first(ss->ls); l; l = msgr__link_next_of(l))
			if (msgr__link_owner(l) == s)
				json_object_array_add(links, msgr__link_json(l, s->active == l));
		json_object_object_add(o, "links", links);
		json_object_array_add(arr, o);
	}
	return arr;
}

/* The second of the two timers to close frees the layer. */
static void on_timer_closed(uv_handle_t *h)
{
	struct msgr__sessions *ss = h->data;

	if (++ss->closed == 3)
		free(ss);
}

void msgr__sessions_free(struct msgr__sessions *ss)
{
	msgr__rxacct_release(ss->rx_total, 0); /* outlives us while messages wait */
	uv_close((uv_handle_t *)&ss->redial, on_timer_closed);
	uv_close((uv_handle_t *)&ss->clock, on_timer_closed);
	uv_close((uv_handle_t *)&ss->acks, on_timer_closed);
}
