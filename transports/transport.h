/*
 * transport.h - the interface between the daemon's core and a transport
 * (tcp.c today, rdma.c later). The core includes only this file; a transport
 * fills in struct msgr__transport_ops and never sees sessions or channels.
 * The core finds a transport by name in the registry (transport.c, the
 * key net.transport), never by including its file. transports/fault.h is an
 * interceptor with this same interface that wraps any of them.
 *
 * Completion-based, so TCP and RDMA look alike to the core:
 *   - send: the core posts a list of buffers (frames it has encoded) and
 *     gets exactly one sent() when the transport no longer needs them.
 *     TCP: uv_write with the iovecs, sent() from its callback. RDMA:
 *     ibv_post_send of a work request whose SGEs point into memory
 *     registered once (reg_mem), sent() from the send CQ.
 *   - receive: bytes arrive in the buffer the core gave with post_recv.
 *     received() hands that buffer back with the byte count; the core posts
 *     the next one (usually the same buffer) when it is ready, and a
 *     transport with no buffer posted stops reading, which is the back
 *     pressure. TCP reads into it from libuv's alloc callback; RDMA posts it
 *     as a receive work request (and would keep several posted). Either way
 *     the core runs the frame decoder (daemon/frame.h) over what arrived,
 *     so the wire format is the same on both.
 *   - events: a transport registers its fds with the uv loop it was given:
 *     TCP's sockets are libuv streams; RDMA would put its completion channel
 *     fd and its rdma_cm event channel fd under uv_poll.
 *   - connection setup: listen/dial by "HOST:PORT". TCP: uv_tcp_bind/listen,
 *     uv_getaddrinfo-free numeric parsing, uv_tcp_connect. RDMA:
 *     rdma_resolve_addr -> rdma_resolve_route -> rdma_connect, with
 *     RDMA_CM_EVENT_ESTABLISHED as connected() and RDMA_CM_EVENT_CONNECT_REQUEST
 *     + rdma_accept as accepted().
 *
 * A transport that is compiled in but has no device (no RDMA NIC: here
 * ibv_get_device_list fails with ENOSYS) fails init with one clear line in
 * err, and the daemon runs without it.
 *
 * Lifetime of a connection (struct msgr__tconn; the core's link sits on one):
 * it exists from dial() (or just before accepted()) until closed() has
 * returned; the transport frees it then. Every connection gets exactly
 * one closed(), whatever happened, and every sent() comes before it: a failed
 * dial gets connected(err) and then closed(err); a dial the core closes
 * before it connects gets no connected() at all. After close(l, 0) the sends
 * already posted complete normally (sent() with 0 means handed to the
 * kernel, not received by the peer) and no received() follows; after
 * close(l, err) they come back with -ECANCELED. No callback runs from inside
 * the call that would start it (dial, send, close, fini all defer to the
 * loop), as in libuv.
 *
 * RDMA fits without a change to the core: init opens the device (or fails
 * with "no RDMA device" and the daemon runs on TCP alone), listen and dial
 * are rdma_cm's, accepted()/connected() come from its event channel, a
 * connection is a queue pair whose send and receive completions come from
 * one completion channel under uv_poll. reg_mem registers the pools once
 * (ibv_reg_mr); send posts the core's iovecs as one work request's SGEs, so
 * frames go out without a copy; post_recv posts receive work requests.
 * Credit for the peer's receive queue is the transport's business, below
 * this interface, as TCP's window is the kernel's.
 *
 * Ownership: the core owns every buffer; a transport borrows a send buffer
 * from send() until its sent(), and the receive buffer from post_recv() until
 * received() or closed(). All calls and callbacks happen on the one loop
 * thread the transport was created on.
 */
#ifndef MSGR_TRANSPORTS_TRANSPORT_H
#define MSGR_TRANSPORTS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

struct msgr__transport; /* one instance of a transport on one loop, opaque */

/* A transport connection (not a link: the core's link, in session.c, is
 * its own state over one of these). Transports embed this as the first
 * member of their own connection struct; the core reads and writes only
 * these fields. */
struct msgr__tconn {
	void *ctx;                                 /* the core's (session.c's struct nlink) */
	const struct msgr__transport_ops *ops;     /* set by the transport */
	int outbound;                              /* 1 if we dialled it */
	const char *via;                           /* what carries it ("tcp", "rdma", "rdma-fake"):
						      a transport may fall back to another */
};

/* Settings for the transports (the [rdma] keys), and the counters they
 * keep. Both lent by the core at init, for the transport's whole life
 * (until fini has finished); a transport reads conf at each decision and
 * bumps stats as things happen. TCP uses neither. */
struct msgr__transport_conf {
	uint64_t rdma_recv_depth; /* rdma.recv_depth: data receives per link */
	uint64_t rdma_recv_size;  /* rdma.recv_size: bytes per receive buffer */
	uint64_t rdma_send_slots; /* rdma.send_slots: registered send buffers per link */
	uint64_t rdma_max_links;  /* rdma.max_links: RDMA links at once; more go over TCP */
};

struct msgr__transport_stats {
	uint64_t rdma_links;         /* links that came up over RDMA */
	uint64_t rdma_fallbacks;     /* RDMA dials refused or unreachable, or over
					rdma.max_links, redone over TCP */
	uint64_t rdma_rnr;           /* SENDs that found no receive posted (credits make it 0) */
	uint64_t rdma_credit_stalls; /* times bytes waited for a data credit */
	uint64_t rdma_credit_msgs;   /* standalone CREDIT messages sent */
	uint64_t rdma_flushes;       /* work requests flushed by a QP in error */
	uint64_t rdma_qp_errors;     /* QPs that went to error */
};

/* What init gets besides the loop and the events. */
struct msgr__transport_args {
	const struct msgr__transport_conf *conf; /* NULL: defaults */
	struct msgr__transport_stats *stats;     /* NULL: not counted */
};

/* What a transport tells the core. The core passes these at init. */
struct msgr__transport_events {
	/* A new inbound connection; the core sets l->ctx and posts a buffer. */
	void (*accepted)(void *core, struct msgr__tconn *l);
	/* dial() finished: 0, or a negative errno (then closed() follows). */
	void (*connected)(void *core, struct msgr__tconn *l, int err);
	/* len bytes arrived at the start of the buffer last posted. */
	void (*received)(void *core, struct msgr__tconn *l, void *buf, size_t len);
	/* A send finished (0), failed or was cancelled (negative errno). */
	void (*sent)(void *core, struct msgr__tconn *l, void *cookie, int err);
	/* The connection is gone: 0 after close(l, 0) drained, else why: an orderly
	 * EOF from the peer is -ENOTCONN; a reset -ECONNRESET (or -EPIPE when
	 * it follows an EOF); the core's own close(l, err) gives err back.
	 * Last call for the connection. */
	void (*closed)(void *core, struct msgr__tconn *l, int err);
};

struct msgr__transport_ops {
	const char *name; /* "tcp", "rdma" */
	/* 0, or a negative errno and one line in err (no device, ...). */
	int (*init)(struct msgr__transport **t, uv_loop_t *loop, const struct msgr__transport_args *args,
		    const struct msgr__transport_events *ev, void *core, char *err, size_t errlen);
	/* Accept connections on "HOST:PORT" (one listener per transport; -EBUSY for
	 * a second). 0 or a negative errno; -EADDRINUSE can be retried. */
	int (*listen)(struct msgr__transport *t, const char *hostport);
	/* Start a connection to "HOST:PORT" (numeric host). On 0, *out is the new
	 * connection and connected() will follow; on error there is none. */
	int (*dial)(struct msgr__transport *t, const char *hostport, struct msgr__tconn **out);
	/* Post iov[0..n) as one send; the iovec array itself is copied, the
	 * bytes are not. cookie comes back in sent(). */
	int (*send)(struct msgr__tconn *l, const struct iovec *iov, int n, void *cookie);
	/* Bytes queued in the transport and not yet handed to the network. */
	size_t (*send_queued)(struct msgr__tconn *l);
	/* Give the transport the buffer to receive into next. */
	int (*post_recv)(struct msgr__tconn *l, void *buf, size_t len);
	/* Memory that send/post_recv buffers will come from (RDMA registers it
	 * once; TCP does nothing). */
	int (*reg_mem)(struct msgr__transport *t, void *base, size_t len);
	/* "HOST:PORT" of the peer (peer = 1) or of our end (0); -ENOSPC if buf
	 * is too small. */
	int (*addr)(struct msgr__tconn *l, int peer, char *buf, size_t len);
	/* err 0: send what is queued, then close; otherwise abort at once (TCP
	 * sends a RST). Idempotent. */
	void (*close)(struct msgr__tconn *l, int err);
	/* Stop listening and abort every connection; their closed() runs from the
	 * loop, after which the transport frees itself. */
	void (*fini)(struct msgr__transport *t);
};

/* The transports built into this msgrd: their ops tables, and the
 * registry (transport.c) that finds one by its name. A new transport (rdma)
 * adds its table here and one line to the registry's list. */
extern const struct msgr__transport_ops msgr__tcp_ops;
extern const struct msgr__transport_ops msgr__rdma_ops;      /* rdma.c: verbs, TCP fallback */
extern const struct msgr__transport_ops msgr__rdma_fake_ops; /* rdma.c over the fake shim:
								tests, global.inject only */

/* The transport registered as name ("tcp"), or NULL. */
const struct msgr__transport_ops *msgr__transport_find(const char *name);
/* The registered names, comma-separated ("tcp"), for messages. */
void msgr__transport_names(char *buf, size_t len);

#endif
