/*
 * registry.c - clients coming and going (registry.h).
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "common/list.h"
#include "conntab.h"
#include "link.h"
#include "msgr.h"
#include "outbox.h"
#include "rxacct.h"

static void on_handle_closed(uv_handle_t *h)
{
	msgr__dclient_unref(h->data);
}

int msgr__dclient_create(struct msgr__registry *reg, int sock, const char *entity,
			 uint64_t pool_size, struct msgr__dclient **out, int fds[3])
{
	struct msgr__dclient *c;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int memfd = -1, err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->reg = reg;
	c->refs = 1; /* the registry's */
	c->sock = sock;
	c->efd_daemon = c->efd_client = -1;
	snprintf(c->entity, sizeof(c->entity), "%s", entity);
	snprintf(c->addr, sizeof(c->addr), "%s/%s", reg->net_conf->listen, entity);
	if (getrandom(&c->nonce, sizeof(c->nonce), 0) != sizeof(c->nonce)) {
		err = -errno;
		goto fail;
	}
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
	}
	c->attached_ns = msgr__now_ns();
	c->next_accept_id = 1;

	msgr__seg_params_init(&c->params, pool_size);
	msgr__seg_layout(&c->params, &c->lo);
	c->size = c->lo.size;
	c->pool_bytes = (uint64_t)c->params.pool_chunks << c->params.chunk_shift;
	c->max_message = reg->net_conf->max_message; /* later config changes apply to new clients */
	c->window = reg->net_conf->channel_window;
	c->owner = (struct msgr__chan_owner){
		.entity = c->entity, .addr = c->addr, .nonce = c->nonce, .pool_bytes = c->pool_bytes,
		.chunk_shift = c->params.chunk_shift, .window = c->window, .max_message = c->max_message,
	}; /* txpool once mapped, below */

	memfd = memfd_create("msgr-segment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)c->size) ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL)) {
		err = -errno;
		goto fail;
	}
	c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (c->base == MAP_FAILED) {
		c->base = NULL;
		err = -errno;
		goto fail;
	}
	msgr__seg_format(c->base, &c->params, &c->lo, getpid(), c->pid);
	c->hdr = c->base;
	{
		unsigned char *b = c->base;
		msgr__ring_open(&c->cmd, b + c->lo.cmd, c->params.cmd_slots, sizeof(struct msgr__desc));
		msgr__ring_open(&c->evt, b + c->lo.evt, c->params.evt_slots, sizeof(struct msgr__desc));
		msgr__ring_open(&c->txdone, b + c->lo.txdone, c->params.free_slots,
				sizeof(struct msgr__free_desc));
		msgr__ring_open(&c->rxfree, b + c->lo.rxfree, c->params.free_slots,
				sizeof(struct msgr__free_desc));
		c->txpool = b + c->lo.txpool;
		c->owner.txpool = c->txpool;
		c->rxpool = b + c->lo.rxpool;
		c->credits = (_Atomic uint64_t *)(b + c->lo.credits);
	}
	err = msgr__pool_init(&c->rxp, c->params.pool_chunks, c->params.chunk_shift);
	if (err)
		goto fail;
	c->tx_held = calloc((c->params.pool_chunks + 63) / 64, sizeof(uint64_t));
	c->slot_used = calloc(MSGR__CREDIT_SPLIT / 64, sizeof(uint64_t));
	c->efd_daemon = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->efd_client = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!c->tx_held || !c->slot_used || c->efd_daemon < 0 || c->efd_client < 0) {
		err = c->tx_held && c->slot_used ? -errno : -ENOMEM;
		goto fail;
	}
	/* watched from msgr__dclient_start (cmd.c); closed by drop */
	uv_poll_init(reg->loop, &c->sock_poll, sock);
	uv_poll_init(reg->loop, &c->efd_poll, c->efd_daemon);
	c->sock_poll.data = c->efd_poll.data = c;

	c->id = ++reg->next_client_id;
	c->next = reg->clients;
	if (reg->clients)
		reg->clients->prev = c;
	reg->clients = c;
	reg->nclients++;
	msgr__dclient_activate(c);
	fds[0] = memfd;
	fds[1] = c->efd_daemon;
	fds[2] = c->efd_client;
	*out = c;
	return 0;
fail:
	if (memfd >= 0)
		close(memfd);
	if (c->efd_daemon >= 0)
		close(c->efd_daemon);
	c->sock = -1; /* the caller still owns it */
	msgr__dclient_unref(c);
	return err;
}

void msgr__dclient_drop(struct msgr__dclient *c, int level, const char *fmt, ...)
{
	struct msgr__registry *reg = c->reg;
	va_list ap;

	if (c->dropped)
		return;
	c->dropped = 1;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	msgr__logt(level, &(struct msgr__log_tags){ .entity = c->entity }, "client %s (pid %d): detached: %s",
		   c->entity, (int)c->pid, c->reason);
	if (level <= MSGR__LOG_WARN)
		reg->stats->violations++;
	reg->stats->detaches++;

	/* out of the registry first, so nothing new is routed here */
	msgr__list_unlink(&reg->clients, c);
	msgr__dclient_deactivate(c);
	reg->nclients--;

	msgr__outbox_unpin(c);
	for (int b = 0; b < MSGR__CONN_BUCKETS; b++)
		while (c->conns[b]) {
			struct msgr__dconn *k = c->conns[b];
			msgr__channel_gone(&k->end);
			msgr__dconn_remove(c, k);
		}
	msgr__outbox_clear(c);

	c->refs += 2;
	uv_close((uv_handle_t *)&c->sock_poll, on_handle_closed);
	uv_close((uv_handle_t *)&c->efd_poll, on_handle_closed);
	close(c->sock);
	close(c->efd_daemon);
	c->sock = c->efd_daemon = -1;
	msgr__dclient_unref(c); /* the registry's reference */
}


/* ---- what the channels layer tells ---- */

void msgr__registry_notify(struct msgr__registry *reg, struct msgr__chan_end *e, uint16_t op,
			   int err)
{
	struct msgr__dconn *k = msgr__dconn_of(e);
	struct msgr__outbox_ent ent = { .ev = { .op = op, .conn = k->id, .error = err } };

	if (op == MSGR__EV_CONNECT_FAILED || op == MSGR__EV_RESET)
		msgr__dconn_credit_reset(k); /* a sender waiting on the window must hear */
	if (op != MSGR__EV_CONNECTED && msgr__log_level >= MSGR__LOG_DEBUG)
		/* the journal's CONN= and PEER= find a connection's story */
		msgr__logt(MSGR__LOG_DEBUG,
			   &(struct msgr__log_tags){ .entity = k->client->entity, .peer = k->peer, .conn = k->id },
			   "client %s: connection %llu with %s: event %u (%s)", k->client->entity,
			   (unsigned long long)k->id, k->peer, (unsigned)op, err ? strerror(-err) : "ok");
	msgr__dclient_post(k->client, &ent);
}

static void ev_notify(void *ctx, struct msgr__chan_end *e, uint16_t op, int err)
{
	msgr__registry_notify(ctx, e, op, err);
}

static int ev_rx_reserve(void *ctx, struct msgr__chan_end *e, uint64_t len, struct msgr__rx_resv *r)
{
	struct msgr__dclient *c = msgr__dconn_of(e)->client;
	uint64_t off;

	if (c->dropped || msgr__pool_alloc(&c->rxp, len, &off))
		return -ENOBUFS;
	msgr__dclient_ref(c); /* the pool, and the mapping, outlive a drop */
	r->owner = c;
	r->off = off;
	r->p = c->rxpool + off;
	return 0;
}

static void ev_rx_release(void *ctx, struct msgr__rx_resv *r)
{
	struct msgr__dclient *c = r->owner;

	(void)ctx;
	(void)msgr__pool_free(&c->rxp, r->off);
	r->owner = NULL;
	msgr__dclient_unref(c);
}

static void ev_deliver(void *ctx, struct msgr__chan_end *to, const struct msgr__chan_msg *m)
{
	struct msgr__dconn *k = msgr__dconn_of(to);
	struct msgr__dclient *dst = k->client;
	struct msgr__outbox_ent e;

	memset(&e, 0, sizeof(e));
	e.ev.op = MSGR__EV_MESSAGE;
	e.ev.conn = k->id;
	e.ev.msg_type = m->msg_type;
	e.ev.len = m->len;
	if (m->src) {
		/* local: the payload stays in the sender's pool until posted */
		struct msgr__dconn *from = msgr__dconn_of(m->src);
		e.src = from->client;
		e.src_off = m->src_off;
		e.src_conn = from->id;
	} else {
		if (m->rx.owner == dst && !dst->dropped) {
			/* in place: the reservation's reference goes with it */
			e.rx_held = 1;
			e.rx_off = m->rx.off;
		} else if (m->rx.owner) {
			/* reserved in a client this end no longer is (it
			 * came back attached anew): copy it over, as a
			 * message that waited in our memory */
			struct msgr__rx_resv r = m->rx;
			e.text = malloc(m->len ? m->len : 1);
			if (e.text)
				memcpy(e.text, r.p, m->len);
			ev_rx_release(ctx, &r);
			if (!e.text) {
				msgr__rxacct_release(m->acct, m->acct_bytes);
				msgr__warn("client %s: out of memory for a message; dropped", dst->entity);
				return;
			}
		} else {
			e.text = m->buf;
			e.text_skip = m->skip;
			e.borrowed = m->borrowed;
		}
		e.seq = m->seq;
		e.acct = m->acct;
		e.acct_bytes = m->acct_bytes;
	}
	k->msgs_in++;
	k->bytes_in += m->len;
	dst->msgs_recv++;
	dst->bytes_recv += m->len;
	msgr__dclient_post(dst, &e);
}

static void ev_tx_done(void *ctx, struct msgr__chan_end *from, uint64_t off)
{
	msgr__dclient_tx_done(msgr__dconn_of(from)->client, off);
}

static void ev_credit(void *ctx, struct msgr__chan_end *e, uint64_t bytes)
{
	msgr__dconn_credit_add(msgr__dconn_of(e), bytes);
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

static const char *mode_name(uint16_t mode)
{
	switch (mode) {
	case MSGR_LOSSY:
		return "lossy";
	case MSGR_LOSSLESS:
		return "lossless";
	case MSGR_PEER:
		return "peer";
	}
	return "unknown-mode";
}

/* Whether peer's msgr_accept_modes(3) rules refuse a connect in mode from
 * the address from (HOST:PORT/TYPE.ID); if so, why in reason. */
static int mode_refused(struct msgr__dclient *peer, uint16_t mode, const char *from, char *reason,
			size_t len)
{
	char hostport[MSGR__HOSTPORT_MAX], entity[MSGR__ENTITY_MAX];
	int rule;

	if (!peer->accept.n)
		return 0;
	if (msgr__addr_split(from, hostport, entity))
		entity[0] = 0; /* cannot happen (both paths build it); matches no rule */
	if (!msgr__accept_rules_check(&peer->accept, entity, mode, &rule))
		return 0;
	peer->reg->stats->modes_refused++;
	snprintf(reason, len, "%s does not accept %s connections from %s%s", peer->entity,
		 mode_name(mode), entity, rule < 0 ? " (no rule matches it)" : "");
	if (msgr__log_level >= MSGR__LOG_DEBUG)
		msgr__logt(MSGR__LOG_DEBUG, &(struct msgr__log_tags){ .entity = peer->entity, .peer = from },
			   "connect from %s refused: %s", from, reason);
	return 1;
}

static struct msgr__chan_end *ev_accept(void *ctx, const char *entity, uint16_t mode,
					const char *from, int *err, const char **why)
{
	static char reason[2 * MSGR__ENTITY_MAX + 128]; /* loop thread only */
	struct msgr__registry *reg = ctx;
	struct msgr__dclient *peer = msgr__dclient_find(reg, entity);
	struct msgr__dconn *acc;
	struct msgr__outbox_ent e;
	size_t fromlen = strlen(from);

	if (fromlen == 0 || fromlen > MSGR__TEXT_MAX) {
		/* never: addresses are checked where they come in, and are
		 * shorter; the ACCEPTED could not carry it */
		*why = "the opener's address is too long";
		*err = -EINVAL;
		return NULL;
	}
	if (peer && mode_refused(peer, mode, from, reason, sizeof(reason))) {
		*why = reason;
		*err = -EPROTONOSUPPORT;
		return NULL;
	}
	if (!peer || !msgr__dconn_room(peer, peer->nconns, from, peer->addr, 0)) {
		snprintf(reason, sizeof(reason), "%s %s", entity,
			 peer ? "has too many connections" : "is not attached here");
		*why = reason;
		/* ENXIO, not ECONNREFUSED, for a name nobody holds: the
		 * opener's application tells it from a host where no daemon
		 * listens (a dial refused), which is ECONNREFUSED */
		*err = peer ? -ECONNREFUSED : -ENXIO;
		return NULL;
	}
	*why = "out of memory";
	*err = -ENOMEM;
	acc = msgr__dconn_add(peer, accept_id(peer), mode, from, MSGR__CREDIT_NONE);
	memset(&e, 0, sizeof(e));
	e.text = acc ? strdup(from) : NULL;
	if (!e.text) {
		/* out of memory, or the peer has no credit slot left */
		if (acc)
			msgr__dconn_remove(peer, acc);
		return NULL;
	}
	acc->accepted = 1;
	e.ev.op = MSGR__EV_ACCEPTED;
	e.ev.conn = acc->id;
	e.ev.mode = mode;
	e.ev.msg_type = acc->credit_slot;
	e.ev.len = fromlen;
	msgr__dclient_post(peer, &e);
	return &acc->end;
}

const struct msgr__chan_events msgr__registry_chan_events = {
	.notify = ev_notify,
	.deliver = ev_deliver,
	.tx_done = ev_tx_done,
	.credit = ev_credit,
	.accept = ev_accept,
	.rx_reserve = ev_rx_reserve,
	.rx_release = ev_rx_release,
};
