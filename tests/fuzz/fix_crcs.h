/*
 * fix_crcs.h - shared by the fuzzers: random bytes almost never carry a
 * valid header CRC, which would keep a fuzzer at the door, so the harnesses
 * walk their input as the decoder will (frames from pos on) and write
 * correct CRCs into it: headers always, payloads if asked.
 */
#ifndef MSGR_TESTS_FUZZ_FIX_CRCS_H
#define MSGR_TESTS_FUZZ_FIX_CRCS_H

#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"
#include "daemon/frame.h"

static inline void fuzz_fix_crcs(uint8_t *d, size_t n, size_t pos, int fix_payload)
{
	while (pos + MSGR__FRAME_HDR_LEN <= n) {
		uint8_t *h = d + pos;
		uint32_t crc = msgr__crc32c(0, h, 28), len;
		memcpy(h + 28, &crc, 4);
		memcpy(&len, h + 24, 4);
		pos += MSGR__FRAME_HDR_LEN;
		if (len > n - pos)
			return;
		if (fix_payload && pos + len + 4 <= n) {
			crc = msgr__crc32c(0, d + pos, len);
			memcpy(d + pos + len, &crc, 4);
		}
		pos += (size_t)len + 4;
	}
}

#endif
