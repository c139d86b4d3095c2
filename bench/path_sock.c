/*
 * path_sock.c - unix-socket, tcp and tcp-batch: length-prefixed frames
 * (struct bench_frame, then the payload) on a stream socket.
 *
 *   unix-socket, tcp  one write() per message: what a simple messenger
 *                     without batching does
 *   tcp-batch         the sender packs frames into a 64 KiB buffer and
 *                     writes it when the next frame does not fit: what a
 *                     throughput-minded protocol does over one connection
 *
 * Every reader is buffered: one read() takes whatever the kernel has, as a
 * real stream protocol would, instead of two reads per frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

#define BATCH (64u << 10) /* tcp-batch's write buffer */

/* max: the largest payload a frame may carry; the buffer holds two. */
void bench_rb_init(struct bench_rbuf *rb, int fd, size_t max)
{
	size_t need = 2 * (sizeof(struct bench_frame) + max);

	rb->fd = fd;
	rb->max = max;
	rb->cap = need > (1u << 20) ? need : 1u << 20;
	rb->head = rb->tail = 0;
	rb->buf = malloc(rb->cap);
	if (!rb->buf)
		bench_die("out of memory");
}

static int rb_fill(struct bench_rbuf *rb, size_t need)
{
	while (rb->tail - rb->head < need) {
		ssize_t n;
		if (rb->cap - rb->head < need) {
			memmove(rb->buf, rb->buf + rb->head, rb->tail - rb->head);
			rb->tail -= rb->head;
			rb->head = 0;
		}
		n = read(rb->fd, rb->buf + rb->tail, rb->cap - rb->tail);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		rb->tail += (size_t)n;
	}
	return 0;
}

/* The next frame; its payload pointer stays valid until the next call. */
unsigned char *bench_rb_frame(struct bench_rbuf *rb, struct bench_frame *h)
{
	int err = rb_fill(rb, sizeof(*h));
	unsigned char *p;

	if (!err) {
		memcpy(h, rb->buf + rb->head, sizeof(*h));
		if (h->len > rb->max)
			bench_die("corrupt frame: length %u", h->len);
		err = rb_fill(rb, sizeof(*h) + h->len);
	}
	if (err == -EAGAIN)
		bench_die("nothing on the socket for %d ms (message lost?)", BENCH_IDLE_MS);
	if (err)
		bench_die("read: %s", strerror(-err));
	p = rb->buf + rb->head + sizeof(*h);
	rb->head += sizeof(*h) + h->len;
	return p;
}

void bench_write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_die("write: %s", strerror(errno));
		}
		b += n;
		len -= (size_t)n;
	}
}

/* A whole frame, header and payload, ready to stamp and write. */
unsigned char *bench_sock_frame_buf(size_t size)
{
	unsigned char *f = malloc(sizeof(struct bench_frame) + size);
	struct bench_frame h = { .len = (uint32_t)size };

	if (!f)
		bench_die("out of memory");
	memcpy(f, &h, sizeof(h));
	bench_fill(f + sizeof(h), size);
	return f;
}

void bench_set_seq(unsigned char *f, uint32_t seq)
{
	memcpy(f + offsetof(struct bench_frame, seq), &seq, sizeof(seq));
	bench_stamp(f + sizeof(struct bench_frame), seq);
}

void bench_sock_sender(struct bench_run *ru)
{
	unsigned char *f = bench_sock_frame_buf(ru->size);
	size_t flen = sizeof(struct bench_frame) + ru->size;
	int fd = ru->fd[0];
	uint64_t t0 = 0, n = 0;

	bench_wait_peer();
	while (bench_sending(n, &t0)) {
		n++;
		bench_set_seq(f, (uint32_t)n);
		bench_write_all(fd, f, flen);
	}
	bench_window_end(0);
	bench_set_seq(f, BENCH_END_SEQ);
	bench_write_all(fd, f, flen);
	bench_sh->sent = n - bench_oneway_warm;
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
}

/* tcp-batch: each frame is built in the batch buffer (header, the payload
 * copied in, the stamp), and the buffer goes out in one write() when the
 * next frame would not fit. A frame larger than the buffer goes alone. */
struct batch {
	int fd;
	unsigned char *buf;
	size_t used, cap;
};

static void batch_flush(struct batch *b)
{
	if (b->used)
		bench_write_all(b->fd, b->buf, b->used);
	b->used = 0;
}

static void batch_put(struct batch *b, const unsigned char *payload, size_t len, uint32_t seq)
{
	struct bench_frame h = { .len = (uint32_t)len, .seq = seq };
	size_t flen = sizeof(h) + len;
	unsigned char *p;

	if (b->used && b->used + flen > BATCH)
		batch_flush(b);
	p = b->buf + b->used;
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), payload, len);
	bench_stamp(p + sizeof(h), seq);
	b->used += flen;
	if (b->used >= BATCH)
		batch_flush(b);
}

void bench_tcpb_sender(struct bench_run *ru)
{
	size_t flen = sizeof(struct bench_frame) + ru->size;
	struct batch b = { .fd = ru->fd[0], .cap = flen > BATCH ? flen : BATCH };
	unsigned char *payload = malloc(ru->size);
	uint64_t t0 = 0, n = 0;

	b.buf = malloc(b.cap);
	if (!payload || !b.buf)
		bench_die("out of memory");
	bench_fill(payload, ru->size);
	bench_wait_peer();
	while (bench_sending(n, &t0)) {
		n++;
		batch_put(&b, payload, ru->size, (uint32_t)n);
	}
	bench_window_end(0);
	batch_put(&b, payload, ru->size, BENCH_END_SEQ);
	batch_flush(&b);
	bench_sh->sent = n - bench_oneway_warm;
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
}

void bench_sock_receiver(struct bench_run *ru)
{
	struct bench_rbuf rb;
	struct bench_frame h;
	uint64_t n = 0, bytes = 0;

	bench_rb_init(&rb, ru->fd[1], ru->size);
	atomic_store(&bench_sh->ready, 1);
	for (;;) {
		unsigned char *p = bench_rb_frame(&rb, &h);
		if (h.seq == BENCH_END_SEQ)
			break;
		bench_check(h.seq, (uint32_t)(n + 1), p, h.len, ru->size);
		bench_received(++n, h.len, &bytes);
	}
	bench_receiver_done(n, bytes);
	atomic_store(&bench_sh->done, 1);
}

void bench_sock_pinger(struct bench_run *ru)
{
	uint64_t warm = bench_warmup_rounds(), total = warm + bench_opt.rtt_count;
	uint64_t *lat = malloc(bench_opt.rtt_count * sizeof(*lat));
	unsigned char *f = bench_sock_frame_buf(ru->size);
	size_t flen = sizeof(struct bench_frame) + ru->size;
	struct bench_rbuf rb;
	struct bench_frame h;

	if (!lat)
		bench_die("out of memory");
	bench_rb_init(&rb, ru->fd[0], ru->size);
	bench_wait_peer();
	bench_window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = bench_now_ns();
		unsigned char *p;
		bench_set_seq(f, seq);
		bench_write_all(ru->fd[0], f, flen);
		p = bench_rb_frame(&rb, &h);
		bench_check(h.seq, seq, p, h.len, ru->size);
		if (i >= warm)
			lat[i - warm] = bench_now_ns() - t0;
	}
	bench_window_end(0);
	bench_set_seq(f, BENCH_END_SEQ);
	bench_write_all(ru->fd[0], f, flen);
	bench_sh->rounds = total;
	bench_rtt_stats(lat, bench_opt.rtt_count);
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the echoing process did not finish");
}

void bench_sock_ponger(struct bench_run *ru)
{
	struct bench_rbuf rb;
	struct bench_frame h;
	uint32_t want = 1;

	bench_rb_init(&rb, ru->fd[1], ru->size);
	atomic_store(&bench_sh->ready, 1);
	for (;;) {
		unsigned char *p = bench_rb_frame(&rb, &h);
		if (h.seq == BENCH_END_SEQ)
			break;
		bench_check(h.seq, want, p, h.len, ru->size);
		/* the frame is still whole in the read buffer: echo it as is */
		bench_write_all(ru->fd[1], p - sizeof(h), sizeof(h) + h.len);
		if (want++ == 1)
			bench_window_start(1);
	}
	bench_window_end(1);
	atomic_store(&bench_sh->done, 1);
}
