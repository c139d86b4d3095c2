/*
 * path_shm.c - shm-ring: libmsgr's rings and wakeup protocol without the
 * daemon. Two shm/ring.c rings in a MAP_SHARED mapping made before the
 * fork, one per direction. The waiting side does what msgr_next does: spin
 * poll_us, set the needs-wakeup flag (shm/wake.h), look again, sleep on an
 * eventfd. So msgrd/shm is the price of the daemon hop and nothing else.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench.h"
#include "shm/ring.h"
#include "shm/wake.h"

_Static_assert(_Alignof(struct bench_shm_flag) >= MSGR__CACHELINE,
	       "each wakeup flag on a cache line of its own");

/* Slots of about 8 MiB per ring, 64 to 4096 of them, a power of two. */
int bench_shm_prepare(struct bench_run *ru)
{
	size_t ring_len, off, want;

	ru->payload = (uint32_t)((sizeof(struct bench_frame) + ru->size + 7) & ~(size_t)7);
	want = (8u << 20) / ru->payload;
	ru->nslots = 64;
	while (ru->nslots < 4096 && (size_t)ru->nslots * 2 <= want)
		ru->nslots *= 2;
	ring_len = (msgr__ring_mem_size(ru->nslots, ru->payload) + MSGR__CACHELINE - 1) &
		   ~(size_t)(MSGR__CACHELINE - 1);
	off = 2 * sizeof(struct bench_shm_flag);
	ru->shm_len = off + 2 * ring_len;
	ru->shm = mmap(NULL, ru->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ru->shm == MAP_FAILED) {
		ru->shm = NULL;
		return -errno;
	}
	ru->flag = ru->shm;
	for (int i = 0; i < 2; i++) {
		atomic_init(&ru->flag[i].sleeping, 0);
		ru->ring_mem[i] = (unsigned char *)ru->shm + off + (size_t)i * ring_len;
		msgr__ring_format(ru->ring_mem[i], ru->nslots, ru->payload);
		ru->efd[i] = eventfd(0, EFD_CLOEXEC);
		if (ru->efd[i] < 0)
			return -errno;
	}
	return 0;
}

struct shm_end {
	struct msgr__ring tx, rx;
	_Atomic uint32_t *my_flag, *peer_flag;
	int my_efd, peer_efd;
	struct bench_side *s;
	unsigned char *slot; /* one ring payload: struct bench_frame, then the message */
};

static void shm_open_end(struct bench_run *ru, int role, struct shm_end *e)
{
	msgr__ring_open(&e->tx, ru->ring_mem[role], ru->nslots, ru->payload);
	msgr__ring_open(&e->rx, ru->ring_mem[1 - role], ru->nslots, ru->payload);
	e->my_flag = &ru->flag[role].sleeping;
	e->peer_flag = &ru->flag[1 - role].sleeping;
	e->my_efd = ru->efd[role];
	e->peer_efd = ru->efd[1 - role];
	e->s = &bench_sh->side[role];
	e->slot = calloc(1, ru->payload);
	if (!e->slot)
		bench_die("out of memory");
}

static void shm_push(struct shm_end *e)
{
	static const uint64_t one = 1;

	while (msgr__ring_push_sp(&e->tx, e->slot)) {
		e->s->eagain++;
		sched_yield(); /* the same answer to "full" as the msgrd sender's */
	}
	if (msgr__wake_take(e->peer_flag)) {
		if (write(e->peer_efd, &one, sizeof(one)) != sizeof(one))
			bench_die("eventfd write: %s", strerror(errno));
		e->s->wakeups++;
	}
}

/* msgr_next's wait, step for step: spin poll_us, arm, re-check, sleep. */
static void shm_pop(struct shm_end *e)
{
	for (;;) {
		struct pollfd pfd = { .fd = e->my_efd, .events = POLLIN };
		uint64_t spin_end, v;
		int n;

		if (msgr__ring_pop_sc(&e->rx, e->slot) == 0)
			return;
		spin_end = bench_now_ns() + (uint64_t)bench_wait_poll_us * 1000;
		while (bench_now_ns() < spin_end)
			if (msgr__ring_ready_sc(&e->rx))
				break;
		if (msgr__ring_ready_sc(&e->rx))
			continue;
		msgr__wake_arm(e->my_flag);
		if (msgr__ring_ready_sc(&e->rx)) {
			msgr__wake_disarm(e->my_flag);
			continue;
		}
		n = poll(&pfd, 1, BENCH_IDLE_MS);
		if (n == 0)
			bench_die("nothing on the ring for %d ms (message lost?)", BENCH_IDLE_MS);
		if (n < 0 && errno != EINTR)
			bench_die("poll: %s", strerror(errno));
		if (n > 0 && read(e->my_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			bench_die("eventfd read: %s", strerror(errno));
		msgr__wake_disarm(e->my_flag);
	}
}

static struct bench_frame *shm_frame(struct shm_end *e)
{
	return (struct bench_frame *)e->slot;
}

static unsigned char *shm_data(struct shm_end *e)
{
	return e->slot + sizeof(struct bench_frame);
}

void bench_shm_sender(struct bench_run *ru)
{
	struct shm_end e;
	uint64_t t0 = 0, n = 0;

	shm_open_end(ru, 0, &e);
	bench_fill(shm_data(&e), ru->size);
	shm_frame(&e)->len = (uint32_t)ru->size;
	bench_wait_peer();
	while (bench_sending(n, &t0)) {
		n++;
		shm_frame(&e)->seq = (uint32_t)n;
		bench_stamp(shm_data(&e), (uint32_t)n);
		shm_push(&e);
	}
	bench_window_end(0);
	shm_frame(&e)->seq = BENCH_END_SEQ;
	shm_push(&e);
	bench_sh->sent = n - bench_oneway_warm;
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
}

void bench_shm_receiver(struct bench_run *ru)
{
	struct shm_end e;
	uint64_t n = 0, bytes = 0;

	shm_open_end(ru, 1, &e);
	atomic_store(&bench_sh->ready, 1);
	for (;;) {
		shm_pop(&e);
		if (shm_frame(&e)->seq == BENCH_END_SEQ)
			break;
		bench_check(shm_frame(&e)->seq, (uint32_t)(n + 1), shm_data(&e), shm_frame(&e)->len,
			    ru->size);
		bench_received(++n, ru->size, &bytes);
	}
	bench_receiver_done(n, bytes);
	atomic_store(&bench_sh->done, 1);
}

void bench_shm_pinger(struct bench_run *ru)
{
	uint64_t warm = bench_warmup_rounds(), total = warm + bench_opt.rtt_count;
	uint64_t *lat = malloc(bench_opt.rtt_count * sizeof(*lat));
	struct shm_end e;

	if (!lat)
		bench_die("out of memory");
	shm_open_end(ru, 0, &e);
	bench_fill(shm_data(&e), ru->size);
	shm_frame(&e)->len = (uint32_t)ru->size;
	bench_wait_peer();
	bench_window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = bench_now_ns();
		/* the echo left the same frame in the slot buffer: only seq changes */
		shm_frame(&e)->seq = seq;
		bench_stamp(shm_data(&e), seq);
		shm_push(&e);
		shm_pop(&e);
		bench_check(shm_frame(&e)->seq, seq, shm_data(&e), shm_frame(&e)->len, ru->size);
		if (i >= warm)
			lat[i - warm] = bench_now_ns() - t0;
	}
	bench_window_end(0);
	shm_frame(&e)->seq = BENCH_END_SEQ;
	shm_push(&e);
	bench_sh->rounds = total;
	bench_rtt_stats(lat, bench_opt.rtt_count);
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the echoing process did not finish");
}

void bench_shm_ponger(struct bench_run *ru)
{
	struct shm_end e;
	uint32_t want = 1;

	shm_open_end(ru, 1, &e);
	atomic_store(&bench_sh->ready, 1);
	for (;;) {
		shm_pop(&e);
		if (shm_frame(&e)->seq == BENCH_END_SEQ)
			break;
		bench_check(shm_frame(&e)->seq, want, shm_data(&e), shm_frame(&e)->len, ru->size);
		shm_push(&e); /* the slot copy is the echo */
		if (want++ == 1)
			bench_window_start(1);
	}
	bench_window_end(1);
	atomic_store(&bench_sh->done, 1);
}
