/*
 * rdma_fake.h - the fake verbs shim's extras: what tests inject.
 *
 * The fake (rdma_fake.c, msgr__rshim_fake_ops) is a queue-pair pair over
 * SOCK_SEQPACKET Unix sockets in the abstract namespace
 * ("\0msgrd-rdma-fake/HOST:PORT"), so it works between processes and inside
 * one, and is scoped by network namespace as TCP ports are. A SEND is one
 * packet; it lands in the peer's oldest posted receive, or, when none is
 * posted, counts an RNR and puts both QPs in error (we run with no RNR
 * retry: credits must make it impossible). Completions queue in memory and
 * an eventfd in the shim's epoll set makes fd() readable while any wait, so
 * the libuv wiring is the real one. msgrd builds it in but refuses
 * net.transport = rdma-fake unless global.inject = true.
 */
#ifndef MSGR_TRANSPORTS_RDMA_FAKE_H
#define MSGR_TRANSPORTS_RDMA_FAKE_H

#include "transports/rdma_shim.h"

enum msgr__rshim_fake_fault {
	MSGR__RFAKE_RNR = 1,      /* the next SEND this qp receives finds no receive */
	MSGR__RFAKE_RETRY,        /* the next send completes RETRY and the QP errors */
	MSGR__RFAKE_FLUSH,        /* the QP goes to error now: everything flushes */
	MSGR__RFAKE_DISCONNECT,   /* the peer vanishes: EV_DISCONNECTED, QP in error */
	MSGR__RFAKE_DEVICE_REMOVAL, /* EV_DEVICE_REMOVAL for every qp of the shim */
	MSGR__RFAKE_REJECT_ALL,   /* this shim's listener rejects every request from now on */
};

/* Inject fault f on qp (or, for DEVICE_REMOVAL and REJECT_ALL, on qp's
 * shim; qp may then be NULL if s is given). 0 or -EINVAL. The effect is
 * seen through get_event()/poll() later, never from inside this call. */
int msgr__rshim_fake_inject(struct msgr__rshim *s, struct msgr__rshim_qp *qp,
			    enum msgr__rshim_fake_fault f);

#endif
