/*
 * test-credcache.c -- the cache of verified credentials (credcache.c):
 * what verified is answered from memory, and nothing else ever is.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"

static struct keys	*ka, *kb;

/* Two signing keys from fixed master keys. */
static void
setup(void)
{
	uint8_t	 m[MASTER_KEY_LEN];

	ck_assert_int_ge(sodium_init(), 0);
	memset(m, 0xa1, sizeof m);
	ka = keys_derive(m);
	memset(m, 0xb2, sizeof m);
	kb = keys_derive(m);
	ck_assert_ptr_nonnull(ka);
	ck_assert_ptr_nonnull(kb);
}

static void
teardown(void)
{
	keys_free(ka);
	keys_free(kb);
}

/* A credential of k for ID byte n, expiring at expires. */
static void
make(uint8_t out[CRED_LEN], const struct keys *k, unsigned n,
    uint64_t expires)
{
	uint8_t	 id[ID_LEN], pk[32];

	memset(id, 0, sizeof id);
	id[0] = (uint8_t)n;
	id[1] = (uint8_t)(n >> 8);
	id[2] = (uint8_t)(n >> 16);
	memset(pk, 0x40 ^ (int)(n & 0xff), sizeof pk);	/* not checked here */
	cred_make(out, k, id, pk, 1700000000ULL + n, expires);
}

/* The cache's counters. */
static void
counts(const struct credcache *cc, unsigned long long hits,
    unsigned long long misses)
{
	unsigned long long	 h, m;

	credcache_counts(cc, &h, &m);
	ck_assert_uint_eq(h, hits);
	ck_assert_uint_eq(m, misses);
}

/* Two struct creds hold the same fields. */
static void
same(const struct cred *a, const struct cred *b)
{
	ck_assert_uint_eq(a->version, b->version);
	ck_assert_mem_eq(a->id, b->id, ID_LEN);
	ck_assert_mem_eq(a->identity_pk, b->identity_pk, 32);
	ck_assert_uint_eq(a->created, b->created);
	ck_assert_uint_eq(a->expires, b->expires);
}

START_TEST(test_hit_parses_as_verify)
{
	struct credcache	*cc = credcache_new();
	struct cred		 want, got;
	uint8_t			 cr[CRED_LEN];

	make(cr, ka, 7, 1800000000ULL);
	ck_assert_int_eq(cred_verify(cr, CRED_LEN, ka->sign_pk, &want), 0);
	memset(&got, 0xee, sizeof got);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    &got), 0);
	same(&got, &want);
	counts(cc, 0, 1);
	memset(&got, 0xee, sizeof got);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    &got), 0);
	same(&got, &want);
	counts(cc, 1, 1);
	/* c may be NULL, hit or miss. */
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 2, 1);
	credcache_free(cc);
}
END_TEST

/* Every single-bit change of a cached credential, in every byte (version,
 * id, identity_pk, created, expires, signature), is refused and is not
 * remembered: asked again, it is refused again. */
START_TEST(test_tampered_after_cached)
{
	struct credcache	*cc = credcache_new();
	struct cred		 got;
	uint8_t			 cr[CRED_LEN], bad[CRED_LEN];
	unsigned long long	 h, m;
	size_t			 i;
	int			 bit;

	make(cr, ka, 1, 1800000000ULL);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	for (i = 0; i < CRED_LEN; i++) {
		bit = (int)(i % 8);
		memcpy(bad, cr, CRED_LEN);
		bad[i] ^= (uint8_t)(1 << bit);
		ck_assert_msg(credcache_verify(cc, bad, CRED_LEN,
		    ka->sign_pk, &got) == -1, "byte %zu accepted", i);
		ck_assert_msg(credcache_verify(cc, bad, CRED_LEN,
		    ka->sign_pk, &got) == -1, "byte %zu accepted twice", i);
	}
	credcache_counts(cc, &h, &m);
	ck_assert_uint_eq(h, 0);	/* no bad one was ever a hit */
	ck_assert_uint_eq(m, 1 + 2 * CRED_LEN);
	/* The good one is still remembered (bad ones evict nothing). */
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 1, 1 + 2 * CRED_LEN);
	credcache_free(cc);
}
END_TEST

/* A credential that never verified is refused every time. */
START_TEST(test_bad_never_cached)
{
	struct credcache	*cc = credcache_new();
	uint8_t			 cr[CRED_LEN];
	int			 i;

	make(cr, ka, 2, 1800000000ULL);
	cr[CRED_LEN - 1] ^= 0x80;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN,
		    ka->sign_pk, NULL), -1);
	counts(cc, 0, 3);
	credcache_free(cc);
}
END_TEST

/* Wrong lengths are refused without a lookup, even when their first 145
 * bytes are a cached credential; version 2 is refused. */
START_TEST(test_lengths_and_version)
{
	struct credcache	*cc = credcache_new();
	uint8_t			 cr[CRED_LEN + 1], v2[CRED_LEN];

	make(cr, ka, 3, 1800000000ULL);
	cr[CRED_LEN] = 0;
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN + 1, ka->sign_pk,
	    NULL), -1);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN - 1, ka->sign_pk,
	    NULL), -1);
	ck_assert_int_eq(credcache_verify(cc, cr, 0, ka->sign_pk, NULL), -1);
	counts(cc, 0, 1);
	memcpy(v2, cr, CRED_LEN);
	v2[0] = 2;
	ck_assert_int_eq(credcache_verify(cc, v2, CRED_LEN, ka->sign_pk,
	    NULL), -1);
	credcache_free(cc);
}
END_TEST

/* A credential of key A is refused under key B, even when cached under
 * A; and asking under B forgets what A verified. */
START_TEST(test_key_change)
{
	struct credcache	*cc = credcache_new();
	uint8_t			 a[CRED_LEN], b[CRED_LEN];

	make(a, ka, 4, 1800000000ULL);
	make(b, kb, 4, 1800000000ULL);
	ck_assert_int_eq(credcache_verify(cc, a, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	ck_assert_int_eq(credcache_verify(cc, a, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 1, 1);
	ck_assert_int_eq(credcache_verify(cc, a, CRED_LEN, kb->sign_pk,
	    NULL), -1);
	ck_assert_int_eq(credcache_verify(cc, b, CRED_LEN, kb->sign_pk,
	    NULL), 0);
	ck_assert_int_eq(credcache_verify(cc, b, CRED_LEN, kb->sign_pk,
	    NULL), 0);
	counts(cc, 2, 3);
	/* Back to A: B's entries go, A's credential is verified anew. */
	ck_assert_int_eq(credcache_verify(cc, b, CRED_LEN, ka->sign_pk,
	    NULL), -1);
	ck_assert_int_eq(credcache_verify(cc, a, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 2, 5);
	credcache_free(cc);
}
END_TEST

/* credcache_clear forgets: the next lookup verifies again. */
START_TEST(test_clear)
{
	struct credcache	*cc = credcache_new();
	uint8_t			 cr[CRED_LEN];

	make(cr, ka, 5, 1800000000ULL);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	credcache_clear(cc);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 0, 2);
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), 0);
	counts(cc, 1, 2);
	/* Cleared, a bad credential is still bad. */
	credcache_clear(cc);
	cr[90] ^= 1;
	ck_assert_int_eq(credcache_verify(cc, cr, CRED_LEN, ka->sign_pk,
	    NULL), -1);
	credcache_free(cc);
}
END_TEST

/* Credentials differing only in expires (a renewal) are two entries, each
 * answered with its own expires: the time is the caller's to judge. */
START_TEST(test_expires_kept)
{
	struct credcache	*cc = credcache_new();
	struct cred		 got;
	uint8_t			 id[ID_LEN], pk[32], sk[64];
	uint8_t			 old[CRED_LEN], renewed[CRED_LEN];
	int			 i;

	memset(id, 9, sizeof id);
	crypto_sign_keypair(pk, sk);
	cred_make(old, ka, id, pk, 1700000000ULL, 1000);	/* expired */
	cred_make(renewed, ka, id, pk, 1700000000ULL, 1900000000ULL);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(credcache_verify(cc, old, CRED_LEN,
		    ka->sign_pk, &got), 0);
		ck_assert_uint_eq(got.expires, 1000);
		ck_assert_int_eq(credcache_verify(cc, renewed, CRED_LEN,
		    ka->sign_pk, &got), 0);
		ck_assert_uint_eq(got.expires, 1900000000ULL);
	}
	credcache_free(cc);
}
END_TEST

/* More credentials than slots: every one still verifies (evicted ones
 * are verified again), the table stays its size, and one just verified
 * is a hit. */
START_TEST(test_bounded)
{
	struct credcache	*cc = credcache_new();
	uint8_t			(*cr)[CRED_LEN];
	unsigned long long	 h, m;
	unsigned		 i, n = 3 * CREDCACHE_SLOTS;

	cr = xcalloc(n, CRED_LEN);
	for (i = 0; i < n; i++) {
		make(cr[i], ka, i, 1800000000ULL);
		ck_assert_int_eq(credcache_verify(cc, cr[i], CRED_LEN,
		    ka->sign_pk, NULL), 0);
		ck_assert_int_eq(credcache_verify(cc, cr[i], CRED_LEN,
		    ka->sign_pk, NULL), 0);
	}
	counts(cc, n, n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(credcache_verify(cc, cr[i], CRED_LEN,
		    ka->sign_pk, NULL), 0);
	credcache_counts(cc, &h, &m);
	ck_assert_uint_eq(h + m, 3ULL * n);
	/* Most of the first two thirds were evicted by later ones. */
	ck_assert_uint_gt(m - n, CREDCACHE_SLOTS);
	ck_assert_uint_lt(h - n, n);
	free(cr);
	credcache_free(cc);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("credcache");
	TCase	*t = tcase_create("credcache");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_hit_parses_as_verify);
	tcase_add_test(t, test_tampered_after_cached);
	tcase_add_test(t, test_bad_never_cached);
	tcase_add_test(t, test_lengths_and_version);
	tcase_add_test(t, test_key_change);
	tcase_add_test(t, test_clear);
	tcase_add_test(t, test_expires_kept);
	tcase_add_test(t, test_bounded);
	suite_add_tcase(s, t);
	return (unit_run(s));
}
