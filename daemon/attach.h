/*
 * attach.h - the attach socket: where applications become clients.
 *
 * The listener (struct msgr__attach, private to attach.c) belongs to the
 * loop that opened it, from msgr__attach_listen() to msgr__attach_close().
 * Each accepted connection is read once for a struct msgr__attach_req
 * (non-blocking, on the loop); on success it becomes the client's socket
 * (registry.h), otherwise it is answered with an error and closed.
 */
#ifndef MSGR_DAEMON_ATTACH_H
#define MSGR_DAEMON_ATTACH_H

struct msgr__attach;
struct msgr__registry;
struct msgr__policy;

/* Listen on global.socket (reg->conf->socket), on reg's loop. Attaches are
 * checked against policy and refused while *stopping; both are lent by the
 * caller for the listener's life. 0 and *out, or a negative errno. */
int msgr__attach_listen(struct msgr__registry *reg, const struct msgr__policy *policy,
			const int *stopping, struct msgr__attach **out);

/* Close the listener and every connection still waiting for its request,
 * and remove the socket file. a is freed once its handles have closed (a
 * loop turn later); NULL is allowed. */
void msgr__attach_close(struct msgr__attach *a);

/* Bind a Unix socket at path, replacing a stale socket file but refusing to
 * replace one that a live process still listens on (-EADDRINUSE). */
int msgr__unix_bind(int fd, const char *path);

#endif
