/*
 * fuzz_frame - libFuzzer target for the wire decoder (daemon/frame.c).
 *
 * Random bytes almost never carry a valid header CRC, which would keep the
 * fuzzer at the door. So the harness walks the input the way the decoder
 * will and, unless the input's first byte says otherwise, writes correct
 * CRCs into it: the fuzzer then explores lengths, types, limits, splits and
 * payload CRC failures. Feeding happens in chunks whose sizes come from the
 * input too. The decoder must never crash, overrun a buffer, or deliver a
 * frame larger than the buffer it was given.
 *
 * With bit 3 of the control byte the stream is secure mode's: the harness
 * seals the input's frames with a test key (seal_frames.h), and bit 4 then
 * flips one bit of the sealed stream (test_frame checks that such a flip
 * stops the decoder; here it only has to fail safely).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "daemon/frame.h"
#include "fix_crcs.h"
#include "seal_frames.h"

static uint8_t payload_buf[70000];

static void *get_buf(void *o, const struct msgr__frame_hdr *h)
{
	return h->len <= sizeof(payload_buf) ? payload_buf : NULL;
}

/* The bytes of the current feed, where a borrowed payload must lie. */
static const uint8_t *fed;
static size_t fed_len;

static int on_frame(void *o, const struct msgr__frame_hdr *h, void *p, int ok)
{
	const uint8_t *b = p;

	if (h->len > sizeof(payload_buf))
		abort();
	if (h->len && p != payload_buf && (!o || b < fed || b + h->len + 4 > fed + fed_len))
		abort(); /* a borrowed payload outside the feed, or its trailer */
	return h->type == MSGR__F_CLOSE; /* exercise the refusal path too */
}

/* bit 5 of the control byte: borrow every payload the decoder offers */
static int borrow(void *o, const struct msgr__frame_hdr *h)
{
	return o != NULL;
}

static int on_skip(void *o, const struct msgr__frame_hdr *h)
{
	if (h->type != MSGR__F_MSG || h->len > MSGR__SKIP_MAX)
		abort();
	return h->channel & 1; /* both: skip on, and stop */
}

/* The decoder read both channels from bytes it was fed (ASan checks) */
static void ahead(void *o, uint32_t next, uint32_t after)
{
	(void)o, (void)next, (void)after;
}

static const struct msgr__frame_ops ops = { get_buf, on_frame, on_skip, borrow, ahead };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr__banner mine = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	struct msgr__frame_dec d;
	struct msgr__seal tx, rx;
	uint8_t *buf;
	size_t pos = 0, chunk;
	int sealed = data[0] & 8;

	if (size < 2)
		return 0;
	buf = malloc(size - 2 + MSGR__BANNER_LEN);
	/* control byte: bit 0 keeps the input's own banner, bit 1 leaves the
	 * CRCs as they are, bit 2 fixes payload CRCs as well, bit 5 has the
	 * owner take payloads in place */
	if (data[0] & 1) {
		memcpy(buf, data + 2, size - 2);
	} else {
		msgr__banner_encode(buf, &mine);
		memcpy(buf + MSGR__BANNER_LEN, data + 2, size - 2);
	}
	size = size - 2 + ((data[0] & 1) ? 0 : MSGR__BANNER_LEN);
	if (!(data[0] & 2))
		fuzz_fix_crcs(buf, size, MSGR__BANNER_LEN, data[0] & 4);
	chunk = (size_t)data[1] + 1;
	msgr__frame_dec_init(&d, &mine, 65536, &ops, (data[0] & 32) ? &d : NULL);
	if (sealed) {
		uint8_t *s = malloc(size * 2 + 64);
		size_t n = MSGR__BANNER_LEN;
		msgr__seal_init(&tx, fuzz_seal_key, 1);
		msgr__seal_init(&rx, fuzz_seal_key, 0);
		memcpy(s, buf, MSGR__BANNER_LEN);
		if (size > MSGR__BANNER_LEN)
			n += fuzz_seal_frames(&tx, buf + MSGR__BANNER_LEN, size - MSGR__BANNER_LEN,
					      s + MSGR__BANNER_LEN);
		if ((data[0] & 16) && n > MSGR__BANNER_LEN) {
			/* the tag-failure paths, in every kind of record */
			s[MSGR__BANNER_LEN + data[1] * 7 % (n - MSGR__BANNER_LEN)] ^= 0x20;
		}
		free(buf);
		buf = s;
		size = n;
		d.rx = &rx;
	}
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		fed = buf + pos;
		fed_len = n;
		if (msgr__frame_dec_feed(&d, buf + pos, n))
			break;
		pos += n;
	}
	if (sealed) {
		msgr__seal_fini(&tx);
		msgr__seal_fini(&rx);
	}
	free(buf);
	return 0;
}
