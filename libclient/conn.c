/*
 * conn.c - libmsgr: Connection handles and sending.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/bits.h"
#include "internal.h"
#include "shm/wake.h"

/* The by_peer bucket of peer in mode (FNV-1a: the application names its
 * peers, nobody else). */
static unsigned peer_bucket(const char *peer, enum msgr_mode mode)
{
	uint32_t h = 2166136261u ^ (uint32_t)mode;

	for (const unsigned char *p = (const unsigned char *)peer; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % CONN_BUCKETS;
}

struct msgr_conn *msgr__conn_lookup(msgr_client *c, uint32_t id)
{
	for (struct msgr_conn *k = c->conns[id % CONN_BUCKETS]; k; k = k->hnext)
		if (k->id == id)
			return k;
	return NULL;
}

struct msgr_conn *msgr__conn_new(msgr_client *c, uint32_t id, enum msgr_mode mode,
				 const char *peer, int state)
{
	struct msgr_conn *k = calloc(1, sizeof(*k));
	unsigned pb;

	if (!k)
		return NULL;
	k->c = c;
	k->id = id;
	k->mode = mode;
	atomic_init(&k->state, state);
	atomic_init(&k->closed, 0);
	atomic_init(&k->credit_slot, MSGR__CREDIT_NONE);
	atomic_init(&k->sent, 0);
	snprintf(k->peer, sizeof(k->peer), "%s", peer);
	k->hnext = c->conns[id % CONN_BUCKETS];
	c->conns[id % CONN_BUCKETS] = k;
	pb = peer_bucket(k->peer, mode);
	k->pnext = c->by_peer[pb];
	c->by_peer[pb] = k;
	return k;
}

void msgr__conn_forget(msgr_client *c, struct msgr_conn *k)
{
	uint32_t slot = atomic_load(&k->credit_slot);

	if (slot < MSGR__CREDIT_SPLIT)
		msgr__bit_clear(c->slots, slot);
	struct msgr_conn **pp = &c->conns[k->id % CONN_BUCKETS];

	while (*pp && *pp != k)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = k->hnext;
	for (pp = &c->by_peer[peer_bucket(k->peer, k->mode)]; *pp && *pp != k; pp = &(*pp)->pnext)
		;
	if (*pp)
		*pp = k->pnext;
	free(k);
}

/* An open or opening handle to peer in mode, for get_connection semantics. */
static struct msgr_conn *find_open(msgr_client *c, const char *peer, enum msgr_mode mode)
{
	for (struct msgr_conn *k = c->by_peer[peer_bucket(peer, mode)]; k; k = k->pnext)
		if (k->mode == mode && !atomic_load(&k->closed) &&
		    atomic_load(&k->state) != CONN_RESET && !strcmp(k->peer, peer))
			return k;
	return NULL;
}

/* Push d with its text after it, as one unit in the cmd ring (segment.h:
 * control texts). Waits while the ring is full. */
static int push_text(msgr_client *c, const struct msgr__desc *d, const char *text)
{
	struct msgr__desc unit[MSGR__UNIT_MAX];
	size_t n = strlen(text);

	if (n == 0 || n > MSGR__TEXT_MAX)
		return -EINVAL; /* the callers checked the text's syntax, so never */
	return msgr__cmd_push_n(c, unit, msgr__text_unit(unit, d, text, n));
}

/* A credit slot no open connection of ours uses, or MSGR__CREDIT_NONE.
 * Under c->lock. */
static uint32_t free_slot(msgr_client *c)
{
	for (uint32_t w = 0; w < MSGR__CREDIT_SPLIT / 64; w++)
		if (c->slots[w] != ~0ULL)
			return w * 64 + (uint32_t)__builtin_ctzll(~c->slots[w]);
	return MSGR__CREDIT_NONE;
}

int msgr_connect(msgr_client *c, const char *peer, enum msgr_mode mode, msgr_conn **out)
{
	char hp[MSGR__HOSTPORT_MAX], ent[MSGR__ENTITY_MAX];
	struct msgr__desc d;
	struct msgr_conn *k;
	uint32_t slot;
	int err;

	if (!c || !peer || !out)
		return msgr__fail_call(-EINVAL, "msgr_connect", NULL);
	if (mode < MSGR_LOSSY || mode > MSGR_PEER)
		return msgr__fail(-EINVAL, "msgr_connect: mode %d is not MSGR_LOSSY, MSGR_LOSSLESS "
				  "or MSGR_PEER", (int)mode);
	if (msgr__addr_split(peer, hp, ent))
		return msgr__fail(-EINVAL, "msgr_connect: '%.*s' is not an address HOST:PORT/TYPE.ID "
				  "(10.0.0.1:6800/osd.3, [::1]:6800/client.admin)", MSGR__ADDR_MAX,
				  peer);
	if (atomic_load(&c->daemon_lost))
		return msgr__fail_call(-ENOTCONN, "msgr_connect", NULL);
	/* Held until the CONNECT is in the ring: a thread that finds this
	 * handle and sends on it must never get its SEND in first. */
	pthread_mutex_lock(&c->connect_lock);
	pthread_mutex_lock(&c->lock);
	k = find_open(c, peer, mode);
	if (k) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->connect_lock);
		*out = k;
		return 0;
	}
	do {
		c->next_id = (c->next_id + 1) & ~MSGR__CONN_DAEMON_BIT;
	} while (c->next_id == 0 || msgr__conn_lookup(c, c->next_id));
	slot = free_slot(c);
	k = slot < MSGR__CREDIT_SPLIT ? msgr__conn_new(c, c->next_id, mode, peer, CONN_CONNECTING) : NULL;
	if (k) {
		msgr__bit_set(c->slots, slot);
		atomic_store(&k->credit_slot, slot);
	}
	pthread_mutex_unlock(&c->lock);
	if (!k) {
		pthread_mutex_unlock(&c->connect_lock);
		return slot < MSGR__CREDIT_SPLIT
			       ? msgr__fail(-ENOMEM, "msgr_connect: out of memory")
			       : msgr__fail(-EMFILE, "msgr_connect: %s holds %d connections of its own "
					    "already, as many as libmsgr tracks", c->entity,
					    MSGR__CREDIT_SPLIT);
	}

	memset(&d, 0, sizeof(d));
	d.op = MSGR__OP_CONNECT;
	d.mode = (uint16_t)mode;
	d.conn = k->id;
	d.msg_type = slot;
	err = push_text(c, &d, peer);
	if (err) {
		/* nobody else can hold k: they wait on connect_lock */
		pthread_mutex_lock(&c->lock);
		msgr__conn_forget(c, k);
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->connect_lock);
		return msgr__fail_call(err, "msgr_connect", NULL);
	}
	pthread_mutex_unlock(&c->connect_lock);
	*out = k;
	return 0;
}

static int accept_modes(msgr_client *c, const char *peer_pattern, unsigned modes)
{
	struct msgr__desc d;
	unsigned us = 20;
	uint32_t seq;
	int err, known = 0;

	if (!c || !peer_pattern || (modes & ~MSGR_MODES_ALL) ||
	    msgr__entity_pattern_check(peer_pattern, NULL, 0))
		return -EINVAL;
	if (atomic_load(&c->daemon_lost))
		return -ENOTCONN;
	/* Held until the daemon has the rule: calls apply in the order made,
	 * and nrules counts exactly what the daemon holds. */
	pthread_mutex_lock(&c->rules_lock);
	for (uint32_t i = 0; i < c->nrules && !known; i++)
		known = !strcmp(c->rules[i], peer_pattern);
	if (!known && c->nrules == MSGR__ACCEPT_RULES) {
		pthread_mutex_unlock(&c->rules_lock);
		return -ENOSPC;
	}
	memset(&d, 0, sizeof(d));
	d.op = MSGR__OP_ACCEPT_MODES;
	d.mode = (uint16_t)modes;
	d.msg_type = seq = ++c->rules_seq;
	err = push_text(c, &d, peer_pattern);
	if (!err && !known)
		strcpy(c->rules[c->nrules++], peer_pattern);
	/* The daemon serves commands in order and acknowledges this one once
	 * the rule is in place, so every connect it serves after we return
	 * meets the rule. It serves it even while it holds back our other
	 * commands for unread events, unless one of those is ahead of it. */
	while (!err && (int32_t)(atomic_load_explicit(&c->hdr->modes_acked, memory_order_acquire) -
				 seq) < 0) {
		if (msgr__daemon_gone(c)) {
			err = -ENOTCONN;
			break;
		}
		msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
		msgr__backoff(&us);
	}
	pthread_mutex_unlock(&c->rules_lock);
	return err;
}

int msgr_accept_modes(msgr_client *c, const char *peer_pattern, unsigned modes)
{
	int err = accept_modes(c, peer_pattern, modes);

	if (err == -ENOSPC)
		return msgr__fail(err, "msgr_accept_modes: %d rules already; no more fit",
				  MSGR__ACCEPT_RULES);
	if (err == -EINVAL && c && peer_pattern && !(modes & ~MSGR_MODES_ALL)) {
		char why[160];
		msgr__entity_pattern_check(peer_pattern, why, sizeof(why));
		return msgr__fail(err, "msgr_accept_modes: %s", why);
	}
	return err ? msgr__fail_call(err, "msgr_accept_modes", NULL) : 0;
}

static int send_check(msgr_conn *k)
{
	if (!k)
		return -EINVAL;
	if (atomic_load_explicit(&k->closed, memory_order_relaxed))
		return -EBADF;
	if (atomic_load_explicit(&k->c->daemon_lost, memory_order_relaxed))
		return -ENOTCONN;
	if (atomic_load_explicit(&k->state, memory_order_relaxed) == CONN_RESET)
		return -ECONNRESET;
	return 0;
}

/* Flow control: bytes this connection has on their way to the receiver
 * must stay within the window, so one slow receiver holds only its own share
 * of our TX pool. A message larger than the window goes when nothing waits.
 * The window is reserved here, by compare-and-swap on k->sent, so threads
 * sending on one connection at once cannot all pass the check: at most one
 * message (the one that found nothing waiting) goes past it. The caller
 * gives the reservation back with window_unreserve if the send fails. */
static int window_wait(msgr_conn *k, size_t len)
{
	msgr_client *c = k->c;
	unsigned us = 20;
	uint64_t cost = msgr__pool_cost(c, len);

	for (;;) {
		uint64_t sent = atomic_load_explicit(&k->sent, memory_order_relaxed), out = 0;
		uint32_t slot = atomic_load_explicit(&k->credit_slot, memory_order_relaxed);
		if (atomic_load_explicit(&k->closed, memory_order_relaxed))
			return -EBADF;
		if (slot < MSGR__CREDIT_SLOTS) {
			/* acquire: pairs with the daemon's release stores */
			uint64_t done = atomic_load_explicit(&c->credits[slot], memory_order_acquire);
			if (done & MSGR__CREDIT_RESET)
				return -ECONNRESET; /* before msgr_next has seen the RESET */
			out = done <= sent ? sent - done : 0; /* the daemon never over-counts */
		}
		/* (no slot: an accepted connection the daemon gave none; no limit) */
		if (out == 0 || out + cost <= c->window) {
			/* relaxed: k->sent orders nothing else; the daemon never
			 * reads it (its credits are its own count) */
			if (atomic_compare_exchange_weak_explicit(&k->sent, &sent, sent + cost,
								  memory_order_relaxed,
								  memory_order_relaxed))
				return 0;
			continue; /* another thread reserved first: look again */
		}
		if (!c->send_blocking)
			return -EAGAIN;
		if (msgr__daemon_gone(c))
			return -ENOTCONN;
		if (atomic_load_explicit(&k->state, memory_order_relaxed) == CONN_RESET)
			return -ECONNRESET;
		msgr__backoff(&us);
	}
}

static void window_unreserve(msgr_conn *k, size_t len)
{
	atomic_fetch_sub_explicit(&k->sent, msgr__pool_cost(k->c, len), memory_order_relaxed);
}

static int post_send(msgr_conn *k, uint32_t msg_type, uint64_t off, size_t len)
{
	struct msgr__desc d;

	memset(&d, 0, sizeof(d));
	d.op = MSGR__OP_SEND;
	d.conn = k->id;
	d.msg_type = msg_type;
	d.off = off;
	d.len = len;
	return msgr__cmd_push(k->c, &d); /* the window was reserved in window_wait */
}

static int sendv(msgr_conn *k, uint32_t msg_type, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	uint64_t off;
	unsigned char *p;
	int err = send_check(k);

	if (err)
		return err;
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		/* a sum that wraps would pass the size checks small and then
		 * copy the real lengths into the pool */
		if (__builtin_add_overflow(len, iov[i].iov_len, &len))
			return -EMSGSIZE;
	}
	err = window_wait(k, len);
	if (err)
		return err;
	err = msgr__tx_alloc(k->c, len, &off);
	if (err) {
		window_unreserve(k, len);
		return err;
	}
	p = k->c->txpool + off;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	err = post_send(k, msg_type, off, len);
	if (err) {
		msgr__tx_free(k->c, off);
		window_unreserve(k, len);
	}
	return err;
}

/* The public send calls: the bodies above, and on failure the text for
 * msgr_last_error() (a constant for EAGAIN, which a busy sender may hit in
 * a loop). */
int msgr_sendv(msgr_conn *k, uint32_t msg_type, const struct iovec *iov, int iovcnt)
{
	int err = sendv(k, msg_type, iov, iovcnt);

	return err ? msgr__fail_call(err, "msgr_sendv", k) : 0;
}

int msgr_send(msgr_conn *k, uint32_t msg_type, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	int err = sendv(k, msg_type, &iov, 1);

	return err ? msgr__fail_call(err, "msgr_send", k) : 0;
}

static int send_buf(msgr_conn *k, uint32_t msg_type, void *buf, size_t len)
{
	msgr_client *c;
	unsigned char *p = buf;
	uint64_t off, ch;
	size_t have;
	int err = send_check(k);

	if (err)
		return err;
	c = k->c;
	if (p < c->txpool || p >= c->txpool + c->pool_size)
		return -EINVAL;
	if (len > c->max_message)
		return -EMSGSIZE;
	err = window_wait(k, len);
	if (err)
		return err;
	off = (uint64_t)(p - c->txpool);
	ch = off >> c->params.chunk_shift;
	pthread_mutex_lock(&c->lock);
	have = (off & ((1u << c->params.chunk_shift) - 1)) ? 0 : msgr__pool_alloc_size(&c->txp, off);
	/* not ours, too short, or already sent: refuse here, because the
	 * daemon would take it as a protocol violation and drop the client */
	if (!have || len > have || msgr__bit_test(c->tx_sent, ch))
		err = -EINVAL;
	else
		msgr__bit_set(c->tx_sent, ch);
	pthread_mutex_unlock(&c->lock);
	if (err) {
		window_unreserve(k, len);
		return err;
	}
	err = post_send(k, msg_type, off, len);
	if (err) {
		pthread_mutex_lock(&c->lock);
		msgr__bit_clear(c->tx_sent, ch); /* still the caller's */
		pthread_mutex_unlock(&c->lock);
		window_unreserve(k, len);
	}
	return err;
}

int msgr_send_buf(msgr_conn *k, uint32_t msg_type, void *buf, size_t len)
{
	int err = send_buf(k, msg_type, buf, len);

	return err ? msgr__fail_call(err, "msgr_send_buf", k) : 0;
}

void msgr_conn_close(msgr_conn *k)
{
	struct msgr__desc d;
	msgr_client *c;

	if (!k || atomic_exchange(&k->closed, 1))
		return;
	c = k->c;
	memset(&d, 0, sizeof(d));
	d.op = MSGR__OP_CLOSE;
	d.conn = k->id;
	/* The daemon answers with CLOSED after every earlier event for this id;
	 * the event path frees the handle then. If the daemon is gone, the
	 * handle waits for msgr_detach().
	 * Never wait for room in the command ring: a daemon with too many of
	 * our events unread takes no SEND or CONNECT until we read, and an
	 * application that closes handles as it reads would wait forever.
	 * A CLOSE that does not fit goes from a later call instead
	 * (msgr__flush_closes: msgr_next, or any command). */
	msgr__flush_closes(c);
	if (msgr__ring_push_mp(&c->cmd, &d) == 0) {
		msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
		return;
	}
	pthread_mutex_lock(&c->lock);
	k->close_next = c->closes;
	c->closes = k;
	atomic_fetch_add_explicit(&c->ncloses, 1, memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
	msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
}

const char *msgr_conn_peer(const msgr_conn *k)
{
	return k ? k->peer : NULL;
}
