/*
 * rdma_verbs.c - the verbs shim: rdma_shim.h on librdmacm and libibverbs,
 * for real hardware (msgr__rshim_verbs_ops). rdma_shim.h is the contract;
 * this file says only how it is met.
 *
 * One shim: an rdma_cm event channel, an eventfd (the "kick") and one epoll
 * fd over them and over each device context's completion channel and async
 * fd. rdma_cm binds an id to a device only once it has resolved an address
 * (or received a request), so the per-device part (struct rv_dev: PD,
 * completion channel, the async fd in the epoll set) is set up by the first
 * create_qp on that device, in a small table. Each qp has its own CQ on its
 * device's completion channel.
 *
 * fd() is level-triggered: the channel fds stay readable while the kernel
 * queues events, and the kick eventfd is readable while the shim itself
 * holds something to return: CQs with completions a poll limited to n left
 * behind (s->pend), or events the shim made up (s->synth: a QP error seen
 * in a completion, a disconnect that never reached the CM, a device's
 * fatal error for each qp on it).
 *
 * Work request ids: a completion in error (FLUSH among them) carries only
 * wr_id and status; its opcode is undefined (ibv_poll_cq(3)). The engine
 * must know whether a flushed request was a send or a receive to release
 * the right buffer, so we post our own wr_id, an index into the qp's table
 * of (caller's wr_id, op).
 *
 * Fork: we do not call ibv_fork_init(). The kernel Debian 12 ships (6.1)
 * copies a page that is pinned for DMA into the child at fork instead of
 * sharing it copy-on-write, so the parent's registered memory stays the
 * parent's; since 5.13 it also says so through rdma netlink, and
 * libibverbs then reports IBV_FORK_UNNEEDED. ibv_fork_init would instead
 * madvise(MADV_DONTFORK) every registered range, which splits the
 * process's mappings at each region's bounds, without bound until
 * vm.max_map_count makes registrations fail.
 *
 * All calls on the loop's thread; nothing blocks except rdma_destroy_id,
 * and only until this id's events are acked, which they are before
 * get_event returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "common/addr.h"
#include "common/log.h"
#include "transports/rdma_shim.h"
#include "transports/rdma_verbs.h"

#define RV_MAX_DEVS 8         /* device contexts one shim uses at once */
#define RV_RESOLVE_MS 2000    /* rdma_resolve_addr and rdma_resolve_route */
#define RV_BACKLOG 128        /* rdma_listen, as TCP_BACKLOG in tcp.c */
#define RV_POLL_BATCH 32      /* ibv_wc entries per ibv_poll_cq */
#define RV_IB_REJ_CONSUMER_DEFINED 28 /* IBA's REJ reason: the application said no */

/* ---- small intrusive lists (circular, with a head node) ---------------- */

struct rv_node {
	struct rv_node *prev, *next; /* both point at the node itself when unlinked */
};

#define RV_OF(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

static void node_init(struct rv_node *n)
{
	n->prev = n->next = n;
}

/* For a head: the list is not empty. For a node: it is on a list. */
static int node_linked(const struct rv_node *n)
{
	return n->next != n;
}

static void node_add(struct rv_node *head, struct rv_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void node_del(struct rv_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	node_init(n);
}

/* ---- types --------------------------------------------------------------- */

/* One device context (an ibv_context rdma_cm bound an id of ours to).
 * Owned by the shim, in s->devs[]; set up by the first create_qp on that
 * context, torn down by close, or once the device is going (removed) and
 * its last QP is destroyed. The context itself is librdmacm's: pin holds
 * it open (librdmacm closes a dead device's context when its last user
 * lets go) for as long as our PD lives on it. */
struct rv_dev {
	struct ibv_context *verbs;     /* librdmacm's; NULL: the slot is free */
	struct ibv_context **pin;      /* rdma_get_devices(): our reference on verbs */
	struct ibv_pd *pd;             /* ours: every QP and MR of this shim on the device */
	struct ibv_comp_channel *comp; /* ours: the notifications of every CQ here */
	struct ibv_device_attr attr;   /* the device's limits, for a clear create_qp error */
	int async_flags;               /* async_fd's file flags before we set O_NONBLOCK */
	unsigned nqps;                 /* qps whose QP and CQ are here */
	unsigned comp_watched : 1;     /* comp->fd is in the epoll set */
	unsigned async_watched : 1;    /* verbs->async_fd is in the epoll set */
	unsigned async_saved : 1;      /* async_flags holds the flags to put back */
	unsigned removed : 1;          /* the device is going: no new QP; close when nqps is 0 */
};

/* A registration. Owned by reg_mr's caller until dereg_mr (close frees
 * what is left). An lkey is good only on the PD that made it, so there is
 * one ibv_mr per device context, made at reg_mr for the devices set up by
 * then and by dev_open for a device that comes later. */
struct rv_mr {
	struct msgr__rshim_mr pub;       /* first; pub.lkey is the first device's, for show only */
	struct msgr__rshim *s;
	char *base;                      /* the caller's memory, borrowed */
	size_t len;
	struct ibv_mr *mr[RV_MAX_DEVS];  /* by index in s->devs; NULL on devices not set up */
	struct rv_node node;             /* on s->mrs */
};

/* One posted work request, at the index we gave the device as its wr_id.
 * Value type, in its qp's table (rv_qp.wr): taken at post, put back when
 * its completion is polled. */
struct rv_wr {
	uint64_t wr_id;               /* the caller's */
	enum msgr__rshim_wc_op op;    /* what it was: a flushed completion does not say */
	int used;
};

/* A queue pair: one rdma_cm id, its RC QP and its own CQ. Allocated by
 * dial() or for a CONNECT_REQUEST; the owner's from then until destroy()
 * (or close), which frees it. */
struct rv_qp {
	struct msgr__rshim_qp pub;  /* first: the owner's pointer is a cast away */
	struct msgr__rshim *s;
	struct rdma_cm_id *id;      /* ours; id->context points here */
	struct rv_dev *dev;         /* where the QP and CQ are; NULL before create_qp */
	struct ibv_cq *cq;          /* ours, on dev->comp; NULL before create_qp */
	struct rv_wr *wr;           /* nwr entries: max_send_wr + max_recv_wr */
	uint32_t *free_wr;          /* the indices of wr not in use, nfree of them */
	unsigned nwr, nfree;
	unsigned cq_events;         /* CQ notifications got and not yet acked */
	int err_status;             /* for the QP_ERROR event: a negative errno */
	struct rv_node all;         /* on s->qps */
	struct rv_node pend;        /* on s->pend while its CQ may hold completions */
	struct rv_node synth;       /* on s->synth while a syn_* bit is set */
	unsigned passive : 1;       /* from a CONNECT_REQUEST */
	unsigned armed : 1;         /* ibv_req_notify_cq in effect: the next completion raises an event */
	unsigned estab : 1;         /* ESTABLISHED was reported */
	unsigned closed : 1;        /* the one end of its life was reported: UNREACHABLE, REJECTED or DISCONNECTED */
	unsigned quiet : 1;         /* we ended it (or the CM did): flushes are no QP error */
	unsigned dead : 1;          /* the QP is (or is about to be) in error: post_* say -ENOTCONN */
	unsigned moved_err : 1;     /* we modified the QP to IBV_QPS_ERR */
	unsigned disconnecting : 1; /* rdma_disconnect was called (or disconnect() handled) */
	unsigned err_reported : 1;  /* QP_ERROR was queued once */
	unsigned removal_reported : 1; /* DEVICE_REMOVAL was reported once */
	unsigned syn_err : 1;       /* to report: QP_ERROR */
	unsigned syn_disc : 1;      /* to report: DISCONNECTED */
	unsigned syn_removal : 1;   /* to report: DEVICE_REMOVAL */
};

/* A listening id. Owned by the shim, from listen() until close (or until
 * its device goes away). */
struct rv_listen {
	struct rdma_cm_id *id;
	char hostport[MSGR__HOSTPORT_MAX]; /* as listen() got it, for the log */
	struct rv_node node;               /* on s->listens */
};

/* Owned by the transport from open() to close(). */
struct msgr__rshim {
	struct msgr__rshim_conf conf;     /* copied at open */
	struct rdma_event_channel *ch;    /* every id's events */
	int epfd;                         /* fd(): ch, kick and each device's comp and async fds */
	int kick;                         /* eventfd, readable while pend or synth is not empty */
	unsigned kicked : 1;              /* kick holds a count */
	unsigned cm_watched : 1;          /* ch->fd is in the epoll set */
	struct rv_dev devs[RV_MAX_DEVS];
	struct rv_node qps;               /* every rv_qp not yet destroyed */
	struct rv_node pend;              /* rv_qp.pend */
	struct rv_node synth;             /* rv_qp.synth */
	struct rv_node mrs;               /* rv_mr.node */
	struct rv_node listens;           /* rv_listen.node */
	struct msgr__rshim_stats st;
};

/* ---- the pure helpers (rdma_verbs.h) ------------------------------------ */

enum msgr__rshim_wc_status msgr__rverbs_wc_status(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_SUCCESS:
		return MSGR__RSHIM_WC_OK;
	case IBV_WC_WR_FLUSH_ERR:
		return MSGR__RSHIM_WC_FLUSH;
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return MSGR__RSHIM_WC_RNR;
	case IBV_WC_RETRY_EXC_ERR:
		return MSGR__RSHIM_WC_RETRY;
	case IBV_WC_LOC_LEN_ERR:
		return MSGR__RSHIM_WC_LEN;
	default:
		return MSGR__RSHIM_WC_OTHER;
	}
}

int msgr__rverbs_cm_event_type(enum rdma_cm_event_type t)
{
	switch (t) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		return MSGR__RVERBS_CM_RESOLVE_ROUTE;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		return MSGR__RSHIM_EV_ROUTE_READY;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return MSGR__RSHIM_EV_UNREACHABLE;
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		return MSGR__RSHIM_EV_CONNECT_REQUEST;
	case RDMA_CM_EVENT_REJECTED:
		return MSGR__RSHIM_EV_REJECTED;
	case RDMA_CM_EVENT_ESTABLISHED:
		return MSGR__RSHIM_EV_ESTABLISHED;
	case RDMA_CM_EVENT_DISCONNECTED:
		return MSGR__RSHIM_EV_DISCONNECTED;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return MSGR__RSHIM_EV_DEVICE_REMOVAL;
	default:
		/* TIMEWAIT_EXIT: the QP may be reused, and we never reuse
		 * one. CONNECT_RESPONSE comes only for an id with no QP, and
		 * connect() refuses those. ADDR_CHANGE: the connection
		 * carries on until the fabric says otherwise. Multicast: not
		 * used. */
		return MSGR__RVERBS_CM_IGNORE;
	}
}

int msgr__rverbs_cm_status(enum rdma_cm_event_type t, int status)
{
	if (msgr__rverbs_cm_event_type(t) != MSGR__RSHIM_EV_UNREACHABLE || status < -1)
		return status;
	switch (t) {
	case RDMA_CM_EVENT_ADDR_ERROR:
		return -EHOSTUNREACH;
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return -ENETUNREACH;
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return -ECONNABORTED;
	default:
		return -ETIMEDOUT;
	}
}

int msgr__rverbs_reject_pdata_valid(int status)
{
	return status == RV_IB_REJ_CONSUMER_DEFINED || status == -ECONNREFUSED;
}

enum msgr__rverbs_async msgr__rverbs_async_kind(enum ibv_event_type t)
{
	switch (t) {
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
	case IBV_EVENT_PATH_MIG_ERR:
		return MSGR__RVERBS_ASYNC_QP_ERROR;
	case IBV_EVENT_CQ_ERR:
		return MSGR__RVERBS_ASYNC_CQ_ERROR;
	case IBV_EVENT_COMM_EST:
		return MSGR__RVERBS_ASYNC_COMM_EST;
	case IBV_EVENT_DEVICE_FATAL:
		return MSGR__RVERBS_ASYNC_DEVICE;
	default:
		return MSGR__RVERBS_ASYNC_IGNORE;
	}
}

/* ---- plumbing ------------------------------------------------------------ */

/* For calls that return -1 (or NULL) and set errno. */
static int neg_errno(int fallback)
{
	return errno > 0 ? -errno : -fallback;
}

/* For verbs calls that return an errno value (ibv_post_send, ibv_modify_qp,
 * ibv_destroy_*): some providers return -1 and set errno instead. */
static int verr(int r)
{
	if (r > 0)
		return -r;
	if (r == -1)
		return neg_errno(EIO);
	return r;
}

static int set_nonblock(int fd, int *old)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (old)
		*old = fl;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int watch(struct msgr__rshim *s, int fd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

static void unwatch(struct msgr__rshim *s, int fd)
{
	if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL))
		msgr__log(MSGR__LOG_WARN, "rdma: epoll_ctl(DEL, %d): %s", fd, strerror(errno));
}

/* Make the kick eventfd say whether the shim holds anything to return. */
static void kick_update(struct msgr__rshim *s)
{
	int want = node_linked(&s->pend) || node_linked(&s->synth);
	uint64_t v = 1;

	if (want && !s->kicked) {
		if (write(s->kick, &v, sizeof(v)) == (ssize_t)sizeof(v))
			s->kicked = 1;
		else
			msgr__log(MSGR__LOG_ERR, "rdma: eventfd write: %s", strerror(errno));
	} else if (!want && s->kicked) {
		if (read(s->kick, &v, sizeof(v)) == (ssize_t)sizeof(v) || errno == EAGAIN)
			s->kicked = 0;
		else
			msgr__log(MSGR__LOG_ERR, "rdma: eventfd read: %s", strerror(errno));
	}
}

/* For log lines: the peer's HOST:PORT, or "?" before there is one. */
static const char *peer_name(struct rv_qp *vq, char buf[MSGR__HOSTPORT_MAX])
{
	if (msgr__sockaddr_hostport(rdma_get_peer_addr(vq->id), buf, MSGR__HOSTPORT_MAX))
		snprintf(buf, MSGR__HOSTPORT_MAX, "?");
	return buf;
}

/* ---- made-up events -------------------------------------------------------- */

enum { SYN_ERR = 1, SYN_DISC, SYN_REMOVAL };

static void synth(struct rv_qp *vq, int what)
{
	if (what == SYN_ERR)
		vq->syn_err = 1;
	else if (what == SYN_DISC)
		vq->syn_disc = 1;
	else
		vq->syn_removal = 1;
	if (!node_linked(&vq->synth))
		node_add(&vq->s->synth, &vq->synth);
	kick_update(vq->s);
}

static int synth_pop(struct msgr__rshim *s, struct msgr__rshim_ev *ev)
{
	struct rv_qp *vq;

	if (!node_linked(&s->synth))
		return 0;
	vq = RV_OF(s->synth.next, struct rv_qp, synth);
	memset(ev, 0, sizeof(*ev));
	ev->qp = &vq->pub;
	if (vq->syn_err) {
		vq->syn_err = 0;
		ev->type = MSGR__RSHIM_EV_QP_ERROR;
		ev->status = vq->err_status;
	} else if (vq->syn_disc) {
		vq->syn_disc = 0;
		ev->type = MSGR__RSHIM_EV_DISCONNECTED;
	} else {
		vq->syn_removal = 0;
		ev->type = MSGR__RSHIM_EV_DEVICE_REMOVAL;
		ev->status = -ENODEV;
	}
	if (!vq->syn_err && !vq->syn_disc && !vq->syn_removal)
		node_del(&vq->synth);
	return 1;
}

/* The QP is in error by now (an async event or an error completion said
 * so): refuse posts, and tell the owner once. */
static void qp_error(struct rv_qp *vq, int err)
{
	vq->dead = 1;
	if (vq->err_reported)
		return;
	vq->err_reported = 1;
	vq->err_status = err;
	vq->s->st.qp_errors++;
	synth(vq, SYN_ERR);
}

/* Put the QP in error so that everything posted on it completes (FLUSH):
 * a QP still in INIT or RTR after a reject or a timeout would hold its
 * receives forever, and destroy() must wait for them. */
static void qp_to_error(struct rv_qp *vq)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	char pn[MSGR__HOSTPORT_MAX];
	int r;

	vq->dead = 1;
	if (!vq->id->qp || vq->moved_err)
		return;
	vq->moved_err = 1;
	r = verr(ibv_modify_qp(vq->id->qp, &a, IBV_QP_STATE));
	if (r)
		msgr__log(MSGR__LOG_WARN, "rdma: %s: cannot move the QP to error: %s", peer_name(vq, pn),
			  strerror(-r));
}

/* The device is going: the owner hears it once per qp. */
static void qp_removal(struct rv_qp *vq)
{
	if (vq->removal_reported)
		return;
	vq->removal_reported = 1;
	vq->dead = 1;
	vq->quiet = 1;
	synth(vq, SYN_REMOVAL);
}

/* ---- device contexts ---------------------------------------------------------- */

static struct rv_dev *dev_find(struct msgr__rshim *s, struct ibv_context *verbs)
{
	for (int i = 0; verbs && i < RV_MAX_DEVS; i++)
		if (s->devs[i].verbs == verbs)
			return &s->devs[i];
	return NULL;
}

/* Register m on device d (index i). */
static int mr_reg_on(struct rv_mr *m, struct rv_dev *d, int i)
{
	/* LOCAL_WRITE: receives are written into these buffers. No remote
	 * access: nothing is read or written by the peer directly (yet). */
	m->mr[i] = ibv_reg_mr(d->pd, m->base, m->len, IBV_ACCESS_LOCAL_WRITE);
	if (!m->mr[i]) {
		int r = neg_errno(ENOMEM);
		msgr__log(MSGR__LOG_ERR, "rdma: ibv_reg_mr(%zu bytes) on %s: %s%s", m->len,
			  ibv_get_device_name(d->verbs->device), strerror(-r),
			  r == -ENOMEM || r == -EPERM ? " (is the locked-memory limit, LimitMEMLOCK, high enough?)"
						     : "");
		return r;
	}
	if (!m->pub.lkey)
		m->pub.lkey = m->mr[i]->lkey;
	return 0;
}

/* Tear down what dev_open set up, in reverse; for a half-built one too.
 * Every QP and CQ on it is gone by now. */
static void dev_close(struct msgr__rshim *s, struct rv_dev *d)
{
	int i = (int)(d - s->devs), r;

	for (struct rv_node *n = s->mrs.next; n != &s->mrs; n = n->next) {
		struct rv_mr *m = RV_OF(n, struct rv_mr, node);
		if (m->mr[i] && (r = verr(ibv_dereg_mr(m->mr[i]))))
			msgr__log(MSGR__LOG_WARN, "rdma: ibv_dereg_mr: %s", strerror(-r));
		m->mr[i] = NULL;
	}
	if (d->comp_watched)
		unwatch(s, d->comp->fd);
	if (d->async_watched)
		unwatch(s, d->verbs->async_fd);
	/* the context is librdmacm's and outlives us: leave its fd as we found it */
	if (d->async_saved && fcntl(d->verbs->async_fd, F_SETFL, d->async_flags) < 0)
		msgr__log(MSGR__LOG_WARN, "rdma: restoring the async fd's flags: %s", strerror(errno));
	if (d->comp && (r = verr(ibv_destroy_comp_channel(d->comp))))
		msgr__log(MSGR__LOG_WARN, "rdma: ibv_destroy_comp_channel: %s", strerror(-r));
	if (d->pd && (r = verr(ibv_dealloc_pd(d->pd))))
		msgr__log(MSGR__LOG_WARN, "rdma: ibv_dealloc_pd: %s", strerror(-r));
	if (d->pin)
		rdma_free_devices(d->pin);
	memset(d, 0, sizeof(*d));
}

/* The device of an id we are about to give a QP: found, or set up now
 * (PD, completion channel, both fds in the epoll set, every registration
 * made again on the new PD). */
static int dev_open(struct msgr__rshim *s, struct ibv_context *verbs, struct rv_dev **out)
{
	struct rv_dev *d = dev_find(s, verbs);
	int n = 0, r, i;

	if (d) {
		*out = d;
		return d->removed ? -ENODEV : 0;
	}
	for (i = 0; i < RV_MAX_DEVS && s->devs[i].verbs; i++)
		;
	if (i == RV_MAX_DEVS) {
		msgr__log(MSGR__LOG_ERR, "rdma: more than %d RDMA devices in use", RV_MAX_DEVS);
		return -ENOSPC;
	}
	d = &s->devs[i];
	d->verbs = verbs;
	d->pin = rdma_get_devices(&n);
	if (!d->pin) {
		r = neg_errno(ENODEV);
		goto out;
	}
	for (r = -ENODEV, n = 0; d->pin[n]; n++)
		if (d->pin[n] == verbs)
			r = 0;
	if (r) /* gone between the id's resolution and now */
		goto out;
	if ((r = verr(ibv_query_device(verbs, &d->attr))))
		goto out;
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd) {
		r = neg_errno(ENOMEM);
		goto out;
	}
	d->comp = ibv_create_comp_channel(verbs);
	if (!d->comp) {
		r = neg_errno(ENOMEM);
		goto out;
	}
	if ((r = set_nonblock(d->comp->fd, NULL)))
		goto out;
	if ((r = set_nonblock(verbs->async_fd, &d->async_flags)))
		goto out;
	d->async_saved = 1;
	if ((r = watch(s, d->comp->fd)))
		goto out;
	d->comp_watched = 1;
	if ((r = watch(s, verbs->async_fd)))
		goto out;
	d->async_watched = 1;
	for (struct rv_node *m = s->mrs.next; m != &s->mrs; m = m->next)
		if ((r = mr_reg_on(RV_OF(m, struct rv_mr, node), d, i)))
			goto out;
	msgr__log(MSGR__LOG_INFO, "rdma: using device %s", ibv_get_device_name(verbs->device));
	*out = d;
	r = 0;
out:
	if (r) {
		msgr__log(MSGR__LOG_ERR, "rdma: setting up device %s: %s",
			  ibv_get_device_name(verbs->device), strerror(-r));
		dev_close(s, d);
	}
	return r;
}

/* The device is going (the CM's DEVICE_REMOVAL, or DEVICE_FATAL): no new
 * QP on it, and its PD and channel go with its last QP. */
static void dev_removed(struct msgr__rshim *s, struct rv_dev *d)
{
	d->removed = 1;
	if (!d->nqps)
		dev_close(s, d);
}

/* ---- queue pairs ----------------------------------------------------------- */

static struct rv_qp *qp_new(struct msgr__rshim *s)
{
	struct rv_qp *vq = calloc(1, sizeof(*vq));

	if (!vq)
		return NULL;
	vq->s = s;
	node_init(&vq->pend);
	node_init(&vq->synth);
	node_add(&s->qps, &vq->all);
	return vq;
}

static int wr_get(struct rv_qp *vq, uint64_t wr_id, enum msgr__rshim_wc_op op, uint32_t *slot)
{
	if (!vq->nfree)
		return -ENOBUFS; /* more posted than the QP holds: its post would fail too */
	*slot = vq->free_wr[--vq->nfree];
	vq->wr[*slot] = (struct rv_wr){ .wr_id = wr_id, .op = op, .used = 1 };
	return 0;
}

static void wr_put(struct rv_qp *vq, uint32_t slot)
{
	vq->wr[slot].used = 0;
	vq->free_wr[vq->nfree++] = slot;
}

static void qp_free(struct rv_qp *vq)
{
	struct msgr__rshim *s = vq->s;
	struct rv_dev *d = vq->dev;
	int r;

	node_del(&vq->all);
	node_del(&vq->pend);
	node_del(&vq->synth);
	if (vq->cq && vq->cq_events)
		ibv_ack_cq_events(vq->cq, vq->cq_events); /* ibv_destroy_cq waits for these */
	if (vq->id && vq->id->qp)
		rdma_destroy_qp(vq->id); /* void; the QP before the CQ it uses */
	if (vq->cq && (r = verr(ibv_destroy_cq(vq->cq))))
		msgr__log(MSGR__LOG_WARN, "rdma: ibv_destroy_cq: %s", strerror(-r));
	if (vq->id && rdma_destroy_id(vq->id))
		msgr__log(MSGR__LOG_WARN, "rdma: rdma_destroy_id: %s", strerror(errno));
	if (d && !--d->nqps && d->removed)
		dev_close(s, d);
	free(vq->wr);
	free(vq->free_wr);
	free(vq);
	kick_update(s);
}

/* ---- rdma_cm events ------------------------------------------------------- */

static struct rv_listen *listen_find(struct msgr__rshim *s, struct rdma_cm_id *id)
{
	for (struct rv_node *n = s->listens.next; n != &s->listens; n = n->next)
		if (RV_OF(n, struct rv_listen, node)->id == id)
			return RV_OF(n, struct rv_listen, node);
	return NULL;
}

static void listen_free(struct rv_listen *l)
{
	node_del(&l->node);
	if (l->id && rdma_destroy_id(l->id))
		msgr__log(MSGR__LOG_WARN, "rdma: rdma_destroy_id (listener %s): %s", l->hostport,
			  strerror(errno));
	free(l);
}

/* What one rdma_cm event carried, copied out before the ack. Value type,
 * on cm_next's stack; id is librdmacm's (a new one for CONNECT_REQUEST). */
struct cm_copy {
	enum rdma_cm_event_type type;
	int status;
	struct rdma_cm_id *id;
	uint8_t pdata_len;
	uint8_t pdata[MSGR__RSHIM_PDATA_ACCEPT];
};

static void ev_fill(struct msgr__rshim_ev *ev, int type, struct rv_qp *vq, int status)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->qp = vq ? &vq->pub : NULL;
	ev->status = status;
}

static void ev_pdata(struct msgr__rshim_ev *ev, const struct cm_copy *c)
{
	ev->pdata_len = c->pdata_len;
	memcpy(ev->pdata, c->pdata, c->pdata_len);
}

/* A new passive id: it becomes a qp the owner accepts or rejects. */
static int cm_request(struct msgr__rshim *s, const struct cm_copy *c, struct msgr__rshim_ev *ev)
{
	struct rv_qp *vq = qp_new(s);

	if (!vq) {
		msgr__log(MSGR__LOG_ERR, "rdma: out of memory: refusing a connection request");
		if (rdma_reject(c->id, NULL, 0))
			msgr__log(MSGR__LOG_WARN, "rdma: rdma_reject: %s", strerror(errno));
		if (rdma_destroy_id(c->id)) /* its event is acked: this does not wait */
			msgr__log(MSGR__LOG_WARN, "rdma: rdma_destroy_id: %s", strerror(errno));
		return 1;
	}
	vq->id = c->id;
	vq->passive = 1;
	c->id->context = vq; /* librdmacm gave it the listener's */
	ev_fill(ev, MSGR__RSHIM_EV_CONNECT_REQUEST, vq, 0);
	ev_pdata(ev, c);
	return 0;
}

/* 0: ev is filled. 1: the event was dealt with here; look for another. */
static int cm_dispatch(struct msgr__rshim *s, const struct cm_copy *c, struct msgr__rshim_ev *ev)
{
	int kind = msgr__rverbs_cm_event_type(c->type);
	struct rv_listen *l;
	struct rv_qp *vq;
	struct rv_dev *d;
	char pn[MSGR__HOSTPORT_MAX];
	int r;

	if (kind == MSGR__RSHIM_EV_CONNECT_REQUEST)
		return cm_request(s, c, ev);
	if ((l = listen_find(s, c->id))) {
		if (kind != MSGR__RSHIM_EV_DEVICE_REMOVAL) {
			msgr__log(MSGR__LOG_DEBUG, "rdma: listener %s: %s ignored", l->hostport,
				  rdma_event_str(c->type));
			return 1;
		}
		/* The device cannot go while an id is bound to it, and
		 * there is no call to hand this one to the owner: drop it. */
		msgr__log(MSGR__LOG_ERR, "rdma: the device under listener %s is going away; it listens no more",
			  l->hostport);
		d = dev_find(s, c->id->verbs);
		listen_free(l);
		if (d)
			dev_removed(s, d);
		ev_fill(ev, MSGR__RSHIM_EV_DEVICE_REMOVAL, NULL, -ENODEV);
		return 0;
	}
	vq = c->id->context;
	if (!vq)
		return 1;
	switch (kind) {
	case MSGR__RVERBS_CM_RESOLVE_ROUTE:
		if (vq->closed)
			return 1;
		if (!rdma_resolve_route(c->id, RV_RESOLVE_MS))
			return 1; /* ROUTE_RESOLVED or ROUTE_ERROR follows */
		r = neg_errno(ENETUNREACH);
		vq->closed = vq->quiet = 1;
		ev_fill(ev, MSGR__RSHIM_EV_UNREACHABLE, vq, r);
		return 0;
	case MSGR__RSHIM_EV_ROUTE_READY:
		if (vq->closed)
			return 1;
		ev_fill(ev, kind, vq, 0);
		return 0;
	case MSGR__RSHIM_EV_ESTABLISHED:
		if (vq->closed) {
			/* disconnect() came first and said DISCONNECTED
			 * already; the peer thinks it is connected: tell it */
			vq->disconnecting = 1;
			if (rdma_disconnect(c->id))
				msgr__log(MSGR__LOG_DEBUG, "rdma: %s: rdma_disconnect: %s", peer_name(vq, pn),
					  strerror(errno));
			return 1;
		}
		vq->estab = 1;
		ev_fill(ev, kind, vq, 0);
		if (!vq->passive) /* the accepter's; the RTU that establishes a passive id has none */
			ev_pdata(ev, c);
		return 0;
	case MSGR__RSHIM_EV_REJECTED:
	case MSGR__RSHIM_EV_UNREACHABLE:
		if (vq->closed)
			return 1;
		vq->closed = vq->quiet = 1;
		qp_to_error(vq);
		ev_fill(ev, kind, vq, msgr__rverbs_cm_status(c->type, c->status));
		if (kind == MSGR__RSHIM_EV_REJECTED && msgr__rverbs_reject_pdata_valid(c->status))
			ev_pdata(ev, c);
		return 0;
	case MSGR__RSHIM_EV_DISCONNECTED:
		vq->quiet = 1;
		if (!vq->disconnecting) {
			/* the peer's DREQ: answer it now (rdma_disconnect sends
			 * the DREP) rather than let it time out, which would
			 * hold the peer's DISCONNECTED back for seconds */
			vq->disconnecting = 1;
			if (rdma_disconnect(c->id))
				msgr__log(MSGR__LOG_DEBUG, "rdma: %s: rdma_disconnect: %s", peer_name(vq, pn),
					  strerror(errno));
		}
		/* rdma_disconnect moved an IB or RoCE QP to error, but an
		 * iWARP one only to SQD, where receives do not flush */
		qp_to_error(vq);
		if (vq->closed)
			return 1;
		vq->closed = 1;
		ev_fill(ev, kind, vq, 0);
		return 0;
	case MSGR__RSHIM_EV_DEVICE_REMOVAL:
		if ((d = dev_find(s, c->id->verbs)))
			dev_removed(s, d);
		if (vq->removal_reported)
			return 1;
		vq->removal_reported = 1;
		vq->dead = vq->quiet = 1;
		ev_fill(ev, kind, vq, -ENODEV);
		return 0;
	default:
		msgr__log(MSGR__LOG_DEBUG, "rdma: %s ignored", rdma_event_str(c->type));
		return 1;
	}
}

/* The next rdma_cm event: 0 (ev filled), 1 (dealt with), or -EAGAIN. */
static int cm_next(struct msgr__rshim *s, struct msgr__rshim_ev *ev)
{
	struct rdma_cm_event *e;
	struct cm_copy c;
	int r;

	if (!s->cm_watched)
		return -EAGAIN;
	if (rdma_get_cm_event(s->ch, &e)) {
		r = neg_errno(EIO);
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return -EAGAIN;
		if (r == -EINTR || r == -ENOMEM) { /* passing: the fd stays readable and we come back */
			msgr__log(MSGR__LOG_WARN, "rdma: rdma_get_cm_event: %s", strerror(-r));
			return -EAGAIN;
		}
		/* The channel is broken: a readable fd that always fails would
		 * spin the loop, so stop watching it. No connection will be
		 * set up or torn down through rdma_cm from now on. */
		msgr__log(MSGR__LOG_ERR, "rdma: rdma_get_cm_event: %s; no more connection events", strerror(-r));
		unwatch(s, s->ch->fd);
		s->cm_watched = 0;
		return -EAGAIN;
	}
	c.type = e->event;
	c.status = e->status;
	c.id = e->id;
	c.pdata_len = 0;
	if (e->param.conn.private_data && e->param.conn.private_data_len) {
		c.pdata_len = e->param.conn.private_data_len < sizeof(c.pdata) ? e->param.conn.private_data_len
									    : (uint8_t)sizeof(c.pdata);
		memcpy(c.pdata, e->param.conn.private_data, c.pdata_len);
	}
	/* Ack before anything else, and so before get_event returns:
	 * rdma_destroy_id blocks until every event reported for its id has
	 * been acked, and on our single thread the ack would never come. The
	 * private data lives in the event, hence the copy above. */
	if (rdma_ack_cm_event(e))
		msgr__log(MSGR__LOG_WARN, "rdma: rdma_ack_cm_event: %s", strerror(errno));
	return cm_dispatch(s, &c, ev);
}

/* ---- device async events ---------------------------------------------- */

static struct rv_qp *qp_by_ibqp(struct msgr__rshim *s, struct ibv_qp *qp)
{
	for (struct rv_node *n = s->qps.next; n != &s->qps; n = n->next) {
		struct rv_qp *vq = RV_OF(n, struct rv_qp, all);
		if (vq->id && vq->id->qp == qp)
			return vq;
	}
	return NULL;
}

static struct rv_qp *qp_by_cq(struct msgr__rshim *s, struct ibv_cq *cq)
{
	for (struct rv_node *n = s->qps.next; n != &s->qps; n = n->next) {
		struct rv_qp *vq = RV_OF(n, struct rv_qp, all);
		if (vq->cq == cq)
			return vq;
	}
	return NULL;
}

/* One async event. The element is looked up among our own qps rather than
 * trusted through qp_context: librdmacm shares a device context with
 * everything in the process, so an event may concern a QP that is not
 * ours. (Async events are rare; the walk is cheap enough.) */
static void async_one(struct msgr__rshim *s, struct rv_dev *d, const struct ibv_async_event *ae)
{
	char pn[MSGR__HOSTPORT_MAX];
	struct rv_qp *vq;

	switch (msgr__rverbs_async_kind(ae->event_type)) {
	case MSGR__RVERBS_ASYNC_QP_ERROR:
		if (!(vq = qp_by_ibqp(s, ae->element.qp)))
			break;
		msgr__log(MSGR__LOG_NOTICE, "rdma: %s: %s", peer_name(vq, pn), ibv_event_type_str(ae->event_type));
		qp_error(vq, -EIO);
		break;
	case MSGR__RVERBS_ASYNC_CQ_ERROR:
		if (!(vq = qp_by_cq(s, ae->element.cq)))
			break;
		/* an overrun, which the CQ's size (every WR the QP holds)
		 * rules out; the QP's completions are lost, so it is too */
		msgr__log(MSGR__LOG_ERR, "rdma: %s: %s", peer_name(vq, pn), ibv_event_type_str(ae->event_type));
		qp_error(vq, -EOVERFLOW);
		qp_to_error(vq);
		break;
	case MSGR__RVERBS_ASYNC_COMM_EST:
		/* A SEND arrived before the CM's RTU did (lost or late): the
		 * QP works, so tell rdma_cm it is established rather than let
		 * the connection time out with data flowing. */
		if ((vq = qp_by_ibqp(s, ae->element.qp)) && rdma_notify(vq->id, IBV_EVENT_COMM_EST))
			msgr__log(MSGR__LOG_DEBUG, "rdma: rdma_notify: %s", strerror(errno));
		break;
	case MSGR__RVERBS_ASYNC_DEVICE:
		msgr__log(MSGR__LOG_ERR, "rdma: device %s: %s; its connections are lost",
			  ibv_get_device_name(d->verbs->device), ibv_event_type_str(ae->event_type));
		d->removed = 1;
		for (struct rv_node *n = s->qps.next; n != &s->qps; n = n->next) {
			struct rv_qp *q = RV_OF(n, struct rv_qp, all);
			if (q->id && q->id->verbs == d->verbs)
				qp_removal(q);
		}
		break;
	default:
		msgr__log(MSGR__LOG_INFO, "rdma: device %s: %s", ibv_get_device_name(d->verbs->device),
			  ibv_event_type_str(ae->event_type));
		break;
	}
}

static void async_drain(struct msgr__rshim *s)
{
	for (int i = 0; i < RV_MAX_DEVS; i++) {
		struct rv_dev *d = &s->devs[i];
		struct ibv_async_event ae;

		if (!d->verbs || !d->async_watched)
			continue;
		while (!ibv_get_async_event(d->verbs, &ae)) {
			async_one(s, d, &ae);
			/* at once: ibv_destroy_qp and ibv_destroy_cq wait for
			 * the acks of their objects' events */
			ibv_ack_async_event(&ae);
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			/* a dead device's fd can stay readable and fail */
			msgr__log(MSGR__LOG_WARN, "rdma: device %s: ibv_get_async_event: %s",
				  ibv_get_device_name(d->verbs->device), strerror(errno));
			unwatch(s, d->verbs->async_fd);
			d->async_watched = 0;
		}
		if (d->removed && !d->nqps)
			dev_close(s, d);
	}
}

/* ---- the ops ---------------------------------------------------------------- */

static void rv_close(struct msgr__rshim *s);

static int rv_open(struct msgr__rshim **out, const struct msgr__rshim_conf *conf, char *err,
		   size_t errlen)
{
	struct msgr__rshim *s = NULL;
	struct ibv_device **list;
	struct ibv_context **devs;
	int n = 0, r;

	*out = NULL;
	if (!conf->max_send_wr || !conf->max_recv_wr) {
		snprintf(err, errlen, "cannot use RDMA (max_send_wr and max_recv_wr must be at least 1)");
		return -EINVAL;
	}
	/* libibverbs first: its error says best why there is no device
	 * (ENOSYS: no uverbs support in the kernel; 0 devices: no RDMA NIC,
	 * or its driver is not loaded) */
	list = ibv_get_device_list(&n);
	if (!list) {
		r = neg_errno(ENODEV);
		snprintf(err, errlen, "no RDMA device (ibv_get_device_list: %s)", strerror(-r));
		goto out;
	}
	ibv_free_device_list(list);
	if (n <= 0) {
		r = -ENODEV;
		snprintf(err, errlen, "no RDMA device (ibv_get_device_list: none found)");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		snprintf(err, errlen, "cannot use RDMA (out of memory)");
		goto out;
	}
	s->conf = *conf;
	s->epfd = s->kick = -1;
	node_init(&s->qps);
	node_init(&s->pend);
	node_init(&s->synth);
	node_init(&s->mrs);
	node_init(&s->listens);
	s->ch = rdma_create_event_channel();
	if (!s->ch) {
		r = neg_errno(ENODEV);
		if (r == -ENODEV || r == -ENOENT || r == -ENXIO)
			snprintf(err, errlen, "no RDMA device (rdma_create_event_channel: %s; is rdma_ucm loaded?)",
				 strerror(-r));
		else
			snprintf(err, errlen, "cannot use RDMA (rdma_create_event_channel: %s)", strerror(-r));
		goto out;
	}
	/* a verbs device that rdma_cm cannot use (no IP address on it, no
	 * rdma_cm support) is no device to us */
	devs = rdma_get_devices(&n);
	if (!devs || n <= 0) {
		r = devs ? -ENODEV : neg_errno(ENODEV);
		snprintf(err, errlen, "no RDMA device (rdma_get_devices: %s)",
			 devs ? "none usable by rdma_cm" : strerror(-r));
		if (devs)
			rdma_free_devices(devs);
		goto out;
	}
	rdma_free_devices(devs);
	if ((r = set_nonblock(s->ch->fd, NULL))) {
		snprintf(err, errlen, "cannot use RDMA (event channel: %s)", strerror(-r));
		goto out;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot use RDMA (epoll_create1: %s)", strerror(-r));
		goto out;
	}
	s->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->kick < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot use RDMA (eventfd: %s)", strerror(-r));
		goto out;
	}
	if ((r = watch(s, s->ch->fd)) || (r = watch(s, s->kick))) {
		snprintf(err, errlen, "cannot use RDMA (epoll_ctl: %s)", strerror(-r));
		goto out;
	}
	s->cm_watched = 1;
	*out = s;
	r = 0;
out:
	if (r && s)
		rv_close(s);
	return r;
}

static void rv_close(struct msgr__rshim *s)
{
	if (!s)
		return;
	/* ids before the channel they report on; QPs and MRs before the PDs */
	while (node_linked(&s->qps))
		qp_free(RV_OF(s->qps.next, struct rv_qp, all));
	while (node_linked(&s->listens))
		listen_free(RV_OF(s->listens.next, struct rv_listen, node));
	while (node_linked(&s->mrs)) {
		struct rv_mr *m = RV_OF(s->mrs.next, struct rv_mr, node);
		for (int i = 0; i < RV_MAX_DEVS; i++) {
			int r;
			if (m->mr[i] && (r = verr(ibv_dereg_mr(m->mr[i]))))
				msgr__log(MSGR__LOG_WARN, "rdma: ibv_dereg_mr: %s", strerror(-r));
		}
		node_del(&m->node);
		free(m);
	}
	for (int i = 0; i < RV_MAX_DEVS; i++)
		if (s->devs[i].verbs)
			dev_close(s, &s->devs[i]);
	if (s->kick >= 0)
		close(s->kick);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->ch)
		rdma_destroy_event_channel(s->ch);
	free(s);
}

static int rv_fd(struct msgr__rshim *s)
{
	return s->epfd;
}

static int rv_listen(struct msgr__rshim *s, const char *hostport)
{
	struct sockaddr_storage ss;
	struct rv_listen *l;
	int one = 1, r;

	if ((r = msgr__hostport_sockaddr(hostport, &ss)))
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	node_init(&l->node);
	snprintf(l->hostport, sizeof(l->hostport), "%s", hostport);
	if (rdma_create_id(s->ch, &l->id, l, RDMA_PS_TCP)) {
		r = neg_errno(ENOMEM);
		l->id = NULL;
		goto out;
	}
	/* as the TCP listener's SO_REUSEADDR: a restarted daemon binds its
	 * port while ids of the last one's connections linger */
	if (rdma_set_option(l->id, RDMA_OPTION_ID, RDMA_OPTION_ID_REUSEADDR, &one, sizeof(one)))
		msgr__log(MSGR__LOG_WARN, "rdma: listener %s: RDMA_OPTION_ID_REUSEADDR: %s", hostport,
			  strerror(errno));
	/* an address no RDMA device has (ENODEV, EADDRNOTAVAIL) fails here */
	if (rdma_bind_addr(l->id, (struct sockaddr *)&ss)) {
		r = neg_errno(EADDRNOTAVAIL);
		goto out;
	}
	if (rdma_listen(l->id, RV_BACKLOG)) {
		r = neg_errno(EIO);
		goto out;
	}
	node_add(&s->listens, &l->node);
	r = 0;
out:
	if (r) {
		if (l->id && rdma_destroy_id(l->id))
			msgr__log(MSGR__LOG_WARN, "rdma: rdma_destroy_id: %s", strerror(errno));
		free(l);
	}
	return r;
}

static int rv_dial(struct msgr__rshim *s, const char *hostport, struct msgr__rshim_qp **qp)
{
	struct sockaddr_storage ss;
	struct rv_qp *vq;
	int r;

	*qp = NULL;
	if ((r = msgr__hostport_sockaddr(hostport, &ss)))
		return r;
	vq = qp_new(s);
	if (!vq)
		return -ENOMEM;
	if (rdma_create_id(s->ch, &vq->id, vq, RDMA_PS_TCP)) {
		r = neg_errno(ENOMEM);
		vq->id = NULL;
		goto out;
	}
	/* No source address, GID index or MTU of ours: rdma_cm picks the
	 * source and the device and port from the routing table, the GID
	 * (RoCE v1 or v2 by the port's default_roce_mode) from that address,
	 * and at route resolution the path MTU from the netdev's; rdma_accept
	 * and the connect response put them into the QP through
	 * rdma_init_qp_attr. A hand-picked GID index breaks when addresses
	 * move, a fixed MTU when the fabric's differs. */
	if (rdma_resolve_addr(vq->id, NULL, (struct sockaddr *)&ss, RV_RESOLVE_MS)) {
		r = neg_errno(EHOSTUNREACH);
		goto out;
	}
	*qp = &vq->pub;
	r = 0;
out:
	if (r)
		qp_free(vq);
	return r;
}

static int rv_create_qp(struct msgr__rshim_qp *qp)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct msgr__rshim *s = vq->s;
	unsigned nsend = s->conf.max_send_wr, nrecv = s->conf.max_recv_wr;
	struct ibv_qp_init_attr a;
	struct rv_dev *d = NULL;
	char pn[MSGR__HOSTPORT_MAX];
	int r;

	if (vq->id->qp || vq->cq)
		return -EEXIST;
	if (vq->closed || vq->dead)
		return -ENOTCONN;
	if (!vq->id->verbs) /* before ROUTE_READY: not bound to a device yet */
		return -EINVAL;
	if ((r = dev_open(s, vq->id->verbs, &d)))
		return r;
	if (nsend + nrecv > (unsigned)d->attr.max_cqe || nsend > (unsigned)d->attr.max_qp_wr ||
	    nrecv > (unsigned)d->attr.max_qp_wr || d->attr.max_sge < MSGR__RSHIM_MAX_SGE) {
		msgr__log(MSGR__LOG_ERR,
			  "rdma: %s: %u send and %u receive requests per QP exceed what device %s allows "
			  "(%d per QP, %d per CQ, %d SGEs)",
			  peer_name(vq, pn), nsend, nrecv, ibv_get_device_name(d->verbs->device),
			  d->attr.max_qp_wr, d->attr.max_cqe, d->attr.max_sge);
		return -EINVAL;
	}
	vq->nwr = nsend + nrecv;
	vq->wr = calloc(vq->nwr, sizeof(*vq->wr));
	vq->free_wr = calloc(vq->nwr, sizeof(*vq->free_wr));
	if (!vq->wr || !vq->free_wr) {
		r = -ENOMEM;
		goto out;
	}
	for (vq->nfree = 0; vq->nfree < vq->nwr; vq->nfree++)
		vq->free_wr[vq->nfree] = vq->nwr - 1 - vq->nfree;
	/* one CQ for both queues, as deep as both: it can never overrun */
	vq->cq = ibv_create_cq(d->verbs, (int)(nsend + nrecv), vq, d->comp, 0);
	if (!vq->cq) {
		r = neg_errno(ENOMEM);
		goto out;
	}
	if ((r = verr(ibv_req_notify_cq(vq->cq, 0))))
		goto out;
	vq->armed = 1;
	memset(&a, 0, sizeof(a));
	a.qp_context = vq;
	a.send_cq = vq->cq;
	a.recv_cq = vq->cq;
	a.qp_type = IBV_QPT_RC;
	a.sq_sig_all = 0; /* each send asks (IBV_SEND_SIGNALED) */
	a.cap.max_send_wr = nsend;
	a.cap.max_recv_wr = nrecv;
	a.cap.max_send_sge = MSGR__RSHIM_MAX_SGE;
	a.cap.max_recv_sge = 1;
	a.cap.max_inline_data = 0;
	/* rdma_create_qp also moves the QP to INIT with the id's port and
	 * pkey, so receives can be posted before connect or accept */
	if (rdma_create_qp(vq->id, d->pd, &a)) {
		r = neg_errno(ENOMEM);
		goto out;
	}
	vq->dev = d;
	d->nqps++;
	r = 0;
out:
	if (r) {
		msgr__log(MSGR__LOG_ERR, "rdma: %s: creating the QP: %s", peer_name(vq, pn), strerror(-r));
		if (vq->cq) {
			int r2 = verr(ibv_destroy_cq(vq->cq));
			if (r2)
				msgr__log(MSGR__LOG_WARN, "rdma: ibv_destroy_cq: %s", strerror(-r2));
		}
		vq->cq = NULL;
		vq->armed = 0;
		free(vq->wr);
		free(vq->free_wr);
		vq->wr = NULL;
		vq->free_wr = NULL;
		vq->nwr = vq->nfree = 0;
	}
	return r;
}

/*
 * The connection's parameters, every field on purpose: a zeroed
 * rdma_conn_param means retry_count 0, and the QP then dies at the first
 * lost packet.
 *   retry_count 7: the most the CM carries; the QP resends an unacked
 *     packet that often before the send completes RETRY (peer gone). On
 *     accept it is ignored: the dialler's count governs both QPs.
 *   rnr_retry_count 0: the count a side passes is how often the *peer* may
 *     resend a SEND that found no receive posted here (it travels in the
 *     REQ for the accepter's QP, in the REP for the dialler's). Link
 *     credits (rdma_engine.h) make a posted receive certain for every
 *     SEND, so an RNR is a bug; with retries it would be a silent stall
 *     (7 retries forever), with 0 it is an error completion, WC_RNR, that
 *     we count and see.
 *   responder_resources, initiator_depth 0: no RDMA READ or atomics (yet).
 *   flow_control 0: only told to the peer, never used to set up a QP; our
 *     credits are the flow control.
 */
static struct rdma_conn_param conn_param(const void *pdata, size_t len)
{
	struct rdma_conn_param p;

	memset(&p, 0, sizeof(p));
	p.private_data = len ? pdata : NULL;
	p.private_data_len = (uint8_t)len;
	p.responder_resources = 0;
	p.initiator_depth = 0;
	p.flow_control = 0;
	p.retry_count = 7;
	p.rnr_retry_count = 0;
	return p;
}

/* connect() or accept() failed: no CM event will come, and the receives
 * already posted would sit in the QP forever; flush them so the owner sees
 * them complete and may destroy the qp. */
static int connect_failed(struct rv_qp *vq, int r)
{
	char pn[MSGR__HOSTPORT_MAX];

	msgr__log(MSGR__LOG_WARN, "rdma: %s: %s: %s", peer_name(vq, pn),
		  vq->passive ? "rdma_accept" : "rdma_connect", strerror(-r));
	vq->quiet = 1;
	qp_to_error(vq);
	return r;
}

static int rv_connect(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct rdma_conn_param p;

	if (len > MSGR__RSHIM_PDATA_CONNECT || (len && !pdata) || vq->passive)
		return -EINVAL;
	if (!vq->id->qp) /* create_qp first: without a QP rdma_cm would want rdma_establish */
		return -EINVAL;
	if (vq->closed || vq->dead)
		return -ENOTCONN;
	p = conn_param(pdata, len);
	if (rdma_connect(vq->id, &p))
		return connect_failed(vq, neg_errno(EIO));
	return 0;
}

static int rv_accept(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct rdma_conn_param p;

	if (len > MSGR__RSHIM_PDATA_ACCEPT || (len && !pdata) || !vq->passive)
		return -EINVAL;
	if (!vq->id->qp)
		return -EINVAL;
	if (vq->closed || vq->dead)
		return -ENOTCONN;
	p = conn_param(pdata, len);
	/* moves the QP to RTR and RTS, then sends the REP */
	if (rdma_accept(vq->id, &p))
		return connect_failed(vq, neg_errno(EIO));
	return 0;
}

static int rv_reject(struct msgr__rshim_qp *qp, const void *pdata, size_t len)
{
	struct rv_qp *vq = (struct rv_qp *)qp;

	if (len > MSGR__RSHIM_PDATA_ACCEPT || (len && !pdata) || !vq->passive)
		return -EINVAL;
	if (vq->closed)
		return -ENOTCONN;
	if (rdma_reject(vq->id, len ? pdata : NULL, (uint8_t)len))
		return neg_errno(EIO);
	/* no event follows a reject on this side; what is posted flushes */
	vq->closed = vq->quiet = 1;
	qp_to_error(vq);
	return 0;
}

static int rv_disconnect(struct msgr__rshim_qp *qp)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	char pn[MSGR__HOSTPORT_MAX];

	if (vq->disconnecting)
		return 0;
	vq->disconnecting = vq->quiet = 1;
	if (vq->estab && !vq->closed) {
		/* the CM's DREQ: the QP goes to error (IB, RoCE) and both
		 * sides get DISCONNECTED */
		if (!rdma_disconnect(vq->id)) {
			vq->dead = 1;
			return 0;
		}
		msgr__log(MSGR__LOG_WARN, "rdma: %s: rdma_disconnect: %s", peer_name(vq, pn), strerror(errno));
	}
	/* Not connected (still resolving, connecting, or not accepted), or
	 * the CM refused: no DISCONNECTED would come from it, so make one.
	 * Destroying the id later tells a peer that is half way (a REJ). */
	qp_to_error(vq);
	if (!vq->closed) {
		vq->closed = 1;
		synth(vq, SYN_DISC);
	}
	return 0;
}

static void rv_destroy(struct msgr__rshim_qp *qp)
{
	if (qp)
		qp_free((struct rv_qp *)qp);
}

static int rv_get_event(struct msgr__rshim *s, struct msgr__rshim_ev *ev)
{
	int r;

	for (;;) {
		if (synth_pop(s, ev)) {
			r = 0;
			break;
		}
		async_drain(s);
		if (synth_pop(s, ev)) {
			r = 0;
			break;
		}
		if ((r = cm_next(s, ev)) != 1)
			break;
	}
	kick_update(s);
	return r;
}

/* Take every notification the completion channels hold: each marks its CQ
 * as pending (to poll) and no longer armed. */
static void comp_drain(struct msgr__rshim *s)
{
	for (int i = 0; i < RV_MAX_DEVS; i++) {
		struct rv_dev *d = &s->devs[i];
		struct ibv_cq *cq;
		void *ctx;

		if (!d->verbs || !d->comp_watched)
			continue;
		while (!ibv_get_cq_event(d->comp, &cq, &ctx)) {
			struct rv_qp *vq = ctx; /* our comp channel: only our CQs */
			vq->cq_events++;
			vq->armed = 0;
			if (!node_linked(&vq->pend))
				node_add(&s->pend, &vq->pend);
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			msgr__log(MSGR__LOG_WARN, "rdma: device %s: ibv_get_cq_event: %s",
				  ibv_get_device_name(d->verbs->device), strerror(errno));
			unwatch(s, d->comp->fd);
			d->comp_watched = 0;
		}
	}
	/* one ack per CQ for all its events: each ibv_ack_cq_events takes
	 * the CQ's mutex, and ibv_destroy_cq waits until all are acked */
	for (struct rv_node *n = s->pend.next; n != &s->pend; n = n->next) {
		struct rv_qp *vq = RV_OF(n, struct rv_qp, pend);
		if (vq->cq_events) {
			ibv_ack_cq_events(vq->cq, vq->cq_events);
			vq->cq_events = 0;
		}
	}
}

/* One ibv_wc of vq as the shim's; 0 if it names no request of ours. */
static int wc_take(struct rv_qp *vq, const struct ibv_wc *w, struct msgr__rshim_wc *out)
{
	struct msgr__rshim *s = vq->s;
	char pn[MSGR__HOSTPORT_MAX];
	struct rv_wr *e;

	if (w->wr_id >= vq->nwr || !vq->wr[w->wr_id].used) {
		msgr__log(MSGR__LOG_ERR, "rdma: %s: a completion for no request of ours (wr_id %llu, %s)",
			  peer_name(vq, pn), (unsigned long long)w->wr_id, ibv_wc_status_str(w->status));
		return 0;
	}
	e = &vq->wr[w->wr_id];
	out->qp = &vq->pub;
	out->wr_id = e->wr_id;
	out->op = e->op;
	out->status = msgr__rverbs_wc_status(w->status);
	/* byte_len is defined only for a successful receive */
	out->byte_len = out->status == MSGR__RSHIM_WC_OK && e->op == MSGR__RSHIM_WC_RECV ? w->byte_len : 0;
	wr_put(vq, (uint32_t)w->wr_id);
	switch (out->status) {
	case MSGR__RSHIM_WC_OK:
		return 1;
	case MSGR__RSHIM_WC_FLUSH:
		s->st.flushed++;
		break;
	case MSGR__RSHIM_WC_RNR:
		s->st.rnr++;
		break;
	default:
		break;
	}
	/* any error completion leaves an RC QP in error */
	vq->dead = 1;
	if (!vq->quiet && !vq->err_reported) {
		if (out->status != MSGR__RSHIM_WC_FLUSH)
			msgr__log(MSGR__LOG_NOTICE, "rdma: %s: %s completion: %s (vendor error 0x%x)",
				  peer_name(vq, pn), e->op == MSGR__RSHIM_WC_SEND ? "send" : "receive",
				  ibv_wc_status_str(w->status), w->vendor_err);
		qp_error(vq, out->status == MSGR__RSHIM_WC_RETRY ? -ETIMEDOUT
			     : out->status == MSGR__RSHIM_WC_RNR ? -ENOBUFS
			     : out->status == MSGR__RSHIM_WC_LEN ? -EMSGSIZE
								 : -EIO);
	}
	return 1;
}

static int rv_poll(struct msgr__rshim *s, struct msgr__rshim_wc *wc, int n)
{
	struct ibv_wc w[RV_POLL_BATCH];
	int got = 0, r;

	if (n <= 0)
		return 0;
	comp_drain(s);
	while (got < n && node_linked(&s->pend)) {
		struct rv_qp *vq = RV_OF(s->pend.next, struct rv_qp, pend);
		int want = n - got < RV_POLL_BATCH ? n - got : RV_POLL_BATCH;
		int k = ibv_poll_cq(vq->cq, want, w);

		if (k < 0) {
			msgr__log(MSGR__LOG_ERR, "rdma: ibv_poll_cq: %d", k);
			node_del(&vq->pend);
			qp_error(vq, -EIO);
			continue;
		}
		for (int i = 0; i < k; i++)
			got += wc_take(vq, &w[i], &wc[got]);
		if (k == want) {
			/* there may be more: another CQ's turn first */
			node_del(&vq->pend);
			node_add(&s->pend, &vq->pend);
			continue;
		}
		if (!vq->armed) {
			/* The classic race: a completion that lands between the
			 * poll that found the CQ empty and the arm raises no
			 * event. So arm, then poll once more (the loop comes
			 * back to this CQ, as it is still first). */
			if ((r = verr(ibv_req_notify_cq(vq->cq, 0)))) {
				msgr__log(MSGR__LOG_ERR, "rdma: ibv_req_notify_cq: %s", strerror(-r));
				node_del(&vq->pend);
				qp_error(vq, r);
				continue;
			}
			vq->armed = 1;
			continue;
		}
		node_del(&vq->pend); /* empty and armed: its next completion raises an event */
	}
	kick_update(s);
	return got;
}

static int rv_reg_mr(struct msgr__rshim *s, void *base, size_t len, struct msgr__rshim_mr **mr)
{
	struct rv_mr *m;
	int r = 0;

	*mr = NULL;
	if (!base || !len)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->s = s;
	m->base = base;
	m->len = len;
	node_init(&m->node);
	/* on every device set up so far; dev_open registers it on later ones */
	for (int i = 0; i < RV_MAX_DEVS && !r; i++)
		if (s->devs[i].verbs && !s->devs[i].removed)
			r = mr_reg_on(m, &s->devs[i], i);
	if (r) {
		for (int i = 0; i < RV_MAX_DEVS; i++)
			if (m->mr[i])
				(void)ibv_dereg_mr(m->mr[i]); /* undoing ours: nothing references it */
		free(m);
		return r;
	}
	node_add(&s->mrs, &m->node);
	*mr = &m->pub;
	return 0;
}

static void rv_dereg_mr(struct msgr__rshim_mr *mr)
{
	struct rv_mr *m = (struct rv_mr *)mr;
	int r;

	if (!m)
		return;
	for (int i = 0; i < RV_MAX_DEVS; i++)
		if (m->mr[i] && (r = verr(ibv_dereg_mr(m->mr[i]))))
			msgr__log(MSGR__LOG_WARN, "rdma: ibv_dereg_mr: %s", strerror(-r));
	node_del(&m->node);
	free(m);
}

/* The lkey of [addr, addr + len) in m on vq's device, or 0 with *r set. */
static uint32_t lkey_of(struct rv_qp *vq, const struct rv_mr *m, const void *addr, uint32_t len, int *r)
{
	uintptr_t a = (uintptr_t)addr, b = m ? (uintptr_t)m->base : 0;
	int i = (int)(vq->dev - vq->s->devs);

	*r = -EINVAL;
	if (!m || a < b || a - b > m->len || len > m->len - (a - b))
		return 0; /* the device would fail it (LOC_PROT_ERR) and kill the QP */
	if (!m->mr[i])
		return 0;
	*r = 0;
	return m->mr[i]->lkey;
}

static int rv_post_recv(struct msgr__rshim_qp *qp, uint64_t wr_id, void *buf, uint32_t len,
			struct msgr__rshim_mr *mr)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct ibv_recv_wr wr, *bad = NULL;
	struct ibv_sge sge;
	uint32_t slot;
	int r;

	if (!vq->id->qp || !vq->dev)
		return -EINVAL;
	if (vq->dead)
		return -ENOTCONN;
	sge.addr = (uintptr_t)buf;
	sge.length = len;
	sge.lkey = lkey_of(vq, (struct rv_mr *)mr, buf, len, &r);
	if (r)
		return r;
	if ((r = wr_get(vq, wr_id, MSGR__RSHIM_WC_RECV, &slot)))
		return r;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = slot;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	if ((r = verr(ibv_post_recv(vq->id->qp, &wr, &bad)))) {
		wr_put(vq, slot);
		return r;
	}
	return 0;
}

static int rv_post_send(struct msgr__rshim_qp *qp, uint64_t wr_id, const struct msgr__rshim_sge *sge,
			int nsge)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct ibv_sge sg[MSGR__RSHIM_MAX_SGE];
	struct ibv_send_wr wr, *bad = NULL;
	uint32_t slot;
	int r;

	if (nsge < 1 || nsge > MSGR__RSHIM_MAX_SGE || !vq->id->qp || !vq->dev)
		return -EINVAL;
	if (vq->dead)
		return -ENOTCONN;
	for (int i = 0; i < nsge; i++) {
		sg[i].addr = (uintptr_t)sge[i].addr;
		sg[i].length = sge[i].len;
		sg[i].lkey = lkey_of(vq, (struct rv_mr *)sge[i].mr, sge[i].addr, sge[i].len, &r);
		if (r)
			return r;
	}
	if ((r = wr_get(vq, wr_id, MSGR__RSHIM_WC_SEND, &slot)))
		return r;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = slot;
	wr.sg_list = sg;
	wr.num_sge = nsge;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED; /* every send completes: its buffer comes back then */
	if ((r = verr(ibv_post_send(vq->id->qp, &wr, &bad)))) {
		wr_put(vq, slot);
		return r;
	}
	return 0;
}

static int rv_addr(struct msgr__rshim_qp *qp, int peer, char *buf, size_t len)
{
	struct rv_qp *vq = (struct rv_qp *)qp;
	struct sockaddr *sa = peer ? rdma_get_peer_addr(vq->id) : rdma_get_local_addr(vq->id);
	int r = msgr__sockaddr_hostport(sa, buf, len);

	return r == -EAFNOSUPPORT && sa->sa_family == AF_UNSPEC ? -ENOTCONN : r;
}

static void rv_stats(struct msgr__rshim *s, struct msgr__rshim_stats *st)
{
	*st = s->st;
}

const struct msgr__rshim_ops msgr__rshim_verbs_ops = {
	.name = "verbs",
	.open = rv_open,
	.close = rv_close,
	.fd = rv_fd,
	.listen = rv_listen,
	.dial = rv_dial,
	.create_qp = rv_create_qp,
	.connect = rv_connect,
	.accept = rv_accept,
	.reject = rv_reject,
	.disconnect = rv_disconnect,
	.destroy = rv_destroy,
	.get_event = rv_get_event,
	.poll = rv_poll,
	.reg_mr = rv_reg_mr,
	.dereg_mr = rv_dereg_mr,
	.post_recv = rv_post_recv,
	.post_send = rv_post_send,
	.addr = rv_addr,
	.stats = rv_stats,
};
