/*
 * crc32c.h - CRC-32C (Castagnoli), as the wire protocol uses it.
 *
 * Hand-written because Debian 12 packages no C library for it. It uses the
 * SSE4.2 crc32 instruction when the CPU has it, and a table otherwise; both
 * give the same result (the unit test checks them against each other and
 * against the standard check value 0xe3069283 for "123456789").
 */
#ifndef MSGR_COMMON_CRC32C_H
#define MSGR_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0. */
uint32_t msgr__crc32c(uint32_t crc, const void *data, size_t len);

/* The portable path alone, for tests. */
uint32_t msgr__crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
