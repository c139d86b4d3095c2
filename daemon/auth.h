/*
 * auth.h - the cluster keyring, the handshake transcript and the proofs
 * daemons exchange in AUTH frames, and the per-direction keys of secure
 * mode (docs/PROTOCOL.md, sections 3 and 3a).
 *
 * Pure functions over caller-owned buffers. The keyring lives in the
 * daemon's net state (session.c) and is wiped (msgr__keyring_wipe) when
 * that goes; nothing here keeps a copy of a key.
 */
#ifndef MSGR_DAEMON_AUTH_H
#define MSGR_DAEMON_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define MSGR__KEY_LEN 32
#define MSGR__CHALLENGE_LEN 32
#define MSGR__PROOF_LEN 32
#define MSGR__HASH_LEN 32

/* The keys of a keyring file: the current one, which this daemon proves
 * with, and optionally the next one, which it also accepts, so that a
 * cluster can change its key one host at a time. */
struct msgr__keyring {
	uint8_t key[MSGR__KEY_LEN];
	uint8_t next[MSGR__KEY_LEN];
	int has_next;
};

/* Read a keyring written by `msgrctl keygen`: "[cluster]\nkey = <64 hex>",
 * and optionally "next_key = <64 hex>". 0, or a negative errno with the
 * reason (naming the file) in err. Refuses a file others may read or
 * write. On error kr is wiped. */
int msgr__keyring_load(const char *path, struct msgr__keyring *kr, char *err, size_t errlen);
void msgr__keyring_wipe(struct msgr__keyring *kr);

/* Which side of the link a proof speaks for. */
enum msgr__role { MSGR__ROLE_DIALLER = 0, MSGR__ROLE_ACCEPTOR = 1 };

/* H = SHA-256(dialler's banner || acceptor's banner || u32 length ||
 * dialler's HELLO payload || u32 length || acceptor's HELLO payload). */
void msgr__auth_transcript(const uint8_t *dial_banner, const uint8_t *acc_banner,
			   const uint8_t *dial_hello, size_t dial_len, const uint8_t *acc_hello,
			   size_t acc_len, uint8_t h[MSGR__HASH_LEN]);

/* The proof the side in role sends: HMAC-SHA256(key, "msgrd-v2 dialler
 * proof" or "msgrd-v2 acceptor proof" || H). */
void msgr__auth_proof(const uint8_t key[MSGR__KEY_LEN], enum msgr__role role,
		      const uint8_t h[MSGR__HASH_LEN], uint8_t out[MSGR__PROOF_LEN]);

/* Check a proof the peer, in role, made over h with either key of kr (in
 * constant time). 0 with *used set to the key that made it, or -EACCES. */
int msgr__auth_verify(const struct msgr__keyring *kr, enum msgr__role role,
		      const uint8_t h[MSGR__HASH_LEN], const uint8_t proof[MSGR__PROOF_LEN],
		      const uint8_t **used);

/* Secure mode's key for one direction: HKDF-SHA256 with the dialler's
 * proving key as input, H as salt, and the direction as info. 0, or
 * -EIO if libcrypto fails. */
int msgr__auth_derive(const uint8_t key[MSGR__KEY_LEN], const uint8_t h[MSGR__HASH_LEN],
		      enum msgr__role from, uint8_t out[MSGR__KEY_LEN]);

#endif
