#include "channel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "common/log.h"
#include "common/vec.h"
#include "msgr.h"
#include "rxacct.h"
#include "shm/pool.h"
#include "shm/segment.h"

/* ---- frames to the peer daemon ---- */

void msgr__channel_acked(struct msgr__channel *ch)
{
	ch->ack_sent = ch->delivered;
	ch->unacked_cost = 0;
}

void msgr__channel_wire(struct msgr__channel *ch, uint8_t type, uint64_t seq, const void *p,
			size_t len)
{
	struct iovec iov = { (void *)p, len };

	msgr__session_send(ch->sess, type, ch->sc.id, seq, ch->delivered, &iov, len ? 1 : 0);
	msgr__channel_acked(ch);
}

void msgr__channel_wire_err(struct msgr__channel *ch, uint8_t type, int err, const char *why)
{
	uint8_t buf[4 + 2 + 200];
	size_t n = msgr__put_uint(buf, (uint32_t)err, 4);

	if (type == MSGR__F_OPEN_FAIL) /* RESET carries the errno alone */
		n += msgr__put_str(buf + n, why, 200);
	msgr__channel_wire(ch, type, 0, buf, n);
}

/* ---- the state machine's driver ---- */

/* Forget ch: its ends' pointers, the session's table, its memory. */
void msgr__channel_free(struct msgr__channel *ch)
{
	for (int i = 0; i < 2; i++)
		if (ch->end[i])
			ch->end[i]->ch = NULL;
	if (ch->sess) {
		/* a kept channel its application closed is told in our next
		 * resume round (its RESET may go down with a link); one that
		 * ended otherwise (expired, its entity went) is left out, so
		 * the peer finds it gone: REMOTE_RESET. One the peer never
		 * heard of would only push out ids it knows (a connect/close
		 * loop while the peer is out of reach filled both lists). */
		if (!ch->unheard && !ch->unlisted)
			msgr__session_forget(ch->sess, ch->sc.id,
					     ch->retain && ch->app_closed ? ch->cookie : 0);
		msgr__session_chan_del(ch->sess, &ch->sc);
	}
	msgr__channel_part_drop(ch);
	/* messages kept for replay, and lossy ones not all framed, give their
	 * pool buffers back */
	for (size_t i = ch->retain ? 0 : ch->ua_sent; ch->end[0] && i < ch->ua_len; i++)
		ch->cs->ev->tx_done(ch->cs->ctx, ch->end[0],
				    ch->unacked[msgr__fifo_at(ch->ua_head, i, ch->ua_cap)].off);
	free(ch->unacked);
	free(ch);
}

void msgr__channel_part_drop(struct msgr__channel *ch)
{
	if (!msgr__channel_part_open(ch))
		return;
	msgr__rxacct_release(msgr__session_rxacct(ch->sess), 4 + ch->part_len);
	free(ch->part);
	ch->part = NULL;
	if (ch->part_rx.owner)
		ch->cs->ev->rx_release(ch->cs->ctx, &ch->part_rx);
	memset(&ch->part_rx, 0, sizeof(ch->part_rx));
	ch->part_len = ch->part_have = 0;
}

void msgr__channel_ack_prefetch(const struct msgr__channel *ch, int deep)
{
	if (!deep) {
		__builtin_prefetch(&ch->peer_ack);
		__builtin_prefetch(&ch->ua_bytes);
	} else if (ch->ua_len) {
		__builtin_prefetch(&ch->unacked[ch->ua_head]);
	}
}

/* The peer has everything up to ack in its application's ring: give the
 * sender its window back, and a kept message its pool buffer. */
void msgr__channel_ack_in(struct msgr__channel *ch, uint64_t ack)
{
	uint64_t bytes = 0;
	size_t done = 0;

	if (ack <= ch->peer_ack || ack > ch->out_seq)
		return;
	ch->peer_ack = ack;
	while (ch->ua_len && ch->unacked[ch->ua_head].seq <= ack) {
		struct unacked *u = &ch->unacked[ch->ua_head];
		bytes += u->bytes;
		ch->ua_bytes -= u->bytes;
		if (ch->retain && ch->end[0])
			ch->cs->ev->tx_done(ch->cs->ctx, ch->end[0], u->off);
		ch->ua_head = msgr__fifo_at(ch->ua_head, 1, ch->ua_cap);
		ch->ua_len--;
		done++;
	}
	/* the peer has only what went out (after a resume, on an earlier
	 * link too); if that includes the message we were sending in
	 * fragments, the next one starts from its beginning */
	if (done > ch->ua_sent)
		ch->ua_part = 0;
	ch->ua_sent -= done < ch->ua_sent ? done : ch->ua_sent;
	if (bytes && ch->end[0])
		ch->cs->ev->credit(ch->cs->ctx, ch->end[0], bytes);
}

/* After a resume: what the peer delivered is done with; the rest goes
 * again, in order, from the sender's pool, as the session's pacing lets it
 * (msgr__channel_pump). */
static void replay(struct msgr__channel *ch)
{
	msgr__channel_ack_in(ch, ch->peer_delivered);
	ch->ua_sent = 0;
	ch->ua_part = 0; /* a message cut off mid-fragments starts again */
	ch->cs->stats->replayed_msgs += ch->ua_len;
	if (ch->ua_len)
		msgr__session_chan_ready(ch->sess, &ch->sc);
}

/* The channel's unsent messages from ua_sent on, whole, as one MSG with
 * BATCH (docs/PROTOCOL.md, section 5): as many as fit MSGR__FRAG_MAX and
 * the peer's max_message, at least two, else 0 and nothing is sent. Many
 * small messages then cost one header, one CRC and one lookup at the peer
 * instead of one each. Returns the payload bytes framed. */
static uint64_t send_batch(struct msgr__channel *ch)
{
	uint8_t hdr[MSGR__BATCH_MSGS][MSGR__BATCH_ENTRY];
	struct iovec iov[2 * MSGR__BATCH_MSGS];
	uint64_t limit = msgr__session_peer_max(ch->sess), bytes = 0;
	const uint8_t *pool = ch->end[0]->owner->txpool;
	struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .flags = MSGR__FL_BATCH,
				     .channel = ch->sc.id, .ack = ch->delivered };
	unsigned n = 0;

	if (limit > MSGR__FRAG_MAX)
		limit = MSGR__FRAG_MAX;
	while (n < MSGR__BATCH_MSGS && ch->ua_sent + n < ch->ua_len) {
		const struct unacked *u = &ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_sent + n,
								      ch->ua_cap)];
		if (bytes + MSGR__BATCH_ENTRY + u->len > limit)
			break;
		if (!n)
			h.seq = u->seq;
		msgr__put_uint(hdr[n], u->msg_type, 4);
		msgr__put_uint(hdr[n] + 4, u->len, 4);
		iov[2 * n] = (struct iovec){ hdr[n], MSGR__BATCH_ENTRY };
		iov[2 * n + 1] = (struct iovec){ (void *)(pool + u->off), u->len };
		__builtin_prefetch(pool + u->off); /* the copy below then misses in parallel */
		bytes += MSGR__BATCH_ENTRY + u->len;
		n++;
	}
	if (n < 2)
		return 0;
	msgr__session_send_hdr(ch->sess, &h, iov, (int)(2 * n));
	msgr__channel_acked(ch);
	ch->cs->stats->batches_out++;
	ch->cs->stats->batched_msgs_out += n;
	for (unsigned i = 0; i < n; i++, ch->ua_sent++)
		if (!ch->retain) /* framed: a lossy message's pool buffer goes back */
			ch->cs->ev->tx_done(ch->cs->ctx, ch->end[0],
					    ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_sent, ch->ua_cap)].off);
	return bytes;
}

/* The next piece of the channel's next message not yet sent on this link:
 * the whole message in one MSG, or, if that would pass MSGR__FRAG_MAX, its
 * next fragment (docs/PROTOCOL.md, section 5), so other channels' frames
 * can go between a large message's. Returns the payload bytes framed. A
 * lossy message's pool buffer goes back once it is all framed (the frames
 * hold a copy); a kept one stays until the peer acks it. */
static uint64_t send_next(struct msgr__channel *ch)
{
	struct unacked *u = &ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_sent, ch->ua_cap)];
	struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .channel = ch->sc.id, .seq = u->seq,
				     .ack = ch->delivered };
	uint8_t pre[8];
	struct iovec iov[2] = { { pre, 0 }, { NULL, 0 } };
	uint64_t n, batched;

	/* A message's fragments all go on one link: if another took over
	 * meanwhile (a hand-over loses nothing, but the receiver may have
	 * dropped what it had with a loss only it saw), the message starts
	 * again from its first fragment, which the receiver takes as a
	 * restart (docs/PROTOCOL.md, section 5). */
	if (ch->ua_part && ch->ua_part_gen != msgr__session_link_gen(ch->sess))
		ch->ua_part = 0;
	n = u->len - ch->ua_part;
	if (!ch->ua_part && ch->ua_sent + 1 < ch->ua_len && (batched = send_batch(ch)))
		return batched;
	if (ch->ua_part) {
		h.flags = MSGR__FL_CONT;
		if (n > MSGR__FRAG_MAX) {
			n = MSGR__FRAG_MAX;
			h.flags |= MSGR__FL_MORE;
		}
	} else {
		msgr__put_uint(pre, u->msg_type, 4);
		iov[0].iov_len = 4;
		if (4 + n > MSGR__FRAG_MAX) {
			/* the first of several: type, whole length, the rest */
			msgr__put_uint(pre + 4, u->len, 4);
			iov[0].iov_len = 8;
			n = MSGR__FRAG_MAX - 8;
			h.flags = MSGR__FL_MORE;
			ch->ua_part_gen = msgr__session_link_gen(ch->sess);
		}
	}
	iov[1].iov_base = (void *)(ch->end[0]->owner->txpool + u->off + ch->ua_part);
	iov[1].iov_len = n;
	msgr__session_send_hdr(ch->sess, &h, iov, 2);
	msgr__channel_acked(ch);
	ch->ua_part += n;
	if (ch->ua_part == u->len) {
		ch->ua_part = 0;
		ch->ua_sent++;
		if (!ch->retain)
			ch->cs->ev->tx_done(ch->cs->ctx, ch->end[0], u->off);
	}
	return n;
}

/* A channel's turn: a few of its waiting messages (at most PUMP_MSGS, or
 * PUMP_BYTES once past the first; one fragment of a large message fills
 * a turn), so channels share the link by bytes. Nonzero if some still
 * wait. */
#define PUMP_MSGS 16
#define PUMP_BYTES (64u << 10)
int msgr__channel_pump(struct msgr__channel *ch)
{
	uint64_t bytes = 0;

	if (!ch->end[0] || (ch->state != MSGR__CHAN_OPEN && ch->state != MSGR__CHAN_OPENING))
		return 0; /* held: its resume replays from the start */
	for (int n = 0; n < PUMP_MSGS && ch->ua_sent < ch->ua_len && bytes < PUMP_BYTES; n++)
		bytes += send_next(ch);
	return ch->ua_sent < ch->ua_len;
}

/* Everything a channel has not sent on this link yet, now, pacing or
 * not: the application closed it (or went) after handing these over, so
 * they go ahead of its RESET, as its sends came before its close. The
 * window bounds them; with no link yet they wait in the session's queue,
 * behind the OPEN. */
static void flush_unsent(struct msgr__channel *ch)
{
	while (ch->ua_sent < ch->ua_len)
		send_next(ch);
}

/* Whether a channel in standby is worth a dial: lossless ones dial from the
 * side that opened them only (a server never dials its clients), peer ones
 * when they have something to send, and one still opening always. */
static int wants_link(const struct msgr__channel *ch)
{
	if (!ch->peer_nonce)
		return 1;
	if (ch->mode == MSGR_PEER)
		return ch->ua_len > 0;
	return !ch->accepted;
}

/*
 * Move ch by ev (msgr__channel_next decides) and run the actions. err is
 * what the ends and the peer are told; skip is an end not to tell (it asked
 * for the reset). Returns -EPROTO if the peer broke the protocol (the
 * caller closes its link), else the actions, for those the caller runs
 * itself (DELIVER: it has the message). ch may be freed on return.
 */
int msgr__channel_step(struct msgr__channel *ch, enum msgr__channel_event ev, int err,
		struct msgr__chan_end *skip)
{
	struct msgr__channel_step st = msgr__channel_next(ch->state, ev);
	enum msgr__channel_state was = ch->state;
	unsigned a = st.actions;

	if (st.next == MSGR__CHAN_STANDBY && ch->state != MSGR__CHAN_STANDBY)
		ch->standby_ns = msgr__now_ns();
	ch->state = st.next;
	if (a & MSGR__CA_PROTO)
		return -EPROTO;
	if (a & MSGR__CA_CONNECTED)
		msgr__chans_notify(ch->cs, ch->end[0], MSGR__EV_CONNECTED, 0);
	for (int i = 0; i < 2; i++) {
		uint16_t op = a & MSGR__CA_FAILED ? MSGR__EV_CONNECT_FAILED
			      : a & MSGR__CA_RESET ? MSGR__EV_RESET
			      : a & MSGR__CA_REMOTE_RESET ? MSGR__EV_REMOTE_RESET : 0;
		/* an opener that never heard CONNECTED hears that it failed */
		if (op && op != MSGR__EV_CONNECT_FAILED && ch->sess && !ch->peer_nonce && i == 0)
			op = MSGR__EV_CONNECT_FAILED;
		if (ch->end[i] && ch->end[i] != skip && op)
			msgr__chans_notify(ch->cs, ch->end[i], op, err);
	}
	if (a & MSGR__CA_REMOTE_RESET)
		ch->cs->stats->remote_resets++;
	if ((a & MSGR__CA_SEND_RESET) && ch->sess) {
		/* Messages handed over and not sent go ahead of the RESET
		 * when it is ended here (closed, or a local error), as its
		 * sends came before that. Ended by a loss or a timeout, they
		 * are lost with what was in flight: sent now, they would reach
		 * the peer's application after a gap, or after an OPEN the
		 * loss dropped, which the peer never got. */
		int unsent = ev == MSGR__CE_RESET && ch->end[0] &&
			     (was == MSGR__CHAN_OPEN || was == MSGR__CHAN_OPENING) && ch->ua_sent < ch->ua_len;

		/* An OPEN still waiting: the peer never heard of it, so
		 * there is nothing to tell, unless messages were handed over
		 * before the close; they go behind their OPEN and ahead of
		 * the RESET, as they would have on a link. */
		int unheard = msgr__session_open_unmark(ch->sess, &ch->sc) || ch->unheard;

		if (unheard && unsent)
			msgr__channel_open_now(ch);
		if (unsent)
			flush_unsent(ch);
		if (!unheard || unsent)
			msgr__channel_wire_err(ch, MSGR__F_RESET, err, NULL);
		/* With messages its OPEN went, but into frames a loss may drop
		 * before a link takes them; either way its RESET goes with it,
		 * so it is not listed as closed. */
		ch->unlisted = unheard;
	}
	if (a & MSGR__CA_SEND_OPEN)
		msgr__channel_send_open(ch);
	if (a & MSGR__CA_REPLAY)
		replay(ch);
	if ((a & MSGR__CA_NEED_LINK) && wants_link(ch))
		msgr__session_need_link(ch->sess);
	if (a & MSGR__CA_FREE)
		msgr__channel_free(ch);
	return (int)a;
}

void msgr__channel_close(struct msgr__chan_end *from, int err)
{
	if (from->ch) {
		from->ch->app_closed = 1;
		msgr__channel_step(from->ch, MSGR__CE_RESET, err, from);
	}
}

void msgr__channel_gone(struct msgr__chan_end *from)
{
	struct msgr__channel *ch = from->ch;

	if (!ch)
		return;
	/* the local end of a local channel hears a plain RESET, as before */
	msgr__channel_step(ch, MSGR__CE_RESET, ch->sess ? -ESHUTDOWN : -ECONNRESET, from);
}

/* Reset ch here, telling both sides (err). */
void msgr__channel_reset(struct msgr__channel *ch, int err)
{
	msgr__channel_step(ch, MSGR__CE_RESET, err, NULL);
}

/* ---- opening ---- */

struct msgr__channel *msgr__channel_new(struct msgr__chans *cs, uint16_t mode, uint64_t created_ns,
					 enum msgr__channel_state st)
{
	struct msgr__channel *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->cs = cs;
	ch->mode = mode;
	ch->created_ns = created_ns;
	ch->state = st; /* where its life starts: open, or waiting for the peer */
	return ch;
}

static void connect_remote(struct msgr__chans *cs, struct msgr__chan_end *end, const char *hostport,
			   const char *entity)
{
	const struct msgr__chan_owner *o = end->owner;
	struct msgr__channel *ch = msgr__channel_new(cs, end->mode, end->created_ns, MSGR__CHAN_OPENING);
	int err = -ENOMEM;
	struct msgr__session *s = ch && cs->ss ? msgr__session_get(cs->ss, hostport, &err) : NULL;

	if (!s) {
		free(ch);
		msgr__info("client %s: connect to '%s': %s", o->entity, end->peer, strerror(-err));
		msgr__chans_notify(cs, end, MSGR__EV_CONNECT_FAILED, err);
		return;
	}
	if (msgr__session_queue_full(s)) {
		static struct msgr__ratelimit rl;
		uint64_t held;
		char note[64];

		free(ch);
		cs->stats->conns_queue_full++;
		if (msgr__ratelimit(&rl, 1000, &held))
			msgr__warn("client %s: connect to '%s' refused: the session to %s holds 128 times "
				   "net.send_backlog in frames waiting for the link%s", o->entity, end->peer,
				   hostport, msgr__ratelimit_note(held, note, sizeof(note)));
		msgr__chans_notify(cs, end, MSGR__EV_CONNECT_FAILED, -ENOBUFS);
		return;
	}
	ch->sess = s;
	ch->sc.id = msgr__session_chan_id(s);
	ch->end[0] = end;
	ch->retain = msgr__channel_retains(end->mode);
	snprintf(ch->dst, sizeof(ch->dst), "%s", entity);
	while (!ch->cookie && getrandom(&ch->cookie, sizeof(ch->cookie), 0) == sizeof(ch->cookie))
		; /* nonzero: 0 means "none" on the wire */
	if (!ch->cookie)
		ch->cookie = msgr__now_ns();
	end->ch = ch;
	msgr__session_chan_add(s, &ch->sc);
	msgr__channel_send_open(ch);
	msgr__debug("channel %s -> %s/%s: OPEN %u sent", o->addr, hostport, entity, ch->sc.id);
}

/* OPEN: u8 mode, u64 our entity's nonce, our entity, theirs, u64 cookie. */
void msgr__channel_open_now(struct msgr__channel *ch)
{
	const struct msgr__chan_owner *o = ch->end[0]->owner;
	uint8_t buf[1 + 8 + 2 + MSGR__ENTITY_MAX + 2 + MSGR__ENTITY_MAX + 8], *p = buf;

	p += msgr__put_uint(p, ch->mode, 1);
	p += msgr__put_uint(p, o->nonce, 8);
	p += msgr__put_str(p, o->entity, MSGR__ENTITY_MAX);
	p += msgr__put_str(p, ch->dst, MSGR__ENTITY_MAX);
	p += msgr__put_uint(p, ch->cookie, 8);
	ch->unheard = 0;
	msgr__channel_wire(ch, MSGR__F_OPEN, 0, buf, (size_t)(p - buf));
}

void msgr__channel_send_open(struct msgr__channel *ch)
{
	ch->created_ns = msgr__now_ns(); /* its answer is due within net.connect_timeout */
	if (msgr__session_open_would_wait(ch->sess))
		msgr__session_open_later(ch->sess, &ch->sc); /* the session calls open_now */
	else
		msgr__channel_open_now(ch);
}

void msgr__channel_connect(struct msgr__chans *cs, struct msgr__chan_end *end)
{
	const struct msgr__chan_owner *o = end->owner;
	char hostport[MSGR__HOSTPORT_MAX], canon[MSGR__HOSTPORT_MAX], entity[MSGR__ENTITY_MAX];
	struct msgr__channel *ch;
	struct msgr__chan_end *acc;
	const char *why;
	int err = -ENOMEM; /* accept's, or no channel */

	if (msgr__addr_split(end->peer, hostport, entity)) {
		msgr__info("client %s: connect to '%s': not HOST:PORT/TYPE.ID", o->entity, end->peer);
		msgr__chans_notify(cs, end, MSGR__EV_CONNECT_FAILED, -EINVAL);
		return;
	}
	/* Sessions are named by the peer's listen address in its one numeric
	 * spelling ([::1] and [0::1] are one daemon). Host names are not
	 * resolved here: a resolver would block the daemon's loop. */
	if (msgr__hostport_canon(hostport, canon)) {
		msgr__info("client %s: connect to '%s': '%s' is not a numeric address (IPv4, or "
			   "[IPv6]; host names are not resolved)", o->entity, end->peer, hostport);
		msgr__chans_notify(cs, end, MSGR__EV_CONNECT_FAILED, -EINVAL);
		return;
	}
	memcpy(hostport, canon, sizeof(canon));
	if (strcmp(hostport, cs->net->listen)) {
		connect_remote(cs, end, hostport, entity);
		return;
	}
	ch = msgr__channel_new(cs, end->mode, end->created_ns, MSGR__CHAN_OPEN);
	acc = ch ? cs->ev->accept(cs->ctx, entity, end->mode, o->addr, &err, &why) : NULL;
	if (!acc) {
		/* not attached, at its limit, a refused mode, or out of memory */
		free(ch);
		msgr__chans_notify(cs, end, MSGR__EV_CONNECT_FAILED, err);
		return;
	}
	ch->end[0] = end;
	ch->end[1] = acc;
	end->ch = acc->ch = ch;
	msgr__chans_notify(cs, end, MSGR__EV_CONNECTED, 0);
	msgr__debug("channel %s -> %s open (mode %u)", o->addr, acc->owner->addr, end->mode);
}

/* The peer daemon opens a channel to one of our entities. */

/* ---- messages ---- */

static void send_remote(struct msgr__channel *ch, struct msgr__chan_end *from, uint32_t msg_type,
			uint64_t off, uint64_t len)
{
	struct msgr__chans *cs = ch->cs;
	const struct msgr__chan_owner *o = from->owner;
	uint32_t peer_max = msgr__session_peer_max(ch->sess);
	uint64_t cost = msgr__pool_cost_bytes(len, o->chunk_shift);

	if (peer_max && len > peer_max) {
		/* the peer would take it as a broken link: fail the channel */
		cs->ev->tx_done(cs->ctx, from, off);
		msgr__channel_reset(ch, -EMSGSIZE);
		return;
	}
	if (ch->ua_bytes && ch->ua_bytes + cost > 2 * o->window + o->max_message) {
		/* libmsgr keeps a connection within max(window, one message)
		 * in flight, reserving before it copies; this client did not,
		 * and what it sends is copied out of its pool, so only this
		 * check bounds what it can make us queue for the peer */
		msgr__warn("client %s: sent past its window on the connection to %s; resetting it",
			   o->entity, from->peer);
		cs->ev->tx_done(cs->ctx, from, off);
		msgr__channel_reset(ch, -ENOBUFS);
		return;
	}
	if (msgr__fifo_reserve(&ch->unacked, &ch->ua_cap, ch->ua_head, ch->ua_len,
			       sizeof(*ch->unacked), 16)) {
		cs->ev->tx_done(cs->ctx, from, off);
		msgr__channel_reset(ch, -ENOMEM);
		return;
	}
	ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_len++, ch->ua_cap)] = (struct unacked){
		++ch->out_seq, cost, off, len, msg_type
	};
	ch->ua_bytes += cost;
	/* Every message waits in the pool for its channel's turn on the link,
	 * at the end of this poll pass at the earliest (pacing): what a
	 * channel sent meanwhile then goes in one frame (BATCH). A kept one
	 * stays in the pool until the peer acks it; while the channel waits
	 * for a link it goes out with the replay. */
	if (ch->state == MSGR__CHAN_OPEN || ch->state == MSGR__CHAN_OPENING)
		msgr__session_chan_ready(ch->sess, &ch->sc);
	else if (ch->retain && ch->state == MSGR__CHAN_STANDBY && wants_link(ch))
		msgr__session_need_link(ch->sess); /* a peer channel wakes from standby */
	cs->stats->msgs_net_out++;
	cs->stats->bytes_net_out += len;
}

void msgr__channel_send_prefetch(const struct msgr__chan_end *from)
{
	const struct msgr__channel *ch = from->ch;

	if (ch) {
		__builtin_prefetch(&ch->ua_bytes);
		__builtin_prefetch(&ch->out_seq);
		__builtin_prefetch(&ch->sc);
		__builtin_prefetch(&ch->state);
	}
}

void msgr__channel_send(struct msgr__chan_end *from, uint32_t msg_type, uint64_t off, uint64_t len)
{
	struct msgr__channel *ch = from->ch;
	struct msgr__chans *cs = ch->cs;
	struct msgr__chan_end *to;
	struct msgr__chan_msg m = { .msg_type = msg_type, .len = len, .src = from, .src_off = off };

	if (ch->sess) {
		send_remote(ch, from, msg_type, off, len);
		return;
	}
	to = ch->end[ch->end[0] == from ? 1 : 0];
	if (len > to->owner->pool_bytes) {
		/* It could never be delivered: fail the channel, not the link. */
		cs->ev->tx_done(cs->ctx, from, off);
		msgr__channel_reset(ch, -EMSGSIZE);
		return;
	}
	cs->stats->msgs_local++;
	cs->stats->bytes_local += len;
	cs->ev->deliver(cs->ctx, to, &m);
}

/* The peer has everything up to ack in its application's ring: give the
 * sender its window back. */

void msgr__channel_delivered(struct msgr__chan_end *e, uint64_t seq, uint64_t len)
{
	struct msgr__channel *ch = e->ch;
	uint64_t cost = msgr__pool_cost_bytes(len, e->owner->chunk_shift), window;
	int talking;

	if (!ch || !ch->sess || seq <= ch->delivered)
		return;
	ch->in_bytes -= cost <= ch->in_bytes ? cost : ch->in_bytes;
	ch->delivered = seq;
	ch->unacked_cost += cost;
	/* The ack waits for a reply to carry it only in a conversation (we
	 * sent on the channel since the last message came); one-way traffic
	 * gets it at the flush, as does a quarter of the sender's window,
	 * which would stall the sender until the delay ran out. */
	talking = ch->out_seq != ch->out_at_delivery;
	ch->out_at_delivery = ch->out_seq;
	window = msgr__session_peer_window(ch->sess);
	if (!window)
		window = ch->cs->net->channel_window;
	msgr__session_ack_later(ch->sess, &ch->sc, !talking || ch->unacked_cost >= window / 4);
}

void msgr__channel_info(const struct msgr__chan_end *e, struct msgr__chan_info *out)
{
	const struct msgr__channel *ch = e->ch;

	memset(out, 0, sizeof(*out));
	out->state = msgr__channel_state_name(ch ? ch->state : MSGR__CHAN_CLOSED);
	if (!ch)
		return;
	out->mode_in_effect = ch->mode; /* every mode holds across hosts too */
	out->remote = ch->sess != NULL;
	out->out_seq = ch->out_seq;
	out->in_seq = ch->in_seq;
	out->unacked_msgs = ch->ua_len;
	out->peer_ack = ch->peer_ack;
	out->delivered = ch->delivered;
	out->ack_sent = ch->ack_sent;
	out->wire_id = ch->sc.id;
}

void msgr__channel_prefetch(const struct msgr__channel *ch)
{
	if (ch->end[0] && ch->ua_sent < ch->ua_len) {
		const struct unacked *u =
			&ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_sent, ch->ua_cap)];
		__builtin_prefetch(ch->end[0]->owner->txpool + u->off + ch->ua_part);
	}
}
