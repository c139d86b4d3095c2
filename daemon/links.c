#include "link_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/list.h"
#include "common/log.h"
#include "transports/transport.h"

static void on_tick(uv_timer_t *t);

/* ---- links and the transport's callbacks ---- */

static struct msgr__link *link_new(struct msgr__links *ls, struct msgr__tconn *tl, int outbound)
{
	struct msgr__link *l = calloc(1, sizeof(*l));
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };

	if (!l || !(l->rbuf = malloc(RBUF_LEN))) {
		free(l);
		return NULL;
	}
	if (getrandom(l->my_chal, sizeof(l->my_chal), 0) != sizeof(l->my_chal)) {
		free(l->rbuf);
		free(l);
		return NULL;
	}
	l->ls = ls;
	l->tl = tl;
	l->info.outbound = outbound;
	/* the state machine starts here: a dial connects, an accepted link
	 * has connected already and says HELLO at once */
	l->state = outbound ? MSGR__LINK_CONNECTING : MSGR__LINK_HELLO;
	l->created_ns = l->last_rx_ns = msgr__now_ns();
	l->deadline_ns = msgr__link_connect_deadline(ls);
	msgr__frame_dec_init(&l->dec, &mine, (uint32_t)ls->conf->max_message, &msgr__link_frame_ops, l);
	tl->ctx = l;
	l->next = ls->links;
	if (ls->links)
		ls->links->prev = l;
	ls->links = l;
	if (!uv_is_active((uv_handle_t *)&ls->tick))
		uv_timer_start(&ls->tick, on_tick, TICK_MS, TICK_MS);
	return l;
}

static void ev_accepted(void *core, struct msgr__tconn *tl)
{
	struct msgr__links *ls = core;
	struct msgr__link *l;
	char remote[MSGR__HOSTPORT_MAX], src[MSGR__HOSTPORT_MAX];
	int pending = 0, from_src = 0;

	ls->stats->links_accepted++;
	/* Before AUTH a link is anybody's: each costs buffers until its
	 * handshake deadline, so only so many may wait at once, and fewer
	 * from any one source, so one flooding host cannot keep every real
	 * daemon out. */
	if (ls->ops->addr(tl, 1, remote, sizeof(remote))) {
		/* reset while it waited to be accepted: nobody to talk to */
		tl->ctx = NULL;
		ls->ops->close(tl, -ENOTCONN);
		return;
	}
	msgr__source_key(remote, src);
	for (struct msgr__link *o = ls->links; o; o = o->next)
		if (!o->info.outbound && o->state >= MSGR__LINK_HELLO && o->state < MSGR__LINK_UP) {
			pending++;
			from_src += !strcmp(o->src, src);
		}
	/* a source that authenticated lately is exempt from the total: the
	 * strangers holding every slot must not keep a real peer out */
	if ((pending >= MAX_HANDSHAKES && !msgr__link_source_known(ls, src)) || from_src >= MAX_HANDSHAKES_SRC) {
		ls->stats->links_refused++;
		tl->ctx = NULL;
		ls->ops->close(tl, -EBUSY);
		return;
	}
	l = link_new(ls, tl, 0);
	if (!l) {
		tl->ctx = NULL;
		ls->ops->close(tl, -ENOMEM);
		return;
	}
	snprintf(l->info.remote, sizeof(l->info.remote), "%s", remote);
	snprintf(l->src, sizeof(l->src), "%s", src);
	/* anybody's until AUTH: a shorter leash than our own dials get */
	l->deadline_ns = msgr__now_ns() + ls->conf->handshake_timeout_ms * 1000000ull;
	msgr__debug("link from %s accepted", l->info.remote);
	if (msgr__link_send_hello(l))
		msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "out of memory");
}

static void ev_connected(void *core, struct msgr__tconn *tl, int err)
{
	struct msgr__link *l = tl->ctx;
	struct msgr__links *ls = l->ls;

	if (err) {
		ls->stats->dial_failures++;
		msgr__info("link %s: connect: %s", l->info.peer_listen, strerror(-err));
		l->close_err = err;
		msgr__link_step(l, MSGR__LE_CONNECT_FAILED, err, "connect");
		return;
	}
	ls->ops->addr(tl, 1, l->info.remote, sizeof(l->info.remote));
	msgr__source_key(l->info.remote, l->src);
	msgr__link_step(l, MSGR__LE_CONNECTED, 0, NULL);
}

static void ev_received(void *core, struct msgr__tconn *tl, void *buf, size_t len)
{
	struct msgr__link *l = tl->ctx;
	struct msgr__links *ls = l->ls;
	struct msgr__net_stats *st = ls->stats;

	l->last_rx_ns = msgr__now_ns();
	l->bytes_in += len;
	if (!msgr__link_live(l))
		return;
	if (msgr__frame_dec_feed(&l->dec, buf, len) < 0 && msgr__link_live(l)) {
		switch (l->dec.err) {
		case MSGR__DEC_BAD_BANNER: st->bad_banner++; break;
		case MSGR__DEC_NO_VERSION: st->no_version++; break;
		case MSGR__DEC_BAD_HEADER_CRC: st->bad_header_crc++; break;
		case MSGR__DEC_BAD_TYPE: st->bad_type++; break;
		case MSGR__DEC_OVERSIZED: st->oversized++; break;
		case MSGR__DEC_BAD_TAG: st->bad_tag++; break;
		default: st->protocol_errors++; break;
		}
		msgr__warn("link %s (%s): %s", msgr__link_name(l), l->info.remote, msgr__dec_err_name(l->dec.err));
		msgr__link_step(l, MSGR__LE_CLOSE, -EPROTO, msgr__dec_err_name(l->dec.err));
	}
	if (msgr__link_live(l) && ls->ops->post_recv(tl, l->rbuf, RBUF_LEN))
		msgr__link_step(l, MSGR__LE_CLOSE, -ENOMEM, "cannot post a receive buffer");
	ls->ev->batch_end(ls->ctx); /* answers (acks, keepalives) leave now */
}

void msgr__links_recycle(struct msgr__links *ls, void *buf)
{
	size_t n = buf ? malloc_usable_size(buf) : 0;

	if (ls->nspare < NSPARE && n >= SPARE_MIN && n <= SPARE_MAX + (64u << 10) /* rounding */)
		ls->spare[ls->nspare++] = buf;
	else
		free(buf);
}

static void ev_sent(void *core, struct msgr__tconn *tl, void *cookie, int err)
{
	struct msgr__link *l = tl->ctx;

	msgr__links_recycle(core, cookie);
	if (!l)
		return;
	l->out_since_ns = msgr__now_ns(); /* the queue moved */
	if (!err && msgr__link_live(l) && !l->fail_err && msgr__link_backlog(l) < MSGR__LINK_ROOM)
		l->ls->ev->room(l->ls->ctx, l);
}

static void ev_closed(void *core, struct msgr__tconn *tl, int err)
{
	struct msgr__link *l = tl->ctx;

	if (!l)
		return;
	if (msgr__link_live(l) && err) {
		/* the transport saw it first: reset, EOF, ... */
		l->ls->stats->link_errors++;
		msgr__info("link %s (%s): %s", msgr__link_name(l), l->info.remote, strerror(-err));
	}
	msgr__link_step(l, MSGR__LE_CLOSED, err, NULL);
}

static const struct msgr__transport_events events = {
	ev_accepted, ev_connected, ev_received, ev_sent, ev_closed,
};

int msgr__link_dial(struct msgr__links *ls, const char *peer, uint64_t lost, void *owner,
		    struct msgr__link **out)
{
	struct msgr__tconn *tl;
	struct msgr__link *l;
	int err = ls->ops->dial(ls->t, peer, &tl);

	if (err)
		return err;
	ls->stats->links_dialled++;
	l = link_new(ls, tl, 1);
	if (!l) {
		ls->ops->close(tl, -ENOMEM);
		return -ENOMEM;
	}
	snprintf(l->info.peer_listen, sizeof(l->info.peer_listen), "%s", peer);
	while (!l->info.id && getrandom(&l->info.id, sizeof(l->info.id), 0) == sizeof(l->info.id))
		; /* a nonzero name for the link, which its HELLO carries */
	if (!l->info.id)
		l->info.id = msgr__now_ns(); /* getrandom failed: unique enough */
	l->info.peer_lost = lost;
	l->owner = owner;
	*out = l;
	return 0;
}

/* ---- the clock ---- */

static void on_tick(uv_timer_t *t)
{
	struct msgr__links *ls = t->data;
	const struct msgr__net_conf *conf = ls->conf;
	uint64_t now = msgr__now_ns();
	struct msgr__link *l, *next;

	for (l = ls->links; l; l = next) {
		next = l->next;
		if (l->state == MSGR__LINK_CLOSING) {
			/* a graceful close the peer never let finish */
			if (now >= l->deadline_ns)
				msgr__link_step(l, MSGR__LE_DEADLINE, -ETIMEDOUT, NULL);
			continue;
		}
		if (l->state != MSGR__LINK_UP) {
			if (now < l->deadline_ns)
				continue;
			if (l->state != MSGR__LINK_DRAINING)
				ls->stats->handshake_timeouts++;
			msgr__link_step(l, MSGR__LE_DEADLINE, -ETIMEDOUT,
			     l->state == MSGR__LINK_DRAINING ? "the peer did not finish the hand-over"
			     : l->info.outbound ? "no session within net.connect_timeout"
						: "no session within net.handshake_timeout");
			continue;
		}
		if (now - l->last_rx_ns >= conf->keepalive_timeout_ms * 1000000ull) {
			ls->stats->keepalive_timeouts++;
			msgr__notice("link %s: nothing heard for %llu ms (net.keepalive_timeout)",
				     msgr__link_name(l), (unsigned long long)(now - l->last_rx_ns) / 1000000);
			msgr__link_step(l, MSGR__LE_CLOSE, -ETIMEDOUT, "keepalive timeout");
			continue;
		}
		size_t queued = ls->ops->send_queued(l->tl);
		if (queued < l->out_queued)
			l->out_since_ns = now; /* draining, however slowly */
		l->out_queued = queued;
		if (queued && now - l->out_since_ns >= conf->keepalive_timeout_ms * 1000000ull) {
			/* it talks but does not read: what we queue for it would
			 * only grow */
			ls->stats->keepalive_timeouts++;
			msgr__link_step(l, MSGR__LE_CLOSE, -ETIMEDOUT, "the peer has not read for net.keepalive_timeout");
			continue;
		}
		if (now - l->last_ka_ns >= conf->keepalive_interval_ms * 1000000ull) {
			uint8_t ts[8];
			msgr__put_uint(ts, now, 8);
			msgr__link_put(l, MSGR__F_KEEPALIVE, ts, 8);
			l->last_ka_ns = now;
		}
	}
	ls->ev->batch_end(ls->ctx);
	if (!ls->links)
		uv_timer_stop(&ls->tick);
}

void msgr__links_flush(struct msgr__links *ls)
{
	struct msgr__link *l, *next;

	for (l = ls->links; l; l = next) {
		next = l->next;
		if (l->fail_err && msgr__link_live(l))
			msgr__link_step(l, MSGR__LE_CLOSE, l->fail_err, l->fail_why);
		else
			msgr__link_flush(l);
	}
}

/* ---- start, stop, inspection ---- */

static void on_tick_closed(uv_handle_t *h)
{
	free(h->data); /* the struct msgr__links the timer is part of */
}

int msgr__links_start(struct msgr__links **out, uv_loop_t *loop, const struct msgr__net_conf *conf,
		      struct msgr__net_stats *stats, const struct msgr__transport_ops *ops, int inject,
		      const struct msgr__link_events *ev, void *ctx, char *err, size_t errlen)
{
	struct msgr__links *ls = calloc(1, sizeof(*ls));
	struct msgr__transport_args targs = { &conf->tconf, &stats->transport };
	int rc;

	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ls->conf = conf;
	ls->stats = stats;
	ls->ops = ops;
	ls->tname = ops->name;
	ls->ev = ev;
	ls->ctx = ctx;
	if (conf->auth_mode != MSGR__AUTH_NONE) {
		rc = msgr__keyring_load(conf->keyring, &ls->kr, err, errlen);
		if (rc)
			goto fail;
	} else {
		msgr__warn("auth.mode = none: any host that reaches %s gets a session", conf->listen);
	}
	if (getrandom(&ls->nonce, sizeof(ls->nonce), 0) != sizeof(ls->nonce)) {
		rc = -errno;
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	uv_timer_init(loop, &ls->tick);
	ls->tick.data = ls;
	if (inject) {
		/* every link through the interceptor, so net.inject_* and
		 * `inject kill-link` act at the transport boundary; it reads
		 * the live configuration itself */
		ls->ops = &msgr__fault_ops;
		rc = msgr__fault_init(&ls->t, ops, &conf->fault, &stats->injected_failures, loop,
				      &targs, &events, ls, err, errlen);
	} else {
		rc = ls->ops->init(&ls->t, loop, &targs, &events, ls, err, errlen);
	}
	if (rc)
		goto fail_timer;
	rc = ls->ops->listen(ls->t, conf->bind[0] ? conf->bind : conf->listen);
	if (rc) {
		snprintf(err, errlen, "listen on %s (%s): %s", conf->bind[0] ? conf->bind : conf->listen,
			 conf->bind[0] ? "global.bind" : "global.listen", strerror(-rc));
		ls->ops->fini(ls->t);
		goto fail_timer;
	}
	*out = ls;
	return 0;
fail_timer:
	msgr__keyring_wipe(&ls->kr);
	uv_close((uv_handle_t *)&ls->tick, on_tick_closed);
	return rc;
fail:
	msgr__keyring_wipe(&ls->kr);
	free(ls);
	return rc;
}

int msgr__links_reload_keyring(struct msgr__links *ls, char *err, size_t errlen)
{
	struct msgr__keyring kr;
	int rc;

	if (ls->conf->auth_mode == MSGR__AUTH_NONE)
		return 0;
	rc = msgr__keyring_load(ls->conf->keyring, &kr, err, errlen);
	if (rc)
		return rc;
	if (memcmp(&kr, &ls->kr, sizeof(kr)))
		msgr__notice("reload: auth.keyring %s: new keys (%s next_key)", ls->conf->keyring,
			     kr.has_next ? "with a" : "no");
	msgr__keyring_wipe(&ls->kr);
	ls->kr = kr;
	msgr__keyring_wipe(&kr);
	return 0;
}

void msgr__links_stop(struct msgr__links *ls, uv_loop_t *loop)
{
	uint64_t until = msgr__now_ns() + 1000000000ull;

	/* Tell each peer, so it resets our channels now rather than at its
	 * keepalive timeout; give the CLOSEs a second to leave. */
	for (struct msgr__link *l = ls->links; l; l = l->next)
		if (msgr__link_live(l) && l->state != MSGR__LINK_CONNECTING) {
			msgr__link_put_reason(l, MSGR__F_CLOSE, "shutting down");
			msgr__link_step(l, MSGR__LE_CLOSE, 0, "shutting down");
		}
	while (ls->links && msgr__now_ns() < until)
		uv_run(loop, UV_RUN_ONCE);
	ls->ops->fini(ls->t);
	while (ls->links)
		uv_run(loop, UV_RUN_ONCE);
	msgr__keyring_wipe(&ls->kr);
	while (ls->nspare)
		free(ls->spare[--ls->nspare]);
	uv_close((uv_handle_t *)&ls->tick, on_tick_closed); /* frees ls */
}

const char *msgr__links_transport(const struct msgr__links *ls)
{
	return ls->tname;
}

int msgr__links_injecting(const struct msgr__links *ls)
{
	return ls->ops == &msgr__fault_ops;
}

struct msgr__link *msgr__links_first(struct msgr__links *ls)
{
	return ls->links;
}

struct json_object *msgr__link_json(const struct msgr__link *l, int active)
{
	struct json_object *lo = json_object_new_object();

	json_object_object_add(lo, "transport",
			       json_object_new_string(l->tl && l->tl->via ? l->tl->via : l->ls->tname));
	json_object_object_add(lo, "inject", json_object_new_boolean(msgr__links_injecting(l->ls)));
	json_object_object_add(lo, "direction", json_object_new_string(l->info.outbound ? "out" : "in"));
	json_object_object_add(lo, "state", json_object_new_string(msgr__link_state_name(l->state)));
	json_object_object_add(lo, "active", json_object_new_boolean(active));
	json_object_object_add(lo, "remote", json_object_new_string(l->info.remote));
	json_object_object_add(lo, "bytes_out", json_object_new_int64((int64_t)l->bytes_out));
	json_object_object_add(lo, "bytes_in", json_object_new_int64((int64_t)l->bytes_in));
	json_object_object_add(lo, "frames_out", json_object_new_int64((int64_t)l->frames_out));
	json_object_object_add(lo, "frames_in", json_object_new_int64((int64_t)l->frames_in));
	json_object_object_add(lo, "rtt_us", json_object_new_double(l->rtt_ns / 1e3));
	return lo;
}
