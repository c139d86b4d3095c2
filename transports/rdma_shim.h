/*
 * rdma_shim.h - the verbs shim: the few rdma_cm and verbs operations the
 * RDMA transport needs, behind an ops table of our own.
 *
 * Why a table and not the verbs API itself: ibv_post_send, ibv_poll_cq and
 * ibv_req_notify_cq are static inlines and ibv_reg_mr is a macro, so a
 * link-time mock would miss them, and this machine has no RDMA device to
 * run them on. Two shims fill this table:
 *   - rdma_verbs.c (msgr__rshim_verbs_ops): librdmacm and libibverbs, for
 *     real hardware;
 *   - rdma_fake.c (msgr__rshim_fake_ops): a queue-pair pair over
 *     SOCK_SEQPACKET Unix sockets, with faults to inject (rdma_fake.h). It is
 *     what the unit tests and the rdma-fake integration tests run on.
 * Above the table, rdma_engine.c (credits, framing, buffers) and rdma.c
 * (transport.h, libuv) are the same for both.
 *
 * The model is rdma_cm's and RC verbs', reduced:
 *   - One shim instance (struct msgr__rshim) per transport: a device
 *     context, one protection domain, one completion channel, one rdma_cm
 *     event channel. fd() is one descriptor (an epoll fd over all of them)
 *     that is readable when get_event() or poll() may have work; the loop
 *     watches it with uv_poll and then drains both until they return
 *     -EAGAIN and 0. Level-triggered: a shim leaves the fd readable while it
 *     has something to return.
 *   - A queue pair (struct msgr__rshim_qp) is one rdma_cm id with its RC QP
 *     and its own CQ. Active side: dial() -> EV_ROUTE_READY (address and
 *     route resolved) -> create_qp(), post every receive, connect(pdata)
 *     -> EV_ESTABLISHED (with the accepter's pdata) or EV_REJECTED /
 *     EV_UNREACHABLE. Passive side: EV_CONNECT_REQUEST (a new qp with the
 *     dialler's pdata) -> create_qp(), post every receive, accept(pdata)
 *     -> EV_ESTABLISHED; or reject(pdata).
 *   - Private data is at most MSGR__RSHIM_PDATA_CONNECT bytes on connect and
 *     MSGR__RSHIM_PDATA_ACCEPT on accept and reject, and may arrive padded
 *     with zeros to those sizes: whatever travels in it must carry its own
 *     length.
 *   - Completions (poll) carry the qp, the caller's wr_id, the opcode
 *     (send or receive), a status and, for a receive, the byte count. Every
 *     work request posted gets exactly one completion, also when the QP
 *     goes to error (status FLUSH). A send is always signalled.
 *   - A QP in error emits EV_QP_ERROR (the device's async event on real
 *     hardware) and flushes what is posted; nothing may be posted to it after
 *     that (post_* returns -ENOTCONN).
 *   - destroy(qp) only after every work request on it has completed (its
 *     flushes polled), so no buffer is still referenced by the device.
 *
 * Events are copied out and acked inside get_event(): rdma_destroy_id waits
 * for every event of its id to be acked, which would deadlock a
 * single-threaded loop that destroyed an id while holding one.
 *
 * All calls on one thread (the loop's). No call runs a callback; everything
 * comes out of get_event() and poll().
 */
#ifndef MSGR_TRANSPORTS_RDMA_SHIM_H
#define MSGR_TRANSPORTS_RDMA_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define MSGR__RSHIM_PDATA_CONNECT 56  /* rdma_cm's limit on connect (RC, TCP port space) */
#define MSGR__RSHIM_PDATA_ACCEPT 196  /* ... on accept and reject */
#define MSGR__RSHIM_MAX_SGE 4         /* SGEs per send work request we ever use */

struct msgr__rshim; /* one per transport instance; opaque */

/* A queue pair. Shims embed it as the first member of their own struct;
 * ctx is the owner's (rdma.c's connection, or a test's), set by the owner
 * and never read by the shim. Lives from dial() or EV_CONNECT_REQUEST
 * until destroy(). */
struct msgr__rshim_qp {
	void *ctx;
};

/* A registered memory region: the lkey that SGEs into it carry. Owned by
 * the caller of reg_mr until dereg_mr, which must wait until no posted work
 * request refers to it. */
struct msgr__rshim_mr {
	uint32_t lkey;
};

struct msgr__rshim_sge {
	void *addr;
	uint32_t len;
	struct msgr__rshim_mr *mr; /* the region addr..addr+len lies in */
};

enum msgr__rshim_ev_type {
	MSGR__RSHIM_EV_ROUTE_READY = 1, /* dial(): create the QP, post receives, connect() */
	MSGR__RSHIM_EV_CONNECT_REQUEST, /* a new passive qp; pdata is the dialler's */
	MSGR__RSHIM_EV_ESTABLISHED,     /* pdata (active side only) is the accepter's */
	MSGR__RSHIM_EV_REJECTED,        /* the peer (or its CM: nobody listening) said no */
	MSGR__RSHIM_EV_UNREACHABLE,     /* address, route or connect failed or timed out */
	MSGR__RSHIM_EV_DISCONNECTED,    /* the peer disconnected, or we did */
	MSGR__RSHIM_EV_QP_ERROR,        /* the QP went to error: completions will flush */
	MSGR__RSHIM_EV_DEVICE_REMOVAL,  /* the device is going; every qp on it is lost */
};

/* One rdma_cm or async event, copied out of the shim (already acked). */
struct msgr__rshim_ev {
	enum msgr__rshim_ev_type type;
	struct msgr__rshim_qp *qp;   /* NULL only for a listener-wide DEVICE_REMOVAL */
	int status;                  /* 0, or a negative errno / the CM's reason */
	uint8_t pdata_len;
	uint8_t pdata[MSGR__RSHIM_PDATA_ACCEPT];
};

enum msgr__rshim_wc_op { MSGR__RSHIM_WC_SEND = 1, MSGR__RSHIM_WC_RECV };
enum msgr__rshim_wc_status {
	MSGR__RSHIM_WC_OK = 0,
	MSGR__RSHIM_WC_FLUSH,       /* the QP is in error; the request never ran */
	MSGR__RSHIM_WC_RNR,         /* the peer had no receive posted (RNR retry exceeded) */
	MSGR__RSHIM_WC_RETRY,       /* transport retries exceeded: the peer is gone */
	MSGR__RSHIM_WC_LEN,         /* a message larger than the receive posted for it */
	MSGR__RSHIM_WC_OTHER,       /* any other error status */
};

struct msgr__rshim_wc {
	struct msgr__rshim_qp *qp;
	uint64_t wr_id;
	enum msgr__rshim_wc_op op;
	enum msgr__rshim_wc_status status;
	uint32_t byte_len;           /* receives: bytes that arrived */
};

/* Sizes a shim is opened with. Value type, copied at open. */
struct msgr__rshim_conf {
	unsigned max_send_wr;  /* per QP */
	unsigned max_recv_wr;  /* per QP */
};

/* Counters a shim keeps; read with stats(). Fake and real fill what they can. */
struct msgr__rshim_stats {
	uint64_t rnr;         /* receives that found no buffer posted (RNR NAKs) */
	uint64_t qp_errors;   /* QPs that went to error */
	uint64_t flushed;     /* completions with status FLUSH */
};

struct msgr__rshim_ops {
	const char *name; /* "verbs", "fake" */
	/* Open the device (the first one rdma_cm finds) or fail with a negative
	 * errno and one line in err ("no RDMA device (...)"). */
	int (*open)(struct msgr__rshim **s, const struct msgr__rshim_conf *conf, char *err,
		    size_t errlen);
	/* Destroy every qp and the instance. The caller has destroyed or given
	 * up its qps; a shim frees what is left. */
	void (*close)(struct msgr__rshim *s);
	int (*fd)(struct msgr__rshim *s);
	/* Accept connection requests on numeric "HOST:PORT". */
	int (*listen)(struct msgr__rshim *s, const char *hostport);
	/* Start resolving "HOST:PORT"; *qp exists at once (set its ctx), and
	 * EV_ROUTE_READY or EV_UNREACHABLE follows. */
	int (*dial)(struct msgr__rshim *s, const char *hostport, struct msgr__rshim_qp **qp);
	int (*create_qp)(struct msgr__rshim_qp *qp);
	int (*connect)(struct msgr__rshim_qp *qp, const void *pdata, size_t len);
	int (*accept)(struct msgr__rshim_qp *qp, const void *pdata, size_t len);
	int (*reject)(struct msgr__rshim_qp *qp, const void *pdata, size_t len);
	/* Begin an orderly disconnect: the QP goes to error (posted requests
	 * flush) and EV_DISCONNECTED follows on both sides. Idempotent. */
	int (*disconnect)(struct msgr__rshim_qp *qp);
	void (*destroy)(struct msgr__rshim_qp *qp);
	/* 0 with *ev filled, or -EAGAIN when none is waiting. */
	int (*get_event)(struct msgr__rshim *s, struct msgr__rshim_ev *ev);
	/* Up to n completions from any qp; 0 when none. Re-arms notification
	 * itself, so the fd becomes readable for the next one. */
	int (*poll)(struct msgr__rshim *s, struct msgr__rshim_wc *wc, int n);
	int (*reg_mr)(struct msgr__rshim *s, void *base, size_t len, struct msgr__rshim_mr **mr);
	void (*dereg_mr)(struct msgr__rshim_mr *mr);
	int (*post_recv)(struct msgr__rshim_qp *qp, uint64_t wr_id, void *buf, uint32_t len,
			 struct msgr__rshim_mr *mr);
	/* One signalled SEND of the SGEs' bytes, gathered in order. */
	int (*post_send)(struct msgr__rshim_qp *qp, uint64_t wr_id, const struct msgr__rshim_sge *sge,
			 int nsge);
	/* "HOST:PORT" of the peer (peer = 1) or of our end; -ENOSPC if too small. */
	int (*addr)(struct msgr__rshim_qp *qp, int peer, char *buf, size_t len);
	void (*stats)(struct msgr__rshim *s, struct msgr__rshim_stats *st);
};

extern const struct msgr__rshim_ops msgr__rshim_verbs_ops; /* rdma_verbs.c */
extern const struct msgr__rshim_ops msgr__rshim_fake_ops;  /* rdma_fake.c */

#endif
