/*
 * fuzz-e164.c -- E.164 numbers (common/e164.c): the check the server
 * makes of REGISTER_BEGIN's number, and the normalising of what a person
 * typed. The input is the text. e164_valid must agree with PROTOCOL.md
 * §1 as written out here; a normalised number must be valid, normalise
 * to itself, and need exactly its own length plus a NUL of room.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define OUT_LEN		17	/* "+", 15 digits, NUL */

/* §1 as its own words: "+" then 7 to 15 digits, the first not 0. */
static int
spec_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len < 8 || len > 16 || s[0] != '+' || s[1] == '0')
		return (0);
	for (i = 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
	}
	return (1);
}

/* Normalise into exactly outlen bytes of heap; 0 with *out, or -1. */
static int
normalise_in(const char *typed, const char *cc, size_t outlen, char *out)
{
	char	*tight;
	int	 rc;

	if ((tight = malloc(outlen)) == NULL)
		abort();
	rc = e164_normalise(typed, cc, tight, outlen);
	if (rc == 0)
		memcpy(out, tight, strlen(tight) + 1);
	free(tight);
	return (rc);
}

/* Normalise text with country code cc and check what comes out. */
static void
check_normalise(const char *text, const char *cc)
{
	char	 out[OUT_LEN], again[OUT_LEN], tight[OUT_LEN];
	size_t	 len;

	if (e164_normalise(text, cc, out, sizeof out) != 0) {
		if (out[0] != '\0')
			abort();
		return;
	}
	len = strlen(out);
	if (!e164_valid(out, len) || !spec_valid(out, len))
		abort();
	if (e164_normalise(out, cc, again, sizeof again) != 0 ||
	    strcmp(out, again) != 0)
		abort();
	if (normalise_in(text, cc, len + 1, tight) != 0 ||
	    strcmp(tight, out) != 0)
		abort();
	if (normalise_in(text, cc, len, tight) != -1)
		abort();
}

/* Check and normalise the input as text. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ccs[] = { NULL, "", "1", "44", "39" };
	char	*text;
	size_t	 i;

	if ((text = malloc(size + 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	if (e164_valid(text, size) != spec_valid(text, size))
		abort();
	for (i = 0; i < nitems(ccs); i++)
		check_normalise(text, ccs[i]);
	free(text);
	return (0);
}
