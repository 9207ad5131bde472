/*
 * test-oprf.c -- the RFC 9497 OPRF against the vectors file, the RFC 9380
 * expand_message_xmd vectors, and the rejection of bad elements.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "common.h"
#include "unit.h"

#define VECTORS_FILE	TEST_VECTORS "/rfc9497-ristretto255-sha512-oprf.txt"
#define MAX_VEC		4
#define MAX_IN		64

struct vec {
	uint8_t	 input[MAX_IN];
	size_t	 inlen;
	uint8_t	 blind[OPRF_SCALAR];
	uint8_t	 blinded[OPRF_ELEM];
	uint8_t	 evaluated[OPRF_ELEM];
	uint8_t	 output[OPRF_OUT];
};

static uint8_t	 seed[32], sksm[OPRF_SCALAR];
static uint8_t	 keyinfo[MAX_IN];
static size_t	 keyinfolen;
static struct vec vecs[MAX_VEC];
static int	 nvecs;

/* Decode hex of unknown length (at most max bytes); -1 if it is bad. */
static int
unhex(uint8_t *out, size_t max, const char *s, size_t *lenp)
{
	size_t	 n = strlen(s);

	if (n % 2 != 0 || n / 2 > max || hex_decode(out, n / 2, s) != 0)
		return (-1);
	*lenp = n / 2;
	return (0);
}

/* Decode hex of exactly len bytes or fail the test. */
static void
unhex_exact(uint8_t *out, size_t len, const char *s, const char *key)
{
	ck_assert_msg(hex_decode(out, len, s) == 0, "bad %s: %s", key, s);
}

/* Store one "Key = hex" line of the vectors file. */
static void
parse_line(const char *key, const char *val)
{
	struct vec	*v = nvecs > 0 ? &vecs[nvecs - 1] : NULL;

	if (strcmp(key, "Seed") == 0)
		unhex_exact(seed, sizeof seed, val, key);
	else if (strcmp(key, "KeyInfo") == 0)
		ck_assert_int_eq(unhex(keyinfo, MAX_IN, val, &keyinfolen), 0);
	else if (strcmp(key, "skSm") == 0)
		unhex_exact(sksm, sizeof sksm, val, key);
	else if (strcmp(key, "Input") == 0) {
		ck_assert_int_lt(nvecs, MAX_VEC);
		v = &vecs[nvecs++];
		ck_assert_int_eq(unhex(v->input, MAX_IN, val, &v->inlen), 0);
	} else if (v == NULL)
		ck_abort_msg("%s before Input", key);
	else if (strcmp(key, "Blind") == 0)
		unhex_exact(v->blind, OPRF_SCALAR, val, key);
	else if (strcmp(key, "BlindedElement") == 0)
		unhex_exact(v->blinded, OPRF_ELEM, val, key);
	else if (strcmp(key, "EvaluationElement") == 0)
		unhex_exact(v->evaluated, OPRF_ELEM, val, key);
	else if (strcmp(key, "Output") == 0)
		unhex_exact(v->output, OPRF_OUT, val, key);
	else
		ck_abort_msg("unknown key %s", key);
}

/* Read the vectors file (a checked fixture for every test). */
static void
load_vectors(void)
{
	FILE	*f;
	char	 line[1024], key[64], val[512];

	nvecs = 0;
	f = fopen(VECTORS_FILE, "r");
	ck_assert_msg(f != NULL, "cannot open %s", VECTORS_FILE);
	while (fgets(line, sizeof line, f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		ck_assert_msg(sscanf(line, "%63s = %511s", key, val) == 2,
		    "bad line: %s", line);
		parse_line(key, val);
	}
	fclose(f);
	ck_assert_int_eq(nvecs, 2);
}

/* Compare bytes against the expected hex. */
static void
assert_hex(const uint8_t *got, size_t len, const char *want)
{
	char	 buf[2 * 256 + 1];

	ck_assert_uint_le(len, 256);
	hex_encode(buf, got, len);
	ck_assert_str_eq(buf, want);
}

START_TEST(derive_keypair)
{
	uint8_t	 sk[OPRF_SCALAR], pk[OPRF_ELEM], pk2[OPRF_ELEM];

	ck_assert_int_eq(oprf_derive_keypair(sk, pk, seed, sizeof seed,
	    keyinfo, keyinfolen), 0);
	ck_assert_mem_eq(sk, sksm, sizeof sk);
	ck_assert_int_eq(crypto_scalarmult_ristretto255_base(pk2, sk), 0);
	ck_assert_mem_eq(pk, pk2, sizeof pk);
	/* Other info, other key. */
	ck_assert_int_eq(oprf_derive_keypair(sk, NULL, seed, sizeof seed,
	    (const uint8_t *)"tryst-oprf-v1", 13), 0);
	ck_assert_mem_ne(sk, sksm, sizeof sk);
}
END_TEST

START_TEST(vector_blind)
{
	struct vec	*v = &vecs[_i];
	uint8_t		 blind[OPRF_SCALAR], blinded[OPRF_ELEM];

	ck_assert_int_eq(oprf_blind(blind, blinded, v->input, v->inlen,
	    v->blind), 0);
	ck_assert_mem_eq(blind, v->blind, sizeof blind);
	ck_assert_mem_eq(blinded, v->blinded, sizeof blinded);
}
END_TEST

START_TEST(vector_blind_evaluate)
{
	struct vec	*v = &vecs[_i];
	uint8_t		 ev[OPRF_ELEM];

	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, v->blinded), 0);
	ck_assert_mem_eq(ev, v->evaluated, sizeof ev);
}
END_TEST

START_TEST(vector_finalize)
{
	struct vec	*v = &vecs[_i];
	uint8_t		 out[OPRF_OUT];

	ck_assert_int_eq(oprf_finalize(out, v->input, v->inlen, v->blind,
	    v->evaluated), 0);
	ck_assert_mem_eq(out, v->output, sizeof out);
}
END_TEST

START_TEST(vector_evaluate)
{
	struct vec	*v = &vecs[_i];
	uint8_t		 out[OPRF_OUT];

	ck_assert_int_eq(oprf_evaluate(out, sksm, v->input, v->inlen), 0);
	ck_assert_mem_eq(out, v->output, sizeof out);
}
END_TEST

/* Blind, evaluate and finalise one input with a random blind. */
static void
round_trip(const uint8_t sk[OPRF_SCALAR], const char *s,
    uint8_t out[OPRF_OUT], uint8_t blind[OPRF_SCALAR])
{
	uint8_t	 blinded[OPRF_ELEM], ev[OPRF_ELEM];
	size_t	 len = strlen(s);

	ck_assert_int_eq(oprf_blind(blind, blinded, (const uint8_t *)s, len,
	    NULL), 0);
	ck_assert_int_eq(oprf_blind_evaluate(ev, sk, blinded), 0);
	ck_assert_int_eq(oprf_finalize(out, (const uint8_t *)s, len, blind,
	    ev), 0);
}

START_TEST(random_blinds)
{
	static const char *numbers[] = { "+447700900123", "+15550100001",
	    "+390612345678", "" };
	uint8_t	 sk[OPRF_SCALAR], b1[OPRF_SCALAR], b2[OPRF_SCALAR];
	uint8_t	 o1[OPRF_OUT], o2[OPRF_OUT], want[OPRF_OUT];
	size_t	 i;

	crypto_core_ristretto255_scalar_random(sk);
	for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
		round_trip(sk, numbers[i], o1, b1);
		round_trip(sk, numbers[i], o2, b2);
		ck_assert_mem_ne(b1, b2, sizeof b1);
		ck_assert_mem_eq(o1, o2, sizeof o1);
		ck_assert_int_eq(oprf_evaluate(want, sk,
		    (const uint8_t *)numbers[i], strlen(numbers[i])), 0);
		ck_assert_mem_eq(o1, want, sizeof o1);
	}
	/* Another input gives another output. */
	round_trip(sk, "+447700900124", o2, b2);
	round_trip(sk, "+447700900123", o1, b1);
	ck_assert_mem_ne(o1, o2, sizeof o1);
}
END_TEST

START_TEST(bad_elements)
{
	uint8_t	 bad[OPRF_ELEM], ev[OPRF_ELEM], out[OPRF_OUT];
	uint8_t	 good[OPRF_ELEM];

	crypto_core_ristretto255_random(good);
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, good), 0);

	memset(bad, 0, sizeof bad);		/* the identity */
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, bad), -1);
	ck_assert_int_eq(oprf_finalize(out, NULL, 0, sksm, bad), -1);
	memset(bad, 0xff, sizeof bad);		/* not a field element */
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, bad), -1);
	memcpy(bad, good, sizeof bad);		/* high bit set */
	bad[31] |= 0x80;
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, bad), -1);
	ck_assert_int_eq(oprf_finalize(out, NULL, 0, sksm, bad), -1);
	memset(bad, 0, sizeof bad);		/* s = 1 is negative */
	bad[0] = 1;
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, bad), -1);
	/* p itself: non-canonical encoding of 0. */
	ck_assert_int_eq(hex_decode(bad, sizeof bad,
	    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
	    0);
	ck_assert_int_eq(oprf_blind_evaluate(ev, sksm, bad), -1);
}
END_TEST

START_TEST(bad_scalars)
{
	uint8_t	 zero[OPRF_SCALAR] = { 0 }, blind[OPRF_SCALAR];
	uint8_t	 blinded[OPRF_ELEM], out[OPRF_OUT];
	uint8_t	*big;

	/* A zero blind would send the identity. */
	ck_assert_int_eq(oprf_blind(blind, blinded, vecs[0].input,
	    vecs[0].inlen, zero), -1);
	ck_assert_int_eq(oprf_finalize(out, vecs[0].input, vecs[0].inlen,
	    zero, vecs[0].evaluated), -1);
	/* Inputs longer than I2OSP(len, 2) can say. */
	big = xcalloc(1, 65536);
	ck_assert_int_eq(oprf_blind(blind, blinded, big, 65536, NULL), -1);
	ck_assert_int_eq(oprf_evaluate(out, sksm, big, 65536), -1);
	ck_assert_int_eq(oprf_evaluate(out, sksm, big, 65535), 0);
	free(big);
}
END_TEST

static const char xmd_dst[] = "QUUX-V01-CS02-with-expander-SHA512-256";

/* RFC 9380 Appendix K.3, expand_message_xmd(SHA-512). */
static const struct {
	const char	*msg;
	size_t		 len;
	const char	*out;
} xmd_vectors[] = {
	{ "", 0x20,
	  "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba" },
	{ "abc", 0x20,
	  "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc" },
	{ "", 0x80,
	  "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
	  "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
	  "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
	  "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961" },
	{ "abc", 0x80,
	  "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11"
	  "bdd7732d8b38adb4a0edc26a0cef4bb45217135456e58fbca1703cd6032cb134"
	  "7ee720b87972d63fbf232587043ed2901bce7f22610c0419751c065922b48843"
	  "1851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1" },
};

START_TEST(xmd_vector)
{
	uint8_t	 out[0x80];

	ck_assert_int_eq(oprf_expand_xmd(out, xmd_vectors[_i].len,
	    (const uint8_t *)xmd_vectors[_i].msg, strlen(xmd_vectors[_i].msg),
	    (const uint8_t *)xmd_dst, strlen(xmd_dst)), 0);
	assert_hex(out, xmd_vectors[_i].len, xmd_vectors[_i].out);
}
END_TEST

START_TEST(xmd_lengths)
{
	static uint8_t	 out[255 * 64 + 1];
	static uint8_t	 dst[256];
	const uint8_t	*m = (const uint8_t *)"abc";

	memset(dst, 'D', sizeof dst);
	ck_assert_int_eq(oprf_expand_xmd(out, 0, m, 3, dst, 8), -1);
	ck_assert_int_eq(oprf_expand_xmd(out, 255 * 64 + 1, m, 3, dst, 8), -1);
	ck_assert_int_eq(oprf_expand_xmd(out, 255 * 64, m, 3, dst, 8), 0);
	ck_assert_int_eq(oprf_expand_xmd(out, 32, m, 3, dst, 0), -1);
	ck_assert_int_eq(oprf_expand_xmd(out, 32, m, 3, dst, 256), -1);
	ck_assert_int_eq(oprf_expand_xmd(out, 32, m, 3, dst, 255), 0);
	/* A shorter output is not a prefix of a longer one. */
	ck_assert_int_eq(oprf_expand_xmd(out, 64, m, 3, dst, 8), 0);
	ck_assert_int_eq(oprf_expand_xmd(out + 64, 32, m, 3, dst, 8), 0);
	ck_assert_mem_ne(out, out + 64, 32);
}
END_TEST

/* The suite. */
static Suite *
oprf_suite(void)
{
	Suite	*s = suite_create("oprf");
	TCase	*tc;

	tc = tcase_create("rfc9497");
	tcase_add_checked_fixture(tc, load_vectors, NULL);
	tcase_add_test(tc, derive_keypair);
	tcase_add_loop_test(tc, vector_blind, 0, 2);
	tcase_add_loop_test(tc, vector_blind_evaluate, 0, 2);
	tcase_add_loop_test(tc, vector_finalize, 0, 2);
	tcase_add_loop_test(tc, vector_evaluate, 0, 2);
	tcase_add_test(tc, random_blinds);
	tcase_add_test(tc, bad_elements);
	tcase_add_test(tc, bad_scalars);
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc9380");
	tcase_add_loop_test(tc, xmd_vector, 0,
	    sizeof xmd_vectors / sizeof xmd_vectors[0]);
	tcase_add_test(tc, xmd_lengths);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (sodium_init() < 0)
		return (1);
	return (unit_run(oprf_suite()));
}
