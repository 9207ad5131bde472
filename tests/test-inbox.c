/*
 * test-inbox.c -- names of received files: a sender's name never leads
 * outside the folder, and a finished file never replaces another.
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

START_TEST(test_long_name)
{
	char	 in[1000], *got;

	memset(in, 'a', sizeof in);
	got = inbox_safe_name((const uint8_t *)in, sizeof in);
	ck_assert_uint_eq(strlen(got), INBOX_NAME_MAX);
	ck_assert_uint_lt(strlen(got) + strlen(".-1000.part-XXXXXX"),
	    NAME_MAX);
	free(got);
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
	tcase_add_test(tc, test_long_name);
	tcase_add_test(tc, test_offer_parse);
	tcase_add_test(tc, test_link_unique);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
