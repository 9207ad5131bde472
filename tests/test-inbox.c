/*
 * test-inbox.c -- names of received files: a sender's name never leads
 * outside the folder, shows as what it is (valid UTF-8, no controls, no
 * bidirectional tricks), and a finished file never replaces another; and
 * the room a received file may take.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "client.h"
#include "unit.h"

/* safe(name) is want. */
static void
expect_safe(const char *name, size_t len, const char *want)
{
	char	*got = inbox_safe_name((const uint8_t *)name, len);

	ck_assert_msg(strcmp(got, want) == 0, "\"%s\" -> \"%s\", wanted "
	    "\"%s\"", name, got, want);
	free(got);
}

START_TEST(test_safe_names)
{
	static const struct {
		const char	*in;
		const char	*want;
	} t[] = {
		{ "report.pdf", "report.pdf" },
		{ "../../etc/passwd", "passwd" },
		{ "/etc/shadow", "shadow" },
		{ "a/b/c.txt", "c.txt" },
		{ "..", "file" },
		{ ".", "file" },
		{ "dir/..", "file" },
		{ "dir/", "file" },
		{ "", "file" },
		{ "/", "file" },
		{ "..\\..\\x", "..\\..\\x" },	/* no separator on Unix */
		{ ".hidden", ".hidden" },
		{ "tab\there", "tab_here" },
		{ "esc\033[31mred", "esc_[31mred" },
		{ "del\177", "del_" },
		{ "caf\xc3\xa9.txt", "caf\xc3\xa9.txt" },
	};
	size_t	 i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		expect_safe(t[i].in, strlen(t[i].in), t[i].want);
	/* A NUL inside the name cannot cut it short. */
	expect_safe("a\0/../b", 7, "b");
	expect_safe("x/\0", 3, "_");
	expect_safe("x\0y", 3, "x_y");
	expect_safe("..\0", 3, ".._");
}
END_TEST

/* Names a terminal would act on, or that would show something else than
 * they are: C1 controls, line separators and bidirectional controls. */
START_TEST(test_unsafe_code_points)
{
	static const struct {
		const char	*in;
		const char	*want;
	} t[] = {
		{ "a\xc2\x80" "b", "a_b" },		/* U+0080 */
		{ "\xc2\x9b" "31m", "_31m" },		/* CSI */
		{ "\xc2\x9d" "0;x\xc2\x9c", "_0;x_" },	/* OSC ... ST */
		{ "x\xc2\x9f", "x_" },			/* U+009F */
		{ "\xc2\xa0" "sp", "\xc2\xa0" "sp" },	/* U+00A0 is fine */
		{ "line\xe2\x80\xa8" "two", "line_two" },	/* U+2028 */
		{ "para\xe2\x80\xa9", "para_" },	/* U+2029 */
		{ "\xe2\x80\xae" "gpj.exe", "_gpj.exe" },	/* RLO */
		{ "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "____" },
		{ "\xe2\x81\xa6" "a\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9",
		    "_a___" },
		{ "\xe2\x80\x8e" "x\xe2\x80\x8f", "_x_" },	/* LRM, RLM */
		{ "\xd8\x9c" ".txt", "_.txt" },		/* ALM */
		/* Their neighbours are ordinary. */
		{ "\xe2\x80\xa7\xe2\x80\xaf", "\xe2\x80\xa7\xe2\x80\xaf" },
		{ "\xe2\x81\xa5\xe2\x81\xaa", "\xe2\x81\xa5\xe2\x81\xaa" },
		{ "\xd8\x9b\xe2\x80\x8d", "\xd8\x9b\xe2\x80\x8d" },
		{ "\xf0\x9f\x98\x80.png", "\xf0\x9f\x98\x80.png" },
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },	/* U+10FFFF */
		{ "dir/\xe2\x80\xae/evil", "evil" },
		{ "dir\xe2\x80\xae/", "file" },
	};
	size_t	 i;

	for (i = 0; i < nitems(t); i++)
		expect_safe(t[i].in, strlen(t[i].in), t[i].want);
}
END_TEST

/* Bytes that are not UTF-8: one '_' for each byte that cannot begin a
 * character, and one for the longest valid beginning of a cut short
 * one. */
START_TEST(test_invalid_utf8)
{
	static const struct {
		const char	*in;
		const char	*want;
	} t[] = {
		{ "\xff", "_" },
		{ "a\x80" "b", "a_b" },			/* lone continuation */
		{ "\xbf\xbf", "__" },
		{ "\xc3", "_" },			/* cut at the end */
		{ "\xc3(", "_(" },
		{ "\xe2\x80" "x", "_x" },		/* one short sequence */
		{ "\xe2\x28\xa1", "_(_" },
		{ "\xf0\x9f\x98", "_" },
		{ "\xf0\x9f\x98" ".a", "_.a" },
		{ "\xc0\xaf", "__" },			/* overlong '/' */
		{ "\xc1\xbf", "__" },
		{ "\xe0\x80\xaf", "___" },		/* overlong */
		{ "\xe0\x9f\xbf", "___" },
		{ "\xf0\x8f\xbf\xbf", "____" },
		{ "\xed\xa0\x80", "___" },		/* surrogate U+D800 */
		{ "\xed\xbf\xbf", "___" },
		{ "\xf4\x90\x80\x80", "____" },	/* past U+10FFFF */
		{ "\xf5\x80\x80\x80", "____" },
		{ "\xfe\xfe", "__" },
		{ "\xed\x9f\xbf", "\xed\x9f\xbf" },	/* U+D7FF is fine */
		{ "\xee\x80\x80", "\xee\x80\x80" },	/* U+E000 */
		{ "\xe0\xa0\x80", "\xe0\xa0\x80" },	/* U+0800 */
		{ "\xf0\x90\x80\x80", "\xf0\x90\x80\x80" },	/* U+10000 */
	};
	size_t	 i;

	for (i = 0; i < nitems(t); i++)
		expect_safe(t[i].in, strlen(t[i].in), t[i].want);
	/* A NUL inside a sequence ends it; the NUL is a control. */
	expect_safe("\xe2\0\x80", 3, "___");
}
END_TEST

/* A name of n 'a's then tail, made safe, is n 'a's then want. */
static void
expect_cut(size_t n, const char *tail, const char *want)
{
	char	 in[INBOX_NAME_MAX + 16], *got;

	ck_assert_uint_le(n + strlen(tail), sizeof in);
	memset(in, 'a', n);
	memcpy(in + n, tail, strlen(tail));
	got = inbox_safe_name((const uint8_t *)in, n + strlen(tail));
	ck_assert_uint_eq(strlen(got), n + strlen(want));
	ck_assert_uint_le(strlen(got), INBOX_NAME_MAX);
	ck_assert_int_eq(memcmp(got, in, n), 0);
	ck_assert_str_eq(got + n, want);
	free(got);
}

START_TEST(test_long_name)
{
	char	 in[1000], *got;

	memset(in, 'a', sizeof in);
	got = inbox_safe_name((const uint8_t *)in, sizeof in);
	ck_assert_uint_eq(strlen(got), INBOX_NAME_MAX);
	ck_assert_uint_lt(strlen(got) + strlen(".-1000.part-XXXXXX"),
	    NAME_MAX);
	free(got);
	/* The cut never splits a character. */
	expect_cut(INBOX_NAME_MAX - 2, "\xc3\xa9", "\xc3\xa9");
	expect_cut(INBOX_NAME_MAX - 1, "\xc3\xa9", "");
	expect_cut(INBOX_NAME_MAX - 1, "\xc3\xa9x", "");
	expect_cut(INBOX_NAME_MAX - 4, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	expect_cut(INBOX_NAME_MAX - 3, "\xf0\x9f\x98\x80", "");
	expect_cut(INBOX_NAME_MAX - 2, "\xe2\x82\xac", "");
	/* A replaced character takes one byte, however long it was. */
	expect_cut(INBOX_NAME_MAX - 1, "\xe2\x80\xae", "_");
	expect_cut(INBOX_NAME_MAX - 2, "\xff\xff\xff", "__");
	expect_cut(INBOX_NAME_MAX - 1, "\xf0\x9f\x98", "_");
}
END_TEST

/* The room a received file may take, from what statvfs says. */
START_TEST(test_room)
{
	const uint64_t	 mib = 1024 * 1024, gib = 1024 * mib;

	/* A big disk keeps 64 MiB: 1% of it would be 1 GiB. */
	ck_assert_uint_eq(inbox_room(10 * gib / 4096, 100 * gib / 4096, 4096),
	    10 * gib - 64 * mib);
	/* A small one keeps 1% of its size: 10737418 bytes of 1 GiB. */
	ck_assert_uint_eq(inbox_room(500 * mib / 4096, gib / 4096, 4096),
	    500 * mib - 10737418);
	ck_assert_uint_eq(inbox_room(1000, 1000, 512), 512000 - 5120);
	/* At 6400 MiB, 1% is exactly 64 MiB; just over, the cap. */
	ck_assert_uint_eq(inbox_room(100 * mib, 6400 * mib, 1),
	    36 * mib);
	ck_assert_uint_eq(inbox_room(100 * mib, 6500 * mib, 1), 36 * mib);
	ck_assert_uint_eq(inbox_room(100 * mib, 6300 * mib, 1), 37 * mib);
	/* Less free than the margin: no room at all. */
	ck_assert_uint_eq(inbox_room(64 * mib / 4096, 100 * gib / 4096,
	    4096), 0);
	ck_assert_uint_eq(inbox_room(0, 1000, 4096), 0);
	ck_assert_uint_eq(inbox_room(64 * mib, 100 * gib, 1), 0);
	ck_assert_uint_eq(inbox_room(64 * mib + 1, 100 * gib, 1), 1);
	/* Products past 2^64 saturate instead of wrapping to a small room. */
	ck_assert_uint_eq(inbox_room(UINT64_MAX / 2, UINT64_MAX / 2, 4096),
	    UINT64_MAX - 64 * mib);
	ck_assert_uint_eq(inbox_room((1ULL << 52) + 1, 1ULL << 60, 4096),
	    UINT64_MAX - 64 * mib);
	/* An offer of 2^60 bytes exceeds any disk that reports its size. */
	ck_assert_uint_lt(inbox_room(1ULL << 40, 1ULL << 40, 512), 1ULL << 60);
	/* No size known (blocks or fragment size 0): no limit. */
	ck_assert_uint_eq(inbox_room(0, 0, 4096), UINT64_MAX);
	ck_assert_uint_eq(inbox_room(100, 100, 0), UINT64_MAX);
}
END_TEST

START_TEST(test_offer_parse)
{
	static const uint8_t ok[] = "\0\0\0\0\0\x01\0\x02\0\x0d../etc/passwd";
	uint64_t	 size = 0;
	char		*name = NULL;
	size_t		 len;

	ck_assert_int_eq(inbox_offer_parse(ok, sizeof ok - 1, &size, &name),
	    0);
	ck_assert_uint_eq(size, 0x10002);
	ck_assert_str_eq(name, "passwd");
	free(name);
	/* Every shorter and the one longer body are refused. */
	for (len = 0; len < sizeof ok - 1; len++)
		ck_assert_int_eq(inbox_offer_parse(ok, len, &size, &name), -1);
	ck_assert_int_eq(inbox_offer_parse(ok, sizeof ok, &size, &name), -1);
	/* An empty name is a name too: "file". */
	ck_assert_int_eq(inbox_offer_parse(ok, 10, &size, &name), -1);
	ck_assert_int_eq(inbox_offer_parse((const uint8_t *)"\0\0\0\0\0\0"
	    "\0\x07\0\0", 10, &size, &name), 0);
	ck_assert_uint_eq(size, 7);
	ck_assert_str_eq(name, "file");
	free(name);
}
END_TEST

/* A finished file dir/.part holding text; its path into tmp. */
static void
part_file(const char *dir, char *tmp, size_t len, const char *text)
{
	int	 fd;

	snprintf(tmp, len, "%s/.part", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The contents of dir/name. */
static void
expect_file(const char *dir, const char *name, const char *want)
{
	char	 path[PATH_MAX], buf[64] = "";
	int	 fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_msg((fd = open(path, O_RDONLY)) != -1, "%s: %s", path,
	    strerror(errno));
	ck_assert_int_ge(read(fd, buf, sizeof buf - 1), 0);
	close(fd);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_link_unique)
{
	char	 tmp[PATH_MAX], dir[] = "/tmp/test-inbox.XXXXXX", *used;
	int	 i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	part_file(dir, tmp, sizeof tmp, "first");
	ck_assert_int_eq(inbox_link(tmp, dir, "notes.txt", &used), 0);
	ck_assert_str_eq(used, "notes.txt");
	free(used);
	/* Taken: a suffix before the extension, the first file kept. */
	for (i = 1; i <= 3; i++) {
		char	 want[32], text[16];

		snprintf(text, sizeof text, "copy %d", i);
		part_file(dir, tmp, sizeof tmp, text);
		ck_assert_int_eq(inbox_link(tmp, dir, "notes.txt", &used), 0);
		snprintf(want, sizeof want, "notes-%d.txt", i);
		ck_assert_str_eq(used, want);
		expect_file(dir, used, text);
		free(used);
	}
	expect_file(dir, "notes.txt", "first");
	/* No extension, and a leading dot is not one. */
	part_file(dir, tmp, sizeof tmp, "a");
	ck_assert_int_eq(inbox_link(tmp, dir, ".profile", &used), 0);
	free(used);
	ck_assert_int_eq(access(tmp, F_OK), -1);	/* moved, not copied */
	part_file(dir, tmp, sizeof tmp, "b");
	ck_assert_int_eq(inbox_link(tmp, dir, ".profile", &used), 0);
	ck_assert_str_eq(used, ".profile-1");
	free(used);
	expect_file(dir, ".profile", "a");
	/* A missing folder is an error, not a file elsewhere. */
	part_file(dir, tmp, sizeof tmp, "c");
	errno = 0;
	ck_assert_int_eq(inbox_link(tmp, "/nonexistent/dir", "x", &used), -1);
	ck_assert_int_eq(errno, ENOENT);
	snprintf(tmp, sizeof tmp, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(tmp), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("inbox");
	TCase	*tc = tcase_create("inbox");

	tcase_add_test(tc, test_safe_names);
	tcase_add_test(tc, test_unsafe_code_points);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_long_name);
	tcase_add_test(tc, test_room);
	tcase_add_test(tc, test_offer_parse);
	tcase_add_test(tc, test_link_unique);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
