/*
 * rdma_engine.h - the RDMA transport's protocol engine: the hello in rdma_cm
 * private data, the per-SEND header, link credits, and a link's buffers and
 * work requests. It calls no verbs: everything goes through the shim's ops
 * table (rdma_shim.h), so the unit tests run it over the fake shim.
 *
 * Below transport.h, the core's bytes (banner, HELLO, AUTH, sealed frames:
 * msgrd's frame stream, unchanged) travel as the payload of SENDs:
 *
 *   SEND = [ engine header, 8 bytes ][ payload: 0..recv_size-8 bytes of the stream ]
 *
 * Credits, never RNR retry. A receive is a credit. Each side posts W data
 * receives and K control receives (W and K from its hello; all posted before
 * connect or accept). The sender holds two counts for what the peer has
 * posted: data credits (at most the peer's W) and control credits (at most
 * its K). A DATA send takes a data credit, a CREDIT send a control credit,
 * so the two never starve each other, and sends in flight never exceed
 * the peer's W + K posted receives. Each header returns, as increments, the
 * receives of each kind the sender has reposted since its last header.
 * Receives are reposted only once the core has taken their bytes, so a
 * slow reader stops its peer through credits, not through RNR.
 *
 * When to send a CREDIT with no data (the "standalone" rule), given that a
 * CREDIT itself uses up a receive at the peer, and must not set off a
 * CREDIT in return forever:
 *   A. we owe at least T = W/2 + 1 data credits (W ours), or
 *   B. we owe K control credits (the peer has none left to answer with),
 * and we hold a control credit. With K = 3 and T > W/2 neither rule can
 * chase the other (a CREDIT brings the peer one owed control credit, B
 * needs K), and no quiescent state leaves a side with data waiting and
 * no credit coming: the unit tests check both by search.
 * Why no side is left owing with no control credit to say so: both sides
 * would need their last CREDITs, all their control credits' worth, in
 * flight across each other's (any header returns all that is owed). Of a
 * side's, at most one can be rule A's: once one returned T, fewer than
 * W - T < T of its receives are left for the peer to fill before the peer
 * hears of it. None can be rule B's: that needs K more CREDITs from the
 * peer, past the peer's credits. So K >= 2 suffices. The search also
 * covers a peer whose hello asks for K = 1 or 2 (allowed): our K = 3
 * damps any chase. K = 1 on both sides would not (each CREDIT answered by
 * one, forever); msgrd never sends that.
 *
 * Ownership: a link (struct msgr__rdma_link) is the owner's, from
 * msgr__rdma_link_new to msgr__rdma_link_free; it owns its buffers and
 * their registrations, and borrows the shim, the qp and each queued send's
 * bytes (from msgr__rdma_link_send until that send's sent()). Free only once
 * msgr__rdma_link_idle() says no work request is outstanding.
 */
#ifndef MSGR_TRANSPORTS_RDMA_ENGINE_H
#define MSGR_TRANSPORTS_RDMA_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "transports/rdma_shim.h"

/* ---- the hello, in the private data of connect and accept ---- */

#define MSGR__RDMA_HELLO_VERSION 1
#define MSGR__RDMA_HELLO_LEN 16    /* what version 1 writes; fits the 56 bytes of connect */
#define MSGR__RDMA_CTRL_DEPTH 3    /* K: control receives each side posts */
#define MSGR__RDMA_DEPTH_MAX 1024  /* W: data receives, 1..this */
#define MSGR__RDMA_SIZE_MIN 4096   /* bytes per receive, header included */
#define MSGR__RDMA_SIZE_MAX (1u << 20)

/* Value type. On the wire (little-endian): "MRdm", version u8, length u8
 * (of the hello, from the magic on: version 1 writes 16 and reads any
 * length >= 16, ignoring what a later version adds), ctrl_depth u16,
 * recv_depth u32, recv_size u32. Bytes past length are padding (rdma_cm
 * zero-fills private data to its fixed size) and are ignored. */
struct msgr__rdma_hello {
	uint8_t version;
	uint16_t ctrl_depth; /* K, 1..64 */
	uint32_t recv_depth; /* W, 1..MSGR__RDMA_DEPTH_MAX */
	uint32_t recv_size;  /* MSGR__RDMA_SIZE_MIN..MSGR__RDMA_SIZE_MAX */
};

/* Bytes written (MSGR__RDMA_HELLO_LEN), or -ENOSPC. */
int msgr__rdma_hello_encode(const struct msgr__rdma_hello *h, uint8_t *buf, size_t cap);
/* 0, or -EPROTO with a line in err naming the field that is wrong: short,
 * bad magic, unknown version, a depth or size out of range. */
int msgr__rdma_hello_decode(struct msgr__rdma_hello *h, const uint8_t *buf, size_t len, char *err,
			    size_t errlen);

/* ---- the per-SEND header ---- */

#define MSGR__RDMA_HDR_LEN 8
enum msgr__rdma_type { MSGR__RDMA_DATA = 1, MSGR__RDMA_CREDIT = 2 };

/* On the wire: type u8, zero u8, data_ret u16, ctrl_ret u16, zero u16.
 * DATA carries at least one byte of payload, CREDIT none. */
struct msgr__rdma_hdr {
	uint8_t type;
	uint16_t data_ret; /* data receives reposted since the sender's last header */
	uint16_t ctrl_ret; /* control receives, likewise */
};

void msgr__rdma_hdr_encode(const struct msgr__rdma_hdr *h, uint8_t out[MSGR__RDMA_HDR_LEN]);
/* Decode a whole received SEND of len bytes: 0, or -EPROTO with the reason
 * in err (short, unknown type, nonzero reserved bytes, DATA without payload,
 * CREDIT with payload). */
int msgr__rdma_hdr_decode(struct msgr__rdma_hdr *h, const uint8_t *p, size_t len, char *err,
			  size_t errlen);

/* ---- credits: arithmetic only ---- */

/* Value type, one per link. Every count is bounded by a window, so none
 * can go negative or past it; the functions refuse a peer that tries. */
struct msgr__rdma_credits {
	uint32_t my_data, my_ctrl;     /* our W, K: what we posted for the peer */
	uint32_t peer_data, peer_ctrl; /* the peer's W, K */
	uint32_t tx_data, tx_ctrl;     /* sends of each kind we may still post */
	uint32_t held_data, held_ctrl; /* peer's sends received, not yet returned */
	uint32_t owe_data, owe_ctrl;   /* of those, reposted: to return in our next header */
	uint32_t thresh;               /* rule A: my_data / 2 + 1 */
};

void msgr__rdma_cr_init(struct msgr__rdma_credits *c, uint32_t my_data, uint32_t my_ctrl,
			uint32_t peer_data, uint32_t peer_ctrl);
int msgr__rdma_cr_can_send(const struct msgr__rdma_credits *c, enum msgr__rdma_type t);
/* Rules A or B hold and a control credit is there. */
int msgr__rdma_cr_want_credit(const struct msgr__rdma_credits *c);
/* Take a credit of kind t (the caller checked can_send) and fill h with
 * what we owe, which is then reported. */
void msgr__rdma_cr_take(struct msgr__rdma_credits *c, enum msgr__rdma_type t, struct msgr__rdma_hdr *h);
/* A SEND arrived with header h: count it against our window and apply
 * its returns. 0, or -EPROTO with the reason (the peer overran our window,
 * or returned credits it never used). */
int msgr__rdma_cr_on_recv(struct msgr__rdma_credits *c, const struct msgr__rdma_hdr *h, char *err,
			  size_t errlen);
/* A receive that had a SEND of kind t is posted again. */
void msgr__rdma_cr_reposted(struct msgr__rdma_credits *c, enum msgr__rdma_type t);

/* ---- a link: buffers, work requests, the byte stream ---- */

/* Value type, copied at new. */
struct msgr__rdma_link_conf {
	uint32_t recv_depth; /* W */
	uint32_t recv_size;  /* bytes per receive buffer and per send slot */
	uint32_t send_slots; /* registered send buffers, 1..1024; with 2 or more,
				one is kept for standalone CREDITs */
};

/* What the engine tells its owner; called only from on_wc() and pump(),
 * never from inside send(), read(), start() or fail(). A callback may call
 * send, read, pump and fail on its link (the engine finishes what is owed
 * after it returns), but not free. */
struct msgr__rdma_link_cb {
	/* Every byte of that send was posted and completed (0), or it was
	 * dropped (a negative errno): -ECANCELED after fail(). Once per send,
	 * in the order of msgr__rdma_link_send. */
	void (*sent)(void *ctx, void *cookie, int err);
	/* Received bytes wait for msgr__rdma_link_read. */
	void (*readable)(void *ctx);
	/* The link is unusable: a protocol violation by the peer or an error
	 * completion. err and a line naming what; the owner tears it down. Once. */
	void (*failed)(void *ctx, int err, const char *why);
};

/* Counters, per link; the owner sums them. */
struct msgr__rdma_link_stats {
	uint64_t sends, recvs;          /* completed SENDs each way, CREDITs included */
	uint64_t credit_msgs_out;       /* standalone CREDITs we sent */
	uint64_t credit_stalls;         /* times data waited with no data credit */
	uint64_t flushed;               /* completions with status FLUSH */
	uint64_t wc_errors;             /* completions with any other error */
};

struct msgr__rdma_link;

/* Allocate and register the link's receive buffers (W + K) and send slots
 * on shim s for qp. 0 or a negative errno. */
int msgr__rdma_link_new(struct msgr__rdma_link **out, const struct msgr__rshim_ops *ops,
			struct msgr__rshim *s, struct msgr__rshim_qp *qp,
			const struct msgr__rdma_link_conf *conf, const struct msgr__rdma_link_cb *cb,
			void *ctx);
/* Post every receive (after create_qp, before connect/accept). */
int msgr__rdma_link_post_receives(struct msgr__rdma_link *el);
/* Our hello, for the private data. */
void msgr__rdma_link_hello(const struct msgr__rdma_link *el, struct msgr__rdma_hello *mine);
/* Established: credits from the peer's hello. 0 or -EPROTO (with err).
 * A SEND may complete before start() (the peer's first, racing our own
 * ESTABLISHED): it waits, and start() counts it, or refuses it with
 * -EPROTO as on_wc would (failed() is not called as well); its readable()
 * comes from the next pump(). */
int msgr__rdma_link_start(struct msgr__rdma_link *el, const struct msgr__rdma_hello *peer, char *err,
			  size_t errlen);
/* Queue iov[0..n) (borrowed until sent()); it goes out as credits allow. */
int msgr__rdma_link_send(struct msgr__rdma_link *el, const struct iovec *iov, int n, void *cookie);
/* Bytes queued and not yet posted. */
size_t msgr__rdma_link_queued(const struct msgr__rdma_link *el);
/* Copy up to cap received bytes, in order, into dst; receives emptied are
 * posted again (and so returned as credits). Returns the bytes copied. */
size_t msgr__rdma_link_read(struct msgr__rdma_link *el, void *dst, size_t cap);
size_t msgr__rdma_link_readable(const struct msgr__rdma_link *el);
/* One completion of this link's qp. */
void msgr__rdma_link_on_wc(struct msgr__rdma_link *el, const struct msgr__rshim_wc *wc);
/* Post what the credits allow: data, then a standalone CREDIT if due. */
void msgr__rdma_link_pump(struct msgr__rdma_link *el);
/* Stop: queued sends come back -ECANCELED (from the next pump or on_wc), nothing more is
 * posted; outstanding requests still complete (flush) and must be polled. Also
 * the orderly close: fail(el, 0) before the qp's disconnect, so its flushes are
 * expected (counted, no failed()). No failed() follows a fail(). */
void msgr__rdma_link_fail(struct msgr__rdma_link *el, int err);
/* The peer disconnected in order: stop as fail() does, but SENDs that
 * arrived before its disconnect (their completions may be polled after
 * the CM event) are still taken and can be read, as a TCP reader gets
 * the bytes before the EOF. */
void msgr__rdma_link_peer_gone(struct msgr__rdma_link *el);
/* No work request outstanding: free may follow (and the qp's destroy). Sends
 * still queued at free are dropped without a sent(): pump after fail first. */
int msgr__rdma_link_idle(const struct msgr__rdma_link *el);
/* Every queued send has been posted and completed. */
int msgr__rdma_link_drained(const struct msgr__rdma_link *el);
const struct msgr__rdma_link_stats *msgr__rdma_link_stats(const struct msgr__rdma_link *el);
const struct msgr__rdma_credits *msgr__rdma_link_credits(const struct msgr__rdma_link *el);
void msgr__rdma_link_free(struct msgr__rdma_link *el);

#endif
