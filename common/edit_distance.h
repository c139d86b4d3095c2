/*
 * edit_distance.h - how far a typo is from a known name, for the "did you
 * mean" of msgrd's config keys and msgrctl's commands.
 *
 * Header-only, as ini_comment.h, so both programs share it without a new
 * object in every link line.
 */
#ifndef MSGR_COMMON_EDIT_DISTANCE_H
#define MSGR_COMMON_EDIT_DISTANCE_H

#include <stdint.h>
#include <string.h>

/* Levenshtein distance from a to b, or SIZE_MAX for a b of 128 bytes or
 * more: no name we suggest is that long. */
static inline size_t msgr__edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[128];

	if (lb >= sizeof(row) / sizeof(row[0]))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

#endif
