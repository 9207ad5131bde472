/*
 * fuzz-offer.c -- offers and answers (common/offer.c), which come from
 * the other party of a call. What decodes must hold only candidates of
 * known kinds and families (IPv4-mapped turned into IPv4), encode again
 * no longer than it came, and decode from that to the same candidates.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const uint8_t mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Check one decoded candidate. */
static void
check_cand(const struct cand *c)
{
	static const uint8_t	 zero[12];

	if (c->kind != CAND_HOST && c->kind != CAND_SRFLX)
		abort();
	if (c->family == 4) {
		if (memcmp(c->addr + 4, zero, sizeof zero) != 0)
			abort();
	} else if (c->family == 6) {
		if (memcmp(c->addr, mapped_prefix, sizeof mapped_prefix) == 0)
			abort();
	} else
		abort();
}

/* 1 if two candidate lists of n are the same, field by field. */
static int
same_cands(const struct cand *a, const struct cand *b, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (a[i].kind != b[i].kind || a[i].family != b[i].family ||
		    a[i].port != b[i].port ||
		    memcmp(a[i].addr, b[i].addr, sizeof a[i].addr) != 0)
			return (0);
	}
	return (1);
}

/* Encode c[0..n) and decode it again; into one byte too few, nothing. */
static void
check_round_trip(const struct cand *c, int n, size_t inlen)
{
	struct cand	 again[OFFER_MAX_CANDS];
	uint8_t		*buf;
	size_t		 cap = 2 + (size_t)n * 20, len;
	int		 m;

	if ((buf = malloc(cap)) == NULL)
		abort();
	if ((len = offer_encode(c, n, buf, cap)) == 0 || len > inlen)
		abort();
	if (offer_decode(buf, len, again, &m) != 0 || m != n ||
	    !same_cands(c, again, n))
		abort();
	free(buf);
	if ((buf = malloc(len - 1)) == NULL)
		abort();
	if (offer_encode(c, n, buf, len - 1) != 0)
		abort();
	free(buf);
}

/* Decode an offer; what decodes must survive a round trip. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cand	 c[OFFER_MAX_CANDS];
	int		 n, i;

	if (offer_decode(data, size, c, &n) != 0) {
		if (n != 0)
			abort();
		return (0);
	}
	if (n < 0 || n > OFFER_MAX_CANDS || n > data[1])
		abort();
	for (i = 0; i < n; i++)
		check_cand(&c[i]);
	if (n > 0)
		check_round_trip(c, n, size);
	return (0);
}
