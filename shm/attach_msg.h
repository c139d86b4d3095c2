/*
 * attach_msg.h - the messages of the attach handshake on the daemon's Unix
 * socket (daemon/attach.c is the socket itself).
 *
 * The socket is SOCK_SEQPACKET, so each struct below is one datagram.
 *   client -> daemon   struct msgr__attach_req
 *   daemon -> client   struct msgr__attach_rep, and on success SCM_RIGHTS
 *                      with three fds: the segment memfd, the eventfd that
 *                      wakes the daemon, and the eventfd that wakes the client
 * The connection then stays open with no further traffic; its hang-up tells
 * either side that the other is gone.
 */
#ifndef MSGR_SHM_ATTACH_MSG_H
#define MSGR_SHM_ATTACH_MSG_H

#include <stdint.h>

#include "common/addr.h"
#include "segment.h"

#define MSGR__ATTACH_MAGIC 0x4d534741u /* "AGSM" */
#define MSGR__ATTACH_VERSION 2 /* 2: channel_window in the reply */

struct msgr__attach_req {
	uint32_t magic;     /* MSGR__ATTACH_MAGIC */
	uint16_t version;   /* MSGR__ATTACH_VERSION */
	uint16_t flags;     /* none yet; must be 0 */
	int32_t pid;        /* informational; the daemon uses SO_PEERCRED */
	uint32_t pad;
	uint64_t pool_size; /* requested bytes per pool; 0: daemon default */
	char entity[MSGR__ENTITY_MAX]; /* NUL-terminated TYPE.ID */
};

struct msgr__attach_rep {
	uint32_t magic;
	uint16_t version;
	uint16_t pad;
	int32_t status;     /* 0 or a negative errno (then no fds follow) */
	uint32_t pad2;
	uint64_t nonce;     /* this attach's instance nonce */
	uint64_t seg_size;
	uint64_t max_message; /* largest payload the daemon accepts */
	uint64_t channel_window; /* flow-control window per connection, bytes */
	struct msgr__seg_params params;
	uint32_t pad3;
	char addr[MSGR__ADDR_MAX]; /* HOST:PORT/TYPE.ID */
};

#endif
