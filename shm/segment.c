#include "segment.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

void msgr__seg_params_init(struct msgr__seg_params *sp, size_t pool_size)
{
	size_t chunks = pool_size >> MSGR__CHUNK_SHIFT;

	if (chunks < 64)
		chunks = 64;
	if (chunks > (1u << 20)) /* 1 GiB per pool */
		chunks = 1u << 20;
	sp->pool_chunks = (uint32_t)chunks;
	sp->chunk_shift = MSGR__CHUNK_SHIFT;
	sp->cmd_slots = MSGR__CMD_SLOTS;
	sp->evt_slots = MSGR__EVT_SLOTS;
	sp->free_slots = pow2_at_least(sp->pool_chunks);
}

int msgr__seg_params_check(const struct msgr__seg_params *sp)
{
	if (sp->pool_chunks < 64 || sp->pool_chunks > (1u << 20) ||
	    sp->chunk_shift < 6 || sp->chunk_shift > 20 ||
	    sp->cmd_slots < 2 || (sp->cmd_slots & (sp->cmd_slots - 1)) ||
	    sp->evt_slots < 2 || (sp->evt_slots & (sp->evt_slots - 1)) ||
	    sp->free_slots < sp->pool_chunks || (sp->free_slots & (sp->free_slots - 1)))
		return -EINVAL;
	return 0;
}

void msgr__seg_layout(const struct msgr__seg_params *sp, struct msgr__seg_layout *lo)
{
	uint64_t at = ALIGN_UP(sizeof(struct msgr__seg_hdr), 4096);

	lo->cmd = at;
	at = ALIGN_UP(at + msgr__ring_mem_size(sp->cmd_slots, sizeof(struct msgr__desc)), 4096);
	lo->evt = at;
	at = ALIGN_UP(at + msgr__ring_mem_size(sp->evt_slots, sizeof(struct msgr__desc)), 4096);
	lo->txdone = at;
	at = ALIGN_UP(at + msgr__ring_mem_size(sp->free_slots, sizeof(struct msgr__free_desc)), 4096);
	lo->rxfree = at;
	at = ALIGN_UP(at + msgr__ring_mem_size(sp->free_slots, sizeof(struct msgr__free_desc)), 4096);
	lo->credits = at;
	at = ALIGN_UP(at + (uint64_t)MSGR__CREDIT_SLOTS * sizeof(uint64_t), 4096);
	lo->txpool = at;
	at += (uint64_t)sp->pool_chunks << sp->chunk_shift;
	lo->rxpool = at;
	at += (uint64_t)sp->pool_chunks << sp->chunk_shift;
	lo->size = ALIGN_UP(at, 4096);
}

void msgr__seg_format(void *base, const struct msgr__seg_params *sp,
		      const struct msgr__seg_layout *lo, int daemon_pid, int client_pid)
{
	struct msgr__seg_hdr *h = base;
	unsigned char *b = base;

	memset(h, 0, sizeof(*h));
	h->magic = MSGR__SEG_MAGIC;
	h->version = MSGR__SEG_VERSION;
	h->hdr_size = sizeof(*h);
	h->seg_size = lo->size;
	h->params = *sp;
	h->daemon_pid = daemon_pid;
	h->client_pid = client_pid;
	atomic_init(&h->daemon_heartbeat_ns, msgr__now_ns());
	/* the daemon has not polled this segment yet: a first command must
	 * wake it */
	atomic_init(&h->daemon_sleeping, 1);
	/* the rings: a fresh segment reads as zeros, which is four empty
	 * rings (shm/ring.h); writing them would make every idle client cost
	 * the daemon 1.4 MiB of resident memory */
	(void)b;
}

int msgr__seg_check(const void *base, size_t size, const struct msgr__seg_params *sp)
{
	const struct msgr__seg_hdr *h = base;
	struct msgr__seg_layout lo;

	if (msgr__seg_params_check(sp))
		return -EPROTO;
	msgr__seg_layout(sp, &lo);
	if (size < sizeof(*h) || h->magic != MSGR__SEG_MAGIC)
		return -EPROTO;
	if (h->version != MSGR__SEG_VERSION || h->hdr_size != sizeof(*h))
		return -EPROTONOSUPPORT;
	if (h->seg_size != lo.size || size != lo.size ||
	    memcmp(&h->params, sp, sizeof(*sp)))
		return -EPROTO;
	return 0;
}

uint32_t msgr__text_unit(struct msgr__desc unit[MSGR__UNIT_MAX], const struct msgr__desc *d,
			 const char *text, size_t len)
{
	uint32_t n = (uint32_t)MSGR__TEXT_SLOTS(len);

	memset(unit, 0, (1 + (size_t)n) * sizeof(*unit));
	unit[0] = *d;
	unit[0].off = 0;
	unit[0].len = len;
	memcpy(unit + 1, text, len);
	return 1 + n;
}

int msgr__text_take(struct msgr__ring *r, uint64_t len, size_t max, char *out)
{
	struct msgr__desc slot;
	size_t got = 0;

	if (len == 0 || len > max || len > MSGR__TEXT_MAX)
		return -EMSGSIZE;
	while (got < len) {
		size_t n = len - got < sizeof(slot) ? len - got : sizeof(slot);
		if (msgr__ring_pop_sc(r, &slot))
			return -EPROTO;
		memcpy(out + got, &slot, n);
		got += n;
	}
	out[len] = 0;
	return memchr(out, 0, len) ? -EPROTO : 0;
}

uint64_t msgr__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
