/*
 * frame.h - the wire format between daemons: banner, frame header, payload
 * trailer, and a streaming decoder (docs/PROTOCOL.md has the bytes).
 *
 * Pure code: no sockets, no allocation of its own. The decoder is fed bytes
 * as a transport delivers them, in any split, and asks its owner for a
 * buffer for each payload, so payloads land where the core wants them (a
 * client's pool, a registered RDMA region). Nothing it reads is trusted:
 * every length is checked against the limits before any buffer is asked
 * for, and every error names what was wrong.
 */
#ifndef MSGR_DAEMON_FRAME_H
#define MSGR_DAEMON_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct msgr__seal;

#define MSGR__WIRE_MAGIC "MSGRWIRE"
/* The one version spoken: lowest = highest, so a peer cannot talk a daemon
 * down to an older handshake (docs/PROTOCOL.md, section 1). */
#define MSGR__WIRE_VERSION 5
#define MSGR__BANNER_LEN 16
#define MSGR__FRAME_HDR_LEN 32
#define MSGR__FRAME_TRAILER_LEN 4

enum msgr__frame_type {
	MSGR__F_HELLO = 1,
	MSGR__F_AUTH = 2,
	MSGR__F_AUTH_DONE = 3,
	MSGR__F_AUTH_FAIL = 4,
	MSGR__F_OPEN = 16,
	MSGR__F_OPEN_OK = 17,
	MSGR__F_OPEN_FAIL = 18,
	MSGR__F_MSG = 19,
	MSGR__F_ACK = 20,
	MSGR__F_RESET = 21,
	MSGR__F_RESUME = 22,     /* channel 0: the channels we keep, after a fault */
	MSGR__F_RESUME_END = 23, /* channel 0: that list is complete */
	MSGR__F_KEEPALIVE = 32,
	MSGR__F_KEEPALIVE_ACK = 33,
	MSGR__F_CLOSE = 40,
};

/* ACK (channel 0): u16 n, then n entries of u32 channel, u64 ack; at most
 * MSGR__ACK_MAX entries, so a frame stays within 4 KiB. */
#define MSGR__ACK_ENTRY 12
#define MSGR__ACK_MAX 340

/* MSG flags (docs/PROTOCOL.md, section 5): a message longer than
 * MSGR__FRAG_MAX goes as fragments of at most that many bytes, so other
 * channels' frames can go between them. The first fragment carries the
 * message type and its whole length; all carry the message's seq. */
#define MSGR__FL_MORE 1u  /* more fragments of this message follow */
#define MSGR__FL_CONT 2u  /* not the message's first fragment */
#define MSGR__FRAG_MAX (64u << 10)
/* A MSG with BATCH alone carries several whole messages of its channel,
 * seq, seq + 1, ..., each as u32 type, u32 length, the bytes: at most
 * MSGR__BATCH_MSGS of them, in at most MSGR__FRAG_MAX bytes. */
#define MSGR__FL_BATCH 4u
#define MSGR__BATCH_MSGS 256u
#define MSGR__BATCH_ENTRY 8u

struct msgr__banner {
	uint16_t vmin, vmax; /* protocol versions spoken */
	uint32_t features;   /* none defined yet */
};

struct msgr__frame_hdr {
	uint8_t type;     /* enum msgr__frame_type */
	uint8_t flags;    /* 0 in version 1 */
	uint32_t channel; /* 0 for link-level frames */
	uint64_t seq, ack;
	uint32_t len;     /* payload bytes */
};

/* Payload fields (docs/PROTOCOL.md): little-endian integers of 1 to 8
 * bytes, and text as a u16 length then the bytes, no NUL. The one codec
 * for headers and every frame's payload. */
size_t msgr__put_uint(uint8_t *p, uint64_t v, int bytes);      /* returns bytes */
uint64_t msgr__get_uint(const uint8_t *p, int bytes);
/* s, cut to max bytes; returns the bytes written (2 + length). */
size_t msgr__put_str(uint8_t *p, const char *s, size_t max);

/* Reads a received payload field by field. Nothing it reads is trusted: a
 * field past the end, or text that does not fit cap (with its NUL) or holds
 * a NUL, sets bad, and every later read yields 0 / "". */
struct msgr__rd {
	const uint8_t *p; /* the next field */
	size_t n;         /* bytes left */
	int bad;
};
uint64_t msgr__rd_uint(struct msgr__rd *r, int bytes);
void msgr__rd_bytes(struct msgr__rd *r, void *out, size_t n);
void msgr__rd_str(struct msgr__rd *r, char *out, size_t cap);

void msgr__banner_encode(uint8_t out[MSGR__BANNER_LEN], const struct msgr__banner *b);
/* -EPROTO: not our magic. */
int msgr__banner_decode(const uint8_t in[MSGR__BANNER_LEN], struct msgr__banner *b);
/* The version both speak, or -EPROTONOSUPPORT. */
int msgr__version_pick(const struct msgr__banner *mine, const struct msgr__banner *theirs);

void msgr__frame_hdr_encode(uint8_t out[MSGR__FRAME_HDR_LEN], const struct msgr__frame_hdr *h);
/* 0, or -EBADMSG (header CRC), -EPROTO (unknown type, flags or reserved
 * bytes set), -EMSGSIZE (len over the type's limit). max_msg is the
 * largest MSG payload accepted. */
int msgr__frame_hdr_decode(const uint8_t in[MSGR__FRAME_HDR_LEN], struct msgr__frame_hdr *h,
			   uint32_t max_msg);
/* Bytes a frame with len payload bytes takes on the wire, plain or sealed
 * (docs/PROTOCOL.md, sections 2 and 3a). */
size_t msgr__frame_wire_len(size_t len, int sealed);
/* Encode one frame at out (msgr__frame_wire_len bytes): header, the
 * concatenation of parts, then the payload CRC, or, with tx (sealing on),
 * the header and payload records. The payload is read once, so a sender
 * rewriting its buffer meanwhile cannot make the CRC or tag disagree with
 * what is sent. 0, or -E2BIG when tx's nonces are used up, -EIO. */
int msgr__frame_encode(uint8_t *out, struct msgr__seal *tx, const struct msgr__frame_hdr *h,
		       const struct iovec *parts, int nparts);
/* Largest payload of a type (0 for unknown types). */
uint32_t msgr__frame_limit(uint8_t type, uint32_t max_msg);

/* Why a decoder stopped; also the counters a session keeps. */
enum msgr__dec_err {
	MSGR__DEC_OK = 0,
	MSGR__DEC_BAD_BANNER,     /* wrong magic */
	MSGR__DEC_NO_VERSION,     /* no version in common */
	MSGR__DEC_BAD_HEADER_CRC,
	MSGR__DEC_BAD_TYPE,       /* unknown type, or flags/reserved set */
	MSGR__DEC_OVERSIZED,      /* len over the limit for its type */
	MSGR__DEC_NO_BUFFER,      /* the owner could not provide a buffer */
	MSGR__DEC_REFUSED,        /* the owner's callback said stop */
	MSGR__DEC_BAD_TAG,        /* secure mode: a record's tag does not match */
	MSGR__DEC_NERR
};

const char *msgr__dec_err_name(enum msgr__dec_err e);

/* Owner callbacks. get_buf returns where len payload bytes go (NULL: stop).
 * on_frame gets each whole frame; payload_ok is 0 if its CRC failed (reset
 * that channel, keep the link). A nonzero return from on_frame stops the
 * decoder with MSGR__DEC_REFUSED. */
struct msgr__frame_ops {
	void *(*get_buf)(void *owner, const struct msgr__frame_hdr *h);
	int (*on_frame)(void *owner, const struct msgr__frame_hdr *h, void *payload, int payload_ok);
	/* Optional. A MSG over max_msg but within MSGR__SKIP_MAX: its payload
	 * is skipped instead of failing the link, and this says so (nonzero:
	 * stop, as from on_frame). Without it such a frame fails the link. */
	int (*on_skip)(void *owner, const struct msgr__frame_hdr *h);
	/* Optional. Plain mode, when a frame's payload and trailer are all in
	 * the bytes of one feed: nonzero takes the payload where it lies,
	 * without get_buf and its copy. on_frame's payload then points into
	 * the fed bytes, valid for that call only and not to be written. */
	int (*borrow)(void *owner, const struct msgr__frame_hdr *h);
	/* Optional. Plain mode, a borrowed frame about to go to on_frame:
	 * the channel fields of the next two frames already fed (0 where a
	 * frame's header is not all in), unchecked. A hint only, to load what
	 * they will need while this one is handled; nothing may depend on it. */
	void (*ahead)(void *owner, uint32_t next, uint32_t after);
};

/* The largest MSG payload a decoder skips rather than fails the link on:
 * any daemon's own limit (global.max_message is at most 1 GiB) plus the
 * message type. A longer length is garbage, not a big message. */
#define MSGR__SKIP_MAX ((1u << 30) + 4)

/* Streaming decoder state; embed it in the link that owns it. */
struct msgr__frame_dec {
	const struct msgr__frame_ops *ops;
	void *owner;
	struct msgr__banner mine;  /* what we announced */
	uint16_t version;          /* agreed, once the banner is in */
	uint32_t max_msg;          /* largest MSG payload accepted */
	int state;                 /* banner, header, payload, trailer, tag, skip, failed */
	struct msgr__seal *rx;     /* secure mode: opens what follows (owner's); NULL: plain */
	uint8_t their_banner[MSGR__BANNER_LEN]; /* the peer's, as received (the transcript) */
	uint8_t hbuf[MSGR__FRAME_HDR_LEN + 16]; /* banner, header (+ tag) or trailer bytes so far */
	size_t have;               /* bytes of the current part so far */
	struct msgr__frame_hdr hdr;/* the frame being read */
	uint8_t *payload;          /* the owner's buffer for it */
	uint64_t skip;             /* bytes of an oversized MSG still to skip */
	int skipping;              /* the tag being read ends a skipped payload */
	uint32_t crc;              /* running payload CRC */
	enum msgr__dec_err err;    /* why it failed */
};

void msgr__frame_dec_init(struct msgr__frame_dec *d, const struct msgr__banner *mine,
			  uint32_t max_msg, const struct msgr__frame_ops *ops, void *owner);

/* Feed bytes. Returns 0 when all were consumed, or -1 once the decoder has
 * failed (d->err says why; it consumes nothing more after that). An
 * on_frame callback may set d->rx: the frames after that one are opened
 * with it. */
int msgr__frame_dec_feed(struct msgr__frame_dec *d, const void *data, size_t len);

#endif
