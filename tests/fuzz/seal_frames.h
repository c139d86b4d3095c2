/*
 * seal_frames.h - shared by the fuzzers, for secure mode: random bytes
 * never carry a valid AES-GCM tag, so the harnesses write their input as
 * plain frames (header, payload, CRC trailer) and this seals each one with
 * a test key the way a peer in auth.mode = secure would (docs/PROTOCOL.md,
 * section 3a), keeping the header bytes the fuzzer chose. A truncated last
 * frame is sealed as far as it goes, tag missing.
 */
#ifndef MSGR_TESTS_FUZZ_SEAL_FRAMES_H
#define MSGR_TESTS_FUZZ_SEAL_FRAMES_H

#include <stdint.h>
#include <string.h>

#include "daemon/frame.h"
#include "daemon/seal.h"

/* The test key both ends of a harness use. */
static const uint8_t fuzz_seal_key[32] = "msgrd fuzz key, not for any use";

/* Seal the plain frames in in[0..n) into out (room for n plus 32 bytes a
 * frame); returns the bytes written. */
static inline size_t fuzz_seal_frames(struct msgr__seal *tx, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t pos = 0, o = 0;

	while (pos + MSGR__FRAME_HDR_LEN <= n) {
		uint32_t len;
		size_t have;
		memcpy(out + o, in + pos, MSGR__FRAME_HDR_LEN);
		memset(out + o + 28, 0, 4);
		memcpy(&len, in + pos + 24, 4);
		if (msgr__seal_begin(tx) || msgr__seal_update(tx, out + o, out + o, MSGR__FRAME_HDR_LEN) ||
		    msgr__seal_end(tx, out + o + MSGR__FRAME_HDR_LEN))
			return o;
		o += MSGR__FRAME_HDR_LEN + MSGR__TAG_LEN;
		pos += MSGR__FRAME_HDR_LEN;
		if (!len) {
			pos += MSGR__FRAME_TRAILER_LEN; /* present in plain frames even then */
			continue;
		}
		have = len < n - pos ? len : n - pos;
		if (msgr__seal_begin(tx) || msgr__seal_update(tx, out + o, in + pos, have))
			return o;
		o += have;
		if (have < len)
			return o;
		msgr__seal_end(tx, out + o);
		o += MSGR__TAG_LEN;
		pos += (size_t)len + MSGR__FRAME_TRAILER_LEN; /* the plain CRC is not sent */
	}
	return o;
}

#endif
