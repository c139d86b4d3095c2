/*
 * bits.h - one-bit-per-item maps over uint64_t words (pool chunks held,
 * buffers sent, credit slots in use). Not atomic: each map has one owner.
 */
#ifndef MSGR_COMMON_BITS_H
#define MSGR_COMMON_BITS_H

#include <stdint.h>

static inline int msgr__bit_test(const uint64_t *map, uint64_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static inline void msgr__bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static inline void msgr__bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

#endif
