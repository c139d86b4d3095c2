/*
 * net.h - the network side as the loop sees it: one call to start the
 * links and sessions layers over a transport, one to stop them, and what
 * the loop and the control socket ask of them.
 *
 * Lifetime: from msgr__net_start() to msgr__net_stop(), owned by the loop.
 * Loop thread only.
 */
#ifndef MSGR_DAEMON_NET_H
#define MSGR_DAEMON_NET_H

#include <stddef.h>
#include <uv.h>

#include "link.h"
#include "session.h"

struct json_object;
struct msgr__net;
struct msgr__tconn;
struct msgr__transport_ops;

/* Start over ops (main.c passes the transport net.transport names; the
 * fuzzer a fake), through the fault interceptor when inject: load the key,
 * start the transport, listen on conf->listen. conf and stats are borrowed
 * until stop; schedule(sctx) asks the loop for a flush at the end of this
 * turn. 0, or a negative errno with the reason in err. */
int msgr__net_start(struct msgr__net **out, uv_loop_t *loop, const struct msgr__net_conf *conf,
		    struct msgr__net_stats *stats, const struct msgr__transport_ops *ops, int inject,
		    void (*schedule)(void *), void *sctx, char *err, size_t errlen);

/* The sessions layer, for the channels layer above it. */
struct msgr__sessions *msgr__net_sessions(struct msgr__net *n);

/* Read auth.keyring again (SIGHUP), for key rotation. 0, or a negative
 * errno with the reason in err, and the old keys kept. */
int msgr__net_reload_keyring(struct msgr__net *n, char *err, size_t errlen);

/* Tell every peer we go, close every link and free everything. The
 * channels layer must have ended its channels (or end them as sessions
 * report them lost). */
void msgr__net_stop(struct msgr__net *n);

/* Send what this turn queued: one transport send per link. */
void msgr__net_flush(struct msgr__net *n);

/* `sessions` for the control socket: an array of sessions and their links. */
struct json_object *msgr__net_sessions_json(struct msgr__net *n);

/* The transport link that carries the session with peer HOST:PORT now, or
 * NULL. Only for handing to the transport layer (`inject kill-link` gives
 * it to the fault interceptor); valid until control goes back to the loop. */
struct msgr__tconn *msgr__net_active_link(struct msgr__net *n, const char *peer);

/* The name of the transport links use ("tcp"), or "none" before start. */
const char *msgr__net_transport(const struct msgr__net *n);

#endif
