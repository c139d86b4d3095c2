/*
 * auth.h - the cluster key and the HMAC-SHA256 proofs daemons exchange in
 * AUTH frames (docs/PROTOCOL.md, section 3).
 *
 * Pure functions over caller-owned buffers; the key lives in the daemon's
 * net state (session.c) and is wiped when that goes.
 */
#ifndef MSGR_DAEMON_AUTH_H
#define MSGR_DAEMON_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define MSGR__KEY_LEN 32
#define MSGR__CHALLENGE_LEN 32
#define MSGR__PROOF_LEN 32

/* Read a keyring written by `msgrctl keygen`: "[cluster]\nkey = <64 hex>".
 * 0, or a negative errno with the reason (naming the file) in err. Refuses
 * a file others may read or write. */
int msgr__keyring_load(const char *path, uint8_t key[MSGR__KEY_LEN], char *err, size_t errlen);

/* The proof a daemon sends: HMAC-SHA256(key, "msgrd-auth-v1" || peer_chal
 * || my_chal || my_addr || peer_addr). The order makes the two directions'
 * proofs differ, so a proof cannot be reflected back at its sender. */
void msgr__auth_proof(const uint8_t key[MSGR__KEY_LEN], const uint8_t peer_chal[MSGR__CHALLENGE_LEN],
		      const uint8_t my_chal[MSGR__CHALLENGE_LEN], const char *my_addr,
		      const char *peer_addr, uint8_t out[MSGR__PROOF_LEN]);

/* 0 if proof is what the peer must have sent (checked in constant time),
 * -EACCES if not. */
int msgr__auth_verify(const uint8_t key[MSGR__KEY_LEN], const uint8_t my_chal[MSGR__CHALLENGE_LEN],
		      const uint8_t peer_chal[MSGR__CHALLENGE_LEN], const char *my_addr,
		      const char *peer_addr, const uint8_t proof[MSGR__PROOF_LEN]);

#endif
