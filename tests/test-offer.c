/*
 * test-offer.c -- the offer and answer codec and safety numbers.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "common.h"
#include "unit.h"

#define BIG	(2 + OFFER_MAX_CANDS * 20 + 8)

/* Candidate i of a test set: v4 on even i, v6 on odd, kinds alternating. */
static void
make_cand(struct cand *c, int i)
{
	memset(c, 0, sizeof *c);
	c->kind = i % 3 == 0 ? CAND_SRFLX : CAND_HOST;
	c->family = i % 2 ? 6 : 4;
	c->port = (uint16_t)(40000 + i * 257);
	if (c->family == 4) {
		c->addr[0] = 192;
		c->addr[1] = 0;
		c->addr[2] = 2;
		c->addr[3] = (uint8_t)(i + 1);
	} else {
		c->addr[0] = 0x20;
		c->addr[1] = 0x01;
		c->addr[2] = 0x0d;
		c->addr[3] = 0xb8;
		c->addr[15] = (uint8_t)i;
	}
}

/* Check that n candidates decode to what they were. */
static void
check_same(const struct cand *a, const struct cand *b, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(a[i].kind, b[i].kind);
		ck_assert_uint_eq(a[i].family, b[i].family);
		ck_assert_uint_eq(a[i].port, b[i].port);
		ck_assert_mem_eq(a[i].addr, b[i].addr,
		    a[i].family == 4 ? 4 : 16);
	}
}

/* One IPv4 candidate: exact bytes and back. */
START_TEST(test_one_v4)
{
	struct cand	 c, d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	const uint8_t	 want[] = { 1, 1, 2, 4, 0x9c, 0x40, 192, 0, 2, 1 };
	int		 n = -1;

	make_cand(&c, 0);
	ck_assert_uint_eq(offer_encode(&c, 1, out, sizeof out), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
	ck_assert_int_eq(offer_decode(out, sizeof want, d, &n), 0);
	ck_assert_int_eq(n, 1);
	check_same(&c, d, 1);
	/* Exactly the room it needs, and one byte less. */
	ck_assert_uint_eq(offer_encode(&c, 1, out, sizeof want), sizeof want);
	ck_assert_uint_eq(offer_encode(&c, 1, out, sizeof want - 1), 0);
}
END_TEST

/* One IPv6 candidate round trip. */
START_TEST(test_one_v6)
{
	struct cand	 c, d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	int		 n = -1;

	make_cand(&c, 1);
	ck_assert_uint_eq(offer_encode(&c, 1, out, sizeof out), 22);
	ck_assert_uint_eq(out[3], 6);
	ck_assert_int_eq(offer_decode(out, 22, d, &n), 0);
	ck_assert_int_eq(n, 1);
	check_same(&c, d, 1);
}
END_TEST

/* Sixteen candidates, every truncation and a trailing byte. */
START_TEST(test_sixteen)
{
	struct cand	 c[OFFER_MAX_CANDS], d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	size_t		 len, cut;
	int		 i, n = -1;

	for (i = 0; i < OFFER_MAX_CANDS; i++)
		make_cand(&c[i], i);
	len = offer_encode(c, OFFER_MAX_CANDS, out, sizeof out);
	ck_assert_uint_eq(len, 2 + 8 * 8 + 8 * 20);
	ck_assert_int_eq(offer_decode(out, len, d, &n), 0);
	ck_assert_int_eq(n, OFFER_MAX_CANDS);
	check_same(c, d, OFFER_MAX_CANDS);
	for (cut = 0; cut < len; cut++) {
		n = -1;
		ck_assert_int_eq(offer_decode(out, cut, d, &n), -1);
		ck_assert_int_eq(n, 0);
	}
	out[len] = 0;
	ck_assert_int_eq(offer_decode(out, len + 1, d, &n), -1);
	ck_assert_uint_eq(offer_encode(c, OFFER_MAX_CANDS, out, len - 1), 0);
	ck_assert_uint_eq(offer_encode(c, OFFER_MAX_CANDS + 1, out,
	    sizeof out), 0);
	ck_assert_uint_eq(offer_encode(c, 0, out, sizeof out), 0);
}
END_TEST

/* Bad version, count and family are refused. */
START_TEST(test_bad_header)
{
	struct cand	 c[OFFER_MAX_CANDS], d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	size_t		 len;
	int		 i, n;

	for (i = 0; i < OFFER_MAX_CANDS; i++)
		make_cand(&c[i], 0);
	len = offer_encode(c, 1, out, sizeof out);
	ck_assert_uint_eq(len, 10);
	out[0] = 2;
	ck_assert_int_eq(offer_decode(out, len, d, &n), -1);
	out[0] = 1;
	out[1] = 0;
	ck_assert_int_eq(offer_decode(out, 2, d, &n), -1);
	/* Seventeen well-formed candidates are still too many. */
	len = offer_encode(c, OFFER_MAX_CANDS, out, sizeof out);
	memcpy(out + len, out + 2, 8);
	out[1] = OFFER_MAX_CANDS + 1;
	ck_assert_int_eq(offer_decode(out, len + 8, d, &n), -1);
	len = offer_encode(c, 1, out, sizeof out);
	out[3] = 5;
	ck_assert_int_eq(offer_decode(out, len, d, &n), -1);
	/* A bad family is bad even in a candidate that would be skipped. */
	out[2] = 9;
	ck_assert_int_eq(offer_decode(out, len, d, &n), -1);
	c[0].family = 0;
	ck_assert_uint_eq(offer_encode(c, 1, out, sizeof out), 0);
}
END_TEST

/* Unknown kinds are parsed for their length and skipped. */
START_TEST(test_unknown_kind)
{
	struct cand	 c[3], d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	size_t		 len;
	int		 n = -1;

	make_cand(&c[0], 1);
	make_cand(&c[1], 2);
	make_cand(&c[2], 3);
	c[0].kind = 7;		/* an unknown v6 candidate first */
	len = offer_encode(c, 3, out, sizeof out);
	ck_assert_uint_eq(len, 2 + 20 + 8 + 20);
	ck_assert_int_eq(offer_decode(out, len, d, &n), 0);
	ck_assert_int_eq(n, 2);
	check_same(&c[1], d, 2);
	/* Only unknown kinds: it parses, with nothing to use. */
	len = offer_encode(c, 1, out, sizeof out);
	ck_assert_int_eq(offer_decode(out, len, d, &n), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* ::ffff:198.51.100.7 comes back as 198.51.100.7; ::1 stays IPv6. */
START_TEST(test_mapped)
{
	struct cand	 c[2], d[OFFER_MAX_CANDS];
	uint8_t		 out[BIG];
	const uint8_t	 v4[4] = { 198, 51, 100, 7 };
	size_t		 len;
	int		 n = -1;

	memset(c, 0, sizeof c);
	c[0].kind = CAND_SRFLX;
	c[0].family = 6;
	c[0].port = 5000;
	c[0].addr[10] = c[0].addr[11] = 0xff;
	memcpy(c[0].addr + 12, v4, 4);
	c[1] = c[0];
	c[1].addr[10] = c[1].addr[11] = c[1].addr[12] = 0;
	c[1].addr[13] = c[1].addr[14] = 0;
	c[1].addr[15] = 1;
	len = offer_encode(c, 2, out, sizeof out);
	ck_assert_uint_eq(len, 42);
	ck_assert_int_eq(offer_decode(out, len, d, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(d[0].family, 4);
	ck_assert_uint_eq(d[0].port, 5000);
	ck_assert_uint_eq(d[0].kind, CAND_SRFLX);
	ck_assert_mem_eq(d[0].addr, v4, 4);
	ck_assert_uint_eq(d[1].family, 6);
	ck_assert_mem_eq(d[1].addr, c[1].addr, 16);
}
END_TEST

/*
 * The safety number worked out another way: the one-shot hash of the
 * joined keys, and each group's value mod 100000 by Horner's rule.
 */
static void
safety_by_hand(const uint8_t *a, const uint8_t *b, char out[36])
{
	uint8_t		 both[64], h[32];
	unsigned long	 r;
	int		 g, k, first = memcmp(a, b, 32) <= 0;

	memcpy(both, first ? a : b, 32);
	memcpy(both + 32, first ? b : a, 32);
	crypto_generichash(h, sizeof h, both, sizeof both, NULL, 0);
	out[0] = '\0';
	for (g = 0; g < 6; g++) {
		r = 0;
		for (k = 0; k < 5; k++)
			r = (r * 256 + h[g * 5 + k]) % 100000;
		snprintf(out + strlen(out), 36 - strlen(out), "%s%05lu",
		    g ? " " : "", r);
	}
}

/* Known value (from another implementation), symmetry and format. */
START_TEST(test_safety)
{
	uint8_t		 a[32], b[32];
	char		 ab[36], ba[36], hand[36];
	int		 i, t;

	for (i = 0; i < 32; i++) {
		a[i] = (uint8_t)(i + 1);
		b[i] = i < 16 ? 0xff : 0;
	}
	safety_number(a, b, ab);
	ck_assert_str_eq(ab, "50885 26409 22464 55741 88857 78303");
	safety_number(b, a, ba);
	ck_assert_str_eq(ba, ab);
	for (t = 0; t < 50; t++) {
		randombytes_buf(a, 32);
		randombytes_buf(b, 32);
		safety_number(a, b, ab);
		safety_number(b, a, ba);
		safety_by_hand(a, b, hand);
		ck_assert_str_eq(ab, ba);
		ck_assert_str_eq(ab, hand);
		ck_assert_uint_eq(strlen(ab), 35);
		for (i = 0; i < 35; i++) {
			if (i % 6 == 5)
				ck_assert_int_eq(ab[i], ' ');
			else
				ck_assert(ab[i] >= '0' && ab[i] <= '9');
		}
	}
	/* Another key pair gives another number. */
	b[0] ^= 1;
	safety_number(a, b, ba);
	ck_assert_str_ne(ab, ba);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("offer");
	TCase	*tc = tcase_create("offer");

	if (sodium_init() < 0)
		return (1);
	tcase_add_test(tc, test_one_v4);
	tcase_add_test(tc, test_one_v6);
	tcase_add_test(tc, test_sixteen);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_unknown_kind);
	tcase_add_test(tc, test_mapped);
	tcase_add_test(tc, test_safety);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
