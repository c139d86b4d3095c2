#include "channel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/log.h"
#include "common/vec.h"
#include "msgr.h"
#include "rxacct.h"
#include "shm/pool.h"
#include "shm/segment.h"

/* The channel behind a session's table entry. */
static struct msgr__channel *of_sc(struct msgr__sess_chan *sc)
{
	return sc ? (struct msgr__channel *)((char *)sc - offsetof(struct msgr__channel, sc)) : NULL;
}

static int wire_errno(const uint8_t *p, uint32_t len, int fallback)
{
	int32_t e;

	if (len < 4)
		return fallback;
	e = (int32_t)msgr__get_uint(p, 4);
	return e < 0 && e > -4096 ? e : fallback;
}

static int on_open(struct msgr__chans *cs, struct msgr__session *s, const struct msgr__frame_hdr *h,
		   const uint8_t *p)
{
	char src[MSGR__ENTITY_MAX], dst[MSGR__ENTITY_MAX], addr[MSGR__ADDR_MAX];
	struct msgr__rd r = { p, h->len, 0 };
	uint16_t mode = (uint16_t)msgr__rd_uint(&r, 1);
	uint64_t nonce = msgr__rd_uint(&r, 8);
	struct msgr__channel *ch;
	struct msgr__chan_end *acc;
	const char *why = "out of memory";
	uint8_t ok[8];
	int err = -ENOMEM;

	uint64_t cookie;

	msgr__rd_str(&r, src, sizeof(src));
	msgr__rd_str(&r, dst, sizeof(dst));
	cookie = msgr__rd_uint(&r, 8);
	if (r.bad || r.n)
		return -EPROTO;
	if (mode < MSGR_LOSSY || mode > MSGR_PEER || msgr__entity_check(src) ||
	    msgr__entity_check(dst) || !msgr__session_chan_theirs(s, h->channel) || !cookie)
		return -EPROTO;
	ch = of_sc(msgr__session_chan_find(s, h->channel));
	if (ch) {
		/* An OPEN sent again after a fault: the channel is ours
		 * already, and its application has had its ACCEPTED. The
		 * resume that came first settled it; nothing to do. */
		return ch->cookie == cookie && ch->peer_nonce == nonce ? 0 : -EPROTO;
	}
	ch = msgr__channel_new(cs, mode, msgr__now_ns(), MSGR__CHAN_OPEN);
	if (!ch)
		return -ENOMEM;
	ch->sess = s;
	ch->sc.id = h->channel;
	ch->peer_nonce = nonce;
	ch->cookie = cookie;
	ch->accepted = 1;
	ch->retain = msgr__channel_retains(mode);
	msgr__session_chan_add(s, &ch->sc);
	snprintf(addr, sizeof(addr), "%s/%s", msgr__session_peer(s), src);
	acc = cs->ev->accept(cs->ctx, dst, mode, addr, &err, &why);
	if (!acc) {
		msgr__debug("session %s: OPEN %u from %s for %s refused: %s", msgr__session_peer(s),
			    h->channel, src, dst, why);
		msgr__channel_wire_err(ch, MSGR__F_OPEN_FAIL, err, why);
		msgr__channel_free(ch);
		return 0;
	}
	ch->end[0] = acc;
	acc->ch = ch;
	msgr__put_uint(ok, acc->owner->nonce, 8);
	msgr__channel_wire(ch, MSGR__F_OPEN_OK, 0, ok, 8);
	msgr__debug("channel %s -> %s open (remote, mode %u)", addr, acc->owner->addr, mode);
	return 0;
}

/* The bytes a channel may hold here for its receiver: the sender's window
 * is the peer's setting (HELLO says which; a client keeps the one it
 * attached with, so the bound is generous). */

static uint64_t in_limit(const struct msgr__channel *ch)
{
	const struct msgr__net_conf *net = ch->cs->net;
	uint64_t limit = msgr__session_peer_window(ch->sess);

	if (limit < net->channel_window)
		limit = net->channel_window;
	limit *= 4;
	if (limit < (64u << 20))
		limit = 64u << 20;
	return limit + net->max_message;
}

static int take_msg(struct msgr__channel *ch, uint64_t seq, struct msgr__chan_msg *m);
static int on_fragment(struct msgr__channel *ch, const struct msgr__frame_hdr *h,
		       const uint8_t *payload, void *big);

/* Whether the session (and all peers) can hold n more bytes for local
 * applications; if not, ch is reset and the caller drops what it has. */
static int session_holds(struct msgr__channel *ch, uint64_t n)
{
	struct msgr__chans *cs = ch->cs;
	int err = msgr__rxacct_charge(msgr__session_rxacct(ch->sess), n, cs->conf->session_buffer,
				      cs->conf->receive_buffer);

	if (!err)
		return 1;
	msgr__warn("session %s: channel %u (%s): %s is full of messages %s that local "
		   "applications have not taken; resetting it", msgr__session_peer(ch->sess),
		   ch->sc.id, ch->end[0]->peer, err == -ENOBUFS ? "net.session_buffer" : "net.receive_buffer",
		   err == -ENOBUFS ? "from this peer" : "from all peers");
	cs->stats->window_overruns++;
	msgr__channel_reset(ch, -ENOBUFS);
	return 0;
}

/* The peer broke the rules of fragments or batches: say how, and let the
 * link close. */
static int msg_malformed(struct msgr__channel *ch, const struct msgr__frame_hdr *h, void *big,
			 const char *why)
{
	msgr__info("session %s: channel %u: MSG seq %llu (flags %u, %u bytes; %llu in, %s): %s",
		   msgr__session_peer(ch->sess), ch->sc.id, (unsigned long long)h->seq, h->flags,
		   h->len, (unsigned long long)ch->in_seq, msgr__channel_state_name(ch->state), why);
	free(big);
	return -EPROTO;
}

/* Whether a MSG (or a batch's entry) for message seq, with flags, is taken
 * in (A_TAKE), dropped (A_DROP), or ended the channel (A_GONE: ch may be
 * freed). */
enum { A_TAKE, A_DROP, A_GONE };
static int msg_admit(struct msgr__channel *ch, uint64_t seq, unsigned flags)
{
	struct msgr__chans *cs = ch->cs;
	int held = ch->retain && (ch->state == MSGR__CHAN_STANDBY || ch->state == MSGR__CHAN_RESUMING);

	if (seq <= ch->in_seq && ch->state != MSGR__CHAN_OPENING) {
		/* a replay of what we have: after a fault the peer sends again
		 * everything after what reached the application's ring */
		cs->stats->dup_dropped++;
		return A_DROP;
	}
	if (seq != ch->in_seq + 1 && held) {
		/* past a gap while the channel waits for its resume: frames
		 * held behind a drain whose link died before them. Never
		 * skipped ahead: they come again with the replay, as does
		 * the message half in. */
		msgr__channel_part_drop(ch);
		cs->stats->msgs_net_dropped++;
		return A_DROP;
	}
	if (ch->state == MSGR__CHAN_OPENING || seq != ch->in_seq + 1) {
		/* Before OPEN_OK, or not the next one: links carry a session's
		 * frames in order, hand-overs included, so the peer lost
		 * messages or broke the protocol. A lossy channel says so. */
		msgr__warn("session %s: channel %u (%s): message %llu %s; resetting it",
			   msgr__session_peer(ch->sess), ch->sc.id, ch->end[0]->peer,
			   (unsigned long long)seq,
			   ch->state == MSGR__CHAN_OPENING ? "before OPEN_OK" : "out of sequence");
		cs->stats->msgs_net_dropped++;
		msgr__channel_step(ch, ch->state == MSGR__CHAN_OPENING ? MSGR__CE_MSG : MSGR__CE_RESET,
				   -ECONNRESET, NULL);
		return A_GONE;
	}
	/* The next message. Whole or from its first fragment, it replaces
	 * what we had of it: a sender sends a message again from its
	 * beginning after a resume, or when another link took over. */
	if (!(flags & MSGR__FL_CONT)) {
		msgr__channel_part_drop(ch);
	} else if (!msgr__channel_part_open(ch) && held) {
		/* its beginning went with a loss that only this side saw
		 * (the tail of a drained link): the replay sends it again */
		cs->stats->msgs_net_dropped++;
		return A_DROP;
	}
	return A_TAKE;
}

/* A BATCH: whole messages seq, seq + 1, ... of the channel. All of it is
 * checked before any is taken in, so a malformed one takes nothing. The
 * payloads are lent to the clients layer, which copies each into the
 * application's RX pool at once, or into a buffer of its own if it must
 * wait; big is freed here. */
static int on_batch(struct msgr__channel *ch, const struct msgr__frame_hdr *h,
		    const uint8_t *payload, void *big)
{
	size_t at = 0, n = 0;

	if (h->flags != MSGR__FL_BATCH)
		return msg_malformed(ch, h, big, "a batch with other flags");
	while (at < h->len) {
		uint64_t len;
		if (h->len - at < MSGR__BATCH_ENTRY ||
		    (len = msgr__get_uint(payload + at + 4, 4)) > h->len - at - MSGR__BATCH_ENTRY)
			return msg_malformed(ch, h, big, "a batch entry past the end");
		at += MSGR__BATCH_ENTRY + len;
		if (++n > MSGR__BATCH_MSGS) /* before walking the rest of a flood */
			return msg_malformed(ch, h, big, "a batch of too many messages");
	}
	at = 0;
	for (size_t i = 0; i < n; i++) {
		struct msgr__chan_msg m;
		int a = msg_admit(ch, h->seq + i, 0);

		memset(&m, 0, sizeof(m));
		m.msg_type = (uint32_t)msgr__get_uint(payload + at, 4);
		m.len = msgr__get_uint(payload + at + 4, 4);
		m.buf = (void *)(payload + at + MSGR__BATCH_ENTRY);
		m.borrowed = 1;
		at += MSGR__BATCH_ENTRY + m.len;
		if (a == A_GONE || (a == A_TAKE && take_msg(ch, h->seq + i, &m)))
			break; /* the channel ended: the rest has nowhere to go */
	}
	free(big);
	return 0;
}

/* payload is big when the link gave us its buffer, or the bytes where they
 * were received (big NULL: lent for this call). */
static int on_msg(struct msgr__channel *ch, const struct msgr__frame_hdr *h, const void *payload,
		  void *big)
{
	struct msgr__chan_msg m;

	if (h->len < (h->flags & MSGR__FL_CONT ? 1u : h->flags & MSGR__FL_BATCH ? 8u : 4u) ||
	    h->seq == 0) {
		free(big);
		return -EPROTO;
	}
	if (h->flags & MSGR__FL_BATCH)
		return on_batch(ch, h, payload, big);
	if (msg_admit(ch, h->seq, h->flags) != A_TAKE) {
		free(big);
		return 0;
	}
	if (h->flags)
		return on_fragment(ch, h, payload, big);
	memset(&m, 0, sizeof(m));
	m.msg_type = (uint32_t)msgr__get_uint(payload, 4);
	m.len = h->len - 4;
	m.buf = big ? big : (void *)payload;
	m.skip = 4;
	m.borrowed = !big;
	take_msg(ch, h->seq, &m);
	return 0;
}

/* A fragment of the channel's next message (docs/PROTOCOL.md, section 5),
 * in order. The message's whole length is charged to the session's receive
 * account at its first fragment, so messages arriving in pieces on many
 * channels at once are bounded like whole ones. */
static int on_fragment(struct msgr__channel *ch, const struct msgr__frame_hdr *h,
		       const uint8_t *payload, void *big)
{
	const struct msgr__chan_end *k = ch->end[0];
	struct msgr__chan_msg m;
	uint64_t rest;

	if (!(h->flags & MSGR__FL_CONT)) {
		uint64_t total = h->len >= 8 ? msgr__get_uint(payload + 4, 4) : 0;

		/* the first of several (msg_admit dropped what was half in) */
		if (!(h->flags & MSGR__FL_MORE) || h->len < 8 || total <= h->len - 8u)
			return msg_malformed(ch, h, big, "a first fragment that is not one");
		if (total > ch->cs->net->max_message || total > k->owner->pool_bytes) {
			free(big);
			msgr__channel_reset(ch, -EMSGSIZE);
			return 0;
		}
		if (!session_holds(ch, 4 + total)) {
			free(big);
			return 0;
		}
		ch->part_len = total;
		ch->part_have = h->len - 8u;
		/* straight into the receiver's RX pool if it has room now;
		 * else into memory of ours, copied there when it is whole */
		if (ch->cs->ev->rx_reserve(ch->cs->ctx, ch->end[0], total, &ch->part_rx) == 0) {
			ch->cs->stats->frags_in_place++;
			ch->part_type = (uint32_t)msgr__get_uint(payload, 4);
			memcpy(ch->part_rx.p, payload + 8, ch->part_have);
		} else if ((ch->part = malloc(4 + total))) {
			memcpy(ch->part, payload, 4);
			memcpy(ch->part + 4, payload + 8, ch->part_have);
		} else {
			msgr__rxacct_release(msgr__session_rxacct(ch->sess), 4 + total);
			ch->part_len = ch->part_have = 0;
			free(big);
			msgr__channel_reset(ch, -ENOMEM);
			return 0;
		}
		free(big);
		return 0;
	}
	rest = ch->part_len - ch->part_have;
	if (!msgr__channel_part_open(ch))
		return msg_malformed(ch, h, big, "a continuation with no message begun");
	if (h->len > rest || (h->flags & MSGR__FL_MORE ? h->len == rest : h->len != rest))
		return msg_malformed(ch, h, big, "a piece too long or too short for its message");
	memcpy(ch->part ? ch->part + 4 + ch->part_have : ch->part_rx.p + ch->part_have, payload,
	       h->len);
	ch->part_have += h->len;
	free(big);
	if (h->flags & MSGR__FL_MORE)
		return 0;
	/* all in: it is taken in as if it had come whole */
	memset(&m, 0, sizeof(m));
	m.len = ch->part_len;
	if (ch->part) {
		m.msg_type = (uint32_t)msgr__get_uint(ch->part, 4);
		m.buf = ch->part;
		m.skip = 4;
	} else {
		m.msg_type = ch->part_type;
		m.rx = ch->part_rx;
	}
	ch->part = NULL;
	memset(&ch->part_rx, 0, sizeof(ch->part_rx));
	msgr__rxacct_release(msgr__session_rxacct(ch->sess), 4 + m.len);
	ch->part_len = ch->part_have = 0;
	take_msg(ch, h->seq, &m);
	return 0;
}

/* A message taken in but not delivered. */
static void msg_drop(struct msgr__chans *cs, struct msgr__chan_msg *m)
{
	if (!m->borrowed)
		free(m->buf);
	if (m->rx.owner)
		cs->ev->rx_release(cs->ctx, &m->rx);
}

/* The channel's next message (seq), whole, in order: into the
 * application's ring, or the channel resets if this side cannot hold it
 * (then 1: ch may be gone). */
static int take_msg(struct msgr__channel *ch, uint64_t seq, struct msgr__chan_msg *m)
{
	struct msgr__chans *cs = ch->cs;
	struct msgr__chan_end *k = ch->end[0];
	uint64_t cost;

	ch->in_seq = seq;
	if (m->len > k->owner->pool_bytes) {
		msg_drop(cs, m);
		msgr__channel_reset(ch, -EMSGSIZE);
		return 1;
	}
	/* What a receiver has not taken yet waits here, in malloc'd memory:
	 * the sender's window bounds it, so a peer that ignores the window
	 * loses the channel rather than growing us without end. */
	cost = msgr__pool_cost_bytes(m->len, k->owner->chunk_shift);
	if (ch->in_bytes && ch->in_bytes + cost > in_limit(ch)) {
		msgr__warn("session %s: channel %u (%s): the peer sent past any window "
			   "(%llu bytes waiting); resetting it", msgr__session_peer(ch->sess),
			   ch->sc.id, k->peer, (unsigned long long)ch->in_bytes);
		msg_drop(cs, m);
		cs->stats->window_overruns++;
		msgr__channel_reset(ch, -ENOBUFS);
		return 1;
	}
	/* and all of the session's channels together, counting what waits of
	 * channels that ended, so that opening channel after channel, each
	 * within its bound, does not add up to our memory */
	if (!session_holds(ch, 4 + m->len)) {
		msg_drop(cs, m);
		return 1;
	}
	ch->in_bytes += cost;
	m->acct = msgr__session_rxacct(ch->sess);
	m->acct_bytes = 4 + m->len;
	m->seq = seq;
	cs->stats->msgs_net_in++;
	cs->stats->bytes_net_in += m->len;
	if (msgr__channel_step(ch, MSGR__CE_MSG, 0, NULL) & MSGR__CA_DELIVER)
		cs->ev->deliver(cs->ctx, k, m);
	else
		msg_drop(cs, m); /* not reached: the channel is open (checked above) */
	return 0;
}

/* ---- what the session tells ---- */

/* A frame for a channel we do not have. If we ended it lately, the peer
 * has our RESET or will; otherwise (we never had it, or lost it in a
 * fault the peer did not see) a RESET tells the peer to end its side, so
 * no channel lives on at one end only. A RESET is never answered. */
static void unknown(struct msgr__session *s, uint32_t id, uint8_t type)
{
	uint8_t e[4];
	struct iovec iov = { e, 4 };

	if (type == MSGR__F_RESET || type == MSGR__F_OPEN_FAIL || msgr__session_forgotten(s, id))
		return;
	msgr__put_uint(e, (uint32_t)-ECONNRESET, 4);
	msgr__session_send(s, MSGR__F_RESET, id, 0, 0, &iov, 1);
	msgr__session_forget(s, id, 0);
}

/* ACK: the acks of many channels (docs/PROTOCOL.md, section 5). */
static int on_acks(struct msgr__session *s, const struct msgr__frame_hdr *h, const void *payload)
{
	struct msgr__rd r = { payload, h->len, 0 };
	unsigned n = (unsigned)msgr__rd_uint(&r, 2);

	if (h->seq || h->ack || r.bad || !n || n > MSGR__ACK_MAX ||
	    r.n != (size_t)n * MSGR__ACK_ENTRY)
		return -EPROTO;
	while (n) {
		/* a group at a time, looked up together (their misses overlap;
		 * neither ack_in nor unknown adds or removes a channel, so what
		 * was found stays valid); those before a bad entry count, as
		 * one at a time they would */
		uint32_t id[MSGR__FIND_MANY];
		uint64_t ack[MSGR__FIND_MANY];
		struct msgr__sess_chan *sc[MSGR__FIND_MANY];
		unsigned k = 0, bad = 0;

		for (; k < MSGR__FIND_MANY && k < n; k++) {
			id[k] = (uint32_t)msgr__rd_uint(&r, 4);
			ack[k] = msgr__rd_uint(&r, 8);
			if ((bad = id[k] < 2 || !ack[k]))
				break;
		}
		msgr__session_chan_find_many(s, id, k, sc);
		for (int deep = 0; deep < 2; deep++)
			for (unsigned i = 0; i < k; i++)
				if (sc[i])
					msgr__channel_ack_prefetch(of_sc(sc[i]), deep);
		for (unsigned i = 0; i < k; i++)
			if (sc[i])
				msgr__channel_ack_in(of_sc(sc[i]), ack[i]);
			else
				unknown(s, id[i], MSGR__F_ACK);
		if (bad)
			return -EPROTO;
		n -= k;
	}
	return 0;
}

/* ---- resume (docs/PROTOCOL.md, section 5a) ---- */

#define RESUME_ENTRY (4 + 8 + 8 + 8 + 1)
#define RESUME_PER_FRAME 128 /* entries in one RESUME: within its 4 KiB limit */
#define ROUND_HDR (2 + 1 + 4)  /* u16 entries, u8 kind, u32 round id */
enum { ROUND_INIT = 0, ROUND_ANSWER = 1 };
enum { RESUME_OPENED = 1, /* the sender has the other end's nonce */
       RESUME_CLOSED = 2, /* the sender's end closed it: its RESET went with a link */
};

/* Send a resume round: every kept channel of the session, many to a frame,
 * then RESUME_END. Those open or waiting go to resuming, and leave it at
 * the peer's next RESUME_END; one still opening is listed (so the peer
 * does not take it for gone) but waits for its OPEN_OK. */
/* A round being written: entries go out 128 to a frame. */
struct round {
	struct msgr__session *s;
	uint8_t buf[ROUND_HDR + RESUME_PER_FRAME * RESUME_ENTRY], *p;
	uint32_t n, total, id;
	int kind;
};

static void round_flush(struct round *r)
{
	struct iovec iov = { r->buf, (size_t)(r->p - r->buf) };

	if (!r->n)
		return;
	msgr__put_uint(r->buf, r->n, 2);
	r->buf[2] = (uint8_t)r->kind;
	msgr__put_uint(r->buf + 3, r->id, 4);
	msgr__session_send(r->s, MSGR__F_RESUME, 0, 0, 0, &iov, 1);
	r->p = r->buf + ROUND_HDR;
	r->n = 0;
}

static void round_add(struct round *r, uint32_t id, uint64_t cookie, uint64_t nonce,
		      uint64_t delivered, unsigned flags)
{
	r->p += msgr__put_uint(r->p, id, 4);
	r->p += msgr__put_uint(r->p, cookie, 8);
	r->p += msgr__put_uint(r->p, nonce, 8);
	r->p += msgr__put_uint(r->p, delivered, 8);
	r->p += msgr__put_uint(r->p, flags, 1);
	r->total++;
	if (++r->n == RESUME_PER_FRAME)
		round_flush(r);
}

/* Send a resume round: every kept channel of the session, then the kept
 * channels we ended lately (their RESET may have been lost with the link),
 * then RESUME_END. Those open or waiting go to resuming, and leave it at
 * the peer's next RESUME_END; one still opening is listed (so the peer
 * does not take it for gone) but waits for its OPEN_OK. */
static void send_round(struct msgr__session *s, int kind)
{
	struct round r = { .s = s, .kind = kind };
	struct msgr__sess_chan *sc;
	uint8_t end[9];
	struct iovec iov = { end, sizeof(end) };
	uint64_t cookie;
	uint32_t id;

	r.p = r.buf + ROUND_HDR;
	/* an init round with nothing in it would say nothing: a peer that
	 * keeps channels we do not learns it from our RESETs */
	for (sc = msgr__session_chan_next(s, NULL); kind == ROUND_INIT && sc;
	     sc = msgr__session_chan_next(s, sc))
		if (of_sc(sc)->retain)
			break;
	if (kind == ROUND_INIT && !sc)
		return;
	r.id = msgr__session_resume_next_id(s);
	for (sc = msgr__session_chan_next(s, NULL); sc; sc = msgr__session_chan_next(s, sc)) {
		struct msgr__channel *ch = of_sc(sc);
		if (!ch->retain)
			continue;
		msgr__channel_step(ch, MSGR__CE_RESUME, 0, NULL);
		round_add(&r, ch->sc.id, ch->cookie, ch->end[0] ? ch->end[0]->owner->nonce : 0,
			  ch->delivered, ch->peer_nonce ? RESUME_OPENED : 0);
	}
	for (unsigned i = 0; !msgr__session_forgotten_kept(s, i, &id, &cookie); i++)
		if (cookie && !msgr__session_chan_find(s, id))
			round_add(&r, id, cookie, 0, 0, RESUME_CLOSED);
	round_flush(&r);
	/* the count lets a reader of a capture check it saw the whole list */
	msgr__put_uint(end, r.total, 4);
	end[4] = (uint8_t)kind;
	msgr__put_uint(end + 5, r.id, 4);
	msgr__session_send(s, MSGR__F_RESUME_END, 0, 0, 0, &iov, 1);
}

/* The peer's list, or part of it: each of our resuming channels it names
 * is matched for this round. An init round gets our answer first. */
static int on_resume(struct msgr__chans *cs, struct msgr__session *s, const struct msgr__frame_hdr *h,
		     const uint8_t *p)
{
	struct msgr__rd r = { p, h->len, 0 };
	uint32_t n = (uint32_t)msgr__rd_uint(&r, 2);
	unsigned kind = (unsigned)msgr__rd_uint(&r, 1);
	uint32_t rid = (uint32_t)msgr__rd_uint(&r, 4);
	uint64_t round = msgr__session_resume_round(s);

	if (r.bad || !n || n > RESUME_PER_FRAME || kind > ROUND_ANSWER || !rid ||
	    r.n != (size_t)n * RESUME_ENTRY)
		return -EPROTO;
	if (kind == ROUND_INIT && msgr__session_resume_answer(s, rid))
		send_round(s, ROUND_ANSWER); /* the peer lost a link: we settle too */
	while (n--) {
		uint32_t id = (uint32_t)msgr__rd_uint(&r, 4);
		uint64_t cookie = msgr__rd_uint(&r, 8), nonce = msgr__rd_uint(&r, 8);
		uint64_t delivered = msgr__rd_uint(&r, 8);
		unsigned flags = (unsigned)msgr__rd_uint(&r, 1), opened = flags & RESUME_OPENED;
		struct msgr__channel *ch = of_sc(msgr__session_chan_find(s, id));

		if (flags > RESUME_CLOSED)
			return -EPROTO;
		if (flags == RESUME_CLOSED) {
			/* the remote end closed it: RESET, as if its frame had come */
			if (ch && ch->state == MSGR__CHAN_RESUMING && ch->cookie == cookie)
				ch->peer_closed = round;
			continue;
		}
		/* the same channel: id, cookie, and the instance we know of
		 * its remote end (if we know it yet) */
		if (!ch || ch->state != MSGR__CHAN_RESUMING || ch->cookie != cookie || !nonce ||
		    (ch->peer_nonce && ch->peer_nonce != nonce) || delivered > ch->out_seq)
			continue;
		ch->matched = round;
		ch->peer_delivered = delivered;
		if (!ch->peer_nonce && opened) {
			ch->peer_nonce = nonce; /* its OPEN_OK was lost with the link */
			ch->resume_opened = 1;
		}
	}
	return 0;
}

/* The peer's round is complete: our resuming channels it named go on from
 * what it delivered; those it did not name are gone at its end (or never
 * got there: their OPEN goes again). */
static int on_resume_end(struct msgr__chans *cs, struct msgr__session *s,
			 const struct msgr__frame_hdr *h, const uint8_t *p)
{
	uint64_t round = msgr__session_resume_round(s);
	struct msgr__sess_chan *sc, *next;
	unsigned kind = h->len == 9 ? p[4] : 2;
	uint32_t id = h->len == 9 ? (uint32_t)msgr__get_uint(p + 5, 4) : 0;

	if (kind > ROUND_ANSWER || !id)
		return -EPROTO;
	if (kind == ROUND_INIT && msgr__session_resume_answer(s, id))
		send_round(s, ROUND_ANSWER); /* an init round with nothing in it */
	for (sc = msgr__session_chan_next(s, NULL); sc; sc = next) {
		struct msgr__channel *ch = of_sc(sc);
		int opened = ch->peer_nonce != 0, first = ch->resume_opened;
		next = msgr__session_chan_next(s, sc); /* the step may free ch */
		if (ch->state != MSGR__CHAN_RESUMING)
			continue;
		ch->resume_opened = 0;
		if (ch->peer_closed == round) {
			msgr__channel_step(ch, MSGR__CE_PEER_RESET, -ECONNRESET, NULL);
		} else if (ch->matched == round) {
			cs->stats->resumes++;
			msgr__channel_step(ch, first ? MSGR__CE_RESUME_OPEN : MSGR__CE_RESUME_OK, 0, NULL);
		} else {
			/* kept until the peer's list left it out: say so, as
			 * the application hears REMOTE_RESET or an OPEN again */
			msgr__info("session %s: channel %u (%s): not in the peer's resume round %u "
				   "(%llu in, %llu out, %llu acked); %s",
				   msgr__session_peer(s), ch->sc.id, ch->end[0] ? ch->end[0]->peer : "-", id,
				   (unsigned long long)ch->in_seq, (unsigned long long)ch->out_seq,
				   (unsigned long long)ch->peer_ack,
				   opened ? "gone at its end" : "its OPEN goes again");
			msgr__channel_step(ch, opened ? MSGR__CE_RESUME_GONE : MSGR__CE_RESUME_LOST_OPEN,
					   -ECONNRESET, NULL);
		}
	}
	msgr__session_resume_end(s);
	return 0;
}

static int on_frame(void *ctx, struct msgr__session *s, const struct msgr__frame_hdr *h,
		    const void *payload, void *big)
{
	struct msgr__chans *cs = ctx;
	struct msgr__channel *ch;

	if (h->type == MSGR__F_OPEN)
		return on_open(cs, s, h, payload);
	if (h->type == MSGR__F_RESUME)
		return on_resume(cs, s, h, payload);
	if (h->type == MSGR__F_RESUME_END)
		return on_resume_end(cs, s, h, payload);
	if (h->type == MSGR__F_ACK)
		return on_acks(s, h, payload);
	ch = of_sc(msgr__session_chan_find(s, h->channel));
	if (!ch) {
		if (h->type == MSGR__F_MSG)
			cs->stats->msgs_net_dropped++;
		free(big);
		unknown(s, h->channel, h->type);
		return 0;
	}
	msgr__channel_ack_in(ch, h->ack);
	switch (h->type) {
	case MSGR__F_MSG:
		return on_msg(ch, h, payload, big);
	case MSGR__F_OPEN_OK:
		if (h->len != 8 || !msgr__get_uint(payload, 8) || (ch->peer_nonce && !ch->accepted))
			return -EPROTO; /* an opener hears OPEN_OK once */
		if (!ch->accepted)
			ch->peer_nonce = msgr__get_uint(payload, 8);
		return msgr__channel_step(ch, MSGR__CE_OPEN_OK, 0, NULL) < 0 ? -EPROTO : 0;
	case MSGR__F_OPEN_FAIL:
		if (ch->state == MSGR__CHAN_OPENING)
			msgr__info("client %s: connect to %s refused by the peer daemon",
				   ch->end[0]->owner->entity, ch->end[0]->peer);
		return msgr__channel_step(ch, MSGR__CE_OPEN_FAIL, wire_errno(payload, h->len, -ECONNREFUSED), NULL) < 0
			       ? -EPROTO : 0;
	case MSGR__F_RESET: {
		/* ESHUTDOWN: the remote entity went (detached or died), so a
		 * kept channel's messages can never reach that instance: its
		 * application hears REMOTE_RESET; otherwise the remote end
		 * closed it or it broke there, and RESET says so */
		int err = wire_errno(payload, h->len, -ECONNRESET);
		if (err == -ESHUTDOWN && ch->retain && ch->state != MSGR__CHAN_OPENING) {
			msgr__info("session %s: channel %u (%s): its remote entity went (%llu in, %llu out)",
				   msgr__session_peer(s), ch->sc.id, ch->end[0] ? ch->end[0]->peer : "-",
				   (unsigned long long)ch->in_seq, (unsigned long long)ch->out_seq);
			msgr__channel_step(ch, MSGR__CE_PEER_GONE, -ECONNRESET, NULL);
		}
		else
			msgr__channel_step(ch, MSGR__CE_PEER_RESET, err == -ESHUTDOWN ? -ECONNRESET : err,
					   NULL);
		return 0;
	}
	}
	return -EPROTO;
}

/* A frame came without its payload (CRC mismatch, or over our
 * max_message): its channel ends, not the link. */
static void on_frame_lost(void *ctx, struct msgr__session *s, uint32_t id, int err)
{
	struct msgr__channel *ch = of_sc(msgr__session_chan_find(s, id));

	if (ch) {
		msgr__warn("session %s: channel %u (%s): %s; resetting it", msgr__session_peer(s), id,
			   ch->end[0]->peer, err == -EBADMSG ? "payload CRC mismatch"
							   : "a message over global.max_message");
		msgr__channel_reset(ch, err);
	} else {
		unknown(s, id, MSGR__F_MSG); /* an OPEN, perhaps: the opener must hear */
	}
}

/* The session lost what was in flight. A lossy channel ends; a lossless or
 * peer one waits for a link and a resume, unless the peer daemon restarted
 * (its entities are new instances) or refused us outright. */
static void on_chan_lost(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc, int err,
			 int how, int unheard)
{
	struct msgr__channel *ch = of_sc(sc);

	if (unheard)
		ch->unheard = 1; /* until its OPEN goes (open_now) */
	/* A message half in stays (the channel's end frees it if it ends):
	 * the loss may be of a link that never carried it. Its fragments all
	 * come on one link, and a sender that resumes, or moves to another
	 * link, sends it again from its first fragment, which replaces it.
	 * Dropping it here lost a message whose sender was still opening the
	 * channel, which never replays. */
	if (how == MSGR__LOST_RESTART)
		msgr__channel_step(ch, ch->retain ? MSGR__CE_PEER_GONE : MSGR__CE_LOST, err, NULL);
	else if (ch->retain && err != -EACCES) {
		msgr__session_chan_add(s, &ch->sc); /* it stays */
		msgr__channel_step(ch, MSGR__CE_SUSPEND, err, NULL);
	}
	else
		msgr__channel_step(ch, how == MSGR__LOST_NOTIFY ? MSGR__CE_LOST_NOTIFY : MSGR__CE_LOST,
				   err, NULL);
}

/* A link after a loss: settle the kept channels with the peer. */
static void on_resumed(void *ctx, struct msgr__session *s)
{
	send_round(s, ROUND_INIT);
}

static uint64_t on_ack_due(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc)
{
	struct msgr__channel *ch = of_sc(sc);

	(void)ctx;
	(void)s;
	if (ch->delivered <= ch->ack_sent)
		return 0;
	msgr__channel_acked(ch);
	return ch->delivered;
}

/* A channel we opened that the peer never answered (it is up but silent
 * about it, or the link it went on vanished in a hand-over) fails rather
 * than wait forever. */
static void on_chan_tick(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
			 uint64_t now)
{
	struct msgr__chans *cs = ctx;
	struct msgr__channel *ch = of_sc(sc);

	if (ch->state == MSGR__CHAN_STANDBY && ch->accepted &&
	    ch->mode == MSGR_LOSSLESS && now - ch->standby_ns >= cs->conf->resume_timeout_ms * 1000000ull) {
		/* its client never came back: a server keeps it this long */
		msgr__info("session %s: channel %u (%s): no resume within net.resume_timeout; resetting it",
			   msgr__session_peer(s), ch->sc.id, ch->end[0]->peer);
		msgr__channel_step(ch, MSGR__CE_EXPIRE, -ETIMEDOUT, NULL);
		return;
	}
	/* A lossless or peer connect never times out: while the peer is out
	 * of reach (a partition can leave the link up for a while) it keeps
	 * its messages and keeps trying; a link that goes silent ends by
	 * keepalive, and the resume settles the open (PROTOCOL.md 5a.8) */
	if (ch->state != MSGR__CHAN_OPENING || ch->retain ||
	    now - ch->created_ns < cs->net->connect_timeout_ms * 1000000ull)
		return;
	msgr__info("client %s: connect to %s: no answer within net.connect_timeout",
		   ch->end[0]->owner->entity, ch->end[0]->peer);
	msgr__channel_step(ch, MSGR__CE_TIMEOUT, -ETIMEDOUT, NULL);
}

static int on_pump(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
		   struct msgr__sess_chan *next)
{
	if (next)
		msgr__channel_prefetch(of_sc(next));
	return msgr__channel_pump(of_sc(sc));
}

static void on_open_due(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc)
{
	msgr__channel_open_now(of_sc(sc));
}

static const struct msgr__session_events session_events = {
	.pump = on_pump,
	.open = on_open_due,
	.frame = on_frame,
	.frame_lost = on_frame_lost,
	.chan_lost = on_chan_lost,
	.ack_due = on_ack_due,
	.chan_tick = on_chan_tick,
	.resumed = on_resumed,
};

/* ---- the layer ---- */

struct msgr__chans *msgr__chans_new(const struct msgr__chan_conf *conf,
				    const struct msgr__net_conf *net, struct msgr__chan_stats *stats,
				    struct msgr__sessions *ss, const struct msgr__chan_events *ev,
				    void *ctx)
{
	struct msgr__chans *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->conf = conf;
	cs->net = net;
	cs->stats = stats;
	cs->ss = ss;
	cs->ev = ev;
	cs->ctx = ctx;
	if (ss)
		msgr__sessions_set_events(ss, &session_events, cs);
	return cs;
}

void msgr__chans_free(struct msgr__chans *cs)
{
	free(cs);
}
