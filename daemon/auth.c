#include "auth.h"

#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LABEL "msgrd-auth-v1"

struct kctx {
	uint8_t *key;
	int found, bad;
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

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct kctx *k = user;

	if (strcmp(section, "cluster") || strcmp(name, "key"))
		return 1; /* other sections belong to later versions */
	if (strlen(value) != 2 * MSGR__KEY_LEN) {
		k->bad = 1;
		return 1;
	}
	for (int i = 0; i < MSGR__KEY_LEN; i++) {
		int hi = hexval(value[2 * i]), lo = hexval(value[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			k->bad = 1;
			return 1;
		}
		k->key[i] = (uint8_t)(hi << 4 | lo);
	}
	k->found = 1;
	return 1;
}

int msgr__keyring_load(const char *path, uint8_t key[MSGR__KEY_LEN], char *err, size_t errlen)
{
	struct kctx k = { .key = key };
	struct stat st;
	FILE *f = fopen(path, "re");
	int rc = 0, line;

	if (!f) {
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
	} else if (k.bad || !k.found) {
		snprintf(err, errlen, "auth.keyring %s: no [cluster] key = <64 hex digits>", path);
		rc = -EINVAL;
	}
out:
	fclose(f);
	if (rc)
		OPENSSL_cleanse(key, MSGR__KEY_LEN);
	return rc;
}

static void mac(const uint8_t key[MSGR__KEY_LEN], const uint8_t *c1, const uint8_t *c2,
		const char *a1, const char *a2, uint8_t out[MSGR__PROOF_LEN])
{
	/* Lengths go in too, so "a:1"+"2" and "a:12"+"" cannot collide. */
	uint8_t buf[sizeof(LABEL) + 2 * MSGR__CHALLENGE_LEN + 4 + 2 * 256];
	size_t n = 0, l1 = strnlen(a1, 255), l2 = strnlen(a2, 255);
	unsigned int outlen = MSGR__PROOF_LEN;

	memcpy(buf, LABEL, sizeof(LABEL) - 1);
	n = sizeof(LABEL) - 1;
	memcpy(buf + n, c1, MSGR__CHALLENGE_LEN);
	n += MSGR__CHALLENGE_LEN;
	memcpy(buf + n, c2, MSGR__CHALLENGE_LEN);
	n += MSGR__CHALLENGE_LEN;
	buf[n++] = (uint8_t)l1;
	memcpy(buf + n, a1, l1);
	n += l1;
	buf[n++] = (uint8_t)l2;
	memcpy(buf + n, a2, l2);
	n += l2;
	HMAC(EVP_sha256(), key, MSGR__KEY_LEN, buf, n, out, &outlen);
}

void msgr__auth_proof(const uint8_t key[MSGR__KEY_LEN], const uint8_t peer_chal[MSGR__CHALLENGE_LEN],
		      const uint8_t my_chal[MSGR__CHALLENGE_LEN], const char *my_addr,
		      const char *peer_addr, uint8_t out[MSGR__PROOF_LEN])
{
	mac(key, peer_chal, my_chal, my_addr, peer_addr, out);
}

int msgr__auth_verify(const uint8_t key[MSGR__KEY_LEN], const uint8_t my_chal[MSGR__CHALLENGE_LEN],
		      const uint8_t peer_chal[MSGR__CHALLENGE_LEN], const char *my_addr,
		      const char *peer_addr, const uint8_t proof[MSGR__PROOF_LEN])
{
	uint8_t want[MSGR__PROOF_LEN];
	int rc;

	/* what the peer computed from its side: our challenge is its peer's */
	mac(key, my_chal, peer_chal, peer_addr, my_addr, want);
	rc = CRYPTO_memcmp(want, proof, MSGR__PROOF_LEN) ? -EACCES : 0;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
