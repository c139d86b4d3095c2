/*
 * registry.h - clients coming and going: creating a client for an accepted
 * attach connection, taking one out of service, and dropping the ones
 * doomed during a poll pass. The registry itself (struct msgr__registry)
 * is in client.h, beside the client, since each points at the other.
 * Loop thread only.
 */
#ifndef MSGR_DAEMON_REGISTRY_H
#define MSGR_DAEMON_REGISTRY_H

#include <stdint.h>

#include "client.h"

/* Create a client for an accepted attach connection (attach.c). On success
 * the client owns sock and is in the registry, its handles initialised but
 * not watching yet (msgr__dclient_start, cmd.h); *fds gets the three fds
 * to pass (memfd, efd_daemon, efd_client); the caller closes fds[0] after
 * sending. */
int msgr__dclient_create(struct msgr__registry *reg, int sock, const char *entity,
			 uint64_t pool_size, struct msgr__dclient **out, int fds[3]);

/* Take the client out of service: reset its channels, give back what it
 * held, close its handles. Logs reason at the given level. Idempotent. */
void msgr__dclient_drop(struct msgr__dclient *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));


/* What channels tell the clients layer (msgr__chans_new's events; ctx is
 * the registry). */
extern const struct msgr__chan_events msgr__registry_chan_events;

/* Tell end e's application: CONNECTED, CONNECT_FAILED or RESET (err). */
void msgr__registry_notify(struct msgr__registry *reg, struct msgr__chan_end *e, uint16_t op,
			   int err);

#endif
