/*
 * pool.h - allocator of contiguous chunk runs inside a shared buffer pool.
 *
 * The pool's bytes live in the shared segment; this allocator's state (a
 * bitmap and the length of every live allocation) lives in the private memory
 * of the one side that allocates from it: the application for the TX pool,
 * the daemon for the RX pool. The other side only hands offsets back through
 * a free ring, and msgr__pool_free() checks each one against its own record,
 * so a bad offset is reported, never obeyed.
 *
 * Not thread-safe: the owner serialises calls (libmsgr holds a mutex, the
 * daemon runs on one loop thread).
 *
 * Every allocation takes at least one chunk, even for 0 bytes, so the number
 * of live allocations never exceeds the number of chunks. Free rings sized to
 * the chunk count can therefore never overflow.
 */
#ifndef MSGR_SHM_POOL_H
#define MSGR_SHM_POOL_H

#include <stddef.h>
#include <stdint.h>

struct msgr__pool {
	uint64_t *bits;      /* owned: one bit per chunk, 1 = in use */
	uint32_t *run;       /* owned, mmap'ed when large (pool.c says why):
			      * chunks of the allocation starting here, 0 if none */
	int run_mapped;      /* run came from mmap, not calloc */
	uint32_t nchunks;    /* chunks in the pool */
	uint32_t chunk_shift;/* log2(chunk size) */
	uint32_t hint;       /* next-fit start */
	uint32_t used;       /* chunks in use */
	uint32_t live;       /* allocations in use */
};

/* Chunks a payload of len bytes takes: at least one, even for 0 bytes. The
 * allocator, and the flow-control window on both sides, count with this,
 * so they always agree. */
static inline uint64_t msgr__pool_chunks(uint64_t len, uint32_t chunk_shift)
{
	return len ? ((len - 1) >> chunk_shift) + 1 : 1; /* no overflow near the top */
}

/* The bytes a payload of len counts against a flow-control window: its
 * whole chunks. libmsgr, the local outbox and both daemons of a remote
 * channel all count with this. */
static inline uint64_t msgr__pool_cost_bytes(uint64_t len, uint32_t chunk_shift)
{
	return msgr__pool_chunks(len, chunk_shift) << chunk_shift;
}

int msgr__pool_init(struct msgr__pool *p, uint32_t nchunks, uint32_t chunk_shift);
void msgr__pool_destroy(struct msgr__pool *p);

/* Offset (from the pool start) of a run of chunks holding len bytes.
 * -EMSGSIZE if len could never fit, -ENOBUFS if it does not fit now. */
int msgr__pool_alloc(struct msgr__pool *p, size_t len, uint64_t *off);

/* Release the allocation starting at off. -EINVAL if off is not the start of
 * a live allocation (a double free or a forged offset). */
int msgr__pool_free(struct msgr__pool *p, uint64_t off);

/* Length in bytes of the allocation at off, or 0 if there is none. */
size_t msgr__pool_alloc_size(const struct msgr__pool *p, uint64_t off);

#endif
