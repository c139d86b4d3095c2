/*
 * rdma_verbs.h - the pure decisions inside the verbs shim (rdma_verbs.c):
 * how verbs and rdma_cm outcomes map onto rdma_shim.h's. They take no
 * device, so the unit tests check them on a machine without one; the shim
 * itself is reached only through msgr__rshim_verbs_ops.
 *
 * Stateless functions over value types; any thread.
 */
#ifndef MSGR_TRANSPORTS_RDMA_VERBS_H
#define MSGR_TRANSPORTS_RDMA_VERBS_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "transports/rdma_shim.h"

/* A work completion's status, as the shim reports it: SUCCESS -> OK,
 * WR_FLUSH_ERR -> FLUSH, RNR_RETRY_EXC_ERR -> RNR, RETRY_EXC_ERR -> RETRY,
 * LOC_LEN_ERR -> LEN, anything else -> OTHER. */
enum msgr__rshim_wc_status msgr__rverbs_wc_status(enum ibv_wc_status st);

/* What an rdma_cm event becomes: an rdma_shim.h event type, or one of
 * these for the events the shim deals with itself. */
#define MSGR__RVERBS_CM_IGNORE 0         /* TIMEWAIT_EXIT, ADDR_CHANGE, multicast, ... */
#define MSGR__RVERBS_CM_RESOLVE_ROUTE -1 /* ADDR_RESOLVED: resolve the route, say nothing yet */
int msgr__rverbs_cm_event_type(enum rdma_cm_event_type t);

/* The status an UNREACHABLE-class event reports: the CM's own when it is a
 * negative errno, otherwise (librdmacm reports a bare -1 when its own
 * follow-up step failed, and 0 is no reason) an errno that says which step
 * failed: ADDR_ERROR -EHOSTUNREACH, ROUTE_ERROR -ENETUNREACH, CONNECT_ERROR
 * -ECONNABORTED, UNREACHABLE -ETIMEDOUT. Other events keep their status. */
int msgr__rverbs_cm_status(enum rdma_cm_event_type t, int status);

/* Whether a REJECTED event's private data is the peer's (what it passed to
 * reject()). On InfiniBand and RoCE status is the IB CM's reject reason,
 * and only reason 28, "consumer defined", carries the rejecting
 * application's bytes; a REJ from the peer's CM (8: no one listens on that
 * port) carries the CM's. On iWARP the status is -ECONNREFUSED and the MPA
 * reply carries the peer's bytes. */
int msgr__rverbs_reject_pdata_valid(int status);

/* What an async event on a device context means to the shim. */
enum msgr__rverbs_async {
	MSGR__RVERBS_ASYNC_IGNORE = 0, /* port, LID, GID, SM changes: rdma_cm and the QP's own retries deal */
	MSGR__RVERBS_ASYNC_QP_ERROR,   /* QP_FATAL, QP_REQ_ERR, QP_ACCESS_ERR, PATH_MIG_ERR: that qp is in error */
	MSGR__RVERBS_ASYNC_CQ_ERROR,   /* CQ_ERR (an overrun): the qp of that CQ is lost */
	MSGR__RVERBS_ASYNC_COMM_EST,   /* data came before the CM's RTU: tell rdma_cm (rdma_notify) */
	MSGR__RVERBS_ASYNC_DEVICE,     /* DEVICE_FATAL: every qp on the context is lost */
};
enum msgr__rverbs_async msgr__rverbs_async_kind(enum ibv_event_type t);

#endif
