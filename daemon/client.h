/*
 * client.h - the clients layer's data: the registry of attached clients,
 * one attached application entity as the daemon sees it, its connection
 * ids and its outbox entries; and what every part of the layer needs of a
 * client (references, the TX pool, dooming).
 *
 * The types live together because each points at the others (a client at
 * its registry, a connection id and an outbox entry at their client); the
 * code that works on them is one file pair per concept, each above this
 * one: conntab (connection ids and credit slots), outbox (events waiting
 * for the client's rings), registry (create and drop), cmd (serving the
 * command ring). The layer below (channels) reaches clients through these
 * headers; the loop above owns the registry and registers its hooks.
 *
 * Lifetime of a client: created by registry.c when an attach handshake
 * succeeds, and linked into the registry. It leaves the registry when its
 * socket hangs up, when it detaches, or when it breaks the segment
 * protocol (msgr__dclient_drop). The struct and its mapping then live on
 * while references remain: each message waiting in another client's
 * outbox holds one on its source client, because the payload is still in
 * the source's TX pool.
 *
 * Everything the daemon reads from the segment is copied out and validated
 * before it is used; a bad value drops this client and only this one.
 * Loop thread only.
 */
#ifndef MSGR_DAEMON_CLIENT_H
#define MSGR_DAEMON_CLIENT_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "channel.h"
#include "common/addr.h"
#include "common/log.h"
#include "policy.h"
#include "shm/pool.h"
#include "shm/ring.h"
#include "shm/segment.h"

struct msgr__rxacct;
struct msgr__net_conf;

/* Settings of the clients layer. Value type, owned by the loop's
 * configuration and lent to the layer (read afresh at every use). */
struct msgr__client_conf {
	char socket[108];              /* global.socket: attach socket path */
	uint64_t poll_us;              /* global.poll_us: busy-poll before sleeping */
	uint64_t pool_size;            /* global.pool_size: default per-client pool */
	uint64_t max_pool_size;        /* global.max_pool_size: cap on requests */
	uint64_t max_clients;          /* global.max_clients */
	uint64_t max_conns_per_client; /* global.max_conns_per_client: connection ids
					  one client may hold, opened and accepted */
};

/* Counters of the clients layer, shown by `perf dump`. Owned by the loop. */
struct msgr__client_stats {
	uint64_t attaches;      /* successful attaches since start */
	uint64_t attach_errors; /* refused attaches */
	uint64_t attach_shed;   /* attach connections closed before their request
				   came, to make room (attach.c) */
	uint64_t attach_nofd;   /* accepts that failed for want of a file descriptor */
	uint64_t conns_refused; /* connects refused: global.max_conns_per_client */
	uint64_t modes_refused; /* connects refused: a mode msgr_accept_modes(3) refuses */
	uint64_t detaches;      /* clients gone, for any reason */
	uint64_t violations;    /* clients disconnected for a bad segment or descriptor */
	uint64_t msgs_dropped;  /* sends on a reset channel, given back unsent */
	uint64_t wakeups_sent;  /* eventfd writes to clients */
	uint64_t wakeups_recv;  /* eventfd wakeups from clients */
};

/* Something only the layer above can do, registered by it: call fn(ctx).
 * Value type; ctx is the registrant's and outlives the registration. */
struct msgr__hook {
	void (*fn)(void *ctx);
	void *ctx;
};

/* The clients layer: every attached client, and what the layer is lent.
 * Owned by the loop (main.c embeds it), which fills every field before the
 * first attach and keeps the pointed-to settings and counters alive for as
 * long as the registry. Only the clients layer changes the list. */
struct msgr__registry {
	uv_loop_t *loop;                /* the loop the clients' handles run on */
	struct msgr__dclient *clients;  /* attached clients, newest first; each
					   holds a reference for being here */
	struct msgr__dclient *active;   /* those a poll pass visits (registry.c);
					   the rest are parked */
	uint32_t nclients;              /* entries in clients */
	uint32_t next_client_id;        /* the last id given, for msgrctl */
	const struct msgr__client_conf *conf;   /* [global] keys of this layer */
	const struct msgr__net_conf *net_conf;  /* global.listen, max_message and
						   channel_window, which clients are told */
	struct msgr__client_stats *stats;       /* this layer's counters */
	struct msgr__ratelimit conns_rl, peer_conns_rl; /* refused connects, by the
					   connecting side and by the target */
	struct msgr__hook schedule;     /* make sure a poll pass runs soon (work was
					   created outside a pass); cheap when
					   already spinning */
	struct msgr__hook kick;         /* a client signalled: start polling now */
	struct msgr__chans *chans;      /* the channels layer below (set once the
					   network is up, before the first attach is
					   served); it tells us through
					   msgr__registry_chan_events */
};

/* One connection id of a client. Owned by its client's table; lives until
 * the application closes it (CLOSE command) or the client goes away. */
struct msgr__dconn {
	uint32_t id;                 /* the id the application knows it by */
	uint16_t accepted;           /* 1 if the peer connected to us */
	struct msgr__dclient *client;/* owner (not a reference) */
	struct msgr__chan_end end;   /* the channel's view: its channel (NULL once
					gone), mode, age, peer (which points at
					peer below) and owner */
	struct msgr__dconn *hnext;   /* hash chain */
	uint64_t msgs_out, bytes_out;/* sent by this end */
	uint64_t msgs_in, bytes_in;  /* delivered to this end */
	uint64_t queued_msgs, queued_bytes; /* waiting in this client's outbox */
	uint32_t credit_slot;        /* its counter in the client's credit table */
	uint64_t credit;             /* our copy of that counter (never read back) */
	char peer[MSGR__ADDR_MAX];   /* the peer's address */
};

/* A pending event for the client's evt ring, in delivery order. */
struct msgr__outbox_ent {
	struct msgr__desc ev;        /* off is filled in when posted */
	struct msgr__dclient *src;   /* MESSAGE: holds the payload (a reference) */
	uint64_t src_off;            /* MESSAGE: offset in src's TX pool */
	uint32_t src_conn;           /* MESSAGE: the sending conn id, for its credit */
	char *text;                  /* ACCEPTED: peer address; MESSAGE from the
					network or a gone sender: payload. Owned */
	uint32_t text_skip;          /* the payload starts this far into text */
	int borrowed;                /* text is the caller's, for the call only
					(msgr__dclient_post copies it if it waits) */
	int rx_held;                 /* MESSAGE from the network: the payload is in
					this client's RX pool at rx_off already
					(struct msgr__rx_resv), and the entry holds
					a reference on the client for it */
	uint64_t rx_off;
	uint64_t seq;                /* MESSAGE from the network: its wire seq, to
					acknowledge once posted (0: local) */
	struct msgr__rxacct *acct;   /* MESSAGE from the network: the session account
					text is charged to (a reference), or NULL */
	uint64_t acct_bytes;         /*   and how much */
};

#define MSGR__CONN_BUCKETS 256
/* Connection ids one client may ever hold, opened and accepted together:
 * the most global.max_conns_per_client allows, and the number of credit
 * slots. A CONNECT past it drops the client; connects past the
 * configured limit are refused (msgr__dconn_room). */
#define MSGR__MAX_CONNS 65536
/* Events waiting in one client's outbox. Past the soft limit we stop taking
 * that client's commands (most of its events answer its own commands);
 * past the hard limit it is not reading its events at all and is dropped,
 * so no client can grow the daemon's memory without bound. */
#define MSGR__OUTBOX_SOFT 16384
#define MSGR__OUTBOX_HARD (1u << 20)

struct msgr__dclient {
	struct msgr__registry *reg;  /* the registry it attached to (not a reference:
					the registry outlives every client) */
	struct msgr__dclient *next, *prev; /* registry links while attached */
	struct msgr__dclient *anext, **aprev; /* on reg->active (aprev NULL: parked,
					   or dropped) */
	uint64_t last_work_ns;       /* its last pass with work, for parking */
	uint32_t id;                 /* daemon-local number, for msgrctl */
	int refs;                    /* registry + outbox entries + closing handles */
	int dropped;                 /* out of the registry; no new work */
	int doomed;                  /* broke the protocol where dropping at once is
					unsafe; dropped at the end of the poll pass */
	char entity[MSGR__ENTITY_MAX];
	char addr[MSGR__ADDR_MAX];   /* HOST:PORT/TYPE.ID */
	uint64_t nonce;              /* instance nonce of this attach */
	pid_t pid;                   /* from SO_PEERCRED */
	uid_t uid;
	uint64_t attached_ns;

	int sock;                    /* attach connection; hang-up = client gone */
	uv_poll_t sock_poll;
	int efd_daemon;              /* the client writes it to wake us */
	uv_poll_t efd_poll;
	int efd_client;              /* we write it to wake the client */

	void *base;                  /* the mapped segment */
	size_t size;
	struct msgr__seg_hdr *hdr;
	struct msgr__seg_params params; /* our copy; the header is not trusted */
	struct msgr__seg_layout lo;
	struct msgr__ring cmd, evt, txdone, rxfree;
	unsigned char *txpool, *rxpool;
	uint64_t pool_bytes;         /* bytes in each pool */
	uint64_t max_message;        /* the limit this client was told at attach */
	uint64_t window;             /* the channel_window it was told at attach */
	struct msgr__pool rxp;       /* RX pool allocator (ours) */
	_Atomic uint64_t *credits;   /* the credit table in the segment (we write) */
	uint64_t *slot_used;         /* bit per credit slot the client picked, in use */
	uint32_t next_slot;          /* accept-side credit slots never used start here */
	uint32_t *free_slots;        /* credit slots given back, owned */
	size_t nfree_slots, cap_free_slots;
	uint64_t *tx_held;           /* bit per TX chunk: an allocation we hold */

	struct msgr__dconn *conns[MSGR__CONN_BUCKETS];
	uint32_t nconns;
	uint32_t next_accept_id;

	struct msgr__outbox_ent *q;  /* outbox, oldest first (common/vec.h FIFO), owned */
	size_t qcap, qhead, qlen;
	int posted;                  /* posted events since the last wakeup check */

	struct msgr__chan_owner owner; /* what channels know of it (set at create) */
	struct msgr__accept_rules accept; /* msgr_accept_modes(3): what it accepts
					     from whom (ACCEPT_MODES commands) */

	uint64_t msgs_sent, bytes_sent, msgs_recv, bytes_recv;
	char reason[160];            /* why it was dropped */
};

/* The connection an end of a channel belongs to. */
static inline struct msgr__dconn *msgr__dconn_of(struct msgr__chan_end *e)
{
	return (struct msgr__dconn *)((char *)e - offsetof(struct msgr__dconn, end));
}

void msgr__dclient_ref(struct msgr__dclient *c);
/* Drop a reference; the last one unmaps the segment and frees the client. */
void msgr__dclient_unref(struct msgr__dclient *c);

/* The attached client named entity, or NULL. */
struct msgr__dclient *msgr__dclient_find(struct msgr__registry *reg, const char *entity);

/* Mark the client for dropping at the end of the current poll pass, for
 * code that runs while other clients' state is in use. */
void msgr__dclient_doom(struct msgr__dclient *c, const char *reason);

/* Take the allocation of len bytes at off in the client's TX pool, which a
 * command names: 0, -EFAULT if it is not one of the pool's, -EBUSY if we
 * hold it already. */
int msgr__dclient_tx_claim(struct msgr__dclient *c, uint64_t off, uint64_t len);

/* The application is done with an allocation in the client's TX pool. */
void msgr__dclient_tx_done(struct msgr__dclient *c, uint64_t off);

/* The registry's hooks (registered by the loop). */
static inline void msgr__registry_schedule(struct msgr__registry *reg)
{
	reg->schedule.fn(reg->schedule.ctx);
}

/* c has work for a poll pass (something was posted to it, it signalled,
 * it is doomed): back on the active list if it was parked, and a pass
 * soon. */
void msgr__dclient_activate(struct msgr__dclient *c);
/* Off the active list (parked, or dropped). c->anext stays, so a walk
 * standing on c goes on. */
void msgr__dclient_deactivate(struct msgr__dclient *c);

static inline void msgr__registry_kick(struct msgr__registry *reg)
{
	reg->kick.fn(reg->kick.ctx);
}

#endif
