/* Unit tests for transports/rdma_engine.c: the hello and the per-SEND
 * header against tables of bytes written out here, the credit rules by an
 * exhaustive search (rdma_credit_model.h) and by random simulation, and a
 * link's data path, faults and teardown over a shim's ops table. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/rdma_credit_model.h"
#include "tests/unit/unit.h"
#include "transports/rdma_engine.h"
#include "transports/rdma_fake.h"

#define MIB (1u << 20)

static int quick; /* MSGR_QUICK: sanitizer builds run less */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ================================================================ hello */

/* A hello's bytes as written out by hand, not by the encoder under test. */
static size_t hello_raw(uint8_t *b, size_t cap, const char *magic, uint8_t ver, uint8_t len,
			uint16_t k, uint32_t w, uint32_t sz)
{
	memset(b, 0, cap);
	memcpy(b, magic, 4);
	b[4] = ver;
	b[5] = len;
	b[6] = (uint8_t)k;
	b[7] = (uint8_t)(k >> 8);
	for (int i = 0; i < 4; i++) {
		b[8 + i] = (uint8_t)(w >> (8 * i));
		b[12 + i] = (uint8_t)(sz >> (8 * i));
	}
	return cap;
}

struct hello_case {
	const char *name;
	const char *magic;
	uint8_t ver, len;
	uint16_t k;
	uint32_t w, sz;
	size_t buflen; /* bytes handed to decode (the buffer is zero-filled past 16) */
	const char *want; /* NULL: accepted; else a word the refusal must contain */
};

static const struct hello_case hello_cases[] = {
	{ "smallest", "MRdm", 1, 16, 1, 1, 4096, 16, NULL },
	{ "largest", "MRdm", 1, 16, 64, 1024, 1u << 20, 16, NULL },
	{ "ours", "MRdm", 1, 16, 3, 256, 65536, 16, NULL },
	{ "padded to connect's 56", "MRdm", 1, 16, 3, 8, 8192, 56, NULL },
	{ "padded to accept's 196", "MRdm", 1, 16, 3, 8, 8192, 196, NULL },
	{ "a later revision's 40", "MRdm", 1, 40, 3, 8, 8192, 56, NULL },
	{ "a later revision's 56", "MRdm", 1, 56, 3, 8, 8192, 56, NULL },
	{ "empty", "MRdm", 1, 16, 3, 8, 8192, 0, "short" },
	{ "five bytes", "MRdm", 1, 16, 3, 8, 8192, 5, "short" },
	{ "fifteen bytes", "MRdm", 1, 16, 3, 8, 8192, 15, "short" },
	{ "magic", "MRdM", 1, 16, 3, 8, 8192, 16, "magic" },
	{ "magic, all zero", "\0\0\0\0", 1, 16, 3, 8, 8192, 56, "magic" },
	{ "version 0", "MRdm", 0, 16, 3, 8, 8192, 16, "version" },
	{ "version 2", "MRdm", 2, 16, 3, 8, 8192, 16, "version" },
	{ "version 255", "MRdm", 255, 16, 3, 8, 8192, 56, "version" },
	{ "length 0", "MRdm", 1, 0, 3, 8, 8192, 56, "length" },
	{ "length 15", "MRdm", 1, 15, 3, 8, 8192, 56, "length" },
	{ "length past the buffer", "MRdm", 1, 57, 3, 8, 8192, 56, "length" },
	{ "length past 16 received", "MRdm", 1, 17, 3, 8, 8192, 16, "length" },
	{ "ctrl_depth 0", "MRdm", 1, 16, 0, 8, 8192, 16, "ctrl_depth" },
	{ "ctrl_depth 65", "MRdm", 1, 16, 65, 8, 8192, 16, "ctrl_depth" },
	{ "ctrl_depth 65535", "MRdm", 1, 16, 65535, 8, 8192, 16, "ctrl_depth" },
	{ "recv_depth 0", "MRdm", 1, 16, 3, 0, 8192, 16, "recv_depth" },
	{ "recv_depth 1025", "MRdm", 1, 16, 3, 1025, 8192, 16, "recv_depth" },
	{ "recv_depth huge", "MRdm", 1, 16, 3, 0xffffffffu, 8192, 16, "recv_depth" },
	{ "recv_size 0", "MRdm", 1, 16, 3, 8, 0, 16, "recv_size" },
	{ "recv_size 4095", "MRdm", 1, 16, 3, 8, 4095, 16, "recv_size" },
	{ "recv_size 1 MiB + 1", "MRdm", 1, 16, 3, 8, (1u << 20) + 1, 16, "recv_size" },
};

START_TEST(hello_table)
{
	for (size_t i = 0; i < sizeof(hello_cases) / sizeof(hello_cases[0]); i++) {
		const struct hello_case *c = &hello_cases[i];
		uint8_t b[MSGR__RSHIM_PDATA_ACCEPT];
		struct msgr__rdma_hello h = { 77, 77, 77, 77 };
		char err[160] = "";
		int rc;

		hello_raw(b, sizeof(b), c->magic, c->ver, c->len, c->k, c->w, c->sz);
		/* What a later revision adds, and padding that is not zero:
		 * both must be ignored. */
		for (size_t j = 16; j < sizeof(b); j++)
			b[j] = (uint8_t)(0xa5 ^ j);
		rc = msgr__rdma_hello_decode(&h, b, c->buflen, err, sizeof(err));
		if (!c->want) {
			ck_assert_msg(rc == 0, "%s: refused: %s", c->name, err);
			ck_assert_uint_eq(h.version, 1);
			ck_assert_uint_eq(h.ctrl_depth, c->k);
			ck_assert_uint_eq(h.recv_depth, c->w);
			ck_assert_uint_eq(h.recv_size, c->sz);
		} else {
			ck_assert_msg(rc == -EPROTO, "%s: rc %d", c->name, rc);
			ck_assert_msg(strstr(err, c->want) != NULL, "%s: \"%s\" does not name %s",
				      c->name, err, c->want);
			ck_assert_msg(h.version == 77 && h.recv_depth == 77,
				      "%s: a refused hello was written out", c->name);
		}
	}
	/* A NULL or empty err line is allowed. */
	ck_assert_int_eq(msgr__rdma_hello_decode(&(struct msgr__rdma_hello){ 0 }, (const uint8_t *)"x",
						 1, NULL, 0),
			 -EPROTO);
}
END_TEST

START_TEST(hello_round_trip)
{
	static const struct msgr__rdma_hello hs[] = {
		{ 1, 3, 1, 4096 }, { 1, 3, 1024, 1u << 20 }, { 1, 64, 513, 70000 }, { 1, 1, 7, 4097 },
	};
	uint8_t b[MSGR__RSHIM_PDATA_CONNECT], want[MSGR__RSHIM_PDATA_CONNECT];
	char err[128];

	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		struct msgr__rdma_hello out;

		memset(b, 0xee, sizeof(b));
		ck_assert_int_eq(msgr__rdma_hello_encode(&hs[i], b, sizeof(b)), MSGR__RDMA_HELLO_LEN);
		/* the bytes, and nothing past them */
		hello_raw(want, sizeof(want), "MRdm", 1, 16, hs[i].ctrl_depth, hs[i].recv_depth,
			  hs[i].recv_size);
		ck_assert_mem_eq(b, want, 16);
		ck_assert_uint_eq(b[16], 0xee);
		/* rdma_cm pads private data with zeros */
		memset(b + 16, 0, sizeof(b) - 16);
		ck_assert_int_eq(msgr__rdma_hello_decode(&out, b, sizeof(b), err, sizeof(err)), 0);
		ck_assert_uint_eq(out.version, 1);
		ck_assert_uint_eq(out.ctrl_depth, hs[i].ctrl_depth);
		ck_assert_uint_eq(out.recv_depth, hs[i].recv_depth);
		ck_assert_uint_eq(out.recv_size, hs[i].recv_size);
	}
	ck_assert_int_eq(msgr__rdma_hello_encode(&hs[0], b, 15), -ENOSPC);
	ck_assert_int_eq(msgr__rdma_hello_encode(&hs[0], b, 16), 16);
}
END_TEST

/* ================================================================ header */

struct hdr_case {
	const char *name;
	uint8_t b[12];
	size_t len;
	const char *want; /* NULL: accepted */
	uint8_t type;
	uint16_t dret, cret;
};

static const struct hdr_case hdr_cases[] = {
	{ "DATA, 1 byte", { 1, 0, 0, 0, 0, 0, 0, 0, 'x' }, 9, NULL, 1, 0, 0 },
	{ "DATA with returns", { 1, 0, 0x34, 0x12, 3, 0, 0, 0, 'x', 'y' }, 10, NULL, 1, 0x1234, 3 },
	{ "CREDIT", { 2, 0, 0, 4, 0xff, 0xff, 0, 0 }, 8, NULL, 2, 0x400, 0xffff },
	{ "CREDIT, none returned", { 2, 0, 0, 0, 0, 0, 0, 0 }, 8, NULL, 2, 0, 0 },
	{ "empty", { 0 }, 0, "short", 0, 0, 0 },
	{ "seven bytes", { 2, 0, 0, 0, 0, 0, 0 }, 7, "short", 0, 0, 0 },
	{ "type 0", { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, "type", 0, 0, 0 },
	{ "type 3", { 3, 0, 0, 0, 0, 0, 0, 0, 1 }, 9, "type", 0, 0, 0 },
	{ "type 255", { 255, 0, 0, 0, 0, 0, 0, 0, 1 }, 9, "type", 0, 0, 0 },
	{ "reserved byte 1", { 1, 1, 0, 0, 0, 0, 0, 0, 1 }, 9, "reserved", 0, 0, 0 },
	{ "reserved byte 6", { 2, 0, 0, 0, 0, 0, 0x80, 0 }, 8, "reserved", 0, 0, 0 },
	{ "reserved byte 7", { 2, 0, 0, 0, 0, 0, 0, 1 }, 8, "reserved", 0, 0, 0 },
	{ "DATA without payload", { 1, 0, 1, 0, 0, 0, 0, 0 }, 8, "without payload", 0, 0, 0 },
	{ "CREDIT with payload", { 2, 0, 1, 0, 0, 0, 0, 0, 9 }, 9, "with", 0, 0, 0 },
};

START_TEST(hdr_table)
{
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct msgr__rdma_hdr h = { 0 };
		char err[128] = "";
		int rc = msgr__rdma_hdr_decode(&h, c->b, c->len, err, sizeof(err));

		if (!c->want) {
			ck_assert_msg(rc == 0, "%s: refused: %s", c->name, err);
			ck_assert_uint_eq(h.type, c->type);
			ck_assert_uint_eq(h.data_ret, c->dret);
			ck_assert_uint_eq(h.ctrl_ret, c->cret);
		} else {
			ck_assert_msg(rc == -EPROTO, "%s: rc %d", c->name, rc);
			ck_assert_msg(strstr(err, c->want) != NULL, "%s: \"%s\" does not say %s", c->name,
				      err, c->want);
		}
	}
}
END_TEST

START_TEST(hdr_round_trip)
{
	static const struct msgr__rdma_hdr hs[] = {
		{ MSGR__RDMA_DATA, 0, 0 }, { MSGR__RDMA_DATA, 1024, 3 }, { MSGR__RDMA_CREDIT, 513, 0 },
		{ MSGR__RDMA_CREDIT, 0xffff, 0xffff },
	};

	for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		uint8_t b[MSGR__RDMA_HDR_LEN + 1] = { 0 };
		struct msgr__rdma_hdr out;

		msgr__rdma_hdr_encode(&hs[i], b);
		ck_assert_uint_eq(b[0], hs[i].type);
		ck_assert_uint_eq(b[1] | b[6] | b[7], 0);
		ck_assert_uint_eq(b[2] | b[3] << 8, hs[i].data_ret);
		ck_assert_uint_eq(b[4] | b[5] << 8, hs[i].ctrl_ret);
		ck_assert_int_eq(msgr__rdma_hdr_decode(&out, b, hs[i].type == MSGR__RDMA_DATA ? 9 : 8,
						       NULL, 0),
				 0);
		ck_assert_uint_eq(out.type, hs[i].type);
		ck_assert_uint_eq(out.data_ret, hs[i].data_ret);
		ck_assert_uint_eq(out.ctrl_ret, hs[i].ctrl_ret);
	}
}
END_TEST

/* ================================================================ credits */

START_TEST(credits_unit)
{
	struct msgr__rdma_credits c, before;
	struct msgr__rdma_hdr h, data = { MSGR__RDMA_DATA, 0, 0 }, cred = { MSGR__RDMA_CREDIT, 0, 0 };
	char err[160];

	/* W 4 ours, K 3; the peer's W 2, K 3 */
	msgr__rdma_cr_init(&c, 4, 3, 2, 3);
	ck_assert_uint_eq(c.tx_data, 2);
	ck_assert_uint_eq(c.tx_ctrl, 3);
	ck_assert_uint_eq(c.thresh, 3);
	ck_assert(msgr__rdma_cr_can_send(&c, MSGR__RDMA_DATA));
	ck_assert(!msgr__rdma_cr_want_credit(&c));

	/* Four DATA fill our window; a fifth overruns it, and the refusal
	 * changes nothing. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &data, err, sizeof(err)), 0);
	before = c;
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &data, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "overran"));
	ck_assert_mem_eq(&c, &before, sizeof(c));

	/* Rule A: T = 3 reposted. */
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
	ck_assert(!msgr__rdma_cr_want_credit(&c));
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
	ck_assert(msgr__rdma_cr_want_credit(&c));
	msgr__rdma_cr_take(&c, MSGR__RDMA_CREDIT, &h);
	ck_assert_uint_eq(h.type, MSGR__RDMA_CREDIT);
	ck_assert_uint_eq(h.data_ret, 3);
	ck_assert_uint_eq(h.ctrl_ret, 0);
	ck_assert_uint_eq(c.held_data, 1);
	ck_assert_uint_eq(c.owe_data, 0);
	ck_assert_uint_eq(c.tx_ctrl, 2);

	/* A repost of something never held is ignored, not counted. */
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
	ck_assert_uint_eq(c.owe_data, 1);
	msgr__rdma_cr_reposted(&c, MSGR__RDMA_CREDIT);
	ck_assert_uint_eq(c.owe_ctrl, 0);

	/* Rule B: K control receives owed. */
	for (int i = 0; i < 3; i++) {
		ck_assert(!msgr__rdma_cr_want_credit(&c));
		ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &cred, err, sizeof(err)), 0);
		msgr__rdma_cr_reposted(&c, MSGR__RDMA_CREDIT);
	}
	ck_assert(msgr__rdma_cr_want_credit(&c));
	/* ... a fourth CREDIT before we return any overruns our K */
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &cred, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "overran"));
	ck_assert_ptr_nonnull(strstr(err, "control"));
	/* ... and with no control credit of ours, no CREDIT is wanted */
	c.tx_ctrl = 0;
	ck_assert(!msgr__rdma_cr_want_credit(&c));
	ck_assert(!msgr__rdma_cr_can_send(&c, MSGR__RDMA_CREDIT));
	c.tx_ctrl = 2;

	/* A DATA takes a data credit and carries every return. */
	msgr__rdma_cr_take(&c, MSGR__RDMA_DATA, &h);
	ck_assert_uint_eq(h.type, MSGR__RDMA_DATA);
	ck_assert_uint_eq(h.data_ret, 1);
	ck_assert_uint_eq(h.ctrl_ret, 3);
	ck_assert_uint_eq(c.tx_data, 1);
	ck_assert_uint_eq(c.held_ctrl, 0);

	/* Returns: at most what is outstanding (1 data, 1 control). */
	before = c;
	data.data_ret = 2;
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &data, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "never used"));
	ck_assert_mem_eq(&c, &before, sizeof(c));
	cred.ctrl_ret = 2;
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &cred, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "never used"));
	data.data_ret = 1;
	data.ctrl_ret = 1;
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &data, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.tx_data, 2);
	ck_assert_uint_eq(c.tx_ctrl, 3);
	/* an unknown type is refused too */
	h.type = 9;
	ck_assert_int_eq(msgr__rdma_cr_on_recv(&c, &h, err, sizeof(err)), -EPROTO);

	/* Thresholds: T = W/2 + 1. */
	msgr__rdma_cr_init(&c, 1, 3, 1, 3);
	ck_assert_uint_eq(c.thresh, 1);
	msgr__rdma_cr_init(&c, 1024, 3, 1, 3);
	ck_assert_uint_eq(c.thresh, 513);
}
END_TEST

/* ================================================================ credits: search */

struct search_total {
	uint64_t states, edges, runs;
	unsigned worst; /* most standalone CREDITs in one complete run */
};

static void search_one(struct search_total *t, uint32_t wa, uint32_t wb, uint32_t ka, uint32_t kb,
		       uint8_t ma, uint8_t mb)
{
	struct cm_conf cf = { { wa, wb }, { ka, kb }, { ma, mb }, { 0, 0 } };
	struct cm_result r;

	cm_search(&cf, &r);
	ck_assert_msg(r.ok, "W %u/%u K %u/%u msgs %u/%u: %s", wa, wb, ka, kb, ma, mb, r.why);
	/* Every run ends with every message delivered: at least one end. */
	ck_assert_uint_gt(r.terminal, 0);
	t->states += r.states;
	t->edges += r.edges;
	t->runs++;
	if (r.max_credits > t->worst)
		t->worst = r.max_credits;
	/* A CREDIT answers T reposts or K CREDITs; with K = 3 the two
	 * together come to at most 3/2 CREDIT per data message, plus one
	 * (rule B's last). The search's worst case must stay inside. */
	ck_assert_msg(2 * r.max_credits <= 3u * (ma + mb) + 2,
		      "W %u/%u msgs %u/%u: %u CREDITs in one run", wa, wb, ma, mb, r.max_credits);
}

START_TEST(credits_search)
{
	struct search_total t = { 0 };
	unsigned deep = quick ? 4 : 5;

	/* Every window pair 1..4 (both sides, and different per side), K = 3,
	 * and every amount of data 0..3 each way: the runs where one side
	 * only receives have their own ends, so each pair is its own search. */
	for (uint32_t wa = 1; wa <= 4; wa++)
		for (uint32_t wb = 1; wb <= 4; wb++)
			for (uint8_t ma = 0; ma <= 3; ma++)
				for (uint8_t mb = 0; mb <= 3; mb++)
					search_one(&t, wa, wb, 3, 3, ma, mb);
	/* Longer runs: windows wrap several times. */
	search_one(&t, 1, 1, 3, 3, 8, 8);
	search_one(&t, 1, 2, 3, 3, 7, 7);
	search_one(&t, 2, 2, 3, 3, 6, 6);
	search_one(&t, 4, 1, 3, 3, (uint8_t)deep, (uint8_t)deep);
	search_one(&t, 3, 4, 3, 3, (uint8_t)deep, 2);
	search_one(&t, 1, 1, 3, 3, 12, 0);
	printf("rdma credit search, K 3: W 1..4 x 1..4, 0..3 messages each way and %u to 12 in "
	       "longer runs: %llu searches, %llu states, %llu steps; no count out of its window, no "
	       "RNR, every end delivered, no cycle; at most %u standalone CREDITs in a run\n",
	       deep, (unsigned long long)t.runs, (unsigned long long)t.states,
	       (unsigned long long)t.edges, t.worst);

	/* A peer of another version may ask for fewer control receives; ours
	 * stays 3, and rule B's 1-in-3 keeps any chase from closing. */
	memset(&t, 0, sizeof(t));
	for (uint32_t kb = 1; kb <= 2; kb++)
		for (uint32_t wa = 1; wa <= 3; wa++)
			for (uint32_t wb = 1; wb <= 3; wb++)
				search_one(&t, wa, wb, 3, kb, 3, 3);
	printf("rdma credit search, K 3 against a peer's K 1..2: %llu states, no violation\n",
	       (unsigned long long)t.states);
}
END_TEST

/* The search finds what it is there to find: broken rules. */
START_TEST(credits_search_finds_faults)
{
	struct cm_conf cf;
	struct cm_result r;

	/* K = 1 on both sides: rule B answers each CREDIT with a CREDIT. */
	cf = (struct cm_conf){ { 1, 1 }, { 1, 1 }, { 1, 0 }, { 0, 0 } };
	cm_search(&cf, &r);
	ck_assert(!r.ok);
	ck_assert_msg(strstr(r.why, "cycle") != NULL, "%s", r.why);

	/* A threshold past W: rule A never fires, and a one-way sender waits
	 * forever for credits the receiver never returns. */
	cf = (struct cm_conf){ { 2, 2 }, { 3, 3 }, { 3, 0 }, { 3, 3 } };
	cm_search(&cf, &r);
	ck_assert(!r.ok);
	ck_assert_msg(strstr(r.why, "deadlock") != NULL, "%s", r.why);
}
END_TEST

/* ================================================================ credits: random simulation */

struct sim_side {
	struct msgr__rdma_credits c;
	uint64_t future, queued;        /* messages yet to queue, queued and unsent */
	struct msgr__rdma_hdr *q;       /* SENDs in flight from this side, a ring */
	uint32_t qh, qn, qcap;
	uint64_t fly_d, fly_c;          /* DATA and CREDITs in q */
	uint64_t ret_d, ret_c;          /* returns carried in q */
	uint64_t credits, reposts;      /* standalone CREDITs sent, DATA receives reposted */
};

/* Plain ifs, not ck_assert: Check records every assertion it passes,
 * which at a million steps is most of the test's time. */
static void sim_check(struct sim_side s[2], uint32_t w[2], uint32_t k[2], uint64_t step)
{
	for (int i = 0; i < 2; i++) {
		struct msgr__rdma_credits *me = &s[i].c, *pe = &s[!i].c;

		if (!(me->tx_data <= w[!i] && me->tx_ctrl <= k[!i] && me->held_data <= w[i] &&
		      me->held_ctrl <= k[i] && me->owe_data <= me->held_data &&
		      me->owe_ctrl <= me->held_ctrl))
			ck_abort_msg("step %llu: a count past its window", (unsigned long long)step);
		if (me->tx_data + s[i].fly_d + pe->held_data + s[!i].ret_d != w[!i] ||
		    me->tx_ctrl + s[i].fly_c + pe->held_ctrl + s[!i].ret_c != k[!i])
			ck_abort_msg("step %llu: credits do not add up", (unsigned long long)step);
		if (s[i].qn > w[!i] + k[!i] - (pe->held_data - pe->owe_data) -
				      (pe->held_ctrl - pe->owe_ctrl))
			ck_abort_msg("step %llu: RNR", (unsigned long long)step);
	}
}

/* One run: random windows' sides, messages, and a random schedule, with
 * the reader of each side fast or slow. Returns the steps taken. */
static uint64_t sim_run(uint32_t wa, uint32_t wb, uint64_t ma, uint64_t mb, int slow_a, int slow_b)
{
	uint32_t w[2] = { wa, wb }, k[2] = { MSGR__RDMA_CTRL_DEPTH, MSGR__RDMA_CTRL_DEPTH };
	int slow[2] = { slow_a, slow_b };
	struct sim_side s[2];
	uint64_t step = 0;
	char err[160];

	memset(s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		msgr__rdma_cr_init(&s[i].c, w[i], k[i], w[!i], k[!i]);
		s[i].future = i ? mb : ma;
		s[i].qcap = w[!i] + k[!i];
		s[i].q = calloc(s[i].qcap, sizeof(*s[i].q));
		ck_assert_ptr_nonnull(s[i].q);
	}
	for (;;) {
		/* steps: side * 4 + (0 queue, 1 pump, 2 repost, 3 deliver) */
		int en[8], wt[8], n = 0, tot = 0, pick;

		for (int i = 0; i < 2; i++) {
			struct sim_side *me = &s[i];
			int can_pump = (me->queued && msgr__rdma_cr_can_send(&me->c, MSGR__RDMA_DATA)) ||
				       msgr__rdma_cr_want_credit(&me->c);

			if (me->future)
				en[n] = i * 4, wt[n++] = 4;
			if (can_pump)
				en[n] = i * 4 + 1, wt[n++] = 8;
			if (me->c.held_data > me->c.owe_data)
				en[n] = i * 4 + 2, wt[n++] = slow[i] ? 1 : 8;
			if (s[!i].qn)
				en[n] = i * 4 + 3, wt[n++] = 8;
		}
		if (!n)
			break;
		for (int j = 0; j < n; j++)
			tot += wt[j];
		pick = (int)(rnd() % (uint64_t)tot);
		for (n = 0; pick >= wt[n]; n++)
			pick -= wt[n];
		int i = en[n] / 4;
		struct sim_side *me = &s[i], *pe = &s[!i];
		struct msgr__rdma_hdr h;

		switch (en[n] % 4) {
		case 0:
			me->future--;
			me->queued++;
			break;
		case 1:
			if (me->queued && msgr__rdma_cr_can_send(&me->c, MSGR__RDMA_DATA)) {
				msgr__rdma_cr_take(&me->c, MSGR__RDMA_DATA, &h);
				me->queued--;
				me->fly_d++;
			} else {
				if (!msgr__rdma_cr_can_send(&me->c, MSGR__RDMA_CREDIT))
					ck_abort_msg("want_credit without a control credit");
				msgr__rdma_cr_take(&me->c, MSGR__RDMA_CREDIT, &h);
				me->credits++;
				me->fly_c++;
			}
			if (me->qn >= me->qcap)
				ck_abort_msg("more SENDs in flight than receives");
			me->q[(me->qh + me->qn++) % me->qcap] = h;
			me->ret_d += h.data_ret;
			me->ret_c += h.ctrl_ret;
			break;
		case 2:
			msgr__rdma_cr_reposted(&me->c, MSGR__RDMA_DATA);
			me->reposts++;
			break;
		case 3:
			h = pe->q[pe->qh];
			pe->qh = (pe->qh + 1) % pe->qcap;
			pe->qn--;
			pe->ret_d -= h.data_ret;
			pe->ret_c -= h.ctrl_ret;
			if (h.type == MSGR__RDMA_DATA)
				pe->fly_d--;
			else
				pe->fly_c--;
			if (msgr__rdma_cr_on_recv(&me->c, &h, err, sizeof(err)) != 0)
				ck_abort_msg("%s", err);
			if (h.type == MSGR__RDMA_CREDIT)
				msgr__rdma_cr_reposted(&me->c, MSGR__RDMA_CREDIT);
			break;
		}
		sim_check(s, w, k, ++step);
	}
	/* Nothing can move: everything must have been delivered. */
	for (int i = 0; i < 2; i++)
		ck_assert_msg(!s[i].future && !s[i].queued,
			      "W %u/%u: deadlock with %llu messages unsent on side %d", wa, wb,
			      (unsigned long long)(s[i].future + s[i].queued), i);
	/* CREDITs per data message: C <= 3/2 (R_a / T_a + R_b / T_b), plus rounding. */
	double x = (double)s[0].reposts / s[0].c.thresh + (double)s[1].reposts / s[1].c.thresh;
	ck_assert_msg((double)(s[0].credits + s[1].credits) <= 1.5 * x + 2,
		      "W %u/%u: %llu CREDITs for %llu + %llu reposts", wa, wb,
		      (unsigned long long)(s[0].credits + s[1].credits),
		      (unsigned long long)s[0].reposts, (unsigned long long)s[1].reposts);
	free(s[0].q);
	free(s[1].q);
	return step;
}

START_TEST(credits_random)
{
	static const uint32_t ws[] = { 1, 2, 3, 7, 64, 1024 };
	const unsigned nw = sizeof(ws) / sizeof(ws[0]);
	uint64_t steps = 0, runs = 0;

	for (unsigned a = 0; a < nw; a++) {
		for (int r = 0; r < (quick ? 6 : 24); r++) {
			/* the same W both sides, then one against each other W */
			uint32_t wb = r % 2 ? ws[rnd() % nw] : ws[a];
			uint64_t span = 4ull * (ws[a] > wb ? ws[a] : wb) + 20;
			uint64_t ma = r % 8 == 3 ? 0 : rnd() % span, mb = r % 8 == 5 ? 0 : rnd() % span;

			steps += sim_run(ws[a], wb, ma, mb, (int)(rnd() % 3 == 0), (int)(rnd() % 3 == 0));
			runs++;
		}
	}
	printf("rdma credit simulation: W 1, 2, 3, 7, 64, 1024 (and mixed), %llu runs, %llu steps: "
	       "no violation, no deadlock, CREDITs within 3/2 per T reposts\n",
	       (unsigned long long)runs, (unsigned long long)steps);
}
END_TEST

/* ================================================================ the link, over a shim */

/* The link tests run on the fake shim (rdma_fake.c), through its ops
 * table only, as rdma.c will; faults through its inject call. */
static const struct msgr__rshim_ops *const shim = &msgr__rshim_fake_ops;
static int (*const inject)(struct msgr__rshim *, struct msgr__rshim_qp *,
			   enum msgr__rshim_fake_fault) = msgr__rshim_fake_inject;

/* A send the test queued: its bytes live until its sent(). */
struct tsend {
	struct tsend *next;
	uint64_t off;     /* stream offset of its first byte */
	size_t len;
	uint8_t *buf;
};

/* One end of a link under test. */
struct end {
	const char *name;
	struct msgr__rshim *s;
	struct msgr__rshim_qp *qp;
	struct msgr__rdma_link *el;
	struct end *peer;
	int started;
	/* sending */
	uint64_t tx_total;            /* bytes this end is to send */
	uint64_t tx_queued;           /* handed to link_send */
	struct tsend *sq, **sq_tail;  /* sends without their sent() yet, oldest first */
	uint64_t nsends, sent_ok, sent_cancel, sent_other;
	int order_bad;                /* a sent() out of order, or twice */
	/* receiving */
	uint64_t rx;                  /* bytes read and checked */
	uint64_t rx_bad;              /* first mismatch + 1, or 0 */
	int read_mode;                /* READ_* */
	uint64_t readables;
	/* what the link said */
	int failed, failed_err;
	char why[200];
	int gone;                     /* failed, or EV_DISCONNECTED / QP_ERROR seen: torn down */
};

enum { READ_FAST, READ_SLOW, READ_PAUSED };

static uint8_t pat(uint64_t off, const struct end *src)
{
	uint64_t x = (off + (src->name[0] << 20)) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> 56 ^ off);
}

static void cb_sent(void *ctx, void *cookie, int err)
{
	struct end *e = ctx;
	struct tsend *t = cookie;

	if (t != e->sq) {
		e->order_bad = 1;
		return;
	}
	e->sq = t->next;
	if (!e->sq)
		e->sq_tail = &e->sq;
	if (err == 0)
		e->sent_ok++;
	else if (err == -ECANCELED)
		e->sent_cancel++;
	else
		e->sent_other++;
	free(t->buf);
	free(t);
}

static void cb_readable(void *ctx)
{
	((struct end *)ctx)->readables++;
}

/* What the owner (rdma.c) does: tear the qp down, so what is posted flushes. */
static void teardown(struct end *e)
{
	if (!e->gone) {
		e->gone = 1;
		shim->disconnect(e->qp);
	}
}

static void cb_failed(void *ctx, int err, const char *why)
{
	struct end *e = ctx;

	e->failed++;
	e->failed_err = err;
	snprintf(e->why, sizeof(e->why), "%s", why);
	teardown(e);
}

static const struct msgr__rdma_link_cb cbs = { cb_sent, cb_readable, cb_failed };

/* Queue one send of len bytes in up to 4 pieces. */
static void queue_send(struct end *e, size_t len)
{
	struct tsend *t = calloc(1, sizeof(*t));
	struct iovec iov[4];
	int n = 0;
	size_t o = 0;

	ck_assert_ptr_nonnull(t);
	t->off = e->tx_queued;
	t->len = len;
	t->buf = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(t->buf);
	for (size_t i = 0; i < len; i++)
		t->buf[i] = pat(t->off + i, e);
	/* pieces, the last taking the rest; zero-length ones too */
	while (n < 3 && o < len && rnd() % 2) {
		size_t k = rnd() % (len - o + 1);
		iov[n++] = (struct iovec){ t->buf + o, k };
		o += k;
	}
	iov[n++] = (struct iovec){ t->buf + o, len - o };
	*e->sq_tail = t;
	e->sq_tail = &t->next;
	e->tx_queued += len;
	e->nsends++;
	ck_assert_int_eq(msgr__rdma_link_send(e->el, iov, n, t), 0);
}

/* Sizes from 1 B to 3 MiB: mostly small frames, some large. */
static size_t pick_size(struct end *e)
{
	uint64_t r = rnd() % 100;
	size_t len;

	if (e->nsends == 0)
		len = 1;
	else if (e->nsends == 1)
		len = 3 * MIB;
	else if (r < 70)
		len = 1 + rnd() % 4096;
	else if (r < 95)
		len = 4097 + rnd() % (256 * 1024);
	else
		len = 1 + rnd() % (3 * MIB);
	if (len > e->tx_total - e->tx_queued)
		len = (size_t)(e->tx_total - e->tx_queued);
	return len;
}

static uint8_t rdbuf[256 * 1024];

static uint64_t do_read(struct end *e, size_t cap)
{
	size_t n = msgr__rdma_link_read(e->el, rdbuf, cap);

	for (size_t i = 0; i < n && !e->rx_bad; i++)
		if (rdbuf[i] != pat(e->rx + i, e->peer))
			e->rx_bad = e->rx + i + 1;
	e->rx += n;
	return n;
}

/* The owner's part of one round for end e: queue more, read. */
static int app_round(struct end *e, uint64_t round)
{
	int progress = 0;

	if (e->gone)
		return 0;
	while (e->started && e->tx_queued < e->tx_total && msgr__rdma_link_queued(e->el) < 4 * MIB) {
		queue_send(e, pick_size(e));
		progress = 1;
	}
	if (e->started)
		msgr__rdma_link_pump(e->el);
	switch (e->read_mode) {
	case READ_FAST:
		while (msgr__rdma_link_readable(e->el))
			progress |= do_read(e, 1 + rnd() % sizeof(rdbuf)) > 0;
		break;
	case READ_SLOW:
		/* a little, now and then: credits must hold the sender back */
		if (round % 5 == 0 && msgr__rdma_link_readable(e->el))
			progress |= do_read(e, 1 + rnd() % 6000) > 0;
		break;
	}
	return progress;
}

static void on_event(struct end *e, const struct msgr__rshim_ev *ev)
{
	if (ev->type == MSGR__RSHIM_EV_DISCONNECTED || ev->type == MSGR__RSHIM_EV_QP_ERROR ||
	    ev->type == MSGR__RSHIM_EV_DEVICE_REMOVAL) {
		/* The owner's own fail(): no failed() follows. */
		if (!e->gone && e->el)
			msgr__rdma_link_fail(e->el, -ECONNRESET);
		teardown(e);
	}
}

/* Completions and events of both shims; the number handled. */
static int poll_shims(struct end *ends[2])
{
	struct msgr__rshim_wc wc[16];
	struct msgr__rshim_ev ev;
	int got = 0;

	for (int i = 0; i < 2; i++) {
		struct end *e = ends[i];
		int n;

		if (i == 1 && ends[1]->s == ends[0]->s)
			break;
		while ((n = shim->poll(e->s, wc, 16)) > 0) {
			for (int j = 0; j < n; j++) {
				struct end *to = wc[j].qp->ctx;
				if (!to)
					ck_abort_msg("a completion for no end");
				msgr__rdma_link_on_wc(to->el, &wc[j]);
			}
			got += n;
		}
		while (shim->get_event(e->s, &ev) == 0) {
			struct end *to = ev.qp ? ev.qp->ctx : e;
			if (to)
				on_event(to, &ev);
			got++;
		}
	}
	return got;
}

/* Wait a little for either shim's fd (the fake's sockets); the loopback
 * has none and needs no wait. */
static void wait_shims(struct end *ends[2], int ms)
{
	struct pollfd p[2];
	int n = 0;

	for (int i = 0; i < 2; i++) {
		int fd = shim->fd(ends[i]->s);
		if (fd >= 0)
			p[n++] = (struct pollfd){ fd, POLLIN, 0 };
	}
	if (n)
		poll(p, (nfds_t)n, ms);
}

static int done_stream(struct end *e)
{
	return e->tx_queued == e->tx_total && !e->sq && e->peer->rx == e->tx_total;
}

static int done_down(struct end *e)
{
	return msgr__rdma_link_idle(e->el) && !e->sq;
}

/* Run rounds until done(both) or nothing moves for a while. */
static void drive(struct end *ends[2], int (*done)(struct end *), const char *what)
{
	uint64_t round = 0;
	int idle = 0;

	while (!(done(ends[0]) && done(ends[1]))) {
		int p = poll_shims(ends);

		p |= app_round(ends[0], round);
		p |= app_round(ends[1], round);
		round++;
		if (p) {
			idle = 0;
			continue;
		}
		/* a slow reader reads every fifth round; the fake needs time */
		if (++idle > 200) {
			const struct msgr__rdma_credits *c0 = msgr__rdma_link_credits(ends[0]->el);
			const struct msgr__rdma_credits *c1 = msgr__rdma_link_credits(ends[1]->el);
			ck_abort_msg("%s: stuck after %llu rounds: A sent %llu/%llu read %llu tx %u/%u "
				     "owe %u/%u; B sent %llu/%llu read %llu tx %u/%u owe %u/%u",
				     what, (unsigned long long)round,
				     (unsigned long long)ends[0]->tx_queued,
				     (unsigned long long)ends[0]->tx_total,
				     (unsigned long long)ends[0]->rx, c0->tx_data, c0->tx_ctrl,
				     c0->owe_data, c0->owe_ctrl, (unsigned long long)ends[1]->tx_queued,
				     (unsigned long long)ends[1]->tx_total,
				     (unsigned long long)ends[1]->rx, c1->tx_data, c1->tx_ctrl,
				     c1->owe_data, c1->owe_ctrl);
		}
		wait_shims(ends, idle > 5 ? 10 : 0);
	}
}

static int next_event(struct msgr__rshim *s, struct msgr__rshim_ev *ev)
{
	for (int i = 0; i < 500; i++) {
		if (shim->get_event(s, ev) == 0)
			return 0;
		int fd = shim->fd(s);
		if (fd >= 0) {
			struct pollfd p = { fd, POLLIN, 0 };
			poll(&p, 1, 10);
		}
	}
	return -ETIMEDOUT;
}

static void end_init(struct end *e, const char *name, struct end *peer)
{
	memset(e, 0, sizeof(*e));
	e->name = name;
	e->peer = peer;
	e->sq_tail = &e->sq;
}

static unsigned port_seq;

/* Listen on a free "127.0.0.1:PORT" of the fake's (names are per network
 * namespace, like ports, and other tests may hold some). */
static void listen_free(struct msgr__rshim *s, char *hp, size_t len)
{
	int r = -EADDRINUSE;

	for (int i = 0; i < 200 && r == -EADDRINUSE; i++) {
		snprintf(hp, len, "127.0.0.1:%u", 20000 + ((unsigned)getpid() * 13 + port_seq++) % 40000);
		r = shim->listen(s, hp);
	}
	ck_assert_int_eq(r, 0);
}

/* Connect a (dialler) and b (acceptor), each with a link of its conf,
 * through the shim's events, as rdma.c will, up to b's ESTABLISHED; a's
 * is left for connect_finish. A NULL cb leaves b without a link: the test
 * plays it by hand with hello *raw. */
static void connect_begin(struct end *a, struct end *b, const struct msgr__rdma_link_conf *ca,
			  const struct msgr__rdma_link_conf *cb, const struct msgr__rdma_hello *raw)
{
	struct msgr__rshim_conf sc = { 2048, 2048 };
	struct msgr__rdma_hello ha, hb, got;
	struct msgr__rshim_ev ev;
	uint8_t pd[MSGR__RDMA_HELLO_LEN];
	char err[160], hp[64];

	end_init(a, "A", b);
	end_init(b, "B", a);
	ck_assert_int_eq(shim->open(&a->s, &sc, err, sizeof(err)), 0);
	ck_assert_int_eq(shim->open(&b->s, &sc, err, sizeof(err)), 0);
	listen_free(b->s, hp, sizeof(hp));
	ck_assert_int_eq(shim->dial(a->s, hp, &a->qp), 0);
	a->qp->ctx = a;
	ck_assert_int_eq(next_event(a->s, &ev), 0);
	ck_assert_int_eq(ev.type, MSGR__RSHIM_EV_ROUTE_READY);
	ck_assert_int_eq(shim->create_qp(a->qp), 0);
	ck_assert_int_eq(msgr__rdma_link_new(&a->el, shim, a->s, a->qp, ca, &cbs, a), 0);
	ck_assert_int_eq(msgr__rdma_link_post_receives(a->el), 0);
	ck_assert_int_eq(msgr__rdma_link_post_receives(a->el), -EALREADY);
	msgr__rdma_link_hello(a->el, &ha);
	ck_assert_int_eq(msgr__rdma_hello_encode(&ha, pd, sizeof(pd)), MSGR__RDMA_HELLO_LEN);
	ck_assert_int_eq(shim->connect(a->qp, pd, sizeof(pd)), 0);

	ck_assert_int_eq(next_event(b->s, &ev), 0);
	ck_assert_int_eq(ev.type, MSGR__RSHIM_EV_CONNECT_REQUEST);
	b->qp = ev.qp;
	b->qp->ctx = b;
	ck_assert_int_eq(msgr__rdma_hello_decode(&got, ev.pdata, ev.pdata_len, err, sizeof(err)), 0);
	ck_assert_int_eq(shim->create_qp(b->qp), 0);
	if (cb) {
		ck_assert_int_eq(msgr__rdma_link_new(&b->el, shim, b->s, b->qp, cb, &cbs, b), 0);
		ck_assert_int_eq(msgr__rdma_link_post_receives(b->el), 0);
		/* the acceptor knows the dialler's hello: started before accept */
		ck_assert_int_eq(msgr__rdma_link_start(b->el, &got, err, sizeof(err)), 0);
		b->started = 1;
		msgr__rdma_link_hello(b->el, &hb);
	} else {
		hb = *raw;
	}
	ck_assert_int_eq(msgr__rdma_hello_encode(&hb, pd, sizeof(pd)), MSGR__RDMA_HELLO_LEN);
	ck_assert_int_eq(shim->accept(b->qp, pd, sizeof(pd)), 0);
	ck_assert_int_eq(next_event(b->s, &ev), 0);
	ck_assert_int_eq(ev.type, MSGR__RSHIM_EV_ESTABLISHED);
}

/* a's ESTABLISHED: the acceptor's hello, and a's start(). */
static int connect_finish(struct end *a, char *err, size_t errlen)
{
	struct msgr__rdma_hello got;
	struct msgr__rshim_ev ev;
	int rc;

	ck_assert_int_eq(next_event(a->s, &ev), 0);
	ck_assert_int_eq(ev.type, MSGR__RSHIM_EV_ESTABLISHED);
	ck_assert_int_eq(msgr__rdma_hello_decode(&got, ev.pdata, ev.pdata_len, err, errlen), 0);
	rc = msgr__rdma_link_start(a->el, &got, err, errlen);
	if (rc == 0) {
		a->started = 1;
		ck_assert_int_eq(msgr__rdma_link_start(a->el, &got, NULL, 0), -EPROTO);
	}
	return rc;
}

static void connect_pair(struct end *a, struct end *b, const struct msgr__rdma_link_conf *ca,
			 const struct msgr__rdma_link_conf *cb, const struct msgr__rdma_hello *raw)
{
	char err[160];

	connect_begin(a, b, ca, cb, raw);
	ck_assert_msg(connect_finish(a, err, sizeof(err)) == 0, "start: %s", err);
}

/* Tear a pair down: idle links, every send answered, nothing leaked. */
static void close_pair(struct end *a, struct end *b)
{
	struct end *ends[2] = { a, b };

	for (int i = 0; i < 2; i++) {
		if (!ends[i]->el)
			continue;
		if (!ends[i]->gone) {
			msgr__rdma_link_fail(ends[i]->el, 0); /* an orderly close */
			teardown(ends[i]);
		}
		msgr__rdma_link_pump(ends[i]->el);
	}
	if (a->el && b->el)
		drive(ends, done_down, "teardown");
	for (int i = 0; i < 2; i++) {
		struct end *e = ends[i];
		if (e->el) {
			ck_assert_msg(msgr__rdma_link_idle(e->el), "%s: not idle at free", e->name);
			ck_assert_msg(!e->sq, "%s: a send without its sent()", e->name);
			ck_assert_msg(!e->order_bad, "%s: sent() out of order", e->name);
			ck_assert_uint_eq(e->sent_ok + e->sent_cancel + e->sent_other, e->nsends);
			ck_assert_int_le(e->failed, 1);
			msgr__rdma_link_free(e->el);
		}
		shim->destroy(e->qp);
		shim->close(e->s);
	}
}

static void stream_run(uint32_t wa, uint32_t wb, uint32_t sza, uint32_t szb, uint32_t slots,
		       uint64_t bytes, int read_a, int read_b)
{
	struct msgr__rdma_link_conf ca = { wa, sza, slots }, cb = { wb, szb, slots > 4 ? slots / 2 : slots };
	struct end a, b, *ends[2] = { &a, &b };
	struct msgr__rshim_stats st;
	char what[96];

	connect_pair(&a, &b, &ca, &cb, NULL);
	a.tx_total = bytes;
	b.tx_total = bytes / 2 + 1;
	a.read_mode = read_a;
	b.read_mode = read_b;
	snprintf(what, sizeof(what), "stream W %u/%u size %u/%u", wa, wb, sza, szb);
	drive(ends, done_stream, what);
	for (int i = 0; i < 2; i++) {
		struct end *e = ends[i];
		const struct msgr__rdma_link_stats *ls = msgr__rdma_link_stats(e->el);

		ck_assert_msg(!e->rx_bad, "%s: %s: byte %llu differs", what, e->name,
			      (unsigned long long)e->rx_bad - 1);
		ck_assert_msg(!e->failed, "%s: %s failed: %s", what, e->name, e->why);
		ck_assert_uint_eq(e->sent_ok, e->nsends);
		ck_assert(msgr__rdma_link_drained(e->el));
		ck_assert_uint_eq(msgr__rdma_link_queued(e->el), 0);
		ck_assert_uint_eq(ls->flushed + ls->wc_errors, 0);
		ck_assert_uint_gt(ls->sends, 0);
		shim->stats(e->s, &st);
		ck_assert_msg(st.rnr == 0, "%s: %s: %llu RNR", what, e->name,
			      (unsigned long long)st.rnr);
	}
	/* A slow reader with a small window held its peer back by credits. */
	if (read_b == READ_SLOW && wb <= 3)
		ck_assert_uint_gt(msgr__rdma_link_stats(a.el)->credit_stalls, 0);
	close_pair(&a, &b);
	for (int i = 0; i < 2; i++)
		ck_assert_uint_eq(ends[i]->sent_ok, ends[i]->nsends);
}

START_TEST(link_stream)
{
	static const uint32_t ws[] = { 1, 2, 3, 16, 1024 };
	uint64_t bytes = quick ? 3 * MIB + 1000 : 8 * MIB;

	for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
		uint32_t w = ws[i];
		/* Small windows get large receives, so a 3 MiB send spans a
		 * few; large ones the smallest, so the window wraps. */
		uint32_t sz = w <= 3 ? 65536 : 4096;

		stream_run(w, w, sz, sz, w <= 3 ? 2 : 64, bytes, READ_FAST, READ_FAST);
		stream_run(w, w, sz, sz, 8, bytes / 2, READ_FAST, READ_SLOW);
	}
	/* Different windows and receive sizes per side; one send slot. */
	stream_run(1, 16, 4096, 65536, 1, bytes / 2, READ_FAST, READ_FAST);
	stream_run(1024, 2, 1u << 20, 4096, 3, bytes / 2, READ_SLOW, READ_FAST);
}
END_TEST

/* With both readers paused both sides run out of data credits; a reader
 * that then reads returns its credits in a standalone CREDIT, which uses
 * a control credit: it goes out although no data credit is left. */
START_TEST(link_credit_while_data_exhausted)
{
	struct msgr__rdma_link_conf conf = { 2, 4096, 4 };
	struct end a, b, *ends[2] = { &a, &b };
	const struct msgr__rdma_link_stats *sa, *sb;
	uint64_t a_sends, b_credits;

	connect_pair(&a, &b, &conf, &conf, NULL);
	a.tx_total = b.tx_total = 64 * 1024;
	a.read_mode = b.read_mode = READ_PAUSED;
	for (int i = 0; i < 200; i++) {
		poll_shims(ends);
		app_round(&a, (uint64_t)i);
		app_round(&b, (uint64_t)i);
		wait_shims(ends, 1);
	}
	sa = msgr__rdma_link_stats(a.el);
	sb = msgr__rdma_link_stats(b.el);
	ck_assert_uint_eq(msgr__rdma_link_credits(a.el)->tx_data, 0);
	ck_assert_uint_eq(msgr__rdma_link_credits(b.el)->tx_data, 0);
	ck_assert_uint_gt(sa->credit_stalls, 0);
	ck_assert_uint_gt(msgr__rdma_link_queued(a.el), 0);
	ck_assert_uint_eq(msgr__rdma_link_readable(b.el), 2 * (4096 - MSGR__RDMA_HDR_LEN));
	a_sends = sa->sends;
	b_credits = sb->credit_msgs_out;

	/* B reads all; B still has no data credit, so its returns go in a
	 * CREDIT, and A's data moves again. */
	do_read(&b, sizeof(rdbuf));
	ck_assert_uint_eq(msgr__rdma_link_credits(b.el)->tx_data, 0);
	ck_assert_uint_eq(sb->credit_msgs_out, b_credits + 1);
	for (int i = 0; i < 20; i++) {
		poll_shims(ends);
		wait_shims(ends, 1);
	}
	ck_assert_uint_gt(sa->sends, a_sends + 1);
	ck_assert_uint_gt(msgr__rdma_link_readable(b.el), 0);
	/* and then everything, both ways */
	a.read_mode = b.read_mode = READ_FAST;
	drive(ends, done_stream, "after the stall");
	ck_assert(!a.rx_bad && !b.rx_bad);
	close_pair(&a, &b);
}
END_TEST

/* Small sends queued together share SENDs; a large one is cut at the
 * smaller of the two receive sizes. */
START_TEST(link_coalesce)
{
	struct msgr__rdma_link_conf ca = { 4, 8192, 4 }, cb = { 4, 4096, 4 };
	struct end a, b, *ends[2] = { &a, &b };
	const struct msgr__rdma_link_stats *ls;

	connect_pair(&a, &b, &ca, &cb, NULL);
	a.tx_total = 1000;
	for (int i = 0; i < 100; i++)
		queue_send(&a, 10);
	msgr__rdma_link_pump(a.el);
	ls = msgr__rdma_link_stats(a.el);
	drive(ends, done_stream, "coalesce");
	ck_assert_uint_eq(ls->sends, 1);
	ck_assert_uint_eq(a.sent_ok, 100);
	/* B's receives are 4096: three SENDs for exactly three payloads */
	a.tx_total += 3 * (4096 - MSGR__RDMA_HDR_LEN);
	queue_send(&a, 3 * (4096 - MSGR__RDMA_HDR_LEN));
	msgr__rdma_link_pump(a.el);
	drive(ends, done_stream, "cut");
	ck_assert_uint_eq(ls->sends - ls->credit_msgs_out, 4);
	ck_assert(!b.rx_bad);
	ck_assert_uint_eq(b.rx, a.tx_total);
	close_pair(&a, &b);
}
END_TEST

/* A SEND that completes before the dialler has seen ESTABLISHED waits for
 * start(); it is then counted and readable. */
START_TEST(link_recv_before_start)
{
	struct msgr__rdma_link_conf conf = { 4, 4096, 4 };
	struct msgr__rshim_conf sc = { 64, 64 };
	struct end a, b, *ends[2] = { &a, &b };
	struct msgr__rdma_hello ha, hb, got;
	struct msgr__rshim_ev ev, est;
	struct msgr__rshim_wc wc;
	uint8_t pd[16];
	char err[160], hp[64];
	int n = 0;

	end_init(&a, "A", &b);
	end_init(&b, "B", &a);
	ck_assert_int_eq(shim->open(&a.s, &sc, err, sizeof(err)), 0);
	ck_assert_int_eq(shim->open(&b.s, &sc, err, sizeof(err)), 0);
	listen_free(b.s, hp, sizeof(hp));
	ck_assert_int_eq(shim->dial(a.s, hp, &a.qp), 0);
	a.qp->ctx = &a;
	ck_assert_int_eq(next_event(a.s, &ev), 0);
	ck_assert_int_eq(shim->create_qp(a.qp), 0);
	ck_assert_int_eq(msgr__rdma_link_new(&a.el, shim, a.s, a.qp, &conf, &cbs, &a), 0);
	ck_assert_int_eq(msgr__rdma_link_post_receives(a.el), 0);
	msgr__rdma_link_hello(a.el, &ha);
	msgr__rdma_hello_encode(&ha, pd, sizeof(pd));
	ck_assert_int_eq(shim->connect(a.qp, pd, sizeof(pd)), 0);
	ck_assert_int_eq(next_event(b.s, &ev), 0);
	b.qp = ev.qp;
	b.qp->ctx = &b;
	ck_assert_int_eq(msgr__rdma_hello_decode(&got, ev.pdata, ev.pdata_len, err, sizeof(err)), 0);
	ck_assert_int_eq(shim->create_qp(b.qp), 0);
	ck_assert_int_eq(msgr__rdma_link_new(&b.el, shim, b.s, b.qp, &conf, &cbs, &b), 0);
	ck_assert_int_eq(msgr__rdma_link_post_receives(b.el), 0);
	ck_assert_int_eq(msgr__rdma_link_start(b.el, &got, err, sizeof(err)), 0);
	b.started = 1;
	msgr__rdma_link_hello(b.el, &hb);
	msgr__rdma_hello_encode(&hb, pd, sizeof(pd));
	ck_assert_int_eq(shim->accept(b.qp, pd, sizeof(pd)), 0);
	ck_assert_int_eq(next_event(b.s, &ev), 0);
	ck_assert_int_eq(ev.type, MSGR__RSHIM_EV_ESTABLISHED);
	/* B sends at once; A polls its CQ before it looks at its events. */
	b.tx_total = 3000;
	queue_send(&b, 1000);
	queue_send(&b, 2000);
	msgr__rdma_link_pump(b.el);
	for (int i = 0; i < 200 && !n; i++) {
		struct msgr__rshim_wc bw[4];
		int k = shim->poll(b.s, bw, 4);
		for (int j = 0; j < k; j++)
			msgr__rdma_link_on_wc(b.el, &bw[j]);
		n = shim->poll(a.s, &wc, 1);
		if (!n)
			wait_shims(ends, 5);
	}
	ck_assert_int_eq(n, 1);
	msgr__rdma_link_on_wc(a.el, &wc);
	ck_assert_uint_eq(a.readables, 0);
	ck_assert_uint_eq(msgr__rdma_link_readable(a.el), 0);
	ck_assert_int_eq(next_event(a.s, &est), 0);
	ck_assert_int_eq(est.type, MSGR__RSHIM_EV_ESTABLISHED);
	ck_assert_int_eq(msgr__rdma_hello_decode(&got, est.pdata, est.pdata_len, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__rdma_link_start(a.el, &got, err, sizeof(err)), 0);
	a.started = 1;
	ck_assert_uint_eq(msgr__rdma_link_credits(a.el)->held_data, 1);
	ck_assert_uint_eq(msgr__rdma_link_readable(a.el), 3000);
	ck_assert_uint_eq(a.readables, 0); /* not from start() ... */
	msgr__rdma_link_pump(a.el);
	ck_assert_uint_eq(a.readables, 1); /* ... but from the next pump() */
	drive(ends, done_stream, "recv before start");
	ck_assert_uint_eq(a.rx, 3000);
	ck_assert(!a.rx_bad);
	close_pair(&a, &b);
}
END_TEST

/* ---- a hostile peer: B is played by hand through the shim ---- */

struct raw {
	uint8_t *buf;                 /* 64 slots of 4096 for sends, then receives */
	struct msgr__rshim_mr *mr;
	uint64_t next;
};

/* a with a link, b by hand; a started unless early (the test then sends
 * before a's connect_finish). */
static void raw_setup_early(struct end *a, struct end *b, struct raw *r, uint32_t a_depth,
			    uint16_t b_ctrl, int early)
{
	struct msgr__rdma_link_conf conf = { a_depth, 4096, 4 };
	struct msgr__rdma_hello hb = { 1, b_ctrl, 8, 4096 };

	if (early)
		connect_begin(a, b, &conf, NULL, &hb);
	else
		connect_pair(a, b, &conf, NULL, &hb);
	r->buf = calloc(128, 4096);
	ck_assert_ptr_nonnull(r->buf);
	ck_assert_int_eq(shim->reg_mr(b->s, r->buf, 128 * 4096, &r->mr), 0);
	/* B's receives, so that A's CREDITs find one */
	for (int i = 0; i < 8 + b_ctrl; i++)
		ck_assert_int_eq(shim->post_recv(b->qp, 1000 + (uint64_t)i, r->buf + (64 + i) * 4096, 4096,
						 r->mr),
				 0);
	r->next = 0;
}

static void raw_setup(struct end *a, struct end *b, struct raw *r, uint32_t a_depth, uint16_t b_ctrl)
{
	raw_setup_early(a, b, r, a_depth, b_ctrl, 0);
}

/* One SEND from B: the header's bytes as given, then plen payload bytes. */
static void raw_send(struct end *b, struct raw *r, const uint8_t h[8], uint32_t plen)
{
	uint8_t *p = r->buf + (r->next % 64) * 4096;
	struct msgr__rshim_sge sge = { p, 8 + plen, r->mr };

	memcpy(p, h, 8);
	memset(p + 8, 'h', plen);
	ck_assert_int_eq(shim->post_send(b->qp, r->next++, &sge, 1), 0);
}

/* Drive until A says failed() or nothing happens; B's completions are
 * only counted. */
static void raw_drive(struct end *a, struct end *b, int rounds)
{
	struct end *ends[2] = { a, b };
	struct msgr__rshim_wc wc[16];
	struct msgr__rshim_ev ev;

	for (int i = 0; i < rounds && !a->failed; i++) {
		int n;
		while ((n = shim->poll(b->s, wc, 16)) > 0)
			;
		while (shim->get_event(b->s, &ev) == 0)
			;
		while ((n = shim->poll(a->s, wc, 16)) > 0)
			for (int j = 0; j < n; j++)
				msgr__rdma_link_on_wc(a->el, &wc[j]);
		while (shim->get_event(a->s, &ev) == 0)
			on_event(a, &ev);
		wait_shims(ends, 2);
	}
}

static void raw_close(struct end *a, struct end *b, struct raw *r)
{
	struct end *ends[2] = { a, b };
	struct msgr__rshim_wc wc[16];
	struct msgr__rshim_ev ev;

	teardown(a);
	shim->disconnect(b->qp);
	for (int i = 0; i < 500 && !msgr__rdma_link_idle(a->el); i++) {
		int n;
		while ((n = shim->poll(a->s, wc, 16)) > 0)
			for (int j = 0; j < n; j++)
				msgr__rdma_link_on_wc(a->el, &wc[j]);
		while (shim->poll(b->s, wc, 16) > 0)
			;
		while (shim->get_event(a->s, &ev) == 0)
			;
		while (shim->get_event(b->s, &ev) == 0)
			;
		wait_shims(ends, 2);
	}
	ck_assert(msgr__rdma_link_idle(a->el));
	/* B's requests all completed too (flushed), before its buffer goes. */
	for (int i = 0; i < 50; i++) {
		while (shim->poll(b->s, wc, 16) > 0)
			;
		wait_shims(ends, 1);
	}
	msgr__rdma_link_free(a->el);
	shim->destroy(a->qp);
	shim->destroy(b->qp);
	shim->dereg_mr(r->mr);
	free(r->buf);
	shim->close(a->s);
	shim->close(b->s);
}

struct hostile_case {
	const char *name;
	uint8_t hdr[8];
	uint32_t plen;  /* payload bytes after the header */
	int times;      /* sent this many times */
	const char *want;
};

static const struct hostile_case hostile_cases[] = {
	{ "data returns never used", { 1, 0, 1, 0, 0, 0, 0, 0 }, 10, 1, "never used" },
	{ "control returns never used", { 2, 0, 0, 0, 2, 0, 0, 0 }, 0, 1, "never used" },
	{ "overrun of W", { 1, 0, 0, 0, 0, 0, 0, 0 }, 100, 3, "overran" },
	{ "unknown type", { 7, 0, 0, 0, 0, 0, 0, 0 }, 10, 1, "type" },
	{ "reserved bytes", { 1, 0, 0, 0, 0, 0, 0, 9 }, 10, 1, "reserved" },
	{ "DATA without payload", { 1, 0, 0, 0, 0, 0, 0, 0 }, 0, 1, "without payload" },
	{ "CREDIT with payload", { 2, 0, 0, 0, 0, 0, 0, 0 }, 5, 1, "with" },
};

START_TEST(link_hostile)
{
	for (size_t i = 0; i < sizeof(hostile_cases) / sizeof(hostile_cases[0]); i++) {
		const struct hostile_case *c = &hostile_cases[i];
		struct end a, b;
		struct raw r;

		raw_setup(&a, &b, &r, 2, 3);
		for (int k = 0; k < c->times; k++)
			raw_send(&b, &r, c->hdr, c->plen);
		raw_drive(&a, &b, 100);
		ck_assert_msg(a.failed == 1, "%s: failed() %d times", c->name, a.failed);
		ck_assert_int_eq(a.failed_err, -EPROTO);
		ck_assert_msg(strstr(a.why, c->want) != NULL, "%s: \"%s\"", c->name, a.why);
		raw_close(&a, &b, &r);
	}
}
END_TEST

/* A short SEND (less than a header) and a control overrun. */
START_TEST(link_hostile_more)
{
	static const uint8_t cred[8] = { 2, 0, 0, 0, 0, 0, 0, 0 };
	struct end a, b;
	struct raw r;
	uint8_t *p;

	raw_setup(&a, &b, &r, 2, 3);
	p = r.buf;
	memset(p, 1, 4);
	ck_assert_int_eq(shim->post_send(b.qp, 1, &(struct msgr__rshim_sge){ p, 4, r.mr }, 1), 0);
	raw_drive(&a, &b, 100);
	ck_assert_int_eq(a.failed, 1);
	ck_assert_ptr_nonnull(strstr(a.why, "short"));
	raw_close(&a, &b, &r);

	/* B says K = 1: A has one control credit. B's three CREDITs make A
	 * owe 3 (rule B): A answers with its one CREDIT, returning them; B
	 * never returns that, so A's next three owed stay owed, and a
	 * fourth CREDIT from B overruns A's K. */
	raw_setup(&a, &b, &r, 2, 1);
	for (int k = 0; k < 3; k++)
		raw_send(&b, &r, cred, 0);
	raw_drive(&a, &b, 30);
	ck_assert_int_eq(a.failed, 0);
	ck_assert_uint_eq(msgr__rdma_link_stats(a.el)->credit_msgs_out, 1);
	ck_assert_uint_eq(msgr__rdma_link_credits(a.el)->tx_ctrl, 0);
	for (int k = 0; k < 4; k++)
		raw_send(&b, &r, cred, 0);
	raw_drive(&a, &b, 100);
	ck_assert_int_eq(a.failed, 1);
	ck_assert_ptr_nonnull(strstr(a.why, "overran"));
	ck_assert_ptr_nonnull(strstr(a.why, "control"));
	raw_close(&a, &b, &r);
}
END_TEST

/* A hostile SEND that lands before a's start() waits there, and start()
 * refuses it: its caller hears it from the return, not from failed(). */
START_TEST(link_hostile_before_start)
{
	static const uint8_t bogus[8] = { 1, 0, 5, 0, 0, 0, 0, 0 }; /* returns 5 never used */
	struct end a, b, *ends[2] = { &a, &b };
	struct msgr__rshim_wc wc;
	struct raw r;
	char err[160] = "";
	int n = 0;

	raw_setup_early(&a, &b, &r, 2, 3, 1);
	raw_send(&b, &r, bogus, 20);
	for (int i = 0; i < 300 && !n; i++) {
		n = shim->poll(a.s, &wc, 1);
		if (!n)
			wait_shims(ends, 5);
	}
	ck_assert_int_eq(n, 1);
	msgr__rdma_link_on_wc(a.el, &wc);
	ck_assert_int_eq(a.failed, 0);
	ck_assert_int_eq(connect_finish(&a, err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "never used") != NULL, "%s", err);
	msgr__rdma_link_pump(a.el);
	ck_assert_int_eq(a.failed, 0);
	ck_assert_uint_eq(a.readables, 0);
	raw_close(&a, &b, &r);
}
END_TEST

/* ---- faults: every buffer comes back, every send is answered once ---- */

static void fault_run(enum msgr__rshim_fake_fault f, int on_b, int after_rounds)
{
	struct msgr__rdma_link_conf conf = { 4, 8192, 4 };
	struct end a, b, *ends[2] = { &a, &b };
	uint64_t errors = 0;

	connect_pair(&a, &b, &conf, &conf, NULL);
	a.tx_total = b.tx_total = 2 * MIB;
	b.read_mode = READ_SLOW;
	for (int i = 0; i < after_rounds; i++) {
		poll_shims(ends);
		app_round(&a, (uint64_t)i);
		app_round(&b, (uint64_t)i);
	}
	ck_assert_int_eq(inject(on_b ? b.s : a.s, on_b ? b.qp : a.qp, f), 0);
	/* Sends go on being queued by the owner until it hears. */
	drive(ends, done_down, "after a fault");
	for (int i = 0; i < 2; i++) {
		struct end *e = ends[i];
		const struct msgr__rdma_link_stats *ls = msgr__rdma_link_stats(e->el);

		ck_assert_msg(e->gone, "fault %d: %s never heard", f, e->name);
		ck_assert_int_le(e->failed, 1);
		ck_assert_uint_eq(e->sent_ok + e->sent_cancel + e->sent_other, e->nsends);
		ck_assert_uint_eq(e->sent_other, 0);
		ck_assert(!e->order_bad && !e->rx_bad);
		ck_assert(msgr__rdma_link_idle(e->el));
		/* nothing is posted any more */
		ck_assert_uint_eq(msgr__rdma_link_queued(e->el), 0);
		errors += ls->flushed + ls->wc_errors;
	}
	ck_assert_uint_gt(errors, 0);
	/* Something was on its way when the fault hit. */
	ck_assert_uint_gt(a.sent_cancel + b.sent_cancel, 0);
	close_pair(&a, &b);
}

START_TEST(link_faults)
{
	static const enum msgr__rshim_fake_fault fs[] = { MSGR__RFAKE_FLUSH, MSGR__RFAKE_RETRY,
							  MSGR__RFAKE_DISCONNECT, MSGR__RFAKE_RNR };

	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		fault_run(fs[i], 0, 3);
		fault_run(fs[i], 1, 11);
	}
}
END_TEST

/* An RNR the fake injects shows up in its count (the receiver's), and
 * takes both links down: the stream tests' rnr == 0 is not vacuous. */
START_TEST(link_rnr_is_failure)
{
	struct msgr__rdma_link_conf conf = { 2, 4096, 2 };
	struct end a, b, *ends[2] = { &a, &b };
	struct msgr__rshim_stats st;

	connect_pair(&a, &b, &conf, &conf, NULL);
	a.tx_total = 100 * 1024;
	ck_assert_int_eq(inject(b.s, b.qp, MSGR__RFAKE_RNR), 0);
	drive(ends, done_down, "rnr");
	shim->stats(b.s, &st);
	ck_assert_uint_eq(st.rnr, 1);
	ck_assert(a.gone && b.gone);
	ck_assert_uint_gt(a.sent_cancel, 0);
	close_pair(&a, &b);
}
END_TEST

/* fail() by the owner: no callback from inside it; every queued send is
 * cancelled from the next pump(), once, in order; flushes are only counted. */
START_TEST(link_owner_fail)
{
	struct msgr__rdma_link_conf conf = { 1, 4096, 1 };
	struct end a, b, *ends[2] = { &a, &b };
	const struct msgr__rdma_link_stats *ls;

	connect_pair(&a, &b, &conf, &conf, NULL);
	a.tx_total = 20000;
	b.read_mode = READ_PAUSED;
	for (int i = 0; i < 30; i++) {
		poll_shims(ends);
		app_round(&a, (uint64_t)i);
		app_round(&b, (uint64_t)i);
		wait_shims(ends, 1);
	}
	ck_assert_uint_gt(msgr__rdma_link_queued(a.el), 0);
	ck_assert_uint_ge(a.nsends, 2);
	/* empty sends queue and complete too */
	queue_send(&a, 0);
	msgr__rdma_link_fail(a.el, -ESHUTDOWN);
	ck_assert_uint_eq(a.sent_cancel, 0);
	ck_assert_uint_eq(msgr__rdma_link_queued(a.el), 0);
	ck_assert(!msgr__rdma_link_drained(a.el)); /* cancelled, but not told yet */
	msgr__rdma_link_pump(a.el);
	ck_assert_ptr_null(a.sq);
	ck_assert(msgr__rdma_link_drained(a.el));
	ck_assert_uint_gt(a.sent_cancel, 0);
	ck_assert_uint_eq(a.sent_ok + a.sent_cancel, a.nsends);
	/* a send after fail() is cancelled the same way */
	a.tx_total += 5;
	queue_send(&a, 5);
	ck_assert_uint_eq(msgr__rdma_link_queued(a.el), 0);
	msgr__rdma_link_pump(a.el);
	ck_assert_ptr_null(a.sq);
	teardown(&a);
	drive(ends, done_down, "owner fail");
	ls = msgr__rdma_link_stats(a.el);
	ck_assert_int_eq(a.failed, 0);
	ck_assert_uint_gt(ls->flushed, 0);
	ck_assert_int_le(b.failed, 1);
	close_pair(&a, &b);
}
END_TEST

/* A's sends complete, then B hears the peer left before it has polled their
 * completions (CM events and completions come by different ways, and
 * rdma.c takes events first). peer_gone() keeps them: B reads every byte,
 * as a TCP reader gets what came before the EOF. fail() instead drops
 * them: nobody reads a link the owner itself ended. */
static void peer_gone_run(int halt)
{
	struct msgr__rdma_link_conf conf = { 64, 4096, 8 };
	struct end a, b, *ends[2] = { &a, &b };
	struct msgr__rshim_wc wc[16];
	int n;

	connect_pair(&a, &b, &conf, &conf, NULL);
	a.tx_total = 100000; /* within B's 64 receives of 4 KiB */
	b.read_mode = READ_PAUSED;
	for (int i = 0; i < 2000 && !(a.tx_queued == a.tx_total && !a.sq); i++) {
		app_round(&a, (uint64_t)i);
		while ((n = shim->poll(a.s, wc, 16)) > 0)
			for (int j = 0; j < n; j++)
				msgr__rdma_link_on_wc(a.el, &wc[j]);
		wait_shims(ends, 1);
	}
	ck_assert_msg(a.tx_queued == a.tx_total && !a.sq, "A's sends did not all complete");
	ck_assert_uint_eq(b.rx, 0);
	if (halt)
		msgr__rdma_link_peer_gone(b.el);
	else
		msgr__rdma_link_fail(b.el, -ECONNRESET);
	/* B's owner has done its part (the test's event handler must not
	 * fail() B again when the DISCONNECTED comes) */
	b.gone = 1;
	teardown(&a);
	for (int i = 0; i < 500 && b.rx < a.tx_total; i++) {
		poll_shims(ends);
		while (msgr__rdma_link_readable(b.el))
			do_read(&b, sizeof(rdbuf));
		wait_shims(ends, 1);
	}
	if (halt) {
		ck_assert_uint_eq(b.rx, a.tx_total);
		ck_assert_uint_eq(b.rx_bad, 0);
	} else {
		ck_assert_uint_eq(b.rx, 0);
	}
	ck_assert_int_eq(b.failed, 0); /* the owner knew: no failed() */
	shim->disconnect(b.qp);
	drive(ends, done_down, "peer gone");
	close_pair(&a, &b);
}

START_TEST(link_peer_gone_keeps_arrivals)
{
	peer_gone_run(1);
	peer_gone_run(0);
}
END_TEST

/* Completions that are not ours: refused, never used as an index. */
START_TEST(link_bogus_wc)
{
	struct msgr__rdma_link_conf conf = { 2, 4096, 2 };
	struct end a, b;
	struct msgr__rshim_wc wc;

	connect_pair(&a, &b, &conf, &conf, NULL);
	wc = (struct msgr__rshim_wc){ a.qp, 999999, MSGR__RSHIM_WC_RECV, MSGR__RSHIM_WC_OK, 100 };
	msgr__rdma_link_on_wc(a.el, &wc);
	ck_assert_int_eq(a.failed, 1);
	ck_assert_int_eq(a.failed_err, -EIO);
	wc.wr_id = (1ull << 32) | 1; /* a send slot that was never posted */
	wc.op = MSGR__RSHIM_WC_SEND;
	msgr__rdma_link_on_wc(a.el, &wc);
	wc.wr_id = 0; /* a receive index, but called a send */
	msgr__rdma_link_on_wc(a.el, &wc);
	wc.wr_id = ~0ull;
	msgr__rdma_link_on_wc(a.el, &wc);
	ck_assert_int_eq(a.failed, 1); /* once */
	ck_assert_uint_eq(msgr__rdma_link_stats(a.el)->wc_errors, 4);
	close_pair(&a, &b);
}
END_TEST

START_TEST(link_new_refuses)
{
	struct msgr__rdma_link_conf bad[] = {
		{ 0, 4096, 1 }, { 1025, 4096, 1 }, { 1, 4095, 1 }, { 1, (1u << 20) + 1, 1 },
		{ 1, 4096, 0 }, { 1, 4096, 1025 },
	};
	struct msgr__rshim_conf sc = { 64, 64 };
	struct msgr__rdma_link *el = (void *)1;
	struct msgr__rshim_qp *qp;
	struct msgr__rshim_ev ev;
	struct msgr__rshim *s;
	char err[100];

	ck_assert_int_eq(shim->open(&s, &sc, err, sizeof(err)), 0);
	ck_assert_int_eq(shim->dial(s, "127.0.0.1:1", &qp), 0);
	next_event(s, &ev);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(msgr__rdma_link_new(&el, shim, s, qp, &bad[i], &cbs, NULL), -EINVAL);
		ck_assert_ptr_null(el);
	}
	shim->destroy(qp);
	shim->close(s);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	const char *q = getenv("MSGR_QUICK");

	quick = q && *q && strcmp(q, "0") != 0;
	/* A new schedule every run; MSGR_RDMA_SEED replays one. */
	q = getenv("MSGR_RDMA_SEED");
	rng_state = q ? strtoull(q, NULL, 0) : rng_state ^ (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	if (!rng_state)
		rng_state = 1;
	printf("test_rdma_engine: seed %#llx, shim %s\n", (unsigned long long)rng_state, shim->name);
	s = unit_suite("rdma_engine", &tc);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, hello_table);
	tcase_add_test(tc, hello_round_trip);
	tcase_add_test(tc, hdr_table);
	tcase_add_test(tc, hdr_round_trip);
	tcase_add_test(tc, credits_unit);
	tcase_add_test(tc, credits_search);
	tcase_add_test(tc, credits_search_finds_faults);
	tcase_add_test(tc, credits_random);
	tcase_add_test(tc, link_new_refuses);
	tcase_add_test(tc, link_stream);
	tcase_add_test(tc, link_credit_while_data_exhausted);
	tcase_add_test(tc, link_coalesce);
	tcase_add_test(tc, link_recv_before_start);
	tcase_add_test(tc, link_hostile);
	tcase_add_test(tc, link_hostile_more);
	tcase_add_test(tc, link_hostile_before_start);
	tcase_add_test(tc, link_faults);
	tcase_add_test(tc, link_rnr_is_failure);
	tcase_add_test(tc, link_owner_fail);
	tcase_add_test(tc, link_peer_gone_keeps_arrivals);
	tcase_add_test(tc, link_bogus_wc);
	return unit_run(s);
}
