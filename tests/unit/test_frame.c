/* Unit tests for common/crc32c.c and daemon/frame.c. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "daemon/frame.h"
#include "daemon/seal.h"
#include "tests/unit/unit.h"

START_TEST(test_crc32c)
{
	static unsigned char buf[4099];

	ck_assert_uint_eq(msgr__crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(msgr__crc32c_sw(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(msgr__crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	/* hardware and table agree at every length and alignment, and a CRC
	 * continued over two pieces equals the CRC of the whole */
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= sizeof(buf); n += 37) {
			uint32_t a = msgr__crc32c(0, buf + off, n);
			ck_assert_uint_eq(a, msgr__crc32c_sw(0, buf + off, n));
			ck_assert_uint_eq(a, msgr__crc32c(msgr__crc32c(0, buf + off, n / 3),
							  buf + off + n / 3, n - n / 3));
		}
	/* long buffers: many rounds of the three-stripe loop, random bytes */
	{
		static unsigned char big[1 << 20];
		uint32_t x = 12345;
		for (size_t i = 0; i < sizeof(big); i++) {
			x = x * 1103515245u + 12345u;
			big[i] = (unsigned char)(x >> 16);
		}
		for (size_t n = 700; n <= sizeof(big); n = n * 3 + 1)
			ck_assert_uint_eq(msgr__crc32c(0, big, n), msgr__crc32c_sw(0, big, n));
		ck_assert_uint_eq(msgr__crc32c(0, big, sizeof(big)), msgr__crc32c_sw(0, big, sizeof(big)));
	}
}
END_TEST

START_TEST(test_banner)
{
	struct msgr__banner a = { 1, 3, 0x5 }, b = { 2, 9, 0 }, c = { 4, 5, 0 }, got;
	uint8_t buf[MSGR__BANNER_LEN];

	msgr__banner_encode(buf, &a);
	ck_assert_int_eq(memcmp(buf, "MSGRWIRE", 8), 0);
	ck_assert_int_eq(msgr__banner_decode(buf, &got), 0);
	ck_assert_uint_eq(got.vmin, 1);
	ck_assert_uint_eq(got.vmax, 3);
	ck_assert_uint_eq(got.features, 5);
	ck_assert_int_eq(msgr__version_pick(&a, &b), 3);
	ck_assert_int_eq(msgr__version_pick(&a, &c), -EPROTONOSUPPORT);
	buf[0] = 'X';
	ck_assert_int_eq(msgr__banner_decode(buf, &got), -EPROTO);
}
END_TEST

START_TEST(test_header)
{
	struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .channel = 7, .seq = 1ULL << 40,
				     .ack = 99, .len = 1000 }, g;
	uint8_t buf[MSGR__FRAME_HDR_LEN];

	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), 0);
	ck_assert_uint_eq(g.type, h.type);
	ck_assert_uint_eq(g.channel, 7);
	ck_assert(g.seq == h.seq && g.ack == 99 && g.len == 1000);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 900), -EMSGSIZE);
	buf[5] ^= 1; /* any flipped bit is caught */
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EBADMSG);
	h.type = 99;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EPROTO);
	/* flags: MORE, CONT and BATCH on a MSG only, nothing else anywhere */
	h.type = MSGR__F_ACK;
	h.flags = MSGR__FL_MORE;
	h.len = 0;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EPROTO);
	h.type = MSGR__F_MSG;
	h.flags = MSGR__FL_MORE | MSGR__FL_CONT;
	h.len = 100;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), 0);
	ck_assert_uint_eq(g.flags, MSGR__FL_MORE | MSGR__FL_CONT);
	h.flags = MSGR__FL_BATCH;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), 0);
	ck_assert_uint_eq(g.flags, MSGR__FL_BATCH);
	h.flags = 8;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EPROTO);
	/* ACK: up to 340 entries of 12 bytes, within 4 KiB */
	h.type = MSGR__F_ACK;
	h.flags = 0;
	h.len = 2 + MSGR__ACK_MAX * MSGR__ACK_ENTRY;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), 0);
	h.len = 4097;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EMSGSIZE);
	h.type = MSGR__F_KEEPALIVE;
	h.len = 65;
	msgr__frame_hdr_encode(buf, &h);
	ck_assert_int_eq(msgr__frame_hdr_decode(buf, &g, 4096), -EMSGSIZE);
}
END_TEST

/* A little owner for the decoder: records frames. */
struct rec {
	struct msgr__frame_dec *dec; /* armed with arm after arm_after frames */
	struct msgr__seal *arm;
	int arm_after;
	int frames, bad_payloads;
	int borrowed, copied;      /* payloads read in place, and into buf */
	uint32_t last_channel, last_len;
	unsigned char buf[8192];
	unsigned char last[8192];
};

static void *rec_buf(void *o, const struct msgr__frame_hdr *h)
{
	return h->len <= sizeof(((struct rec *)o)->buf) ? ((struct rec *)o)->buf : NULL;
}

static int rec_frame(void *o, const struct msgr__frame_hdr *h, void *payload, int ok)
{
	struct rec *r = o;

	r->frames++;
	r->bad_payloads += !ok;
	if (r->arm && r->frames == r->arm_after)
		r->dec->rx = r->arm; /* as session.c does after the peer's AUTH */
	if (h->len && payload == r->buf)
		r->copied++;
	else if (h->len)
		r->borrowed++;
	r->last_channel = h->channel;
	r->last_len = h->len;
	if (h->len)
		memcpy(r->last, payload, h->len);
	return 0;
}

static int skips;

static int rec_skip(void *o, const struct msgr__frame_hdr *h)
{
	skips++;
	return 0;
}

/* Takes every payload in place that the decoder offers. */
static int rec_borrow(void *o, const struct msgr__frame_hdr *h)
{
	return 1;
}

/* What ahead() said, call by call: frames delivered before it, and its two channels. */
static struct { int calls; int frames[64]; uint32_t next[64], after[64]; } hints;

static void rec_ahead(void *o, uint32_t next, uint32_t after)
{
	if (hints.calls < 64) {
		hints.frames[hints.calls] = ((struct rec *)o)->frames;
		hints.next[hints.calls] = next;
		hints.after[hints.calls] = after;
	}
	hints.calls++;
}

static const struct msgr__frame_ops rec_ops = { rec_buf, rec_frame, NULL, NULL, NULL };
static const struct msgr__frame_ops ahead_ops = { rec_buf, rec_frame, NULL, rec_borrow, rec_ahead };
static const struct msgr__frame_ops borrow_ops = { rec_buf, rec_frame, NULL, rec_borrow, NULL };
static const struct msgr__frame_ops skip_ops = { rec_buf, rec_frame, rec_skip, NULL, NULL };

/* banner + frames into out; returns bytes */
static size_t build(uint8_t *out, int nframes, int corrupt_payload_of)
{
	struct msgr__banner b = { 1, 1, 0 };
	size_t n = 0;

	msgr__banner_encode(out, &b);
	n += MSGR__BANNER_LEN;
	for (int i = 0; i < nframes; i++) {
		struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .channel = (uint32_t)i + 1,
					     .seq = (uint64_t)i + 1, .len = (uint32_t)(i * 100) };
		uint32_t crc;
		msgr__frame_hdr_encode(out + n, &h);
		n += MSGR__FRAME_HDR_LEN;
		for (uint32_t k = 0; k < h.len; k++)
			out[n + k] = (uint8_t)(k ^ (uint32_t)i);
		crc = msgr__crc32c(0, out + n, h.len);
		if (i == corrupt_payload_of)
			out[n] ^= 0x40;
		n += h.len;
		memcpy(out + n, &crc, 4); /* little-endian host */
		n += 4;
	}
	return n;
}

START_TEST(test_decoder_splits)
{
	static uint8_t wire[65536];
	struct msgr__banner mine = { 1, 1, 0 };
	size_t n = build(wire, 20, -1);

	/* every chunk size from 1 byte up gives the same frames */
	for (size_t chunk = 1; chunk < 200; chunk += 13) {
		struct msgr__frame_dec d;
		struct rec r = { 0 };
		msgr__frame_dec_init(&d, &mine, 8192, &rec_ops, &r);
		for (size_t off = 0; off < n; off += chunk)
			ck_assert_int_eq(msgr__frame_dec_feed(&d, wire + off, off + chunk > n ? n - off : chunk), 0);
		ck_assert_int_eq(r.frames, 20);
		ck_assert_int_eq(r.bad_payloads, 0);
		ck_assert_uint_eq(r.last_channel, 20);
		ck_assert_uint_eq(r.last_len, 1900);
		ck_assert_uint_eq(r.last[5], 5 ^ 19);
		ck_assert_int_eq(r.borrowed, 0);
	}
}
END_TEST

/* An owner that borrows gets the same frames, in place only when a
 * payload and its trailer are all in one feed, and CRCs still checked. */
START_TEST(test_decoder_borrow)
{
	static uint8_t wire[65536];
	struct msgr__banner mine = { 1, 1, 0 };
	size_t n = build(wire, 20, 7);

	for (size_t chunk = 1; chunk < 5000; chunk += chunk < 200 ? 13 : 997) {
		struct msgr__frame_dec d;
		struct rec r = { 0 };
		msgr__frame_dec_init(&d, &mine, 8192, &borrow_ops, &r);
		for (size_t off = 0; off < n; off += chunk)
			ck_assert_int_eq(msgr__frame_dec_feed(&d, wire + off, off + chunk > n ? n - off : chunk), 0);
		ck_assert_int_eq(r.frames, 20);
		ck_assert_int_eq(r.bad_payloads, 1);
		ck_assert_int_eq(r.borrowed + r.copied, 19); /* frame 0 is empty */
		ck_assert_uint_eq(r.last_len, 1900);
		ck_assert_uint_eq(r.last[5], 5 ^ 19);
		if (chunk < 100)
			ck_assert_int_eq(r.borrowed, 0);
		if (chunk >= n)
			ck_assert_int_eq(r.copied, 0);
		else if (chunk > 2000)
			ck_assert_int_gt(r.borrowed, 0);
	}
}
END_TEST

/* A borrowed frame about to go up names the next two frames' channels
 * when their headers are in (a hint: frame i is on channel i + 1). */
START_TEST(test_decoder_ahead)
{
	static uint8_t wire[65536];
	struct msgr__banner mine = { 1, 1, 0 };
	size_t n = build(wire, 20, -1);

	for (size_t chunk = 997; chunk <= n; chunk = chunk == n ? n + 1 : chunk * 2 > n ? n : chunk * 2) {
		struct msgr__frame_dec d;
		struct rec r = { 0 };
		memset(&hints, 0, sizeof(hints));
		msgr__frame_dec_init(&d, &mine, 8192, &ahead_ops, &r);
		for (size_t off = 0; off < n; off += chunk)
			ck_assert_int_eq(msgr__frame_dec_feed(&d, wire + off, off + chunk > n ? n - off : chunk), 0);
		ck_assert_int_eq(r.frames, 20);
		ck_assert_int_gt(hints.calls, 0);
		for (int i = 0; i < hints.calls; i++) {
			/* before frame k (channel k + 1) goes up: k + 2, and k + 3 or 0 */
			uint32_t next = (uint32_t)hints.frames[i] + 2;
			ck_assert_uint_eq(hints.next[i], next);
			ck_assert(hints.after[i] == 0 || hints.after[i] == next + 1);
		}
		if (chunk >= n) {
			/* all in one feed: frames 1..18 (frame 0 has no payload to
			 * borrow, frame 19 nothing behind it); 18's after is none */
			ck_assert_int_eq(hints.calls, 18);
			ck_assert_uint_eq(hints.after[0], 4);
			ck_assert_uint_eq(hints.after[17], 0);
		}
	}
}
END_TEST

/* Secure mode: nplain CRC frames, then sealed ones (frame i has i * 100
 * payload bytes on channel i + 1; frame `big` is a MSG over 8192 bytes). */
static size_t build_sealed(uint8_t *out, struct msgr__seal *tx, int nplain, int nframes, int big)
{
	struct msgr__banner b = { 2, 2, 0 };
	static uint8_t payload[20000];
	size_t n = MSGR__BANNER_LEN;

	msgr__banner_encode(out, &b);
	for (int i = 0; i < nframes; i++) {
		struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .channel = (uint32_t)i + 1,
					     .seq = (uint64_t)i + 1,
					     .len = (uint32_t)(i == big ? 10000 : i * 100) };
		struct iovec iov = { payload, h.len };
		for (uint32_t k = 0; k < h.len; k++)
			payload[k] = (uint8_t)(k ^ (uint32_t)i);
		ck_assert_int_eq(msgr__frame_encode(out + n, i < nplain ? NULL : tx, &h, &iov, 1), 0);
		n += msgr__frame_wire_len(h.len, i >= nplain);
	}
	return n;
}

START_TEST(test_decoder_sealed)
{
	static uint8_t wire[1 << 17];
	struct msgr__banner mine = { 2, 2, 0 };
	uint8_t key[32];
	size_t n;

	memset(key, 0x5a, sizeof(key));
	/* every split, the switch to sealing after frame 3, an empty payload
	 * (no payload record), and an oversized MSG skipped with its tag */
	for (size_t chunk = 1; chunk < 300; chunk += 37) {
		struct msgr__seal tx, rx;
		struct msgr__frame_dec d;
		struct rec r = { .dec = &d, .arm = &rx, .arm_after = 3 };
		ck_assert_int_eq(msgr__seal_init(&tx, key, 1), 0);
		ck_assert_int_eq(msgr__seal_init(&rx, key, 0), 0);
		n = build_sealed(wire, &tx, 3, 12, 7);
		skips = 0;
		msgr__frame_dec_init(&d, &mine, 8192, &skip_ops, &r);
		for (size_t off = 0; off < n; off += chunk)
			ck_assert_int_eq(msgr__frame_dec_feed(&d, wire + off, off + chunk > n ? n - off : chunk), 0);
		ck_assert_int_eq(r.frames, 11);
		ck_assert_int_eq(skips, 1);
		ck_assert_int_eq(r.bad_payloads, 0);
		ck_assert_uint_eq(r.last_channel, 12);
		ck_assert_uint_eq(r.last_len, 1100);
		ck_assert_uint_eq(r.last[5], 5 ^ 11);
		msgr__seal_fini(&tx);
		msgr__seal_fini(&rx);
	}
	/* a flipped bit in any sealed byte (header, tags, payloads, a
	 * skipped payload) stops the decoder: nothing after it is taken */
	n = build_sealed(wire, NULL, 0, 0, -1); /* banner only, for its length */
	for (size_t at = MSGR__BANNER_LEN; ; at += 97) {
		struct msgr__seal tx, rx;
		struct msgr__frame_dec d;
		struct rec r = { 0 };
		msgr__seal_init(&tx, key, 1);
		msgr__seal_init(&rx, key, 0);
		n = build_sealed(wire, &tx, 0, 9, 7);
		if (at >= n) {
			msgr__seal_fini(&tx);
			msgr__seal_fini(&rx);
			break;
		}
		wire[at] ^= 0x10;
		msgr__frame_dec_init(&d, &mine, 8192, &skip_ops, &r);
		d.rx = &rx;
		ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), -1);
		ck_assert_msg(d.err == MSGR__DEC_BAD_TAG, "flip at %zu: %s", at, msgr__dec_err_name(d.err));
		msgr__seal_fini(&tx);
		msgr__seal_fini(&rx);
	}
}
END_TEST

START_TEST(test_decoder_errors)
{
	static uint8_t wire[65536];
	struct msgr__banner mine = { 1, 1, 0 };
	struct msgr__frame_dec d;
	struct rec r = { 0 };
	size_t n = build(wire, 5, 2);

	/* a bad payload CRC is reported for its frame; the stream goes on */
	msgr__frame_dec_init(&d, &mine, 8192, &rec_ops, &r);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), 0);
	ck_assert_int_eq(r.frames, 5);
	ck_assert_int_eq(r.bad_payloads, 1);

	/* a bad header CRC stops it for good */
	n = build(wire, 3, -1);
	wire[MSGR__BANNER_LEN + 9] ^= 1;
	memset(&r, 0, sizeof(r));
	msgr__frame_dec_init(&d, &mine, 8192, &rec_ops, &r);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), -1);
	ck_assert_int_eq(d.err, MSGR__DEC_BAD_HEADER_CRC);
	ck_assert_int_eq(r.frames, 0);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), -1);

	/* garbage before the banner */
	msgr__frame_dec_init(&d, &mine, 8192, &rec_ops, &r);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, "GET / HTTP/1.1\r\n\r\n", 18), -1);
	ck_assert_int_eq(d.err, MSGR__DEC_BAD_BANNER);
	ck_assert_str_eq(msgr__dec_err_name(d.err), "bad banner");

	/* oversized: the limit is checked before a buffer is asked for */
	n = build(wire, 3, -1);
	msgr__frame_dec_init(&d, &mine, 150, &rec_ops, &r);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), -1);
	ck_assert_int_eq(d.err, MSGR__DEC_OVERSIZED);

	/* with on_skip, an oversized MSG is skipped, in any split, and the
	 * frames after it arrive: frames 0 and 1 fit 150 bytes, frame 2 (200
	 * bytes) does not */
	n = build(wire, 5, -1);
	for (size_t chunk = 1; chunk < 300; chunk += 37) {
		memset(&r, 0, sizeof(r));
		skips = 0;
		msgr__frame_dec_init(&d, &mine, 150 - 4, &skip_ops, &r);
		for (size_t off = 0; off < n; off += chunk)
			ck_assert_int_eq(msgr__frame_dec_feed(&d, wire + off, off + chunk > n ? n - off : chunk), 0);
		ck_assert_int_eq(skips, 3); /* 200, 300 and 400 bytes */
		ck_assert_int_eq(r.frames, 2);
	}
	/* but a length past any daemon's limit is garbage: the link fails */
	{
		struct msgr__frame_hdr h = { .type = MSGR__F_MSG, .channel = 1, .len = MSGR__SKIP_MAX + 1 };
		n = build(wire, 0, -1);
		msgr__frame_hdr_encode(wire + n, &h);
		msgr__frame_dec_init(&d, &mine, 150, &skip_ops, &r);
		ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n + MSGR__FRAME_HDR_LEN), -1);
		ck_assert_int_eq(d.err, MSGR__DEC_OVERSIZED);
	}

	/* no version in common */
	mine.vmin = mine.vmax = 2;
	msgr__frame_dec_init(&d, &mine, 8192, &rec_ops, &r);
	ck_assert_int_eq(msgr__frame_dec_feed(&d, wire, n), -1);
	ck_assert_int_eq(d.err, MSGR__DEC_NO_VERSION);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("frame", &tc);

	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_banner);
	tcase_add_test(tc, test_decoder_sealed);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_decoder_splits);
	tcase_add_test(tc, test_decoder_borrow);
	tcase_add_test(tc, test_decoder_ahead);
	tcase_add_test(tc, test_decoder_errors);
	return unit_run(s);
}
