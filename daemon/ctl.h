/*
 * ctl.h - the control socket, in the Ceph admin-socket protocol.
 *
 * A request is a JSON object {"prefix": "...", ...} ended by NUL or newline;
 * the reply is a 4-byte big-endian length and then that many bytes of JSON.
 * One request per connection, as Ceph's admin socket does. The listener and
 * its connections belong to the daemon's loop.
 */
#ifndef MSGR_DAEMON_CTL_H
#define MSGR_DAEMON_CTL_H

struct msgr__daemon;

int msgr__ctl_listen(struct msgr__daemon *d);
void msgr__ctl_close(struct msgr__daemon *d);

#endif
