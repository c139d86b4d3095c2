/*
 * cmd.c - serving a client (cmd.h): its commands, its returned buffers,
 * its outbox and wakeups, and the watchers on its socket and eventfd.
 */
#include "cmd.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "common/bits.h"
#include "conntab.h"
#include "msgr.h"
#include "outbox.h"
#include "registry.h"
#include "shm/wake.h"

#define CMD_BATCH 256 /* commands per client per pass, so one client cannot starve others */

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
		c->reg->stats->wakeups_recv++;
	msgr__dclient_activate(c);
	msgr__registry_kick(c->reg);
}

void msgr__dclient_start(struct msgr__dclient *c)
{
	/* A hang-up shows as readable (EOF) on a SEQPACKET socket. */
	uv_poll_start(&c->sock_poll, UV_READABLE | UV_DISCONNECT, on_sock);
	uv_poll_start(&c->efd_poll, UV_READABLE, on_efd);
}

/* ---- commands ---- */

/* The text that follows cmd in the ring (segment.h: control texts), into
 * out (max bytes and a NUL). 0, or the client is dropped: its unit is
 * broken and the ring no longer parses. */
static int take_text(struct msgr__dclient *c, const struct msgr__desc *cmd, char *out, size_t max,
		     const char *what)
{
	int err = msgr__text_take(&c->cmd, cmd->len, max, out);

	if (err == -EMSGSIZE)
		msgr__dclient_drop(c, MSGR__LOG_WARN, "%s with bad %s length %llu",
				   cmd->op == MSGR__OP_CONNECT ? "CONNECT" : "ACCEPT_MODES", what,
				   (unsigned long long)cmd->len);
	else if (err)
		msgr__dclient_drop(c, MSGR__LOG_WARN, "%s whose %s (%llu bytes) is cut short or "
				   "holds a NUL", cmd->op == MSGR__OP_CONNECT ? "CONNECT" : "ACCEPT_MODES",
				   what, (unsigned long long)cmd->len);
	return err;
}

static void handle_connect(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	char peer[MSGR__ADDR_MAX];
	struct msgr__dconn *k;

	if (take_text(c, cmd, peer, sizeof(peer) - 1, "address"))
		return;
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
	k = msgr__dconn_add(c, cmd->conn, cmd->mode, peer, cmd->msg_type);
	if (!k) {
		msgr__dclient_drop(c, MSGR__LOG_ERR, "out of memory");
		return;
	}
	/* k is in c's table already: it is one of c's ids, the others are
	 * what c held before; it stays there, failed, until c closes it */
	if (!msgr__dconn_room(c, c->nconns - 1, c->addr, k->peer, 1)) {
		msgr__registry_notify(c->reg, &k->end, MSGR__EV_CONNECT_FAILED, -EMFILE);
		return;
	}
	msgr__channel_connect(c->reg->chans, &k->end);
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
	err = msgr__dclient_tx_claim(c, cmd->off, cmd->len);
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
	if (!k->end.ch) {
		c->reg->stats->msgs_dropped++;
		msgr__dclient_tx_done(c, cmd->off);
		return;
	}
	msgr__channel_send(&k->end, cmd->msg_type, cmd->off, cmd->len);
}

static void handle_close(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	struct msgr__dconn *k = msgr__dconn_find(c, cmd->conn);
	struct msgr__outbox_ent e = { .ev = { .op = MSGR__EV_CLOSED, .conn = cmd->conn } };

	if (!k) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "CLOSE on unknown conn id %u", cmd->conn);
		return;
	}
	msgr__channel_close(&k->end, -ECONNRESET);
	msgr__dconn_remove(c, k);
	/* after every event already queued for this id, so the library knows
	 * when it can forget the handle */
	msgr__dclient_post(c, &e);
}

/* A rule of msgr_accept_modes(3). libmsgr checked it already, so a bad one
 * is a client that broke the rules. Applied before the acknowledgement, so
 * every connect served after msgr_accept_modes returned meets it. */
static void handle_accept_modes(struct msgr__dclient *c, const struct msgr__desc *cmd)
{
	char pat[MSGR__ENTITY_MAX], why[160];
	int err;

	if (take_text(c, cmd, pat, sizeof(pat) - 1, "pattern"))
		return;
	err = msgr__accept_rules_add(&c->accept, pat, cmd->mode, why, sizeof(why));
	if (err) {
		msgr__dclient_drop(c, MSGR__LOG_WARN, "ACCEPT_MODES: %s", why);
		return;
	}
	msgr__debug("client %s: accepts modes 0x%x from %s", c->entity, (unsigned)cmd->mode, pat);
	/* release: the rule is in place before the caller sees it acknowledged
	 * (and the loop thread is the only reader of the rules anyway) */
	atomic_store_explicit(&c->hdr->modes_acked, cmd->msg_type, memory_order_release);
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
	case MSGR__OP_ACCEPT_MODES:
		handle_accept_modes(c, cmd);
		break;
	default:
		msgr__dclient_drop(c, MSGR__LOG_WARN, "unknown command op %u", cmd->op);
	}
}

/* Whether the client's next command may be served now. Past the outbox's
 * soft limit only CLOSE and ACCEPT_MODES are: a client's own commands are
 * what fill its outbox, but a CLOSE frees a connection (its CLOSED event ends
 * that connection's events), and the application may be closing handles in
 * answer to the very events that filled it; ACCEPT_MODES posts no event at
 * all, and its caller waits for it. Anything else waits until the client
 * reads. */
static int cmd_servable(struct msgr__dclient *c)
{
	struct msgr__desc cmd;

	if (msgr__ring_peek_sc(&c->cmd, &cmd))
		return 0;
	return c->qlen < MSGR__OUTBOX_SOFT || cmd.op == MSGR__OP_CLOSE ||
	       cmd.op == MSGR__OP_ACCEPT_MODES;
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

/* The next command's channel, while this one is handled: at thousands of
 * connections its lines are cold, and its misses then overlap this one's
 * work. Called after a SEND only: the slots after a CONNECT hold its text,
 * not a command. The client may change the slot before we pop it; it only
 * loses its own prefetch. */
static void prefetch_next(struct msgr__dclient *c)
{
	struct msgr__desc next;
	struct msgr__dconn *k;

	if (!msgr__ring_peek_sc(&c->cmd, &next) && next.op == MSGR__OP_SEND &&
	    (k = msgr__dconn_find(c, next.conn)))
		msgr__channel_send_prefetch(&k->end);
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
		if (cmd.op == MSGR__OP_SEND)
			prefetch_next(c);
		handle_cmd(c, &cmd);
		work++;
	}
	if (!c->dropped)
		work += msgr__outbox_flush(c);
	if (!c->dropped && c->posted) {
		c->posted = 0;
		if (msgr__wake_take(&c->hdr->client_sleeping)) {
			uint64_t one = 1;
			if (write(c->efd_client, &one, sizeof(one)) == sizeof(one))
				c->reg->stats->wakeups_sent++;
		}
	}
	msgr__dclient_unref(c);
	return work;
}

/* ---- the poll pass: active and parked clients ---- */

int msgr__registry_pass(struct msgr__registry *reg, uint64_t now, uint64_t park_ns)
{
	struct msgr__dclient *c, *next;
	int work = 0;

	for (c = reg->active; c; c = next) {
		int w;

		msgr__dclient_ref(c); /* service may drop c, and activate others */
		w = msgr__dclient_service(c);
		next = c->anext;
		if (w) {
			c->last_work_ns = now;
			work += w;
		} else if (!c->dropped && !c->doomed && now - c->last_work_ns >= park_ns) {
			/* the same Dekker pair as the loop's sleep: either our
			 * re-check sees its push, or it sees the flag */
			msgr__wake_arm(&c->hdr->daemon_sleeping);
			if (msgr__dclient_pending(c)) {
				msgr__wake_disarm(&c->hdr->daemon_sleeping);
				c->last_work_ns = now;
			} else {
				msgr__dclient_deactivate(c);
			}
		}
		msgr__dclient_unref(c);
	}
	for (c = reg->active; c; c = next) {
		next = c->anext;
		if (c->doomed) {
			char why[sizeof(c->reason)];
			memcpy(why, c->reason, sizeof(why));
			msgr__dclient_drop(c, MSGR__LOG_WARN, "%s", why);
		}
	}
	return work;
}

int msgr__registry_arm(struct msgr__registry *reg)
{
	struct msgr__dclient *c;

	for (c = reg->active; c; c = c->anext)
		msgr__wake_arm(&c->hdr->daemon_sleeping);
	for (c = reg->active; c; c = c->anext)
		if (msgr__dclient_pending(c)) {
			for (struct msgr__dclient *k = reg->active; k; k = k->anext)
				msgr__wake_disarm(&k->hdr->daemon_sleeping);
			return 1;
		}
	return 0;
}
