/*
 * segment.h - the layout of one client's shared segment.
 *
 * msgrd creates one memfd per attached client, formats it, seals it against
 * shrinking and passes it over the attach socket. Only that client and the
 * daemon map it. Layout (every region cache-line aligned):
 *
 *   header | cmd ring | evt ring | txdone ring | rxfree ring | credits | TX pool | RX pool
 *
 *   cmd    app -> daemon  _mp  commands: CONNECT, SEND, CLOSE, ACCEPT_MODES
 *   evt    daemon -> app  _sp  events: MESSAGE, ACCEPTED, CONNECTED, RESET ...
 *   txdone daemon -> app  _sp  TX pool buffers the daemon is done with
 *   rxfree app -> daemon  _mp  RX pool buffers the application released
 *   TX pool: the application allocates, the daemon reads and gives back
 *   RX pool: the daemon allocates and writes, the application reads and gives back
 *   credits: MSGR__CREDIT_SLOTS counters the daemon writes, one per open
 *            connection: payload bytes of that connection's sends that have
 *            left the daemon's outbox (the flow-control window, see
 *            docs/SHM.md)
 *
 * The daemon computes the layout from its own parameters (msgr__seg_layout)
 * and never reads it back from the header; the client checks the header
 * against the parameters it received on the attach socket.
 */
#ifndef MSGR_SHM_SEGMENT_H
#define MSGR_SHM_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

#define MSGR__SEG_MAGIC 0x3147455352474d53ULL /* "SMGRSEG1" little-endian */
#define MSGR__SEG_VERSION 5 /* 2: per-connection credit table; 3: ACCEPT_MODES
			       and its acknowledgement (modes_acked); 4: ring
			       seq words relative to the slot (zero is empty);
			       5: control texts in the rings, not the pools */

#define MSGR__CHUNK_SHIFT 10 /* 1 KiB pool chunks */
#define MSGR__CMD_SLOTS 4096
#define MSGR__EVT_SLOTS 4096
#define MSGR__CREDIT_SLOTS 65536 /* = MSGR__MAX_CONNS: a slot per connection */
/* The application picks the slots of the connections it opens (below
 * MSGR__CREDIT_SPLIT, sent in CONNECT), so a sender knows its slot without
 * reading events; the daemon picks those of accepted ones (from the split
 * up, sent in ACCEPTED). */
#define MSGR__CREDIT_SPLIT 32768
/* Set in a connection's counter once its channel is gone (reset, connect
 * failed), so a sender blocked on the window learns it without reading
 * events. The rest of the word counts pool bytes (whole chunks). */
#define MSGR__CREDIT_RESET (1ULL << 63)
#define MSGR__CREDIT_NONE UINT32_MAX

/* Parameters both sides agree on at attach time. */
struct msgr__seg_params {
	uint32_t pool_chunks; /* chunks in each pool (TX and RX) */
	uint32_t chunk_shift;
	uint32_t cmd_slots;
	uint32_t evt_slots;
	uint32_t free_slots;  /* >= pool_chunks, power of two */
};

/* Byte offsets computed from the parameters. */
struct msgr__seg_layout {
	uint64_t cmd, evt, txdone, rxfree, credits, txpool, rxpool, size;
};

/* The header at offset 0. Written once by the daemon except for the fields
 * marked otherwise. Cache lines separate what each side writes. */
struct msgr__seg_hdr {
	uint64_t magic;               /* MSGR__SEG_MAGIC */
	uint32_t version;             /* MSGR__SEG_VERSION */
	uint32_t hdr_size;            /* sizeof(struct msgr__seg_hdr) */
	uint64_t seg_size;            /* bytes in the segment */
	struct msgr__seg_params params;
	uint32_t pad0;
	int32_t daemon_pid;
	int32_t client_pid;
	/* written by the daemon */
	_Alignas(MSGR__CACHELINE) _Atomic uint64_t daemon_heartbeat_ns; /* CLOCK_MONOTONIC */
	_Atomic uint32_t daemon_sleeping;  /* daemon wants a signal on new cmd/rxfree */
	_Atomic uint32_t daemon_wants_rx;  /* daemon is blocked on evt ring or RX pool space */
	_Atomic uint32_t modes_acked;      /* the msg_type of the last ACCEPT_MODES served */
	/* written by the application */
	_Alignas(MSGR__CACHELINE) _Atomic uint64_t client_heartbeat_ns;
	_Atomic uint32_t client_sleeping;  /* application wants a signal on new events */
	uint32_t pad1;
};

/* Operations. Commands travel on cmd, events on evt. */
enum msgr__op {
	MSGR__OP_CONNECT = 1,  /* conn, mode, len: peer address text (see below),
				  msg_type: its credit slot (< MSGR__CREDIT_SPLIT) */
	MSGR__OP_SEND,         /* conn, msg_type, off/len: payload in TX pool */
	MSGR__OP_CLOSE,        /* conn */
	MSGR__OP_ACCEPT_MODES, /* mode: a mask of MSGR_MODE_BIT()s, len: peer
				  pattern text (see below), msg_type: a number the
				  daemon stores in modes_acked once it applies */

	MSGR__EV_MESSAGE = 16, /* conn, msg_type, off/len: payload in RX pool */
	MSGR__EV_ACCEPTED,     /* conn (new id), mode, len: peer address text (see
				  below); msg_type: its credit slot */
	MSGR__EV_CONNECTED,    /* conn */
	MSGR__EV_RESET,        /* conn, error */
	MSGR__EV_REMOTE_RESET, /* conn, error */
	MSGR__EV_CONNECT_FAILED, /* conn, error */
	MSGR__EV_CLOSED,       /* conn: the daemon has forgotten it; no event follows */
};

/* Rules of msgr_accept_modes(3) one client may hold. libmsgr refuses more
 * with -ENOSPC; the daemon drops a client that sends more. */
#define MSGR__ACCEPT_RULES 32

/* A command or event descriptor: offsets and lengths, never pointers. */
struct msgr__desc {
	uint16_t op;       /* enum msgr__op */
	uint16_t mode;     /* enum msgr_mode for CONNECT / ACCEPTED */
	uint32_t conn;     /* connection id, see MSGR__CONN_DAEMON_BIT */
	uint32_t msg_type; /* application type tag */
	int32_t error;     /* negative errno for RESET / CONNECT_FAILED */
	uint64_t off;      /* pool offset of the payload */
	uint64_t len;      /* payload bytes */
};

/* Control texts (CONNECT's and ACCEPTED's address, ACCEPT_MODES' pattern)
 * travel in the ring, in the slots right after their descriptor, pushed
 * with it as one unit (msgr__ring_push_n_*): len bytes, the last slot
 * padded with zeros; off is 0. So a connect never waits for pool space
 * behind data, and opening many connections touches no pool pages (segment
 * version 5; before, each text took a 1 KiB pool chunk). */
#define MSGR__TEXT_MAX 255 /* bytes; an address is at most MSGR__ADDR_MAX - 1 */
#define MSGR__TEXT_SLOTS(len) (((len) + sizeof(struct msgr__desc) - 1) / sizeof(struct msgr__desc))
#define MSGR__UNIT_MAX (1 + MSGR__TEXT_SLOTS(MSGR__TEXT_MAX))

/* Build the unit of d and text (len bytes, 1 to MSGR__TEXT_MAX) in
 * unit[MSGR__UNIT_MAX]: d with len set and off 0, then the text. Returns
 * the slots it takes. */
uint32_t msgr__text_unit(struct msgr__desc unit[MSGR__UNIT_MAX], const struct msgr__desc *d,
			 const char *text, size_t len);

/* Take the text slots of a descriptor just popped from r, whose len says
 * how long its text is, into out (len + 1 bytes at least, NUL-terminated).
 * -EMSGSIZE if len is 0 or above max (nothing taken); -EPROTO if a slot
 * is not there (the producer broke the unit) or the text holds a NUL. */
int msgr__text_take(struct msgr__ring *r, uint64_t len, size_t max, char *out);

/* Entries of the txdone and rxfree rings. */
struct msgr__free_desc {
	uint64_t off; /* start of an allocation, from its pool's start */
};

/* Connection ids chosen by the application have this bit clear; ids the
 * daemon chooses for accepted connections have it set. */
#define MSGR__CONN_DAEMON_BIT 0x80000000u

void msgr__seg_params_init(struct msgr__seg_params *sp, size_t pool_size);
int msgr__seg_params_check(const struct msgr__seg_params *sp);
void msgr__seg_layout(const struct msgr__seg_params *sp, struct msgr__seg_layout *lo);
/* Format a mapped segment of lo->size bytes (daemon side), fresh from
 * ftruncate: all zeros, which is what it relies on for the rings. */
void msgr__seg_format(void *base, const struct msgr__seg_params *sp,
		      const struct msgr__seg_layout *lo, int daemon_pid, int client_pid);
/* Check a mapped header against the agreed parameters (client side). */
int msgr__seg_check(const void *base, size_t size, const struct msgr__seg_params *sp);

uint64_t msgr__now_ns(void);

#endif
