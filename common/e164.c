/*
 * e164.c -- E.164 numbers: the check of PROTOCOL.md §1 and the normalising
 * of what a person typed (§6.5).
 */
#include <string.h>

#include "common.h"

#define E164_MIN_DIGITS	7
#define E164_MAX_DIGITS	15
#define CC_MAX_DIGITS	3
/* Longer than anything valid, so an over-long number is still seen. */
#define TYPED_MAX	(E164_MAX_DIGITS + 4)

/* 1 if c is an ASCII digit (isdigit would follow the locale). */
static int
is_digit(char c)
{
	return (c >= '0' && c <= '9');
}

/* 1 if s[0..len) is "+" then 7 to 15 digits, the first not 0. */
int
e164_valid(const char *s, size_t len)
{
	size_t	 i;

	if (s == NULL || len < 1 + E164_MIN_DIGITS ||
	    len > 1 + E164_MAX_DIGITS)
		return (0);
	if (s[0] != '+' || s[1] == '0')
		return (0);
	for (i = 1; i < len; i++) {
		if (!is_digit(s[i]))
			return (0);
	}
	return (1);
}

/* 1 if cc is a country code: 1 to 3 digits, the first not 0. */
static int
cc_valid(const char *cc)
{
	size_t	 i, len = strlen(cc);

	if (len == 0 || len > CC_MAX_DIGITS || cc[0] == '0')
		return (0);
	for (i = 0; i < len; i++) {
		if (!is_digit(cc[i]))
			return (0);
	}
	return (1);
}

/*
 * Keep the digits of typed, and a '+' before them, dropping spaces,
 * dashes, dots and brackets. -1 on any other character, on a '+' after
 * a digit, or when there are more than fit in buf.
 */
static int
strip(const char *typed, char *buf, size_t buflen)
{
	const char	*p;
	size_t		 n = 0;

	for (p = typed; *p != '\0'; p++) {
		if (strchr(" -.()", *p) != NULL)
			continue;
		if (!is_digit(*p) && (*p != '+' || n != 0))
			return (-1);
		if (n + 1 >= buflen)
			return (-1);
		buf[n++] = *p;
	}
	buf[n] = '\0';
	return (0);
}

/* Write "+" prefix rest into out; -1 if it does not fit. */
static int
compose(char *out, size_t outlen, const char *prefix, const char *rest)
{
	size_t	 plen = strlen(prefix), rlen = strlen(rest);

	if (1 + plen + rlen >= outlen)
		return (-1);
	out[0] = '+';
	memcpy(out + 1, prefix, plen);
	memcpy(out + 1 + plen, rest, rlen + 1);
	return (0);
}

/*
 * Turn stripped digits into an international number: "+..." stays, "00"
 * and (for CC 1) "011" are international prefixes, and anything else is
 * national, losing one trunk '0' except in Italy, where it is part of the
 * number.
 */
static int
internationalise(const char *d, const char *cc, char *out, size_t outlen)
{
	if (d[0] == '+')
		return (compose(out, outlen, "", d + 1));
	if (strncmp(d, "00", 2) == 0)
		return (compose(out, outlen, "", d + 2));
	if (cc == NULL || !cc_valid(cc))
		return (-1);
	if (strcmp(cc, "1") == 0 && strncmp(d, "011", 3) == 0)
		return (compose(out, outlen, "", d + 3));
	if (d[0] == '0' && strcmp(cc, "39") != 0)
		d++;
	return (compose(out, outlen, cc, d));
}

/* Normalise what a person typed, with default country code cc. */
int
e164_normalise(const char *typed, const char *cc, char *out, size_t outlen)
{
	char	 digits[TYPED_MAX + 1];

	if (typed == NULL || out == NULL || outlen == 0)
		return (-1);
	if (cc != NULL && *cc == '\0')
		cc = NULL;
	if (strip(typed, digits, sizeof digits) != 0 ||
	    internationalise(digits, cc, out, outlen) != 0 ||
	    !e164_valid(out, strlen(out))) {
		out[0] = '\0';
		return (-1);
	}
	return (0);
}
