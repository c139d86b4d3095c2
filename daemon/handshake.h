/*
 * handshake.h - what a link's handshake says and checks: the HELLO payload,
 * its range checks, the transcript both proofs cover, and secure mode's
 * per-direction keys (docs/PROTOCOL.md, sections 2 and 3).
 *
 * Pure: no I/O, no state machine (link_state.c decides what happens when;
 * link.c moves the bytes). A struct msgr__handshake is embedded in its link
 * and wiped when the link is freed (msgr__hs_wipe), since it holds a key.
 */
#ifndef MSGR_DAEMON_HANDSHAKE_H
#define MSGR_DAEMON_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "common/addr.h"
#include "frame.h"

/* A HELLO: u64 nonce, u8 auth mode, u32 max message, u64 window, u64 link
 * id, u64 lost link, challenge, u16 length + listen address. */
#define MSGR__HELLO_MAX (8 + 1 + 4 + 8 + 8 + 8 + MSGR__CHALLENGE_LEN + 2 + MSGR__HOSTPORT_MAX)

struct msgr__hello {
	uint64_t nonce;       /* the daemon's instance (nonzero) */
	unsigned auth_mode;   /* MSGR__AUTH_* */
	uint32_t max_msg;     /* its global.max_message */
	uint64_t window;      /* its global.channel_window */
	uint64_t link_id;     /* a dialler's name for the link; 0 from an acceptor */
	uint64_t lost;        /* a dialler's lost link to us (0: none); 0 from an acceptor */
	uint8_t chal[MSGR__CHALLENGE_LEN];
	char listen[MSGR__HOSTPORT_MAX];
};

/* One link's handshake material. Value type, embedded in the link. */
struct msgr__handshake {
	uint8_t mine[MSGR__HELLO_MAX], theirs[MSGR__HELLO_MAX]; /* payloads, for H */
	size_t mine_len, theirs_len;
	uint8_t h[MSGR__HASH_LEN];       /* the transcript's hash, once both HELLOs are in */
	uint8_t dial_key[MSGR__KEY_LEN]; /* secure mode: the dialler's proving key, which
					    both directions' keys come from */
};

/* Encode our HELLO into hs->mine. */
void msgr__hs_hello(struct msgr__handshake *hs, const struct msgr__hello *mine);

/* Decode and range-check the peer's HELLO (outbound: we dialled, so it must
 * name no link), keeping its bytes for the transcript. 0, or -EPROTO with
 * *bad naming the field. */
int msgr__hs_parse(struct msgr__handshake *hs, const uint8_t *p, size_t n, int outbound,
		   struct msgr__hello *theirs, const char **bad);

/* H over both banners and HELLOs, dialler first; their_banner is the
 * peer's as received. */
void msgr__hs_transcript(struct msgr__handshake *hs, int outbound,
			 const uint8_t their_banner[MSGR__BANNER_LEN]);

/* Secure mode's key for the direction `from` sends in, from hs->dial_key. */
int msgr__hs_key(const struct msgr__handshake *hs, enum msgr__role from, uint8_t out[MSGR__KEY_LEN]);

void msgr__hs_wipe(struct msgr__handshake *hs);

#endif
