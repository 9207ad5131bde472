/*
 * test-conf.c -- the config parser (common/conf.c): syntax, values and
 * their bounds, defaults, the default file it writes, and the checks a
 * key may carry. trystd's own table is tests/test-settings.c.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common.h"
#include "unit.h"

/* A small table that exercises every type. */
struct t {
	long long	 n;
	char		*s;
	char		*e;
	int		 level;
	long long	 big;
};

static const struct conf_entry t_table[] = {
	{ "n", CONF_INT, offsetof(struct t, n), "7", 5, 10, 1,
	    "An integer.", 0, NULL },
	{ "s", CONF_STR, offsetof(struct t, s), "dflt", 1, 0, 0,
	    "A string that must not be empty.", 1, NULL },
	{ "e", CONF_STR, offsetof(struct t, e), "", 0, 0, 0,
	    "A string that may be empty.", 0, NULL },
	{ "level", CONF_LEVEL, offsetof(struct t, level), "info", 0, 0, 1,
	    "A log level.", 0, NULL },
	{ "big", CONF_INT, offsetof(struct t, big), "0", 0, LLONG_MAX, 0,
	    "A wide integer.", 1, NULL },
	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

/* Parse text (len bytes) over the defaults into *t; the cause or NULL. */
static char *
parse_len(struct t *t, const char *text, size_t len)
{
	char	*cause = NULL;
	int	 rc;

	memset(t, 0, sizeof *t);
	conf_defaults(t_table, t);
	rc = conf_parse(t_table, t, "t.conf", text, len, &cause);
	ck_assert_int_eq(rc, cause == NULL ? 0 : -1);
	return (cause);
}

/* Parse a C string; the cause or NULL. */
static char *
parse(struct t *t, const char *text)
{
	return (parse_len(t, text, strlen(text)));
}

/* Assert that text fails with exactly want. */
static void
parse_fails(const char *text, const char *want)
{
	struct t	 t;
	char		*cause;

	cause = parse(&t, text);
	ck_assert_msg(cause != NULL, "accepted: %s", text);
	ck_assert_str_eq(cause, want);
	free(cause);
	conf_free(t_table, &t);
}

/* Assert that text parses and n becomes want. */
static void
int_ok(const char *text, long long want)
{
	struct t	 t;
	char		*cause;

	cause = parse(&t, text);
	ck_assert_msg(cause == NULL, "%s: %s", text, cause);
	ck_assert_int_eq(t.n, want);
	conf_free(t_table, &t);
}


START_TEST(test_errors)
{
	parse_fails("n = 5\n\nfoo = 1\n", "t.conf:3: unknown key \"foo\"");
	parse_fails("# c\nn = 11\n", "t.conf:2: n: 11 is out of range 5..10");
	parse_fails("\n\n\nn = abc\n",
	    "t.conf:4: n: \"abc\" is not an integer");
	parse_fails("n = 5\njunk\n", "t.conf:2: expected \"key = value\"");
	parse_fails("  = 5\n", "t.conf:1: expected \"key = value\"");
	parse_fails("s = a\nn = 6\ns = b\n", "t.conf:3: \"s\" set twice");
	parse_fails("n = 6\n\n  n=6\n", "t.conf:3: \"n\" set twice");
	parse_fails("level = loud\n", "t.conf:1: level: \"loud\" is not one "
	    "of err, warning, notice, info, debug");
	parse_fails("level = INFO\n", "t.conf:1: level: \"INFO\" is not one "
	    "of err, warning, notice, info, debug");
	parse_fails("e = x\ns =\n", "t.conf:2: s: must not be empty");
	parse_fails("n = 6\nn = 99", "t.conf:2: \"n\" set twice");
	parse_fails("n = 6\r\nbad\r\n", "t.conf:2: expected \"key = value\"");
	parse_fails("x\001y = 1\n", "t.conf:1: unknown key \"x\\x01y\"");
}
END_TEST

START_TEST(test_nul_byte)
{
	struct t	 t;
	char		*cause;

	cause = parse_len(&t, "n = 5\ns = a\0b\n", 13);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(cause, "t.conf:2: line contains a NUL byte");
	free(cause);
	conf_free(t_table, &t);
}
END_TEST

START_TEST(test_int_syntax)
{
	static const char *bad[] = {
		"n =\n", "n = 1x\n", "n = +6\n", "n = -6\n", "n = 0x6\n",
		"n = 6.0\n", "n = 6 7\n", "n = 6# no blank\n", "n = # 6\n",
		"n = 6e0\n",
	};
	static const char *what[] = {
		"\"\"", "\"1x\"", "\"+6\"", "\"-6\"", "\"0x6\"",
		"\"6.0\"", "\"6 7\"", "\"6# no blank\"", "\"\"", "\"6e0\"",
	};
	char		 want[128];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(want, sizeof want, "t.conf:1: n: %s is not an integer",
		    what[i]);
		parse_fails(bad[i], want);
	}
	int_ok("n = 8 # eight\n", 8);
	int_ok("n = 8\t# eight\n", 8);
	int_ok("n = 08\n", 8);
}
END_TEST

START_TEST(test_int_range)
{
	struct t	 t;
	char		*cause;

	int_ok("n = 5\n", 5);
	int_ok("n = 10\n", 10);
	parse_fails("n = 4\n", "t.conf:1: n: 4 is out of range 5..10");
	parse_fails("n = 11\n", "t.conf:1: n: 11 is out of range 5..10");
	parse_fails("n = 0\n", "t.conf:1: n: 0 is out of range 5..10");

	cause = parse(&t, "big = 9223372036854775807\n");
	ck_assert_ptr_null(cause);
	ck_assert(t.big == LLONG_MAX);
	conf_free(t_table, &t);
	parse_fails("big = 9223372036854775808\n", "t.conf:1: big: "
	    "9223372036854775808 is out of range 0..9223372036854775807");
	parse_fails("big = 99999999999999999999999\n", "t.conf:1: big: "
	    "99999999999999999999999 is out of range 0..9223372036854775807");
}
END_TEST

START_TEST(test_comments_blanks)
{
	struct t	 t;
	char		*cause;

	cause = parse(&t,
	    "# a comment\n"
	    "\n"
	    "   \t \n"
	    "  # an indented comment = with an equals sign\n"
	    "#n = 9\n"
	    "n = 6\n"
	    "\n");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(t.n, 6);
	ck_assert_str_eq(t.s, "dflt");
	conf_free(t_table, &t);

	cause = parse(&t, "");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(t.n, 7);
	conf_free(t_table, &t);
}
END_TEST

START_TEST(test_whitespace)
{
	struct t	 t;
	char		*cause;

	cause = parse(&t,
	    "  \t n\t=\t 9 \t\r\n"
	    "s=   hello  world \t\n"
	    "e = a # b\n"
	    "level\t=debug   \n");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(t.n, 9);
	ck_assert_str_eq(t.s, "hello  world");
	ck_assert_str_eq(t.e, "a # b");
	ck_assert_int_eq(t.level, LOG_DEBUG);
	conf_free(t_table, &t);
	ck_assert_ptr_null(t.s);
	ck_assert_ptr_null(t.e);
}
END_TEST

START_TEST(test_strings)
{
	struct t	 t;
	char		*cause;

	cause = parse(&t, "e =\ns = /a b/c=d\n");
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(t.e, "");
	ck_assert_str_eq(t.s, "/a b/c=d");
	conf_free(t_table, &t);

	cause = parse(&t, "e = x\n");
	ck_assert_ptr_null(cause);
	ck_assert_str_eq(t.e, "x");
	ck_assert_str_eq(t.s, "dflt");
	conf_free(t_table, &t);
}
END_TEST

START_TEST(test_levels)
{
	static const struct {
		const char	*text;
		int		 level;
	} cases[] = {
		{ "level = err\n", LOG_ERR },
		{ "level = warning\n", LOG_WARNING },
		{ "level = notice # quieter\n", LOG_NOTICE },
		{ "level = info\n", LOG_INFO },
		{ "level = debug\n", LOG_DEBUG },
	};
	struct t	 t;
	char		*cause;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cause = parse(&t, cases[i].text);
		ck_assert_ptr_null(cause);
		ck_assert_int_eq(t.level, cases[i].level);
		conf_free(t_table, &t);
	}
}
END_TEST

START_TEST(test_defaults)
{
	struct t	 t;

	memset(&t, 0, sizeof t);
	conf_defaults(t_table, &t);
	ck_assert_int_eq(t.n, 7);
	ck_assert_str_eq(t.s, "dflt");
	ck_assert_str_eq(t.e, "");
	ck_assert_int_eq(t.level, LOG_INFO);
	ck_assert_int_eq(t.big, 0);
	conf_free(t_table, &t);
}
END_TEST

/* A table whose default is out of its own range. */
static const struct conf_entry bad_table[] = {
	{ "n", CONF_INT, 0, "11", 5, 10, 0, "Bad.", 0, NULL },
	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

START_TEST(test_bad_default_is_fatal)
{
	long long	 n;

	conf_defaults(bad_table, &n);
}
END_TEST


START_TEST(test_write_default_round_trip)
{
	struct t	 t;
	char		*buf, *cause;
	size_t		 len;

	buf = unit_written(t_table, &len);
	ck_assert_ptr_nonnull(strstr(buf, "\n# An integer.\n"
	    "# default: 7, range 5..10 (reload on SIGHUP: yes)\n#n = 7\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n# A string that must not be "
	    "empty.\n# default: dflt (reload on SIGHUP: no)\ns = dflt\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n# default: empty "
	    "(reload on SIGHUP: no)\n#e =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n# default: info "
	    "(reload on SIGHUP: yes)\n#level = info\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\nbig = 0\n"));
	cause = parse_len(&t, buf, len);
	ck_assert_msg(cause == NULL, "%s", cause);
	ck_assert_int_eq(t.n, 7);
	ck_assert_str_eq(t.s, "dflt");
	conf_free(t_table, &t);
	free(buf);
}
END_TEST


START_TEST(test_load)
{
	struct t	 t;
	char		*path, *cause = NULL;

	path = unit_temp_file("# test\nn = 9\ns = from file\n\nbogus\n");
	memset(&t, 0, sizeof t);
	conf_defaults(t_table, &t);
	ck_assert_int_eq(conf_load(t_table, &t, path, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_eq(strstr(cause, path), cause);
	ck_assert_str_eq(cause + strlen(path), ":5: expected \"key = value\"");
	free(cause);
	conf_free(t_table, &t);
	unlink(path);
	free(path);

	cause = NULL;
	conf_defaults(t_table, &t);
	ck_assert_int_eq(conf_load(t_table, &t, "/nonexistent/t.conf",
	    &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/t.conf"));
	free(cause);
	conf_free(t_table, &t);
}
END_TEST


/* ---- checks of a key, run once the whole file is read ------------------ */

/* A table whose keys have checks: lo <= hi, and name is not "x". */
struct ck {
	long long	 lo;
	long long	 hi;
	char		*name;
};

/* lo must not pass hi. */
static int
ck_lo(const void *dst, char **why)
{
	const struct ck	*c = dst;

	if (c->lo <= c->hi)
		return (0);
	xasprintf(why, "%lld is more than hi (%lld)", c->lo, c->hi);
	return (-1);
}

/* hi must not fall below lo. */
static int
ck_hi(const void *dst, char **why)
{
	const struct ck	*c = dst;

	if (c->hi >= c->lo)
		return (0);
	xasprintf(why, "%lld is less than lo (%lld)", c->hi, c->lo);
	return (-1);
}

/* name must not be "x". */
static int
ck_name(const void *dst, char **why)
{
	const struct ck	*c = dst;

	if (strcmp(c->name, "x") != 0)
		return (0);
	*why = xstrdup("must not be x");
	return (-1);
}

static const struct conf_entry ck_table[] = {
	{ "lo", CONF_INT, offsetof(struct ck, lo), "1", 0, 100, 1,
	    "Low.", 0, ck_lo },
	{ "hi", CONF_INT, offsetof(struct ck, hi), "5", 0, 100, 1,
	    "High.", 0, ck_hi },
	{ "name", CONF_STR, offsetof(struct ck, name), "ok", 1, 0, 1,
	    "A name.", 0, ck_name },
	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

/* Parse text with ck_table; the cause (want NULL: none) must be want. */
static void
ck_parse(const char *text, const char *want)
{
	struct ck	 c;
	char		*cause = NULL;
	int		 rc;

	memset(&c, 0, sizeof c);
	conf_defaults(ck_table, &c);
	rc = conf_parse(ck_table, &c, "ck.conf", text, strlen(text), &cause);
	if (want == NULL)
		ck_assert_msg(rc == 0 && cause == NULL, "%s: %s", text, cause);
	else {
		ck_assert_msg(rc == -1 && cause != NULL, "accepted: %s", text);
		ck_assert_str_eq(cause, want);
	}
	free(cause);
	conf_free(ck_table, &c);
}

START_TEST(test_key_checks)
{
	ck_parse("lo = 3\nhi = 3\nname = y\n", NULL);
	ck_parse("lo = 9\n", "ck.conf:1: lo: 9 is more than hi (5)");
	ck_parse("# c\nhi = 9\n\nlo = 9\n", NULL);
	/* The other key is read later in the file, and counts. */
	ck_parse("lo = 9\nhi = 10\n", NULL);
	/* The first line whose key fails its check is named. */
	ck_parse("hi = 2\n\nlo = 3\n", "ck.conf:1: hi: 2 is less than lo (3)");
	ck_parse("lo = 4\nhi = 2\n", "ck.conf:1: lo: 4 is more than hi (2)");
	/* In the order of lines, not of the table. */
	ck_parse("\nname = x\nlo = 9\n", "ck.conf:2: name: must not be x");
	ck_parse("lo = 9\nname = x\n", "ck.conf:1: lo: 9 is more than hi (5)");
	/* Every line is read first: its errors come before the checks. */
	ck_parse("lo = 9\nbogus\n", "ck.conf:2: expected \"key = value\"");
	ck_parse("name = x\nhi = 101\n", "ck.conf:2: hi: 101 is out of range "
	    "0..100");
}
END_TEST

/* A table whose default fails its check. */
static const struct conf_entry ck_bad_table[] = {
	{ "name", CONF_STR, offsetof(struct ck, name), "x", 1, 0, 0, "Bad.", 0,
	    ck_name },
	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

START_TEST(test_bad_default_check_is_fatal)
{
	struct ck	 c;

	memset(&c, 0, sizeof c);
	conf_defaults(ck_bad_table, &c);
}
END_TEST


static Suite *
conf_suite(int forking)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("parser");

	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_int_syntax);
	tcase_add_test(tc, test_int_range);
	tcase_add_test(tc, test_comments_blanks);
	tcase_add_test(tc, test_whitespace);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_defaults);
	/* It exits, so it needs its own process. */
	if (forking)
		tcase_add_exit_test(tc, test_bad_default_is_fatal, 1);
	tcase_add_test(tc, test_write_default_round_trip);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_key_checks);
	if (forking)
		tcase_add_exit_test(tc, test_bad_default_check_is_fatal, 1);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	const char	*ckfork = getenv("CK_FORK");

	return (unit_run(conf_suite(ckfork == NULL ||
	    strcmp(ckfork, "no") != 0)));
}
