/*
 * link_int.h - what the link layer's files share (link.c: one link, its
 * output and its state machine's driver; link_in.c: what a link receives;
 * links.c: the set of links, the transport's callbacks and the clock).
 * Never included outside the link layer: above it, a link is opaque.
 */
#ifndef MSGR_DAEMON_LINK_INT_H
#define MSGR_DAEMON_LINK_INT_H

#include "auth.h"
#include "frame.h"
#include "handshake.h"
#include "link.h"
#include "seal.h"
#include "shm/segment.h"

#define RBUF_LEN 65536          /* one read's worth per link */
#define SMALL_LEN 4096          /* largest control frame payload (frame.c limits) */
#define KA_ANSWER_NS 10000000ull /* answer at most one KEEPALIVE per 10 ms */
#define MAX_HANDSHAKES 64       /* inbound links not yet authenticated, at once */
#define MAX_HANDSHAKES_SRC 8    /*   of them from one source address */
#define NKNOWN 64
#define NSPARE 4                /* output buffers kept for reuse, */
#define SPARE_MIN (64u << 10)   /*   each at least this big */
#define SPARE_MAX (4u << 20)    /*   and at most this */
#define TICK_MS 50              /* keepalive and deadline resolution */

/* Owned by its struct msgr__links; see link.h. */
struct msgr__link {
	struct msgr__links *ls;
	struct msgr__tconn *tl;       /* the transport connection under it (alive while we are) */
	void *owner;                  /* the session's, set by it (named, or at dial) */
	struct msgr__link *next, *prev; /* ls->links */
	enum msgr__link_state state;  /* assigned only by step(), from msgr__link_next() */
	enum msgr__link_state closed_from; /* the state our close began in */
	struct msgr__link_info info;
	struct msgr__handshake hs;
	uint8_t my_chal[MSGR__CHALLENGE_LEN];
	uint8_t proof_in[MSGR__PROOF_LEN]; /* the peer's AUTH, for MSGR__LA_VERIFY */
	struct msgr__seal tx, rx;     /* secure mode's directions (owned; off until keyed) */
	int fail_err;                 /* a failure to act on at the next flush (0: none) */
	const char *fail_why;
	int close_err;                /* why we closed it */
	struct msgr__frame_dec dec;
	uint8_t *rbuf;                /* receive buffer, RBUF_LEN, owned */
	uint8_t small[SMALL_LEN];     /* payload of the control frame being read */
	uint8_t *big;                 /* MSG payload being read, owned until handed on */
	struct msgr__fbuf out;        /* frames for the next flush */
	char src[MSGR__HOSTPORT_MAX]; /* its source, for limits (msgr__source_key) */
	uint64_t created_ns, last_rx_ns, last_ka_ns, deadline_ns;
	uint64_t last_ka_ack_ns;      /* when we last answered a KEEPALIVE */
	uint64_t out_since_ns;        /* the transport queue has not moved since */
	size_t out_queued;            /* its size at the last tick */
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	size_t backlog_peak;          /* the most msgr__link_backlog was after a frame */
	uint64_t rtt_ns;              /* last KEEPALIVE round trip */
};

struct msgr__links {
	const struct msgr__net_conf *conf;  /* borrowed from the loop */
	struct msgr__net_stats *stats;      /* likewise */
	const struct msgr__transport_ops *ops; /* what links are called through: the
					   transport's, or the fault interceptor's */
	const char *tname;            /* the transport under it ("tcp") */
	struct msgr__transport *t;
	const struct msgr__link_events *ev; /* the sessions layer's */
	void *ctx;
	uint64_t nonce;               /* this daemon instance */
	struct msgr__keyring kr;      /* cluster keys (auth.mode hmac or secure) */
	struct msgr__link *links;
	uv_timer_t tick;              /* deadlines and keepalives, while links exist */
	/* sources that brought a link up lately: a flood of strangers cannot
	 * take their handshake slots (each still has its own per-source cap) */
	char known[NKNOWN][MSGR__HOSTPORT_MAX];
	unsigned nknown;
	/* output buffers the transport gave back (sent()), owned, for the next
	 * link output to start from: each flush hands its buffer away, and
	 * growing a new one from 4 KiB to a MiB by doubling copies it twice
	 * over and faults in fresh pages every time */
	void *spare[NSPARE];
	unsigned nspare;
};

/* A buffer sent() gave back: kept as a spare if it is worth keeping. */
void msgr__links_recycle(struct msgr__links *ls, void *buf);

static inline uint64_t msgr__link_connect_deadline(const struct msgr__links *ls)
{
	return msgr__now_ns() + ls->conf->connect_timeout_ms * 1000000ull;
}

static inline const char *msgr__link_name(const struct msgr__link *l)
{
	return l->info.peer_listen[0] ? l->info.peer_listen : l->info.remote;
}

/* Not yet closing: it may still send and receive. */
static inline int msgr__link_live(const struct msgr__link *l)
{
	return l->state < MSGR__LINK_CLOSING;
}

/* Move l by ev and run the actions (link.c): the only place a link's state
 * is assigned. err and why say why, for the actions that report. */
void msgr__link_step(struct msgr__link *l, enum msgr__link_event ev, int err, const char *why);
/* Queue a link-level frame (channel 0); a reason frame (CLOSE, AUTH_FAIL). */
void msgr__link_put(struct msgr__link *l, uint8_t type, const void *payload, size_t len);
void msgr__link_put_reason(struct msgr__link *l, uint8_t type, const char *why);
/* Our banner and HELLO, and the first receive. 0 or -ENOMEM. */
int msgr__link_send_hello(struct msgr__link *l);
/* A source that brought a link up lately (exempt from the handshake total). */
int msgr__link_source_known(const struct msgr__links *ls, const char *src);
/* The decoder's callbacks (link_in.c). */
extern const struct msgr__frame_ops msgr__link_frame_ops;

#endif
