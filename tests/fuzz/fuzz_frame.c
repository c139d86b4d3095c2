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
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "daemon/frame.h"
#include "fix_crcs.h"

static uint8_t payload_buf[70000];

static void *get_buf(void *o, const struct msgr__frame_hdr *h)
{
	return h->len <= sizeof(payload_buf) ? payload_buf : NULL;
}

static int on_frame(void *o, const struct msgr__frame_hdr *h, void *p, int ok)
{
	if (h->len > sizeof(payload_buf) || (h->len && p != payload_buf))
		abort();
	return h->type == MSGR__F_CLOSE; /* exercise the refusal path too */
}

static int on_skip(void *o, const struct msgr__frame_hdr *h)
{
	if (h->type != MSGR__F_MSG || h->len > MSGR__SKIP_MAX)
		abort();
	return h->channel & 1; /* both: skip on, and stop */
}

static const struct msgr__frame_ops ops = { get_buf, on_frame, on_skip };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr__banner mine = { 1, 1, 0 };
	struct msgr__frame_dec d;
	uint8_t *buf;
	size_t pos = 0, chunk;

	if (size < 2)
		return 0;
	buf = malloc(size - 2 + MSGR__BANNER_LEN);
	/* control byte: bit 0 keeps the input's own banner, bit 1 leaves the
	 * CRCs as they are, bit 2 fixes payload CRCs as well */
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
	msgr__frame_dec_init(&d, &mine, 65536, &ops, NULL);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		if (msgr__frame_dec_feed(&d, buf + pos, n))
			break;
		pos += n;
	}
	free(buf);
	return 0;
}
