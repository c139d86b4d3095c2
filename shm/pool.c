#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/bits.h"

static void bits_set(uint64_t *b, uint32_t from, uint32_t n, int v)
{
	for (uint32_t i = from; i < from + n;) {
		if ((i & 63) == 0 && i + 64 <= from + n) {
			b[i >> 6] = v ? ~0ULL : 0;
			i += 64;
			continue;
		}
		if (v)
			msgr__bit_set(b, i);
		else
			msgr__bit_clear(b, i);
		i++;
	}
}

/* The run array is 4 bytes per chunk (128 KiB for a default 32 MiB pool)
 * and mostly zeros: an idle client's is never written. It is mapped, not
 * calloc'ed, so only the pages written become resident. calloc would give
 * that only while glibc happened to serve it with mmap: once a client's
 * array had been freed, glibc's dynamic mmap threshold moved above its
 * size and calloc took it from the heap and cleared it, and 1,000 idle
 * clients that attached after some churn cost the daemon 137 MB instead of
 * 25 MB. Small arrays stay on the heap (a mapping costs a page and one of
 * the process's vm.max_map_count), and so does a large one when mmap
 * fails. */
#define RUN_MAP_MIN (64u << 10)

static size_t run_bytes(uint32_t nchunks)
{
	return (size_t)nchunks * sizeof(uint32_t);
}

static uint32_t *run_alloc(uint32_t nchunks, int *mapped)
{
	*mapped = 0;
	/* under AddressSanitizer, calloc: its redzones catch a stray index,
	 * a mapping's page rounding would not */
#ifndef __SANITIZE_ADDRESS__
	if (run_bytes(nchunks) >= RUN_MAP_MIN) {
		void *m = mmap(NULL, run_bytes(nchunks), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m != MAP_FAILED) {
			*mapped = 1;
			return m;
		}
	}
#endif
	return calloc(nchunks, sizeof(uint32_t));
}

int msgr__pool_init(struct msgr__pool *p, uint32_t nchunks, uint32_t chunk_shift)
{
	p->bits = NULL;
	p->run = NULL;
	if (nchunks == 0 || chunk_shift > 30)
		return -EINVAL;
	p->nchunks = nchunks;
	p->bits = calloc((nchunks + 63) / 64, sizeof(uint64_t));
	p->run = run_alloc(nchunks, &p->run_mapped);
	if (!p->bits || !p->run) {
		msgr__pool_destroy(p);
		return -ENOMEM;
	}
	p->chunk_shift = chunk_shift;
	p->hint = 0;
	p->used = 0;
	p->live = 0;
	return 0;
}

void msgr__pool_destroy(struct msgr__pool *p)
{
	free(p->bits);
	if (p->run && p->run_mapped)
		munmap(p->run, run_bytes(p->nchunks));
	else
		free(p->run);
	p->bits = NULL;
	p->run = NULL;
}

/* First index >= from and < end of a run of n free chunks, or -1. Skips full
 * words and counts empty ones whole, so small runs in a busy pool and large
 * runs in an idle pool are both cheap. */
static int64_t find_run(const struct msgr__pool *p, uint32_t from, uint32_t end, uint32_t n)
{
	uint32_t run = 0, start = from;

	for (uint32_t i = from; i < end;) {
		uint64_t w = p->bits[i >> 6];
		if ((i & 63) == 0 && w == ~0ULL) {
			run = 0;
			i += 64;
			start = i;
			continue;
		}
		if ((i & 63) == 0 && w == 0 && i + 64 <= end) {
			run += 64;
			i += 64;
			if (run >= n)
				return start;
			continue;
		}
		if (msgr__bit_test(p->bits, i)) {
			run = 0;
			start = i + 1;
		} else if (++run >= n) {
			return start;
		}
		i++;
	}
	return -1;
}

int msgr__pool_alloc(struct msgr__pool *p, size_t len, uint64_t *off)
{
	uint64_t want = msgr__pool_chunks(len, p->chunk_shift);
	int64_t at;

	if (want > p->nchunks)
		return -EMSGSIZE;
	if (want > p->nchunks - p->used)
		return -ENOBUFS;
	at = find_run(p, p->hint, p->nchunks, (uint32_t)want);
	if (at < 0)
		at = find_run(p, 0, p->nchunks, (uint32_t)want);
	if (at < 0)
		return -ENOBUFS;
	bits_set(p->bits, (uint32_t)at, (uint32_t)want, 1);
	p->run[at] = (uint32_t)want;
	p->used += (uint32_t)want;
	p->live++;
	p->hint = (uint32_t)(at + want) % p->nchunks;
	*off = (uint64_t)at << p->chunk_shift;
	return 0;
}

int msgr__pool_free(struct msgr__pool *p, uint64_t off)
{
	uint64_t c = off >> p->chunk_shift;

	if (off & (((uint64_t)1 << p->chunk_shift) - 1) || c >= p->nchunks || !p->run[c])
		return -EINVAL;
	bits_set(p->bits, (uint32_t)c, p->run[c], 0);
	p->used -= p->run[c];
	p->live--;
	p->run[c] = 0;
	return 0;
}

size_t msgr__pool_alloc_size(const struct msgr__pool *p, uint64_t off)
{
	uint64_t c = off >> p->chunk_shift;

	if (c >= p->nchunks)
		return 0;
	return (size_t)p->run[c] << p->chunk_shift;
}
