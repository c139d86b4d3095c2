#include "channel.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/log.h"
#include "common/vec.h"
#include "frame.h"
#include "msgr.h"
#include "rxacct.h"
#include "shm/pool.h"
#include "shm/segment.h"

/* A sent message the peer has not acknowledged yet: its window share. */
struct unacked {
	uint64_t seq;
	uint64_t bytes; /* whole pool chunks, as the window counts them */
};

/* See channel.h for the lifetime. */
struct msgr__channel {
	struct msgr__chans *cs;
	enum msgr__channel_state state; /* assigned only by step(), from msgr__channel_next() */
	struct msgr__chan_end *end[2]; /* local: [0] connecting, [1] accepting side;
				       remote: [0] our end, [1] NULL */
	uint16_t mode;              /* enum msgr_mode */
	uint64_t created_ns;
	/* remote channels only */
	struct msgr__session *sess; /* NULL for a local channel */
	struct msgr__sess_chan sc;  /* its entry in the session's table; sc.id is its wire id */
	uint64_t peer_nonce;        /* instance of the remote entity */
	uint64_t out_seq;           /* last seq sent */
	uint64_t in_seq;            /* last seq taken in */
	uint64_t delivered;         /* last seq in the application's event ring */
	uint64_t ack_sent;          /* last ack value sent to the peer */
	uint64_t peer_ack;          /* last ack the peer sent */
	struct unacked *unacked;    /* sent, unacknowledged messages, oldest first
				       (common/vec.h FIFO), owned */
	size_t ua_head, ua_len, ua_cap;
	uint64_t ua_bytes;          /* their window bytes: in flight to the peer */
	uint64_t in_bytes;          /* window bytes taken in, not yet in the app's ring */
};

struct msgr__chans {
	const struct msgr__chan_conf *conf; /* borrowed from the loop */
	const struct msgr__net_conf *net;   /* likewise: listen, limits, timeouts */
	struct msgr__chan_stats *stats;     /* likewise */
	struct msgr__sessions *ss;          /* the layer below, or NULL */
	const struct msgr__chan_events *ev; /* the clients layer's */
	void *ctx;
};

static const struct msgr__session_events session_events;

static void notify(struct msgr__chans *cs, struct msgr__chan_end *e, uint16_t op, int err)
{
	cs->ev->notify(cs->ctx, e, op, err);
}

/* The channel behind a session's table entry. */
static struct msgr__channel *of_sc(struct msgr__sess_chan *sc)
{
	return sc ? (struct msgr__channel *)((char *)sc - offsetof(struct msgr__channel, sc)) : NULL;
}

/* ---- frames to the peer daemon ---- */

static void remote_send(struct msgr__channel *ch, uint8_t type, uint64_t seq, const void *p,
			size_t len)
{
	struct iovec iov = { (void *)p, len };

	msgr__session_send(ch->sess, type, ch->sc.id, seq, ch->delivered, &iov, len ? 1 : 0);
	ch->ack_sent = ch->delivered;
}

static void remote_send_err(struct msgr__channel *ch, uint8_t type, int err, const char *why)
{
	uint8_t buf[4 + 2 + 200];
	size_t n = msgr__put_uint(buf, (uint32_t)err, 4);

	if (type == MSGR__F_OPEN_FAIL) /* RESET carries the errno alone */
		n += msgr__put_str(buf + n, why, 200);
	remote_send(ch, type, 0, buf, n);
}

/* A negative errno from the wire, or fallback if it is not one. */
static int wire_errno(const uint8_t *p, uint32_t len, int fallback)
{
	int32_t e;

	if (len < 4)
		return fallback;
	e = (int32_t)msgr__get_uint(p, 4);
	return e < 0 && e > -4096 ? e : fallback;
}

/* ---- the state machine's driver ---- */

/* Forget ch: its ends' pointers, the session's table, its memory. */
static void channel_free(struct msgr__channel *ch)
{
	for (int i = 0; i < 2; i++)
		if (ch->end[i])
			ch->end[i]->ch = NULL;
	if (ch->sess) {
		msgr__session_forget(ch->sess, ch->sc.id);
		msgr__session_chan_del(ch->sess, &ch->sc);
	}
	free(ch->unacked);
	free(ch);
}

/*
 * Move ch by ev (msgr__channel_next decides) and run the actions. err is
 * what the ends and the peer are told; skip is an end not to tell (it asked
 * for the reset). Returns -EPROTO if the peer broke the protocol (the
 * caller closes its link), else the actions, for those the caller runs
 * itself (DELIVER: it has the message). ch may be freed on return.
 */
static int step(struct msgr__channel *ch, enum msgr__channel_event ev, int err,
		struct msgr__chan_end *skip)
{
	struct msgr__channel_step st = msgr__channel_next(ch->state, ev);
	unsigned a = st.actions;

	ch->state = st.next;
	if (a & MSGR__CA_PROTO)
		return -EPROTO;
	if (a & MSGR__CA_CONNECTED)
		notify(ch->cs, ch->end[0], MSGR__EV_CONNECTED, 0);
	for (int i = 0; i < 2; i++)
		if (ch->end[i] && ch->end[i] != skip && (a & (MSGR__CA_FAILED | MSGR__CA_RESET)))
			notify(ch->cs, ch->end[i],
			       a & MSGR__CA_FAILED ? MSGR__EV_CONNECT_FAILED : MSGR__EV_RESET, err);
	if ((a & MSGR__CA_SEND_RESET) && ch->sess)
		remote_send_err(ch, MSGR__F_RESET, err, NULL);
	if (a & MSGR__CA_FREE)
		channel_free(ch);
	return (int)a;
}

void msgr__channel_close(struct msgr__chan_end *from, int err)
{
	if (from->ch)
		step(from->ch, MSGR__CE_RESET, err, from);
}

/* Reset ch here, telling both sides (err). */
static void reset(struct msgr__channel *ch, int err)
{
	step(ch, MSGR__CE_RESET, err, NULL);
}

/* ---- opening ---- */

static struct msgr__channel *channel_new(struct msgr__chans *cs, uint16_t mode, uint64_t created_ns,
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
	struct msgr__channel *ch = channel_new(cs, end->mode, end->created_ns, MSGR__CHAN_OPENING);
	int err = -ENOMEM;
	struct msgr__session *s = ch && cs->ss ? msgr__session_get(cs->ss, hostport, &err) : NULL;
	uint8_t buf[1 + 8 + 2 + MSGR__ENTITY_MAX + 2 + MSGR__ENTITY_MAX], *p = buf;

	if (!s) {
		free(ch);
		msgr__info("client %s: connect to '%s': %s", o->entity, end->peer, strerror(-err));
		notify(cs, end, MSGR__EV_CONNECT_FAILED, err);
		return;
	}
	ch->sess = s;
	ch->sc.id = msgr__session_chan_id(s);
	ch->end[0] = end;
	end->ch = ch;
	msgr__session_chan_add(s, &ch->sc);
	p += msgr__put_uint(p, end->mode, 1);
	p += msgr__put_uint(p, o->nonce, 8);
	p += msgr__put_str(p, o->entity, MSGR__ENTITY_MAX);
	p += msgr__put_str(p, entity, MSGR__ENTITY_MAX);
	remote_send(ch, MSGR__F_OPEN, 0, buf, (size_t)(p - buf));
	msgr__debug("channel %s -> %s/%s: OPEN %u sent", o->addr, hostport, entity, ch->sc.id);
}

void msgr__channel_connect(struct msgr__chans *cs, struct msgr__chan_end *end)
{
	const struct msgr__chan_owner *o = end->owner;
	char hostport[MSGR__HOSTPORT_MAX], entity[MSGR__ENTITY_MAX];
	struct msgr__channel *ch;
	struct msgr__chan_end *acc;
	const char *why;
	int err;

	if (msgr__addr_split(end->peer, hostport, entity)) {
		msgr__info("client %s: connect to '%s': not HOST:PORT/TYPE.ID", o->entity, end->peer);
		notify(cs, end, MSGR__EV_CONNECT_FAILED, -EINVAL);
		return;
	}
	if (strcmp(hostport, cs->net->listen)) {
		connect_remote(cs, end, hostport, entity);
		return;
	}
	ch = channel_new(cs, end->mode, end->created_ns, MSGR__CHAN_OPEN);
	acc = ch ? cs->ev->accept(cs->ctx, entity, end->mode, o->addr, &err, &why) : NULL;
	if (!acc) {
		/* not attached, at its limit, or out of memory */
		free(ch);
		notify(cs, end, MSGR__EV_CONNECT_FAILED, -ECONNREFUSED);
		return;
	}
	ch->end[0] = end;
	ch->end[1] = acc;
	end->ch = acc->ch = ch;
	notify(cs, end, MSGR__EV_CONNECTED, 0);
	msgr__debug("channel %s -> %s open (mode %u)", o->addr, acc->owner->addr, end->mode);
}

/* The peer daemon opens a channel to one of our entities. */
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

	msgr__rd_str(&r, src, sizeof(src));
	msgr__rd_str(&r, dst, sizeof(dst));
	if (r.bad || r.n)
		return -EPROTO;
	if (mode < MSGR_LOSSY || mode > MSGR_PEER || msgr__entity_check(src) ||
	    msgr__entity_check(dst) || !msgr__session_chan_theirs(s, h->channel) ||
	    msgr__session_chan_find(s, h->channel))
		return -EPROTO;
	ch = channel_new(cs, mode, msgr__now_ns(), MSGR__CHAN_OPEN);
	if (!ch)
		return -ENOMEM;
	ch->sess = s;
	ch->sc.id = h->channel;
	ch->peer_nonce = nonce;
	msgr__session_chan_add(s, &ch->sc);
	snprintf(addr, sizeof(addr), "%s/%s", msgr__session_peer(s), src);
	acc = cs->ev->accept(cs->ctx, dst, mode, addr, &err, &why);
	if (!acc) {
		msgr__debug("session %s: OPEN %u from %s for %s refused: %s", msgr__session_peer(s),
			    h->channel, src, dst, why);
		remote_send_err(ch, MSGR__F_OPEN_FAIL, err, why);
		channel_free(ch);
		return 0;
	}
	ch->end[0] = acc;
	acc->ch = ch;
	msgr__put_uint(ok, acc->owner->nonce, 8);
	remote_send(ch, MSGR__F_OPEN_OK, 0, ok, 8);
	msgr__debug("channel %s -> %s open (remote, mode %u)", addr, acc->owner->addr, mode);
	return 0;
}

/* ---- messages ---- */

static void send_remote(struct msgr__channel *ch, struct msgr__chan_end *from, uint32_t msg_type,
			uint64_t off, uint64_t len)
{
	struct msgr__chans *cs = ch->cs;
	const struct msgr__chan_owner *o = from->owner;
	uint8_t type[4];
	struct iovec iov[2] = { { type, 4 }, { (void *)(o->txpool + off), len } };
	uint32_t peer_max = msgr__session_peer_max(ch->sess);
	uint64_t cost = msgr__pool_cost_bytes(len, o->chunk_shift);

	if (peer_max && len > peer_max) {
		/* the peer would take it as a broken link: fail the channel */
		cs->ev->tx_done(cs->ctx, from, off);
		reset(ch, -EMSGSIZE);
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
		reset(ch, -ENOBUFS);
		return;
	}
	if (msgr__fifo_reserve(&ch->unacked, &ch->ua_cap, ch->ua_head, ch->ua_len,
			       sizeof(*ch->unacked), 16)) {
		cs->ev->tx_done(cs->ctx, from, off);
		reset(ch, -ENOMEM);
		return;
	}
	msgr__put_uint(type, msg_type, 4);
	msgr__session_send(ch->sess, MSGR__F_MSG, ch->sc.id, ++ch->out_seq, ch->delivered, iov, 2);
	ch->ack_sent = ch->delivered;
	ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_len++, ch->ua_cap)] = (struct unacked){
		ch->out_seq, cost
	};
	ch->ua_bytes += cost;
	/* the frame holds a copy: the application may reuse its buffer */
	cs->ev->tx_done(cs->ctx, from, off);
	cs->stats->msgs_net_out++;
	cs->stats->bytes_net_out += len;
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
		reset(ch, -EMSGSIZE);
		return;
	}
	cs->stats->msgs_local++;
	cs->stats->bytes_local += len;
	cs->ev->deliver(cs->ctx, to, &m);
}

/* The peer has everything up to ack in its application's ring: give the
 * sender its window back. */
static void ack_in(struct msgr__channel *ch, uint64_t ack)
{
	uint64_t bytes = 0;

	if (ack <= ch->peer_ack || ack > ch->out_seq)
		return;
	ch->peer_ack = ack;
	while (ch->ua_len && ch->unacked[ch->ua_head].seq <= ack) {
		bytes += ch->unacked[ch->ua_head].bytes;
		ch->ua_bytes -= ch->unacked[ch->ua_head].bytes;
		ch->ua_head = msgr__fifo_at(ch->ua_head, 1, ch->ua_cap);
		ch->ua_len--;
	}
	if (bytes && ch->end[0])
		ch->cs->ev->credit(ch->cs->ctx, ch->end[0], bytes);
}

void msgr__channel_delivered(struct msgr__chan_end *e, uint64_t seq, uint64_t len)
{
	struct msgr__channel *ch = e->ch;
	uint64_t cost = msgr__pool_cost_bytes(len, e->owner->chunk_shift);

	if (!ch || !ch->sess || seq <= ch->delivered)
		return;
	ch->in_bytes -= cost <= ch->in_bytes ? cost : ch->in_bytes;
	ch->delivered = seq;
	msgr__session_ack_later(ch->sess, ch->sc.id);
}

static void flush_ack(struct msgr__channel *ch)
{
	if (ch->delivered > ch->ack_sent)
		remote_send(ch, MSGR__F_ACK, 0, NULL, 0);
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

static int on_msg(struct msgr__channel *ch, const struct msgr__frame_hdr *h, void *big)
{
	struct msgr__chans *cs = ch->cs;
	struct msgr__chan_end *k = ch->end[0];
	struct msgr__chan_msg m;
	uint64_t cost;
	int err;

	if (h->len < 4 || h->seq == 0) {
		free(big);
		return -EPROTO;
	}
	if (ch->state != MSGR__CHAN_OPEN || h->seq != ch->in_seq + 1) {
		/* Before OPEN_OK, or not the next one: links carry a session's
		 * frames in order, hand-overs included, so the peer lost
		 * messages or broke the protocol. A lossy channel says so. */
		msgr__warn("session %s: channel %u (%s): message %llu %s; resetting it",
			   msgr__session_peer(ch->sess), ch->sc.id, k->peer, (unsigned long long)h->seq,
			   ch->state != MSGR__CHAN_OPEN ? "before OPEN_OK" : "out of sequence");
		free(big);
		cs->stats->msgs_net_dropped++;
		step(ch, ch->state == MSGR__CHAN_OPEN ? MSGR__CE_RESET : MSGR__CE_MSG, -ECONNRESET, NULL);
		return 0;
	}
	ch->in_seq = h->seq;
	if (h->len - 4 > k->owner->pool_bytes) {
		free(big);
		reset(ch, -EMSGSIZE);
		return 0;
	}
	/* What a receiver has not taken yet waits here, in malloc'd memory:
	 * the sender's window bounds it, so a peer that ignores the window
	 * loses the channel rather than growing us without end. */
	cost = msgr__pool_cost_bytes(h->len - 4, k->owner->chunk_shift);
	if (ch->in_bytes && ch->in_bytes + cost > in_limit(ch)) {
		msgr__warn("session %s: channel %u (%s): the peer sent past any window "
			   "(%llu bytes waiting); resetting it", msgr__session_peer(ch->sess),
			   ch->sc.id, k->peer, (unsigned long long)ch->in_bytes);
		free(big);
		cs->stats->window_overruns++;
		reset(ch, -ENOBUFS);
		return 0;
	}
	/* and all of the session's channels together, counting what waits of
	 * channels that ended, so that opening channel after channel, each
	 * within its bound, does not add up to our memory */
	err = msgr__rxacct_charge(msgr__session_rxacct(ch->sess), h->len, cs->conf->session_buffer,
				  cs->conf->receive_buffer);
	if (err) {
		msgr__warn("session %s: channel %u (%s): %s is full of messages %s that local "
			   "applications have not taken; resetting it", msgr__session_peer(ch->sess),
			   ch->sc.id, k->peer, err == -ENOBUFS ? "net.session_buffer" : "net.receive_buffer",
			   err == -ENOBUFS ? "from this peer" : "from all peers");
		free(big);
		cs->stats->window_overruns++;
		reset(ch, -ENOBUFS);
		return 0;
	}
	ch->in_bytes += cost;
	memset(&m, 0, sizeof(m));
	m.acct = msgr__session_rxacct(ch->sess);
	m.acct_bytes = h->len;
	m.msg_type = (uint32_t)msgr__get_uint(big, 4);
	m.len = h->len - 4;
	m.buf = big;
	m.skip = 4;
	m.seq = h->seq;
	cs->stats->msgs_net_in++;
	cs->stats->bytes_net_in += m.len;
	if (step(ch, MSGR__CE_MSG, 0, NULL) & MSGR__CA_DELIVER)
		cs->ev->deliver(cs->ctx, k, &m);
	else
		free(big); /* not reached: the channel is open (checked above) */
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
	msgr__session_forget(s, id);
}

static int on_frame(void *ctx, struct msgr__session *s, const struct msgr__frame_hdr *h,
		    const void *payload, void *big)
{
	struct msgr__chans *cs = ctx;
	struct msgr__channel *ch;

	if (h->type == MSGR__F_OPEN)
		return on_open(cs, s, h, payload);
	ch = of_sc(msgr__session_chan_find(s, h->channel));
	if (!ch) {
		if (h->type == MSGR__F_MSG)
			cs->stats->msgs_net_dropped++;
		free(big);
		unknown(s, h->channel, h->type);
		return 0;
	}
	ack_in(ch, h->ack);
	switch (h->type) {
	case MSGR__F_MSG:
		return on_msg(ch, h, big);
	case MSGR__F_ACK:
		return h->len ? -EPROTO : 0;
	case MSGR__F_OPEN_OK:
		if (h->len != 8)
			return -EPROTO;
		ch->peer_nonce = msgr__get_uint(payload, 8);
		return step(ch, MSGR__CE_OPEN_OK, 0, NULL) < 0 ? -EPROTO : 0;
	case MSGR__F_OPEN_FAIL:
		if (ch->state == MSGR__CHAN_OPENING)
			msgr__info("client %s: connect to %s refused by the peer daemon",
				   ch->end[0]->owner->entity, ch->end[0]->peer);
		return step(ch, MSGR__CE_OPEN_FAIL, wire_errno(payload, h->len, -ECONNREFUSED), NULL) < 0
			       ? -EPROTO : 0;
	case MSGR__F_RESET:
		step(ch, MSGR__CE_PEER_RESET, wire_errno(payload, h->len, -ECONNRESET), NULL);
		return 0;
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
		reset(ch, err);
	} else {
		unknown(s, id, MSGR__F_MSG); /* an OPEN, perhaps: the opener must hear */
	}
}

static void on_chan_lost(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc, int err,
			 int notify_peer)
{
	step(of_sc(sc), notify_peer ? MSGR__CE_LOST_NOTIFY : MSGR__CE_LOST, err, NULL);
}

static void on_flush_ack(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc)
{
	flush_ack(of_sc(sc));
}

/* A channel we opened that the peer never answered (it is up but silent
 * about it, or the link it went on vanished in a hand-over) fails rather
 * than wait forever. */
static void on_chan_tick(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc,
			 uint64_t now)
{
	struct msgr__chans *cs = ctx;
	struct msgr__channel *ch = of_sc(sc);

	if (ch->state != MSGR__CHAN_OPENING ||
	    now - ch->created_ns < cs->net->connect_timeout_ms * 1000000ull)
		return;
	msgr__info("client %s: connect to %s: no answer within net.connect_timeout",
		   ch->end[0]->owner->entity, ch->end[0]->peer);
	step(ch, MSGR__CE_TIMEOUT, -ETIMEDOUT, NULL);
}

static const struct msgr__session_events session_events = {
	.frame = on_frame,
	.frame_lost = on_frame_lost,
	.chan_lost = on_chan_lost,
	.flush_ack = on_flush_ack,
	.chan_tick = on_chan_tick,
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

void msgr__channel_info(const struct msgr__chan_end *e, struct msgr__chan_info *out)
{
	const struct msgr__channel *ch = e->ch;

	memset(out, 0, sizeof(*out));
	out->state = msgr__channel_state_name(ch ? ch->state : MSGR__CHAN_CLOSED);
	if (!ch)
		return;
	/* a remote channel keeps no unacknowledged messages for replay and
	 * nobody reconnects it, so every link fault resets it, whatever the
	 * mode: lossless and peer modes hold only on the host until the
	 * lossless issue brings replay */
	out->mode_in_effect = ch->sess ? MSGR_LOSSY : ch->mode;
	out->remote = ch->sess != NULL;
	out->out_seq = ch->out_seq;
	out->in_seq = ch->in_seq;
	out->unacked_msgs = ch->ua_len;
	out->peer_ack = ch->peer_ack;
	out->delivered = ch->delivered;
	out->ack_sent = ch->ack_sent;
	out->wire_id = ch->sc.id;
}
