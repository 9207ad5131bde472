/*
 * offer.c -- the offer and answer of a call (PROTOCOL.md §6.1) and the
 * safety number two people compare (§6.4).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "common.h"

#define OFFER_VERSION	1
#define OFFER_HDR	2	/* version:u8 count:u8 */
#define CAND_HDR	4	/* kind:u8 family:u8 port:u16 */
#define SAFETY_HASH	32
#define SAFETY_GROUPS	6
#define SAFETY_GROUP	5	/* bytes of h per group */

static const uint8_t v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* The address length of a family, or 0 if it is neither 4 nor 6. */
static size_t
family_len(uint8_t family)
{
	if (family == 4)
		return (4);
	if (family == 6)
		return (16);
	return (0);
}

/* 1 if kind is one this version knows. */
static int
kind_known(uint8_t kind)
{
	return (kind == CAND_HOST || kind == CAND_SRFLX);
}

/*
 * Parse the candidate at p (len bytes left) into c, turning an IPv4-mapped
 * IPv6 address into IPv4. The bytes it took, or 0 when it is short or its
 * family is bad.
 */
static size_t
cand_decode(const uint8_t *p, size_t len, struct cand *c)
{
	size_t	 alen;

	if (len < CAND_HDR || (alen = family_len(p[1])) == 0 ||
	    len < CAND_HDR + alen)
		return (0);
	memset(c, 0, sizeof *c);
	c->kind = p[0];
	c->family = p[1];
	c->port = get_u16(p + 2);
	memcpy(c->addr, p + CAND_HDR, alen);
	if (c->family == 6 && memcmp(c->addr, v4_mapped,
	    sizeof v4_mapped) == 0) {
		c->family = 4;
		memmove(c->addr, c->addr + sizeof v4_mapped, 4);
		memset(c->addr + 4, 0, 12);
	}
	return (CAND_HDR + alen);
}

/*
 * Decode an offer or answer into c (room for OFFER_MAX_CANDS). Candidates
 * of unknown kinds are checked and skipped, so *n may be 0.
 */
int
offer_decode(const uint8_t *p, size_t len, struct cand *c, int *n)
{
	struct cand	 one;
	size_t		 off, used;
	int		 count, i;

	*n = 0;
	if (len < OFFER_HDR || p[0] != OFFER_VERSION)
		return (-1);
	count = p[1];
	if (count < 1 || count > OFFER_MAX_CANDS)
		return (-1);
	off = OFFER_HDR;
	for (i = 0; i < count; i++) {
		if ((used = cand_decode(p + off, len - off, &one)) == 0) {
			*n = 0;
			return (-1);
		}
		off += used;
		if (kind_known(one.kind))
			c[(*n)++] = one;
	}
	if (off != len) {
		*n = 0;
		return (-1);
	}
	return (0);
}

/* Encode n (1..16) candidates; length, or 0 when out is too small or a
 * candidate's family is bad. */
size_t
offer_encode(const struct cand *c, int n, uint8_t *out, size_t outlen)
{
	size_t	 off = OFFER_HDR, alen;
	int	 i;

	if (n < 1 || n > OFFER_MAX_CANDS || outlen < OFFER_HDR)
		return (0);
	out[0] = OFFER_VERSION;
	out[1] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		if ((alen = family_len(c[i].family)) == 0 ||
		    outlen - off < CAND_HDR + alen)
			return (0);
		out[off] = c[i].kind;
		out[off + 1] = c[i].family;
		put_u16(out + off + 2, c[i].port);
		memcpy(out + off + CAND_HDR, c[i].addr, alen);
		off += CAND_HDR + alen;
	}
	return (off);
}

/* The safety number of two identity keys, the same either way round. */
void
safety_number(const uint8_t pk_a[32], const uint8_t pk_b[32], char out[36])
{
	crypto_generichash_state st;
	const uint8_t	*lo = pk_a, *hi = pk_b;
	uint8_t		 h[SAFETY_HASH];
	uint64_t	 v;
	char		 grp[8];
	int		 i, j;

	if (memcmp(pk_a, pk_b, 32) > 0) {
		lo = pk_b;
		hi = pk_a;
	}
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, lo, 32);
	crypto_generichash_update(&st, hi, 32);
	crypto_generichash_final(&st, h, sizeof h);
	for (i = 0; i < SAFETY_GROUPS; i++) {
		v = 0;
		for (j = 0; j < SAFETY_GROUP; j++)
			v = (v << 8) | h[SAFETY_GROUP * i + j];
		snprintf(grp, sizeof grp, "%05u", (unsigned)(v % 100000));
		memcpy(out + 6 * i, grp, 5);
		out[6 * i + 5] = i + 1 < SAFETY_GROUPS ? ' ' : '\0';
	}
}
