/*
 * ctl.h - the control socket, in the Ceph admin-socket protocol.
 *
 * A request is a JSON object {"prefix": "...", ...} ended by NUL or newline;
 * the reply is a 4-byte big-endian length and then that many bytes of JSON.
 * One request per connection, as Ceph's admin socket does. The listener
 * (struct msgr__ctl, private to ctl.c) and its connections run on the
 * loop that opened it; the commands are in ctl_cmds.h.
 */
#ifndef MSGR_DAEMON_CTL_H
#define MSGR_DAEMON_CTL_H

#include <stdint.h>
#include <uv.h>

#include "ctl_cmds.h"

struct msgr__ctl;

/* Settings of the control socket. Value type, owned by the loop's
 * configuration and lent to the socket (read afresh at every use). */
struct msgr__ctl_conf {
	char socket[108];    /* global.ctl_socket: control socket path */
	uint64_t timeout_ms; /* global.ctl_timeout: for a control request, and
				again for its reply */
	uint64_t max_conns;  /* global.ctl_max_conns: open control connections */
};

/* Listen on conf->socket. conf and stats are lent for the socket's life;
 * env is copied (what it points at is lent likewise). 0 and *out, or a
 * negative errno. */
int msgr__ctl_listen(uv_loop_t *loop, const struct msgr__ctl_conf *conf, struct msgr__ctl_stats *stats,
		     const struct msgr__ctl_env *env, struct msgr__ctl **out);

/* Stop listening and remove the socket file. Connections still open finish
 * their request; ctl is freed when the last of them has closed. NULL is
 * allowed. */
void msgr__ctl_close(struct msgr__ctl *ctl);

#endif
