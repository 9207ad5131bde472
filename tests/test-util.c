/*
 * test-util.c -- hex, base64, atomic files, reading small files whole, and
 * log escaping.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "common.h"
#include "unit.h"

START_TEST(test_hex)
{
	const uint8_t	 in[] = { 0x00, 0x01, 0xab, 0xff };
	uint8_t		 out[4];
	char		 hex[9];

	hex_encode(hex, in, sizeof in);
	ck_assert_str_eq(hex, "0001abff");
	ck_assert_int_eq(hex_decode(out, sizeof out, hex), 0);
	ck_assert_mem_eq(out, in, sizeof in);
	ck_assert_int_eq(hex_decode(out, sizeof out, "0001abf"), -1);
	ck_assert_int_eq(hex_decode(out, sizeof out, "0001abfff0"), -1);
	ck_assert_int_eq(hex_decode(out, sizeof out, "0001abfg"), -1);
}
END_TEST

START_TEST(test_b64)
{
	const uint8_t	 in[] = { 'f', 'o', 'o', 'b', 'a' };
	uint8_t		 out[5], big[6];
	char		*s;

	s = b64_encode(in, sizeof in);
	ck_assert_str_eq(s, "Zm9vYmE=");
	ck_assert_int_eq(b64_decode(out, sizeof out, s), 0);
	ck_assert_mem_eq(out, in, sizeof in);
	ck_assert_int_eq(b64_decode(out, sizeof out, "  Zm9vYmE=\n"), 0);
	ck_assert_int_eq(b64_decode(out, sizeof out, "Zm9vYmE"), -1);
	ck_assert_int_eq(b64_decode(out, sizeof out, "Zm9v YmE="), -1);
	ck_assert_int_eq(b64_decode(out, sizeof out, "Zm9vYm!="), -1);
	ck_assert_int_eq(b64_decode(big, sizeof big, s), -1);
	free(s);
}
END_TEST

START_TEST(test_files)
{
	char		 dir[] = "/tmp/test-util.XXXXXX", path[64], *cause;
	char		*data;
	struct stat	 st;
	size_t		 len;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	ck_assert_int_eq(file_write_atomic(path, "abc", 3, 0600, 1, &cause),
	    0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(file_write_atomic(path, "xyz", 3, 0600, 1, &cause),
	    -1);
	ck_assert_ptr_nonnull(strstr(cause, "exists"));
	free(cause);
	data = file_read_small(path, 16, &len, &cause);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, 3);
	ck_assert_str_eq(data, "abc");
	free(data);
	ck_assert_int_eq(file_write_atomic(path, "longer", 6, 0644, 0,
	    &cause), 0);
	ck_assert_ptr_null(file_read_small(path, 5, &len, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "larger"));
	free(cause);
	unlink(path);
	ck_assert_ptr_null(file_read_small(path, 5, &len, &cause));
	free(cause);
	ck_assert_int_eq(rmdir(dir), 0);	/* no temp file was left */
}
END_TEST

/*
 * file_read_small sizes its buffer from fstat, and grows it where fstat
 * says nothing useful (a file of max bytes or more, /proc's): whatever
 * the size, a file of at most max bytes comes back whole, one byte more
 * is refused.
 */
START_TEST(test_read_small)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 10000 };
	char		 dir[] = "/tmp/test-util.XXXXXX", path[64], *cause;
	char		*data, *got;
	size_t		 i, k, len, n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	data = xmalloc(10001);
	for (k = 0; k < 10001; k++)
		data[k] = (char)('a' + k % 26);
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		n = sizes[i];
		unlink(path);
		ck_assert_int_eq(file_write_atomic(path, data, n, 0600, 1,
		    &cause), 0);
		/* max n: exactly; above; and one byte short. */
		for (k = 0; k < 2; k++) {
			got = file_read_small(path, n + k * 5000, &len,
			    &cause);
			ck_assert_msg(got != NULL, "%zu bytes, max %zu", n,
			    n + k * 5000);
			ck_assert_uint_eq(len, n);
			ck_assert(memcmp(got, data, n) == 0 && got[n] == '\0');
			free(got);
		}
		if (n == 0)
			continue;
		ck_assert_ptr_null(file_read_small(path, n - 1, &len,
		    &cause));
		ck_assert_ptr_nonnull(strstr(cause, "larger"));
		free(cause);
	}
	/* /proc says 0 bytes, and has more. */
	ck_assert_ptr_nonnull(got = file_read_small("/proc/self/status",
	    1 << 20, &len, &cause));
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(strlen(got), len);
	ck_assert_ptr_nonnull(strstr(got, "Name:"));
	free(got);
	free(data);
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_escape)
{
	char		 buf[32];
	const uint8_t	 in[] = "a\nb\\c\x01";

	log_escape(buf, sizeof buf, in, sizeof in - 1);
	ck_assert_str_eq(buf, "a\\x0ab\\x5cc\\x01");
	log_escape(buf, 5, in, sizeof in - 1);
	ck_assert_str_eq(buf, "a");
	ck_assert_int_eq(log_level_parse("debug"), LOG_DEBUG);
	ck_assert_int_eq(log_level_parse("notice"), LOG_NOTICE);
	ck_assert_int_eq(log_level_parse("loud"), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("util");

	if (sodium_init() < 0)
		return (1);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_read_small);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
