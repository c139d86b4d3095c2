#include "channel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/log.h"
#include "daemon.h"

static void post_simple(struct msgr__dconn *k, uint16_t op, int error)
{
	struct msgr__outbox_ent e = { .ev = { .op = op, .conn = k->id, .error = error } };

	if (op == MSGR__EV_CONNECT_FAILED || op == MSGR__EV_RESET)
		msgr__dconn_credit_reset(k);
	msgr__dclient_post(k->client, &e);
}

void msgr__channel_connect(struct msgr__daemon *d, struct msgr__dconn *conn)
{
	struct msgr__dclient *c = conn->client, *peer;
	char hostport[MSGR__HOSTPORT_MAX], entity[MSGR__ENTITY_MAX];
	struct msgr__channel *ch;
	struct msgr__dconn *acc;
	struct msgr__outbox_ent e;
	uint32_t id;

	if (msgr__addr_split(conn->peer, hostport, entity)) {
		msgr__info("client %s: connect to '%s': not HOST:PORT/TYPE.ID", c->entity, conn->peer);
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -EINVAL);
		return;
	}
	if (strcmp(hostport, d->conf.listen)) {
		/* No transport yet: only this daemon's own entities are reachable. */
		msgr__info("client %s: connect to '%s': no route (only %s is local)", c->entity,
			   conn->peer, d->conf.listen);
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -EHOSTUNREACH);
		return;
	}
	peer = msgr__dclient_find(d, entity);
	if (!peer || peer->nconns >= MSGR__MAX_CONNS) {
		post_simple(conn, MSGR__EV_CONNECT_FAILED, -ECONNREFUSED);
		return;
	}
	/* Find a free daemon-side id; the space is 2^31, so this ends fast. */
	do {
		id = MSGR__CONN_DAEMON_BIT | (peer->next_accept_id++ & ~MSGR__CONN_DAEMON_BIT);
	} while (id == MSGR__CONN_DAEMON_BIT || msgr__dconn_find(peer, id));

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
	struct msgr__dconn *to = ch->end[ch->end[0] == from ? 1 : 0];
	struct msgr__dclient *dst = to->client;
	struct msgr__outbox_ent e;

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
	dst->d->stats.msgs_local++;
	dst->d->stats.bytes_local += desc->len;
	msgr__dclient_post(dst, &e);
}

void msgr__channel_reset(struct msgr__channel *ch, struct msgr__dconn *from, int error)
{
	for (int i = 0; i < 2; i++) {
		struct msgr__dconn *k = ch->end[i];
		k->ch = NULL;
		if (k != from)
			post_simple(k, MSGR__EV_RESET, error);
	}
	free(ch);
}
