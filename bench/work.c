/*
 * work.c - what every path does with the data, and its measuring window.
 *
 * The sender writes the sequence number into the payload and copies it in
 * (into the TX pool, the ring slot, the socket or the batch buffer). The
 * receiver checks the order and the stamp and reads every payload byte, so
 * no path wins by leaving the data cold. A lost, duplicated or reordered
 * message ends the child with status 1, which fails the run.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

uint64_t bench_oneway_warm;
static volatile uint64_t sink; /* keeps payload reads from being optimised away */

void bench_errmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("msgr-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A child reports and exits; the parent sees the status and kills its partners. */
_Noreturn void bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "msgr-bench: %s: ", bench_label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

int bench_wait_flag(_Atomic int *f, int ms)
{
	uint64_t end = bench_now_ns() + (uint64_t)ms * 1000000u;

	while (!atomic_load(f)) {
		if (bench_now_ns() > end)
			return -ETIMEDOUT;
		bench_sleep_us(200);
	}
	return 0;
}

/* Fork and exec latency of the other side stays out of the measured window. */
void bench_wait_peer(void)
{
	if (bench_wait_flag(&bench_sh->ready, 10000))
		bench_die("the other process never got ready");
}

void bench_fill(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 131 + 7);
}

uint64_t bench_touch(const unsigned char *p, size_t len)
{
	uint64_t x = 0, w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		x ^= w;
	}
	for (; i < len; i++)
		x ^= p[i];
	return x;
}

void bench_stamp(unsigned char *p, uint32_t seq)
{
	memcpy(p, &seq, sizeof(seq));
}

void bench_check(uint32_t seq, uint32_t want, const unsigned char *p, size_t len, size_t size)
{
	uint32_t s;

	if (seq != want)
		bench_die("message %u arrived when %u was due (lost or out of order)", seq, want);
	if (len != size)
		bench_die("message %u has %zu bytes, sent %zu", seq, len, size);
	memcpy(&s, p, sizeof(s));
	if (s != seq)
		bench_die("message %u carries the payload of message %u", seq, s);
	sink ^= bench_touch(p, len);
}

uint64_t bench_warmup_rounds(void)
{
	uint64_t w = bench_opt.rtt_count / 10;

	return w < 100 ? 100 : w > 2000 ? 2000 : w;
}

/* One-way warm-up: 50000 messages (5000 with --quick) up to 4 KiB, enough
 * to cycle a default 32 MiB pool of 1 KiB chunks; above, 64 MiB worth
 * (16 MiB), at least 256 messages, so the slow paths' large sizes do not
 * spend the run warming up. */
uint64_t bench_warm_for(size_t size)
{
	uint64_t w = (bench_opt.quick ? (16u << 20) : (64u << 20)) / size;

	if (size <= 4096)
		return bench_opt.quick ? 5000 : 50000;
	return w < 256 ? 256 : w;
}

/* Checked every 64 messages: a clock read per 64-byte message would show. */
static int keep_sending(uint64_t n, uint64_t t0)
{
	if (bench_opt.count)
		return n < bench_opt.count;
	if (n & 63)
		return 1;
	return bench_now_ns() - t0 < (uint64_t)(bench_opt.seconds * 1e9);
}

void bench_window_start(int role)
{
	bench_proc_sample(getpid(), &bench_sh->side[role].w0);
	for (int i = 0; i < 2 && role == 0; i++)
		if (bench_sampled[i])
			bench_proc_sample(bench_sampled[i], &bench_sh->d0[i]);
}

void bench_window_end(int role)
{
	bench_proc_sample(getpid(), &bench_sh->side[role].w1);
	for (int i = 0; i < 2 && role == 1; i++)
		if (bench_sampled[i])
			bench_proc_sample(bench_sampled[i], &bench_sh->d1[i]);
}

/* Whether to send message n + 1. The first bench_oneway_warm messages fault
 * in the pools and socket buffers and settle the scheduler; the window opens
 * after. */
int bench_sending(uint64_t n, uint64_t *t0)
{
	if (n == bench_oneway_warm) {
		bench_window_start(0);
		*t0 = bench_sh->t_start = bench_now_ns();
	}
	return n < bench_oneway_warm || keep_sending(n - bench_oneway_warm, *t0);
}

/* The receiving side's window opens when the warm-up is all in. */
void bench_received(uint64_t n, size_t len, uint64_t *bytes)
{
	if (n == bench_oneway_warm)
		bench_window_start(1);
	else if (n > bench_oneway_warm)
		*bytes += len;
}

void bench_receiver_done(uint64_t n, uint64_t bytes)
{
	bench_sh->t_end = bench_now_ns();
	bench_window_end(1);
	bench_sh->recvd = n > bench_oneway_warm ? n - bench_oneway_warm : 0;
	bench_sh->bytes = bytes;
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Latencies in ns, sorted here; the results in µs. */
void bench_lat_stats(uint64_t *lat, uint64_t n, double *p50, double *p99, double *mean)
{
	double sum = 0;

	if (!n) {
		*p50 = *p99 = *mean = 0;
		return;
	}
	qsort(lat, n, sizeof(*lat), bench_cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)lat[i];
	*p50 = (double)lat[n / 2] / 1e3;
	*p99 = (double)lat[n * 99 / 100] / 1e3;
	*mean = sum / (double)n / 1e3;
}

void bench_rtt_stats(uint64_t *lat, uint64_t n)
{
	bench_lat_stats(lat, n, &bench_sh->p50, &bench_sh->p99, &bench_sh->mean);
}
