/*
 * test_ring.c - Check suite for shm/ring.c and the wake protocol in shm/wake.h.
 *
 *   single    one thread: FIFO order, payload bytes, empty/full, ready_sc,
 *             writable_sp, wraparound, open() argument checks, hostile seq
 *             words
 *   xprocess  a producer process and a consumer process on one memfd
 *   mproducer four push_mp threads and one consumer
 *   wake      the arm / re-check / sleep protocol on an eventfd
 *
 * MSGR_QUICK=1 (set by the sanitizer targets) shrinks the stress counts.
 *
 * Threads never call ck_assert (a failing assert exits or longjmps out of the
 * wrong thread); they record what went wrong and the test thread asserts
 * after joining them.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/wake.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

static int quick(void)
{
	const char *q = getenv("MSGR_QUICK");

	return q && *q && strcmp(q, "0") != 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_bytes(void *buf, size_t len, uint64_t seed)
{
	unsigned char *b = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&seed);
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(b + i, &v, n);
	}
}

/* ck_assert* records a mark point (a write to Check's pipe) even when it
 * passes; in hot loops only pay for the failure. */
#define REQUIRE(cond, ...)                        \
	do {                                      \
		if (!(cond))                      \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define GUARD_BYTES 256
#define GUARD_FILL 0xA5

/* A ring in private memory with separate producer and consumer handles (as
 * two processes would have) and a guard area after it. */
struct tring {
	unsigned char *mem;
	size_t size;
	uint32_t nslots, payload;
	struct msgr__ring prod, cons;
};

static void tring_new(struct tring *t, uint32_t nslots, uint32_t payload)
{
	size_t sz = msgr__ring_mem_size(nslots, payload);
	size_t alloc = (sz + GUARD_BYTES + 63) & ~(size_t)63;

	t->mem = aligned_alloc(64, alloc);
	ck_assert_ptr_nonnull(t->mem);
	memset(t->mem, GUARD_FILL, alloc);
	t->size = sz;
	t->nslots = nslots;
	t->payload = payload;
	msgr__ring_format(t->mem, nslots, payload);
	ck_assert_int_eq(msgr__ring_open(&t->prod, t->mem, nslots, payload), 0);
	ck_assert_int_eq(msgr__ring_open(&t->cons, t->mem, nslots, payload), 0);
}

static void tring_free(struct tring *t)
{
	for (size_t i = 0; i < GUARD_BYTES; i++)
		ck_assert_msg(t->mem[t->size + i] == GUARD_FILL,
			      "ring wrote past its memory: guard byte %zu is 0x%02x", i,
			      t->mem[t->size + i]);
	free(t->mem);
	t->mem = NULL;
}

typedef int (*push_fn)(struct msgr__ring *, const void *);

static push_fn pusher(int i)
{
	return i == 0 ? msgr__ring_push_sp : msgr__ring_push_mp;
}

static const char *pusher_name(int i)
{
	return i == 0 ? "push_sp" : "push_mp";
}

static void make_desc(struct msgr__desc *d, uint64_t k)
{
	memset(d, 0, sizeof(*d));
	d->op = (uint16_t)(MSGR__OP_SEND + (k % 3));
	d->mode = (uint16_t)(k * 7);
	d->conn = (uint32_t)(k * 2654435761u);
	d->msg_type = (uint32_t)~k;
	d->error = -(int32_t)(k % 200);
	d->off = k << 10;
	d->len = k * 31 + 5;
}

/* ------------------------------------------------------------------------ */
/* single-thread tests                                                      */

START_TEST(test_mem_size)
{
	ck_assert_uint_eq(sizeof(struct msgr__ring_shm), MSGR__CACHELINE);
	ck_assert_uint_eq(msgr__ring_mem_size(8, 8), 64 + 8 * 16);
	ck_assert_uint_eq(msgr__ring_mem_size(1024, 48), 64 + 1024 * 56);
	ck_assert_uint_eq(msgr__ring_mem_size(4096, sizeof(struct msgr__desc)),
			  64 + 4096 * (sizeof(struct msgr__desc) + 8));
	/* big rings must not overflow in 32-bit arithmetic */
	ck_assert_uint_eq(msgr__ring_mem_size(1u << 31, 64), 64 + ((size_t)1 << 31) * 72);
	ck_assert_uint_eq(sizeof(struct msgr__desc) % 8, 0);
	ck_assert_uint_eq(sizeof(struct msgr__free_desc), 8);
}
END_TEST

START_TEST(test_open_rejects)
{
	static const uint32_t bad_slots[] = { 0, 3, 5, 6, 7, 12, 100, 1000, 0x80000001u, UINT32_MAX };
	static const uint32_t bad_payload[] = { 0, 1, 4, 7, 12, 20, 44, 63 };
	static const uint32_t good_slots[] = { 2, 4, 8, 1024, 1u << 20, 1u << 31 };
	static const uint32_t good_payload[] = { 8, 16, 32, 48, 56, 4096 };
	unsigned char mem[256] __attribute__((aligned(64)));
	struct msgr__ring r;

	for (size_t i = 0; i < sizeof(bad_slots) / sizeof(bad_slots[0]); i++)
		ck_assert_msg(msgr__ring_open(&r, mem, bad_slots[i], 8) == -EINVAL,
			      "open accepted nslots=%" PRIu32, bad_slots[i]);
	for (size_t i = 0; i < sizeof(bad_payload) / sizeof(bad_payload[0]); i++)
		ck_assert_msg(msgr__ring_open(&r, mem, 8, bad_payload[i]) == -EINVAL,
			      "open accepted payload=%" PRIu32, bad_payload[i]);
	/* open must not read the memory: passing a small buffer is fine */
	for (size_t i = 0; i < sizeof(good_slots) / sizeof(good_slots[0]); i++) {
		for (size_t j = 0; j < sizeof(good_payload) / sizeof(good_payload[0]); j++) {
			memset(&r, 0xff, sizeof(r));
			ck_assert_int_eq(msgr__ring_open(&r, mem, good_slots[i], good_payload[j]), 0);
			ck_assert_ptr_eq(r.shm, (void *)mem);
			ck_assert_ptr_eq(r.slots, mem + sizeof(struct msgr__ring_shm));
			ck_assert_uint_eq(r.pos, 0);
			ck_assert_uint_eq(r.mask, good_slots[i] - 1);
			ck_assert_uint_eq(r.payload_size, good_payload[j]);
			ck_assert_uint_eq(r.slot_size, good_payload[j] + 8);
		}
	}
}
END_TEST

/* A slot size that overflows uint32 must be refused, not wrapped to 0. */
START_TEST(test_open_rejects_overflowing_payload)
{
	unsigned char mem[256] __attribute__((aligned(64)));
	struct msgr__ring r;
	uint32_t payload = UINT32_MAX - 7; /* multiple of 8; payload + 8 wraps to 0 */
	int rc = msgr__ring_open(&r, mem, 8, payload);

	ck_assert_msg(rc == -EINVAL || (uint64_t)r.slot_size == (uint64_t)payload + 8,
		      "open(payload=%" PRIu32 ") returned %d with slot_size=%" PRIu32,
		      payload, rc, r.slot_size);
	ck_assert_msg(msgr__ring_mem_size(2, payload) >= 2 * (size_t)payload,
		      "mem_size(2, %" PRIu32 ") = %zu wrapped", payload,
		      msgr__ring_mem_size(2, payload));
}
END_TEST

/* With one slot a full slot (seq == pos + 1) looks exactly like the next
 * free one, so a one-slot ring must be refused or must still refuse the
 * second push. */
START_TEST(test_one_slot_ring)
{
	unsigned char mem[256] __attribute__((aligned(64)));
	struct msgr__ring prod, cons;
	uint64_t a = 0x1111111111111111ULL, b = 0x2222222222222222ULL, out = 0;

	if (msgr__ring_open(&prod, mem, 1, 8) == -EINVAL)
		return; /* refused: fine */
	msgr__ring_format(mem, 1, 8);
	ck_assert_int_eq(msgr__ring_open(&cons, mem, 1, 8), 0);
	ck_assert_int_eq(msgr__ring_push_sp(&prod, &a), 0);
	ck_assert_msg(msgr__ring_push_sp(&prod, &b) == -ENOBUFS,
		      "1-slot ring: second push overwrote an unconsumed descriptor "
		      "(open() must reject nslots < 2)");
	ck_assert_int_eq(msgr__ring_pop_sc(&cons, &out), 0);
	ck_assert_uint_eq(out, a);
}
END_TEST

START_TEST(test_empty)
{
	struct tring t;
	struct msgr__desc d, out;

	tring_new(&t, 8, sizeof(struct msgr__desc));
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
		ck_assert_int_eq(msgr__ring_ready_sc(&t.cons), 0);
	}
	/* failed pops must not have moved the consumer */
	make_desc(&d, 42);
	ck_assert_int_eq(pusher(_i)(&t.prod, &d), 0);
	ck_assert_int_ne(msgr__ring_ready_sc(&t.cons), 0);
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
	ck_assert_mem_eq(&out, &d, sizeof(d));
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
	ck_assert_int_eq(msgr__ring_ready_sc(&t.cons), 0);
	tring_free(&t);
}
END_TEST

/* peek shows the next descriptor without taking it: peeks repeat, the pop
 * after them returns the same one, and a full ring stays full. */
START_TEST(test_peek)
{
	enum { N = 4 };
	push_fn push = pusher(_i);
	struct tring t;
	struct msgr__desc d, out, seen;

	tring_new(&t, N, sizeof(struct msgr__desc));
	ck_assert_int_eq(msgr__ring_peek_sc(&t.cons, &seen), -EAGAIN);
	for (uint64_t k = 0; k < N; k++) {
		make_desc(&d, k);
		ck_assert_int_eq(push(&t.prod, &d), 0);
	}
	for (uint64_t k = 0; k < 3 * N; k++) {
		make_desc(&d, k);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(msgr__ring_peek_sc(&t.cons, &seen), 0);
			ck_assert_mem_eq(&seen, &d, sizeof(d));
		}
		if (k < N) {
			struct msgr__desc x;
			make_desc(&x, 999); /* peeking freed nothing */
			ck_assert_int_eq(push(&t.prod, &x), -ENOBUFS);
		}
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		ck_assert_mem_eq(&out, &d, sizeof(d));
		make_desc(&d, k + N);
		ck_assert_int_eq(push(&t.prod, &d), 0);
	}
	tring_free(&t);
}
END_TEST

START_TEST(test_fifo_full)
{
	enum { N = 16 };
	push_fn push = pusher(_i);
	struct tring t;
	struct msgr__desc d, out;
	uint64_t next_in = 0, next_out = 0;

	tring_new(&t, N, sizeof(struct msgr__desc));

	/* fill to the brim */
	for (int k = 0; k < N; k++) {
		make_desc(&d, next_in++);
		if (_i == 0)
			ck_assert_int_ne(msgr__ring_writable_sp(&t.prod), 0);
		ck_assert_msg(push(&t.prod, &d) == 0, "%s #%d failed", pusher_name(_i), k);
		ck_assert_int_ne(msgr__ring_ready_sc(&t.cons), 0);
	}
	for (int k = 0; k < 3; k++) {
		make_desc(&d, 999);
		if (_i == 0)
			ck_assert_int_eq(msgr__ring_writable_sp(&t.prod), 0);
		ck_assert_msg(push(&t.prod, &d) == -ENOBUFS, "%s on a full ring did not fail",
			      pusher_name(_i));
	}
	/* one pop makes exactly one slot writable again */
	if (_i == 0) {
		struct tring u;
		tring_new(&u, 2, 8);
		uint64_t v = 5, o;
		ck_assert_int_ne(msgr__ring_writable_sp(&u.prod), 0);
		ck_assert_int_eq(msgr__ring_push_sp(&u.prod, &v), 0);
		ck_assert_int_ne(msgr__ring_writable_sp(&u.prod), 0);
		ck_assert_int_eq(msgr__ring_push_sp(&u.prod, &v), 0);
		ck_assert_int_eq(msgr__ring_writable_sp(&u.prod), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&u.cons, &o), 0);
		ck_assert_int_ne(msgr__ring_writable_sp(&u.prod), 0);
		tring_free(&u);
	}
	/* drain: FIFO order and exact contents */
	for (int k = 0; k < N; k++) {
		ck_assert_int_ne(msgr__ring_ready_sc(&t.cons), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		make_desc(&d, next_out++);
		ck_assert_mem_eq(&out, &d, sizeof(d));
	}
	ck_assert_int_eq(msgr__ring_ready_sc(&t.cons), 0);
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);

	/* partial, then fill again across the wrap point */
	for (int k = 0; k < 5; k++) {
		make_desc(&d, next_in++);
		ck_assert_int_eq(push(&t.prod, &d), 0);
	}
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		make_desc(&d, next_out++);
		ck_assert_mem_eq(&out, &d, sizeof(d));
	}
	for (int k = 0; k < N - 2; k++) {
		make_desc(&d, next_in++);
		ck_assert_int_eq(push(&t.prod, &d), 0);
	}
	ck_assert_int_eq(push(&t.prod, &d), -ENOBUFS);
	/* one out, exactly one in */
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
	make_desc(&d, next_out++);
	ck_assert_mem_eq(&out, &d, sizeof(d));
	make_desc(&d, next_in++);
	ck_assert_int_eq(push(&t.prod, &d), 0);
	ck_assert_int_eq(push(&t.prod, &d), -ENOBUFS);
	while (next_out < next_in) {
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		make_desc(&d, next_out++);
		ck_assert_mem_eq(&out, &d, sizeof(d));
	}
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
	if (_i == 1)
		ck_assert_uint_eq(atomic_load(&t.prod.shm->head), next_in);
	tring_free(&t);
}
END_TEST

START_TEST(test_two_slot_ring)
{
	push_fn push = pusher(_i);
	struct tring t;
	uint64_t v, out;

	tring_new(&t, 2, 8);
	for (uint64_t k = 0; k < 1000; k++) {
		v = k * 3;
		ck_assert_int_eq(push(&t.prod, &v), 0);
		v = k * 3 + 1;
		ck_assert_int_eq(push(&t.prod, &v), 0);
		ck_assert_int_eq(push(&t.prod, &v), -ENOBUFS);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		ck_assert_uint_eq(out, k * 3);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		ck_assert_uint_eq(out, k * 3 + 1);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
	}
	tring_free(&t);
}
END_TEST

/* Payloads of several sizes survive byte for byte, pop writes exactly
 * payload_size bytes, and push reads no more than payload_size (the source
 * buffer is malloc'd to the exact size, so ASan catches an over-read). */
START_TEST(test_payload_content)
{
	static const uint32_t sizes[] = { 8, 16, 24, 48, 56, 120, 248, 1016 };
	push_fn push = pusher(_i);

	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint32_t ps = sizes[si];
		struct tring t;
		unsigned char *in = malloc(ps), *want = malloc(ps), *out = malloc(ps + 32);

		ck_assert_ptr_nonnull(in);
		ck_assert_ptr_nonnull(want);
		ck_assert_ptr_nonnull(out);
		tring_new(&t, 8, ps);
		for (uint64_t k = 0; k < 8 * 5 + 3; k++) {
			fill_bytes(in, ps, k * 1000 + ps);
			ck_assert_int_eq(push(&t.prod, in), 0);
			memset(in, 0, ps); /* the ring must have copied it */
			memset(out, 0xEE, ps + 32);
			ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, out), 0);
			fill_bytes(want, ps, k * 1000 + ps);
			ck_assert_msg(memcmp(out, want, ps) == 0,
				      "payload %" PRIu32 " item %" PRIu64 " corrupted", ps, k);
			for (size_t b = ps; b < ps + 32; b++)
				ck_assert_msg(out[b] == 0xEE, "pop wrote past payload_size (%" PRIu32 ")", ps);
		}
		/* full ring of distinct payloads, then drain */
		for (uint64_t k = 0; k < 8; k++) {
			fill_bytes(in, ps, 77 + k);
			ck_assert_int_eq(push(&t.prod, in), 0);
		}
		ck_assert_int_eq(push(&t.prod, in), -ENOBUFS);
		for (uint64_t k = 0; k < 8; k++) {
			ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, out), 0);
			fill_bytes(want, ps, 77 + k);
			ck_assert_mem_eq(out, want, ps);
		}
		tring_free(&t);
		free(in);
		free(want);
		free(out);
	}
}
END_TEST

/* Random push/pop mix on a ring of 8 slots against a counting model, so the
 * positions wrap the ring thousands of times and hit full and empty often. */
START_TEST(test_wraparound)
{
	enum { SLOTS = 8, OPS = 100000 };
	push_fn push = pusher(_i);
	struct tring t;
	uint64_t rng = 0x5eed0000u + (uint64_t)_i;
	uint64_t next_in = 0, next_out = 0, fulls = 0, empties = 0;
	uint64_t in[2], out[2];

	tring_new(&t, SLOTS, sizeof(in));
	for (int op = 0; op < OPS; op++) {
		/* phases that lean towards filling, draining, or neither */
		static const unsigned lean[] = { 50, 80, 20, 50, 95, 5 };
		unsigned p_push = lean[(op / 997) % (sizeof(lean) / sizeof(lean[0]))];
		uint64_t count = next_in - next_out;

		REQUIRE((msgr__ring_ready_sc(&t.cons) != 0) == (count > 0),
			"op %d: ready_sc disagrees with %" PRIu64 " queued", op, count);
		if (_i == 0)
			REQUIRE((msgr__ring_writable_sp(&t.prod) != 0) == (count < SLOTS),
				"op %d: writable_sp disagrees with %" PRIu64 " queued", op, count);
		if (splitmix64(&rng) % 100 < p_push) {
			in[0] = next_in;
			in[1] = ~next_in * 0x9e3779b97f4a7c15ULL;
			int rc = push(&t.prod, in);
			if (count < SLOTS) {
				REQUIRE(rc == 0, "op %d: %s failed with %" PRIu64 "/%d used: %d", op,
					      pusher_name(_i), count, SLOTS, rc);
				next_in++;
			} else {
				REQUIRE(rc == -ENOBUFS, "op %d: %s on full ring returned %d", op,
					      pusher_name(_i), rc);
				fulls++;
			}
		} else {
			int rc = msgr__ring_pop_sc(&t.cons, out);
			if (count > 0) {
				REQUIRE(rc == 0, "op %d: pop failed with %" PRIu64 " queued: %d", op,
					      count, rc);
				REQUIRE(out[0] == next_out && out[1] == ~next_out * 0x9e3779b97f4a7c15ULL,
					"op %d: popped %" PRIu64 ", want %" PRIu64, op, out[0], next_out);
				next_out++;
			} else {
				REQUIRE(rc == -EAGAIN, "op %d: pop on empty ring returned %d", op, rc);
				empties++;
			}
		}
	}
	ck_assert_uint_gt(next_out, (uint64_t)SLOTS * 1000); /* wrapped many times */
	ck_assert_uint_gt(fulls, 100);
	ck_assert_uint_gt(empties, 100);
	if (_i == 1)
		ck_assert_uint_eq(atomic_load(&t.prod.shm->head), next_in);
	tring_free(&t);
}
END_TEST

/* format() resets a used ring to empty. */
START_TEST(test_reformat)
{
	struct tring t;
	uint64_t v = 7, out;

	tring_new(&t, 4, 8);
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(msgr__ring_push_mp(&t.prod, &v), 0);
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
	msgr__ring_format(t.mem, 4, 8);
	ck_assert_int_eq(msgr__ring_open(&t.prod, t.mem, 4, 8), 0);
	ck_assert_int_eq(msgr__ring_open(&t.cons, t.mem, 4, 8), 0);
	ck_assert_int_eq(msgr__ring_ready_sc(&t.cons), 0);
	ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&t.prod.shm->head), 0);
	for (uint64_t k = 0; k < 4; k++)
		ck_assert_int_eq(msgr__ring_push_sp(&t.prod, &k), 0);
	ck_assert_int_eq(msgr__ring_push_sp(&t.prod, &v), -ENOBUFS);
	for (uint64_t k = 0; k < 4; k++) {
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), 0);
		ck_assert_uint_eq(out, k);
	}
	tring_free(&t);
}
END_TEST

/* A peer scribbling on the seq words can only make the ring look empty to
 * the consumer or full to the single producer (ring.h "Trust"). The seq word
 * leads each slot. */
START_TEST(test_hostile_seq)
{
	struct tring t;
	uint64_t v = 1, out;
	uint64_t rng = 12345;

	tring_new(&t, 8, 8);
	for (int k = 0; k < 2000; k++) {
		uint64_t junk = splitmix64(&rng);
		unsigned char *slot0 = t.cons.slots + (size_t)(t.cons.pos & t.cons.mask) * t.cons.slot_size;

		if (junk == t.cons.pos + 1)
			continue;
		memcpy(slot0, &junk, 8);
		ck_assert_int_eq(msgr__ring_ready_sc(&t.cons), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &out), -EAGAIN);
	}
	/* the producer side: a seq that is not its position means "full" */
	msgr__ring_format(t.mem, 8, 8);
	ck_assert_int_eq(msgr__ring_open(&t.prod, t.mem, 8, 8), 0);
	for (int k = 0; k < 2000; k++) {
		uint64_t junk = splitmix64(&rng);

		if (junk == t.prod.pos)
			continue;
		memcpy(t.prod.slots, &junk, 8);
		ck_assert_int_eq(msgr__ring_writable_sp(&t.prod), 0);
		ck_assert_int_eq(msgr__ring_push_sp(&t.prod, &v), -ENOBUFS);
		ck_assert_uint_eq(t.prod.pos, 0);
	}
	/* push_mp: a seq behind the reservation counter means "full" */
	msgr__ring_format(t.mem, 8, 8);
	ck_assert_int_eq(msgr__ring_open(&t.prod, t.mem, 8, 8), 0);
	for (uint64_t behind = 1; behind < 100; behind++) {
		uint64_t junk = (uint64_t)0 - behind;
		memcpy(t.prod.slots, &junk, 8);
		ck_assert_int_eq(msgr__ring_push_mp(&t.prod, &v), -ENOBUFS);
		ck_assert_uint_eq(atomic_load(&t.prod.shm->head), 0);
	}
	tring_free(&t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* two processes on one memfd                                               */

#define XP_SLOTS 1024

/* 48 bytes: a sequence number, four derived words and a checksum */
struct xrec {
	uint64_t seq, a, b, c, d, sum;
};
_Static_assert(sizeof(struct xrec) == 48, "xrec is 48 bytes");

struct xctl {
	_Atomic uint64_t done;
	_Atomic uint64_t count;
	_Atomic uint64_t total;
	_Atomic uint64_t full_waits;
};

static inline uint64_t xrec_sum(const struct xrec *r)
{
	const uint64_t w[5] = { r->seq, r->a, r->b, r->c, r->d };
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 5; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static inline void xrec_make(struct xrec *r, uint64_t seq)
{
	uint64_t s = seq * 0xd1342543de82ef95ULL + 1;

	r->seq = seq;
	r->a = splitmix64(&s);
	r->b = splitmix64(&s);
	r->c = splitmix64(&s);
	r->d = splitmix64(&s);
	r->sum = xrec_sum(r);
}

static inline uint64_t running(uint64_t total, uint64_t sum)
{
	return total * 6364136223846793005ULL + sum; /* order-sensitive */
}

/* Child process: maps the memfd afresh (so at another address than the
 * parent's mapping), pushes n records, reports count and running checksum. */
static void __attribute__((noreturn)) xp_child(int fd, size_t size, uint64_t n, pid_t parent)
{
	unsigned char *m;
	struct xctl *ctl;
	struct msgr__ring r;
	struct xrec rec;
	uint64_t total = 0, waits = 0, t0 = mono_ns();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(20);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		_exit(21);
	ctl = (struct xctl *)m;
	if (msgr__ring_open(&r, m + 4096, XP_SLOTS, sizeof(struct xrec)))
		_exit(22);
	for (uint64_t seq = 0; seq < n; seq++) {
		int rc;
		unsigned spins = 0;

		xrec_make(&rec, seq);
		total = running(total, rec.sum);
		while ((rc = msgr__ring_push_sp(&r, &rec)) == -ENOBUFS) {
			waits++;
			if (++spins % 64 == 0) {
				sched_yield();
				if (spins % 65536 == 0 && mono_ns() - t0 > 250ULL * 1000000000ULL)
					_exit(23); /* consumer gone quiet: give up */
			} else {
				cpu_relax();
			}
		}
		if (rc != 0)
			_exit(24);
	}
	atomic_store_explicit(&ctl->count, n, memory_order_relaxed);
	atomic_store_explicit(&ctl->total, total, memory_order_relaxed);
	atomic_store_explicit(&ctl->full_waits, waits, memory_order_relaxed);
	atomic_store_explicit(&ctl->done, 1, memory_order_release);
	_exit(0);
}

START_TEST(test_xprocess_stress)
{
	uint64_t n = quick() ? 1000000 : 10000000;
	size_t size = 4096 + msgr__ring_mem_size(XP_SLOTS, sizeof(struct xrec));
	int fd = memfd_create("msgr-test-ring", MFD_CLOEXEC);
	unsigned char *m;
	struct xctl *ctl;
	struct msgr__ring r;
	struct xrec rec, want;
	uint64_t expect = 0, total = 0, empties = 0, last_progress;
	char err[256] = "";
	pid_t child;
	int status = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ctl = (struct xctl *)m;
	msgr__ring_format(m + 4096, XP_SLOTS, sizeof(struct xrec));
	ck_assert_int_eq(msgr__ring_open(&r, m + 4096, XP_SLOTS, sizeof(struct xrec)), 0);

	pid_t parent = getpid();
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		xp_child(fd, size, n, parent);

	last_progress = mono_ns();
	while (expect < n) {
		int rc = msgr__ring_pop_sc(&r, &rec);

		if (rc == -EAGAIN) {
			if (child < 0) {
				/* empty after the producer is gone: records are missing */
				snprintf(err, sizeof(err),
					 "producer exited (status 0x%x) after %" PRIu64 " of %" PRIu64
					 " records", status, expect, n);
				break;
			}
			if (++empties % 256 == 0) {
				sched_yield();
				if (empties % 4096 == 0) {
					pid_t w = waitpid(child, &status, WNOHANG);
					if (w == child) {
						/* it may have pushed its last records since
						 * we found the ring empty: drain them first */
						child = -1;
						continue;
					}
					if (mono_ns() - last_progress > 60ULL * 1000000000ULL) {
						snprintf(err, sizeof(err),
							 "no record for 60 s at %" PRIu64 " of %" PRIu64,
							 expect, n);
						break;
					}
				}
			} else {
				cpu_relax();
			}
			continue;
		}
		if (rc != 0) {
			snprintf(err, sizeof(err), "pop returned %d", rc);
			break;
		}
		if (rec.seq != expect) {
			snprintf(err, sizeof(err), "out of order: got seq %" PRIu64 ", want %" PRIu64,
				 rec.seq, expect);
			break;
		}
		if (rec.sum != xrec_sum(&rec)) {
			snprintf(err, sizeof(err), "bad checksum at seq %" PRIu64, expect);
			break;
		}
		xrec_make(&want, expect);
		if (memcmp(&rec, &want, sizeof(rec)) != 0) {
			snprintf(err, sizeof(err), "payload differs at seq %" PRIu64, expect);
			break;
		}
		total = running(total, rec.sum);
		expect++;
		if ((expect & 0xffff) == 0)
			last_progress = mono_ns();
	}
	if (err[0]) {
		if (child > 0) {
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
		}
		ck_abort_msg("%s", err);
	}
	if (child > 0) /* else reaped in the loop, status set */
		ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "producer process failed: status 0x%x", status);
	/* nothing beyond the n records */
	ck_assert_int_eq(msgr__ring_pop_sc(&r, &rec), -EAGAIN);
	ck_assert_uint_eq(atomic_load_explicit(&ctl->done, memory_order_acquire), 1);
	ck_assert_uint_eq(atomic_load(&ctl->count), n);
	ck_assert_msg(atomic_load(&ctl->total) == total,
		      "running checksum mismatch: producer %016" PRIx64 ", consumer %016" PRIx64,
		      (uint64_t)atomic_load(&ctl->total), total);
	if (getenv("MSGR_TEST_VERBOSE"))
		fprintf(stderr, "xprocess: %" PRIu64 " records, producer full-waits %" PRIu64
			", consumer empty polls %" PRIu64 "\n",
			n, (uint64_t)atomic_load(&ctl->full_waits), empties);
	munmap(m, size);
	close(fd);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* many producers, one consumer                                             */

#define MP_PRODUCERS 4
#define MP_SLOTS 256

static inline uint64_t mp_check(uint32_t id, uint64_t seq)
{
	uint64_t s = seq ^ ((uint64_t)id << 56);

	return splitmix64(&s);
}

struct mp_ctx {
	struct msgr__ring prod; /* shared by all producer threads: push_mp only reads it */
	uint64_t n;
	int units; /* push units of 1 to 3 slots (push_n_mp), not single slots */
	_Atomic int go;
	_Atomic int stop;
};

struct mp_arg {
	struct mp_ctx *ctx;
	uint32_t id;
	uint64_t pushed;
	uint64_t full_waits;
	int rc;
};

/* Pushes c->n descriptors, or with c->units units of 1 to 3 slots (a head
 * and what follows it: slot i > 0 has msg_type i). */
static void *mp_producer(void *p)
{
	struct mp_arg *a = p;
	struct mp_ctx *c = a->ctx;
	struct msgr__desc u[3];

	while (!atomic_load(&c->go))
		sched_yield();
	for (uint64_t seq = 0; seq < c->n; seq++) {
		uint32_t n = c->units ? 1 + (uint32_t)(seq % 3) : 1;
		int rc;

		for (uint32_t i = 0; i < n; i++)
			u[i] = (struct msgr__desc){ .op = MSGR__OP_SEND, .conn = a->id,
						    .msg_type = i ? i : (uint32_t)seq ^ 0xabcd0000u,
						    .off = seq, .len = mp_check(a->id, seq) + i };
		while ((rc = c->units ? msgr__ring_push_n_mp(&c->prod, u, n)
				      : msgr__ring_push_mp(&c->prod, u)) == -ENOBUFS) {
			a->full_waits++;
			if (atomic_load_explicit(&c->stop, memory_order_relaxed))
				return NULL;
			sched_yield();
		}
		if (rc != 0) {
			a->rc = rc;
			return NULL;
		}
		a->pushed++;
	}
	return NULL;
}

/* A ring of MP_SLOTS, c's producer handle and a consumer's on it, and
 * MP_PRODUCERS threads waiting for c->go. Returns the ring's memory. */
static void *mp_start(struct mp_ctx *c, struct msgr__ring *cons, uint64_t n, int units,
		      struct mp_arg *args, pthread_t *th)
{
	size_t slot = sizeof(struct msgr__desc);
	void *mem = aligned_alloc(64, (msgr__ring_mem_size(MP_SLOTS, slot) + 63) & ~(size_t)63);

	ck_assert_ptr_nonnull(mem);
	msgr__ring_format(mem, MP_SLOTS, slot);
	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(msgr__ring_open(&c->prod, mem, MP_SLOTS, slot), 0);
	ck_assert_int_eq(msgr__ring_open(cons, mem, MP_SLOTS, slot), 0);
	c->n = n;
	c->units = units;
	for (uint32_t i = 0; i < MP_PRODUCERS; i++) {
		args[i] = (struct mp_arg){ .ctx = c, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, mp_producer, &args[i]), 0);
	}
	return mem;
}

/* Stop and join the producers; then every one of them must have pushed
 * its n, all of which the consumer took (next), and nothing went wrong. */
static void mp_finish(struct mp_ctx *c, struct mp_arg *args, pthread_t *th, const uint64_t *next,
		      uint64_t n, const char *err)
{
	atomic_store(&c->stop, 1);
	for (int i = 0; i < MP_PRODUCERS; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(err[0] == 0, "%s", err);
	for (int i = 0; i < MP_PRODUCERS; i++) {
		ck_assert_int_eq(args[i].rc, 0);
		ck_assert_uint_eq(args[i].pushed, n);
		ck_assert_uint_eq(next[i], n);
	}
}

START_TEST(test_many_producers)
{
	uint64_t n = quick() ? 100000 : 1000000;
	uint64_t total = n * MP_PRODUCERS, got = 0, next[MP_PRODUCERS] = { 0 };
	struct mp_ctx c;
	struct mp_arg args[MP_PRODUCERS];
	pthread_t th[MP_PRODUCERS];
	struct msgr__ring cons;
	struct msgr__desc d;
	void *mem;
	char err[256] = "";
	uint64_t last_progress, idle = 0;

	mem = mp_start(&c, &cons, n, 0, args, th);
	atomic_store(&c.go, 1);

	last_progress = mono_ns();
	while (got < total) {
		int rc = msgr__ring_pop_sc(&cons, &d);

		if (rc == -EAGAIN) {
			if (++idle % 64 == 0) {
				sched_yield();
				if (idle % 4096 == 0 && mono_ns() - last_progress > 60ULL * 1000000000ULL) {
					snprintf(err, sizeof(err), "no progress for 60 s at %" PRIu64 "/%" PRIu64,
						 got, total);
					break;
				}
			}
			continue;
		}
		if (rc != 0) {
			snprintf(err, sizeof(err), "pop returned %d", rc);
			break;
		}
		if (d.conn >= MP_PRODUCERS) {
			snprintf(err, sizeof(err), "bad producer id %" PRIu32, d.conn);
			break;
		}
		if (d.off != next[d.conn]) {
			snprintf(err, sizeof(err),
				 "producer %" PRIu32 ": got seq %" PRIu64 ", want %" PRIu64
				 " (duplicate, loss or reorder)",
				 d.conn, (uint64_t)d.off, next[d.conn]);
			break;
		}
		if (d.len != mp_check(d.conn, d.off) || d.op != MSGR__OP_SEND ||
		    d.msg_type != ((uint32_t)d.off ^ 0xabcd0000u)) {
			snprintf(err, sizeof(err), "producer %" PRIu32 " seq %" PRIu64 ": payload corrupted",
				 d.conn, (uint64_t)d.off);
			break;
		}
		next[d.conn]++;
		got++;
		if ((got & 0xffff) == 0)
			last_progress = mono_ns();
	}
	mp_finish(&c, args, th, next, n, err);
	ck_assert_int_eq(msgr__ring_pop_sc(&cons, &d), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&c.prod.shm->head), total);
	if (getenv("MSGR_TEST_VERBOSE")) {
		uint64_t fw = 0;
		for (int i = 0; i < MP_PRODUCERS; i++)
			fw += args[i].full_waits;
		fprintf(stderr, "mproducer: %" PRIu64 " descriptors, full-waits %" PRIu64
			", consumer idle %" PRIu64 "\n", total, fw, idle);
	}
	free(mem);
}
END_TEST

/* Producers of units (1 to 3 slots: a head and what follows it) racing
 * one consumer: a unit's slots come out together, in order, and the
 * consumer that has its head never waits for the rest. */
START_TEST(test_unit_producers)
{
	uint64_t n = quick() ? 30000 : 300000;
	uint64_t got = 0, next[MP_PRODUCERS] = { 0 }, total = n * MP_PRODUCERS;
	struct mp_ctx c;
	struct mp_arg args[MP_PRODUCERS];
	pthread_t th[MP_PRODUCERS];
	struct msgr__ring cons;
	struct msgr__desc d;
	uint64_t t0 = mono_ns();
	char err[256] = "";
	void *mem;

	mem = mp_start(&c, &cons, n, 1, args, th);
	atomic_store(&c.go, 1);
	while (got < total && !err[0]) {
		uint32_t id, units;
		if (msgr__ring_pop_sc(&cons, &d)) {
			if (mono_ns() - t0 > 120ULL * 1000000000ULL)
				snprintf(err, sizeof(err), "stuck at %" PRIu64 "/%" PRIu64, got, total);
			sched_yield();
			continue;
		}
		id = d.conn;
		if (id >= MP_PRODUCERS || d.msg_type != ((uint32_t)d.off ^ 0xabcd0000u) || d.off != next[id] ||
		    d.len != mp_check(id, d.off)) {
			snprintf(err, sizeof(err), "head: producer %u type %u seq %" PRIu64 " (want %"
				 PRIu64 ")", id, d.msg_type, (uint64_t)d.off,
				 id < MP_PRODUCERS ? next[id] : 0);
			break;
		}
		units = 1 + (uint32_t)(d.off % 3);
		for (uint32_t i = 1; i < units && !err[0]; i++) {
			struct msgr__desc f;
			if (msgr__ring_pop_sc(&cons, &f))
				snprintf(err, sizeof(err), "producer %u seq %" PRIu64 ": slot %u not there "
					 "with its head", id, (uint64_t)d.off, i);
			else if (f.conn != id || f.off != d.off || f.msg_type != i ||
				 f.len != mp_check(id, d.off) + i)
				snprintf(err, sizeof(err), "producer %u seq %" PRIu64 ": slot %u holds "
					 "another unit's (%u/%" PRIu64 "/%u)", id, (uint64_t)d.off, i,
					 f.conn, (uint64_t)f.off, f.msg_type);
		}
		next[id]++;
		got++;
	}
	mp_finish(&c, args, th, next, n, err);
	ck_assert_int_eq(msgr__ring_pop_sc(&cons, &d), -EAGAIN);
	free(mem);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* wake protocol                                                            */

#define WK_SLOTS 64
#define WK_MAXPROD 3
#define WK_TIMEOUT_MS 5000

struct wk_ctx {
	struct msgr__ring prod, cons;
	_Atomic uint32_t sleeping; /* the needs-wakeup flag */
	int efd;
	int nprod;
	uint64_t per_prod;
	_Atomic int stop;
	_Atomic uint64_t pushed; /* total pushed so far, for diagnostics */
	/* consumer results (read after join) */
	uint64_t received, arms, rechecks_hit, sleeps, wakeups;
	int failed;
	char err[256];
};

struct wk_prod {
	struct wk_ctx *c;
	uint32_t id;
	uint64_t takes;
	int rc;
};

static void *wk_consumer(void *p)
{
	struct wk_ctx *c = p;
	uint64_t want = c->per_prod * (uint64_t)c->nprod;
	uint64_t next[WK_MAXPROD] = { 0 };
	uint64_t item[2];

	while (c->received < want) {
		int got = 0;

		/* short busy-poll, as the daemon does for poll_us */
		for (int spin = 0; spin < 32 && !got; spin++) {
			while (msgr__ring_pop_sc(&c->cons, item) == 0) {
				uint32_t id = (uint32_t)(item[0] >> 48);
				uint64_t seq = item[0] & 0xffffffffffffULL;

				if (id >= (uint32_t)c->nprod || seq != next[id] ||
				    item[1] != ~item[0]) {
					snprintf(c->err, sizeof(c->err),
						 "bad item: producer %" PRIu32 " seq %" PRIu64
						 " (want %" PRIu64 "), check word %s",
						 id, seq, id < WK_MAXPROD ? next[id] : 0,
						 item[1] == ~item[0] ? "ok" : "corrupted");
					c->failed = 1;
					goto out;
				}
				next[id]++;
				c->received++;
				got = 1;
			}
			if (!got)
				cpu_relax();
		}
		if (got)
			continue;

		msgr__wake_arm(&c->sleeping);
		c->arms++;
		if (msgr__ring_ready_sc(&c->cons)) {
			msgr__wake_disarm(&c->sleeping);
			c->rechecks_hit++;
			continue;
		}
		struct pollfd pfd = { .fd = c->efd, .events = POLLIN };
		int pr = poll(&pfd, 1, WK_TIMEOUT_MS);
		c->sleeps++;
		if (pr == 0) {
			snprintf(c->err, sizeof(c->err),
				 "consumer slept %d ms with %" PRIu64 " of %" PRIu64
				 " items outstanding (pushed %" PRIu64 ", ring ready=%d, flag=%u): "
				 "lost wakeup",
				 WK_TIMEOUT_MS, want - c->received, want,
				 (uint64_t)atomic_load(&c->pushed), msgr__ring_ready_sc(&c->cons),
				 (unsigned)atomic_load(&c->sleeping));
			c->failed = 1;
			goto out;
		}
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
			c->failed = 1;
			goto out;
		}
		uint64_t v;
		if (read(c->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			c->wakeups += v;
	}
out:
	atomic_store(&c->stop, 1);
	return NULL;
}

static void *wk_producer(void *p)
{
	struct wk_prod *wp = p;
	struct wk_ctx *c = wp->c;
	uint64_t rng = 0xfeed0000ULL + wp->id;
	uint64_t burst = 0;

	for (uint64_t seq = 0; seq < c->per_prod; seq++) {
		uint64_t item[2];
		int rc;

		item[0] = ((uint64_t)wp->id << 48) | seq;
		item[1] = ~item[0];
		for (;;) {
			rc = c->nprod == 1 ? msgr__ring_push_sp(&c->prod, item)
					   : msgr__ring_push_mp(&c->prod, item);
			if (rc != -ENOBUFS)
				break;
			if (atomic_load_explicit(&c->stop, memory_order_relaxed))
				return NULL;
			sched_yield();
		}
		if (rc != 0) {
			wp->rc = rc;
			atomic_store(&c->stop, 1);
			return NULL;
		}
		atomic_fetch_add_explicit(&c->pushed, 1, memory_order_relaxed);
		if (msgr__wake_take(&c->sleeping)) {
			uint64_t one = 1;
			wp->takes++;
			if (write(c->efd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
				wp->rc = -errno;
				atomic_store(&c->stop, 1);
				return NULL;
			}
		}
		if (atomic_load_explicit(&c->stop, memory_order_relaxed))
			return NULL;
		/* bursty pacing so the consumer goes to sleep often and pushes
		 * land in every phase of its arm / re-check / sleep sequence */
		if (burst == 0) {
			uint64_t r = splitmix64(&rng);
			burst = 1 + r % 16;
			switch ((r >> 8) % 8) {
			case 0:
			case 1:
				break;
			case 2:
			case 3:
			case 4:
				for (uint64_t k = (r >> 16) % 2000; k; k--)
					cpu_relax();
				break;
			case 5:
			case 6:
				sched_yield();
				break;
			default: {
				struct timespec ts = { 0, (long)(1000 + (r >> 16) % 30000) };
				nanosleep(&ts, NULL);
				break;
			}
			}
		}
		burst--;
	}
	return NULL;
}

/* _i == 0: one push_sp producer; _i == 1: three push_mp producers */
START_TEST(test_wake_protocol)
{
	uint64_t n = quick() ? 10000 : 100000;
	struct wk_ctx *c = calloc(1, sizeof(*c));
	struct wk_prod prods[WK_MAXPROD];
	pthread_t pth[WK_MAXPROD], cth;
	void *mem;
	uint64_t takes = 0;

	ck_assert_ptr_nonnull(c);
	c->nprod = _i == 0 ? 1 : WK_MAXPROD;
	c->per_prod = n / (uint64_t)c->nprod;
	mem = aligned_alloc(64, (msgr__ring_mem_size(WK_SLOTS, 16) + 63) & ~(size_t)63);
	ck_assert_ptr_nonnull(mem);
	msgr__ring_format(mem, WK_SLOTS, 16);
	ck_assert_int_eq(msgr__ring_open(&c->prod, mem, WK_SLOTS, 16), 0);
	ck_assert_int_eq(msgr__ring_open(&c->cons, mem, WK_SLOTS, 16), 0);
	atomic_init(&c->sleeping, 0);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(c->efd, 0);

	ck_assert_int_eq(pthread_create(&cth, NULL, wk_consumer, c), 0);
	for (int i = 0; i < c->nprod; i++) {
		prods[i] = (struct wk_prod){ .c = c, .id = (uint32_t)i };
		ck_assert_int_eq(pthread_create(&pth[i], NULL, wk_producer, &prods[i]), 0);
	}
	for (int i = 0; i < c->nprod; i++)
		pthread_join(pth[i], NULL);
	pthread_join(cth, NULL);

	ck_assert_msg(!c->failed, "%s", c->err);
	for (int i = 0; i < c->nprod; i++) {
		ck_assert_int_eq(prods[i].rc, 0);
		takes += prods[i].takes;
	}
	ck_assert_uint_eq(c->received, c->per_prod * (uint64_t)c->nprod);
	ck_assert_int_eq(msgr__ring_pop_sc(&c->cons, (uint64_t[2]){ 0, 0 }), -EAGAIN);
	/* each successful take consumed one arm: never more signals than sleeps armed */
	ck_assert_msg(takes <= c->arms, "%" PRIu64 " wakeups taken for %" PRIu64 " arms", takes,
		      c->arms);
	ck_assert_uint_le(c->wakeups, takes);
	/* the test must actually have exercised sleeping and waking */
	ck_assert_msg(c->sleeps > 0 && takes > 0,
		      "consumer never slept (sleeps %" PRIu64 ", takes %" PRIu64 ")", c->sleeps, takes);
	if (getenv("MSGR_TEST_VERBOSE"))
		fprintf(stderr, "wake[%d]: %" PRIu64 " items, arms %" PRIu64 ", re-check hits %" PRIu64
			", sleeps %" PRIu64 ", takes %" PRIu64 ", eventfd count %" PRIu64 "\n",
			_i, c->received, c->arms, c->rechecks_hit, c->sleeps, takes, c->wakeups);
	close(c->efd);
	free(mem);
	free(c);
}
END_TEST


/* ---- units: a descriptor and the slots of text after it ---- */

typedef int (*push_n_fn)(struct msgr__ring *, const void *, uint32_t);

static push_n_fn pusher_n(int i)
{
	return i == 0 ? msgr__ring_push_n_sp : msgr__ring_push_n_mp;
}

/* Units of 1 to 4 slots around an 8-slot ring many times over: what is
 * free decides, never the unit's position; order and bytes survive. */
START_TEST(test_units)
{
	enum { SLOTS = 8 };
	push_n_fn push = pusher_n(_i);
	struct tring t;
	uint64_t unit[4][2], out[2], in_ring = 0, next_in = 0, next_out = 0;

	tring_new(&t, SLOTS, sizeof(out));
	REQUIRE(push(&t.prod, unit, 0) == -EINVAL, "a unit of no slots");
	REQUIRE(push(&t.prod, unit, SLOTS + 1) == -EINVAL, "a unit larger than the ring");
	for (int round = 0; round < 200; round++) {
		uint32_t n = 1 + (uint32_t)(round % 4), want = round % 7 == 3 ? 3 : 1 + (uint32_t)(round % 4);
		int rc;

		for (uint32_t i = 0; i < n; i++) {
			unit[i][0] = next_in;
			unit[i][1] = (uint64_t)i << 32 | n;
		}
		if (_i == 0)
			REQUIRE((msgr__ring_writable_n_sp(&t.prod, n) != 0) == (in_ring + n <= SLOTS),
				"round %d: writable_n_sp(%u) with %" PRIu64 " used", round, n, in_ring);
		rc = push(&t.prod, unit, n);
		if (in_ring + n <= SLOTS) {
			REQUIRE(rc == 0, "round %d: unit of %u with %" PRIu64 " used: %d", round, n,
				in_ring, rc);
			in_ring += n;
			next_in++;
		} else {
			REQUIRE(rc == -ENOBUFS, "round %d: unit of %u with %" PRIu64 " used: %d", round,
				n, in_ring, rc);
		}
		/* drain some: a whole number of units */
		while (in_ring > (uint64_t)(SLOTS - want)) {
			uint32_t m;
			REQUIRE(msgr__ring_pop_sc(&t.cons, out) == 0, "round %d: head missing", round);
			REQUIRE(out[0] == next_out && (out[1] >> 32) == 0,
				"round %d: head %" PRIu64 "/%" PRIx64 ", want unit %" PRIu64, round, out[0],
				out[1], next_out);
			m = (uint32_t)out[1];
			for (uint32_t i = 1; i < m; i++) {
				REQUIRE(msgr__ring_pop_sc(&t.cons, out) == 0, "round %d: slot %u missing",
					round, i);
				REQUIRE(out[0] == next_out && (out[1] >> 32) == i && (uint32_t)out[1] == m,
					"round %d: slot %u of unit %" PRIu64 " holds %" PRIu64 "/%" PRIx64,
					round, i, next_out, out[0], out[1]);
			}
			in_ring -= m;
			next_out++;
		}
	}
	tring_free(&t);
}
END_TEST

/* Texts of every length class through a real unit, and the ways a unit
 * can be broken: too long for the reader, cut short, a NUL inside. */
START_TEST(test_text_units)
{
	static const size_t lens[] = { 1, 31, 32, 33, 64, 191, MSGR__TEXT_MAX };
	struct msgr__desc unit[MSGR__UNIT_MAX], d = { .op = MSGR__OP_CONNECT, .conn = 9, .off = 77 },
						got;
	char text[MSGR__TEXT_MAX + 1], back[MSGR__TEXT_MAX + 1];
	struct tring t;

	tring_new(&t, 64, sizeof(struct msgr__desc));
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint32_t n;
		for (size_t i = 0; i < lens[k]; i++)
			text[i] = (char)('a' + (i + k) % 26);
		n = msgr__text_unit(unit, &d, text, lens[k]);
		REQUIRE(n == 1 + (lens[k] + 31) / 32, "len %zu: %u slots", lens[k], n);
		ck_assert_int_eq(msgr__ring_push_n_mp(&t.prod, unit, n), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &got), 0);
		REQUIRE(got.conn == 9 && got.op == MSGR__OP_CONNECT && got.off == 0 &&
			got.len == lens[k], "len %zu: head %u/%u/%" PRIu64 "/%" PRIu64, lens[k],
			got.op, got.conn, got.off, got.len);
		ck_assert_int_eq(msgr__text_take(&t.cons, got.len, sizeof(back) - 1, back), 0);
		REQUIRE(strlen(back) == lens[k] && !memcmp(back, text, lens[k]), "len %zu: text", lens[k]);
		REQUIRE(!msgr__ring_ready_sc(&t.cons), "len %zu: slots left over", lens[k]);
	}
	/* longer than the reader takes, or than any text: nothing taken */
	{
		uint32_t n = msgr__text_unit(unit, &d, text, 40);
		ck_assert_int_eq(msgr__ring_push_n_mp(&t.prod, unit, n), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &got), 0);
		ck_assert_int_eq(msgr__text_take(&t.cons, got.len, 39, back), -EMSGSIZE);
		ck_assert_int_eq(msgr__text_take(&t.cons, 0, 39, back), -EMSGSIZE);
		ck_assert_int_eq(msgr__text_take(&t.cons, MSGR__TEXT_MAX + 1, 1000, back), -EMSGSIZE);
		ck_assert_int_eq(msgr__text_take(&t.cons, got.len, 40, back), 0);
		/* a NUL in the text */
		text[5] = 0;
		n = msgr__text_unit(unit, &d, text, 40);
		ck_assert_int_eq(msgr__ring_push_n_mp(&t.prod, unit, n), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &got), 0);
		ck_assert_int_eq(msgr__text_take(&t.cons, got.len, 100, back), -EPROTO);
		/* cut short: the head claims 40 bytes, 32 follow */
		text[5] = 'x';
		n = msgr__text_unit(unit, &d, text, 40);
		ck_assert_int_eq(msgr__ring_push_n_mp(&t.prod, unit, n - 1), 0);
		ck_assert_int_eq(msgr__ring_pop_sc(&t.cons, &got), 0);
		ck_assert_int_eq(msgr__text_take(&t.cons, got.len, 100, back), -EPROTO);
	}
	tring_free(&t);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc;

	tc = tcase_create("single");
	tcase_add_test(tc, test_mem_size);
	tcase_add_test(tc, test_open_rejects);
	tcase_add_test(tc, test_open_rejects_overflowing_payload);
	tcase_add_test(tc, test_one_slot_ring);
	tcase_add_loop_test(tc, test_empty, 0, 2);
	tcase_add_loop_test(tc, test_fifo_full, 0, 2);
	tcase_add_loop_test(tc, test_peek, 0, 2);
	tcase_add_loop_test(tc, test_two_slot_ring, 0, 2);
	tcase_add_loop_test(tc, test_payload_content, 0, 2);
	tcase_add_loop_test(tc, test_wraparound, 0, 2);
	tcase_add_test(tc, test_reformat);
	tcase_add_test(tc, test_hostile_seq);
	tcase_add_loop_test(tc, test_units, 0, 2);
	tcase_add_test(tc, test_text_units);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("xprocess");
	tcase_add_test(tc, test_xprocess_stress);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("mproducer");
	tcase_add_test(tc, test_many_producers);
	tcase_add_test(tc, test_unit_producers);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("wake");
	tcase_add_loop_test(tc, test_wake_protocol, 0, 2);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return unit_run(ring_suite());
}
