#include "seal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

int msgr__seal_init(struct msgr__seal *s, const uint8_t key[32], int encrypt)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	memset(s, 0, sizeof(*s));
	if (!c)
		return -ENOMEM;
	/* the key is expanded once here; each record only sets its nonce */
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL, encrypt) != 1) {
		EVP_CIPHER_CTX_free(c);
		return -EIO;
	}
	s->ctx = c;
	s->encrypt = encrypt;
	s->limit = MSGR__SEAL_MAX_RECORDS;
	return 0;
}

void msgr__seal_fini(struct msgr__seal *s)
{
	EVP_CIPHER_CTX_free(s->ctx); /* cleanses the expanded key */
	memset(s, 0, sizeof(*s));
}

int msgr__seal_begin(struct msgr__seal *s)
{
	uint8_t iv[12] = { 0 };

	if (s->ctr >= s->limit)
		return -E2BIG;
	/* 4 zero bytes, then the counter little-endian (PROTOCOL.md 3a) */
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (uint8_t)(s->ctr >> (8 * i));
	s->ctr++;
	return EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, s->encrypt) == 1 ? 0 : -EIO;
}

int msgr__seal_update(struct msgr__seal *s, uint8_t *out, const uint8_t *in, size_t n)
{
	/* EVP takes int lengths: feed a large payload in pieces */
	while (n) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n, outl;
		if (EVP_CipherUpdate(s->ctx, out, &outl, in, chunk) != 1 || outl != chunk)
			return -EIO;
		out += chunk;
		in += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int msgr__seal_end(struct msgr__seal *s, uint8_t tag[MSGR__TAG_LEN])
{
	uint8_t none[16];
	int outl;

	if (s->encrypt) {
		if (EVP_CipherFinal_ex(s->ctx, none, &outl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, MSGR__TAG_LEN, tag) != 1)
			return -EIO;
		return 0;
	}
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, MSGR__TAG_LEN, tag) != 1)
		return -EIO;
	return EVP_CipherFinal_ex(s->ctx, none, &outl) == 1 ? 0 : -EBADMSG;
}
