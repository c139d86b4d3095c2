/*
 * transport.h - the interface between the daemon's core and a transport
 * (tcp.c, rdma.c). The core includes only this file; a transport fills in
 * struct msgr__transport_ops and never sees sessions or channels.
 *
 * STATUS: the interface is settled here ahead of its first user (the TCP
 * transport of issue 3); nothing implements it yet.
 *
 * Completion-based, so TCP and RDMA look alike to the core:
 *   - send: the core posts a list of buffers (frame header, payload in a
 *     pool, trailer) and gets one completion when the transport no longer
 *     needs them. TCP: uv_write with the iovecs, completion from its
 *     callback. RDMA: ibv_post_send of a work request whose SGEs point into
 *     memory registered once per pool (reg_mem), completion from the CQ.
 *   - receive: bytes arrive in buffers the core provided (post_recv). TCP
 *     reads into them from its alloc callback; RDMA posts them as receive
 *     work requests. Either way the core runs the frame decoder (frame.h)
 *     over what arrived, so the wire format is the same on both.
 *   - events: every transport has an fd for the event loop (event_fd): the
 *     TCP sockets are libuv's own; RDMA exposes its completion channel and
 *     its rdmacm event channel, both pollable.
 *   - connection setup: listen/dial/accept by address. TCP: uv_tcp. RDMA:
 *     rdma_cm (rdma_resolve_addr, rdma_connect, RDMA_CM_EVENT_*).
 *
 * A transport that is compiled in but has no device (no RDMA NIC: here
 * ibv_get_device_list fails with ENOSYS) fails init with one clear error,
 * and the daemon runs without it.
 *
 * Ownership: the core owns every buffer; a transport borrows a buffer from
 * post time until the matching completion. A link belongs to its transport
 * from dial/accept until the core calls close and the close completion has
 * run. All calls happen on the loop thread that owns the link.
 */
#ifndef MSGR_TRANSPORTS_TRANSPORT_H
#define MSGR_TRANSPORTS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

struct msgr__link;      /* a transport connection, owned by its transport */
struct msgr__transport; /* one instance of a transport on one loop */

/* What a transport tells the core. The core installs these at init. */
struct msgr__transport_events {
	void (*accepted)(void *core, struct msgr__link *l);          /* inbound link up */
	void (*connected)(void *core, struct msgr__link *l, int err); /* dial finished */
	void (*received)(void *core, struct msgr__link *l, void *buf, size_t len); /* bytes in */
	void (*sent)(void *core, struct msgr__link *l, void *cookie, int err); /* send done */
	void (*closed)(void *core, struct msgr__link *l, int err);   /* link gone */
};

struct msgr__transport_ops {
	const char *name;                                    /* "tcp", "rdma" */
	/* 0, or a negative errno and one line in err (no device, ...). */
	int (*init)(struct msgr__transport **t, uv_loop_t *loop,
		    const struct msgr__transport_events *ev, void *core, char *err, size_t errlen);
	int (*listen)(struct msgr__transport *t, const char *hostport);
	int (*dial)(struct msgr__transport *t, const char *hostport, struct msgr__link **out);
	/* Post iov[0..n) as one send; cookie comes back in sent(). */
	int (*send)(struct msgr__link *l, const struct iovec *iov, int n, void *cookie);
	/* Give the transport a buffer to receive into. */
	int (*post_recv)(struct msgr__link *l, void *buf, size_t len);
	/* Memory that send/post_recv buffers will come from (RDMA registers
	 * it once; TCP does nothing). */
	int (*reg_mem)(struct msgr__transport *t, void *base, size_t len);
	void (*close)(struct msgr__link *l, int err);
	void (*fini)(struct msgr__transport *t);
};

#endif
