/*
 * attach.h - the attach socket: where applications become clients.
 *
 * The listening socket belongs to the daemon. Each accepted connection is
 * read once for a struct msgr__attach_req (non-blocking, on the loop); on
 * success it becomes the client's socket, otherwise it is answered with an
 * error and closed.
 */
#ifndef MSGR_DAEMON_ATTACH_H
#define MSGR_DAEMON_ATTACH_H

struct msgr__daemon;

int msgr__attach_listen(struct msgr__daemon *d);
void msgr__attach_close(struct msgr__daemon *d);

/* Bind a Unix socket at path, replacing a stale socket file but refusing to
 * replace one that a live process still listens on (-EADDRINUSE). */
int msgr__unix_bind(int fd, const char *path);

#endif
