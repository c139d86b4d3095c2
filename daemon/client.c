#include "client.h"

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
#include "common/bits.h"
#include "common/list.h"
#include "common/log.h"
#include "common/vec.h"
#include "daemon.h"
#include "rxacct.h"
#include "msgr.h"
#include "shm/wake.h"

#define CMD_BATCH 256 /* commands per client per pass, so one client cannot starve others */

static void on_sock(uv_poll_t *h, int status, int events);
static void on_efd(uv_poll_t *h, int status, int events);

void msgr__dclient_ref(struct msgr__dclient *c)
{
	c->refs++;
}

void msgr__dclient_unref(struct msgr__dclient *c)
{
	if (--c->refs > 0)
		return;
	if (c->base)
		munmap(c->base, c->size);
	if (c->efd_client >= 0)
		close(c->efd_client);
	msgr__pool_destroy(&c->rxp);
	free(c->tx_held);
	free(c->free_slots);
	free(c->slot_used);
	free(c->q);
	free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
	msgr__dclient_unref(h->data);
}

/* ---- connection table ---- */

struct msgr__dconn *msgr__dconn_find(struct msgr__dclient *c, uint32_t id)
{
	for (struct msgr__dconn *k = c->conns[id % MSGR__CONN_BUCKETS]; k; k = k->hnext)
		if (k->id == id)
			return k;
	return NULL;
}

struct msgr__dconn *msgr__dconn_add(struct msgr__dclient *c, uint32_t id, uint16_t mode,
				    const char *peer, uint32_t slot)
{
	struct msgr__dconn *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (slot == MSGR__CREDIT_NONE) {
		if (c->nfree_slots)
			slot = c->free_slots[--c->nfree_slots];
		else if (c->next_slot < MSGR__CREDIT_SLOTS - MSGR__CREDIT_SPLIT)
			slot = MSGR__CREDIT_SPLIT + c->next_slot++;
		else {
			free(k);
			return NULL;
		}
	}
	k->credit_slot = slot;
	if (slot < MSGR__CREDIT_SPLIT)
		msgr__bit_set(c->slot_used, slot);
	atomic_store_explicit(&c->credits[k->credit_slot], 0, memory_order_relaxed);
	k->id = id;
	k->mode = mode;
	k->client = c;
	k->created_ns = msgr__now_ns();
	snprintf(k->peer, sizeof(k->peer), "%s", peer);
	k->hnext = c->conns[id % MSGR__CONN_BUCKETS];
	c->conns[id % MSGR__CONN_BUCKETS] = k;
	c->nconns++;
	return k;
}

void msgr__dconn_remove(struct msgr__dclient *c, struct msgr__dconn *k)
{
	struct msgr__dconn **pp = &c->conns[k->id % MSGR__CONN_BUCKETS];

	while (*pp != k)
		pp = &(*pp)->hnext;
	*pp = k->hnext;
	c->nconns--;
	/* zero before the CLOSED event goes out: whoever gets the slot next
	 * starts from nothing */
	atomic_store_explicit(&c->credits[k->credit_slot], 0, memory_order_relaxed);
	if (k->credit_slot < MSGR__CREDIT_SPLIT) {
		msgr__bit_clear(c->slot_used, k->credit_slot);
		free(k);
		return;
	}
	if (!msgr__vec_reserve(&c->free_slots, &c->cap_free_slots, c->nfree_slots + 1,
			       sizeof(*c->free_slots), 64))
		c->free_slots[c->nfree_slots++] = k->credit_slot; /* else the slot is lost, harmlessly */
	free(k);
}

struct msgr__dclient *msgr__dclient_find(struct msgr__daemon *d, const char *entity)
{
	for (struct msgr__dclient *c = d->clients; c; c = c->next)
		if (!strcmp(c->entity, entity))
			return c;
	return NULL;
}

/* ---- creation ---- */

int msgr__dclient_create(struct msgr__daemon *d, int sock, const char *entity,
			 uint64_t pool_size, struct msgr__dclient **out, int fds[3])
{
	struct msgr__dclient *c;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int memfd = -1, err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->refs = 1; /* the registry's */
	c->sock = sock;
	c->efd_daemon = c->efd_client = -1;
	snprintf(c->entity, sizeof(c->entity), "%s", entity);
	snprintf(c->addr, sizeof(c->addr), "%s/%s", d->conf.net.listen, entity);
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
	c->max_message = d->conf.net.max_message; /* later config changes apply to new clients */
	c->window = d->conf.net.channel_window;

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
	uv_poll_init(d->loop, &c->sock_poll, sock);
	uv_poll_init(d->loop, &c->efd_poll, c->efd_daemon);
	c->sock_poll.data = c->efd_poll.data = c;
	/* A hang-up shows as readable (EOF) on a SEQPACKET socket. */
	uv_poll_start(&c->sock_poll, UV_READABLE | UV_DISCONNECT, on_sock);
	uv_poll_start(&c->efd_poll, UV_READABLE, on_efd);

	c->id = ++d->next_client_id;
	c->next = d->clients;
	if (d->clients)
		d->clients->prev = c;
	d->clients = c;
	d->nclients++;
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

/* ---- teardown ---- */

/* Free an entry's text, and give back the session bytes it was charged. */
static void ent_text_free(struct msgr__outbox_ent *e)
{
	free(e->text);
	e->text = NULL;
	msgr__rxacct_release(e->acct, e->acct_bytes);
	e->acct = NULL;
}

static void outbox_discard(struct msgr__outbox_ent *e)
{
	if (e->src) {
		msgr__dclient_tx_done(e->src, e->src_off);
		msgr__dclient_unref(e->src);
		e->src = NULL;
	}
	ent_text_free(e);
}

/* Messages c sent that still wait in other clients' outboxes would keep c's
 * whole segment mapped until they are delivered. Copy just those payloads
 * out, so a gone client costs what it had in flight, not its two pools. */
static void unpin(struct msgr__dclient *c)
{
	for (struct msgr__dclient *o = c->d->clients; o; o = o->next)
		for (size_t i = 0; i < o->qlen; i++) {
			struct msgr__outbox_ent *e = &o->q[msgr__fifo_at(o->qhead, i, o->qcap)];
			char *copy;
			if (e->src != c)
				continue;
			copy = malloc(e->ev.len ? e->ev.len : 1);
			if (!copy)
				continue; /* keep the reference: pinned, but correct */
			memcpy(copy, c->txpool + e->src_off, e->ev.len);
			msgr__dclient_tx_done(c, e->src_off);
			msgr__dclient_unref(c);
			e->src = NULL;
			e->text = copy;
			e->text_skip = 0;
		}
}

void msgr__dclient_drop(struct msgr__dclient *c, int level, const char *fmt, ...)
{
	struct msgr__daemon *d = c->d;
	va_list ap;

	if (c->dropped)
		return;
	c->dropped = 1;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	msgr__log(level, "client %s (pid %d): detached: %s", c->entity, (int)c->pid, c->reason);
	if (level <= MSGR__LOG_WARN)
		d->stats.client.violations++;
	d->stats.client.detaches++;

	/* out of the registry first, so nothing new is routed here */
	msgr__list_unlink(&d->clients, c);
	d->nclients--;

	unpin(c);
	for (int b = 0; b < MSGR__CONN_BUCKETS; b++)
		while (c->conns[b]) {
			struct msgr__dconn *k = c->conns[b];
			if (k->ch)
				msgr__channel_reset(k->ch, k, -ECONNRESET);
			msgr__dconn_remove(c, k);
		}
	while (c->qlen) {
		outbox_discard(&c->q[c->qhead]);
		c->qhead = msgr__fifo_at(c->qhead, 1, c->qcap);
		c->qlen--;
	}

	c->refs += 2;
	uv_close((uv_handle_t *)&c->sock_poll, on_handle_closed);
	uv_close((uv_handle_t *)&c->efd_poll, on_handle_closed);
	close(c->sock);
	close(c->efd_daemon);
	c->sock = c->efd_daemon = -1;
	msgr__dclient_unref(c); /* the registry's reference */
}

static void on_sock(uv_poll_t *h, int status, int events)
{
	struct msgr__dclient *c = h->data;
	char buf[64];
	ssize_t n = recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || status < 0) {
		/* Sends that returned 0 before the client went are in its cmd
		 * ring: serve them first, so a detach loses nothing. A ring's
		 * worth at most: a dead client cannot refill it. */
		for (uint32_t i = 0; i <= c->params.cmd_slots / CMD_BATCH && !c->dropped &&
				     msgr__ring_ready_sc(&c->cmd); i++)
			msgr__dclient_service(c);
		msgr__dclient_drop(c, MSGR__LOG_INFO, "connection closed");
	}
	else if (n > 0)
		msgr__dclient_drop(c, MSGR__LOG_WARN, "unexpected data on the attach socket");
}

static void on_efd(uv_poll_t *h, int status, int events)
{
	struct msgr__dclient *c = h->data;
	uint64_t v;

	if (read(c->efd_daemon, &v, sizeof(v)) > 0)
		c->d->stats.client.wakeups_recv++;
	msgr__daemon_kick(c->d);
}

/* ---- the TX pool: buffers the application lent us ---- */

static int tx_claim(struct msgr__dclient *c, uint64_t off, uint64_t len)
{
	uint64_t chunk = off >> c->params.chunk_shift;

	if (off & (((uint64_t)1 << c->params.chunk_shift) - 1) || off >= c->pool_bytes ||
	    len > c->pool_bytes - off)
		return -EFAULT;
	if (msgr__bit_test(c->tx_held, chunk))
		return -EBUSY;
	msgr__bit_set(c->tx_held, chunk);
	return 0;
}

void msgr__dclient_tx_done(struct msgr__dclient *c, uint64_t off)
{
	uint64_t chunk = off >> c->params.chunk_shift;
	struct msgr__free_desc f = { .off = off };

	msgr__bit_clear(c->tx_held, chunk);
	if (c->dropped)
		return;
	/* The ring has a slot per pool chunk and we hold each allocation once,
	 * so it can be full only if the client lied about its buffers. */
	if (msgr__ring_push_sp(&c->txdone, &f))
		msgr__dclient_doom(c, "txdone ring full: the client corrupted it");
}

/* Our copy of a connection's counter goes to the segment; the daemon never
 * reads the shared word back. */
static void credit_publish(struct msgr__dconn *k)
{
	/* release: pairs with the acquire in libmsgr's window check */
	atomic_store_explicit(&k->client->credits[k->credit_slot], k->credit, memory_order_release);
}

void msgr__dconn_credit_add(struct msgr__dconn *k, uint64_t bytes)
{
	k->credit += bytes;
	credit_publish(k);
}

void msgr__dconn_credit_reset(struct msgr__dconn *k)
{
	k->credit |= MSGR__CREDIT_RESET;
	credit_publish(k);
}

int msgr__dconn_room(struct msgr__dclient *c, uint32_t others, const char *from,
		     const char *to, int opener)
{
	struct msgr__daemon *d = c->d;
	uint64_t held;
	char note[64];

	if (others < d->conf.client.max_conns_per_client)
		return 1;
	d->stats.client.conns_refused++;
	/* one line for connectors at their limit, another for targets at
	 * theirs, so neither hides the other */
	if (msgr__ratelimit(opener ? &d->conns_rl : &d->peer_conns_rl, 10000, &held))
		msgr__warn("connect from %s to %s refused: %s holds %u connections "
			   "(global.max_conns_per_client = %llu)%s", from, to, c->entity, others,
			   (unsigned long long)d->conf.client.max_conns_per_client,
			   msgr__ratelimit_note(held, note, sizeof(note)));
	return 0;
}

void msgr__dclient_doom(struct msgr__dclient *c, const char *reason)
{
	if (c->dropped || c->doomed)
		return;
	c->doomed = 1;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	msgr__daemon_schedule(c->d);
}

void msgr__dclient_reap(struct msgr__daemon *d)
{
	struct msgr__dclient *c, *next;

	for (c = d->clients; c; c = next) {
		next = c->next;
		if (c->doomed) {
			char why[sizeof(c->reason)];
			memcpy(why, c->reason, sizeof(why));
			msgr__dclient_drop(c, MSGR__LOG_WARN, "%s", why);
		}
	}
}

/* ---- the outbox: events waiting for evt ring or RX pool space ---- */

/* 0 if posted; -ENOBUFS if there is no room yet. */
static int post_now(struct msgr__dclient *c, struct msgr__outbox_ent *e)
{
	struct msgr__desc ev = e->ev;
	const char *src = NULL;
	uint64_t off;
	int err;

	if (!msgr__ring_writable_sp(&c->evt))
		return -ENOBUFS;
	if (e->src) {
		src = (const char *)e->src->txpool + e->src_off;
	} else if (e->text) {
		src = e->text + e->text_skip;
	}
	if (src) {
		err = msgr__pool_alloc(&c->rxp, ev.len, &off);
		if (err)
			return -ENOBUFS; /* -EMSGSIZE was ruled out when queued */
		memcpy(c->rxpool + off, src, ev.len);
		ev.off = off;
	}
	if (msgr__ring_push_sp(&c->evt, &ev)) {
		/* writable a moment ago: the client rewrote the slot under us */
		if (src)
			msgr__pool_free(&c->rxp, ev.off);
		msgr__dclient_doom(c, "evt ring corrupted");
		return -ENOBUFS;
	}
	c->posted++;
	msgr__daemon_schedule(c->d); /* its pass sends the wakeup */
	if (e->src) {
		/* the message left our outbox: its bytes no longer count
		 * against the sending connection's window */
		struct msgr__dconn *from = msgr__dconn_find(e->src, e->src_conn);
		if (from && !e->src->dropped) {
			/* whole chunks, as the message took them in the pool */
			msgr__dconn_credit_add(from, msgr__pool_cost_bytes(ev.len, e->src->params.chunk_shift));
		}
		msgr__dclient_tx_done(e->src, e->src_off);
		msgr__dclient_unref(e->src);
		e->src = NULL;
	}
	if (e->seq) {
		/* in the application's ring now: the peer daemon may count it
		 * as received (PROTOCOL.md, channels) */
		struct msgr__dconn *k = msgr__dconn_find(c, ev.conn);
		if (k)
			msgr__channel_delivered(k, e->seq, ev.len);
	}
	ent_text_free(e);
	return 0;
}

/* Per-connection view of the outbox for msgrctl conns; only the slow path
 * (an event that had to wait) pays for the lookup. */
static void queued_account(struct msgr__dclient *c, const struct msgr__outbox_ent *e, int add)
{
	struct msgr__dconn *k;

	if (e->ev.op != MSGR__EV_MESSAGE || !(k = msgr__dconn_find(c, e->ev.conn)))
		return;
	if (add) {
		k->queued_msgs++;
		k->queued_bytes += e->ev.len;
	} else if (k->queued_msgs) {
		k->queued_msgs--;
		k->queued_bytes -= e->ev.len;
	}
}

static int outbox_flush(struct msgr__dclient *c)
{
	int n = 0;

	while (c->qlen) {
		if (post_now(c, &c->q[c->qhead])) {
			/* Ask the application to wake us when it frees space, then
			 * look once more in case it did so before seeing the flag. */
			msgr__wake_arm(&c->hdr->daemon_wants_rx);
			if (post_now(c, &c->q[c->qhead]))
				break;
			msgr__wake_disarm(&c->hdr->daemon_wants_rx);
		}
		queued_account(c, &c->q[c->qhead], 0);
		c->qhead = msgr__fifo_at(c->qhead, 1, c->qcap);
		c->qlen--;
		n++;
	}
	return n;
}

int msgr__dclient_post(struct msgr__dclient *c, const struct msgr__outbox_ent *e)
{
	struct msgr__outbox_ent tmp = *e;

	if (c->dropped) {
		/* no reference was taken on src yet: give its buffer back only */
		if (tmp.src)
			msgr__dclient_tx_done(tmp.src, tmp.src_off);
		ent_text_free(&tmp);
		return -ENOTCONN;
	}
	if (c->qlen >= MSGR__OUTBOX_HARD) {
		if (tmp.src)
			msgr__dclient_tx_done(tmp.src, tmp.src_off);
		ent_text_free(&tmp);
		msgr__dclient_doom(c, "more than 1048576 events waiting: it does not read them");
		return -ENOBUFS;
	}
	if (tmp.src)
		msgr__dclient_ref(tmp.src);
	if (c->qlen == 0 && post_now(c, &tmp) == 0)
		return 0;
	if (msgr__fifo_reserve(&c->q, &c->qcap, c->qhead, c->qlen, sizeof(*c->q), 64)) {
		outbox_discard(&tmp);
		return -ENOMEM;
	}
	c->q[msgr__fifo_at(c->qhead, c->qlen, c->qcap)] = tmp;
	c->qlen++;
	queued_account(c, &tmp, 1);
	/* Events from the network are posted outside a poll pass: make sure
	 * one runs, whose outbox flush asks the client for a wakeup when it
	 * makes room. */
	msgr__daemon_schedule(c->d);
	return 0;
}

/* ---- commands ---- */

static void handle_connect(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	char peer[MSGR__ADDR_MAX];
	struct msgr__dconn *k;
	int err;

	if (cmd->conn == 0 || (cmd->conn & MSGR__CONN_DAEMON_BIT) || msgr__dconn_find(c, cmd->conn)) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CONNECT with bad or duplicate conn id %u",
				   cmd->conn);
		return;
	}
	if (c->nconns >= MSGR__MAX_CONNS) {
		/* global.max_conns_per_client refuses connects long before
		 * (channel.c), and credit slots run out at 32768 ids of our
		 * own: only a client that broke the rules gets here */
		msgr__dclient_drop(c, MSGR__LOG_WARN, "more than %u connections open",
				   MSGR__MAX_CONNS);
		return;
	}
	if (cmd->msg_type >= MSGR__CREDIT_SPLIT ||
	    msgr__bit_test(c->slot_used, cmd->msg_type)) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CONNECT with bad or busy credit slot %u",
				   cmd->msg_type);
		return;
	}
	if (cmd->mode < MSGR_LOSSY || cmd->mode > MSGR_PEER) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CONNECT with bad mode %u", cmd->mode);
		return;
	}
	if (cmd->len == 0 || cmd->len >= sizeof(peer)) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CONNECT with bad address length %llu",
				   (unsigned long long)cmd->len);
		return;
	}
	err = tx_claim(c, cmd->off, cmd->len);
	if (err) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CONNECT with bad buffer (off %llu len %llu)",
				   (unsigned long long)cmd->off, (unsigned long long)cmd->len);
		return;
	}
	memcpy(peer, c->txpool + cmd->off, cmd->len);
	peer[cmd->len] = 0;
	msgr__dclient_tx_done(c, cmd->off);
	k = msgr__dconn_add(c, cmd->conn, cmd->mode, peer, cmd->msg_type);
	if (!k) {
		msgr__dclient_drop(c, MSGR__LOG_ERR, "out of memory");
		return;
	}
	msgr__channel_connect(c->d, k);
}

static void handle_send(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	struct msgr__dconn *k = msgr__dconn_find(c, cmd->conn);
	int err;

	if (cmd->len > c->max_message) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "SEND of %llu bytes exceeds max_message",
				   (unsigned long long)cmd->len);
		return;
	}
	err = tx_claim(c, cmd->off, cmd->len);
	if (err) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "SEND with %s buffer (off %llu len %llu)",
				   err == -EBUSY ? "an already queued" : "an out-of-pool",
				   (unsigned long long)cmd->off, (unsigned long long)cmd->len);
		return;
	}
	if (!k) {
		msgr__dclient_tx_done(c, cmd->off);
		msgr__dclient_drop(c, MSGR__LOG_WARN, "SEND on unknown conn id %u", cmd->conn);
		return;
	}
	k->msgs_out++;
	k->bytes_out += cmd->len;
	c->msgs_sent++;
	c->bytes_sent += cmd->len;
	if (!k->ch) {
		c->d->stats.client.msgs_dropped++;
		msgr__dclient_tx_done(c, cmd->off);
		return;
	}
	msgr__channel_send(k, cmd);
}

static void handle_close(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	struct msgr__dconn *k = msgr__dconn_find(c, cmd->conn);
	struct msgr__outbox_ent e = { .ev = { .op = MSGR__EV_CLOSED, .conn = cmd->conn } };

	if (!k) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CLOSE on unknown conn id %u", cmd->conn);
		return;
	}
	if (k->ch)
		msgr__channel_reset(k->ch, k, -ECONNRESET);
	msgr__dconn_remove(c, k);
	/* after every event already queued for this id, so the library knows
	 * when it can forget the handle */
	msgr__dclient_post(c, &e);
}

static void handle_cmd(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	switch (cmd->op) {
	case MSGR__OP_CONNECT:
		handle_connect(c, cmd);
		break;
	case MSGR__OP_SEND:
		handle_send(c, cmd);
		break;
	case MSGR__OP_CLOSE:
		handle_close(c, cmd);
		break;
	default:
		msgr__dclient_drop(c, MSGR__LOG_WARN, "unknown command op %u", cmd->op);
	}
}

/* Whether the client's next command may be served now. Past the outbox's
 * soft limit only CLOSE is: a client's own commands are what fill its
 * outbox, but a CLOSE frees a connection (its CLOSED event ends that
 * connection's events), and the application may be closing handles in
 * answer to the very events that filled it. Anything else waits until the
 * client reads. */
static int cmd_servable(struct msgr__dclient *c)
{
	struct msgr__desc cmd;

	if (msgr__ring_peek_sc(&c->cmd, &cmd))
		return 0;
	return c->qlen < MSGR__OUTBOX_SOFT || cmd.op == MSGR__OP_CLOSE;
}

int msgr__dclient_pending(struct msgr__dclient *c)
{
	/* posted: events went out after this client's turn in the pass (a
	 * peer dropped later in it); the next pass must send the wakeup.
	 * A command that may not be served yet is no reason to stay awake:
	 * the client wakes us when it reads (daemon_wants_rx), or pushes
	 * more (daemon_sleeping). */
	return !c->dropped && (c->posted || c->doomed || cmd_servable(c) ||
			       (c->qlen && msgr__ring_ready_sc(&c->rxfree)));
}

int msgr__dclient_service(struct msgr__dclient *c)
{
	struct msgr__desc cmd;
	struct msgr__free_desc f;
	int work = 0;

	if (c->dropped)
		return 0;
	msgr__dclient_ref(c); /* a command may drop it */
	while (!c->dropped && msgr__ring_pop_sc(&c->rxfree, &f) == 0) {
		if (msgr__pool_free(&c->rxp, f.off)) {
			msgr__dclient_drop(c, MSGR__LOG_WARN,
					   "released RX buffer at %llu that it does not hold",
					   (unsigned long long)f.off);
			break;
		}
		work++;
	}
	/* A client with this many events unread gets only CLOSEs served
	 * until it reads (cmd_servable). A client that changes the slot
	 * between the peek and the pop gets one command served anyway: one
	 * more event, within the hard limit. */
	for (int i = 0; i < CMD_BATCH && !c->dropped && cmd_servable(c); i++) {
		if (msgr__ring_pop_sc(&c->cmd, &cmd))
			break;
		handle_cmd(c, &cmd);
		work++;
	}
	if (!c->dropped)
		work += outbox_flush(c);
	if (!c->dropped && c->posted) {
		c->posted = 0;
		if (msgr__wake_take(&c->hdr->client_sleeping)) {
			uint64_t one = 1;
			if (write(c->efd_client, &one, sizeof(one)) == sizeof(one))
				c->d->stats.client.wakeups_sent++;
		}
	}
	msgr__dclient_unref(c);
	return work;
}
