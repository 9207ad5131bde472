/*
 * test-e164.c -- the E.164 check and the normalising of typed numbers
 * (PROTOCOL.md §1 and §6.5).
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common.h"
#include "unit.h"

#define NITEMS(a)	(sizeof (a) / sizeof (a)[0])

static const char *valid[] = {
	"+1234567",			/* 7 digits, the shortest */
	"+123456789012345",		/* 15 digits, the longest */
	"+447700900123",
	"+15550100001",
	"+390612345678",
	"+9000000",
	"+100000000000000",
};

static const char *invalid[] = {
	"",
	"+",
	"+123456",			/* 6 digits */
	"+1234567890123456",		/* 16 digits */
	"+0447700900123",		/* leading 0 */
	"+0123456",
	"447700900123",			/* no + */
	"0447700900123",
	"++447700900123",
	"+44770090012a",
	"+44 7700900123",		/* spaces */
	" +447700900123",
	"+447700900123 ",
	"+447700900123\n",
	"+44-7700900123",
	"+4477OO900123",		/* letters O for zeros */
	"+447700900123+",
	"+٤٤٧٧٠٠٩٠٠١٢٣",		/* non-ASCII digits */
};

START_TEST(valid_numbers)
{
	const char	*s = valid[_i];

	ck_assert_msg(e164_valid(s, strlen(s)) == 1, "rejected %s", s);
}
END_TEST

START_TEST(invalid_numbers)
{
	const char	*s = invalid[_i];

	ck_assert_msg(e164_valid(s, strlen(s)) == 0, "accepted \"%s\"", s);
}
END_TEST

START_TEST(valid_length_is_exact)
{
	static const char nul[] = "+4477009\0" "00123";

	/* Only len bytes count: a prefix may be valid or not. */
	ck_assert_int_eq(e164_valid("+447700900123", 8), 1);
	ck_assert_int_eq(e164_valid("+447700900123", 7), 0);
	ck_assert_int_eq(e164_valid("+447700900123", 0), 0);
	ck_assert_int_eq(e164_valid(NULL, 0), 0);
	/* An embedded NUL is not a digit. */
	ck_assert_int_eq(e164_valid(nul, sizeof nul - 1), 0);
	ck_assert_int_eq(e164_valid(nul, 8), 1);
	ck_assert_int_eq(e164_valid("+1234567\0", 9), 0);
}
END_TEST

static const struct {
	const char	*typed;
	const char	*cc;
	const char	*want;		/* NULL: -1 */
} norm[] = {
	/* The examples of §6.5. */
	{ "07700 900123", "44", "+447700900123" },
	{ "0044 7700 900123", "44", "+447700900123" },
	{ "+1 (555) 010-0001", "44", "+15550100001" },
	{ "06 1234 5678", "39", "+390612345678" },
	/* Separators. */
	{ "07700.900.123", "44", "+447700900123" },
	{ "(07700) 900-123", "44", "+447700900123" },
	{ " +44 7700 900123 ", NULL, "+447700900123" },
	{ "+447700900123", "", "+447700900123" },
	/* National numbers without a trunk 0, and only one 0 is dropped. */
	{ "7700 900123", "44", "+447700900123" },
	{ "007700900123", "44", "+7700900123" },
	{ "0 0 44 7700 900123", "44", "+447700900123" },
	/* CC 1: 011 is the international prefix, 00 still works. */
	{ "011 44 7700 900123", "1", "+447700900123" },
	{ "0044 7700 900123", "1", "+447700900123" },
	{ "(555) 010-0001", "1", "+15550100001" },
	/* Elsewhere 011 is national: +44 11 44 ... is too long. */
	{ "011 44 7700 900123", "44", NULL },
	{ "01632 960123", "44", "+441632960123" },
	/* CC 39 keeps its 0; 0039 is still international. */
	{ "0039 06 1234 5678", "39", "+390612345678" },
	{ "333 123 4567", "39", "+393331234567" },
	{ "06 1234 5678", "33", "+33612345678" },
	/* Three-digit country codes. */
	{ "0 30 123456", "353", "+35330123456" },
	/* Too short, too long. */
	{ "123", "44", NULL },
	{ "12345", "44", "+4412345" },
	{ "1234", "44", NULL },
	{ "0123456789012345", "44", NULL },
	{ "+1234567890123456", NULL, NULL },
	{ "00 1234567890123456", "44", NULL },
	{ "1234567890123456789012345678901234567890", "44", NULL },
	/* No country code to add. */
	{ "07700 900123", NULL, NULL },
	{ "07700 900123", "", NULL },
	{ "7700 900123", "abc", NULL },
	{ "7700 900123", "0", NULL },
	{ "7700 900123", "1234", NULL },
	/* Garbage. */
	{ "", "44", NULL },
	{ "+", "44", NULL },
	{ "   ", "44", NULL },
	{ "+0 7700 900123", "44", NULL },
	{ "07700/900123", "44", NULL },
	{ "07700 900123 ext 5", "44", NULL },
	{ "call 07700 900123", "44", NULL },
	{ "0044 +7700 900123", "44", NULL },
	{ "++44 7700 900123", "44", NULL },
	{ "07700\t900123", "44", NULL },
	{ "07700_900123", "44", NULL },
	{ "0770０ 900123", "44", NULL },	/* fullwidth digit */
};

START_TEST(normalise)
{
	char	 out[17];
	int	 rv;

	memset(out, 'x', sizeof out);
	rv = e164_normalise(norm[_i].typed, norm[_i].cc, out, sizeof out);
	if (norm[_i].want == NULL) {
		ck_assert_msg(rv == -1, "\"%s\" cc %s gave %s", norm[_i].typed,
		    norm[_i].cc ? norm[_i].cc : "none", out);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(rv == 0, "\"%s\" cc %s rejected", norm[_i].typed,
		    norm[_i].cc ? norm[_i].cc : "none");
		ck_assert_str_eq(out, norm[_i].want);
		ck_assert_int_eq(e164_valid(out, strlen(out)), 1);
	}
}
END_TEST

START_TEST(normalise_outlen)
{
	char	 out[32];

	/* "+123456789012345" needs 17 bytes with its NUL. */
	ck_assert_int_eq(e164_normalise("+123456789012345", NULL, out, 17), 0);
	ck_assert_str_eq(out, "+123456789012345");
	ck_assert_int_eq(e164_normalise("+123456789012345", NULL, out, 16),
	    -1);
	ck_assert_int_eq(e164_normalise("07700 900123", "44", out, 14), 0);
	ck_assert_str_eq(out, "+447700900123");
	ck_assert_int_eq(e164_normalise("07700 900123", "44", out, 13), -1);
	ck_assert_int_eq(e164_normalise("07700 900123", "44", out, 0), -1);
	ck_assert_int_eq(e164_normalise(NULL, "44", out, sizeof out), -1);
	/* A big buffer does not let a too-long result through. */
	ck_assert_int_eq(e164_normalise("+1234567890123456", NULL, out,
	    sizeof out), -1);
}
END_TEST

/* The suite. */
static Suite *
e164_suite(void)
{
	Suite	*s = suite_create("e164");
	TCase	*tc;

	tc = tcase_create("valid");
	tcase_add_loop_test(tc, valid_numbers, 0, NITEMS(valid));
	tcase_add_loop_test(tc, invalid_numbers, 0, NITEMS(invalid));
	tcase_add_test(tc, valid_length_is_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("normalise");
	tcase_add_loop_test(tc, normalise, 0, NITEMS(norm));
	tcase_add_test(tc, normalise_outlen);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (unit_run(e164_suite()));
}
