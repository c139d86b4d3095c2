/*
 * rdma_fake.c - the fake verbs shim (msgr__rshim_fake_ops, rdma_shim.h and
 * rdma_fake.h): a queue pair is one SOCK_SEQPACKET Unix socket, connected
 * through a listener in the abstract namespace ("\0msgrd-rdma-fake/HOST:PORT").
 *
 * Events and completions are queued in memory; nothing is ever called back.
 * fd() is an epoll fd over an eventfd (kept readable while either queue is
 * non-empty), the listener and every qp's socket. get_event() and poll()
 * first "pump": take what epoll says is ready (accept, read packets, write
 * what waited for room), never blocking; then they hand out what is queued
 * and reset the eventfd once both queues are empty, so the fd stops being
 * readable when there is nothing to do.
 *
 * Wire: a packet is a kind byte and a body whose length the kind fixes:
 *   CONNECT_REQ  pdata zero-padded to 56 bytes, then the dialler's own
 *                "HOST:PORT" (1..127 printable bytes, no NUL): the passive
 *                side's peer address
 *   ACCEPT       pdata zero-padded to 196 bytes
 *   REJECT       pdata zero-padded to 196 bytes
 *   DATA_MORE    up to 64 KiB of a SEND, more to follow
 *   DATA         the last (or only) up to 64 KiB of a SEND
 *   DISCONNECT   empty
 *   ERROR        one byte, a positive errno: "your QP is in error, this is why"
 * A SEND goes in 64 KiB fragments so that any size up to FAKE_MAX_MSG fits
 * the default socket send buffer (a larger datagram fails with EMSGSIZE
 * unless wmem_max is raised, and would need a high-order allocation).
 * Packets arrive in order, so fragments need no numbering.
 *
 * Semantics the headers leave open, and what this fake chose:
 *   - A send completes OK once its last fragment is written into the peer's
 *     socket, not when the peer places it. So an RNR is seen by the
 *     receiver (stats.rnr, EV_QP_ERROR -ENOBUFS), which then sends ERROR;
 *     the sender's QP goes to error on it (EV_QP_ERROR -ENOBUFS) and flushes
 *     what it has posted. No completion ever has status RNR. LEN is alike:
 *     the receive completes LEN, both QPs go to error with -EMSGSIZE.
 *   - EV_QP_ERROR (and stats.qp_errors) is only for abnormal errors: RNR,
 *     LEN, a malformed packet, the peer's ERROR, injected FLUSH or RETRY, a
 *     lost socket, device removal. An orderly disconnect (ours or the
 *     peer's), a reject or a failed connect move the QP to error quietly,
 *     as rdma_cm does: the posted requests still flush.
 *   - A socket lost without DISCONNECT: EV_QP_ERROR and EV_DISCONNECTED
 *     (status -ECONNRESET) once established; EV_UNREACHABLE before that.
 *   - A dial nobody listens for: EV_UNREACHABLE -ECONNREFUSED at once (real
 *     rdma_cm resolves the route and then says REJECTED); a listener whose
 *     backlog is full: EV_UNREACHABLE -EAGAIN.
 *   - disconnect() on a connection already over (rejected, unreachable,
 *     disconnected, device removed) queues nothing: that end was reported.
 *   - The depth limits (max_send_wr, max_recv_wr) count requests posted and
 *     not yet polled, as a real work queue's slots are.
 *   - addr(): the active side's peer is what it dialled; the passive side's
 *     local is its listener's. The active side's own address is the host of
 *     our listener (if we listen on a named host), else the host dialled,
 *     with a made-up port (32768..61000, per shim); the passive side learns
 *     it from CONNECT_REQ. Ports are not unique across processes.
 *   - There are no CM timeouts: a peer that never answers leaves a connect
 *     pending until the owner gives up (disconnect or destroy).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/list.h"
#include "transports/rdma_fake.h"

#define FAKE_PREFIX "msgrd-rdma-fake/"
#define FAKE_FRAG (64 * 1024)    /* SEND bytes per DATA packet */
#define FAKE_MAX_MSG (16u << 20) /* the largest SEND we gather */
#define FAKE_ADDR_MAX 128        /* "HOST:PORT" with its NUL */
#define FAKE_BUDGET 64           /* per pump: epoll events, accepts, packets per socket */
#define PDC MSGR__RSHIM_PDATA_CONNECT
#define PDA MSGR__RSHIM_PDATA_ACCEPT

enum pkt_kind { PK_CONNECT_REQ = 1, PK_ACCEPT, PK_REJECT, PK_DATA_MORE, PK_DATA, PK_DISCONNECT, PK_ERROR };

/* A work request, or a control packet waiting to be written. Owned by the
 * shim from post (or from ctl_queue) until poll() hands its completion out
 * (a control packet: until written); destroy() frees those of its qp. */
struct fwr {
	struct fwr *next;         /* in qp->recvs, qp->out or s->wcq */
	struct msgr__rshim_wc wc; /* qp, wr_id and op from the post; status and byte_len at completion */
	uint8_t *buf;             /* receive: the caller's buffer (borrowed); send and control: data[] */
	uint32_t len;             /* bytes in buf: the receive's room, the SEND, the control packet */
	uint32_t off;             /* send: bytes already written */
	unsigned ctl : 1;         /* a control packet: no completion */
	unsigned retry : 1;       /* injected RETRY: completes RETRY instead of being written */
	uint8_t data[];           /* send: the gathered bytes; control: the whole packet */
};

/* A FIFO of fwr. Value type, embedded in its owner. */
struct wrq {
	struct fwr *head, *tail;
};

/* One event, embedded in its qp (or the shim) so that queueing it cannot
 * fail. A qp has one slot per kind of event, and each slot fires at most
 * once: the events of a qp can never repeat. */
struct fev {
	struct fev *prev, *next; /* s->evq, while queued */
	unsigned queued : 1;
	unsigned used : 1;       /* has fired (a qp's slots never fire again) */
	struct msgr__rshim_ev ev;
};

enum { SL_ROUTE, SL_REQ, SL_CONN, SL_DISC, SL_QPERR, SL_DEVRM, SL_N };

enum fq_state {
	FQ_HIDDEN,      /* passive, no CONNECT_REQ yet: the owner does not know it */
	FQ_DIALLED,     /* active, connected to the listener: connect() next */
	FQ_CONNECTING,  /* active, CONNECT_REQ sent: ACCEPT or REJECT next */
	FQ_REQUESTED,   /* passive, EV_CONNECT_REQUEST queued: accept() or reject() next */
	FQ_ESTABLISHED,
	FQ_DOWN,        /* over (rejected, unreachable, disconnected, removed): destroy() next */
};

/* A queue pair. Allocated by dial() or by an accept on the listener; the
 * owner's from dial() or EV_CONNECT_REQUEST until destroy() (a hidden one
 * is the shim's, which frees it if it dies before its CONNECT_REQ). */
struct fq {
	struct msgr__rshim_qp pub; /* first: the owner's pointer is a cast away */
	struct msgr__rshim *s;
	struct fq *prev, *next;    /* s->qps */
	int fd;                    /* the socket, or -1 once closed */
	uint32_t epmask;           /* what fd is registered for in s->epfd */
	enum fq_state state;
	unsigned created : 1;      /* create_qp() was called */
	unsigned qperr : 1;        /* the QP is in error: everything flushed, posts refused */
	unsigned close_after : 1;  /* close fd once out is written (after DISCONNECT, REJECT) */
	unsigned dead : 1;         /* hidden and given up: the pump frees it */
	unsigned rx_mid : 1;       /* a SEND is arriving, in fragments, into recvs.head */
	unsigned inj_rnr : 1;      /* the next SEND finds no receive */
	unsigned inj_retry : 1;    /* the next post_send completes RETRY */
	uint32_t rx_off;           /* bytes of the arriving SEND so far */
	unsigned nrecv, nsend;     /* posted and not yet polled: the queues' depth */
	struct wrq recvs;          /* posted receives, oldest first */
	struct wrq out;            /* sends and control packets to write, in order */
	char local[FAKE_ADDR_MAX], peer[FAKE_ADDR_MAX];
	struct fev ev[SL_N];
};

/* One instance, from open() to close(); it owns every qp, queued event and
 * completion. */
struct msgr__rshim {
	struct msgr__rshim_conf conf;
	int epfd;                  /* fd(): the eventfd, the listener, every socket */
	int evfd;                  /* readable while evq or wcq holds something */
	int lfd;                   /* the listener, or -1 */
	unsigned armed : 1;        /* evfd's count is non-zero */
	unsigned reject_all : 1;   /* injected REJECT_ALL */
	unsigned lpaused : 1;      /* accept failed hard (EMFILE): listener out of epoll until a close */
	unsigned ndead;            /* hidden qps marked dead, for reap() */
	char laddr[FAKE_ADDR_MAX]; /* what we listen on */
	struct fq *qps;            /* every qp, hidden ones included */
	struct fev *evq, *evq_tail;
	struct wrq wcq;            /* completions not yet polled */
	struct fev devrm;          /* the listener's EV_DEVICE_REMOVAL (qp NULL) */
	struct msgr__rshim_stats st;
	uint32_t next_lkey;
	unsigned port_seq;         /* for made-up local ports */
	uint8_t rx[1 + FAKE_FRAG + 1]; /* one packet; a byte more to see an oversized one */
};

static struct fq *fq_of(struct msgr__rshim_qp *qp)
{
	return (struct fq *)qp;
}

static void wrq_push(struct wrq *l, struct fwr *w)
{
	w->next = NULL;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
}

static struct fwr *wrq_pop(struct wrq *l)
{
	struct fwr *w = l->head;

	if (w && !(l->head = w->next))
		l->tail = NULL;
	return w;
}

/* Keep fd() readable exactly while something is queued in memory. */
static void sync_fd(struct msgr__rshim *s)
{
	int want = s->evq || s->wcq.head;
	uint64_t v = 1;

	if (want && !s->armed && write(s->evfd, &v, sizeof(v)) == sizeof(v))
		s->armed = 1;
	else if (!want && s->armed && (read(s->evfd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN))
		s->armed = 0;
}

static void ev_push(struct msgr__rshim *s, struct fev *e, enum msgr__rshim_ev_type type,
		    struct msgr__rshim_qp *qp, int status, const void *pdata, size_t plen)
{
	memset(&e->ev, 0, sizeof(e->ev));
	e->ev.type = type;
	e->ev.qp = qp;
	e->ev.status = status;
	e->ev.pdata_len = (uint8_t)plen;
	if (plen)
		memcpy(e->ev.pdata, pdata, plen);
	e->used = e->queued = 1;
	e->next = NULL;
	e->prev = s->evq_tail;
	if (s->evq_tail)
		s->evq_tail->next = e;
	else
		s->evq = e;
	s->evq_tail = e;
}

static void ev_unlink(struct msgr__rshim *s, struct fev *e)
{
	if (!e->queued)
		return;
	msgr__list_unlink_tail(&s->evq, &s->evq_tail, e);
	e->queued = 0;
}

/* Queue an event of q, unless its slot has fired already. */
static void ev_queue(struct fq *q, enum msgr__rshim_ev_type type, int status, const void *pdata,
		     size_t plen)
{
	static const int slot[] = {
		[MSGR__RSHIM_EV_ROUTE_READY] = SL_ROUTE,    [MSGR__RSHIM_EV_CONNECT_REQUEST] = SL_REQ,
		[MSGR__RSHIM_EV_ESTABLISHED] = SL_CONN,     [MSGR__RSHIM_EV_REJECTED] = SL_CONN,
		[MSGR__RSHIM_EV_UNREACHABLE] = SL_CONN,     [MSGR__RSHIM_EV_DISCONNECTED] = SL_DISC,
		[MSGR__RSHIM_EV_QP_ERROR] = SL_QPERR,       [MSGR__RSHIM_EV_DEVICE_REMOVAL] = SL_DEVRM,
	};
	struct fev *e = &q->ev[slot[type]];

	if (!e->used)
		ev_push(q->s, e, type, &q->pub, status, pdata, plen);
}

static void complete(struct fq *q, struct fwr *w, enum msgr__rshim_wc_status st, uint32_t byte_len)
{
	w->wc.status = st;
	w->wc.byte_len = byte_len;
	if (st == MSGR__RSHIM_WC_FLUSH)
		q->s->st.flushed++;
	wrq_push(&q->s->wcq, w);
}

static void set_epoll(struct fq *q)
{
	struct epoll_event e = { .events = EPOLLIN | (q->out.head ? EPOLLOUT : 0), .data.ptr = q };

	if (q->fd >= 0 && e.events != q->epmask && epoll_ctl(q->s->epfd, EPOLL_CTL_MOD, q->fd, &e) == 0)
		q->epmask = e.events;
}

static void listener_resume(struct msgr__rshim *s)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };

	if (s->lpaused && s->lfd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &e) == 0)
		s->lpaused = 0;
}

/* Close q's socket: the peer sees EOF. Sends not yet written flush (every
 * path here has put the QP in error already, or does so next). */
static void close_sock(struct fq *q)
{
	struct fwr *w;

	if (q->fd < 0)
		return;
	epoll_ctl(q->s->epfd, EPOLL_CTL_DEL, q->fd, NULL);
	close(q->fd);
	q->fd = -1;
	q->epmask = 0;
	q->close_after = 0;
	while ((w = wrq_pop(&q->out))) {
		if (w->ctl)
			free(w);
		else
			complete(q, w, MSGR__RSHIM_WC_FLUSH, 0);
	}
	listener_resume(q->s); /* a descriptor is free again */
}

/* The QP goes to error: every posted receive and unwritten send flushes,
 * and nothing more may be posted. notify: an abnormal error, which the
 * owner hears of (EV_QP_ERROR with status); a quiet one is part of a
 * disconnect, reject or failed connect. Control packets still go out. */
static void qp_error(struct fq *q, int status, int notify)
{
	struct wrq keep = { 0 };
	struct fwr *w;

	if (q->qperr)
		return;
	q->qperr = 1;
	q->rx_mid = 0;
	if (notify && q->created) {
		q->s->st.qp_errors++;
		ev_queue(q, MSGR__RSHIM_EV_QP_ERROR, status, NULL, 0);
	}
	while ((w = wrq_pop(&q->recvs)))
		complete(q, w, MSGR__RSHIM_WC_FLUSH, 0);
	while ((w = wrq_pop(&q->out))) {
		if (w->ctl)
			wrq_push(&keep, w);
		else
			complete(q, w, MSGR__RSHIM_WC_FLUSH, 0);
	}
	q->out = keep;
	if (!q->out.head && q->close_after)
		close_sock(q);
	else
		set_epoll(q);
}

/* The socket is gone (EOF, an error, a peer speaking out of turn before
 * the connection is up) or, injected, as good as gone. */
static void lost(struct fq *q, int err)
{
	switch (q->state) {
	case FQ_HIDDEN:
		q->s->ndead += !q->dead;
		q->dead = 1;
		break;
	case FQ_DIALLED:
	case FQ_CONNECTING:
	case FQ_REQUESTED:
		q->state = FQ_DOWN;
		ev_queue(q, MSGR__RSHIM_EV_UNREACHABLE, err, NULL, 0);
		qp_error(q, err, 0);
		break;
	case FQ_ESTABLISHED:
		q->state = FQ_DOWN;
		qp_error(q, err, 1);
		ev_queue(q, MSGR__RSHIM_EV_DISCONNECTED, err, NULL, 0);
		break;
	case FQ_DOWN:
		break;
	}
	close_sock(q);
}

/* Write what waits in q->out, in order, until the socket is full. */
static void flush(struct fq *q)
{
	struct fwr *w;

	while (q->fd >= 0 && (w = q->out.head)) {
		uint32_t chunk = 0;
		ssize_t n;

		if (w->retry) {
			wrq_pop(&q->out);
			complete(q, w, MSGR__RSHIM_WC_RETRY, 0);
			qp_error(q, -ETIMEDOUT, 1);
			continue;
		}
		if (w->ctl) {
			n = send(q->fd, w->buf, w->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			uint8_t kind;
			struct iovec iov[2];
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

			chunk = w->len - w->off < FAKE_FRAG ? w->len - w->off : FAKE_FRAG;
			kind = w->off + chunk == w->len ? PK_DATA : PK_DATA_MORE;
			iov[0] = (struct iovec){ &kind, 1 };
			iov[1] = (struct iovec){ w->buf + w->off, chunk };
			n = sendmsg(q->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break; /* EPOLLOUT brings us back */
		if (n < 0) {
			lost(q, -errno);
			return;
		}
		if (w->ctl) {
			free(wrq_pop(&q->out));
			continue;
		}
		w->off += chunk;
		if (w->off == w->len) /* also a zero-byte SEND, after its one empty DATA */
			complete(q, wrq_pop(&q->out), MSGR__RSHIM_WC_OK, 0);
	}
	if (q->fd >= 0 && !q->out.head && q->close_after)
		close_sock(q);
	else
		set_epoll(q);
}

/* Queue a control packet: kind, then body padded with zeros to pad bytes.
 * 0, or -ENOMEM (or -ENOTCONN with no socket). The caller flushes. */
static int ctl_queue(struct fq *q, uint8_t kind, const void *body, size_t blen, size_t pad)
{
	size_t len = 1 + (blen > pad ? blen : pad);
	struct fwr *w;

	if (q->fd < 0)
		return -ENOTCONN;
	w = calloc(1, sizeof(*w) + len);
	if (!w)
		return -ENOMEM;
	w->ctl = 1;
	w->buf = w->data;
	w->len = (uint32_t)len;
	w->data[0] = kind;
	if (blen)
		memcpy(w->data + 1, body, blen);
	wrq_push(&q->out, w);
	return 0;
}

/* DISCONNECT or ERROR: if even that cannot be queued, the peer learns from
 * the socket's EOF instead. */
static void tell(struct fq *q, uint8_t kind, uint8_t code)
{
	if (ctl_queue(q, kind, &code, kind == PK_ERROR, 0) == -ENOMEM)
		close_sock(q);
	else
		flush(q);
}

/* A peer that broke the protocol on an established connection. */
static void proto_error(struct fq *q)
{
	if (q->qperr)
		return;
	qp_error(q, -EPROTO, 1);
	tell(q, PK_ERROR, EPROTO);
}

/* HOST:PORT as we take it: printable, with a ':' that is neither first nor last. */
static int name_ok(const char *p, size_t n)
{
	const char *colon = memrchr(p, ':', n);

	if (!n || n >= FAKE_ADDR_MAX || !colon || colon == p || colon == p + n - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return 0;
	return 1;
}

static int sock_name(const char *hostport, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t n = strlen(hostport), pl = strlen(FAKE_PREFIX);

	if (!name_ok(hostport, n) || 1 + pl + n > sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path + 1, FAKE_PREFIX, pl); /* sun_path[0] = 0: abstract */
	memcpy(sa->sun_path + 1 + pl, hostport, n);
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + pl + n);
	return 0;
}

static struct fq *qp_new(struct msgr__rshim *s)
{
	struct fq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->s = s;
	q->fd = -1;
	q->next = s->qps;
	if (s->qps)
		s->qps->prev = q;
	s->qps = q;
	return q;
}

static int watch(struct fq *q)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = q };

	if (epoll_ctl(q->s->epfd, EPOLL_CTL_ADD, q->fd, &e))
		return -errno;
	q->epmask = EPOLLIN;
	return 0;
}

/* Free q and everything that still names it: its requests, its completions
 * not yet polled, its queued events. */
static void qp_free(struct fq *q)
{
	struct msgr__rshim *s = q->s;
	struct wrq keep = { 0 };
	struct fwr *w;

	if (q->fd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, q->fd, NULL);
		close(q->fd);
		listener_resume(s);
	}
	while ((w = wrq_pop(&q->recvs)))
		free(w);
	while ((w = wrq_pop(&q->out)))
		free(w);
	while ((w = wrq_pop(&s->wcq))) {
		if (w->wc.qp == &q->pub)
			free(w);
		else
			wrq_push(&keep, w);
	}
	s->wcq = keep;
	for (int i = 0; i < SL_N; i++)
		ev_unlink(s, &q->ev[i]);
	msgr__list_unlink(&s->qps, q);
	free(q);
}

static void reap(struct msgr__rshim *s)
{
	struct fq *q = s->qps, *next;

	for (; q && s->ndead; q = next) {
		next = q->next;
		if (q->dead) {
			s->ndead--;
			qp_free(q);
		}
	}
}

/* ---- receiving ---- */

static void on_request(struct fq *q, uint8_t kind, const uint8_t *body, size_t blen)
{
	static const uint8_t reject[1 + PDA] = { PK_REJECT };

	if (kind != PK_CONNECT_REQ || blen <= PDC || !name_ok((const char *)body + PDC, blen - PDC)) {
		lost(q, -EPROTO); /* not a dialler of ours: drop it unseen */
		return;
	}
	if (q->s->reject_all) {
		/* best effort: if this does not go out, the dialler sees EOF */
		(void)send(q->fd, reject, sizeof(reject), MSG_DONTWAIT | MSG_NOSIGNAL);
		lost(q, -ECONNREFUSED);
		return;
	}
	memcpy(q->peer, body + PDC, blen - PDC);
	q->peer[blen - PDC] = 0;
	q->state = FQ_REQUESTED;
	ev_queue(q, MSGR__RSHIM_EV_CONNECT_REQUEST, 0, body, PDC);
}

/* A fragment of a SEND, on an established connection. */
static void on_data(struct fq *q, uint8_t kind, const uint8_t *body, size_t blen)
{
	struct fwr *r;

	if (q->qperr)
		return; /* a QP in error drops what arrives */
	if (!q->rx_mid) {
		if (q->inj_rnr || !q->recvs.head) {
			/* no RNR retry: both QPs go to error */
			q->inj_rnr = 0;
			q->s->st.rnr++;
			qp_error(q, -ENOBUFS, 1);
			tell(q, PK_ERROR, ENOBUFS);
			return;
		}
		q->rx_mid = 1;
		q->rx_off = 0;
	}
	r = q->recvs.head;
	if (blen > r->len - q->rx_off) {
		wrq_pop(&q->recvs);
		complete(q, r, MSGR__RSHIM_WC_LEN, 0);
		qp_error(q, -EMSGSIZE, 1);
		tell(q, PK_ERROR, EMSGSIZE);
		return;
	}
	if (blen)
		memcpy(r->buf + q->rx_off, body, blen);
	q->rx_off += (uint32_t)blen;
	if (kind == PK_DATA) {
		q->rx_mid = 0;
		complete(q, wrq_pop(&q->recvs), MSGR__RSHIM_WC_OK, q->rx_off);
	}
}

/* One packet of n >= 1 bytes: checked against q's state and its kind's length. */
static void on_packet(struct fq *q, const uint8_t *p, size_t n)
{
	uint8_t kind = p[0];
	const uint8_t *body = p + 1;
	size_t blen = n - 1;

	switch (q->state) {
	case FQ_HIDDEN:
		on_request(q, kind, body, blen);
		return;
	case FQ_CONNECTING:
		if (kind == PK_ACCEPT && blen == PDA) {
			q->state = FQ_ESTABLISHED;
			ev_queue(q, MSGR__RSHIM_EV_ESTABLISHED, 0, body, PDA);
			return;
		}
		if (kind == PK_REJECT && blen == PDA) {
			q->state = FQ_DOWN;
			ev_queue(q, MSGR__RSHIM_EV_REJECTED, -ECONNREFUSED, body, PDA);
			qp_error(q, 0, 0);
			close_sock(q);
			return;
		}
		break;
	case FQ_ESTABLISHED:
		if (kind == PK_DATA || kind == PK_DATA_MORE) {
			if (blen > FAKE_FRAG) /* the read buffer's extra byte: oversized */
				proto_error(q);
			else
				on_data(q, kind, body, blen);
		} else if (kind == PK_DISCONNECT && blen == 0) {
			q->state = FQ_DOWN;
			qp_error(q, 0, 0);
			ev_queue(q, MSGR__RSHIM_EV_DISCONNECTED, 0, NULL, 0);
			close_sock(q);
		} else if (kind == PK_ERROR && blen == 1) {
			qp_error(q, body[0] ? -(int)body[0] : -EPROTO, 1);
		} else {
			proto_error(q);
		}
		return;
	case FQ_DOWN:
		return; /* after our disconnect or reject: moot */
	default:
		break; /* DIALLED, REQUESTED: the peer may say nothing yet */
	}
	lost(q, -EPROTO);
}

static void rx(struct fq *q)
{
	struct msgr__rshim *s = q->s;

	for (int i = 0; i < FAKE_BUDGET && q->fd >= 0; i++) {
		ssize_t n = recv(q->fd, s->rx, sizeof(s->rx), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF, a reset, or an empty packet (none of ours is) */
			lost(q, n < 0 ? -errno : -ECONNRESET);
			return;
		}
		on_packet(q, s->rx, (size_t)n);
	}
}

static void accept_some(struct msgr__rshim *s)
{
	for (int i = 0; i < FAKE_BUDGET; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct fq *q;

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			/* EMFILE and the like would keep the listener readable and
			 * us spinning: stop watching it until a descriptor is freed
			 * (close_sock) or the next pump */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL) == 0)
				s->lpaused = 1;
			return;
		}
		q = qp_new(s);
		if (!q) {
			close(fd); /* the dialler sees EOF: unreachable */
			continue;
		}
		q->fd = fd;
		q->state = FQ_HIDDEN;
		memcpy(q->local, s->laddr, sizeof(q->local));
		if (watch(q)) {
			close(fd);
			q->fd = -1;
			lost(q, -ENOMEM);
			continue;
		}
		rx(q); /* its CONNECT_REQ is likely there already */
	}
}

/* Do, without blocking, whatever the sockets are ready for. Only hidden
 * qps are freed here, and only after the batch, which may still name them. */
static void pump(struct msgr__rshim *s)
{
	struct epoll_event evs[FAKE_BUDGET];
	int n;

	/* a paused listener is tried again whenever we are here anyway (it
	 * makes fd() readable only while it is watched, so this cannot spin) */
	listener_resume(s);
	n = epoll_wait(s->epfd, evs, FAKE_BUDGET, 0);
	for (int i = 0; i < n; i++) {
		struct fq *q = evs[i].data.ptr;

		if (!q)
			continue; /* the eventfd: our own queues */
		if (evs[i].data.ptr == s) {
			accept_some(s);
			continue;
		}
		if (q->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			rx(q);
		if (q->fd >= 0 && (evs[i].events & EPOLLOUT))
			flush(q);
	}
	reap(s);
}

/* ---- the ops ---- */

static int fake_open(struct msgr__rshim **out, const struct msgr__rshim_conf *conf, char *err,
		     size_t errlen)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	struct msgr__rshim *s;
	int r;

	*out = NULL;
	if (!conf) {
		snprintf(err, errlen, "rdma-fake: no configuration");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "rdma-fake: out of memory");
		return -ENOMEM;
	}
	s->conf = *conf;
	s->lfd = s->evfd = -1;
	s->port_seq = (unsigned)getpid() * 61u;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		goto fail;
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->evfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &e))
		goto fail;
	*out = s;
	return 0;
fail:
	r = -errno;
	snprintf(err, errlen, "rdma-fake: epoll or eventfd: %s", strerror(errno));
	if (s->evfd >= 0)
		close(s->evfd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
	return r;
}

static void fake_close(struct msgr__rshim *s)
{
	struct fwr *w;

	if (!s)
		return;
	s->lpaused = 0;
	while (s->qps)
		qp_free(s->qps);
	while ((w = wrq_pop(&s->wcq))) /* none: each qp took its own */
		free(w);
	if (s->lfd >= 0)
		close(s->lfd);
	close(s->evfd);
	close(s->epfd);
	free(s);
}

static int fake_fd(struct msgr__rshim *s)
{
	return s->epfd;
}

static int fake_listen(struct msgr__rshim *s, const char *hostport)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };
	struct sockaddr_un sa;
	socklen_t salen;
	int fd, r = sock_name(hostport, &sa, &salen);

	if (r)
		return r;
	if (s->lfd >= 0)
		return -EALREADY;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, salen) || listen(fd, SOMAXCONN) ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e)) {
		r = -errno;
		close(fd);
		return r;
	}
	s->lfd = fd;
	snprintf(s->laddr, sizeof(s->laddr), "%s", hostport);
	return 0;
}

/* The dialler's own "HOST:PORT" (see the top of the file). */
static void local_name(struct msgr__rshim *s, const char *dialled, char *out)
{
	const char *src = dialled;
	size_t hl;

	if (s->lfd >= 0 && strncmp(s->laddr, "0.0.0.0:", 8) && strncmp(s->laddr, "[::]:", 5))
		src = s->laddr;
	hl = (size_t)(strrchr(src, ':') - src);
	snprintf(out, FAKE_ADDR_MAX, "%.*s:%u", (int)hl, src, 32768u + s->port_seq++ % 28232u);
}

static int fake_dial(struct msgr__rshim *s, const char *hostport, struct msgr__rshim_qp **out)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct fq *q;
	int fd, r = sock_name(hostport, &sa, &salen);

	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	q = qp_new(s);
	if (!q) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(q->peer, sizeof(q->peer), "%s", hostport);
	local_name(s, hostport, q->local);
	/* a Unix connect completes at once, or fails at once */
	if (connect(fd, (struct sockaddr *)&sa, salen) == 0) {
		q->fd = fd;
		r = watch(q);
		if (r) {
			q->fd = -1;
			close(fd);
			qp_free(q);
			return r;
		}
		q->state = FQ_DIALLED;
		ev_queue(q, MSGR__RSHIM_EV_ROUTE_READY, 0, NULL, 0);
	} else {
		r = errno == ENOENT || errno == ECONNREFUSED ? -ECONNREFUSED : -errno;
		close(fd);
		q->state = FQ_DIALLED;
		lost(q, r);
	}
	*out = &q->pub;
	sync_fd(s);
	return 0;
}

static int fake_create_qp(struct msgr__rshim_qp *qp)
{
	struct fq *q = fq_of(qp);

	if (q->created)
		return -EEXIST;
	q->created = 1;
	return 0;
}

static int fake_connect(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	struct fq *q = fq_of(qp);
	size_t al = strlen(q->local);
	uint8_t body[PDC + FAKE_ADDR_MAX] = { 0 };
	int r;

	if (len > PDC)
		return -EINVAL;
	if (q->state == FQ_DOWN)
		return -ENOTCONN;
	if (q->state != FQ_DIALLED || !q->created)
		return -EINVAL;
	if (len)
		memcpy(body, pdata, len);
	memcpy(body + PDC, q->local, al);
	r = ctl_queue(q, PK_CONNECT_REQ, body, PDC + al, 0);
	if (r)
		return r;
	q->state = FQ_CONNECTING;
	flush(q);
	sync_fd(q->s);
	return 0;
}

/* accept (ok = 1) or reject a requested qp. */
static int answer(struct msgr__rshim_qp *qp, const void *pdata, size_t len, int ok)
{
	struct fq *q = fq_of(qp);
	int r;

	if (len > PDA)
		return -EINVAL;
	if (q->state == FQ_DOWN)
		return -ENOTCONN;
	if (q->state != FQ_REQUESTED || (ok && !q->created))
		return -EINVAL;
	r = ctl_queue(q, ok ? PK_ACCEPT : PK_REJECT, pdata, len, PDA);
	if (r)
		return r;
	if (ok) {
		q->state = FQ_ESTABLISHED;
		ev_queue(q, MSGR__RSHIM_EV_ESTABLISHED, 0, NULL, 0);
	} else {
		q->state = FQ_DOWN;
		q->close_after = 1;
		qp_error(q, 0, 0);
	}
	flush(q);
	sync_fd(q->s);
	return 0;
}

static int fake_accept(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	return answer(qp, pdata, len, 1);
}

static int fake_reject(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	return answer(qp, pdata, len, 0);
}

static int fake_disconnect(struct msgr__rshim_qp *qp)
{
	struct fq *q = fq_of(qp);

	if (q->state == FQ_DOWN)
		return 0; /* already over: whatever ended it said so */
	if (q->state == FQ_ESTABLISHED && ctl_queue(q, PK_DISCONNECT, NULL, 0, 0) == 0)
		q->close_after = 1;
	q->state = FQ_DOWN;
	qp_error(q, 0, 0);
	ev_queue(q, MSGR__RSHIM_EV_DISCONNECTED, 0, NULL, 0);
	if (q->close_after)
		flush(q);
	else
		close_sock(q); /* not up yet (or no memory): the peer sees EOF */
	sync_fd(q->s);
	return 0;
}

static void fake_destroy(struct msgr__rshim_qp *qp)
{
	struct fq *q = fq_of(qp);
	struct msgr__rshim *s;

	if (!q)
		return;
	s = q->s;
	if (q->fd >= 0 && q->out.head)
		flush(q); /* a last DISCONNECT or REJECT, if it fits now */
	qp_free(q);
	sync_fd(s);
}

static int fake_get_event(struct msgr__rshim *s, struct msgr__rshim_ev *ev)
{
	struct fev *e;

	pump(s);
	e = s->evq;
	if (e) {
		ev_unlink(s, e);
		*ev = e->ev;
		if (e == &s->devrm)
			e->used = 0; /* the listener's may come again */
	}
	sync_fd(s);
	return e ? 0 : -EAGAIN;
}

static int fake_poll(struct msgr__rshim *s, struct msgr__rshim_wc *wc, int n)
{
	struct fwr *w;
	int i = 0;

	pump(s);
	while (i < n && (w = wrq_pop(&s->wcq))) {
		struct fq *q = fq_of(w->wc.qp);

		if (w->wc.op == MSGR__RSHIM_WC_SEND)
			q->nsend--;
		else
			q->nrecv--;
		wc[i++] = w->wc;
		free(w);
	}
	sync_fd(s);
	return i;
}

static int fake_reg_mr(struct msgr__rshim *s, void *base, size_t len, struct msgr__rshim_mr **mr)
{
	*mr = malloc(sizeof(**mr));
	if (!*mr)
		return -ENOMEM;
	(*mr)->lkey = ++s->next_lkey;
	return 0;
}

static void fake_dereg_mr(struct msgr__rshim_mr *mr)
{
	free(mr);
}

static int fake_post_recv(struct msgr__rshim_qp *qp, uint64_t wr_id, void *buf, uint32_t len,
			  struct msgr__rshim_mr *mr)
{
	struct fq *q = fq_of(qp);
	struct fwr *w;

	if (!q->created || (len && (!buf || !mr)))
		return -EINVAL;
	if (q->qperr)
		return -ENOTCONN;
	if (q->nrecv >= q->s->conf.max_recv_wr)
		return -ENOMEM;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->wc = (struct msgr__rshim_wc){ .qp = qp, .wr_id = wr_id, .op = MSGR__RSHIM_WC_RECV };
	w->buf = buf;
	w->len = len;
	wrq_push(&q->recvs, w);
	q->nrecv++;
	return 0;
}

static int fake_post_send(struct msgr__rshim_qp *qp, uint64_t wr_id, const struct msgr__rshim_sge *sge,
			  int nsge)
{
	struct fq *q = fq_of(qp);
	size_t total = 0;
	struct fwr *w;

	if (!q->created || nsge < 0 || nsge > MSGR__RSHIM_MAX_SGE || (nsge && !sge))
		return -EINVAL;
	if (q->qperr || q->state != FQ_ESTABLISHED)
		return -ENOTCONN;
	for (int i = 0; i < nsge; i++) {
		if (sge[i].len && (!sge[i].addr || !sge[i].mr))
			return -EINVAL;
		total += sge[i].len; /* at most 4 x 4 GiB: no overflow in size_t */
	}
	if (total > FAKE_MAX_MSG)
		return -EMSGSIZE;
	if (q->nsend >= q->s->conf.max_send_wr)
		return -ENOMEM;
	w = calloc(1, sizeof(*w) + total);
	if (!w)
		return -ENOMEM;
	w->wc = (struct msgr__rshim_wc){ .qp = qp, .wr_id = wr_id, .op = MSGR__RSHIM_WC_SEND };
	w->buf = w->data;
	w->len = (uint32_t)total;
	total = 0;
	for (int i = 0; i < nsge; total += sge[i].len, i++)
		if (sge[i].len)
			memcpy(w->data + total, sge[i].addr, sge[i].len);
	w->retry = q->inj_retry;
	q->inj_retry = 0;
	wrq_push(&q->out, w);
	q->nsend++;
	flush(q);
	sync_fd(q->s);
	return 0;
}

static int fake_addr(struct msgr__rshim_qp *qp, int peer, char *buf, size_t len)
{
	struct fq *q = fq_of(qp);
	int n = snprintf(buf, len, "%s", peer ? q->peer : q->local);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static void fake_stats(struct msgr__rshim *s, struct msgr__rshim_stats *st)
{
	*st = s->st;
}

static void device_removal(struct msgr__rshim *s)
{
	for (struct fq *q = s->qps; q; q = q->next) {
		if (q->state == FQ_HIDDEN) {
			lost(q, -ENODEV);
		} else {
			ev_queue(q, MSGR__RSHIM_EV_DEVICE_REMOVAL, -ENODEV, NULL, 0);
			qp_error(q, -ENODEV, 1);
			q->state = FQ_DOWN;
		}
		close_sock(q); /* the peers see EOF */
	}
	reap(s);
	if (s->lfd >= 0 && !s->devrm.queued)
		ev_push(s, &s->devrm, MSGR__RSHIM_EV_DEVICE_REMOVAL, NULL, -ENODEV, NULL, 0);
}

int msgr__rshim_fake_inject(struct msgr__rshim *s, struct msgr__rshim_qp *qp,
			    enum msgr__rshim_fake_fault f)
{
	struct fq *q = qp ? fq_of(qp) : NULL;

	if ((q && s && q->s != s) || (!q && !s))
		return -EINVAL;
	if (!s)
		s = q->s;
	if (!q && f != MSGR__RFAKE_DEVICE_REMOVAL && f != MSGR__RFAKE_REJECT_ALL)
		return -EINVAL;
	switch (f) {
	case MSGR__RFAKE_RNR:
		q->inj_rnr = 1;
		break;
	case MSGR__RFAKE_RETRY:
		q->inj_retry = 1;
		break;
	case MSGR__RFAKE_FLUSH:
		qp_error(q, -EIO, 1);
		break;
	case MSGR__RFAKE_DISCONNECT:
		lost(q, -ECONNRESET);
		break;
	case MSGR__RFAKE_DEVICE_REMOVAL:
		device_removal(s);
		break;
	case MSGR__RFAKE_REJECT_ALL:
		s->reject_all = 1;
		break;
	default:
		return -EINVAL;
	}
	sync_fd(s);
	return 0;
}

const struct msgr__rshim_ops msgr__rshim_fake_ops = {
	.name = "fake",
	.open = fake_open,
	.close = fake_close,
	.fd = fake_fd,
	.listen = fake_listen,
	.dial = fake_dial,
	.create_qp = fake_create_qp,
	.connect = fake_connect,
	.accept = fake_accept,
	.reject = fake_reject,
	.disconnect = fake_disconnect,
	.destroy = fake_destroy,
	.get_event = fake_get_event,
	.poll = fake_poll,
	.reg_mr = fake_reg_mr,
	.dereg_mr = fake_dereg_mr,
	.post_recv = fake_post_recv,
	.post_send = fake_post_send,
	.addr = fake_addr,
	.stats = fake_stats,
};
