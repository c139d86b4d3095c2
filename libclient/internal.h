/*
 * internal.h - libmsgr's private structures. Never installed.
 */
#ifndef MSGR_LIBCLIENT_INTERNAL_H
#define MSGR_LIBCLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/addr.h"
#include "msgr.h"
#include "shm/pool.h"
#include "shm/ring.h"
#include "shm/segment.h"

enum conn_state {
	CONN_CONNECTING = 1, /* CONNECT posted, no answer yet (sends queue) */
	CONN_OPEN,           /* CONNECTED or ACCEPTED seen */
	CONN_RESET,          /* RESET / REMOTE_RESET / CONNECT_FAILED seen */
};

/* Owned by its client from msgr_connect() (or an ACCEPTED event) until the
 * daemon confirms msgr_conn_close() with a CLOSED event, or msgr_detach(). */
struct msgr_conn {
	msgr_client *c;            /* owner */
	uint32_t id;               /* shared with the daemon */
	enum msgr_mode mode;
	_Atomic int state;         /* enum conn_state; written by the event thread */
	_Atomic int closed;        /* the application closed it; events are dropped */
	_Atomic uint32_t credit_slot; /* the daemon's counter for it, once known */
	_Atomic uint64_t sent;     /* payload bytes handed to the daemon */
	struct msgr_conn *hnext;   /* id hash chain (under c->lock) */
	struct msgr_conn *pnext;   /* peer hash chain, for msgr_connect (likewise) */
	struct msgr_conn *close_next; /* c->closes, while its CLOSE waits for room */
	char peer[MSGR__ADDR_MAX];
};

/* Both hashes' size: a client may hold 65,536 connections, and msgr_connect
 * looks its peer up first, so neither may be a list (30,000 connects took
 * 50 s when finding the peer meant a walk over every handle). */
#define CONN_BUCKETS 4096
/* Orphans waiting for room in the command ring. Past this many (that many
 * failed allocations while the daemon takes no commands) the channel stays
 * open until detach; nothing else goes wrong. */
#define MSGR__ORPHANS_MAX 64

/* Owned by the application from msgr_attach() to msgr_detach(). */
struct msgr_client {
	int sock;                  /* attach connection; its hang-up = daemon gone */
	int efd_daemon;            /* we write it to wake the daemon */
	int efd_client;            /* the daemon writes it to wake us */
	int epfd;                  /* msgr_fd(): efd_client + sock */
	void *base;                /* the mapped segment */
	size_t size;
	struct msgr__seg_hdr *hdr;
	struct msgr__seg_params params;
	struct msgr__ring cmd;     /* _mp: any thread pushes */
	struct msgr__ring evt;     /* _sc: the event thread pops */
	struct msgr__ring txdone;  /* _sc: popped under lock */
	struct msgr__ring rxfree;  /* _mp: event thread and msgr_event_release */
	unsigned char *txpool, *rxpool;
	uint64_t pool_size;        /* bytes in each pool (TX and RX) */
	uint64_t max_message;      /* largest payload we may send: min(pool, daemon's) */
	unsigned poll_us;
	int send_blocking;
	uint64_t window;           /* flow-control window per connection (bytes) */
	_Atomic uint64_t *credits; /* the daemon's per-connection counters */

	pthread_mutex_t lock;      /* guards txp, txdone, conns, next_id, closes */
	pthread_mutex_t connect_lock; /* one msgr_connect at a time, so a handle
				      another thread can find has its CONNECT
				      in the ring already */
	struct msgr__pool txp;     /* TX pool allocator (ours) */
	uint64_t *tx_sent;         /* bit per chunk: a msgr_buf_alloc buffer handed to
				      the daemon, so it is not sent or freed twice */
	struct msgr_conn *conns[CONN_BUCKETS];   /* by id */
	struct msgr_conn *by_peer[CONN_BUCKETS]; /* by peer and mode */
	uint64_t slots[MSGR__CREDIT_SPLIT / 64]; /* credit slots of our own connects */
	uint32_t next_id;
	struct msgr_conn *closes;  /* closed handles whose CLOSE found the command ring
				      full; sent by later calls (under lock) */
	uint32_t orphans[MSGR__ORPHANS_MAX]; /* ids of ACCEPTED connections we had no
				      memory to make a handle for, whose CLOSE
				      found the ring full (under lock) */
	uint32_t norphans;
	_Atomic uint32_t ncloses;  /* entries in closes and orphans, to look without
				      the lock */

	pthread_mutex_t rules_lock; /* one msgr_accept_modes at a time; guards
				      rules, nrules, rules_seq */
	char rules[MSGR__ACCEPT_RULES][MSGR__ENTITY_MAX]; /* patterns given to
				      msgr_accept_modes, as the daemon counts them */
	uint32_t nrules;
	uint32_t rules_seq;        /* the last ACCEPT_MODES' number (modes_acked) */

	_Atomic int daemon_lost;   /* the attach socket hung up */
	int lost_reported;         /* DAEMON_LOST was returned (event thread) */
	uint64_t nonce;
	char entity[MSGR__ENTITY_MAX];
	char addr[MSGR__ADDR_MAX];
};

/* conn.c */
struct msgr_conn *msgr__conn_lookup(msgr_client *c, uint32_t id); /* under lock */
struct msgr_conn *msgr__conn_new(msgr_client *c, uint32_t id, enum msgr_mode mode,
				 const char *peer, int state); /* under lock */
void msgr__conn_forget(msgr_client *c, struct msgr_conn *k);    /* under lock */

/* client.c */
int msgr__cmd_push(msgr_client *c, const struct msgr__desc *d); /* waits if full */
/* The same for a unit of n slots (a descriptor and its text); always waits. */
int msgr__cmd_push_n(msgr_client *c, const struct msgr__desc *unit, uint32_t n);
void msgr__flush_closes(msgr_client *c); /* send waiting CLOSEs that fit; any thread */
int msgr__tx_alloc(msgr_client *c, size_t len, uint64_t *off);
void msgr__tx_free(msgr_client *c, uint64_t off);
void msgr__wake_daemon(msgr_client *c, _Atomic uint32_t *flag);
int msgr__daemon_gone(msgr_client *c); /* checks the socket; sets daemon_lost */
void msgr__backoff(unsigned *us);

/* strerror.c: set the calling thread's msgr_last_error() text; each
 * returns err, so that `return msgr__fail(-EINVAL, ...)` both sets and
 * returns. msgr__fail_call words the errors any call on a connection may
 * return (k may be NULL). */
int msgr__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int msgr__fail_const(int err, const char *text);
int msgr__fail_call(int err, const char *call, const msgr_conn *k);

/* Pool bytes a message of len takes: whole chunks, at least one. The
 * window counts these, so tiny messages cannot slip past it. */
static inline uint64_t msgr__pool_cost(const msgr_client *c, size_t len)
{
	return msgr__pool_cost_bytes(len, c->params.chunk_shift);
}

#endif
