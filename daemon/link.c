#include "link_int.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/list.h"
#include "common/log.h"
#include "common/vec.h"
#include "transports/transport.h"

/* ---- output ---- */

static int fbuf_reserve(struct msgr__fbuf *b, size_t more)
{
	return msgr__vec_reserve(&b->p, &b->cap, b->len + more, 1, 4096);
}

/* l's output buffer: a spare one (msgr__links_recycle) when it has none. */
static struct msgr__fbuf *out_buf(struct msgr__link *l)
{
	struct msgr__links *ls = l->ls;

	if (!l->out.p && ls->nspare) {
		l->out.p = ls->spare[--ls->nspare];
		l->out.cap = malloc_usable_size(l->out.p);
		l->out.len = 0;
	}
	return &l->out;
}

/* Encode one frame at the end of b, sealed with tx if that is on. */
static int frame_put(struct msgr__fbuf *b, struct msgr__seal *tx, const struct msgr__frame_hdr *hdr,
		     const struct iovec *parts, int nparts)
{
	struct msgr__frame_hdr h = *hdr;
	size_t len = 0, wire;
	int sealed = tx && msgr__seal_on(tx), err;

	for (int i = 0; i < nparts; i++)
		len += parts[i].iov_len;
	wire = msgr__frame_wire_len(len, sealed);
	if (fbuf_reserve(b, wire))
		return -ENOMEM;
	h.len = (uint32_t)len;
	err = msgr__frame_encode(b->p + b->len, sealed ? tx : NULL, &h, parts, nparts);
	if (err)
		return err;
	b->len += wire;
	return 0;
}

int msgr__frames_put(struct msgr__fbuf *b, const struct msgr__frame_hdr *h,
		     const struct iovec *parts, int nparts)
{
	return frame_put(b, NULL, h, parts, nparts);
}

/* At the next flush, not here: callers of the send path are in the middle
 * of channel code that a session reset would pull out from under them. */
int msgr__link_fail(struct msgr__link *l, int err, const char *why)
{
	if (!msgr__link_live(l) || l->fail_err)
		return 0;
	l->fail_err = err;
	l->fail_why = why;
	l->ls->ev->schedule(l->ls->ctx);
	return 1;
}

static void put_failed(struct msgr__link *l, int err)
{
	msgr__link_fail(l, err, err == -E2BIG ? "nonce counter used up: dialling anew for new keys"
					: "out of memory");
}

/* Hand the queued bytes to the transport, whatever the state (a graceful
 * close sends what is queued: CLOSE, AUTH_FAIL). */
static void out_flush(struct msgr__link *l)
{
	struct msgr__links *ls = l->ls;
	struct iovec iov;
	int err;

	if (!l->out.len)
		return;
	iov.iov_base = l->out.p;
	iov.iov_len = l->out.len;
	if (!ls->ops->send_queued(l->tl))
		l->out_since_ns = msgr__now_ns(); /* the queue starts moving now */
	err = ls->ops->send(l->tl, &iov, 1, l->out.p);
	if (err) {
		free(l->out.p);
		memset(&l->out, 0, sizeof(l->out));
		msgr__link_fail(l, err, "send failed");
		return;
	}
	l->bytes_out += l->out.len;
	memset(&l->out, 0, sizeof(l->out)); /* the transport has it until sent() */
}

void msgr__link_flush(struct msgr__link *l)
{
	if (msgr__link_live(l) && l->state != MSGR__LINK_CONNECTING && !l->fail_err)
		out_flush(l);
}

/* After a frame was queued on l: the peak `sessions` shows. */
static void queued(struct msgr__link *l)
{
	size_t backlog = msgr__link_backlog(l);

	if (backlog > l->backlog_peak)
		l->backlog_peak = backlog;
}

/* A link-level frame (channel 0). */
void msgr__link_put(struct msgr__link *l, uint8_t type, const void *payload, size_t len)
{
	struct iovec iov = { (void *)payload, len };
	struct msgr__frame_hdr h = { .type = type };
	int err = frame_put(out_buf(l), &l->tx, &h, &iov, len ? 1 : 0);

	if (err) {
		put_failed(l, err);
		return;
	}
	l->frames_out++;
	queued(l);
}

/* A frame whose payload is a reason, u16 length + text: CLOSE, AUTH_FAIL. */
void msgr__link_put_reason(struct msgr__link *l, uint8_t type, const char *why)
{
	uint8_t buf[2 + 255];

	msgr__link_put(l, type, buf, msgr__put_str(buf, why, 255));
}

void msgr__link_send(struct msgr__link *l, const struct msgr__frame_hdr *h,
		     const struct iovec *parts, int nparts)
{
	int err;

	if (l->state != MSGR__LINK_UP || l->fail_err)
		return; /* the session sends only on its active link, which is up; one
			   that failed a frame closes, and what follows it would be a gap */
	err = frame_put(out_buf(l), &l->tx, h, parts, nparts);
	if (err) {
		put_failed(l, err);
		return;
	}
	l->frames_out++;
	queued(l);
}

void msgr__link_send_frames(struct msgr__link *l, const uint8_t *src, size_t len)
{
	size_t off = 0;

	if (l->state != MSGR__LINK_UP || l->fail_err)
		return;
	if (!msgr__seal_on(&l->tx)) {
		if (fbuf_reserve(out_buf(l), len)) {
			put_failed(l, -ENOMEM);
			return;
		}
		memcpy(l->out.p + l->out.len, src, len);
		l->out.len += len;
		goto out;
	}
	while (off < len) {
		/* msgr__frames_put encoded these: the header is sound */
		const uint8_t *f = src + off;
		struct iovec part = { (void *)(f + MSGR__FRAME_HDR_LEN),
				      (size_t)msgr__get_uint(f + 24, 4) };
		struct msgr__frame_hdr h = { .type = f[0], .flags = f[1],
					     .channel = (uint32_t)msgr__get_uint(f + 4, 4),
					     .seq = msgr__get_uint(f + 8, 8),
					     .ack = msgr__get_uint(f + 16, 8) };
		int err = frame_put(out_buf(l), &l->tx, &h, &part, part.iov_len ? 1 : 0);
		if (err) {
			put_failed(l, err);
			return;
		}
		off += msgr__frame_wire_len(part.iov_len, 0);
	}
out:
	if (len)
		queued(l);
}

size_t msgr__link_queued(const struct msgr__link *l)
{
	return l->out.len;
}

size_t msgr__link_backlog(const struct msgr__link *l)
{
	return l->out.len + (l->tl ? l->ls->ops->send_queued(l->tl) : 0);
}

size_t msgr__link_backlog_peak(const struct msgr__link *l)
{
	return l->backlog_peak;
}

/* ---- handshake actions ---- */

static enum msgr__role my_role(const struct msgr__link *l)
{
	return l->info.outbound ? MSGR__ROLE_DIALLER : MSGR__ROLE_ACCEPTOR;
}

/* Key one direction of secure mode from the dialler's proving key. */
static int seal_key(struct msgr__link *l, struct msgr__seal *dir, enum msgr__role from)
{
	uint8_t k[MSGR__KEY_LEN];
	int err = msgr__hs_key(&l->hs, from, k);

	if (!err)
		err = msgr__seal_init(dir, k, dir == &l->tx);
	OPENSSL_cleanse(k, sizeof(k));
	return err;
}

/* Our banner and HELLO (docs/PROTOCOL.md, section 2). */
int msgr__link_send_hello(struct msgr__link *l)
{
	const struct msgr__net_conf *conf = l->ls->conf;
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	struct msgr__hello h = {
		.nonce = l->ls->nonce,
		.auth_mode = (unsigned)conf->auth_mode,
		.max_msg = (uint32_t)conf->max_message,
		.window = conf->channel_window,
		.link_id = l->info.outbound ? l->info.id : 0,
		.lost = l->info.outbound ? l->info.peer_lost : 0,
	};

	memcpy(h.chal, l->my_chal, sizeof(h.chal));
	snprintf(h.listen, sizeof(h.listen), "%s", conf->listen);
	if (fbuf_reserve(out_buf(l), MSGR__BANNER_LEN))
		return -ENOMEM;
	msgr__banner_encode(l->out.p + l->out.len, &mine);
	l->out.len += MSGR__BANNER_LEN;
	msgr__hs_hello(&l->hs, &h);
	msgr__link_put(l, MSGR__F_HELLO, l->hs.mine, l->hs.mine_len);
	if (l->ls->ops->post_recv(l->tl, l->rbuf, RBUF_LEN))
		return -ENOMEM;
	out_flush(l);
	return 0;
}

/* Our proof; in secure mode everything after it is sealed. It is made with
 * our current key; secure mode's keys come from the dialler's proving key
 * (ours if we dial, the one the dialler's proof checked out with if not). */
static int send_proof(struct msgr__link *l)
{
	uint8_t proof[MSGR__PROOF_LEN];

	if (l->info.outbound)
		memcpy(l->hs.dial_key, l->ls->kr.key, sizeof(l->hs.dial_key));
	msgr__auth_proof(l->ls->kr.key, my_role(l), l->hs.h, proof);
	msgr__link_put(l, MSGR__F_AUTH, proof, sizeof(proof));
	if (l->ls->conf->auth_mode == MSGR__AUTH_SECURE)
		return seal_key(l, &l->tx, my_role(l));
	return 0;
}

/* Check the peer's proof and feed the verdict. */
static void verify(struct msgr__link *l)
{
	enum msgr__role theirs = l->info.outbound ? MSGR__ROLE_ACCEPTOR : MSGR__ROLE_DIALLER;
	const uint8_t *used;

	if (msgr__auth_verify(&l->ls->kr, theirs, l->hs.h, l->proof_in, &used)) {
		msgr__link_step(l, MSGR__LE_PROOF_BAD, 0,
		     "the peer's proof does not match our key (a different cluster key, "
		     "or the handshake was changed on the way)");
		return;
	}
	if (!l->info.outbound) /* kept with the link: a SIGHUP may change the keyring */
		memcpy(l->hs.dial_key, used, sizeof(l->hs.dial_key));
	if (l->ls->conf->auth_mode == MSGR__AUTH_SECURE) {
		/* what follows the peer's proof is sealed */
		if (seal_key(l, &l->rx, theirs)) {
			msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
		l->dec.rx = &l->rx;
	}
	msgr__link_step(l, MSGR__LE_PROOF_OK, 0, NULL);
}

int msgr__link_source_known(const struct msgr__links *ls, const char *src)
{
	for (unsigned i = 0; i < NKNOWN; i++)
		if (!strcmp(ls->known[i], src))
			return 1;
	return 0;
}

static void source_learn(struct msgr__links *ls, const char *src)
{
	if (!src[0] || msgr__link_source_known(ls, src))
		return;
	snprintf(ls->known[ls->nknown++ % NKNOWN], sizeof(ls->known[0]), "%s", src);
}

static void link_free(struct msgr__link *l)
{
	free(l->out.p);
	free(l->big);
	free(l->rbuf);
	msgr__seal_fini(&l->tx);
	msgr__seal_fini(&l->rx);
	msgr__hs_wipe(&l->hs);
	free(l);
}

/* ---- the state machine's driver ---- */

/*
 * Move l by ev (msgr__link_next decides) and run the actions, in the order
 * link_state.h lists them. err and why say why, for the actions that
 * report (CLOSE, AUTH_FAIL, REFUSED, PROTO). An action may step the link
 * again (a send that fails closes it); the rest of the list is then moot.
 */
void msgr__link_step(struct msgr__link *l, enum msgr__link_event ev, int err, const char *why)
{
	struct msgr__links *ls = l->ls;
	enum msgr__link_state was = l->state;
	struct msgr__link_step st = msgr__link_next(was, ev);
	unsigned a = st.actions;

	l->state = st.next;
	if (st.next == MSGR__LINK_CLOSING && was != MSGR__LINK_CLOSING)
		l->closed_from = was;
#define MOVED() (l->state != st.next)
	if (a & MSGR__LA_HELLO) {
		if (msgr__link_send_hello(l)) {
			msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
	}
	if (a & MSGR__LA_PROVE) {
		if (send_proof(l)) {
			msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
			return;
		}
	}
	if (a & MSGR__LA_VERIFY) {
		verify(l);
		return;
	}
	if (a & MSGR__LA_DONE)
		msgr__link_put(l, MSGR__F_AUTH_DONE, NULL, 0);
	if (a & MSGR__LA_UP) {
		source_learn(ls, l->src);
		ls->ev->up(ls->ctx, l);
		if (MOVED())
			return;
	}
	if (a & MSGR__LA_AUTH_FAIL) {
		ls->stats->auth_failures++;
		msgr__warn("link %s (%s): authentication failed: %s", msgr__link_name(l), l->info.remote, why);
		msgr__link_put_reason(l, MSGR__F_AUTH_FAIL, why);
		why = "authentication failed";
		err = 0; /* graceful: AUTH_FAIL must get out */
	}
	if (a & MSGR__LA_REFUSED) {
		ls->stats->auth_failures++;
		msgr__warn("link %s (%s): the peer refused us: %s", msgr__link_name(l), l->info.remote, why);
		why = "refused by the peer";
		err = -EACCES;
	}
	if (a & MSGR__LA_PROTO) {
		ls->stats->protocol_errors++;
		err = err ? err : -EPROTO;
	}
	if (a & MSGR__LA_SEND_CLOSE) {
		msgr__link_put_reason(l, MSGR__F_CLOSE, why);
		l->deadline_ns = msgr__link_connect_deadline(ls);
		out_flush(l);
	}
	if (a & MSGR__LA_PEER_LEFT) {
		ls->ev->peer_left(ls->ctx, l);
		why = "closed by the peer";
	}
	if (a & MSGR__LA_DRAINED) {
		ls->ev->drained(ls->ctx, l);
		why = "drained";
	}
	if (a & MSGR__LA_CLOSE) {
		if (err)
			msgr__info("link %s (%s): closing: %s: %s", msgr__link_name(l),
				   l->info.outbound ? "dialled" : "accepted", why, strerror(-err));
		l->close_err = err;
		if (err)
			ls->stats->link_errors++;
		else
			out_flush(l);
		/* a graceful close waits for the peer to take what is queued; a
		 * peer that never does is cut off after this */
		l->deadline_ns = msgr__link_connect_deadline(ls);
		ls->ev->closing(ls->ctx, l, err, why);
		if (a & MSGR__LA_AUTH_FAIL)
			l->close_err = -EACCES; /* what connects waiting for the session are told */
		ls->ops->close(l->tl, err);
	}
	if (a & MSGR__LA_ABORT) {
		l->deadline_ns = UINT64_MAX;
		ls->ops->close(l->tl, -ETIMEDOUT);
	}
	if (a & MSGR__LA_GONE) {
		msgr__list_unlink(&ls->links, l);
		ls->ev->gone(ls->ctx, l, l->close_err ? l->close_err : err, msgr__link_was_up(l));
		link_free(l);
	}
#undef MOVED
}

int msgr__link_was_up(const struct msgr__link *l)
{
	enum msgr__link_state st = l->state >= MSGR__LINK_CLOSING ? l->closed_from : l->state;

	return st == MSGR__LINK_UP || st == MSGR__LINK_DRAINING;
}

void msgr__link_drain(struct msgr__link *l)
{
	msgr__link_step(l, MSGR__LE_DRAIN, 0, "race");
}

void msgr__link_close(struct msgr__link *l, int err, const char *why)
{
	msgr__link_step(l, MSGR__LE_CLOSE, err, why);
}

struct msgr__link *msgr__link_next_of(struct msgr__link *l)
{
	return l->next;
}

enum msgr__link_state msgr__link_state(const struct msgr__link *l)
{
	return l->state;
}

const struct msgr__link_info *msgr__link_info(const struct msgr__link *l)
{
	return &l->info;
}

void *msgr__link_owner(const struct msgr__link *l)
{
	return l->owner;
}

void msgr__link_set_owner(struct msgr__link *l, void *owner)
{
	l->owner = owner;
}

struct msgr__tconn *msgr__link_tconn(struct msgr__link *l)
{
	return l->tl;
}
