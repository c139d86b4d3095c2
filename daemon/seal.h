/*
 * seal.h - secure mode's records: AES-256-GCM with a counter nonce, one
 * direction of one link (docs/PROTOCOL.md, section 3a).
 *
 * A record is sealed or opened in pieces (begin, update..., end), so a
 * payload can be encrypted straight from where it lies into the frame
 * buffer, and decrypted as a transport delivers it, in any split. Nothing
 * opened may be acted on before end() has checked its tag.
 *
 * Ownership: a struct msgr__seal is embedded in its link and owns its
 * cipher context from msgr__seal_init() to msgr__seal_fini(). Loop thread
 * only; not shared between links or directions.
 */
#ifndef MSGR_DAEMON_SEAL_H
#define MSGR_DAEMON_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define MSGR__TAG_LEN 16
/* Records one key may seal. The counter is the nonce, so it must never
 * wrap; a link that gets here is closed and dialled anew, with new keys,
 * long before 2^64. */
#define MSGR__SEAL_MAX_RECORDS (1ull << 48)

struct msgr__seal {
	void *ctx;        /* EVP_CIPHER_CTX, owned; NULL: not in use */
	uint64_t ctr;     /* the next record's nonce */
	uint64_t limit;   /* records allowed (MSGR__SEAL_MAX_RECORDS; tests lower it) */
	int encrypt;      /* seals (1) or opens (0) */
};

/* Key the direction. 0, -ENOMEM or -EIO. */
int msgr__seal_init(struct msgr__seal *s, const uint8_t key[32], int encrypt);
void msgr__seal_fini(struct msgr__seal *s);
static inline int msgr__seal_on(const struct msgr__seal *s)
{
	return s->ctx != 0;
}

/* Start the next record. 0, or -E2BIG once the counter is used up. */
int msgr__seal_begin(struct msgr__seal *s);
/* n bytes from in to out (which may be the same place). */
int msgr__seal_update(struct msgr__seal *s, uint8_t *out, const uint8_t *in, size_t n);
/* Sealing: write the tag. Opening: check it; -EBADMSG if it does not
 * match, and then nothing of the record may be used. */
int msgr__seal_end(struct msgr__seal *s, uint8_t tag[MSGR__TAG_LEN]);

#endif
