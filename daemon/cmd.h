/*
 * cmd.h - serving a client: its command ring (CONNECT, SEND, CLOSE,
 * ACCEPT_MODES), its returned RX buffers, its outbox and wakeups, once per
 * poll pass; and watching its attach socket (hang-up: the client is gone) and its
 * eventfd (the client has work for us). Loop thread only.
 */
#ifndef MSGR_DAEMON_CMD_H
#define MSGR_DAEMON_CMD_H

#include "client.h"

/* Start watching a client made by msgr__dclient_create (registry.h). */
void msgr__dclient_start(struct msgr__dclient *c);

/* One poll pass over the client's rings. Returns the amount of work done. */
int msgr__dclient_service(struct msgr__dclient *c);

/* Nonzero if the client has work waiting (checked before sleeping). */
int msgr__dclient_pending(struct msgr__dclient *c);

/* The clients' share of a poll pass: service every active client, then
 * drop the doomed. A client without work for park_ns is parked: armed for
 * a wakeup (shm/wake.h) and left out of passes until it signals or
 * something is posted to it (msgr__dclient_activate), so idle clients cost
 * a pass nothing. Returns the work done. */
int msgr__registry_pass(struct msgr__registry *reg, uint64_t now, uint64_t park_ns);
/* Before the loop sleeps: arm every active client for a wakeup. Nonzero
 * (and disarmed again) if one has work after all: do not sleep. */
int msgr__registry_arm(struct msgr__registry *reg);

#endif
