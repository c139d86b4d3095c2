/*
 * test_auth - the cluster keyring, the transcript and the role-bound HMAC
 * proofs of daemon/auth.c, and secure mode's keys and records (seal.c).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/auth.h"
#include "daemon/seal.h"
#include "tests/unit/unit.h"

static char err[512];

static const char *keyfile(const char *text, mode_t mode)
{
	static char path[64];
	FILE *f;

	strcpy(path, "/tmp/msgr-key-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define HEX64R "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"

START_TEST(test_keyring)
{
	struct msgr__keyring kr;
	const char *p;

	p = keyfile("[cluster]\nkey = " HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), 0);
	for (int i = 0; i < MSGR__KEY_LEN; i++)
		ck_assert_uint_eq(kr.key[i], i);
	ck_assert_int_eq(kr.has_next, 0);
	chmod(p, 0640); /* group-readable, as keygen --group writes it */
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), 0);
	chmod(p, 0644);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "lets other users read or write"));
	unlink(p);

	ck_assert_int_eq(msgr__keyring_load("/nonexistent/k", &kr, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "msgrctl keygen /nonexistent/k"));

	p = keyfile("[cluster]\nkey = 0001\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no [cluster] key"));
	unlink(p);
	p = keyfile("[cluster]\nkey = " "zz" HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	unlink(p);
	p = keyfile("[other]\nkey = " HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	unlink(p);
	p = keyfile("key without a section\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: syntax error"));
	unlink(p);
	/* a next key, for rotation */
	p = keyfile("[cluster]\nkey = " HEX64 "\nnext_key = " HEX64R "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), 0);
	ck_assert_int_eq(kr.has_next, 1);
	ck_assert_uint_eq(kr.next[0], 0x1f);
	ck_assert_uint_eq(kr.key[0], 0);
	unlink(p);
	p = keyfile("[cluster]\nkey = " HEX64 "\nnext_key = 12\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "next_key is not 64 hex digits"));
	ck_assert_int_eq(kr.has_next, 0); /* wiped */
	unlink(p);
	p = keyfile("[cluster]\nkey = " HEX64 "\nkey = " HEX64R "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "given twice"));
	unlink(p);
}
END_TEST

static const uint8_t BD[16] = "MSGRWIRE\2\0\2\0\0\0\0\0", BA[16] = "MSGRWIRE\2\0\2\0\0\0\0\0";
static const uint8_t HD[] = "the dialler's hello", HA[] = "the acceptor's hello";

START_TEST(test_proofs)
{
	struct msgr__keyring kr = { .has_next = 0 }, other = { .has_next = 0 };
	uint8_t h[MSGR__HASH_LEN], h2[MSGR__HASH_LEN], pd[MSGR__PROOF_LEN], pa[MSGR__PROOF_LEN];
	const uint8_t *used = NULL;

	memset(kr.key, 1, sizeof(kr.key));
	memset(other.key, 2, sizeof(other.key));
	msgr__auth_transcript(BD, BA, HD, sizeof(HD), HA, sizeof(HA), h);
	msgr__auth_proof(kr.key, MSGR__ROLE_DIALLER, h, pd);
	msgr__auth_proof(kr.key, MSGR__ROLE_ACCEPTOR, h, pa);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_DIALLER, h, pd, &used), 0);
	ck_assert_ptr_eq(used, kr.key);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_ACCEPTOR, h, pa, &used), 0);
	/* the roles differ: one side's proof is never the other's (the relay
	 * attack of issue 8 used exactly that) */
	ck_assert_int_ne(memcmp(pd, pa, sizeof(pd)), 0);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_ACCEPTOR, h, pd, &used), -EACCES);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_DIALLER, h, pa, &used), -EACCES);
	/* another key: refused */
	ck_assert_int_eq(msgr__auth_verify(&other, MSGR__ROLE_DIALLER, h, pd, &used), -EACCES);
	/* ... unless it is the verifier's next key (rotation) */
	memcpy(other.next, kr.key, sizeof(other.next));
	other.has_next = 1;
	ck_assert_int_eq(msgr__auth_verify(&other, MSGR__ROLE_DIALLER, h, pd, &used), 0);
	ck_assert_ptr_eq(used, other.next);
	/* any change to the transcript: each banner, each HELLO, the order,
	 * or a byte moved between the two HELLOs */
	msgr__auth_transcript(BA, BD, HD, sizeof(HD), HA, sizeof(HA), h2);
	ck_assert_int_eq(memcmp(h, h2, sizeof(h)), 0); /* the banners are equal here */
	msgr__auth_transcript(BD, (const uint8_t *)"MSGRWIRE\2\0\3\0\0\0\0\0", HD, sizeof(HD), HA,
			      sizeof(HA), h2);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_DIALLER, h2, pd, &used), -EACCES);
	msgr__auth_transcript(BD, BA, HA, sizeof(HA), HD, sizeof(HD), h2);
	ck_assert_int_eq(msgr__auth_verify(&kr, MSGR__ROLE_DIALLER, h2, pd, &used), -EACCES);
	msgr__auth_transcript(BD, BA, HD, sizeof(HD) - 1, HD + sizeof(HD) - 1, 1, h2);
	msgr__auth_transcript(BD, BA, HD, sizeof(HD), NULL, 0, h);
	ck_assert_int_ne(memcmp(h, h2, sizeof(h)), 0);
}
END_TEST

/* HKDF gives each direction its own key, from the key and the transcript. */
START_TEST(test_derive)
{
	uint8_t key[MSGR__KEY_LEN], h[MSGR__HASH_LEN], a[32], b[32], c[32];

	memset(key, 7, sizeof(key));
	memset(h, 9, sizeof(h));
	ck_assert_int_eq(msgr__auth_derive(key, h, MSGR__ROLE_DIALLER, a), 0);
	ck_assert_int_eq(msgr__auth_derive(key, h, MSGR__ROLE_ACCEPTOR, b), 0);
	ck_assert_int_ne(memcmp(a, b, 32), 0);
	h[0] ^= 1;
	ck_assert_int_eq(msgr__auth_derive(key, h, MSGR__ROLE_DIALLER, c), 0);
	ck_assert_int_ne(memcmp(a, c, 32), 0);
	h[0] ^= 1;
	ck_assert_int_eq(msgr__auth_derive(key, h, MSGR__ROLE_DIALLER, c), 0);
	ck_assert_int_eq(memcmp(a, c, 32), 0);
}
END_TEST

/* Records seal and open in any split; a flipped bit anywhere, a record out
 * of order, or a used-up counter is refused. */
START_TEST(test_seal)
{
	struct msgr__seal tx, rx;
	uint8_t key[32], msg[3000], ct[3000], pt[3000], tag[MSGR__TAG_LEN], tag2[MSGR__TAG_LEN];

	memset(key, 3, sizeof(key));
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(msgr__seal_init(&tx, key, 1), 0);
	ck_assert_int_eq(msgr__seal_init(&rx, key, 0), 0);
	ck_assert(msgr__seal_on(&tx));
	/* record 0, sealed in two pieces, opened in three */
	ck_assert_int_eq(msgr__seal_begin(&tx), 0);
	ck_assert_int_eq(msgr__seal_update(&tx, ct, msg, 1000), 0);
	ck_assert_int_eq(msgr__seal_update(&tx, ct + 1000, msg + 1000, 2000), 0);
	ck_assert_int_eq(msgr__seal_end(&tx, tag), 0);
	ck_assert_int_ne(memcmp(ct, msg, sizeof(msg)), 0);
	ck_assert_int_eq(msgr__seal_begin(&rx), 0);
	msgr__seal_update(&rx, pt, ct, 1);
	msgr__seal_update(&rx, pt + 1, ct + 1, 2998);
	msgr__seal_update(&rx, pt + 2999, ct + 2999, 1);
	ck_assert_int_eq(msgr__seal_end(&rx, tag), 0);
	ck_assert_int_eq(memcmp(pt, msg, sizeof(msg)), 0);
	/* record 1: the same bytes seal differently (another nonce) */
	ck_assert_int_eq(msgr__seal_begin(&tx), 0);
	ck_assert_int_eq(msgr__seal_update(&tx, pt, msg, sizeof(msg)), 0);
	ck_assert_int_eq(msgr__seal_end(&tx, tag2), 0);
	ck_assert_int_ne(memcmp(pt, ct, sizeof(ct)), 0);
	/* the receiver expects record 1: record 0 replayed fails */
	ck_assert_int_eq(msgr__seal_begin(&rx), 0);
	msgr__seal_update(&rx, pt, ct, sizeof(ct));
	ck_assert_int_eq(msgr__seal_end(&rx, tag), -EBADMSG);
	msgr__seal_fini(&rx);
	/* a flipped bit in the ciphertext or the tag */
	for (int where = 0; where < 2; where++) {
		ck_assert_int_eq(msgr__seal_init(&rx, key, 0), 0);
		ck_assert_int_eq(msgr__seal_begin(&rx), 0);
		uint8_t c2[3000], t2[MSGR__TAG_LEN];
		memcpy(c2, ct, sizeof(c2));
		memcpy(t2, tag, sizeof(t2));
		if (where)
			t2[15] ^= 0x80;
		else
			c2[1234] ^= 1;
		msgr__seal_update(&rx, pt, c2, sizeof(c2));
		ck_assert_int_eq(msgr__seal_end(&rx, t2), -EBADMSG);
		msgr__seal_fini(&rx);
	}
	/* the counter never wraps */
	tx.limit = tx.ctr + 1;
	ck_assert_int_eq(msgr__seal_begin(&tx), 0);
	ck_assert_int_eq(msgr__seal_begin(&tx), -E2BIG);
	msgr__seal_fini(&tx);
	ck_assert(!msgr__seal_on(&tx));
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("auth", &tc);

	tcase_add_test(tc, test_keyring);
	tcase_add_test(tc, test_proofs);
	tcase_add_test(tc, test_derive);
	tcase_add_test(tc, test_seal);
	return unit_run(s);
}
