#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "client.h"
#include "conntab.h"
#include "link.h"
#include "outbox.h"
#include "common/log.h"
#include "common/vec.h"
#include "daemon.h" /* only for msgr__session_daemon(s)->reg in on_open */
#include "frame.h"
#include "msgr.h"
#include "rxacct.h"
#include "session.h"

static void post_simple(struct msgr__dconn *k, uint16_t op, int error)
{
	struct msgr__outbox_ent e = { .ev = { .op = op, .conn = k->id, .error = error } };

	if (op == MSGR__EV_CONNECT_FAILED || op == MSGR__EV_RESET)
		msgr__dconn_credit_reset(k);
	msgr__dclient_post(k->client, &e);
}

/* A free id for a connection the daemon opens in client c (top bit set);
 * the space is 2^31, so this ends fast. */
static uint32_t accept_id(struct msgr__dclient *c)
{
	uint32_t id;

	do {
		id = MSGR__CONN_DAEMON_BIT | (c->next_accept_id++ & ~MSGR__CONN_DAEMON_BIT);
	} while (id == MSGR__CONN_DAEMON_BIT || msgr__dconn_find(c, id));
	return id;
}

/* ---- remote channels ---- */

/* A negative errno from the wire, or fallback if it is not one. */
static int wire_errno(const uint8_t *p, uint32_t len, int fallback)
{
	int32_t e;

	if (len < 4)
		return fallback;
	e = (int32_t)msgr__get_uint(p, 4);
	return e < 0 && e > -4096 ? e : fallback;
}

static void remote_send(struct msgr__channel *ch, uint8_t type, uint64_t seq, const void *p,
			size_t len)
{
	struct iovec iov = { (void *)p, len };

	msgr__session_send(ch->sess, type, ch->wire_id, seq, ch->delivered, &iov, len ? 1 : 0);
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

/* Forget a remote channel: our end's pointer, the session's table. */
static void remote_free(struct msgr__channel *ch)
{
	if (ch->end[0])
		ch->end[0]->ch = NULL;
	msgr__session_forget(ch->sess, ch->wire_id);
	msgr__session_chan_del(ch->sess, ch);
	free(ch->unacked);
	free(ch);
}

static void connect_remote(struct msgr__daemon *d, struct msgr__dconn *conn, const char *hostport,
			   const char *entity)
{
	struct msgr__dclient *c = conn->client;
	struct msgr__channel *ch = calloc(1, sizeof(*ch));
	int err = -ENOMEM;
	struct msgr__session *s = ch ? msgr__session_get(d, hostport, &err) : NULL;
	uint8_t buf[1 + 8 + 2 + MSGR__ENTITY_MAX + 2 + MSGR__ENTITY_MAX], *p = buf;

	if (!s) {
		free(ch);
		msgr__info("client %s: connect to '%s': %s", c->entity, conn->peer, strerror(-err));
		post_simple(conn, MSGR__EV_CONNECT_FAILED, err);
		return;
	}
	ch->mode = conn->mode;
	ch->created_ns = conn->created_ns;
	ch->sess = s;
	ch->wire_id = msgr__session_chan_id(s);
	ch->opener = 1;
	ch->end[0] = conn;
	conn->ch = ch;
	msgr__session_chan_add(s, ch);
	p += msgr__put_uint(p, conn->mode, 1);
	p += msgr__put_uint(p, c->nonce, 8);
	p += msgr__put_str(p, c->entity, MSGR__ENTITY_MAX);
	p += msgr__put_str(p, entity, MSGR__ENTITY_MAX);
	remote_send(ch, MSGR__F_OPEN, 0, buf, (size_t)(p - buf));
	msgr__debug("channel %s -> %s/%s: OPEN %u sent", c->addr, hostport, entity, ch->wire_id);
}

static void send_remote(struct msgr__channel *ch, struct msgr__dconn *from,
			const struct msgr__desc *desc)
{
	struct msgr__dclient *c = from->client;
	struct msgr__session *s = ch->sess;
	uint8_t type[4];
	struct iovec iov[2] = { { type, 4 }, { c->txpool + desc->off, desc->len } };
	uint32_t peer_max = msgr__session_peer_max(s);

	uint64_t cost = msgr__pool_cost_bytes(desc->len, c->params.chunk_shift);

	if (peer_max && desc->len > peer_max) {
		/* the peer would take it as a broken link: fail the channel */
		msgr__dclient_tx_done(c, desc->off);
		msgr__channel_reset(ch, NULL, -EMSGSIZE);
		return;
	}
	if (ch->ua_bytes && ch->ua_bytes + cost > 2 * c->window + c->max_message) {
		/* libmsgr keeps a connection within max(window, one message)
		 * in flight, reserving before it copies; this client did not,
		 * and what it sends is copied out of its pool, so only this
		 * check bounds what it can make us queue for the peer */
		msgr__warn("client %s: sent past its window on the connection to %s; resetting it",
			   c->entity, from->peer);
		msgr__dclient_tx_done(c, desc->off);
		msgr__channel_reset(ch, NULL, -ENOBUFS);
		return;
	}
	if (msgr__fifo_reserve(&ch->unacked, &ch->ua_cap, ch->ua_head, ch->ua_len,
			       sizeof(*ch->unacked), 16)) {
		msgr__dclient_tx_done(c, desc->off);
		msgr__channel_reset(ch, NULL, -ENOMEM);
		return;
	}
	msgr__put_uint(type, desc->msg_type, 4);
	msgr__session_send(s, MSGR__F_MSG, ch->wire_id, ++ch->out_seq, ch->delivered, iov, 2);
	ch->ack_sent = ch->delivered;
	ch->unacked[msgr__fifo_at(ch->ua_head, ch->ua_len++, ch->ua_cap)] = (struct msgr__unacked){
		ch->out_seq, cost
	};
	ch->ua_bytes += cost;
	/* the frame holds a copy: the application may reuse its buffer */
	msgr__dclient_tx_done(c, desc->off);
	c->reg->chan_stats->msgs_net_out++;
	c->reg->chan_stats->bytes_net_out += desc->len;
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
		msgr__dconn_credit_add(ch->end[0], bytes);
}

void msgr__channel_delivered(struct msgr__dconn *k, uint64_t seq, uint64_t len)
{
	struct msgr__channel *ch = k->ch;
	uint64_t cost = msgr__pool_cost_bytes(len, k->client->params.chunk_shift);

	if (!ch || !ch->sess || seq <= ch->delivered)
		return;
	ch->in_bytes -= cost <= ch->in_bytes ? cost : ch->in_bytes;
	ch->delivered = seq;
	msgr__session_ack_later(ch->sess, ch->wire_id);
}

void msgr__channel_flush_ack(struct msgr__channel *ch)
{
	if (ch->delivered > ch->ack_sent)
		remote_send(ch, MSGR__F_ACK, 0, NULL, 0);
}

static int on_open(struct msgr__session *s, const struct msgr__frame_hdr *h, const uint8_t *p)
{
	struct msgr__daemon *d = msgr__session_daemon(s);
	char src[MSGR__ENTITY_MAX], dst[MSGR__ENTITY_MAX], addr[MSGR__ADDR_MAX];
	struct msgr__rd r = { p, h->len, 0 };
	uint16_t mode = (uint16_t)msgr__rd_uint(&r, 1);
	uint64_t nonce = msgr__rd_uint(&r, 8);
	struct msgr__dclient *peer;
	struct msgr__channel *ch;
	struct msgr__dconn *acc;
	struct msgr__outbox_ent e;
	uint8_t ok[8];

	msgr__rd_str(&r, src, sizeof(src));
	msgr__rd_str(&r, dst, sizeof(dst));
	if (r.bad || r.n)
		return -EPROTO;
	if (mode < MSGR_LOSSY || mode > MSGR_PEER || msgr__entity_check(src) ||
	    msgr__entity_check(dst) || !msgr__session_chan_theirs(s, h->channel) ||
	    msgr__session_chan_find(s, h->channel))
		return -EPROTO;

	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->mode = mode;
	ch->created_ns = msgr__now_ns();
	ch->sess = s;
	ch->wire_id = h->channel;
	ch->open = 1;
	ch->peer_nonce = nonce;
	msgr__session_chan_add(s, ch);
	peer = msgr__dclient_find(&d->reg, dst);
	snprintf(addr, sizeof(addr), "%s/%s", msgr__session_peer(s), src);
	if (!peer || !msgr__dconn_room(peer, peer->nconns, addr, peer->addr, 0)) {
		char why[MSGR__ENTITY_MAX + 64];
		snprintf(why, sizeof(why), "%s %s", dst,
			 peer ? "has too many connections" : "is not attached here");
		msgr__debug("session %s: OPEN %u from %s for %s refused: %s",
			    msgr__session_peer(s), h->channel, src, dst, why);
		remote_send_err(ch, MSGR__F_OPEN_FAIL, -ECONNREFUSED, why);
		remote_free(ch);
		return 0;
	}
	acc = msgr__dconn_add(peer, accept_id(peer), mode, addr, MSGR__CREDIT_NONE);
	memset(&e, 0, sizeof(e));
	e.text = acc ? strdup(addr) : NULL;
	if (!e.text) {
		if (acc)
			msgr__dconn_remove(peer, acc);
		remote_send_err(ch, MSGR__F_OPEN_FAIL, -ENOMEM, "out of memory");
		remote_free(ch);
		return 0;
	}
	acc->accepted = 1;
	acc->ch = ch;
	ch->end[0] = acc;
	e.ev.op = MSGR__EV_ACCEPTED;
	e.ev.conn = acc->id;
	e.ev.mode = mode;
	e.ev.msg_type = acc->credit_slot;
	e.ev.len = strlen(addr);
	msgr__dclient_post(peer, &e);
	msgr__put_uint(ok, peer->nonce, 8);
	remote_send(ch, MSGR__F_OPEN_OK, 0, ok, 8);
	msgr__debug("channel %s -> %s open (remote, mode %u)", addr, peer->addr, mode);
	return 0;
}

static int on_msg(struct msgr__channel *ch, const struct msgr__frame_hdr *h, void *big)
{
	struct msgr__dconn *k = ch->end[0];
	struct msgr__dclient *dst = k->client;
	struct msgr__outbox_ent e;

	const struct msgr__net_conf *net = dst->reg->net_conf;
	const struct msgr__chan_conf *cc = dst->reg->chan_conf;
	uint64_t cost, limit;
	int err;

	if (h->len < 4 || h->seq == 0) {
		free(big);
		return -EPROTO;
	}
	if (!ch->open || h->seq != ch->in_seq + 1) {
		/* Before OPEN_OK, or not the next one: links carry a session's
		 * frames in order, hand-overs included, so the peer lost
		 * messages or broke the protocol. A lossy channel says so. */
		msgr__warn("session %s: channel %u (%s): message %llu %s; resetting it",
			   msgr__session_peer(ch->sess), ch->wire_id, k->peer,
			   (unsigned long long)h->seq,
			   !ch->open ? "before OPEN_OK" : "out of sequence");
		free(big);
		dst->reg->chan_stats->msgs_net_dropped++;
		msgr__channel_reset(ch, NULL, -ECONNRESET);
		return 0;
	}
	ch->in_seq = h->seq;
	if (h->len - 4 > dst->pool_bytes) {
		free(big);
		msgr__channel_reset(ch, NULL, -EMSGSIZE);
		return 0;
	}
	/* What a receiver has not taken yet waits here, in malloc'd memory:
	 * the sender's window bounds it, so a peer that ignores the window
	 * loses the channel rather than growing us without end. The sender's
	 * window is the peer's setting (HELLO says which; a client keeps the
	 * one it attached with, so the bound is generous). */
	cost = msgr__pool_cost_bytes(h->len - 4, dst->params.chunk_shift);
	limit = msgr__session_peer_window(ch->sess);
	if (limit < net->channel_window)
		limit = net->channel_window;
	limit *= 4;
	if (limit < (64u << 20))
		limit = 64u << 20;
	limit += net->max_message;
	if (ch->in_bytes && ch->in_bytes + cost > limit) {
		msgr__warn("session %s: channel %u (%s): the peer sent past any window "
			   "(%llu bytes waiting); resetting it", msgr__session_peer(ch->sess),
			   ch->wire_id, k->peer, (unsigned long long)ch->in_bytes);
		free(big);
		dst->reg->chan_stats->window_overruns++;
		msgr__channel_reset(ch, NULL, -ENOBUFS);
		return 0;
	}
	/* and all of the session's channels together, counting what waits of
	 * channels that ended, so that opening channel after channel, each
	 * within its bound, does not add up to our memory */
	err = msgr__rxacct_charge(msgr__session_rxacct(ch->sess), h->len, cc->session_buffer,
				  cc->receive_buffer);
	if (err) {
		msgr__warn("session %s: channel %u (%s): %s is full of messages %s that local "
			   "applications have not taken; resetting it", msgr__session_peer(ch->sess),
			   ch->wire_id, k->peer, err == -ENOBUFS ? "net.session_buffer" : "net.receive_buffer",
			   err == -ENOBUFS ? "from this peer" : "from all peers");
		free(big);
		dst->reg->chan_stats->window_overruns++;
		msgr__channel_reset(ch, NULL, -ENOBUFS);
		return 0;
	}
	ch->in_bytes += cost;
	memset(&e, 0, sizeof(e));
	e.acct = msgr__session_rxacct(ch->sess);
	e.acct_bytes = h->len;
	e.ev.op = MSGR__EV_MESSAGE;
	e.ev.conn = k->id;
	e.ev.msg_type = (uint32_t)msgr__get_uint(big, 4);
	e.ev.len = h->len - 4;
	e.text = big;
	e.text_skip = 4;
	e.seq = h->seq;
	k->msgs_in++;
	k->bytes_in += e.ev.len;
	dst->msgs_recv++;
	dst->bytes_recv += e.ev.len;
	dst->reg->chan_stats->msgs_net_in++;
	dst->reg->chan_stats->bytes_net_in += e.ev.len;
	msgr__dclient_post(dst, &e);
	return 0;
}

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

int msgr__channel_on_frame(struct msgr__session *s, const struct msgr__frame_hdr *h,
			   const void *payload, void *big)
{
	struct msgr__channel *ch;

	if (h->type == MSGR__F_OPEN)
		return on_open(s, h, payload);
	ch = msgr__session_chan_find(s, h->channel);
	if (!ch) {
		if (h->type == MSGR__F_MSG)
			msgr__session_daemon(s)->stats.chan.msgs_net_dropped++;
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
		if (!ch->opener || ch->open || h->len != 8)
			return -EPROTO;
		ch->open = 1;
		ch->peer_nonce = msgr__get_uint(payload, 8);
		post_simple(ch->end[0], MSGR__EV_CONNECTED, 0);
		return 0;
	case MSGR__F_OPEN_FAIL:
		if (!ch->opener || ch->open)
			return -EPROTO;
		msgr__info("client %s: connect to %s refused by the peer daemon",
			   ch->end[0]->client->entity, ch->end[0]->peer);
		post_simple(ch->end[0], MSGR__EV_CONNECT_FAILED,
			    wire_errno(payload, h->len, -ECONNREFUSED));
		remote_free(ch);
		return 0;
	case MSGR__F_RESET:
		post_simple(ch->end[0], ch->open ? MSGR__EV_RESET : MSGR__EV_CONNECT_FAILED,
			    wire_errno(payload, h->len, -ECONNRESET));
		remote_free(ch);
		return 0;
	}
	return -EPROTO;
}

void msgr__channel_bad_crc(struct msgr__session *s, uint32_t id)
{
	struct msgr__channel *ch = msgr__session_chan_find(s, id);

	if (ch) {
		msgr__warn("session %s: channel %u (%s): payload CRC mismatch; resetting it",
			   msgr__session_peer(s), id, ch->end[0]->peer);
		msgr__channel_reset(ch, NULL, -EBADMSG);
	} else {
		unknown(s, id, MSGR__F_MSG); /* an OPEN, perhaps: the opener must hear */
	}
}

void msgr__channel_oversized(struct msgr__session *s, uint32_t id)
{
	struct msgr__channel *ch = msgr__session_chan_find(s, id);

	if (ch) {
		msgr__warn("session %s: channel %u (%s): a message over global.max_message; "
			   "resetting it", msgr__session_peer(s), id, ch->end[0]->peer);
		msgr__channel_reset(ch, NULL, -EMSGSIZE);
	} else {
		unknown(s, id, MSGR__F_MSG);
	}
}

void msgr__channel_session_down(struct msgr__channel *ch, int err, int notify)
{
	post_simple(ch->end[0], ch->open ? MSGR__EV_RESET : MSGR__EV_CONNECT_FAILED, err);
	if (notify)
		remote_send_err(ch, MSGR__F_RESET, err, NULL);
	remote_free(ch);
}

void msgr__channel_open_timeout(struct msgr__channel *ch)
{
	msgr__info("client %s: connect to %s: no answer within net.connect_timeout",
		   ch->end[0]->client->entity, ch->end[0]->peer);
	post_simple(ch->end[0], MSGR__EV_CONNECT_FAILED, -ETIMEDOUT);
	remote_send_err(ch, MSGR__F_RESET, -ETIMEDOUT, NULL);
	remote_free(ch);
}

void msgr__channel_connect(struct msgr__daemon *d, struct msgr__dconn *conn)
{
	struct msgr__dclient *c = conn->client, *peer;
	char hostport[MSGR__HOSTPORT_MAX], entity[MSGR__ENTITY_MAX];
	struct msgr__channel *ch;
	struct msgr__dconn *acc;
	struct msgr__outbox_ent e;
	uint32_t id;

	/* conn is in c's table already: it is one of c's ids, the others
	 * are what c held before; it stays there, failed, until c closes it */
	if (!msgr__dconn_room(c, c->nconns - 1, c->addr, conn->peer, 1)) {
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -EMFILE);
		return;
	}
	if (msgr__addr_split(conn->peer, hostport, entity)) {
		msgr__info("client %s: connect to '%s': not HOST:PORT/TYPE.ID", c->entity, conn->peer);
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -EINVAL);
		return;
	}
	if (strcmp(hostport, c->reg->net_conf->listen)) {
		connect_remote(d, conn, hostport, entity);
		return;
	}
	peer = msgr__dclient_find(c->reg, entity);
	if (!peer || !msgr__dconn_room(peer, peer->nconns, c->addr, conn->peer, 0)) {
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -ECONNREFUSED);
		return;
	}
	id = accept_id(peer);

	ch = calloc(1, sizeof(*ch));
	acc = ch ? msgr__dconn_add(peer, id, conn->mode, c->addr, MSGR__CREDIT_NONE) : NULL;
	if (!acc) {
		/* out of memory, or the peer has no credit slot left */
		free(ch);
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -ECONNREFUSED);
		return;
	}
	acc->accepted = 1;
	ch->mode = conn->mode;
	ch->created_ns = conn->created_ns;
	ch->end[0] = conn;
	ch->end[1] = acc;
	conn->ch = acc->ch = ch;

	memset(&e, 0, sizeof(e));
	e.ev.op = MSGR__EV_ACCEPTED;
	e.ev.conn = id;
	e.ev.mode = conn->mode;
	e.ev.msg_type = acc->credit_slot;
	e.ev.len = strlen(c->addr);
	e.text = strdup(c->addr);
	if (!e.text) {
		/* the peer never hears of acc: forget it there, fail here */
		msgr__channel_reset(ch, acc, -ENOMEM);
		msgr__dconn_remove(peer, acc);
		return;
	}
	msgr__dclient_post(peer, &e);
	post_simple(conn, MSGR__EV_CONNECTED, 0);
	msgr__debug("channel %s -> %s open (mode %u)", c->addr, acc->client->addr, conn->mode);
}

void msgr__channel_send(struct msgr__dconn *from, const struct msgr__desc *desc)
{
	struct msgr__channel *ch = from->ch;
	struct msgr__dconn *to;
	struct msgr__dclient *dst;
	struct msgr__outbox_ent e;

	if (ch->sess) {
		send_remote(ch, from, desc);
		return;
	}
	to = ch->end[ch->end[0] == from ? 1 : 0];
	dst = to->client;

	if (desc->len > dst->pool_bytes) {
		/* It could never be delivered: fail the channel, not the link. */
		msgr__dclient_tx_done(from->client, desc->off);
		msgr__channel_reset(ch, NULL, -EMSGSIZE);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ev.op = MSGR__EV_MESSAGE;
	e.ev.conn = to->id;
	e.ev.msg_type = desc->msg_type;
	e.ev.len = desc->len;
	e.src = from->client;
	e.src_off = desc->off;
	e.src_conn = from->id;
	to->msgs_in++;
	to->bytes_in += desc->len;
	dst->msgs_recv++;
	dst->bytes_recv += desc->len;
	dst->reg->chan_stats->msgs_local++;
	dst->reg->chan_stats->bytes_local += desc->len;
	msgr__dclient_post(dst, &e);
}

void msgr__channel_reset(struct msgr__channel *ch, struct msgr__dconn *from, int error)
{
	if (ch->sess) {
		if (ch->end[0] && ch->end[0] != from)
			post_simple(ch->end[0], ch->open ? MSGR__EV_RESET : MSGR__EV_CONNECT_FAILED,
				    error);
		remote_send_err(ch, MSGR__F_RESET, error, NULL);
		remote_free(ch);
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct msgr__dconn *k = ch->end[i];
		k->ch = NULL;
		if (k != from)
			post_simple(k, MSGR__EV_RESET, error);
	}
	free(ch);
}

unsigned msgr__channel_mode_in_effect(const struct msgr__channel *ch)
{
	return ch->sess ? MSGR_LOSSY : ch->mode;
}
