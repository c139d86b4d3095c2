/*
 * test_auth - the cluster key file and the HMAC proofs of daemon/auth.c.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/auth.h"
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

START_TEST(test_keyring)
{
	uint8_t key[MSGR__KEY_LEN];
	const char *p;

	p = keyfile("[cluster]\nkey = " HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), 0);
	for (int i = 0; i < MSGR__KEY_LEN; i++)
		ck_assert_uint_eq(key[i], i);
	chmod(p, 0640); /* group-readable, as keygen --group writes it */
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), 0);
	chmod(p, 0644);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "lets other users read or write"));
	unlink(p);

	ck_assert_int_eq(msgr__keyring_load("/nonexistent/k", key, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "msgrctl keygen /nonexistent/k"));

	p = keyfile("[cluster]\nkey = 0001\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no [cluster] key"));
	unlink(p);
	p = keyfile("[cluster]\nkey = " "zz" HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), -EINVAL);
	unlink(p);
	p = keyfile("[other]\nkey = " HEX64 "\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), -EINVAL);
	unlink(p);
	p = keyfile("key without a section\n", 0600);
	ck_assert_int_eq(msgr__keyring_load(p, key, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: syntax error"));
	unlink(p);
}
END_TEST

START_TEST(test_proofs)
{
	uint8_t k1[MSGR__KEY_LEN], k2[MSGR__KEY_LEN], ca[MSGR__CHALLENGE_LEN], cb[MSGR__CHALLENGE_LEN];
	uint8_t pa[MSGR__PROOF_LEN], pb[MSGR__PROOF_LEN];
	const char *A = "10.0.0.1:6800", *B = "10.0.0.2:6800";

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	memset(ca, 0xa, sizeof(ca));
	memset(cb, 0xb, sizeof(cb));
	/* A proves to B and B to A, each over the other's challenge */
	msgr__auth_proof(k1, cb, ca, A, B, pa);
	msgr__auth_proof(k1, ca, cb, B, A, pb);
	ck_assert_int_eq(msgr__auth_verify(k1, cb, ca, B, A, pa), 0);
	ck_assert_int_eq(msgr__auth_verify(k1, ca, cb, A, B, pb), 0);
	/* the two directions differ: a proof sent back at its author fails */
	ck_assert_int_ne(memcmp(pa, pb, sizeof(pa)), 0);
	ck_assert_int_eq(msgr__auth_verify(k1, ca, cb, A, B, pa), -EACCES);
	/* another key, another challenge or another address: refused */
	ck_assert_int_eq(msgr__auth_verify(k2, cb, ca, B, A, pa), -EACCES);
	ca[5] ^= 1;
	ck_assert_int_eq(msgr__auth_verify(k1, cb, ca, B, A, pa), -EACCES);
	ca[5] ^= 1;
	ck_assert_int_eq(msgr__auth_verify(k1, cb, ca, B, "10.0.0.1:6801", pa), -EACCES);
	/* addresses are length-prefixed: moving a byte between them changes it */
	msgr__auth_proof(k1, cb, ca, "10.0.0.1:680", "010.0.0.2:6800", pb);
	ck_assert_int_ne(memcmp(pa, pb, sizeof(pa)), 0);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("auth", &tc);

	tcase_add_test(tc, test_keyring);
	tcase_add_test(tc, test_proofs);
	return unit_run(s);
}
