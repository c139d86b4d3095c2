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

	msgr__rd_str(&r, src, sizeof(src));
	msgr__rd_str(&r, dst, sizeof(dst));
	if (r.bad || r.n)
		return -EPROTO;
	if (mode < MSGR_LOSSY || mode > MSGR_PEER || msgr__entity_check(src) ||
	    msgr__entity_check(dst) || !msgr__session_chan_theirs(s, h->channel) ||
	    msgr__session_chan_find(s, h->channel))
		return -EPROTO;
	ch = msgr__channel_new(cs, mode, msgr__now_ns(), MSGR__CHAN_OPEN);
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

static void flush_ack(struct msgr__channel *ch)
{
	if (ch->delivered > ch->ack_sent)
		msgr__channel_wire(ch, MSGR__F_ACK, 0, NULL, 0);
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
		msgr__channel_step(ch, ch->state == MSGR__CHAN_OPEN ? MSGR__CE_RESET : MSGR__CE_MSG, -ECONNRESET, NULL);
		return 0;
	}
	ch->in_seq = h->seq;
	if (h->len - 4 > k->owner->pool_bytes) {
		free(big);
		msgr__channel_reset(ch, -EMSGSIZE);
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
		msgr__channel_reset(ch, -ENOBUFS);
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
		msgr__channel_reset(ch, -ENOBUFS);
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
	if (msgr__channel_step(ch, MSGR__CE_MSG, 0, NULL) & MSGR__CA_DELIVER)
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
		return msgr__channel_step(ch, MSGR__CE_OPEN_OK, 0, NULL) < 0 ? -EPROTO : 0;
	case MSGR__F_OPEN_FAIL:
		if (ch->state == MSGR__CHAN_OPENING)
			msgr__info("client %s: connect to %s refused by the peer daemon",
				   ch->end[0]->owner->entity, ch->end[0]->peer);
		return msgr__channel_step(ch, MSGR__CE_OPEN_FAIL, wire_errno(payload, h->len, -ECONNREFUSED), NULL) < 0
			       ? -EPROTO : 0;
	case MSGR__F_RESET:
		msgr__channel_step(ch, MSGR__CE_PEER_RESET, wire_errno(payload, h->len, -ECONNRESET), NULL);
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
		msgr__channel_reset(ch, err);
	} else {
		unknown(s, id, MSGR__F_MSG); /* an OPEN, perhaps: the opener must hear */
	}
}

static void on_chan_lost(void *ctx, struct msgr__session *s, struct msgr__sess_chan *sc, int err,
			 int notify_peer)
{
	msgr__channel_step(of_sc(sc), notify_peer ? MSGR__CE_LOST_NOTIFY : MSGR__CE_LOST, err, NULL);
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
	msgr__channel_step(ch, MSGR__CE_TIMEOUT, -ETIMEDOUT, NULL);
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
