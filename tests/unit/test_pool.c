/*
 * test_pool.c - Check suite for shm/pool.c (chunk-run allocator) and the
 * segment layout in shm/segment.c.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shm/pool.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "tests/unit/unit.h"

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#define KB 1024u

/* ck_assert* records a mark point (a write to Check's pipe) even when it
 * passes; in hot loops only pay for the failure. */
#define REQUIRE(cond, ...)                        \
	do {                                      \
		if (!(cond))                      \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* ------------------------------------------------------------------------ */
/* pool basics                                                              */

START_TEST(test_pool_init)
{
	struct msgr__pool p;

	ck_assert_int_eq(msgr__pool_init(&p, 0, 10), -EINVAL);
	ck_assert_int_eq(msgr__pool_init(&p, 64, 31), -EINVAL);
	ck_assert_int_eq(msgr__pool_init(&p, 64, 63), -EINVAL);

	ck_assert_int_eq(msgr__pool_init(&p, 100, 10), 0);
	ck_assert_ptr_nonnull(p.bits);
	ck_assert_ptr_nonnull(p.run);
	ck_assert_uint_eq(p.nchunks, 100);
	ck_assert_uint_eq(p.chunk_shift, 10);
	ck_assert_uint_eq(p.used, 0);
	ck_assert_uint_eq(p.live, 0);
	for (uint32_t c = 0; c < 100; c++)
		ck_assert_uint_eq(msgr__pool_alloc_size(&p, (uint64_t)c << 10), 0);
	msgr__pool_destroy(&p);
	ck_assert_ptr_null(p.bits);
	ck_assert_ptr_null(p.run);
	msgr__pool_destroy(&p); /* twice is harmless */

	/* a default pool's records (32768 chunks, 128 KiB) are mapped, so
	 * an idle client's cost no resident memory; a small pool's are not */
	ck_assert_int_eq(msgr__pool_init(&p, 100, 10), 0);
	ck_assert_int_eq(p.run_mapped, 0);
	msgr__pool_destroy(&p);
	ck_assert_int_eq(msgr__pool_init(&p, 32768, 10), 0);
#ifdef __SANITIZE_ADDRESS__
	ck_assert_int_eq(p.run_mapped, 0); /* calloc, for ASan's redzones */
#else
	ck_assert_int_eq(p.run_mapped, 1);
#endif
	{
		uint64_t a, b;
		ck_assert_int_eq(msgr__pool_alloc(&p, 5000, &a), 0);
		ck_assert_int_eq(msgr__pool_alloc(&p, 1, &b), 0);
		ck_assert_uint_eq(msgr__pool_alloc_size(&p, a), 5 << 10);
		ck_assert_int_eq(msgr__pool_free(&p, a), 0);
		ck_assert_int_eq(msgr__pool_free(&p, a), -EINVAL);
		ck_assert_int_eq(msgr__pool_free(&p, b), 0);
	}
	msgr__pool_destroy(&p);
	ck_assert_ptr_null(p.run);
}
END_TEST

START_TEST(test_pool_basic)
{
	struct msgr__pool p;
	uint64_t a, b, c, d;

	ck_assert_int_eq(msgr__pool_init(&p, 64, 10), 0);

	ck_assert_int_eq(msgr__pool_alloc(&p, 1, &a), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, KB, &b), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, KB + 1, &c), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 5 * KB - 3, &d), 0);
	ck_assert_uint_eq(p.used, 1 + 1 + 2 + 5);
	ck_assert_uint_eq(p.live, 4);

	const uint64_t offs[4] = { a, b, c, d };
	const uint64_t lens[4] = { KB, KB, 2 * KB, 5 * KB };
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(offs[i] % KB, 0);
		ck_assert_uint_le(offs[i] + lens[i], 64 * KB);
		ck_assert_uint_eq(msgr__pool_alloc_size(&p, offs[i]), lens[i]);
		for (int j = 0; j < i; j++)
			ck_assert_msg(offs[i] + lens[i] <= offs[j] || offs[j] + lens[j] <= offs[i],
				      "allocations %d and %d overlap", i, j);
	}

	ck_assert_int_eq(msgr__pool_free(&p, c), 0);
	ck_assert_uint_eq(p.used, 7);
	ck_assert_uint_eq(p.live, 3);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, c), 0);
	ck_assert_int_eq(msgr__pool_free(&p, c), -EINVAL); /* double free */
	ck_assert_uint_eq(p.used, 7);
	ck_assert_uint_eq(p.live, 3);

	ck_assert_int_eq(msgr__pool_free(&p, a), 0);
	ck_assert_int_eq(msgr__pool_free(&p, d), 0);
	ck_assert_int_eq(msgr__pool_free(&p, b), 0);
	ck_assert_uint_eq(p.used, 0);
	ck_assert_uint_eq(p.live, 0);
	ck_assert_int_eq(msgr__pool_free(&p, a), -EINVAL);
	ck_assert_int_eq(msgr__pool_free(&p, b), -EINVAL);

	/* everything came back: the whole pool is one free run again */
	ck_assert_int_eq(msgr__pool_alloc(&p, 64 * KB, &a), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(p.used, 64);
	msgr__pool_destroy(&p);
}
END_TEST

START_TEST(test_pool_zero_bytes)
{
	struct msgr__pool p;
	uint64_t off[64], x;

	ck_assert_int_eq(msgr__pool_init(&p, 64, 10), 0);
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(msgr__pool_alloc(&p, 0, &off[i]), 0);
		ck_assert_uint_eq(p.used, (uint32_t)i + 1);
		ck_assert_uint_eq(p.live, (uint32_t)i + 1);
		ck_assert_uint_eq(msgr__pool_alloc_size(&p, off[i]), KB);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(off[i], off[j]);
	}
	/* live allocations never exceed the chunk count */
	ck_assert_int_eq(msgr__pool_alloc(&p, 0, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 1, &x), -ENOBUFS);
	ck_assert_uint_eq(p.live, 64);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(msgr__pool_free(&p, off[i]), 0);
	ck_assert_uint_eq(p.used, 0);
	ck_assert_uint_eq(p.live, 0);
	msgr__pool_destroy(&p);
}
END_TEST

START_TEST(test_pool_msgsize)
{
	struct msgr__pool p;
	uint64_t off, x;

	ck_assert_int_eq(msgr__pool_init(&p, 64, 10), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 64 * KB + 1, &off), -EMSGSIZE);
	ck_assert_int_eq(msgr__pool_alloc(&p, 65 * KB, &off), -EMSGSIZE);
	ck_assert_int_eq(msgr__pool_alloc(&p, (size_t)1 << 40, &off), -EMSGSIZE);
	ck_assert_uint_eq(p.used, 0);
	ck_assert_uint_eq(p.live, 0);
	/* exactly the pool fits when empty */
	ck_assert_int_eq(msgr__pool_alloc(&p, 64 * KB, &off), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(msgr__pool_free(&p, off), 0);
	/* with one chunk taken, the full size does not fit now, but it could */
	ck_assert_int_eq(msgr__pool_alloc(&p, 1, &x), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 64 * KB, &off), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 64 * KB + 1, &off), -EMSGSIZE);
	ck_assert_int_eq(msgr__pool_alloc(&p, 63 * KB, &off), 0);
	ck_assert_uint_eq(p.used, 64);
	msgr__pool_destroy(&p);
}
END_TEST

/* Lengths near SIZE_MAX must not wrap around to a small chunk count. */
START_TEST(test_pool_msgsize_huge)
{
	static const size_t lens[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 1022,
				       SIZE_MAX - 1023, SIZE_MAX / 2 + 1 };
	struct msgr__pool p;

	ck_assert_int_eq(msgr__pool_init(&p, 64, 10), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint64_t off = 0xdeadbeef;
		int rc = msgr__pool_alloc(&p, lens[i], &off);

		ck_assert_msg(rc == -EMSGSIZE,
			      "alloc(%zu) returned %d (off %" PRIu64 ", used %" PRIu32 ", live %" PRIu32
			      ", size at off %zu), want -EMSGSIZE",
			      lens[i], rc, off, p.used, p.live, msgr__pool_alloc_size(&p, off));
		ck_assert_uint_eq(p.used, 0);
		ck_assert_uint_eq(p.live, 0);
	}
	msgr__pool_destroy(&p);
}
END_TEST

START_TEST(test_pool_full_recover)
{
	struct msgr__pool p;
	uint64_t off[100], x, y;

	ck_assert_int_eq(msgr__pool_init(&p, 100, 8), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(msgr__pool_alloc(&p, 200, &off[i]), 0);
	ck_assert_uint_eq(p.used, 100);
	ck_assert_int_eq(msgr__pool_alloc(&p, 1, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 0, &x), -ENOBUFS);

	for (int round = 0; round < 300; round++) {
		int i = (round * 37) % 100;

		ck_assert_int_eq(msgr__pool_free(&p, off[i]), 0);
		ck_assert_uint_eq(p.used, 99);
		/* the only free chunk is the one just freed */
		ck_assert_int_eq(msgr__pool_alloc(&p, 256, &y), 0);
		ck_assert_uint_eq(y, off[i]);
		ck_assert_int_eq(msgr__pool_alloc(&p, 1, &x), -ENOBUFS);
	}
	/* free two neighbours: a 2-chunk run fits in exactly that place */
	uint64_t lo = off[0] < off[1] ? off[0] : off[1];
	int adjacent = (off[0] > off[1] ? off[0] - off[1] : off[1] - off[0]) == 256;
	ck_assert_int_eq(msgr__pool_free(&p, off[0]), 0);
	ck_assert_int_eq(msgr__pool_free(&p, off[1]), 0);
	if (adjacent) {
		ck_assert_int_eq(msgr__pool_alloc(&p, 512, &y), 0);
		ck_assert_uint_eq(y, lo);
	}
	msgr__pool_destroy(&p);
}
END_TEST

START_TEST(test_pool_forged)
{
	struct msgr__pool p;
	uint64_t a, b, x;

	ck_assert_int_eq(msgr__pool_init(&p, 130, 10), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 1, &a), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 70 * KB, &b), 0); /* 70 chunks, crosses a word */

	const uint64_t forged[] = {
		a + 1, a + 512, a + KB - 1,       /* misaligned */
		b + 8, b + KB + 1,                /* misaligned inside the run */
		b + KB, b + 10 * KB, b + 69 * KB, /* inside the run, not its start */
		(uint64_t)130 * KB,               /* one past the end */
		(uint64_t)131 * KB, (uint64_t)1 << 32, (uint64_t)1 << 42,
		(uint64_t)1 << 63, UINT64_MAX, UINT64_MAX - KB + 1,
		((uint64_t)1 << 42) + a,          /* would alias a if truncated to 32 bits */
		((uint64_t)1 << 32) * KB + b,
	};
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		ck_assert_msg(msgr__pool_free(&p, forged[i]) == -EINVAL, "free(%" PRIu64 ") accepted",
			      forged[i]);
		ck_assert_uint_eq(p.used, 71);
		ck_assert_uint_eq(p.live, 2);
	}
	/* never-allocated chunk starts */
	for (uint32_t c = 0; c < 130; c++) {
		uint64_t o = (uint64_t)c << 10;
		if (o == a || o == b)
			continue;
		ck_assert_int_eq(msgr__pool_free(&p, o), -EINVAL);
	}
	ck_assert_uint_eq(p.used, 71);
	ck_assert_uint_eq(p.live, 2);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, b), 70 * KB);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, b + KB), 0);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, (uint64_t)130 * KB), 0);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, UINT64_MAX), 0);

	/* the run is still whole: the remaining 59 chunks are all there is */
	ck_assert_int_eq(msgr__pool_alloc(&p, 59 * KB, &x), 0);
	ck_assert_msg(x + 59 * KB <= b || b + 70 * KB <= x, "new run overlaps the 70-chunk run");
	ck_assert_msg(x + 59 * KB <= a || a + KB <= x, "new run overlaps the 1-chunk run");
	ck_assert_int_eq(msgr__pool_alloc(&p, 0, &x), -ENOBUFS);

	ck_assert_int_eq(msgr__pool_free(&p, b), 0);
	ck_assert_int_eq(msgr__pool_free(&p, b), -EINVAL);
	ck_assert_int_eq(msgr__pool_free(&p, a), 0);
	ck_assert_int_eq(msgr__pool_free(&p, a), -EINVAL);
	ck_assert_uint_eq(p.live, 1);
	ck_assert_uint_eq(p.used, 59);
	msgr__pool_destroy(&p);
}
END_TEST

/* Runs of sizes around the 64-chunk bitmap word, in a pool whose size is
 * not a multiple of 64. The pool is filled completely, so where a new run
 * can go is known exactly. */
START_TEST(test_pool_large_runs)
{
	enum { NCH = 1000, SHIFT = 6 };
	static const uint32_t runs[] = { 63, 64, 65, 1, 128, 129, 127, 2, 190 };
	enum { NRUNS = sizeof(runs) / sizeof(runs[0]) };
	struct msgr__pool p;
	uint64_t off[NRUNS + 1], x;
	uint32_t len[NRUNS + 1], sum = 0;
	int owner[NCH];

	ck_assert_int_eq(msgr__pool_init(&p, NCH, SHIFT), 0);
	/* the whole pool in one run */
	ck_assert_int_eq(msgr__pool_alloc(&p, (size_t)NCH << SHIFT, &x), 0);
	ck_assert_uint_eq(x, 0);
	ck_assert_uint_eq(msgr__pool_alloc_size(&p, 0), (size_t)NCH << SHIFT);
	ck_assert_int_eq(msgr__pool_alloc(&p, 0, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_free(&p, 0), 0);
	ck_assert_uint_eq(p.used, 0);

	for (int i = 0; i < NCH; i++)
		owner[i] = -1;
	for (int i = 0; i <= NRUNS; i++) {
		len[i] = i < NRUNS ? runs[i] : NCH - sum;
		ck_assert_int_eq(msgr__pool_alloc(&p, ((size_t)len[i] << SHIFT) - (i % 3), &off[i]), 0);
		ck_assert_uint_eq(off[i] % (1u << SHIFT), 0);
		ck_assert_uint_eq(msgr__pool_alloc_size(&p, off[i]), (size_t)len[i] << SHIFT);
		uint64_t c0 = off[i] >> SHIFT;
		ck_assert_uint_le(c0 + len[i], NCH);
		for (uint64_t c = c0; c < c0 + len[i]; c++) {
			ck_assert_msg(owner[c] == -1, "run %d overlaps run %d at chunk %" PRIu64, i,
				      owner[c], c);
			owner[c] = i;
		}
		sum += len[i];
	}
	ck_assert_uint_eq(p.used, NCH);
	ck_assert_int_eq(msgr__pool_alloc(&p, 0, &x), -ENOBUFS);

	/* free the 65-run: 66 chunks do not fit, 65 fit exactly there */
	ck_assert_int_eq(msgr__pool_free(&p, off[2]), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, (size_t)66 << SHIFT, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, (size_t)65 << SHIFT, &x), 0);
	ck_assert_uint_eq(x, off[2]);
	off[2] = x;

	/* free two runs that sit next to each other: their sum fits, exactly there */
	int i1 = -1, i2 = -1;
	for (int i = 0; i <= NRUNS && i1 < 0; i++)
		for (int j = 0; j <= NRUNS; j++)
			if (len[i] + len[j] >= 128 && off[i] + ((uint64_t)len[i] << SHIFT) == off[j]) {
				i1 = i;
				i2 = j;
				break;
			}
	ck_assert_int_ge(i1, 0);
	ck_assert_int_eq(msgr__pool_free(&p, off[i1]), 0);
	ck_assert_int_eq(msgr__pool_free(&p, off[i2]), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, ((size_t)(len[i1] + len[i2]) << SHIFT) + 1, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, (size_t)(len[i1] + len[i2]) << SHIFT, &x), 0);
	ck_assert_uint_eq(x, off[i1]);
	ck_assert_uint_eq(p.used, NCH);
	msgr__pool_destroy(&p);
}
END_TEST

/* Alloc single chunks until full, free every other: lots of free space but
 * no two adjacent chunks, so a 2-chunk run must fail until a neighbour goes. */
START_TEST(test_pool_fragmentation)
{
	enum { NCH = 256 };
	struct msgr__pool p;
	uint64_t at[NCH], x, tmp;

	ck_assert_int_eq(msgr__pool_init(&p, NCH, 10), 0);
	for (int i = 0; i < NCH; i++)
		at[i] = UINT64_MAX;
	for (int i = 0; i < NCH; i++) {
		ck_assert_int_eq(msgr__pool_alloc(&p, i % 2 ? KB : 0, &tmp), 0);
		ck_assert_uint_eq(at[tmp >> 10], UINT64_MAX);
		at[tmp >> 10] = tmp; /* index by chunk */
	}
	for (int c = 0; c < NCH; c += 2)
		ck_assert_int_eq(msgr__pool_free(&p, at[c]), 0);
	ck_assert_uint_eq(p.used, NCH / 2);
	ck_assert_uint_eq(p.live, NCH / 2);

	ck_assert_int_eq(msgr__pool_alloc(&p, KB + 1, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 2 * KB, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 100 * KB, &x), -ENOBUFS);
	ck_assert_uint_eq(p.used, NCH / 2);
	/* a single chunk still fits, in one of the holes */
	ck_assert_int_eq(msgr__pool_alloc(&p, KB, &x), 0);
	ck_assert_uint_eq((x >> 10) % 2, 0);
	ck_assert_int_eq(msgr__pool_free(&p, x), 0);

	/* free chunk 101: 100..102 become a 3-chunk hole, the only one */
	ck_assert_int_eq(msgr__pool_free(&p, at[101]), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 4 * KB, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 3 * KB, &x), 0);
	ck_assert_uint_eq(x, 100 * KB);
	ck_assert_int_eq(msgr__pool_alloc(&p, 2 * KB, &x), -ENOBUFS);

	/* free 201, 203, 205: 200..206 is a 7-chunk hole */
	ck_assert_int_eq(msgr__pool_free(&p, at[201]), 0);
	ck_assert_int_eq(msgr__pool_free(&p, at[203]), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 6 * KB, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_free(&p, at[205]), 0);
	ck_assert_int_eq(msgr__pool_alloc(&p, 8 * KB, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 7 * KB, &x), 0);
	ck_assert_uint_eq(x, 200 * KB);

	/* free the 3-run at 100 and every other odd chunk in 0..127 (the evens
	 * are free): a 128-run at 0, straddling two bitmap words */
	ck_assert_int_eq(msgr__pool_free(&p, 100 * KB), 0);
	for (int c = 1; c < 128; c += 2)
		if (c != 101)
			ck_assert_int_eq(msgr__pool_free(&p, at[c]), 0);
	/* chunk 128 is even, so free too; 129 is held */
	ck_assert_int_eq(msgr__pool_alloc(&p, 130 * KB, &x), -ENOBUFS);
	ck_assert_int_eq(msgr__pool_alloc(&p, 129 * KB, &x), 0);
	ck_assert_uint_eq(x, 0);
	msgr__pool_destroy(&p);
}
END_TEST

/* Random allocs and frees against a reference model of who owns each chunk. */
struct pool_cfg {
	uint32_t nchunks, shift, ops;
	uint64_t seed;
};

static const struct pool_cfg pool_cfgs[] = {
	{ 64, 10, 200000, 1 },   { 300, 6, 200000, 2 },  { 1000, 12, 200000, 3 },
	{ 4096, 10, 100000, 4 }, { 200, 0, 200000, 5 },  { 1, 10, 20000, 6 },
	{ 65, 10, 100000, 7 },   { 129, 3, 100000, 8 },
};

struct live_alloc {
	uint64_t off;
	uint32_t chunks;
};

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return n ? splitmix64(s) % n : 0;
}

START_TEST(test_pool_random)
{
	const struct pool_cfg *cfg = &pool_cfgs[_i];
	const uint32_t nch = cfg->nchunks, shift = cfg->shift;
	const size_t csize = (size_t)1 << shift, psize = (size_t)nch << shift;
	struct msgr__pool p;
	int32_t *owner = malloc(nch * sizeof(*owner));
	struct live_alloc *live = malloc(nch * sizeof(*live));
	uint32_t nlive = 0, used = 0;
	uint64_t s = cfg->seed * 0x1234567ULL;
	uint64_t last_freed = UINT64_MAX;
	uint64_t n_ok = 0, n_nobufs = 0, n_msgsize = 0, n_free = 0, n_forged = 0;

	ck_assert_ptr_nonnull(owner);
	ck_assert_ptr_nonnull(live);
	for (uint32_t c = 0; c < nch; c++)
		owner[c] = -1;
	ck_assert_int_eq(msgr__pool_init(&p, nch, shift), 0);

	for (uint32_t op = 0; op < cfg->ops; op++) {
		uint64_t r = rnd_below(&s, 100);

		if (nlive == 0 || r < 52) {
			/* alloc */
			uint64_t kind = rnd_below(&s, 100);
			size_t len;
			if (kind < 5)
				len = 0;
			else if (kind < 55)
				len = 1 + rnd_below(&s, 2 * csize);
			else if (kind < 80)
				len = 1 + rnd_below(&s, 16 * csize);
			else if (kind < 93)
				len = 1 + rnd_below(&s, psize / 4 + 1);
			else if (kind < 98)
				len = 1 + rnd_below(&s, psize);
			else
				len = psize + 1 + rnd_below(&s, 10 * csize);
			uint64_t want = len ? (len + csize - 1) / csize : 1;
			uint64_t off = UINT64_MAX;
			int rc = msgr__pool_alloc(&p, len, &off);

			if (rc == 0) {
				REQUIRE(want <= nch, "alloc(%zu) of %" PRIu64 " chunks succeeded", len,
					want);
				REQUIRE(off % csize == 0, "alloc(%zu) = misaligned %" PRIu64, len, off);
				uint64_t c0 = off >> shift;
				REQUIRE(c0 + want <= nch, "alloc(%zu) = %" PRIu64 " runs past the pool", len,
					off);
				for (uint64_t c = c0; c < c0 + want; c++)
					REQUIRE(owner[c] == -1,
						      "op %" PRIu32 ": alloc(%zu) at chunk %" PRIu64
						      " overlaps live allocation at chunk %" PRId32,
						      op, len, c, owner[c]);
				for (uint64_t c = c0; c < c0 + want; c++)
					owner[c] = (int32_t)c0;
				REQUIRE(msgr__pool_alloc_size(&p, off) == want * csize,
					"alloc_size(%" PRIu64 ") = %zu, want %" PRIu64, off,
					msgr__pool_alloc_size(&p, off), want * csize);
				live[nlive].off = off;
				live[nlive].chunks = (uint32_t)want;
				nlive++;
				used += (uint32_t)want;
				n_ok++;
			} else if (rc == -ENOBUFS) {
				REQUIRE(want <= nch, "alloc(%zu) = -ENOBUFS, want -EMSGSIZE", len);
				/* a first-fit search would have found a run: there is none */
				uint64_t runlen = 0;
				for (uint32_t c = 0; c < nch; c++) {
					runlen = owner[c] == -1 ? runlen + 1 : 0;
					REQUIRE(runlen < want,
						      "op %" PRIu32 ": alloc(%zu) = -ENOBUFS but chunks %" PRIu64
						      "..%" PRIu32 " are free",
						      op, len, c + 1 - runlen, c);
				}
				n_nobufs++;
			} else {
				REQUIRE(rc == -EMSGSIZE, "alloc(%zu) returned %d", len, rc);
				REQUIRE(want > nch, "alloc(%zu) = -EMSGSIZE but it fits an empty pool", len);
				n_msgsize++;
			}
		} else if (r < 95) {
			/* free a live allocation */
			uint32_t k = (uint32_t)rnd_below(&s, nlive);
			struct live_alloc la = live[k];
			REQUIRE(msgr__pool_free(&p, la.off) == 0, "free(%" PRIu64 ") of a live allocation failed",
				la.off);
			for (uint64_t c = la.off >> shift; c < (la.off >> shift) + la.chunks; c++)
				owner[c] = -1;
			live[k] = live[--nlive];
			used -= la.chunks;
			last_freed = la.off;
			n_free++;
		} else {
			/* forged free: not the start of a live allocation */
			uint64_t off;
			if (r < 97 && last_freed != UINT64_MAX)
				off = last_freed;
			else
				off = rnd_below(&s, psize + 3 * csize);
			int is_start = 0;
			for (uint32_t k = 0; k < nlive; k++)
				if (live[k].off == off)
					is_start = 1;
			if (!is_start) {
				REQUIRE(msgr__pool_free(&p, off) == -EINVAL,
					      "op %" PRIu32 ": forged free(%" PRIu64 ") accepted", op, off);
				n_forged++;
			}
		}
		REQUIRE(p.used == used && p.live == nlive,
			      "op %" PRIu32 ": pool says used %" PRIu32 " live %" PRIu32
			      ", model %" PRIu32 " / %" PRIu32,
			      op, p.used, p.live, used, nlive);

		if (op % 4096 == 0) {
			/* alloc_size: the length at every start, 0 elsewhere */
			for (uint32_t c = 0; c < nch; c++) {
				size_t sz = msgr__pool_alloc_size(&p, (uint64_t)c << shift);
				if (owner[c] == (int32_t)c) {
					uint32_t n = 0;
					while (c + n < nch && owner[c + n] == (int32_t)c)
						n++;
					REQUIRE(sz == (size_t)n << shift, "alloc_size(chunk %" PRIu32 ") = %zu", c, sz);
				} else {
					REQUIRE(sz == 0, "alloc_size(chunk %" PRIu32 ") = %zu, want 0", c, sz);
				}
			}
		}
	}
	/* exercise every outcome */
	ck_assert_uint_gt(n_ok, 100);
	ck_assert_uint_gt(n_free, 100);
	ck_assert_uint_gt(n_nobufs, 10);
	ck_assert_uint_gt(n_msgsize, 10);
	ck_assert_uint_gt(n_forged, 10);

	while (nlive) {
		ck_assert_int_eq(msgr__pool_free(&p, live[--nlive].off), 0);
	}
	ck_assert_uint_eq(p.used, 0);
	ck_assert_uint_eq(p.live, 0);
	uint64_t off;
	ck_assert_int_eq(msgr__pool_alloc(&p, psize, &off), 0);
	ck_assert_uint_eq(off, 0);
	msgr__pool_destroy(&p);
	free(owner);
	free(live);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* segment layout                                                           */

START_TEST(test_seg_struct_layout)
{
	size_t dhb = offsetof(struct msgr__seg_hdr, daemon_heartbeat_ns);
	size_t dsl = offsetof(struct msgr__seg_hdr, daemon_sleeping);
	size_t drx = offsetof(struct msgr__seg_hdr, daemon_wants_rx);
	size_t chb = offsetof(struct msgr__seg_hdr, client_heartbeat_ns);
	size_t csl = offsetof(struct msgr__seg_hdr, client_sleeping);
	size_t pid = offsetof(struct msgr__seg_hdr, client_pid);

	ck_assert_uint_le(sizeof(struct msgr__seg_hdr), 4096);
	ck_assert_uint_eq(dhb % MSGR__CACHELINE, 0);
	ck_assert_uint_eq(chb % MSGR__CACHELINE, 0);
	/* what each side writes is on its own cache line */
	ck_assert_uint_eq(dsl / 64, dhb / 64);
	ck_assert_uint_eq(drx / 64, dhb / 64);
	ck_assert_uint_eq(csl / 64, chb / 64);
	ck_assert_uint_ne(chb / 64, dhb / 64);
	ck_assert_uint_lt(pid / 64, dhb / 64);
	ck_assert_uint_eq(sizeof(struct msgr__seg_params), 5 * sizeof(uint32_t));
	ck_assert_uint_eq(sizeof(struct msgr__desc) % 8, 0);
	ck_assert_uint_eq(sizeof(struct msgr__free_desc), 8);
}
END_TEST

START_TEST(test_seg_params)
{
	struct msgr__seg_params sp;

	msgr__seg_params_init(&sp, 0);
	ck_assert_uint_eq(sp.pool_chunks, 64);
	ck_assert_int_eq(msgr__seg_params_check(&sp), 0);
	msgr__seg_params_init(&sp, (size_t)1 << 20);
	ck_assert_uint_eq(sp.pool_chunks, 1024);
	ck_assert_uint_eq(sp.chunk_shift, MSGR__CHUNK_SHIFT);
	ck_assert_uint_eq(sp.cmd_slots, MSGR__CMD_SLOTS);
	ck_assert_uint_eq(sp.evt_slots, MSGR__EVT_SLOTS);
	ck_assert_uint_eq(sp.free_slots, 1024);
	ck_assert_int_eq(msgr__seg_params_check(&sp), 0);
	msgr__seg_params_init(&sp, ((size_t)1 << 20) + 1);
	ck_assert_uint_eq(sp.pool_chunks, 1024);
	msgr__seg_params_init(&sp, 1025 * (size_t)KB);
	ck_assert_uint_eq(sp.pool_chunks, 1025);
	ck_assert_uint_eq(sp.free_slots, 2048);
	ck_assert_int_eq(msgr__seg_params_check(&sp), 0);
	msgr__seg_params_init(&sp, SIZE_MAX);
	ck_assert_uint_eq(sp.pool_chunks, 1u << 20);
	ck_assert_uint_eq(sp.free_slots, 1u << 20);
	ck_assert_int_eq(msgr__seg_params_check(&sp), 0);

	/* free rings can hold one entry per chunk, for every size */
	for (size_t sz = 0; sz < ((size_t)3 << 30); sz = sz * 3 / 2 + 4097) {
		msgr__seg_params_init(&sp, sz);
		ck_assert_int_eq(msgr__seg_params_check(&sp), 0);
		ck_assert_uint_ge(sp.free_slots, sp.pool_chunks);
		ck_assert_uint_eq(sp.free_slots & (sp.free_slots - 1), 0);
		ck_assert_uint_lt(sp.free_slots, 2 * sp.pool_chunks);
	}

	/* each bad field on its own */
	struct msgr__seg_params good;
	msgr__seg_params_init(&good, (size_t)1 << 20);
#define BAD(field, val)                                                                 \
	do {                                                                            \
		sp = good;                                                              \
		sp.field = (val);                                                       \
		ck_assert_msg(msgr__seg_params_check(&sp) == -EINVAL,                   \
			      "params_check accepted " #field " = %" PRIu32, sp.field); \
	} while (0)
	BAD(pool_chunks, 0);
	BAD(pool_chunks, 63);
	BAD(pool_chunks, (1u << 20) + 1);
	BAD(chunk_shift, 5);
	BAD(chunk_shift, 21);
	BAD(chunk_shift, 64);
	BAD(cmd_slots, 0);
	BAD(cmd_slots, 1);
	BAD(cmd_slots, 3);
	BAD(cmd_slots, 4095);
	BAD(evt_slots, 0);
	BAD(evt_slots, 1);
	BAD(evt_slots, 6000);
	BAD(free_slots, 512);        /* < pool_chunks */
	BAD(free_slots, 1536);       /* not a power of two */
	BAD(free_slots, 0);
#undef BAD
}
END_TEST

static void check_layout(const struct msgr__seg_params *sp, const struct msgr__seg_layout *lo)
{
	const uint64_t pool = (uint64_t)sp->pool_chunks << sp->chunk_shift;
	const struct {
		const char *name;
		uint64_t at, len;
	} reg[] = {
		{ "header", 0, sizeof(struct msgr__seg_hdr) },
		{ "cmd", lo->cmd, msgr__ring_mem_size(sp->cmd_slots, sizeof(struct msgr__desc)) },
		{ "evt", lo->evt, msgr__ring_mem_size(sp->evt_slots, sizeof(struct msgr__desc)) },
		{ "txdone", lo->txdone,
		  msgr__ring_mem_size(sp->free_slots, sizeof(struct msgr__free_desc)) },
		{ "rxfree", lo->rxfree,
		  msgr__ring_mem_size(sp->free_slots, sizeof(struct msgr__free_desc)) },
		{ "credits", lo->credits, (uint64_t)MSGR__CREDIT_SLOTS * sizeof(uint64_t) },
		{ "txpool", lo->txpool, pool },
		{ "rxpool", lo->rxpool, pool },
	};
	const size_t n = sizeof(reg) / sizeof(reg[0]);

	for (size_t i = 0; i < n; i++) {
		/* the header, rings and TX pool start on pages; the RX pool
		 * follows the TX pool directly and is cache-line aligned as
		 * segment.h promises */
		uint64_t align = strcmp(reg[i].name, "rxpool") == 0 ? MSGR__CACHELINE : 4096;
		ck_assert_msg(reg[i].at % align == 0, "%s at %" PRIu64 " not %" PRIu64 "-aligned",
			      reg[i].name, reg[i].at, align);
		ck_assert_msg(reg[i].at + reg[i].len <= lo->size,
			      "%s [%" PRIu64 ", +%" PRIu64 ") runs past the segment (%" PRIu64 ")",
			      reg[i].name, reg[i].at, reg[i].len, lo->size);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(reg[i].at + reg[i].len <= reg[j].at ||
					      reg[j].at + reg[j].len <= reg[i].at,
				      "%s [%" PRIu64 ", +%" PRIu64 ") overlaps %s [%" PRIu64 ", +%" PRIu64 ")",
				      reg[i].name, reg[i].at, reg[i].len, reg[j].name, reg[j].at,
				      reg[j].len);
	}
	/* in the documented order */
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_gt(reg[i].at, reg[i - 1].at);
	ck_assert_uint_eq(lo->size % 4096, 0);
	/* no more than alignment slack: a page per region */
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += reg[i].len;
	ck_assert_uint_le(lo->size, sum + n * 4096);
}

START_TEST(test_seg_layout)
{
	static const size_t sizes[] = {
		0, 1, 64 * KB, 65 * KB, 66 * KB, 67 * KB, 100 * KB, (size_t)1 << 20,
		((size_t)1 << 20) + 1, 3 * ((size_t)1 << 20) + 512, (size_t)64 << 20,
		(size_t)1 << 30, (size_t)4 << 30, SIZE_MAX,
	};
	struct msgr__seg_params sp;
	struct msgr__seg_layout lo, lo2;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		msgr__seg_params_init(&sp, sizes[i]);
		msgr__seg_layout(&sp, &lo);
		check_layout(&sp, &lo);
		msgr__seg_layout(&sp, &lo2);
		ck_assert_mem_eq(&lo, &lo2, sizeof(lo)); /* deterministic */
	}
	/* any parameters params_check accepts give a sane layout */
	static const uint32_t chunks[] = { 64, 65, 100, 1000, 1u << 20 };
	static const uint32_t shifts[] = { 6, 7, 10, 12, 20 };
	static const uint32_t slots[] = { 2, 64, 4096, 1u << 16 };
	for (size_t a = 0; a < 5; a++)
		for (size_t b = 0; b < 5; b++)
			for (size_t c = 0; c < 4; c++) {
				sp.pool_chunks = chunks[a];
				sp.chunk_shift = shifts[b];
				sp.cmd_slots = slots[c];
				sp.evt_slots = slots[(c + 1) % 4];
				sp.free_slots = 1;
				while (sp.free_slots < sp.pool_chunks)
					sp.free_slots <<= 1;
				ck_assert_int_eq(msgr__seg_params_check(&sp), 0);
				msgr__seg_layout(&sp, &lo);
				check_layout(&sp, &lo);
			}
}
END_TEST

struct seg_map {
	unsigned char *base;
	size_t maplen;
	struct msgr__seg_params sp;
	struct msgr__seg_layout lo;
};

#define SEG_GUARD 4096

static void seg_map_new(struct seg_map *m, size_t pool_size)
{
	msgr__seg_params_init(&m->sp, pool_size);
	msgr__seg_layout(&m->sp, &m->lo);
	m->maplen = m->lo.size + SEG_GUARD;
	m->base = mmap(NULL, m->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->base, MAP_FAILED);
	/* the segment is zeros, as from ftruncate (seg_format relies on it);
	 * the guard behind it is not, to catch a write past its end */
	memset(m->base + m->lo.size, 0x5A, SEG_GUARD);
	msgr__seg_format(m->base, &m->sp, &m->lo, 1234, 5678);
}

static void seg_map_free(struct seg_map *m)
{
	for (size_t i = 0; i < SEG_GUARD; i++)
		ck_assert_msg(m->base[m->lo.size + i] == 0x5A, "format wrote past the segment");
	munmap(m->base, m->maplen);
}

/* Fill a ring region to exactly nslots with a pattern, then drain it. */
static void fill_ring(unsigned char *base, uint64_t at, uint32_t nslots, uint32_t payload,
		      uint64_t tag, int mp)
{
	struct msgr__ring prod, cons;
	uint64_t buf[8] = { 0 };

	ck_assert_uint_le(payload, sizeof(buf));
	ck_assert_int_eq(msgr__ring_open(&prod, base + at, nslots, payload), 0);
	ck_assert_int_eq(msgr__ring_open(&cons, base + at, nslots, payload), 0);
	ck_assert_int_eq(msgr__ring_pop_sc(&cons, buf), -EAGAIN);
	for (uint32_t k = 0; k < nslots; k++) {
		for (uint32_t w = 0; w < payload / 8; w++)
			buf[w] = tag ^ ((uint64_t)k << 8) ^ w;
		ck_assert_int_eq(mp ? msgr__ring_push_mp(&prod, buf) : msgr__ring_push_sp(&prod, buf), 0);
	}
	ck_assert_int_eq(mp ? msgr__ring_push_mp(&prod, buf) : msgr__ring_push_sp(&prod, buf),
			 -ENOBUFS);
}

static void drain_ring(unsigned char *base, uint64_t at, uint32_t nslots, uint32_t payload,
		       uint64_t tag)
{
	struct msgr__ring cons;
	uint64_t buf[8];

	ck_assert_int_eq(msgr__ring_open(&cons, base + at, nslots, payload), 0);
	for (uint32_t k = 0; k < nslots; k++) {
		ck_assert_int_eq(msgr__ring_pop_sc(&cons, buf), 0);
		for (uint32_t w = 0; w < payload / 8; w++)
			ck_assert_msg(buf[w] == (tag ^ ((uint64_t)k << 8) ^ w),
				      "ring %" PRIx64 " slot %" PRIu32 " word %" PRIu32 " clobbered", tag,
				      k, w);
	}
	ck_assert_int_eq(msgr__ring_pop_sc(&cons, buf), -EAGAIN);
}

START_TEST(test_seg_format_check)
{
	static const size_t pool_sizes[] = { 0, 65 * KB, (size_t)1 << 20 };
	const size_t pool_size = pool_sizes[_i];
	struct seg_map m;
	const struct msgr__seg_hdr *h;
	uint64_t t0 = msgr__now_ns();

	seg_map_new(&m, pool_size);
	h = (const struct msgr__seg_hdr *)m.base;
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &m.sp), 0);
	ck_assert_uint_eq(h->magic, MSGR__SEG_MAGIC);
	ck_assert_mem_eq(&h->magic, "SMGRSEG1", 8);
	ck_assert_uint_eq(h->version, MSGR__SEG_VERSION);
	ck_assert_uint_eq(h->hdr_size, sizeof(struct msgr__seg_hdr));
	ck_assert_uint_eq(h->seg_size, m.lo.size);
	ck_assert_mem_eq(&h->params, &m.sp, sizeof(m.sp));
	ck_assert_int_eq(h->daemon_pid, 1234);
	ck_assert_int_eq(h->client_pid, 5678);
	ck_assert_uint_gt(atomic_load(&h->daemon_heartbeat_ns), 0);
	ck_assert_uint_le(atomic_load(&h->daemon_heartbeat_ns), msgr__now_ns());
	ck_assert_uint_le(t0, msgr__now_ns());
	/* segment.c: "the daemon has not polled this segment yet: a first
	 * command must wake it" */
	ck_assert_uint_eq(atomic_load(&h->daemon_sleeping), 1);
	ck_assert_uint_eq(atomic_load(&h->daemon_wants_rx), 0);
	ck_assert_uint_eq(atomic_load(&h->client_sleeping), 0);
	ck_assert_uint_eq(atomic_load(&h->client_heartbeat_ns), 0);

	/* all four rings formatted and usable at once without touching each
	 * other: fill each completely, then drain and compare */
	fill_ring(m.base, m.lo.cmd, m.sp.cmd_slots, sizeof(struct msgr__desc), 0xC0000000, 1);
	fill_ring(m.base, m.lo.evt, m.sp.evt_slots, sizeof(struct msgr__desc), 0xE0000000, 0);
	fill_ring(m.base, m.lo.txdone, m.sp.free_slots, sizeof(struct msgr__free_desc), 0x70000000, 0);
	fill_ring(m.base, m.lo.rxfree, m.sp.free_slots, sizeof(struct msgr__free_desc), 0x80000000, 1);
	/* and the pools written end to end */
	memset(m.base + m.lo.txpool, 0x11, (size_t)m.sp.pool_chunks << m.sp.chunk_shift);
	memset(m.base + m.lo.rxpool, 0x22, (size_t)m.sp.pool_chunks << m.sp.chunk_shift);
	drain_ring(m.base, m.lo.cmd, m.sp.cmd_slots, sizeof(struct msgr__desc), 0xC0000000);
	drain_ring(m.base, m.lo.evt, m.sp.evt_slots, sizeof(struct msgr__desc), 0xE0000000);
	drain_ring(m.base, m.lo.txdone, m.sp.free_slots, sizeof(struct msgr__free_desc), 0x70000000);
	drain_ring(m.base, m.lo.rxfree, m.sp.free_slots, sizeof(struct msgr__free_desc), 0x80000000);
	/* the header survived all that */
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &m.sp), 0);
	seg_map_free(&m);
}
END_TEST

START_TEST(test_seg_check_rejects)
{
	struct seg_map m;
	struct msgr__seg_hdr *h, saved;
	struct msgr__seg_params sp;

	seg_map_new(&m, (size_t)1 << 20);
	h = (struct msgr__seg_hdr *)m.base;
	memcpy(&saved, h, sizeof(saved));
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &m.sp), 0);

#define CORRUPT(stmt, want)                                                                 \
	do {                                                                                \
		stmt;                                                                       \
		int rc_ = msgr__seg_check(m.base, m.lo.size, &m.sp);                        \
		ck_assert_msg(rc_ == (want), "after `%s` check returned %d, want %d", #stmt, \
			      rc_, (want));                                                 \
		memcpy(h, &saved, sizeof(saved));                                          \
		ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &m.sp), 0);             \
	} while (0)

	CORRUPT(h->magic ^= 1, -EPROTO);
	CORRUPT(h->magic ^= 1ULL << 63, -EPROTO);
	CORRUPT(h->magic = 0, -EPROTO);
	CORRUPT(h->magic = __builtin_bswap64(MSGR__SEG_MAGIC), -EPROTO);
	CORRUPT(h->version = MSGR__SEG_VERSION + 1, -EPROTONOSUPPORT);
	CORRUPT(h->version = 0, -EPROTONOSUPPORT);
	CORRUPT(h->version = UINT32_MAX, -EPROTONOSUPPORT);
	CORRUPT(h->hdr_size += 64, -EPROTONOSUPPORT);
	CORRUPT(h->hdr_size = 0, -EPROTONOSUPPORT);
	CORRUPT(h->seg_size += 4096, -EPROTO);
	CORRUPT(h->seg_size -= 4096, -EPROTO);
	CORRUPT(h->seg_size = 0, -EPROTO);
	CORRUPT(h->params.pool_chunks++, -EPROTO);
	CORRUPT(h->params.pool_chunks = 0, -EPROTO);
	CORRUPT(h->params.chunk_shift = 12, -EPROTO);
	CORRUPT(h->params.cmd_slots *= 2, -EPROTO);
	CORRUPT(h->params.evt_slots /= 2, -EPROTO);
	CORRUPT(h->params.free_slots *= 2, -EPROTO);
	CORRUPT(memset(h, 0, sizeof(*h)), -EPROTO);
	CORRUPT(memset(h, 0xff, sizeof(*h)), -EPROTO);
#undef CORRUPT

	/* the mapping size the client has must be the agreed size */
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size - 1, &m.sp), -EPROTO);
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size - 4096, &m.sp), -EPROTO);
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size + 4096, &m.sp), -EPROTO);
	ck_assert_int_eq(msgr__seg_check(m.base, sizeof(struct msgr__seg_hdr) - 1, &m.sp), -EPROTO);
	ck_assert_int_eq(msgr__seg_check(m.base, 0, &m.sp), -EPROTO);

	/* parameters received on the socket that differ from the header, or
	 * are invalid, fail even against an intact header */
	sp = m.sp;
	sp.evt_slots *= 2;
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &sp), -EPROTO);
	sp = m.sp;
	sp.cmd_slots = 3;
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &sp), -EPROTO);
	sp = m.sp;
	sp.free_slots = sp.pool_chunks - 1;
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &sp), -EPROTO);
	ck_assert_int_eq(msgr__seg_check(m.base, m.lo.size, &m.sp), 0);
	seg_map_free(&m);
}
END_TEST

START_TEST(test_now_ns)
{
	uint64_t prev = msgr__now_ns();

	ck_assert_uint_gt(prev, 0);
	for (int i = 0; i < 10000; i++) {
		uint64_t t = msgr__now_ns();
		ck_assert_uint_ge(t, prev);
		prev = t;
	}
	struct timespec ts = { 0, 2000000 };
	nanosleep(&ts, NULL);
	ck_assert_uint_ge(msgr__now_ns() - prev, 2000000);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

	tc = tcase_create("pool");
	tcase_add_test(tc, test_pool_init);
	tcase_add_test(tc, test_pool_basic);
	tcase_add_test(tc, test_pool_zero_bytes);
	tcase_add_test(tc, test_pool_msgsize);
	tcase_add_test(tc, test_pool_msgsize_huge);
	tcase_add_test(tc, test_pool_full_recover);
	tcase_add_test(tc, test_pool_forged);
	tcase_add_test(tc, test_pool_large_runs);
	tcase_add_test(tc, test_pool_fragmentation);
	tcase_add_loop_test(tc, test_pool_random, 0, (int)(sizeof(pool_cfgs) / sizeof(pool_cfgs[0])));
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("segment");
	tcase_add_test(tc, test_seg_struct_layout);
	tcase_add_test(tc, test_seg_params);
	tcase_add_test(tc, test_seg_layout);
	tcase_add_loop_test(tc, test_seg_format_check, 0, 3);
	tcase_add_test(tc, test_seg_check_rejects);
	tcase_add_test(tc, test_now_ns);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return unit_run(pool_suite());
}
