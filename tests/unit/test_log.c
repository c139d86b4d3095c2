/* Unit tests for common/log.c: the escaper, and that a logged message can
 * never start a line of its own. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/unit.h"

/* Each input, and what the escaper must make of it. */
static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *out;
} cases[] = {
	{ "osd.3", 0, "osd.3" },
	{ "", 0, "" },
	{ "a\nb", 0, "a\\x0ab" },
	{ "osd.1\n<0>forged", 0, "osd.1\\x0a<0>forged" },
	{ "cr\rlf\r\n", 0, "cr\\x0dlf\\x0d\\x0a" },
	{ "\t\x1b[31mred", 0, "\\x09\\x1b[31mred" },
	{ "del\x7f", 0, "del\\x7f" },
	{ "back\\slash", 0, "back\\\\slash" },
	{ "\\x0a", 0, "\\\\x0a" },            /* a forged escape reads as one */
	{ "caf\xc3\xa9", 0, "caf\\xc3\\xa9" },  /* UTF-8 too */
	{ "\xc2\x85nel", 0, "\\xc2\\x85nel" },  /* U+0085, a newline to some */
	{ "\xff\xfe", 0, "\\xff\\xfe" },
	{ "nul\0after", 9, "nul\\x00after" },  /* len, not the NUL, ends it */
	{ " ~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}", 0, " ~!\"#$%&'()*+,-./:;<=>?@[]^_`{|}" },
};

START_TEST(test_escape_table)
{
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t n = msgr__log_escape(out, sizeof(out), cases[i].in, len);
		ck_assert_msg(!strcmp(out, cases[i].out), "case %zu: got '%s', want '%s'", i, out,
			      cases[i].out);
		ck_assert_uint_eq(n, strlen(cases[i].out));
	}
}
END_TEST

/* Every byte value: the output is printable ASCII, and only an escape
 * introduces a backslash. */
START_TEST(test_escape_all_bytes)
{
	char in[256], out[4 * 256 + 1];
	size_t n;

	for (int i = 0; i < 256; i++)
		in[i] = (char)i;
	n = msgr__log_escape(out, sizeof(out), in, sizeof(in));
	ck_assert_uint_eq(n, strlen(out));
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(out[i] >= 0x20 && out[i] < 0x7f, "byte %zu is 0x%02x", i,
			      (unsigned char)out[i]);
	/* 94 printable bytes as they are, the backslash doubled, 161 as \xNN */
	ck_assert_uint_eq(n, 94 + 2 + 161 * 4);
}
END_TEST

/* A short buffer: the output is cut between escapes, never inside one. */
START_TEST(test_escape_truncation)
{
	char out[8];

	ck_assert_uint_eq(msgr__log_escape(out, sizeof(out), "abcdefghij", 10), 7);
	ck_assert_str_eq(out, "abcdefg");
	ck_assert_uint_eq(msgr__log_escape(out, sizeof(out), "abcd\nef", 7), 4);
	ck_assert_str_eq(out, "abcd");   /* "\x0a" would not fit whole */
	ck_assert_uint_eq(msgr__log_escape(out, sizeof(out), "abc\n", 4), 7);
	ck_assert_str_eq(out, "abc\\x0a");
	ck_assert_uint_eq(msgr__log_escape(out, sizeof(out), "abcdef\\", 7), 6);
	ck_assert_str_eq(out, "abcdef");
	ck_assert_uint_eq(msgr__log_escape(out, 1, "abc", 3), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(msgr__log_escape(out, 0, "abc", 3), 0);
}
END_TEST

/* msgr__log itself: under the journal, one line per message, whatever an
 * argument holds, and only our own <N> prefix starts it. */
START_TEST(test_log_one_line)
{
	char path[] = "/tmp/msgr-log-XXXXXX", buf[4096];
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;
	size_t n;

	ck_assert_int_ge(fd, 0);
	setenv("JOURNAL_STREAM", "8:1", 1);
	msgr__log_init("test");
	fflush(stderr);
	dup2(fd, 2);
	msgr__warn("attach refused for '%s': %s", "osd.1\n<0>forged\r\n<3>again", "Invalid argument");
	msgr__info("plain %d", 7);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	msgr__log_init("test");
	f = fdopen(fd, "r");
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	unlink(path);
	ck_assert_str_eq(buf, "<4>attach refused for 'osd.1\\x0a<0>forged\\x0d\\x0a<3>again': Invalid argument\n"
			      "<6>plain 7\n");
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("log", &tc);

	tcase_add_test(tc, test_escape_table);
	tcase_add_test(tc, test_escape_all_bytes);
	tcase_add_test(tc, test_escape_truncation);
	tcase_add_test(tc, test_log_one_line);
	return unit_run(s);
}
