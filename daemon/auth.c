#include "auth.h"
#include "frame.h"

#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct kctx {
	struct msgr__keyring *kr;
	int found, bad_key, bad_next, dup;
};

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* 0, or -1 if value is not 64 hex digits. */
static int parse_key(const char *value, uint8_t out[MSGR__KEY_LEN])
{
	if (strlen(value) != 2 * MSGR__KEY_LEN)
		return -1;
	for (int i = 0; i < MSGR__KEY_LEN; i++) {
		int hi = hexval(value[2 * i]), lo = hexval(value[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct kctx *k = user;

	if (strcmp(section, "cluster"))
		return 1; /* other sections belong to later versions */
	if (!strcmp(name, "key")) {
		k->dup |= k->found;
		k->found = 1;
		k->bad_key |= parse_key(value, k->kr->key) < 0;
	} else if (!strcmp(name, "next_key")) {
		k->dup |= k->kr->has_next;
		k->kr->has_next = 1;
		k->bad_next |= parse_key(value, k->kr->next) < 0;
	}
	return 1;
}

void msgr__keyring_wipe(struct msgr__keyring *kr)
{
	OPENSSL_cleanse(kr, sizeof(*kr));
}

int msgr__keyring_load(const char *path, struct msgr__keyring *kr, char *err, size_t errlen)
{
	struct kctx k = { .kr = kr };
	struct stat st;
	FILE *f;
	int rc = 0, line;

	memset(kr, 0, sizeof(*kr));
	if (!(f = fopen(path, "re"))) {
		rc = -errno;
		snprintf(err, errlen, "auth.keyring %s: %s (create one with 'msgrctl keygen %s', "
			 "or set auth.mode = none to run without authentication)", path,
			 strerror(errno), path);
		return rc;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0007)) {
		snprintf(err, errlen, "auth.keyring %s: mode %04o lets other users read or write "
			 "the cluster key; chmod o-rwx it", path, (unsigned)(st.st_mode & 07777));
		rc = -EPERM;
		goto out;
	}
	line = ini_parse_file(f, on_key, &k);
	if (line != 0) {
		snprintf(err, errlen, "auth.keyring %s:%d: syntax error", path, line);
		rc = -EINVAL;
	} else if (k.bad_key || !k.found) {
		snprintf(err, errlen, "auth.keyring %s: no [cluster] key = <64 hex digits>", path);
		rc = -EINVAL;
	} else if (k.bad_next) {
		snprintf(err, errlen, "auth.keyring %s: next_key is not 64 hex digits", path);
		rc = -EINVAL;
	} else if (k.dup) {
		snprintf(err, errlen, "auth.keyring %s: key or next_key given twice", path);
		rc = -EINVAL;
	}
out:
	fclose(f);
	if (rc)
		msgr__keyring_wipe(kr);
	return rc;
}

void msgr__auth_transcript(const uint8_t *dial_banner, const uint8_t *acc_banner,
			   const uint8_t *dial_hello, size_t dial_len, const uint8_t *acc_hello,
			   size_t acc_len, uint8_t h[MSGR__HASH_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t len[4];
	unsigned int hlen = MSGR__HASH_LEN;

	/* Lengths go in, so no split of the HELLOs between the two parts
	 * hashes alike. Without a context (out of memory) H is random: the
	 * proofs fail and the link closes, rather than proving over nothing. */
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		RAND_bytes(h, MSGR__HASH_LEN);
		EVP_MD_CTX_free(md);
		return;
	}
	EVP_DigestUpdate(md, dial_banner, 16);
	EVP_DigestUpdate(md, acc_banner, 16);
	msgr__put_uint(len, dial_len, 4);
	EVP_DigestUpdate(md, len, 4);
	EVP_DigestUpdate(md, dial_hello, dial_len);
	msgr__put_uint(len, acc_len, 4);
	EVP_DigestUpdate(md, len, 4);
	EVP_DigestUpdate(md, acc_hello, acc_len);
	EVP_DigestFinal_ex(md, h, &hlen);
	EVP_MD_CTX_free(md);
}

static const char *const proof_label[2] = { "msgrd-v2 dialler proof", "msgrd-v2 acceptor proof" };

void msgr__auth_proof(const uint8_t key[MSGR__KEY_LEN], enum msgr__role role,
		      const uint8_t h[MSGR__HASH_LEN], uint8_t out[MSGR__PROOF_LEN])
{
	uint8_t buf[32 + MSGR__HASH_LEN];
	size_t n = strlen(proof_label[role]);
	unsigned int outlen = MSGR__PROOF_LEN;

	memcpy(buf, proof_label[role], n);
	memcpy(buf + n, h, MSGR__HASH_LEN);
	HMAC(EVP_sha256(), key, MSGR__KEY_LEN, buf, n + MSGR__HASH_LEN, out, &outlen);
}

int msgr__auth_verify(const struct msgr__keyring *kr, enum msgr__role role,
		      const uint8_t h[MSGR__HASH_LEN], const uint8_t proof[MSGR__PROOF_LEN],
		      const uint8_t **used)
{
	uint8_t want[MSGR__PROOF_LEN];
	int rc = -EACCES;

	msgr__auth_proof(kr->key, role, h, want);
	if (!CRYPTO_memcmp(want, proof, MSGR__PROOF_LEN)) {
		*used = kr->key;
		rc = 0;
	} else if (kr->has_next) {
		msgr__auth_proof(kr->next, role, h, want);
		if (!CRYPTO_memcmp(want, proof, MSGR__PROOF_LEN)) {
			*used = kr->next;
			rc = 0;
		}
	}
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

static const char *const derive_info[2] = { "msgrd-v2 dialler to acceptor",
					    "msgrd-v2 acceptor to dialler" };

int msgr__auth_derive(const uint8_t key[MSGR__KEY_LEN], const uint8_t h[MSGR__HASH_LEN],
		      enum msgr__role from, uint8_t out[MSGR__KEY_LEN])
{
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = MSGR__KEY_LEN;
	int rc = -EIO;

	if (!p)
		return -ENOMEM;
	if (EVP_PKEY_derive_init(p) > 0 && EVP_PKEY_CTX_set_hkdf_md(p, EVP_sha256()) > 0 &&
	    EVP_PKEY_CTX_set1_hkdf_salt(p, h, MSGR__HASH_LEN) > 0 &&
	    EVP_PKEY_CTX_set1_hkdf_key(p, key, MSGR__KEY_LEN) > 0 &&
	    EVP_PKEY_CTX_add1_hkdf_info(p, (const unsigned char *)derive_info[from],
					(int)strlen(derive_info[from])) > 0 &&
	    EVP_PKEY_derive(p, out, &outlen) > 0 && outlen == MSGR__KEY_LEN)
		rc = 0;
	EVP_PKEY_CTX_free(p);
	return rc;
}
